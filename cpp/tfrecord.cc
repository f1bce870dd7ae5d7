#include "tfrecord.h"

#include <cstdint>
#include <cstring>
#include <limits>

#include "crc32c.h"

namespace tfbundle::tfrecord {

namespace {

template <typename T>
T load_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // the machines tfbundle builds for are little-endian
  return v;
}

bool crc_matches(const char* data, size_t n, const char* stored) {
  return crc32c::mask(crc32c::value(data, n)) == load_le<uint32_t>(stored);
}

}  // namespace

Scan scan(std::string_view piece, size_t pos, size_t max_records, bool check_crc) {
  static_assert(sizeof(size_t) == 8, "TFRecord lengths are 64-bit");
  Scan out;
  const size_t size = piece.size();
  const char* base = piece.data();
  // Lengths repeat in most files: the last length whose checksum was right needs no new check.
  bool known = false;
  uint64_t known_length = 0;
  uint32_t known_crc = 0;
  while (out.records.size() < max_records) {
    if (pos > size || size - pos < 12) {
      out.need = 12;
      break;
    }
    const char* head = base + pos;
    const uint64_t length = load_le<uint64_t>(head);
    if (check_crc) {
      const uint32_t stored = load_le<uint32_t>(head + 8);
      if (!known || length != known_length || stored != known_crc) {
        if (!crc_matches(head, 8, head + 8)) {
          out.error = ScanError::kCorruptedLength;
          break;
        }
        known = true;
        known_length = length;
        known_crc = stored;
      }
    }
    // A length no piece can hold (a huge one would overflow the sums below) needs the maximum.
    if (length > std::numeric_limits<size_t>::max() - 16) {
      out.need = std::numeric_limits<size_t>::max();
      break;
    }
    const size_t whole = static_cast<size_t>(length) + 16;
    if (size - pos < whole) {
      out.need = whole;
      break;
    }
    const char* data = head + 12;
    if (check_crc && !crc_matches(data, length, data + length)) {
      out.error = ScanError::kCorruptedData;
      break;
    }
    out.records.emplace_back(data, length);
    pos += whole;
  }
  out.pos = pos;
  return out;
}

}  // namespace tfbundle::tfrecord
