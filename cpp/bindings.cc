// pybind11 bindings of the core: the module, the model and signature classes.
// They only convert: numpy <-> tensor is bindings_tensor.*, everything
// TensorFlow-specific is in session.* / tensor.*, everything Pythonic is in
// python/tfbundle.
//
// GIL: conversions run with the GIL held (they touch numpy objects); loading
// and TF_SessionRun run with it released so other threads go on, through
// without_gil() (not gil_scoped_release: see without_gil.h).
#include <Python.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "bindings.h"
#include "bindings_tensor.h"
#include "lifecycle.h"
#include "model_files.h"
#include "proto_fields.h"
#include "session.h"
#include "status.h"
#include "tensor.h"
#include "tf_c_api.h"
#include "wire.h"
#include "without_gil.h"

namespace py = pybind11;

namespace tfbundle {
namespace {

// --------------------------------------------------------------- classes ---

py::object shape_to_py(const TensorShape& s) {
  if (s.unknown_rank) return py::none();
  py::tuple t(s.dims.size());
  for (size_t i = 0; i < s.dims.size(); ++i) {
    t[i] = s.dims[i] < 0 ? py::object(py::none()) : py::object(py::int_(s.dims[i]));
  }
  return std::move(t);
}

const char* encoding_name(TensorInfo::Encoding e) {
  switch (e) {
    case TensorInfo::Encoding::kDense: return "dense";
    case TensorInfo::Encoding::kCooSparse: return "coo_sparse";
    case TensorInfo::Encoding::kComposite: return "composite";
  }
  return "dense";
}

// A SignatureDef side as {key: TensorInfo}, in key order.
py::dict infos_to_py(const std::vector<std::pair<std::string, TensorInfo>>& side) {
  py::dict d;
  for (const auto& [key, info] : side) d[proto_str(key)] = py::cast(info);
  return d;
}

class NativeSignature;

class NativeModel {
 public:
  explicit NativeModel(std::shared_ptr<Session> s) : s_(std::move(s)) {}

  // Session::load with the GIL released. `restore`: "auto", "tensorflow", "graph", "mmap" or "none".
  static NativeModel load(std::string export_dir, std::vector<std::string> tags, std::optional<py::bytes> meta_graph,
                          std::optional<std::string> checkpoint_prefix, std::optional<std::string> asset_dir,
                          std::vector<std::pair<std::string, std::string>> assets, std::optional<std::string> init_op,
                          bool init_local_variables, const std::string& restore, int intra, int inter,
                          std::optional<bool> growth, std::optional<std::string> visible,
                          std::string compile_cache, const std::string& grappler) {
    LoadRequest r;
    r.compile_cache_dir = std::move(compile_cache);
    r.tfbundle_version = TFBUNDLE_VERSION;
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
    if (grappler != "fast" && grappler != "tensorflow") {
      throw Error(kInvalidArgument, "grappler must be \"fast\" or \"tensorflow\", got \"" + grappler + "\"");
    }
    r.config.tensorflow_grappler = grappler == "tensorflow";
    std::shared_ptr<Session> s = without_gil([&] { return Session::load(std::move(r)); });
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
    outs = without_gil([&] {
      return s_->run(feed_outputs, feed_raw, fetch_outputs, target_ops, run_options ? &opts : nullptr,
                     run_options ? &metadata : nullptr);
    });
    py::list result;
    for (size_t i = 0; i < outs.size(); ++i) {
      result.append(to_numpy(std::move(outs[i]), "fetch '" + fetches[i] + "'", feed_raw));
    }
    if (run_options) return py::make_tuple(result, py::bytes(metadata));
    return std::move(result);
  }

  py::list devices() const {
    std::vector<Device> devs = without_gil([&] { return s_->devices(); });
    py::list out;
    for (const auto& d : devs) out.append(py::make_tuple(d.name, d.type, d.memory_bytes));
    return out;
  }

  void close() {
    without_gil([&] { s_->close(); });  // waits for runs in flight
  }
  bool closed() const { return s_->closed(); }
  const std::optional<MappedRestoreStats>& restore_stats() const { return s_->restore_stats(); }
  std::string restore() const { return restore_mode_name(s_->restore_used()); }
  const std::string& restore_fallback() const { return s_->restore_fallback(); }
  // Benchmark hooks (bench/c_loop.cc): the raw handles, never used to load or run.
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

  const std::shared_ptr<Session>& session() const { return s_; }
  const ResolvedSignature* resolved() const { return sig_; }

  py::dict call(py::dict inputs) {
    Fed fed;
    auto outs = run_impl(inputs, all_outputs_, fed);
    py::dict result;
    for (size_t i = 0; i < outs.size(); ++i) {
      result[output_keys_[i]] = to_numpy(std::move(outs[i]), output_what(i), fed.raw);
    }
    return result;
  }

