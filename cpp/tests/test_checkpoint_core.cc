// Unit tests of the checkpoint reader's C++ core: CRC-32C, snappy, the table
// format and the bundle reader, on bytes built here. No Python, no files.
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "check.h"
#include "table_builders.h"
#include "crc32c.h"
#include "sstable.h"
#include "status.h"
#include "tensor_bundle.h"
#include "wire.h"

using namespace tfbundle;
using tfbundle::testing::field_bytes;
using tfbundle::testing::field_varint;
using tfbundle::testing::g_failures;
using tfbundle::testing::table;

namespace {

using wire::append_fixed32;
using wire::append_varint;





std::string entry(int dtype, const std::vector<int64_t>& shape, int64_t offset, int64_t size, uint32_t crc) {
  std::string dims;
  for (int64_t d : shape) dims += field_bytes(2, field_varint(1, static_cast<uint64_t>(d)));
  std::string out = field_varint(1, dtype) + field_bytes(2, dims) + field_varint(4, offset) + field_varint(5, size);
  out.push_back(static_cast<char>((6 << 3) | 5));
  append_fixed32(&out, crc);
  return out;
}

void test_crc32c() {
  CHECK(crc32c::value("123456789", 9) == 0xe3069283u);
  CHECK(crc32c::extend_portable(0, "123456789", 9) == 0xe3069283u);
  std::string blob;
  for (int i = 0; i < 1000; ++i) blob.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  for (size_t start = 0; start < 16; ++start) {
    for (size_t n : {0, 1, 7, 8, 9, 33, 100, 900}) {
      CHECK(crc32c::extend(0, blob.data() + start, n) == crc32c::extend_portable(0, blob.data() + start, n));
    }
  }
  const uint32_t whole = crc32c::value(blob.data(), blob.size());
  CHECK(crc32c::extend(crc32c::value(blob.data(), 10), blob.data() + 10, blob.size() - 10) == whole);
  CHECK(crc32c::unmask(crc32c::mask(whole)) == whole);
}

void test_snappy() {
  std::string out;
  // "abcabcabcd": literal "abc", copy (offset 3, length 6), literal "d".
  const std::string compressed = std::string("\x0a\x08" "abc", 5) + std::string("\x09\x03", 2) + std::string("\x00" "d", 2);
  CHECK(sstable::snappy_uncompress(compressed, 100, &out) && out == "abcabcabcd");
  CHECK(!sstable::snappy_uncompress(std::string("\x0b\x08" "abc\x09\x03\x00" "d", 10), 100, &out));  // length lies
  CHECK(!sstable::snappy_uncompress(std::string("\x05\x09\x05", 3), 100, &out));  // copy before any output
  CHECK(!sstable::snappy_uncompress(std::string("\x0a\x08" "abc", 5), 5, &out));  // over the cap
}

void test_table() {
  const std::string t = table({{"a", "1"}, {"b", "22"}});
  sstable::Table parsed = sstable::read_table(t, "t");
  CHECK(parsed.entries.size() == 2 && parsed.entries[1].key == "b" && parsed.entries[1].value == "22");
  EXPECT_ERROR(kDataLoss, "too short", sstable::read_table(t.substr(0, 10), "t"));
  EXPECT_ERROR(kDataLoss, "bad magic", sstable::read_table(t.substr(0, t.size() - 1), "t"));
  std::string flipped = t;
  flipped[3] ^= 1;
  EXPECT_ERROR(kDataLoss, "checksum does not match", sstable::read_table(flipped, "t"));
  EXPECT_ERROR(kDataLoss, "out of order", sstable::read_table(table({{"b", ""}, {"a", ""}}), "t"));
}

void test_slice_keys() {
  // Values from TensorFlow's OrderedCode: 0 -> 80, -1 -> 7f, 100 -> c0 64, -0x800 -> 38 00.
  const std::string key = encode_slice_key("w", {{0, -1}, {100, -0x800}});
  const std::string want("\x00" "w" "\x00\x01" "\x01\x02" "\x80\x7f" "\xc0\x64" "\x38\x00", 12);
  CHECK(key == want);
}

void test_reader() {
  const float values[3] = {1.5f, -2.0f, 4.25f};
  std::string data(reinterpret_cast<const char*>(values), sizeof(values));
  const uint32_t crc = crc32c::mask(crc32c::value(data.data(), data.size()));
  std::string header = field_varint(1, 1) + field_bytes(3, field_varint(1, 1));
  auto make = [&](const std::string& value) { return table({{"", header}, {"v", value}}); };

  auto reader = BundleReader::from_bytes(make(entry(pb::DT_FLOAT, {3}, 0, 12, crc)), {data}, "mem");
  TensorBytes bytes = reader->tensor_bytes(*reader->index().find("v"), true);
  CHECK(bytes.size == 12 && std::memcmp(bytes.data, values, 12) == 0 && bytes.num_elements == 3);
  CHECK(reader->verify_all().empty());

  reader = BundleReader::from_bytes(make(entry(pb::DT_FLOAT, {3}, 4, 12, crc)), {data}, "mem");
  EXPECT_ERROR(kDataLoss, "points past the end", reader->tensor_bytes(*reader->index().find("v"), false));
  reader = BundleReader::from_bytes(make(entry(pb::DT_FLOAT, {4}, 0, 12, crc)), {data}, "mem");
  EXPECT_ERROR(kDataLoss, "does not match its dtype", reader->tensor_bytes(*reader->index().find("v"), false));
  reader = BundleReader::from_bytes(make(entry(pb::DT_FLOAT, {3}, 0, 12, crc ^ 1)), {data}, "mem");
  EXPECT_ERROR(kDataLoss, "checksum does not match", reader->tensor_bytes(*reader->index().find("v"), true));
  reader = BundleReader::from_bytes(make(entry(pb::DT_FLOAT, {3}, 0, 12, crc)), {}, "mem");
  EXPECT_ERROR(kNotFound, "missing", reader->tensor_bytes(*reader->index().find("v"), false));
  EXPECT_ERROR(kDataLoss, "malformed", BundleReader::from_bytes(make("\x0a\x7f"), {data}, "mem"));
  EXPECT_ERROR(kDataLoss, "no header", BundleReader::from_bytes(table({{"v", ""}}), {data}, "mem"));
}

}  // namespace

int main() {
  test_crc32c();
  test_snappy();
  test_table();
  test_slice_keys();
  test_reader();
  if (g_failures == 0) std::printf("test_checkpoint_core: all checks passed (crc32c %s)\n",
                                   crc32c::hardware_accelerated() ? "hardware" : "portable");
  return g_failures == 0 ? 0 : 1;
}
