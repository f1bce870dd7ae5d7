// The common TF Serving predict request read straight into numbers:
//
//   {"signature_name": "...", "instances": [[...], ...]}   or   {"inputs": [[...], ...]}
//
// (signature_name optional; one of instances/inputs) where the tensor is regular nested lists of
// JSON numbers. Through orjson and numpy a MobileNetV2 image (150,528 floats, 3 MB of JSON)
// takes 38-80 ms to become an array, a Python float per number and a list per row; here it is
// one pass over the bytes, 8-11 ms (`python bench/bench_json.py` times both).
//
// Anything else (strings, booleans, null, NaN, objects, other keys, escapes, empty or ragged
// lists, numbers that would round differently) is not this form: the parse answers nullopt and
// python/tfbundle/serving/tfs_json.py reads the body by TF Serving's full rules, which also word
// the errors. So for every body this reads, the numbers are those the full rules give.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tfbundle::json {

struct PredictBody {
  std::string signature_name;   // "" when absent
  bool row = false;             // "instances" (true) or "inputs" (false)
  std::vector<int64_t> shape;   // of the whole tensor (for "instances": dim 0 is the batch)
  // Row-major. An integer token is exact here (at most 2^53 in magnitude, else not this form),
  // so casting to float32 rounds once, as the full rules' int64 -> float32 does.
  std::vector<double> values;
};

// Nesting deeper than this is not the simple form (and keeps the recursion bounded).
constexpr size_t kMaxPredictRank = 32;

std::optional<PredictBody> parse_predict_body(std::string_view body);

}  // namespace tfbundle::json