  // `outputs`: a list or tuple of output keys, or None for all of them. With
  // `run_options` (a serialized RunOptions), returns (arrays, serialized RunMetadata).
  py::object run(py::dict inputs, py::object outputs, std::optional<py::bytes> run_options) {
    std::vector<size_t> idx;
    if (!outputs.is_none()) {
      if (!PyList_Check(outputs.ptr()) && !PyTuple_Check(outputs.ptr())) {
        throw Error(kInvalidType,
                    label() + ": outputs must be a list of output keys, got " + python_type_name(outputs));
      }
      for (py::handle name : outputs) idx.push_back(output_index(key_from_py(name)));
    } else {
      for (size_t i = 0; i < sig_->outputs.size(); ++i) idx.push_back(i);
    }
    std::vector<TF_Output> fetch;
    for (size_t i : idx) fetch.push_back(sig_->outputs[i].output);
    std::string opts = run_options ? std::string(*run_options) : std::string(), metadata;
    Fed fed;
    auto outs = run_impl(inputs, fetch, fed, run_options ? &opts : nullptr, run_options ? &metadata : nullptr);
    py::list result;
    for (size_t j = 0; j < outs.size(); ++j) result.append(to_numpy(std::move(outs[j]), output_what(idx[j]), fed.raw));
    if (run_options) return py::make_tuple(result, py::bytes(metadata));
    return std::move(result);
  }

 private:
  // The tensors fed to one run, kept until its outputs are converted (an output may alias one).
  struct Fed {
    std::vector<TensorPtr> tensors;
    std::vector<TF_Tensor*> raw;
  };

  std::string label() const { return "signature '" + key_ + "'"; }
  const std::string& output_what(size_t i) const { return output_what_[i]; }

  std::string names(const std::vector<std::string>& keys) const {
    std::string s;
    for (const auto& k : keys) s += (s.empty() ? "" : ", ") + ("'" + k + "'");
    return s.empty() ? "(none)" : s;
  }

