// Unit tests of compile_cache.h: the cache file's bytes, their checks (every truncation, every
// flipped bit, each key field), and the atomic write. No TensorFlow.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "check.h"
#include "compile_cache.h"

using namespace tfbundle;
using tfbundle::testing::g_failures;

namespace {

CompileCacheKey sample_key() {
  CompileCacheKey k;
  k.tfbundle = "1.2.3";
  k.tensorflow = "2.21.0";
  k.cpu = cpu_features();
  k.model = "meta_graph=10/abcd";
  k.options = "import=graph;drop=;omit=0/0";
  return k;
}

void test_round_trip() {
  const CompileCacheKey key = sample_key();
  const std::string payload("graph bytes \0 with a NUL", 24);
  const std::string bytes = encode_cache_bytes(key, payload);
  std::string got;
  CHECK(parse_cache_bytes(bytes, key, &got).empty());
  CHECK(got == payload);
  // An empty payload is an entry too.
  const std::string empty = encode_cache_bytes(key, "");
  CHECK(parse_cache_bytes(empty, key, &got).empty());
  CHECK(got.empty());
}

void test_every_truncation_and_extension() {
  const CompileCacheKey key = sample_key();
  const std::string bytes = encode_cache_bytes(key, "payload");
  std::string got = "untouched";
  for (size_t n = 0; n < bytes.size(); ++n) {
    CHECK(!parse_cache_bytes(bytes.substr(0, n), key, &got).empty());
  }
  CHECK(got == "untouched");
  CHECK(parse_cache_bytes(bytes + "x", key, &got) == "the cache file has bytes after its end");
  CHECK(parse_cache_bytes(bytes.substr(0, bytes.size() - 1), key, &got) == "the cache file is truncated");
}

void test_every_flipped_bit() {
  const CompileCacheKey key = sample_key();
  const std::string bytes = encode_cache_bytes(key, "some payload");
  std::string got;
  int accepted = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = bytes;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      if (parse_cache_bytes(damaged, key, &got).empty()) ++accepted;
    }
  }
  CHECK(accepted == 0);
}

void test_each_key_field() {
  const CompileCacheKey key = sample_key();
  const std::string bytes = encode_cache_bytes(key, "p");
  std::string got;
  // Each key field changed alone, and the reason the entry is refused.
  const struct {
    std::string CompileCacheKey::*field;
    const char* value;
    const char* why;
  } cases[] = {
      {&CompileCacheKey::tensorflow, "2.99.0", "written by TensorFlow 2.21.0 (this is 2.99.0)"},
      {&CompileCacheKey::cpu, "x86:Other", "written for a CPU with other features"},
      {&CompileCacheKey::model, "meta_graph=11/abcd", "the model changed since the cache was written"},
      {&CompileCacheKey::tfbundle, "9", "written by tfbundle 1.2.3 (this is 9)"},
      {&CompileCacheKey::options, "import=tf2-mapped", "written for other load options"},
  };
  for (const auto& c : cases) {
    CompileCacheKey other = key;
    other.*c.field = c.value;
    CHECK(parse_cache_bytes(bytes, other, &got) == c.why);
  }
  CHECK(parse_cache_bytes(std::string(40, 'x'), key, &got) == "not a tfbundle cache file");
}

void test_cpu_features() {
  const std::string& f = cpu_features();
  CHECK(!f.empty());
  CHECK(&f == &cpu_features());  // computed once
#if defined(__x86_64__)
  CHECK(f.rfind("x86:", 0) == 0);
#endif
}

void test_files() {
  char tmpl[] = "/tmp/tfbundle-cc-test-XXXXXX";
  const char* root = mkdtemp(tmpl);
  CHECK(root != nullptr);
  if (root == nullptr) return;
  const std::string dir = std::string(root) + "/cache";  // made by the write
  const CompileCacheKey key = sample_key();
  const std::string path = cache_file_path(dir, "/some/model", {"serve"}, "graph");
  CHECK(path.rfind(dir + "/model-", 0) == 0);
  CHECK(path != cache_file_path(dir, "/some/model", {"serve", "gpu"}, "graph"));
  CHECK(path != cache_file_path(dir, "/some/model", {"serve"}, "tf2-mapped"));
  CHECK(read_cache_file(path, key).miss == "no cache file");
  CHECK(write_cache_file(path, key, "abc").empty());
  CacheLookup found = read_cache_file(path, key);
  CHECK(found.payload.has_value() && *found.payload == "abc");
  CHECK(write_cache_file(path, key, "def").empty());  // replaced whole
  found = read_cache_file(path, key);
  CHECK(found.payload.has_value() && *found.payload == "def");
  // A folder whose parent is missing is not made.
  const std::string deep = std::string(root) + "/a/b/entry.tfbcache";
  CHECK(write_cache_file(deep, key, "x").find("cannot make the cache folder") == 0);
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
  ::rmdir(root);
}

}  // namespace

int main() {
  test_round_trip();
  test_every_truncation_and_extension();
  test_every_flipped_bit();
  test_each_key_field();
  test_cpu_features();
  test_files();
  if (g_failures) std::fprintf(stderr, "%d failure(s)\n", g_failures);
  return g_failures != 0;
}
