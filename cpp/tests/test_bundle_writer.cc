// Unit tests of the aligned bundle writer (bundle_writer.h): source bundles written here into a
// temporary folder, rewritten, and read back with the BundleReader. The key families make
// indexes of several data blocks whose separators take every path of the key shortening:
// adjacent keys differing by one at their first differing byte, by more, through 0xff bytes,
// and keys that are prefixes of the next.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "bundle_writer.h"
#include "check.h"
#include "table_builders.h"
#include "crc32c.h"
#include "mapped_file.h"
#include "proto_fields.h"
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




struct Tensor {
  std::string key;
  std::string bytes;  // int8 elements
};

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Writes PREFIX.index and two data shards (tensors alternate between them), packed.
void write_source(const std::string& prefix, const std::vector<Tensor>& tensors) {
  std::string shards[2];
  std::vector<std::pair<std::string, std::string>> entries;
  entries.emplace_back("", field_varint(1, 2) + field_bytes(3, field_varint(1, 1)));  // 2 shards, version 1
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    std::string& shard = shards[i % 2];
    std::string value = field_varint(1, pb::DT_INT8) +
                        field_bytes(2, field_bytes(2, field_varint(1, t.bytes.size()))) +
                        field_varint(3, i % 2) + field_varint(4, shard.size()) + field_varint(5, t.bytes.size());
    value.push_back(static_cast<char>((6 << 3) | 5));
    append_fixed32(&value, crc32c::mask(crc32c::value(t.bytes.data(), t.bytes.size())));
    entries.emplace_back(t.key, value);
    shard += t.bytes;
  }
  write_file(prefix + ".index", table(entries));
  write_file(prefix + ".data-00000-of-00002", shards[0]);
  write_file(prefix + ".data-00001-of-00002", shards[1]);
}

std::string bytes_for(size_t i) {
  std::string out(1 + i % 13, '\0');
  for (size_t j = 0; j < out.size(); ++j) out[j] = static_cast<char>((i * 31 + j) & 0xff);
  return out;
}

// Number of data blocks of a table (entries of its index block, each a restart point).
uint32_t data_blocks(const std::string& index) {
  const char* footer = index.data() + index.size() - sstable::kFooterSize;
  const char* p = footer;
  uint64_t v[4];
  for (uint64_t& x : v) {
    x = 0;
    for (int shift = 0;; shift += 7) {
      const uint8_t b = static_cast<uint8_t>(*p++);
      x |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) break;
    }
  }
  uint32_t n;
  std::memcpy(&n, index.data() + v[2] + v[3] - 4, 4);
  return n;
}

std::vector<std::string> list(const std::string& folder) {
  std::vector<std::string> out;
  DIR* d = ::opendir(folder.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.emplace_back(e->d_name);
  }
  ::closedir(d);
  return out;
}

void check_copy(const std::string& src, const std::string& dst, size_t alignment, const std::vector<Tensor>& tensors) {
  std::shared_ptr<BundleReader> reader = BundleReader::open(dst);
  CHECK(reader->index().header().num_shards == 1);
  CHECK(reader->index().entries().size() == tensors.size());
  CHECK(reader->verify_all().empty());
  std::shared_ptr<BundleReader> source = BundleReader::open(src);
  for (const Tensor& t : tensors) {
    const BundleEntry* e = reader->index().find(t.key);
    CHECK(e != nullptr);
    if (e == nullptr) continue;
    CHECK(e->shard_id == 0 && e->offset % static_cast<int64_t>(alignment) == 0);
    CHECK(e->crc32c == source->index().find(t.key)->crc32c);
    const TensorBytes bytes = reader->tensor_bytes(*e, true);
    CHECK(std::string(bytes.data, bytes.size) == t.bytes);
  }
}

