// Bindings of the tf.Example batch parser (example_parse.h): _core.parse_examples.
//
// python/tfbundle/tf_example.py (decode_batch) checks the feature specs and
// passes them here as plain tuples. The records are read in place (bytes
// objects, any buffer, or one buffer with offsets, as Arrow's binary arrays
// hold them) and parsed with the GIL released, straight into the numpy
// columns; bytes values become bytes objects once the GIL is back.
#include <Python.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bindings.h"
#include "bindings_tensor.h"
#include "example_parse.h"
#include "status.h"
#include "without_gil.h"

namespace py = pybind11;

namespace tfbundle {

namespace {

// Buffers taken from the records, released when the parse is over.
class Buffers {
 public:
  Buffers() = default;
  Buffers(const Buffers&) = delete;
  Buffers& operator=(const Buffers&) = delete;
  ~Buffers() {
    for (auto& b : held_) PyBuffer_Release(b.get());
  }
  std::string_view view(py::handle o, const std::string& what) {
    auto b = std::make_unique<Py_buffer>();
    if (PyObject_GetBuffer(o.ptr(), b.get(), PyBUF_C_CONTIGUOUS) != 0) {
      PyErr_Clear();
      throw Error(kInvalidType, what + " must be bytes (or a bytes-like object), got " + python_type_name(o));
    }
    std::string_view v(static_cast<const char*>(b->buf), static_cast<size_t>(b->len));
    held_.push_back(std::move(b));
    return v;
  }

 private:
  std::vector<std::unique_ptr<Py_buffer>> held_;
};

std::vector<example::FeatureSpec> specs_of(const py::list& specs) {
  std::vector<example::FeatureSpec> out;
  for (py::handle item : specs) {
    auto t = py::reinterpret_borrow<py::tuple>(item);
    example::FeatureSpec s;
    s.name = t[0].cast<std::string>();
    s.kind = static_cast<example::Kind>(t[1].cast<int>());
    s.count = t[2].cast<int64_t>();
    s.shape = t[3].cast<std::string>();
    py::object def = t[4];
    if (!def.is_none()) {
      s.has_default = true;
      switch (s.kind) {
        case example::kFloat: {
          auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(def);
          s.default_float.assign(a.data(), a.data() + a.size());
          break;
        }
        case example::kInt64: {
          auto a = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(def);
          s.default_int64.assign(a.data(), a.data() + a.size());
          break;
        }
        default:
          for (py::handle v : def) s.default_bytes.push_back(v.cast<std::string>());
          break;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

py::list parse_examples(py::object records, const py::list& spec_list, py::object offsets, int64_t first_index) {
  std::vector<example::FeatureSpec> specs = specs_of(spec_list);
  Buffers buffers;
  std::vector<std::string_view> views;
  py::object held;  // what the views point into, alive until the parse is over
  if (offsets.is_none()) {
    // A tuple of the records: its items stay alive whatever another thread does to a list given.
    held = py::reinterpret_steal<py::object>(PySequence_Tuple(records.ptr()));
    if (!held) {
      PyErr_Clear();
      throw Error(kInvalidType, "records must be a sequence of serialized tf.Example (bytes), got " +
                                    python_type_name(records));
    }
    const Py_ssize_t n = PyTuple_GET_SIZE(held.ptr());
    views.reserve(static_cast<size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* r = PyTuple_GET_ITEM(held.ptr(), i);
      if (PyBytes_Check(r)) {
        views.emplace_back(PyBytes_AS_STRING(r), static_cast<size_t>(PyBytes_GET_SIZE(r)));
      } else {
        views.push_back(buffers.view(r, "record " + std::to_string(first_index + i)));
      }
    }
  } else {
    held = records;
    const std::string_view data = buffers.view(records, "the records' data");
    auto off = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(offsets);
    if (!off || off.ndim() != 1 || off.size() < 1) throw Error(kInvalidArgument, "offsets must be a 1-D int64 array of n + 1 positions");
    const int64_t* o = off.data();
    const py::ssize_t n = off.size() - 1;
    views.reserve(static_cast<size_t>(n));
    for (py::ssize_t i = 0; i < n; ++i) {
      if (o[i] < 0 || o[i + 1] < o[i] || static_cast<uint64_t>(o[i + 1]) > data.size()) {
        throw Error(kInvalidArgument, "offsets " + std::to_string(i) + " and " + std::to_string(i + 1) +
                                          " are not a range of the records' data");
      }
      views.push_back(data.substr(static_cast<size_t>(o[i]), static_cast<size_t>(o[i + 1] - o[i])));
    }
  }
  const auto n = static_cast<py::ssize_t>(views.size());
  std::vector<example::Column> columns(specs.size());
  std::vector<py::array> arrays(specs.size());
  std::vector<std::vector<std::string_view>> byte_values(specs.size());
  for (size_t s = 0; s < specs.size(); ++s) {
    const py::ssize_t count = static_cast<py::ssize_t>(specs[s].count);
    switch (specs[s].kind) {
      case example::kFloat: {
        py::array_t<float> a({n, count});
        columns[s].floats = a.mutable_data();
        arrays[s] = std::move(a);
        break;
      }
      case example::kInt64: {
        py::array_t<int64_t> a({n, count});
        columns[s].int64s = a.mutable_data();
        arrays[s] = std::move(a);
        break;
      }
      default:
        byte_values[s].resize(static_cast<size_t>(n * count));
        columns[s].bytes = byte_values[s].data();
        break;
    }
  }
  without_gil([&] { example::parse_batch(views, specs, columns, first_index); });
  py::list out;
  for (size_t s = 0; s < specs.size(); ++s) {
    if (specs[s].kind == example::kBytes) {
      out.append(bytes_array(byte_values[s], {static_cast<int64_t>(n), specs[s].count}));
    } else {
      out.append(arrays[s]);
    }
  }
  return out;
}

}  // namespace

void bind_example(py::module_& m) {
  m.def("parse_examples", &parse_examples, py::arg("records"), py::arg("specs"), py::arg("offsets") = py::none(),
        py::arg("first_index") = 0,
        "Parses serialized tf.Example records into dense columns (one (n, count) array per spec).\n\n"
        "specs: [(name, kind 0 float / 1 int64 / 2 bytes, count, shape text, default or None)].\n"
        "records: a sequence of bytes-like records, or, with offsets (int64, n + 1), one buffer.");
}

}  // namespace tfbundle
