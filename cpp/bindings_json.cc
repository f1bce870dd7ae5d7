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
#include "bindings_tensor.h"
#include "json_numbers.h"
#include "json_predict.h"
#include "without_gil.h"

namespace py = pybind11;

namespace tfbundle {

void bind_json(py::module_& m) {
  m.def(
      "json_tensor",
      [](const py::array& arr, int dtype) -> py::object {
        // The array must hold `dtype`'s elements as they are: its numpy dtype (native byte
        // order), C-contiguous.
        PyObject* want = json::writes_json(dtype) ? numpy_dtype_or_null(dtype, true) : nullptr;
        if (want == nullptr || !(arr.flags() & py::array::c_style)) return py::none();
        const int same = PyObject_RichCompareBool(arr.dtype().ptr(), want, Py_EQ);
        if (same < 0) throw py::error_already_set();
        if (same == 0) return py::none();
        std::vector<int64_t> shape(arr.shape(), arr.shape() + arr.ndim());
        std::string out;
        const void* data = arr.data();
        const auto write = [&] { json::append_tensor(out, data, dtype, shape.data(), shape.size()); };
        if (arr.size() > 4096) {
          without_gil(write);
        } else {
          write();
        }
        return py::bytes(out);
      },
      py::arg("array"), py::arg("dtype"),
      "The JSON text of an array holding DataType `dtype`'s elements (nested lists, TF Serving's\n"
      "number forms), or None when it does not (another numpy dtype, a foreign byte order, not\n"
      "C-contiguous) or TF Serving writes no JSON for the type.");
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