void test_families(const std::string& dir) {
  std::vector<std::vector<Tensor>> families(4);
  const std::string pad(90, 'x');
  for (uint32_t i = 0; i < 6000; ++i) {  // big-endian counters: neighbours differ by one, with carries
    std::string key = "k";
    for (int s = 24; s >= 0; s -= 8) key.push_back(static_cast<char>((i >> s) & 0xff));
    families[0].push_back({key + pad, bytes_for(i)});
  }
  for (uint32_t i = 0; i < 3000; ++i) {  // steps of 7 in the first byte that differs, 0xff bytes around
    std::string key = "\xff";
    const uint32_t v = i * 7;
    key.push_back(static_cast<char>((v >> 8) & 0xff));
    key.push_back(static_cast<char>(v & 0xff));
    families[1].push_back({key + std::string(100, '\xff'), bytes_for(i)});
  }
  uint64_t state = 12345;
  auto random_byte = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<char>(state >> 56);
  };
  for (uint32_t g = 0; g < 2500; ++g) {  // groups of four keys, each a prefix of the next
    std::string base = "g";
    for (int s = 24; s >= 0; s -= 8) base.push_back(static_cast<char>((g >> s) & 0xff));
    for (int j = 0; j < 150; ++j) base.push_back(random_byte());
    for (uint32_t j = 0; j < 4; ++j) families[2].push_back({base + std::string(j, '\xff'), bytes_for(4 * g + j)});
  }
  std::vector<std::string> keys;
  for (int i = 0; i < 4000; ++i) {  // random bytes
    std::string key;
    for (int j = 0; j < 80; ++j) key.push_back(random_byte());
    keys.push_back(key);
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  for (size_t i = 0; i < keys.size(); ++i) families[3].push_back({keys[i], bytes_for(i)});

  for (size_t f = 0; f < families.size(); ++f) {
    const std::string src = dir + "/src" + std::to_string(f);
    const std::string dst = dir + "/dst" + std::to_string(f);
    write_source(src, families[f]);
    for (size_t alignment : {size_t{64}, size_t{1}, size_t{4096}}) {
      write_aligned_bundle(src, dst, alignment);
      check_copy(src, dst, alignment, families[f]);
    }
    CHECK(data_blocks(MappedFile::read(dst + ".index")) >= 2);
  }
}

void test_errors(const std::string& dir) {
  const std::vector<Tensor> tensors = {{"a", "abc"}, {"b", std::string(70, 'z')}};
  const std::string src = dir + "/err";
  write_source(src, tensors);
  EXPECT_ERROR(kInvalidArgument, "power of two", write_aligned_bundle(src, dir + "/o", 0));
  EXPECT_ERROR(kInvalidArgument, "power of two", write_aligned_bundle(src, dir + "/o", 96));
  EXPECT_ERROR(kInvalidArgument, "power of two", write_aligned_bundle(src, dir + "/o", kMaxBundleAlignment * 2));
  EXPECT_ERROR(kInvalidArgument, "over its source", write_aligned_bundle(src, src, 64));
  EXPECT_ERROR(kInvalidArgument, "one of the source's files", write_aligned_bundle(src, dir + "/./err", 64));
  EXPECT_ERROR(kNotFound, "checkpoint index not found", write_aligned_bundle(dir + "/none", dir + "/o", 64));
  EXPECT_ERROR(kNotFound, "cannot create", write_aligned_bundle(src, dir + "/no/such/folder", 64));
  // A corrupt tensor: nothing written, no temporary file left.
  std::string shard = MappedFile::read(src + ".data-00001-of-00002");
  shard[5] ^= 1;
  write_file(src + ".data-00001-of-00002", shard);
  const size_t before = list(dir).size();
  EXPECT_ERROR(kDataLoss, "checksum does not match", write_aligned_bundle(src, dir + "/o", 64));
  CHECK(list(dir).size() == before);
  // A missing shard.
  ::unlink((src + ".data-00001-of-00002").c_str());
  EXPECT_ERROR(kNotFound, "missing", write_aligned_bundle(src, dir + "/o", 64));
  CHECK(list(dir).size() == before - 1);
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/tfbundle-bundle-writer-XXXXXX";
  const char* dir = ::mkdtemp(tmpl);
  if (dir == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  try {
    test_families(dir);
    test_errors(dir);
  } catch (const Error& e) {
    std::fprintf(stderr, "unexpected error: %s\n", e.what());
    ++g_failures;
  }
  for (const std::string& name : list(dir)) ::unlink((std::string(dir) + "/" + name).c_str());
  ::rmdir(dir);
  if (g_failures == 0) std::printf("test_bundle_writer: all checks passed\n");
  return g_failures == 0 ? 0 : 1;
}