  // An output key given by the caller: a str, else InvalidTypeError.
  std::string key_from_py(py::handle key) const {
    std::string out;
    if (!PyUnicode_Check(key.ptr()) || !string_bytes(key, label(), &out)) {
      throw Error(kInvalidType, label() + ": outputs must be str, got " + py::repr(key).cast<std::string>() + " (" +
                                    python_type_name(key) + ")");
    }
    return out;
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

  std::vector<TensorPtr> run_impl(py::dict inputs, const std::vector<TF_Output>& fetch, Fed& fed,
                                  const std::string* run_options = nullptr, std::string* run_metadata = nullptr) {
    check_unsupported();
    const size_t n = sig_->inputs.size();
    if (static_cast<size_t>(py::len(inputs)) != n) check_keys(inputs);
    std::vector<TensorPtr>& tensors = fed.tensors;
    std::vector<TF_Tensor*>& raw = fed.raw;
    tensors.resize(n);
    raw.resize(n);
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
    return without_gil([&] { return s_->run(feeds, raw, fetch, {}, run_options, run_metadata); });
  }

  std::shared_ptr<Session> s_;
  std::string key_;
  const ResolvedSignature* sig_ = nullptr;
  py::list input_keys_;
  std::vector<py::str> output_keys_;
  std::vector<TF_Output> all_outputs_;
  std::vector<std::string> input_what_, output_what_;
};

}  // namespace

std::pair<std::shared_ptr<Session>, const ResolvedSignature*> native_signature_parts(py::handle signature) {
  const auto& s = py::cast<const NativeSignature&>(signature);
  return {s.session(), s.resolved()};
}

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
        return without_gil([&] {
          AsyncSignalsBlocked no_signals;  // threads started while the libraries open never take signals
          return std::string(init_tf_api(libs, quiet).Version());
        });
      },
      py::arg("libraries"), py::arg("quiet") = true,
      "Opens TensorFlow's C library (the given files, in order) and returns its version.");
  m.def("tensorflow_loaded", &tf_api_loaded);
  bind_tensor(m);  // DTYPES, dtype_name, tensor_alignment
  m.def(
      "load_library",
      [](const std::string& path) {
        check_not_forked();
        TF_Library* lib = without_gil([&] {
          AsyncSignalsBlocked no_signals;  // threads its initialisers start never take signals
          TfStatus status;
          TF_Library* l = tf_api().LoadLibrary(path.c_str(), status);
          status.throw_if_error("could not load the op library " + path);
          return l;
        });
        // The library's OpList, owned by the
        // handle, which is never deleted: TensorFlow cannot unload a library.
        TF_Buffer ops = tf_api().GetOpList(lib);
        std::vector<std::string> names;
        wire::Reader list(std::string_view(static_cast<const char*>(ops.data), ops.length), "OpList");
        wire::Field f;
        while (list.next(&f)) {
          if (f.number != pb::OpList::kOp || f.type != wire::kLengthDelimited) continue;
          wire::Reader op(f.bytes, "OpDef");
          wire::Field g;
          while (op.next(&g)) {
            if (g.number == pb::OpDef::kName && g.type == wire::kLengthDelimited) names.emplace_back(g.bytes);
          }
        }
        return names;
      },
      "Loads a custom-op library (TF_LoadLibrary); returns the names of the ops it registers.");
  m.def(
      "close_all_sessions",
      [] { without_gil([] { Session::close_all(); }); },
      "Closes every open session (registered with atexit by tfbundle).");
  m.def(
      "saved_model_tag_sets",
      [](const std::string& export_dir) { return without_gil([&] { return saved_model_tag_sets(export_dir); }); },
      "The tag-sets of the SavedModel in a folder, read without TensorFlow.");

  py::class_<TensorInfo>(m, "TensorInfo", "A tensor of a SignatureDef (read-only).")
      .def_property_readonly("name", [](const TensorInfo& t) { return proto_str(t.name); }, "\"op:index\" (dense tensors)")
      .def_readonly("dtype", &TensorInfo::dtype, "the TF_DataType value")
      .def_property_readonly("tf_dtype", [](const TensorInfo& t) { return dtype_name(t.dtype); })
      .def_property_readonly("shape", [](const TensorInfo& t) { return shape_to_py(t.shape); },
                             "a tuple with None for unknown dimensions, or None for an unknown rank")
      .def_property_readonly(
          "dims", [](const TensorInfo& t) { return t.shape.unknown_rank ? py::object(py::none()) : py::cast(t.shape.dims); },
          "the dimensions as stored (-1 for an unknown one), or None for an unknown rank")
      .def_property_readonly("encoding", [](const TensorInfo& t) { return encoding_name(t.encoding); },
                             "\"dense\", \"coo_sparse\" or \"composite\"")
      .def("__repr__", [](const TensorInfo& t) {
        return "<TensorInfo " + t.name + " " + dtype_name(t.dtype) + " " + encoding_name(t.encoding) + ">";
      });

  py::class_<SignatureDef>(m, "SignatureDef", "A SignatureDef of the loaded MetaGraphDef (read-only).")
      .def_property_readonly("key", [](const SignatureDef& s) { return proto_str(s.key); })
      .def_property_readonly("method_name", [](const SignatureDef& s) { return proto_str(s.method_name); })
      .def_property_readonly("inputs", [](const SignatureDef& s) { return infos_to_py(s.inputs); })
      .def_property_readonly("outputs", [](const SignatureDef& s) { return infos_to_py(s.outputs); })
      .def("__repr__", [](const SignatureDef& s) { return "<SignatureDef '" + s.key + "'>"; });

  py::class_<MappedRestoreStats>(m, "RestoreStats",
                                 "What the restore from memory-mapped shards (restore=\"mmap\") fed (read-only).")
      .def_readonly("tensors", &MappedRestoreStats::tensors, "tensors fed from the mapping")
      .def_readonly("zero_copy_tensors", &MappedRestoreStats::zero_copy_tensors)
      .def_readonly("zero_copy_bytes", &MappedRestoreStats::zero_copy_bytes,
                    "bytes handed to TensorFlow without a copy (64-byte-aligned in the shard)")
      .def_readonly("copied_tensors", &MappedRestoreStats::copied_tensors)
      .def_readonly("copied_bytes", &MappedRestoreStats::copied_bytes,
                    "bytes copied (misaligned, byte-swapped, read sparsely, or strings)")
      .def_readonly("copied_sparse_bytes", &MappedRestoreStats::copied_sparse_bytes,
                    "of the copied bytes, those aligned but copied because the graph gathers from them")
      .def_readonly("tf_read_tensors", &MappedRestoreStats::tf_read_tensors,
                    "tensors left to TensorFlow's RestoreV2 (slices not stored as such)")
      .def("__repr__", [](const MappedRestoreStats& s) {
        return "<RestoreStats tensors=" + std::to_string(s.tensors) +
               " zero_copy_tensors=" + std::to_string(s.zero_copy_tensors) +
               " zero_copy_bytes=" + std::to_string(s.zero_copy_bytes) +
               " copied_tensors=" + std::to_string(s.copied_tensors) +
               " copied_bytes=" + std::to_string(s.copied_bytes) +
               " copied_sparse_bytes=" + std::to_string(s.copied_sparse_bytes) +
               " tf_read_tensors=" + std::to_string(s.tf_read_tensors) + ">";
      });

  py::class_<NativeModel>(m, "NativeModel")
      .def_static("load", &NativeModel::load, py::kw_only(), py::arg("export_dir") = "",
                  py::arg("tags") = std::vector<std::string>{}, py::arg("meta_graph") = py::none(),
                  py::arg("checkpoint_prefix") = py::none(), py::arg("asset_dir") = py::none(),
                  py::arg("assets") = std::vector<std::pair<std::string, std::string>>{},
                  py::arg("init_op") = py::none(), py::arg("init_local_variables") = false,
                  py::arg("restore") = "tensorflow", py::arg("intra_op_threads") = 0,
                  py::arg("inter_op_threads") = 0, py::arg("gpu_memory_growth") = py::none(),
                  py::arg("visible_devices") = py::none(), py::arg("compile_cache") = "",
                  py::arg("grappler") = "fast",
                  "Loads a model (Session::load): a SavedModel folder (export_dir + tags) or a serialized "
                  "MetaGraphDef (meta_graph), restoring its variables as `restore` says: \"tensorflow\" "
                  "(TF_LoadSessionFromSavedModel), \"graph\" (the SaverDef's restore op), \"mmap\" (from the "
                  "memory-mapped checkpoint), \"auto\" (\"mmap\" where it fits the model, else \"tensorflow\") "
                  "or \"none\"; `compile_cache`: the compile cache's folder (empty: none); `grappler`: \"fast\" "
                  "(tfbundle's settings) or \"tensorflow\" (TensorFlow's defaults). The GIL is released "
                  "while loading.")
      .def_property_readonly("tags", [](const NativeModel& n) { return n.meta_graph().tags; })
      .def_property_readonly("tensorflow_version", [](const NativeModel& n) { return n.meta_graph().tensorflow_version; })
      .def_property_readonly("init_op", [](const NativeModel& n) { return n.meta_graph().init_op_name(); })
      .def_property_readonly("signature_defs", [](const NativeModel& n) { return n.meta_graph().signatures; },
                             "The MetaGraphDef's SignatureDefs, sorted by key.")
      .def("unsupported", &NativeModel::unsupported, py::arg("key"),
           "The inputs and outputs of a signature that cannot be fed or fetched as tensors: key -> why.")
      .def_property_readonly("restore_stats", [](const NativeModel& n) { return n.restore_stats(); },
                             "What restore=\"mmap\" fed (a RestoreStats), None for another restore mode.")
      .def_property_readonly("restore", &NativeModel::restore,
                             "The restore that ran: \"tensorflow\", \"graph\", \"mmap\" or \"none\".")
      .def_property_readonly("restore_fallback", &NativeModel::restore_fallback,
                             "With restore=\"auto\": why the mapped restore was not used (empty when it was).")
      .def_property_readonly("compile_cache", [](const NativeModel& n) { return n.session()->compile_cache(); },
                             "What the compile cache did: \"hit\", \"miss: <why>\", \"unused: <why>\", or \"\" "
                             "when none was asked for.")
      .def_property_readonly(
          "compiled_calls",
          [](const NativeModel& n) {
            const Session& s = *n.session();
            return py::make_tuple(s.compiled_calls(), s.compiled_active(), s.compiled_note());
          },
          "The compile cache's compiled calls: (how many the load took from the cache, whether they "
          "still serve, why calls are not compiled or stored: \"\" when nothing went wrong).")
      .def("run", &NativeModel::run, py::arg("fetches"), py::arg("feeds"), py::arg("targets"),
           py::arg("run_options") = py::none())
      .def("devices", &NativeModel::devices)
      .def("close", &NativeModel::close)
      .def_property_readonly("closed", &NativeModel::closed)
      .def("session_handle", &NativeModel::session_handle,
           "Benchmark hook: the raw TF_Session* (bench/c_loop.cc runs it directly).")
      .def("graph_handle", &NativeModel::graph_handle, "Benchmark hook: the raw TF_Graph*.");

  py::class_<NativeSignature>(m, "NativeSignature")
      .def(py::init<const NativeModel&, const std::string&>())
      .def("call", &NativeSignature::call)
      .def("run", &NativeSignature::run, py::arg("inputs"), py::arg("outputs") = py::none(),
           py::arg("run_options") = py::none());

  bind_inspect(m);
  bind_checkpoint(m);
  bind_example(m);
  bind_tfrecord(m);
  bind_json(m);
  bind_batching(m);
}
