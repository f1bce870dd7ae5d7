// pybind11 bindings of the core: the module, the model and signature classes,
// and the numpy half of tensor conversion. Everything TensorFlow-specific is
// in session.* / tensor.*; everything Pythonic is in python/tfbundle.
//
// GIL: conversions run with the GIL held (they touch numpy objects); loading
// and TF_SessionRun run with it released so other threads go on.
#include <Python.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "bindings.h"
#include "model_files.h"
#include "session.h"
#include "status.h"
#include "tensor.h"
#include "tf_c_api.h"
#include "wire.h"

namespace py = pybind11;

namespace tfbundle {
namespace {

// ---------------------------------------------------------------- dtypes ---

// numpy dtype for each TF_DataType, filled by tfbundle._model at first load
// (bfloat16 comes from ml_dtypes, imported only then).
struct DtypeTable {
  std::unordered_map<int, py::object> tf_to_np;
};
DtypeTable& dtypes() {
  static auto* table = new DtypeTable();  // never destroyed: outlives interpreter teardown
  return *table;
}

std::string np_name(const py::dtype& d) { return py::str(d).cast<std::string>(); }

py::dtype np_dtype_for(int tf_dtype, const std::string& what) {
  auto it = dtypes().tf_to_np.find(tf_dtype);
  if (it == dtypes().tf_to_np.end()) {
    if (tf_dtype == kTfResource || tf_dtype == kTfVariant) {
      throw Error(kUnimplemented, what + " is a " + dtype_name(tf_dtype) +
                                      " tensor, which has no numpy form; fetch a tensor computed from it instead "
                                      "(for a variable: its ReadVariableOp output)");
    }
    throw Error(kUnimplemented, what + " has dtype " + dtype_name(tf_dtype) + ", which tfbundle cannot convert to numpy");
  }
  return py::reinterpret_borrow<py::dtype>(it->second);
}

// ----------------------------------------------------- numpy -> TF_Tensor ---

bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

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

struct Converter {
  py::object asarray = py::module_::import("numpy").attr("asarray");
  py::object copyto = py::module_::import("numpy").attr("copyto");
};
Converter& np_funcs() {
  static auto* c = new Converter();
  return *c;
}

void append_string(py::handle item, std::vector<std::string>* storage, const std::string& what) {
  if (PyBytes_Check(item.ptr())) {
    char* data;
    Py_ssize_t len;
    PyBytes_AsStringAndSize(item.ptr(), &data, &len);
    storage->emplace_back(data, static_cast<size_t>(len));
  } else if (PyUnicode_Check(item.ptr())) {
    Py_ssize_t len;
    const char* data = PyUnicode_AsUTF8AndSize(item.ptr(), &len);
    if (data == nullptr) throw py::error_already_set();
    storage->emplace_back(data, static_cast<size_t>(len));
  } else {
    throw py::type_error(what + " is a string tensor: its items must be bytes or str, got " +
                         py::str(py::type::of(item).attr("__name__")).cast<std::string>());
  }
}

TensorPtr string_tensor_from(py::handle value, const TensorShape* shape, const std::string& what) {
  py::array arr;
  if (py::isinstance<py::array>(value)) {
    arr = py::reinterpret_borrow<py::array>(value);
    const char kind = arr.dtype().kind();
    if (kind != 'O' && kind != 'S' && kind != 'U') {
      throw py::type_error(what + " expects strings (bytes, str or an object array of them), got an array of " +
                           np_name(arr.dtype()));
    }
    if (kind != 'O') arr = arr.attr("astype")(py::dtype("O"));
  } else {
    arr = np_funcs().asarray(value, py::dtype("O"));
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

// Converts one feed. `want` is the graph's dtype for the tensor; `shape`,
// when given, is checked before TensorFlow runs. C-contiguous arrays of the
// right dtype whose buffer TensorFlow can use in place are not copied.
TensorPtr to_tensor(py::handle value, int want, const TensorShape* shape, const std::string& what) {
  if (want == kTfString) return string_tensor_from(value, shape, what);
  const py::dtype np_want = np_dtype_for(want, what);
  py::array arr;
  if (py::isinstance<py::array>(value)) {
    arr = py::reinterpret_borrow<py::array>(value);
    if (arr.dtype().num() != np_want.num()) {
      throw py::type_error(what + " expects " + np_name(np_want) + ", got an array of " + np_name(arr.dtype()) +
                           " (convert it with .astype(numpy." + np_name(np_want) + ") or pass a list)");
    }
  } else {
    arr = np_funcs().asarray(value, np_want);
  }
  if (shape) check_shape(arr, *shape, what);
  const auto dims = array_dims(arr);
  const auto nbytes = static_cast<size_t>(arr.nbytes());
  void* data = const_cast<void*>(arr.data());
  const bool contiguous = (arr.flags() & py::array::c_style) != 0;
  if (contiguous && nbytes > 0 && is_aligned(data)) {
    PyObject* owner = arr.ptr();
    Py_INCREF(owner);  // dropped by release_array when TensorFlow lets go
    return wrap_tensor(want, dims, data, nbytes, release_array, owner);
  }
  // Copy once into TensorFlow's own aligned memory.
  TensorPtr t = allocate_tensor(want, dims, nbytes);
  if (nbytes == 0) return t;
  if (contiguous) {
    std::memcpy(tf_api().TensorData(t.get()), data, nbytes);
  } else {
    py::array view(np_want, arr.request().shape, tf_api().TensorData(t.get()), py::none());
    np_funcs().copyto(view, arr);
  }
  return t;
}

// ----------------------------------------------------- TF_Tensor -> numpy ---

py::object to_numpy(TensorPtr t, const std::string& what) {
  const TfApi& api = tf_api();
  const int dtype = api.TensorType(t.get());
  const auto dims = tensor_dims(t.get());
  std::vector<py::ssize_t> shape(dims.begin(), dims.end());
  if (dtype == kTfString) {
    py::array out(py::dtype("O"), shape);
    auto** items = static_cast<PyObject**>(out.mutable_data());
    const auto values = string_tensor_values(t.get());
    for (size_t i = 0; i < values.size(); ++i) {
      PyObject* b = PyBytes_FromStringAndSize(values[i].data(), static_cast<Py_ssize_t>(values[i].size()));
      if (b == nullptr) throw py::error_already_set();
      Py_XDECREF(items[i]);
      items[i] = b;
    }
    return std::move(out);
  }
  const py::dtype np = np_dtype_for(dtype, what);
  // A buffer only this tensor refers to (freshly computed) becomes a
  // writable array; one shared with the graph (a constant, a variable, an
  // input) becomes a read-only array.
  TF_Tensor* raw = t.release();
  TF_Tensor* moved = api.TensorMaybeMove(raw);
  const bool writable = moved != nullptr;
  TF_Tensor* owner = writable ? moved : raw;
  py::capsule base(owner, "tfbundle.TF_Tensor", [](void* p) { tf_api().DeleteTensor(static_cast<TF_Tensor*>(p)); });
  py::array out(np, shape, api.TensorData(owner), base);
  if (!writable) py::detail::array_proxy(out.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return std::move(out);
}

// --------------------------------------------------------------- classes ---

std::string tf_dtype_repr(int dtype) { return dtype_name(dtype); }

py::object shape_to_py(const TensorShape& s) {
  if (s.unknown_rank) return py::none();
  py::tuple t(s.dims.size());
  for (size_t i = 0; i < s.dims.size(); ++i) {
    t[i] = s.dims[i] < 0 ? py::object(py::none()) : py::object(py::int_(s.dims[i]));
  }
  return std::move(t);
}

py::dict tensor_info_to_py(const TensorInfo& info) {
  py::dict d;
  d["tensor_name"] = info.name;
  d["dtype"] = info.dtype;
  d["tf_dtype"] = tf_dtype_repr(info.dtype);
  d["shape"] = shape_to_py(info.shape);
  const char* enc = info.encoding == TensorInfo::Encoding::kDense       ? "dense"
                    : info.encoding == TensorInfo::Encoding::kCooSparse ? "coo_sparse"
                                                                        : "composite";
  d["encoding"] = enc;
  return d;
}

class NativeSignature;

class NativeModel {
 public:
  explicit NativeModel(std::shared_ptr<Session> s) : s_(std::move(s)) {}

  // Session::load with the GIL released. `restore`: "tensorflow", "graph", "mmap" or "none".
  static NativeModel load(std::string export_dir, std::vector<std::string> tags, std::optional<py::bytes> meta_graph,
                          std::optional<std::string> checkpoint_prefix, std::optional<std::string> asset_dir,
                          std::vector<std::pair<std::string, std::string>> assets, std::optional<std::string> init_op,
                          bool init_local_variables, const std::string& restore, int intra, int inter,
                          std::optional<bool> growth, std::optional<std::string> visible) {
    LoadRequest r;
    r.export_dir = std::move(export_dir);
    r.tags = std::move(tags);
    if (meta_graph) r.meta_graph = std::string(*meta_graph);
    r.checkpoint_prefix = std::move(checkpoint_prefix);
    r.asset_dir = std::move(asset_dir);
    r.extra_assets = std::move(assets);
    r.init_op = std::move(init_op);
    r.init_local_variables = init_local_variables;
    r.restore = parse_restore_mode(restore);
    r.config.intra_op_threads = intra;
    r.config.inter_op_threads = inter;
    r.config.gpu_memory_growth = growth;
    r.config.visible_devices = std::move(visible);
    std::shared_ptr<Session> s;
    {
      py::gil_scoped_release nogil;
      s = Session::load(std::move(r));
    }
    return NativeModel(std::move(s));
  }

  const MetaGraph& meta_graph() const { return s_->meta_graph(); }

  // The inputs and outputs of signature `key` that cannot be run as tensors: key -> why.
  std::map<std::string, std::string> unsupported(const std::string& key) const {
    auto it = s_->signatures().find(key);
    return it == s_->signatures().end() ? std::map<std::string, std::string>() : it->second.unsupported;
  }

  // With `run_options` (a serialized RunOptions), returns (arrays, serialized RunMetadata).
  py::object run(const std::vector<std::string>& fetches, py::dict feeds, const std::vector<std::string>& targets,
                 std::optional<py::bytes> run_options) {
    std::vector<TF_Output> feed_outputs;
    std::vector<TensorPtr> feed_tensors;
    std::vector<TF_Tensor*> feed_raw;
    for (auto item : feeds) {
      const std::string name = py::str(item.first);
      const Endpoint e = s_->resolve_tensor(name);
      feed_outputs.push_back(e.output);
      feed_tensors.push_back(to_tensor(item.second, e.dtype, nullptr, "feed '" + name + "'"));
      feed_raw.push_back(feed_tensors.back().get());
    }
    std::vector<TF_Output> fetch_outputs;
    for (const auto& f : fetches) fetch_outputs.push_back(s_->resolve_tensor(f).output);
    std::vector<TF_Operation*> target_ops;
    for (const auto& t : targets) target_ops.push_back(s_->resolve_operation(t));
    std::vector<TensorPtr> outs;
    std::string opts = run_options ? std::string(*run_options) : std::string(), metadata;
    {
      py::gil_scoped_release nogil;
      outs = s_->run(feed_outputs, feed_raw, fetch_outputs, target_ops, run_options ? &opts : nullptr,
                     run_options ? &metadata : nullptr);
    }
    py::list result;
    for (size_t i = 0; i < outs.size(); ++i) result.append(to_numpy(std::move(outs[i]), "fetch '" + fetches[i] + "'"));
    if (run_options) return py::make_tuple(result, py::bytes(metadata));
    return std::move(result);
  }

  py::list devices() const {
    std::vector<Device> devs;
    {
      py::gil_scoped_release nogil;
      devs = s_->devices();
    }
    py::list out;
    for (const auto& d : devs) out.append(py::make_tuple(d.name, d.type, d.memory_bytes));
    return out;
  }

  void close() {
    py::gil_scoped_release nogil;  // waits for runs in flight
    s_->close();
  }
  bool closed() const { return s_->closed(); }
  uintptr_t session_handle() const { return reinterpret_cast<uintptr_t>(s_->raw_session()); }
  uintptr_t graph_handle() const { return reinterpret_cast<uintptr_t>(s_->raw_graph()); }
  const std::shared_ptr<Session>& session() const { return s_; }

 private:
  std::shared_ptr<Session> s_;
};

// The per-call path of a signature: keys resolved once, feeds converted with
// the GIL held, TF_SessionRun without it, outputs wrapped without copies.
class NativeSignature {
 public:
  NativeSignature(const NativeModel& model, const std::string& key) : s_(model.session()), key_(key) {
    auto it = s_->signatures().find(key);
    if (it == s_->signatures().end()) throw Error(kNotFound, "no signature named '" + key + "'");
    sig_ = &it->second;
    for (const auto& k : sig_->input_keys) input_keys_.append(py::str(k));
    for (const auto& k : sig_->output_keys) output_keys_.push_back(py::str(k));
    for (const auto& e : sig_->outputs) all_outputs_.push_back(e.output);
    // Labels for error messages, made once rather than on every call.
    for (const auto& k : sig_->input_keys) input_what_.push_back("input '" + k + "' of " + label());
    for (const auto& k : sig_->output_keys) output_what_.push_back("output '" + k + "' of " + label());
  }

  py::dict call(py::dict inputs) {
    auto outs = run_impl(inputs, all_outputs_);
    py::dict result;
    for (size_t i = 0; i < outs.size(); ++i) {
      result[output_keys_[i]] = to_numpy(std::move(outs[i]), output_what(i));
    }
    return result;
  }

  // With `run_options` (a serialized RunOptions), returns (arrays, serialized RunMetadata).
  py::object run(py::dict inputs, std::optional<std::vector<std::string>> outputs, std::optional<py::bytes> run_options) {
    std::vector<size_t> idx;
    if (outputs) {
      for (const auto& name : *outputs) idx.push_back(output_index(name));
    } else {
      for (size_t i = 0; i < sig_->outputs.size(); ++i) idx.push_back(i);
    }
    std::vector<TF_Output> fetch;
    for (size_t i : idx) fetch.push_back(sig_->outputs[i].output);
    std::string opts = run_options ? std::string(*run_options) : std::string(), metadata;
    auto outs = run_impl(inputs, fetch, run_options ? &opts : nullptr, run_options ? &metadata : nullptr);
    py::list result;
    for (size_t j = 0; j < outs.size(); ++j) result.append(to_numpy(std::move(outs[j]), output_what(idx[j])));
    if (run_options) return py::make_tuple(result, py::bytes(metadata));
    return std::move(result);
  }

 private:
  std::string label() const { return "signature '" + key_ + "'"; }
  const std::string& output_what(size_t i) const { return output_what_[i]; }

  std::string names(const std::vector<std::string>& keys) const {
    std::string s;
    for (const auto& k : keys) s += (s.empty() ? "" : ", ") + ("'" + k + "'");
    return s.empty() ? "(none)" : s;
  }

  size_t output_index(const std::string& name) const {
    for (size_t i = 0; i < sig_->output_keys.size(); ++i) {
      if (sig_->output_keys[i] == name) return i;
    }
    throw Error(kInvalidArgument, label() + " has no output '" + name + "'; its outputs are " + names(sig_->output_keys));
  }

  void check_unsupported() const {
    if (sig_->unsupported.empty()) return;
    const auto& [key, why] = *sig_->unsupported.begin();
    (void)key;
    throw Error(kUnimplemented, label() + ": " + why);
  }

  void check_keys(py::dict inputs) const {
    std::vector<std::string> unknown, missing;
    for (auto item : inputs) {
      const std::string k = py::str(item.first);
      bool found = false;
      for (const auto& ik : sig_->input_keys) found = found || ik == k;
      if (!found) unknown.push_back(k);
    }
    for (size_t i = 0; i < sig_->input_keys.size(); ++i) {
      if (!inputs.contains(input_keys_[i])) missing.push_back(sig_->input_keys[i]);
    }
    if (!unknown.empty()) {
      throw Error(kInvalidArgument, label() + " has no input " + names(unknown) + "; it takes " + names(sig_->input_keys));
    }
    if (!missing.empty()) {
      throw Error(kInvalidArgument, label() + " is missing input " + names(missing) + "; it takes " +
                                        names(sig_->input_keys));
    }
  }

  std::vector<TensorPtr> run_impl(py::dict inputs, const std::vector<TF_Output>& fetch,
                                  const std::string* run_options = nullptr, std::string* run_metadata = nullptr) {
    check_unsupported();
    const size_t n = sig_->inputs.size();
    if (static_cast<size_t>(py::len(inputs)) != n) check_keys(inputs);
    std::vector<TensorPtr> tensors(n);
    std::vector<TF_Tensor*> raw(n);
    std::vector<TF_Output> feeds(n);
    for (size_t i = 0; i < n; ++i) {
      PyObject* value = PyDict_GetItemWithError(inputs.ptr(), input_keys_[i].ptr());
      if (value == nullptr) {
        if (PyErr_Occurred()) throw py::error_already_set();
        check_keys(inputs);  // throws, naming the unknown and missing keys
      }
      const Endpoint& e = sig_->inputs[i];
      tensors[i] = to_tensor(value, e.dtype, &e.shape, input_what_[i]);
      raw[i] = tensors[i].get();
      feeds[i] = e.output;
    }
    py::gil_scoped_release nogil;
    return s_->run(feeds, raw, fetch, {}, run_options, run_metadata);
  }

  std::shared_ptr<Session> s_;
  std::string key_;
  const ResolvedSignature* sig_ = nullptr;
  py::list input_keys_;
  std::vector<py::str> output_keys_;
  std::vector<TF_Output> all_outputs_;
  std::vector<std::string> input_what_, output_what_;
};

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
        kTfFloat, dims, 1, data, 4 * sizeof(float), [](void*, size_t, void* flag) { *static_cast<bool*>(flag) = true; },
        &released);
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

}  // namespace
}  // namespace tfbundle

PYBIND11_MODULE(_core, m) {
  using namespace tfbundle;
  m.doc() = "tfbundle's native core (private: use the tfbundle package).";
#ifdef TFBUNDLE_VERSION
  m.attr("__version__") = TFBUNDLE_VERSION;
#endif

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      // tfbundle.errors.error_for_code, fetched once and never released: a
      // static py::object would be destroyed after the interpreter.
      static auto* error_for_code = new py::object(py::module_::import("tfbundle.errors").attr("error_for_code"));
      // TensorFlow's messages can quote bytes that are not UTF-8 (a bad tf.Example).
      const char* what = e.what();
      PyObject* msg = PyUnicode_DecodeUTF8(what, static_cast<Py_ssize_t>(std::strlen(what)), "backslashreplace");
      if (msg == nullptr) return;  // the UnicodeError is set
      py::object exc = (*error_for_code)(e.code(), py::reinterpret_steal<py::str>(msg));
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    }
  });

  m.def(
      "init_tensorflow",
      [](const std::vector<std::string>& libs, bool quiet) {
        py::gil_scoped_release nogil;
        return std::string(init_tf_api(libs, quiet).Version());
      },
      py::arg("libraries"), py::arg("quiet") = true,
      "Opens TensorFlow's C library (the given files, in order) and returns its version.");
  m.def("tensorflow_loaded", &tf_api_loaded);
  m.def(
      "set_dtypes",
      [](const std::vector<std::pair<int, py::dtype>>& table) {
        auto& t = dtypes();
        for (const auto& [tf, np] : table) t.tf_to_np[tf] = np;
      },
      "Registers the numpy dtype of each TF_DataType.");
  m.def("tensor_alignment", &probe_alignment,
        "The alignment TensorFlow needs to use a buffer without copying it (probed once).");
  m.def("dtype_name", &dtype_name);
  m.def(
      "load_library",
      [](const std::string& path) {
        py::gil_scoped_release nogil;
        TfStatus status;
        TF_Library* lib = tf_api().LoadLibrary(path.c_str(), status);
        status.throw_if_error("could not load the op library " + path);
        // The library's OpList (OpList.op = 1, OpDef.name = 1), owned by the
        // handle, which is never deleted: TensorFlow cannot unload a library.
        TF_Buffer ops = tf_api().GetOpList(lib);
        std::vector<std::string> names;
        wire::Reader list(std::string_view(static_cast<const char*>(ops.data), ops.length), "OpList");
        wire::Field f;
        while (list.next(&f)) {
          if (f.number != 1 || f.type != wire::kLengthDelimited) continue;
          wire::Reader op(f.bytes, "OpDef");
          wire::Field g;
          while (op.next(&g)) {
            if (g.number == 1 && g.type == wire::kLengthDelimited) names.emplace_back(g.bytes);
          }
        }
        return names;
      },
      "Loads a custom-op library (TF_LoadLibrary); returns the names of the ops it registers.");
  m.def(
      "close_all_sessions",
      [] {
        py::gil_scoped_release nogil;
        Session::close_all();
      },
      "Closes every open session (registered with atexit by tfbundle).");
  m.def(
      "saved_model_tag_sets",
      [](const std::string& export_dir) {
        py::gil_scoped_release nogil;
        return saved_model_tag_sets(export_dir);
      },
      "The tag-sets of the SavedModel in a folder, read without TensorFlow.");

  py::class_<NativeModel>(m, "NativeModel")
      .def_static("load", &NativeModel::load, py::arg("export_dir"), py::arg("tags"), py::arg("intra_op_threads") = 0,
                  py::arg("inter_op_threads") = 0, py::arg("gpu_memory_growth") = py::none(),
                  py::arg("visible_devices") = py::none())
      .def_static("from_meta_graph", &NativeModel::from_meta_graph, py::arg("meta_graph"), py::arg("checkpoint_prefix"),
                  py::arg("assets"), py::arg("init_op"), py::arg("intra_op_threads") = 0,
                  py::arg("inter_op_threads") = 0, py::arg("gpu_memory_growth") = py::none(),
                  py::arg("visible_devices") = py::none())
      .def("describe", &NativeModel::describe)
      .def("run", &NativeModel::run, py::arg("fetches"), py::arg("feeds"), py::arg("targets"),
           py::arg("run_options") = py::none())
      .def("devices", &NativeModel::devices)
      .def("close", &NativeModel::close)
      .def_property_readonly("closed", &NativeModel::closed)
      .def("session_handle", &NativeModel::session_handle)
      .def("graph_handle", &NativeModel::graph_handle);

  py::class_<NativeSignature>(m, "NativeSignature")
      .def(py::init<const NativeModel&, const std::string&>())
      .def("call", &NativeSignature::call)
      .def("run", &NativeSignature::run, py::arg("inputs"), py::arg("outputs") = py::none(),
           py::arg("run_options") = py::none());

  bind_inspect(m);
  bind_checkpoint(m);
  bind_restore(m);
}
