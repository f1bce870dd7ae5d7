// libFuzzer target: the tf.Example batch parser (cpp/example_parse.h), which reads records that
// come straight from users' TFRecord files and Parquet/Arrow binary columns.
//
// The input is split into records at each "\xff\xfe" pair (so one input is a batch of several
// records, some valid and some not), and parsed against two fixed spec sets: one with defaults
// for every feature and one without. Properties: a parse that succeeds fills every value of every
// column (checked by a sentinel), and a batch parses exactly when each of its records parses alone.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "example_parse.h"
#include "fuzz_common.h"

namespace {

using tfbundle::example::Column;
using tfbundle::example::FeatureSpec;

std::vector<FeatureSpec> specs(bool defaults) {
  std::vector<FeatureSpec> out(3);
  out[0].name = "x";
  out[0].kind = tfbundle::example::kFloat;
  out[0].count = 2;
  out[0].shape = "[2]";
  out[1].name = "id";
  out[1].kind = tfbundle::example::kInt64;
  out[1].count = 1;
  out[1].shape = "[]";
  out[2].name = "s";
  out[2].kind = tfbundle::example::kBytes;
  out[2].count = 1;
  out[2].shape = "[]";
  if (defaults) {
    for (FeatureSpec& s : out) s.has_default = true;
    out[0].default_float = {1.5f, -2.0f};
    out[1].default_int64 = {7};
    out[2].default_bytes = {"none"};
  }
  return out;
}

// Parses `records`; returns whether it succeeded, checking that every value was written.
bool parse(const std::vector<std::string_view>& records, const std::vector<FeatureSpec>& spec) {
  const size_t n = records.size();
  std::vector<float> floats(n * 2, std::nanf("7"));
  std::vector<int64_t> ints(n, INT64_MIN + 3);
  const char sentinel[] = "unwritten";
  std::vector<std::string_view> bytes(n, std::string_view(sentinel));
  std::vector<Column> columns(3);
  columns[0].floats = floats.data();
  columns[1].int64s = ints.data();
  columns[2].bytes = bytes.data();
  const bool ok = tfbundle::fuzz::expect_ok_or_error([&] { tfbundle::example::parse_batch(records, spec, columns); });
  if (ok) {
    for (const std::string_view& b : bytes) FUZZ_CHECK(b.data() != sentinel);
  }
  return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> records;
  size_t start = 0;
  for (size_t i = 0; i + 1 < input.size(); ++i) {
    if (input[i] == '\xff' && input[i + 1] == '\xfe') {
      records.push_back(input.substr(start, i - start));
      start = i + 2;
      ++i;
    }
  }
  records.push_back(input.substr(start));
  for (bool defaults : {true, false}) {
    const std::vector<FeatureSpec> spec = specs(defaults);
    const bool batch_ok = parse(records, spec);
    bool each_ok = true;
    for (const std::string_view& r : records) each_ok = parse({r}, spec) && each_ok;
    FUZZ_CHECK(batch_ok == each_ok);
  }
  return 0;
}
