// json::parse_predict_body: the simple predict bodies read with their shape and values, and every
// other body refused (the full rules in Python read those and word their errors).
#include "json_predict.h"

#include <cmath>
#include <string>
#include <vector>

#include "check.h"

namespace {

using tfbundle::json::parse_predict_body;

void test_simple_bodies() {
  auto a = parse_predict_body(R"({"instances": [[1, 2.5], [-3e2, -0]]})");
  CHECK(a.has_value());
  if (a) {
    CHECK(a->row && a->signature_name.empty());
    CHECK((a->shape == std::vector<int64_t>{2, 2}));
    CHECK((a->values == std::vector<double>{1, 2.5, -300, 0}));
    CHECK(!std::signbit(a->values[3]));  // the integer -0 is 0, as Python reads it
  }
  auto b = parse_predict_body(" {\n\t\"inputs\" : [ -0.0 ] , \"signature_name\":\"sig\" }\r\n");
  CHECK(b.has_value());
  if (b) {
    CHECK(!b->row && b->signature_name == "sig");
    CHECK((b->shape == std::vector<int64_t>{1}));
    CHECK(b->values.size() == 1 && std::signbit(b->values[0]));  // the float -0.0 keeps its sign
  }
  auto c = parse_predict_body(R"({"instances": [9007199254740992, 5e-324, 1.7976931348623157e308]})");
  CHECK(c.has_value() && c->values.size() == 3);
}

void test_other_bodies() {
  const std::vector<std::string> refused = {
      "",
      "[1]",
      R"({})",
      R"({"instances": []})",
      R"({"instances": [[]]})",
      R"({"instances": [[1, 2], [3]]})",
      R"({"instances": [[1], 2]})",
      R"({"instances": [1, [2]]})",
      R"({"instances": [1], "inputs": [1]})",
      R"({"inputs": [1], "inputs": [1]})",
      R"({"instances": [NaN]})",
      R"({"instances": [true]})",
      R"({"instances": ["1"]})",
      R"({"instances": [{"b64": ""}]})",
      R"({"inputs": 1})",
      R"({"instances": [01]})",
      R"({"instances": [1.]})",
      R"({"instances": [.1]})",
      R"({"instances": [-]})",
      R"({"instances": [1e]})",
      R"({"instances": [1e400]})",
      R"({"instances": [9007199254740993]})",
      R"({"instances": [1,]})",
      R"({"instances": [1]} 1)",
      R"({"instances": [1])",
      R"({"signature_name": "a\"b", "instances": [1]})",
      R"({"signature_name": 1, "instances": [1]})",
      R"({"signature_name": "x"})",
      R"({"instances": [1], "extra": 1})",
      "{\"instances\": " + std::string(40, '[') + "1" + std::string(40, ']') + "}",
  };
  for (const std::string& body : refused) {
    if (parse_predict_body(body).has_value()) {
      std::fprintf(stderr, "read, but should be refused: %s\n", body.c_str());
      ++tfbundle::testing::g_failures;
    }
  }
}

}  // namespace

int main() {
  test_simple_bodies();
  test_other_bodies();
  return tfbundle::testing::g_failures != 0;
}
