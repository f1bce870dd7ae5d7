// Numeric tensors as TF Serving's REST API writes them in JSON: nested lists in row-major order,
// each float in the shortest of two forms that reads back as the same value, as absl's
// SimpleFtoa/SimpleDtoa do: "%g" (six significant digits) when that form reads back exactly,
// otherwise "%.9g" (float32) or "%.17g" (float64); a whole number gets ".0"; NaN, Infinity and
// -Infinity as JavaScript writes them.
//
// python/tfbundle/serving/tfs_json.py answers every predict request through this; its Python
// form of the same rules (_float_tokens) is kept for the types this does not take and is the
// reference the tests compare this with. `python bench/bench_json.py` times both: in Python the
// answer of the bench's small model (10 floats) takes 30-45 us to write, about a quarter of the
// server's event-loop time per request; 4-8 us with this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tfbundle::json {

// Whether append_tensor writes elements of this DataType (dtypes.h): DT_FLOAT, DT_DOUBLE, the
// integers and DT_BOOL. Not DT_UINT16, for which TF Serving's writer has no case (an error).
bool writes_json(int dtype);

// Appends one float as TF Serving writes it. `float32`: `value` is a float32's value.
void append_float(std::string& out, double value, bool float32);

// Appends the tensor of `ndim` dimensions `shape` whose elements (of DataType `dtype`, one that
// writes_json takes, in native byte order) are `data`, row-major and contiguous, as nested JSON
// lists (a scalar: the value alone). A dimension of size 0 writes "[]" at its level.
void append_tensor(std::string& out, const void* data, int dtype, const int64_t* shape, size_t ndim);

}  // namespace tfbundle::json
