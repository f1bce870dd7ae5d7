// Bindings of TF Serving's JSON numbers (python/tfbundle/serving/tfs_json.py): _core.json_tensor,
// the text of a numeric tensor in an answer (json_numbers.h), and _core.parse_predict_json, the
// common predict request read straight into a float64 array (json_predict.h).
#include <Python.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "json_numbers.h"
#include "json_predict.h"
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
  m.def(
      "parse_predict_json",
      [](const py::bytes& body) -> py::object {
        std::string_view text = body;  // pybind11: a view of the bytes object's buffer
        std::optional<json::PredictBody> parsed;
        const auto parse = [&] { parsed = json::parse_predict_body(text); };
        if (text.size() > 64 * 1024) {
          without_gil(parse);  // the body is immutable and kept alive by the caller
        } else {
          parse();
        }
        if (!parsed) return py::none();
        py::array_t<double> values(parsed->shape);
        if (!parsed->values.empty()) {
          std::memcpy(values.mutable_data(), parsed->values.data(), parsed->values.size() * sizeof(double));
        }
        return py::make_tuple(parsed->signature_name, parsed->row, values);
      },
      py::arg("body"),
      "(signature_name, row, values): a predict body of the simple form ({\"signature_name\"?, \"instances\"\n"
      "or \"inputs\": regular nested lists of numbers}) with its tensor as float64, or None for any other body.");
}

}  // namespace tfbundle
