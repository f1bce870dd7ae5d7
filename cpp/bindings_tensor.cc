// The numpy half of tensor conversion (bindings_tensor.h) and the DataType
// table as Python sees it (_core.DTYPES). The TensorFlow half (owning
// pointers, wrapping caller buffers, string tensors) is tensor.*.
#include "bindings_tensor.h"

#include <Python.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "bindings.h"
#include "dtypes.h"
#include "status.h"
#include "tf_c_api.h"

namespace py = pybind11;

namespace tfbundle {
namespace {

// ------------------------------------------------------ numpy dtypes ---

// The numpy dtype of each DataType value, made the first time it is asked
// for, in a flat array indexed by value: every feed and fetch looks its dtype
// up here. Never destroyed: it would outlive the interpreter.
struct NumpyDtype {
  const DataTypeInfo* info = nullptr;  // null: a value the enum does not have
  bool made = false;                   // `dtype` is final
  PyObject* dtype = nullptr;           // an owned reference; null: no numpy form
};

struct NumpyDtypes {
  std::vector<NumpyDtype> by_value;
};

NumpyDtypes& numpy_dtypes() {
  static auto* t = [] {
    auto* out = new NumpyDtypes();
    int max_value = 0;
    for (const DataTypeInfo& d : data_types()) max_value = std::max(max_value, static_cast<int>(d.value));
    out->by_value.resize(static_cast<size_t>(max_value) + 1);
    for (const DataTypeInfo& d : data_types()) {
      NumpyDtype& slot = out->by_value[static_cast<size_t>(d.value)];
      slot.info = &d;
      slot.made = d.numpy_name.empty();  // nothing to make: stays null
    }
    return out;
  }();
  return *t;
}

PyObject* make_numpy_dtype(const DataTypeInfo& info) {
  const std::string name(info.numpy_name);
  if (!info.ml_dtypes) return py::dtype(name).release().ptr();
  try {
    py::module_ ml = py::module_::import("ml_dtypes");
    if (!py::hasattr(ml, name.c_str())) return nullptr;  // an ml_dtypes too old for this type
    return py::dtype::from_args(ml.attr(name.c_str())).release().ptr();
  } catch (py::error_already_set&) {
    return nullptr;  // no ml_dtypes: the type has no numpy form here
  }
}

// The numpy dtype model inputs and outputs of `dtype` convert to, or
// UNIMPLEMENTED naming the tensor.
py::dtype runnable_dtype(int dtype, const std::string& what) {
  const NumpyDtypes& t = numpy_dtypes();
  if (dtype >= 0 && static_cast<size_t>(dtype) < t.by_value.size()) {  // the per-call path: made already
    const NumpyDtype& slot = t.by_value[static_cast<size_t>(dtype)];
    if (slot.dtype != nullptr && slot.info->runnable) return py::reinterpret_borrow<py::dtype>(slot.dtype);
  }
  PyObject* d = numpy_dtype_or_null(dtype, true);
  if (d == nullptr) {
    if (dtype == pb::DT_RESOURCE || dtype == pb::DT_VARIANT) {
      throw Error(kUnimplemented, what + " is a " + dtype_name(dtype) +
                                      " tensor, which has no numpy form; fetch a tensor computed from it instead "
                                      "(for a variable: its ReadVariableOp output)");
    }
    throw Error(kUnimplemented, what + " has dtype " + dtype_name(dtype) + ", which tfbundle cannot convert to numpy");
  }
  return py::reinterpret_borrow<py::dtype>(d);
}

py::dtype object_dtype() { return py::reinterpret_borrow<py::dtype>(numpy_dtype_or_null(pb::DT_STRING, false)); }

// ------------------------------------------------- numpy -> TF_Tensor ---

// TensorFlow calls this (through wrap_tensor) when it no longer needs the
// numpy buffer, possibly on one of its own threads and after run returned.
void release_array(void* ctx) {
  if (!Py_IsInitialized() || interpreter_finalizing()) return;  // the array dies with the interpreter
  PyGILState_STATE st = PyGILState_Ensure();
  Py_DECREF(static_cast<PyObject*>(ctx));
  PyGILState_Release(st);
}

std::vector<int64_t> array_dims(const py::array& a) {
  std::vector<int64_t> dims(static_cast<size_t>(a.ndim()));
  for (size_t i = 0; i < dims.size(); ++i) dims[i] = static_cast<int64_t>(a.shape(static_cast<py::ssize_t>(i)));
  return dims;
}

std::string shape_str(const std::vector<int64_t>& dims, bool unknown_as_none) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += (unknown_as_none && dims[i] < 0) ? "None" : std::to_string(dims[i]);
  }
  if (dims.size() == 1) s += ",";
  return s + ")";
}

