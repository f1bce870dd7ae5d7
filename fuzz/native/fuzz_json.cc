// libFuzzer target: the predict body reader (cpp/json_predict.h), which reads request bodies from
// the network, and the JSON number writer (cpp/json_numbers.h). Properties: a body read has as
// many values as its shape holds, every value finite; and the tensor written back as JSON
// (`{"inputs": ...}`) reads again as the same shape and the same values, bit for bit.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "json_numbers.h"
#include "json_predict.h"
#include "proto_fields.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace json = tfbundle::json;
  const auto body = json::parse_predict_body(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!body) return 0;
  FUZZ_CHECK(!body->shape.empty() && body->shape.size() <= json::kMaxPredictRank);
  size_t count = 1;
  for (int64_t d : body->shape) {
    FUZZ_CHECK(d > 0);
    count *= static_cast<size_t>(d);
  }
  FUZZ_CHECK(count == body->values.size());
  for (double v : body->values) FUZZ_CHECK(std::isfinite(v));
  std::string text = "{\"inputs\": ";
  json::append_tensor(text, body->values.data(), tfbundle::pb::DT_DOUBLE, body->shape.data(), body->shape.size());
  text += "}";
  const auto again = json::parse_predict_body(text);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(!again->row && again->shape == body->shape);
  FUZZ_CHECK(again->values.size() == body->values.size());
  FUZZ_CHECK(std::memcmp(again->values.data(), body->values.data(), body->values.size() * sizeof(double)) == 0);
  return 0;
}
