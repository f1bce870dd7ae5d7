// CRC-32C (Castagnoli), the checksum of TensorFlow's tables and tensor bundles.
//
// extend() uses the CPU's SSE4.2 `crc32` instruction when the processor has
// it (checked once at run time) and a slicing-by-8 table otherwise; both give
// the same values. TensorFlow stores checksums "masked" (rotated and offset)
// so that a CRC of data that itself holds CRCs stays well distributed.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tfbundle::crc32c {

// The CRC-32C of data[0, n) appended to a stream whose CRC so far is `crc`
// (0 for an empty stream). extend(extend(0, a), b) == crc of a ++ b.
uint32_t extend(uint32_t crc, const void* data, size_t n);

inline uint32_t value(const void* data, size_t n) { return extend(0, data, n); }

// The table-driven implementation, whatever the CPU (for tests).
uint32_t extend_portable(uint32_t crc, const void* data, size_t n);

// True when extend() runs on the CPU's crc32 instruction.
bool hardware_accelerated();

constexpr uint32_t kMaskDelta = 0xa282ead8u;

// The stored form of a CRC (tsl/lib/hash/crc32c.h: Mask / Unmask).
constexpr uint32_t mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }

constexpr uint32_t unmask(uint32_t masked) {
  const uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace tfbundle::crc32c
