// json::append_float and json::append_tensor: TF Serving's number forms and the nesting of shapes,
// including the cases where six digits do not read back (float32: nine; float64: seventeen).
#include "json_numbers.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "check.h"
#include "proto_fields.h"

namespace {

using tfbundle::json::append_float;
using tfbundle::json::append_tensor;
namespace pb = tfbundle::pb;

std::string f32(float v) {
  std::string out;
  append_float(out, v, true);
  return out;
}

std::string f64(double v) {
  std::string out;
  append_float(out, v, false);
  return out;
}

void test_floats() {
  CHECK(f32(0.1f) == "0.1");
  CHECK(f32(1.0f) == "1.0");
  CHECK(f32(-0.0f) == "-0.0");
  CHECK(f32(9000000.0f) == "9e+06");
  CHECK(f32(1.0f / 3.0f) == "0.333333343");
  CHECK(f32(1e-5f) == "1e-05");
  CHECK(f32(16777217.0f) == "16777216.0");  // 2^24 + 1 is not a float32: it rounds to 2^24
  CHECK(f32(123456.0f) == "123456.0");
  CHECK(f32(1234567.0f) == "1234567.0");  // "1.23457e+06" reads back as another float
  CHECK(f32(std::numeric_limits<float>::denorm_min()) == "1.4013e-45");  // six digits read back
  CHECK(f32(std::nanf("")) == "NaN");
  CHECK(f32(-std::nanf("")) == "NaN");
  CHECK(f32(std::numeric_limits<float>::infinity()) == "Infinity");
  CHECK(f32(-std::numeric_limits<float>::infinity()) == "-Infinity");
  CHECK(f64(0.1) == "0.1");
  CHECK(f64(1.0 / 3.0) == "0.33333333333333331");
  CHECK(f64(1e22) == "1e+22");
  CHECK(f64(9007199254740993.0) == "9007199254740992.0");
  CHECK(f64(std::numeric_limits<double>::denorm_min()) == "4.94066e-324");
  CHECK(f64(std::numeric_limits<double>::max()) == "1.7976931348623157e+308");
}

void test_tensors() {
  const std::vector<float> six = {1, 2.5f, -3, 0.1f, 0, 7};
  const int64_t shape23[] = {2, 3};
  std::string out;
  append_tensor(out, six.data(), pb::DT_FLOAT, shape23, 2);
  CHECK(out == "[[1.0,2.5,-3.0],[0.1,0.0,7.0]]");
  out.clear();
  append_tensor(out, six.data(), pb::DT_FLOAT, shape23, 0);  // a scalar: the value alone
  CHECK(out == "1.0");
  const int64_t empty_inner[] = {2, 0, 3};
  out.clear();
  append_tensor(out, nullptr, pb::DT_FLOAT, empty_inner, 3);
  CHECK(out == "[[],[]]");
  const int64_t empty_outer[] = {0, 4};
  out.clear();
  append_tensor(out, nullptr, pb::DT_INT64, empty_outer, 2);
  CHECK(out == "[]");
  const std::vector<int64_t> ints = {std::numeric_limits<int64_t>::min(), -1, std::numeric_limits<int64_t>::max()};
  const int64_t three[] = {3};
  out.clear();
  append_tensor(out, ints.data(), pb::DT_INT64, three, 1);
  CHECK(out == "[-9223372036854775808,-1,9223372036854775807]");
  const std::vector<uint64_t> big = {0, std::numeric_limits<uint64_t>::max()};
  const int64_t two[] = {2};
  out.clear();
  append_tensor(out, big.data(), pb::DT_UINT64, two, 1);
  CHECK(out == "[0,18446744073709551615]");
  const std::vector<int8_t> small = {-128, 127};
  out.clear();
  append_tensor(out, small.data(), pb::DT_INT8, two, 1);
  CHECK(out == "[-128,127]");
  const std::vector<uint8_t> flags = {1, 0};
  out.clear();
  append_tensor(out, flags.data(), pb::DT_BOOL, two, 1);
  CHECK(out == "[true,false]");
  // A type TF Serving writes no JSON for (its writer has no DT_UINT16 case) is refused.
  const std::vector<uint16_t> shorts = {1, 2};
  EXPECT_ERROR(tfbundle::kInvalidArgument, "DT_UINT16", append_tensor(out, shorts.data(), pb::DT_UINT16, two, 1));
  EXPECT_ERROR(tfbundle::kInvalidArgument, "DT_STRING", append_tensor(out, shorts.data(), pb::DT_STRING, two, 1));
  out = "prefix:";  // appends
  append_tensor(out, flags.data(), pb::DT_UINT8, two, 1);
  CHECK(out == "prefix:[1,0]");
}

}  // namespace

int main() {
  test_floats();
  test_tensors();
  return tfbundle::testing::g_failures != 0;
}
