// Bindings of the JSON number writer (json_numbers.h): _core.json_tensor, the text of a numeric
// tensor in a TF Serving REST answer (python/tfbundle/serving/tfs_json.py).
#include <Python.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "json_numbers.h"
#include "without_gil.h"

namespace py = pybind11;

namespace tfbundle {
namespace {

std::optional<json::Number> number_kind(const py::dtype& dtype) {
  // numpy's own types only: a user-defined one (ml_dtypes' bfloat16, ...) is not an IEEE
  // float32/float64 or an integer whatever its kind says.
  constexpr int kFirstUserType = 256;  // NPY_USERDEF
  if (dtype.num() >= kFirstUserType) return std::nullopt;
  const char order = dtype.byteorder();  // '=' native, '|' not applicable, '<' or '>' explicit
  constexpr char kForeign = PY_BIG_ENDIAN ? '<' : '>';
  if (order == kForeign) return std::nullopt;
  const size_t size = static_cast<size_t>(dtype.itemsize());
  switch (dtype.kind()) {
    case 'f':
      if (size == 4) return json::Number::kFloat32;
      if (size == 8) return json::Number::kFloat64;
      return std::nullopt;
    case 'i':
      if (size == 1) return json::Number::kInt8;
      if (size == 2) return json::Number::kInt16;
      if (size == 4) return json::Number::kInt32;
      if (size == 8) return json::Number::kInt64;
      return std::nullopt;
    case 'u':
      if (size == 1) return json::Number::kUInt8;
      if (size == 2) return json::Number::kUInt16;
      if (size == 4) return json::Number::kUInt32;
      if (size == 8) return json::Number::kUInt64;
      return std::nullopt;
    case 'b':
      return json::Number::kBool;
    default:
      return std::nullopt;
  }
}

}  // namespace

void bind_json(py::module_& m) {
  m.def(
      "json_tensor",
      [](const py::array& arr) -> py::object {
        const std::optional<json::Number> kind = number_kind(arr.dtype());
        if (!kind || !(arr.flags() & py::array::c_style)) return py::none();
        std::vector<int64_t> shape(arr.shape(), arr.shape() + arr.ndim());
        std::string out;
        const void* data = arr.data();
        const auto write = [&] { json::append_tensor(out, data, *kind, shape.data(), shape.size()); };
        if (arr.size() > 4096) {
          without_gil(write);
        } else {
          write();
        }
        return py::bytes(out);
      },
      py::arg("array"),
      "The JSON text of a C-contiguous numeric array (nested lists, TF Serving's number forms), or\n"
      "None for an array it does not take (another dtype, a foreign byte order, not C-contiguous).");
}

}  // namespace tfbundle