void check_shape(const py::array& a, const TensorShape& want, const std::string& what) {
  if (want.unknown_rank) return;
  const auto dims = array_dims(a);
  bool ok = dims.size() == want.dims.size();
  for (size_t i = 0; ok && i < dims.size(); ++i) ok = want.dims[i] < 0 || want.dims[i] == dims[i];
  if (!ok) {
    throw Error(kInvalidArgument, what + " expects shape " + shape_str(want.dims, true) + ", got " +
                                      shape_str(dims, false));
  }
}

struct NumpyFunctions {
  py::object asarray = py::module_::import("numpy").attr("asarray");
  py::object copyto = py::module_::import("numpy").attr("copyto");
};
NumpyFunctions& np_funcs() {
  static auto* f = new NumpyFunctions();  // never destroyed: outlives interpreter teardown
  return *f;
}

// numpy.asarray(value, dtype) for a value that is not an array. numpy's own
// TypeError (an item of the wrong type) becomes tfbundle's InvalidTypeError,
// still a TypeError; its ValueError or OverflowError (a string that is not a
// number, a ragged list, an int too large) becomes InvalidArgumentError, a
// ValueError. Both name the tensor.
py::array as_array(py::handle value, const py::dtype& dtype, const std::string& what) {
  try {
    return np_funcs().asarray(value, dtype);
  } catch (py::error_already_set& e) {
    const bool type_error = e.matches(PyExc_TypeError);
    if (!type_error && !e.matches(PyExc_ValueError) && !e.matches(PyExc_OverflowError)) throw;
    const std::string message = py::str(e.value()).cast<std::string>();
    throw Error(type_error ? kInvalidType : kInvalidArgument,
                what + " expects " + (dtype.kind() == 'O' ? std::string("strings") : numpy_dtype_name(dtype)) +
                    ", and numpy could not convert the " + python_type_name(value) + " given: " + message);
  }
}

void append_string(py::handle item, std::vector<std::string>* storage, const std::string& what) {
  storage->emplace_back();
  if (!string_bytes(item, what, &storage->back())) {
    throw Error(kInvalidType,
                what + " is a string tensor: its items must be bytes or str, got " + python_type_name(item));
  }
}

TensorPtr string_tensor_from(py::handle value, const TensorShape* shape, const std::string& what) {
  py::array arr;
  if (py::isinstance<py::array>(value)) {
    arr = py::reinterpret_borrow<py::array>(value);
    const char kind = arr.dtype().kind();
    if (kind != 'O' && kind != 'S' && kind != 'U') {
      throw Error(kInvalidType, what + " expects strings (bytes, str or an object array of them), got an array of " +
                                    numpy_dtype_name(arr.dtype()));
    }
    if (kind != 'O') arr = arr.attr("astype")(object_dtype());
  } else {
    arr = as_array(value, object_dtype(), what);
  }
  if (shape) check_shape(arr, *shape, what);
  // (not np.ascontiguousarray, which turns a 0-d array into a 1-d one)
  if ((arr.flags() & py::array::c_style) == 0) arr = arr.attr("copy")();
  const auto dims = array_dims(arr);
  const auto n = static_cast<size_t>(arr.size());
  std::vector<std::string> storage;
  storage.reserve(n);
  auto* items = static_cast<PyObject**>(arr.mutable_data());
  for (size_t i = 0; i < n; ++i) append_string(items[i], &storage, what);
  std::vector<std::string_view> views(storage.begin(), storage.end());
  return make_string_tensor(dims, views);
}

