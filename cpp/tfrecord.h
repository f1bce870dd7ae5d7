// TFRecord framing: finding the records in a piece of a TFRecord stream and checking their
// checksums. Each record is
//
//   uint64 length | uint32 masked CRC-32C of the 8 length bytes | data | uint32 masked CRC-32C of data
//
// (little-endian). python/tfbundle/_readers/tfrecord.py reads the file (plain or gzip), keeps the
// partial record at the end of a piece for the next one, and words the errors; this is its inner
// loop, which would otherwise cost about 2 us of Python per record.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace tfbundle::tfrecord {

enum class ScanError { kNone, kCorruptedLength, kCorruptedData };

struct Scan {
  std::vector<std::string_view> records;  // views into the scanned piece, in order
  size_t pos = 0;    // where the next record starts (the bad one's start on an error)
  size_t need = 0;   // without an error: the bytes from `pos` the next record needs (12: its header)
  ScanError error = ScanError::kNone;
};

// Reads up to `max_records` whole records of `piece` from `pos` on. Stops at the first record
// that is not wholly in `piece` (`need` then tells how many bytes it takes, header included), or
// at the first checksum mismatch when `check_crc`.
Scan scan(std::string_view piece, size_t pos, size_t max_records, bool check_crc);

}  // namespace tfbundle::tfrecord
