// Regression tests for bugs found by fuzzing and review of the core's parsers (fuzz/native):
// each test is one input that once crashed, hit undefined behaviour or ran without bound.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "table_builders.h"
#include "crc32c.h"
#include "inspect.h"
#include "model_files.h"
#include "sstable.h"
#include "status.h"
#include "text_format.h"
#include "wire.h"

using namespace tfbundle;
using tfbundle::testing::g_failures;
using tfbundle::testing::table;

namespace {

// Runs fn; checks that it throws tfbundle::Error with `code` and a message containing `part`.

// ---- a TensorBundle index, written as TensorFlow's table format (cpp/sstable.h) ----

using wire::append_fixed32;
using wire::append_varint;



std::string bundle_header(int32_t num_shards) {
  wire::Writer version;
  version.varint_field(1, 1);  // VersionDef.producer
  wire::Writer h;
  h.varint_field(1, static_cast<uint64_t>(num_shards));  // BundleHeaderProto.num_shards
  h.bytes_field(3, version.data());                      // BundleHeaderProto.version
  return h.data();
}

std::string bundle_entry(int64_t size) {
  wire::Writer dim;
  dim.varint_field(1, 1);  // TensorShapeProto.Dim.size
  wire::Writer shape;
  shape.bytes_field(2, dim.data());  // TensorShapeProto.dim
  wire::Writer e;
  e.varint_field(1, 1);  // BundleEntryProto.dtype: DT_FLOAT
  e.bytes_field(2, shape.data());
  e.varint_field(5, static_cast<uint64_t>(size));  // BundleEntryProto.size
  return e.data();
}

// A SavedModel folder holding `files` (path inside the folder -> contents), removed by the destructor.
using Files = std::vector<std::pair<std::string, std::string>>;

struct ModelDir {
  std::string path;
  std::vector<std::string> names;
  explicit ModelDir(const std::vector<std::pair<std::string, std::string>>& files) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/tfbundle-test-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) return;
    path = pattern;
    mkdir((path + "/variables").c_str(), 0700);
    for (const auto& [name, contents] : files) {
      FILE* f = std::fopen((path + "/" + name).c_str(), "wb");
      if (f == nullptr) continue;
      std::fwrite(contents.data(), 1, contents.size(), f);
      std::fclose(f);
      names.push_back(name);
    }
  }
  ~ModelDir() {
    for (const std::string& name : names) unlink((path + "/" + name).c_str());
    rmdir((path + "/variables").c_str());
    rmdir(path.c_str());
  }
};

ModelDir with_index(const std::string& index) { return ModelDir(Files{{"variables/variables.index", index}}); }

// summarize_variables added entry sizes from the file with signed overflow (UBSan:
// "signed integer overflow: 9223372036854775807 + 9223372036854775807"), and summed negative
// sizes. Now such an index is corrupt.
void test_summarize_impossible_sizes() {
  {
    ModelDir dir = with_index(table({{"", bundle_header(1)}, {"a", bundle_entry(INT64_MAX)}, {"b", bundle_entry(INT64_MAX)}}));
    EXPECT_ERROR(kDataLoss, "entry \"b\" has an impossible size", summarize_variables(dir.path));
  }
  {
    ModelDir dir = with_index(table({{"", bundle_header(1)}, {"a", bundle_entry(-4)}}));
    EXPECT_ERROR(kDataLoss, "entry \"a\" has an impossible size (-4 bytes)", summarize_variables(dir.path));
  }
  {
    ModelDir dir = with_index(table({{"", bundle_header(1)}, {"a", bundle_entry(4)}, {"b", bundle_entry(8)}}));
    const VariablesSummary s = summarize_variables(dir.path);
    CHECK(s.format == "v2" && s.count == 2 && s.total_bytes == 12 && s.num_shards == 1);
    CHECK(s.missing_shards == std::vector<std::string>{"variables.data-00000-of-00001"});
  }
}

// summarize_variables looked up every data shard the header counts, up to 2^31 - 1 of them, and
// listed every missing one: an index of 60 bytes kept `tfbundle show` busy for hours and then
// out of memory. Now it stops after 100 missing shards.
void test_summarize_huge_shard_count() {
  ModelDir dir = with_index(table({{"", bundle_header(INT32_MAX)}, {"a", bundle_entry(4)}}));
  const auto start = std::chrono::steady_clock::now();
  const VariablesSummary s = summarize_variables(dir.path);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(s.num_shards == INT32_MAX);
  CHECK(s.missing_shards.size() == 100);
  CHECK(s.missing_shards.front() == "variables.data-00000-of-2147483647");
  CHECK(seconds < 5);
}

// text_to_binary negated the magnitude of an enum given as an integer in int64, which overflows
// for -9223372036854775808 (UBSan: "negation of -9223372036854775808 cannot be represented").
// Enum values are int32, as protobuf's own text parser requires.
void test_text_format_enum_range() {
  auto dtype = [](const std::string& value) {
    return text_to_binary("meta_graphs { signature_def { key: \"s\" value { inputs { key: \"x\" value { dtype: " +
                              value + " } } } } }",
                          "tensorflow.SavedModel", "saved_model.pbtxt");
  };
  EXPECT_ERROR(kDataLoss, "enum value out of range for dtype", dtype("-9223372036854775808"));
  EXPECT_ERROR(kDataLoss, "enum value out of range for dtype", dtype("2147483648"));
  EXPECT_ERROR(kDataLoss, "enum value out of range for dtype", dtype("-2147483649"));
  CHECK(dtype("1") == dtype("DT_FLOAT"));
  CHECK(dtype("2147483647").size() + 5 == dtype("-2147483648").size());  // negatives take 10 bytes
}

// The tag-sets of a saved_model.pbtxt came from a light scanner that kept adjacent strings apart
// and escapes undecoded, so a load chose among tag-sets other than those TensorFlow's loader then
// matched ("se" "rve" listed as two tags, {"se", "rve"}; TensorFlow reads "serve"). Found by the
// text-format fuzz target, which now checks that both agree.
void test_pbtxt_tag_sets() {
  ModelDir dir(Files{{"saved_model.pbtxt",
                 "meta_graphs { meta_info_def { tags: \"se\" 'rve' tags: \"gp\\x75\" } }\n"
                 "meta_graphs { meta_info_def { tags: [\"train\"] } }  # a comment\n"}});
  const std::vector<std::vector<std::string>> sets = saved_model_tag_sets(dir.path);
  CHECK((sets == std::vector<std::vector<std::string>>{{"serve", "gpu"}, {"train"}}));
  ModelDir bad(Files{{"saved_model.pbtxt", "meta_graphs { meta_info_def { tags: \"serve\" }"}});
  EXPECT_ERROR(kDataLoss, "saved_model.pbtxt is malformed", saved_model_tag_sets(bad.path));
}

}  // namespace

int main() {
  test_pbtxt_tag_sets();
  test_summarize_impossible_sizes();
  test_summarize_huge_shard_count();
  test_text_format_enum_range();
  if (g_failures == 0) std::printf("test_fuzz_regressions: all checks passed\n");
  return g_failures == 0 ? 0 : 1;
}
