// What the C++ tests build TensorBundle indexes from: protobuf fields by hand and the table format
// of cpp/sstable.h (one uncompressed data block, an empty meta block, an index block, the footer).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "crc32c.h"
#include "sstable.h"
#include "wire.h"

namespace tfbundle::testing {

inline std::string field_varint(int number, uint64_t v) {
  std::string out;
  wire::append_varint(&out, static_cast<uint64_t>(number) << 3);
  wire::append_varint(&out, v);
  return out;
}

inline std::string field_bytes(int number, const std::string& v) {
  std::string out;
  wire::append_varint(&out, (static_cast<uint64_t>(number) << 3) | 2);
  wire::append_varint(&out, v.size());
  return out + v;
}

// One block of sorted entries, no prefix sharing: every entry a restart point.
inline std::string table_block(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out;
  std::vector<uint32_t> restarts;
  for (const auto& [k, v] : entries) {
    restarts.push_back(static_cast<uint32_t>(out.size()));
    wire::append_varint(&out, 0);
    wire::append_varint(&out, k.size());
    wire::append_varint(&out, v.size());
    out += k + v;
  }
  if (restarts.empty()) restarts.push_back(0);
  for (uint32_t r : restarts) wire::append_fixed32(&out, r);
  wire::append_fixed32(&out, static_cast<uint32_t>(restarts.size()));
  return out;
}

// A whole table holding `entries` (sorted by key, as a writer gives them).
inline std::string table(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out;
  auto write = [&](const std::string& contents) {
    std::string handle;
    wire::append_varint(&handle, out.size());
    wire::append_varint(&handle, contents.size());
    out += contents;
    out.push_back('\0');  // not compressed
    wire::append_fixed32(&out, crc32c::mask(crc32c::value(out.data() + out.size() - contents.size() - 1,
                                                          contents.size() + 1)));
    return handle;
  };
  const std::string data = write(table_block(entries));
  const std::string meta = write(table_block({}));
  const std::string index = write(table_block({{entries.empty() ? std::string("z") : entries.back().first, data}}));
  std::string footer = meta + index;
  footer.resize(40, '\0');
  wire::append_fixed32(&footer, static_cast<uint32_t>(sstable::kMagic & 0xffffffffu));
  wire::append_fixed32(&footer, static_cast<uint32_t>(sstable::kMagic >> 32));
  return out + footer;
}

}  // namespace tfbundle::testing