void clear_writeable(py::array& a) {
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
}

}  // namespace

PyObject* numpy_dtype_or_null(int dtype, bool runnable_only) {
  NumpyDtypes& t = numpy_dtypes();
  if (dtype < 0 || static_cast<size_t>(dtype) >= t.by_value.size()) return nullptr;
  NumpyDtype& slot = t.by_value[static_cast<size_t>(dtype)];
  if (runnable_only && (slot.info == nullptr || !slot.info->runnable)) return nullptr;
  if (!slot.made) {
    if (slot.info == nullptr) return nullptr;
    PyObject* d = make_numpy_dtype(*slot.info);  // may run Python (an import) and let another thread in
    if (slot.made) {
      Py_XDECREF(d);
    } else {
      slot.dtype = d;
      slot.made = true;
    }
  }
  return slot.dtype;
}

std::string numpy_dtype_name(const py::dtype& d) { return py::str(d).cast<std::string>(); }

py::str proto_str(std::string_view s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

bool string_bytes(py::handle o, const std::string& what, std::string* out) {
  if (PyBytes_Check(o.ptr())) {
    out->assign(PyBytes_AS_STRING(o.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(o.ptr())));
    return true;
  }
  if (!PyUnicode_Check(o.ptr())) return false;
  Py_ssize_t len;
  if (const char* data = PyUnicode_AsUTF8AndSize(o.ptr(), &len)) {  // the common case: cached UTF-8, no copy
    out->assign(data, static_cast<size_t>(len));
    return true;
  }
  PyErr_Clear();  // a surrogate: bytes that were not UTF-8 (surrogateescape) come back as they were
  PyObject* b = PyUnicode_AsEncodedString(o.ptr(), "utf-8", "surrogateescape");
  if (b == nullptr) {
    PyErr_Clear();
    throw Error(kInvalidArgument, what + ": a str with a lone surrogate, which has no UTF-8 form; pass bytes");
  }
  out->assign(PyBytes_AS_STRING(b), static_cast<size_t>(PyBytes_GET_SIZE(b)));
  Py_DECREF(b);
  return true;
}

std::string python_type_name(py::handle o) {
  return py::str(py::type::of(o).attr("__name__")).cast<std::string>();
}

namespace {

// '>' on a little-endian machine: the byte order numpy spells for a non-native array.
constexpr char kSwappedByteOrder = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? '>' : '<';

bool same_dtype(PyObject* a, PyObject* b) {
  const int eq = PyObject_RichCompareBool(a, b, Py_EQ);
  if (eq < 0) throw py::error_already_set();
  return eq == 1;
}

}  // namespace

TensorPtr to_tensor(py::handle value, int dtype, const TensorShape* shape, const std::string& what) {
  if (dtype == pb::DT_STRING) return string_tensor_from(value, shape, what);
  const py::dtype np_want = runnable_dtype(dtype, what);
  py::array arr;
  if (py::isinstance<py::array>(value)) {
    arr = py::reinterpret_borrow<py::array>(value);
    const py::dtype have = arr.dtype();
    const bool swapped = have.byteorder() == kSwappedByteOrder;
    if (swapped || have.num() != np_want.num()) {
      // The same type under another type number (numpy.longlong for int64) is used as it is; in
      // the other byte order it is converted (its bytes would reach TensorFlow as they are).
      const py::object native = swapped ? have.attr("newbyteorder")("=") : py::object(have);
      if (!same_dtype(native.ptr(), np_want.ptr())) {
        const std::string want = numpy_dtype_name(np_want);
        throw Error(kInvalidType, what + " expects " + want + ", got an array of " + numpy_dtype_name(have) +
                                      " (convert it with .astype(numpy." + want + ") or pass a list)");
      }
      if (swapped) arr = arr.attr("astype")(np_want);
    }
  } else {
    arr = as_array(value, np_want, what);
  }
  if (shape) check_shape(arr, *shape, what);
  const auto dims = array_dims(arr);
  const auto nbytes = static_cast<size_t>(arr.nbytes());
  void* data = const_cast<void*>(arr.data());
  const bool contiguous = (arr.flags() & py::array::c_style) != 0;
  if (contiguous && nbytes > 0 && is_aligned(data)) {
    PyObject* owner = arr.ptr();
    Py_INCREF(owner);  // dropped by release_array when TensorFlow lets go
    return wrap_tensor(dtype, dims, data, nbytes, release_array, owner);
  }
  // Copy once into TensorFlow's own aligned memory.
  TensorPtr t = allocate_tensor(dtype, dims, nbytes);
  if (nbytes == 0) return t;
  if (contiguous) {
    std::memcpy(tf_api().TensorData(t.get()), data, nbytes);
  } else {
    // The shape from the array itself, not its buffer: ml_dtypes' types (bfloat16) have no
    // buffer-protocol format.
    std::vector<py::ssize_t> shape(arr.shape(), arr.shape() + arr.ndim());
    py::array view(np_want, shape, tf_api().TensorData(t.get()), py::none());
    np_funcs().copyto(view, arr);
  }
  return t;
}

// ------------------------------------------------- TF_Tensor -> numpy ---

namespace {

// Whether `data` lies in the buffer of one of `fed`.
bool inside_fed(const void* data, const std::vector<TF_Tensor*>& fed) {
  const TfApi& api = tf_api();
  const auto p = reinterpret_cast<uintptr_t>(data);
  for (TF_Tensor* f : fed) {
    const auto begin = reinterpret_cast<uintptr_t>(api.TensorData(f));
    if (begin != 0 && p >= begin && p < begin + api.TensorByteSize(f)) return true;
  }
  return false;
}

}  // namespace

py::object to_numpy(TensorPtr t, const std::string& what, const std::vector<TF_Tensor*>& fed) {
  const TfApi& api = tf_api();
  const int dtype = api.TensorType(t.get());
  const auto dims = tensor_dims(t.get());
  if (dtype == pb::DT_STRING) return bytes_array(string_tensor_values(t.get()), dims);
  const py::dtype np = runnable_dtype(dtype, what);
  const void* data = api.TensorData(t.get());
  const size_t nbytes = api.TensorByteSize(t.get());
  // A buffer only this tensor refers to (freshly computed) becomes a writable array, without a copy.
  if (TF_Tensor* moved = api.TensorMaybeMove(t.get())) {
    if (moved == t.get()) t.release();
    py::capsule base(moved, "tfbundle.TF_Tensor", [](void* p) { tf_api().DeleteTensor(static_cast<TF_Tensor*>(p)); });
    return view_array(np, dims, api.TensorData(moved), std::move(base), true);
  }
  // A buffer shared with an input of this call (an Identity of it) stays a read-only view of memory
  // the caller handed in.
  if (nbytes > 0 && inside_fed(data, fed)) {
    TF_Tensor* owner = t.release();
    py::capsule base(owner, "tfbundle.TF_Tensor", [](void* p) { tf_api().DeleteTensor(static_cast<TF_Tensor*>(p)); });
    return view_array(np, dims, data, std::move(base), false);
  }
  // A buffer shared with the graph: a constant, or a variable that a later call (a TF1 assign) can
  // update in place. Copied, as TensorFlow's Session.run does: a returned array never changes.
  std::vector<py::ssize_t> shape(dims.begin(), dims.end());
  py::array out(np, shape);
  if (nbytes > 0) std::memcpy(out.mutable_data(), data, nbytes);
  return std::move(out);
}

py::array bytes_array(const std::vector<std::string_view>& values, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  if (n != static_cast<int64_t>(values.size())) {
    throw Error(kInternal, "a string tensor of " + std::to_string(values.size()) + " items does not fill shape " +
                               shape_str(dims, false));
  }
  std::vector<py::ssize_t> shape(dims.begin(), dims.end());
  py::array out(object_dtype(), shape);
  auto** items = static_cast<PyObject**>(out.mutable_data());
  for (size_t i = 0; i < values.size(); ++i) {
    PyObject* b = PyBytes_FromStringAndSize(values[i].data(), static_cast<Py_ssize_t>(values[i].size()));
    if (b == nullptr) throw py::error_already_set();
    Py_XDECREF(items[i]);  // numpy fills a new object array with NULLs or None
    items[i] = b;
  }
  return out;
}

py::array view_array(const py::dtype& dtype, const std::vector<int64_t>& dims, const void* data, py::object base,
                     bool writable) {
  std::vector<py::ssize_t> shape(dims.begin(), dims.end());
  py::array out(dtype, shape, data, base);
  if (!writable) clear_writeable(out);
  return out;
}

// TensorFlow copies a buffer handed to TF_NewTensor unless its address is a
// multiple of EIGEN_MAX_ALIGN_BYTES, which the C API does not expose: find it
// by offering buffers at growing alignments and watching whether TensorFlow
// lets go of them at once (a copy) or keeps them.
size_t probe_alignment() {
  static size_t cached = 0;
  if (cached != 0) return cached;
  constexpr size_t kMax = 256;
  auto* base = static_cast<char*>(std::aligned_alloc(2 * kMax, 4 * kMax));
  size_t result = kMax;
  for (size_t a = 8; a <= kMax; a *= 2) {
    // An address that is a multiple of a but not of 2a.
    bool released = false;
    float* data = reinterpret_cast<float*>(base + a);
    const int64_t dims[1] = {4};
    TF_Tensor* t = tf_api().NewTensor(
        pb::DT_FLOAT, dims, 1, data, 4 * sizeof(float),
        [](void*, size_t, void* flag) { *static_cast<bool*>(flag) = true; }, &released);
    const bool copied = released;
    tf_api().DeleteTensor(t);
    if (!copied) {
      result = a;
      break;
    }
  }
  std::free(base);
  cached = result;
  return result;
}

// ------------------------------------------------------------ binding ---

void bind_tensor(py::module_& m) {
  py::class_<DataTypeInfo>(m, "DataType", "One of TensorFlow's DataType values (read-only); see DTYPES.")
      .def_readonly("value", &DataTypeInfo::value, "the enum value (1 for DT_FLOAT)")
      .def_property_readonly(
          "name", [](const DataTypeInfo& d) { return std::string(d.name); }, "TensorFlow's enum name (\"DT_FLOAT\")")
      .def_property_readonly(
          "python_name", [](const DataTypeInfo& d) { return std::string(d.python_name); },
          "tf.DType.name (\"float32\"); \"\" for DT_INVALID")
      .def_property_readonly(
          "numpy_name", [](const DataTypeInfo& d) { return std::string(d.numpy_name); },
          "numpy's (or, with ml_dtypes, the ml_dtypes package's) name of the element type; \"\" if none")
      .def_readonly("ml_dtypes", &DataTypeInfo::ml_dtypes, "numpy_name is a type of the ml_dtypes package")
      .def_readonly("runnable", &DataTypeInfo::runnable, "model inputs and outputs of this type convert to numpy")
      .def("__repr__", [](const DataTypeInfo& d) {
        return "<DataType " + std::to_string(d.value) + " " + std::string(d.name) + ">";
      });
  py::tuple all(data_types().size());
  for (size_t i = 0; i < data_types().size(); ++i) {
    all[i] = py::cast(&data_types()[i], py::return_value_policy::reference);  // the table lives as long as the process
  }
  m.attr("DTYPES") = all;
  m.def("dtype_name", &dtype_name, py::arg("dtype"),
        "TensorFlow's name of a DataType value (\"DT_FLOAT\"; \"DT_<value>\" if the enum has none).");
  m.def("tensor_alignment", &probe_alignment,
        "The alignment TensorFlow needs to use a buffer without copying it (probed once).");
}

bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

}  // namespace tfbundle
