// tfrecord::scan: whole records found in order, partial ones left with the bytes they need, and
// every corrupted length or data checksum reported at the bad record's start.
#include "tfrecord.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "crc32c.h"

namespace {

using tfbundle::tfrecord::scan;
using tfbundle::tfrecord::ScanError;

std::string le(uint64_t v, int bytes) {
  std::string out(bytes, '\0');
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

std::string frame(const std::string& data) {
  const std::string length = le(data.size(), 8);
  namespace crc = tfbundle::crc32c;
  return length + le(crc::mask(crc::value(length.data(), 8)), 4) + data +
         le(crc::mask(crc::value(data.data(), data.size())), 4);
}

void test_whole_records() {
  const std::vector<std::string> records = {"first", "", std::string(300, 'x'), "last"};
  std::string stream;
  for (const auto& r : records) stream += frame(r);
  auto all = scan(stream, 0, 100, true);
  CHECK(all.error == ScanError::kNone);
  CHECK(all.records.size() == records.size());
  for (size_t i = 0; i < records.size() && i < all.records.size(); ++i) CHECK(all.records[i] == records[i]);
  CHECK(all.pos == stream.size());
  CHECK(all.need == 12);
  // max_records stops early; the next scan goes on from pos.
  auto two = scan(stream, 0, 2, true);
  CHECK(two.records.size() == 2 && two.pos == frame("first").size() + frame("").size());
  auto rest = scan(stream, two.pos, 100, true);
  CHECK(rest.records.size() == 2 && rest.records[1] == "last");
}

void test_partial_records_say_what_they_need() {
  const std::string stream = frame("abc") + frame("defgh");
  const size_t first = frame("abc").size();
  for (size_t cut = 0; cut < stream.size(); ++cut) {
    auto s = scan(std::string_view(stream).substr(0, cut), 0, 100, true);
    CHECK(s.error == ScanError::kNone);
    const size_t whole = cut >= first ? 1 : 0;
    CHECK(s.records.size() == whole);
    CHECK(s.pos == (whole ? first : 0));
    const size_t left = cut - s.pos;
    if (left < 12) {
      CHECK(s.need == 12);
    } else {
      CHECK(s.need == (whole ? 5u : 3u) + 16);
    }
  }
  // pos past the end is an empty piece.
  auto past = scan(stream, stream.size() + 5, 10, true);
  CHECK(past.records.empty() && past.need == 12);
}

void test_every_flipped_bit_is_caught() {
  const std::string good = frame("payload") + frame("second");
  const size_t first = frame("payload").size();
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      auto s = scan(bad, 0, 100, true);
      const size_t in_record = byte < first ? 0 : first;
      const size_t offset = byte - in_record;
      CHECK(s.pos == in_record);
      CHECK(s.records.size() == (in_record ? 1u : 0u));
      if (offset < 12) {
        // A flipped length bit may also make the record look longer than the piece: either way
        // it is not read as a record.
        CHECK(s.error == ScanError::kCorruptedLength);
      } else {
        CHECK(s.error == ScanError::kCorruptedData);
      }
      // Without checksums, a flipped data or CRC bit goes unnoticed; a length bit does not read past the piece.
      auto unchecked = scan(bad, 0, 100, false);
      CHECK(unchecked.error == ScanError::kNone);
      CHECK(unchecked.pos <= bad.size());
    }
  }
}

void test_huge_length_does_not_overflow() {
  const std::string length = le(UINT64_MAX - 3, 8);
  namespace crc = tfbundle::crc32c;
  const std::string header = length + le(crc::mask(crc::value(length.data(), 8)), 4) + "tail";
  auto s = scan(header, 0, 10, true);
  CHECK(s.error == ScanError::kNone && s.records.empty() && s.pos == 0);
  CHECK(s.need == SIZE_MAX);
}

}  // namespace

int main() {
  test_whole_records();
  test_partial_records_say_what_they_need();
  test_every_flipped_bit_is_caught();
  test_huge_length_does_not_overflow();
  return tfbundle::testing::g_failures != 0;
}
