// Bindings of SavedModel inspection (inspect.h): _core.inspect_saved_model.
//
// The C++ side reads and decodes with the GIL released and hands Python a
// tree of read-only objects (SavedModelReading, MetaGraphReading, GraphOps,
// ...): python/tfbundle/_readers/inspect.py turns them into its dataclasses
// and cli/show.py prints them. Nested objects are views that keep their root
// alive (no copies). No TensorFlow library is opened here.
#include <Python.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "bindings_tensor.h"
#include "inspect.h"
#include "model_files.h"
#include "op_registry.h"
#include "status.h"
#include "without_gil.h"

namespace py = pybind11;

namespace tfbundle {

namespace {

py::list str_list(const std::vector<std::string>& v) {
  py::list out;
  for (const auto& s : v) out.append(proto_str(s));
  return out;
}

py::dict count_dict(const std::map<std::string, int64_t>& counts) {
  py::dict d;
  for (const auto& [name, n] : counts) d[proto_str(name)] = n;
  return d;
}

py::object optional_str(const std::string& s) { return s.empty() ? py::object(py::none()) : py::object(proto_str(s)); }

py::object shape_to_py(const TensorShape& shape) {
  if (shape.unknown_rank) return py::none();
  py::tuple t(shape.dims.size());
  for (size_t i = 0; i < shape.dims.size(); ++i) {
    t[i] = shape.dims[i] < 0 ? py::object(py::none()) : py::object(py::int_(shape.dims[i]));
  }
  return std::move(t);
}

const char* kind_name(StructuredValue::Kind kind) {
  switch (kind) {
    case StructuredValue::kUnset: return "unset";
    case StructuredValue::kNone: return "none";
    case StructuredValue::kFloat64: return "float";
    case StructuredValue::kInt64: return "int";
    case StructuredValue::kString: return "str";
    case StructuredValue::kBool: return "bool";
    case StructuredValue::kTensorShape: return "tensor_shape";
    case StructuredValue::kDType: return "dtype";
    case StructuredValue::kTensorSpec: return "tensor_spec";
    case StructuredValue::kBoundedTensorSpec: return "bounded_tensor_spec";
    case StructuredValue::kTypeSpec: return "type_spec";
    case StructuredValue::kList: return "list";
    case StructuredValue::kTuple: return "tuple";
    case StructuredValue::kDict: return "dict";
    case StructuredValue::kNamedTuple: return "named_tuple";
    case StructuredValue::kTensor: return "tensor";
    case StructuredValue::kNumpy: return "numpy";
  }
  return "unset";
}

py::object structured_value(const StructuredValue& v) {
  switch (v.kind) {
    case StructuredValue::kFloat64: return py::float_(v.float64);
    case StructuredValue::kInt64: return py::int_(v.int64);
    case StructuredValue::kString: return proto_str(v.string);
    case StructuredValue::kBool: return py::bool_(v.boolean);
    default: return py::none();
  }
}

// A view of `value`, a part of `parent`'s object, that keeps `parent` alive.
template <class T>
py::object child(const T* value, const py::object& parent) {
  return py::cast(value, py::return_value_policy::reference_internal, parent);
}

// What one MetaGraphDef holds, copied out of the (mapped) file.
struct MetaGraphReading {
  std::vector<std::string> tags;
  std::string meta_graph_version, tensorflow_version, tensorflow_git_version;
  bool stripped_default_attrs = false;
  bool has_object_graph = false;
  int64_t graph_def_bytes = 0;
  std::vector<SignatureDef> signatures;  // sorted by key
  std::vector<std::pair<AssetFile, AssetCheck>> assets;  // each with where it resolves
  std::optional<SaverDef> saver;
  std::string init_op;
  std::optional<GraphOps> ops;  // with ops=True or cli=True
};

struct VariablesReading {
  VariablesSummary summary;
  std::string error;  // why variables/ could not be summarized; empty if it could
};

struct SavedModelReading {
  std::string file, format;
  int64_t schema_version = 0;
  std::vector<MetaGraphReading> meta_graphs;  // in file order
  VariablesReading variables;
  std::optional<Fingerprint> fingerprint;
  std::optional<FunctionListing> functions;  // with cli=True
};

// Everything the C++ side computes, made without the GIL.
SavedModelReading read_saved_model(const std::string& export_dir, bool ops, bool cli) {
  SavedModelReading out;
  const SavedModelBytes file = read_saved_model_bytes(export_dir);
  const SavedModelContents contents = parse_saved_model_contents(file.bytes(), file.path);
  out.file = file.path;
  out.format = file.format;
  out.schema_version = contents.schema_version;
  for (const MetaGraphEntry& e : contents.meta_graphs) {
    const MetaGraph& mg = e.meta_graph;
    MetaGraphReading m;
    m.tags = mg.tags;
    m.meta_graph_version = mg.meta_graph_version;
    m.tensorflow_version = mg.tensorflow_version;
    m.tensorflow_git_version = mg.tensorflow_git_version;
    m.stripped_default_attrs = mg.stripped_default_attrs;
    m.has_object_graph = mg.has_object_graph;
    m.graph_def_bytes = static_cast<int64_t>(mg.graph_def.size());
    m.signatures = mg.signatures;
    for (const AssetFile& a : e.assets) {
      m.assets.emplace_back(a, check_asset(export_dir + "/assets", a.filename, export_dir));
    }
    m.saver = mg.saver;
    m.init_op = mg.init_op_name();
    if (ops || cli) m.ops = graph_ops(mg.graph_def, &mg);
    out.meta_graphs.push_back(std::move(m));
  }
  try {
    out.variables.summary = summarize_variables(export_dir);
  } catch (const Error& e) {
    out.variables.error = e.what();  // a broken index does not hide the rest
  }
  out.fingerprint = read_fingerprint(export_dir);
  if (cli) out.functions = list_concrete_functions(contents);  // before the file's mapping goes
  return out;
}

}  // namespace

void bind_inspect(py::module_& m) {
  py::class_<SaverDef>(m, "SaverDef", "A MetaGraphDef's SaverDef: how TensorFlow restores the variables (read-only).")
      .def_property_readonly("filename_tensor_name", [](const SaverDef& s) { return proto_str(s.filename_tensor_name); })
      .def_property_readonly("save_tensor_name", [](const SaverDef& s) { return proto_str(s.save_tensor_name); })
      .def_property_readonly("restore_op_name", [](const SaverDef& s) { return proto_str(s.restore_op_name); })
      .def_readonly("version", &SaverDef::version, "the checkpoint format: 0 legacy, 1 V1, 2 V2")
      .def_readonly("sharded", &SaverDef::sharded);

  py::class_<GraphOps>(m, "GraphOps", "The op types a graph and its function library use (read-only); see inspect.h.")
      .def_property_readonly("counts", [](const GraphOps& g) { return count_dict(g.counts); },
                             "op type -> nodes, over the graph and every function body")
      .def_readonly("function_calls", &GraphOps::function_calls, "nodes that call a library function by name")
      .def_readonly("graph_nodes", &GraphOps::graph_nodes)
      .def_readonly("function_nodes", &GraphOps::function_nodes)
      .def_property_readonly("functions", [](const GraphOps& g) { return str_list(g.function_names); },
                             "the library's function names")
      .def_property_readonly("cli_marks", [](const GraphOps& g) { return str_list(g.cli_marks); },
                             "every name saved_model_cli's op walk marks, in the order first marked")
      .def_property_readonly("policy_counts", [](const GraphOps& g) { return count_dict(g.policy_counts); },
                             "op type -> nodes, over what TensorFlow runs when it loads and serves the model");

  py::class_<StructuredValue>(m, "StructuredValue",
                              "A decoded StructuredValue (a concrete function's input signature), read-only.")
      .def_property_readonly("kind", [](const StructuredValue& v) { return kind_name(v.kind); },
                             "\"none\", \"float\", \"int\", \"str\", \"bool\", \"tensor_shape\", \"dtype\", "
                             "\"tensor_spec\", \"bounded_tensor_spec\", \"type_spec\", \"list\", \"tuple\", "
                             "\"dict\", \"named_tuple\", \"tensor\", \"numpy\" or \"unset\"")
      .def_property_readonly("value", &structured_value, "the value of a float, int, str or bool; else None")
      .def_property_readonly(
          "name",
          [](const StructuredValue& v) {
            const bool named = v.kind == StructuredValue::kTensorSpec ||
                               v.kind == StructuredValue::kBoundedTensorSpec ||
                               v.kind == StructuredValue::kNamedTuple;
            return named ? optional_str(v.string) : py::object(py::none());
          },
          "a tensor spec's name or a named tuple's type name; None if it has none")
      .def_property_readonly(
          "class_name",
          [](const StructuredValue& v) { return proto_str(v.kind == StructuredValue::kTypeSpec ? v.string : ""); },
          "a type spec's class name as stored")
      .def_property_readonly("shape", [](const StructuredValue& v) { return shape_to_py(v.shape); },
                             "a tensor shape's or a tensor spec's dims (None for unknown), or None")
      .def_readonly("dtype", &StructuredValue::dtype, "a dtype's or a tensor spec's DataType value")
      .def_readonly("type_spec_class", &StructuredValue::type_spec_class, "TypeSpecProto.TypeSpecClass")
      .def_property_readonly(
          "state",
          [](const py::object& self) -> py::object {
            const auto& v = self.cast<const StructuredValue&>();
            if (v.kind != StructuredValue::kTypeSpec || v.items.empty()) return py::none();
            return child(&v.items[0], self);
          },
          "a type spec's state, or None")
      .def_property_readonly(
          "items",
          [](const StructuredValue& v) -> const std::vector<StructuredValue>& {
            static const std::vector<StructuredValue> kNone;
            return v.kind == StructuredValue::kTypeSpec ? kNone : v.items;
          },
          py::return_value_policy::reference_internal, "the values of a list, tuple, dict or named tuple")
      .def_property_readonly("keys", [](const StructuredValue& v) { return str_list(v.keys); },
                             "the keys of a dict or named tuple, parallel to items");

  py::class_<ConcreteFunctionEntry>(m, "ConcreteFunction", "A concrete function of a root function (read-only).")
      .def_property_readonly("name", [](const ConcreteFunctionEntry& c) { return proto_str(c.name); })
      .def_property_readonly("load_name", [](const ConcreteFunctionEntry& c) { return proto_str(c.load_name); },
                             "the name TensorFlow's Python loader gives it")
      .def_property_readonly(
          "input_signature",
          [](const py::object& self) -> py::object {
            const auto& c = self.cast<const ConcreteFunctionEntry&>();
            return c.has_signature ? child(&c.input_signature, self) : py::none();
          },
          "(args, kwargs) as a StructuredValue, or None");

  py::class_<RootFunction>(m, "RootFunction", "A function of the SavedModel's root object (read-only).")
      .def_property_readonly("name", [](const RootFunction& f) { return proto_str(f.name); })
      .def_readonly("bare", &RootFunction::bare, "a bare concrete function (else a tf.function)")
      .def_property_readonly("argument_keywords", [](const RootFunction& f) { return str_list(f.argument_keywords); })
      .def_readonly("concrete_functions", &RootFunction::concrete_functions);

  py::class_<FunctionListing>(m, "FunctionListing", "The concrete functions saved_model_cli show --all lists.")
      .def_readonly("present", &FunctionListing::present, "some MetaGraphDef has an object graph")
      .def_readonly("failure", &FunctionListing::failure,
                    "why TensorFlow's loader would fail: \"\", \"custom_ops\" or \"unknown\"")
      .def_property_readonly("failure_detail", [](const FunctionListing& f) { return proto_str(f.failure_detail); })
      .def_readonly("functions", &FunctionListing::functions);

  py::class_<VariablesReading>(m, "VariablesSummary", "What variables/ holds, from its index (read-only).")
      .def_property_readonly("format", [](const VariablesReading& v) { return v.summary.format; },
                             "\"v2\", \"v1\" or \"\" (no variables)")
      .def_property_readonly("count", [](const VariablesReading& v) { return v.summary.count; })
      .def_property_readonly("total_bytes", [](const VariablesReading& v) { return v.summary.total_bytes; })
      .def_property_readonly("num_shards", [](const VariablesReading& v) { return v.summary.num_shards; })
      .def_property_readonly("has_object_graph", [](const VariablesReading& v) { return v.summary.has_object_graph; })
      .def_property_readonly("missing_shards", [](const VariablesReading& v) { return str_list(v.summary.missing_shards); })
      .def_property_readonly("error", [](const VariablesReading& v) { return optional_str(v.error); },
                             "why the index could not be read, or None");

  py::class_<Fingerprint>(m, "Fingerprint", "fingerprint.pb (read-only).")
      .def_readonly("saved_model_checksum", &Fingerprint::saved_model_checksum)
      .def_readonly("graph_def_program_hash", &Fingerprint::graph_def_program_hash)
      .def_readonly("signature_def_hash", &Fingerprint::signature_def_hash)
      .def_readonly("saved_object_graph_hash", &Fingerprint::saved_object_graph_hash)
      .def_readonly("checkpoint_hash", &Fingerprint::checkpoint_hash)
      .def_readonly("producer", &Fingerprint::producer)
      .def_property_readonly("uuid", [](const Fingerprint& f) { return proto_str(f.uuid); });

  py::class_<MetaGraphReading>(m, "MetaGraphReading", "One MetaGraphDef as inspect_saved_model read it (read-only).")
      .def_property_readonly("tags", [](const MetaGraphReading& g) { return str_list(g.tags); }, "in file order")
      .def_property_readonly("meta_graph_version", [](const MetaGraphReading& g) { return proto_str(g.meta_graph_version); })
      .def_property_readonly("tensorflow_version", [](const MetaGraphReading& g) { return proto_str(g.tensorflow_version); })
      .def_property_readonly("tensorflow_git_version",
                             [](const MetaGraphReading& g) { return proto_str(g.tensorflow_git_version); })
      .def_readonly("stripped_default_attrs", &MetaGraphReading::stripped_default_attrs)
      .def_readonly("has_object_graph", &MetaGraphReading::has_object_graph)
      .def_readonly("graph_def_bytes", &MetaGraphReading::graph_def_bytes)
      .def_readonly("signatures", &MetaGraphReading::signatures, "SignatureDefs, sorted by key")
      .def_property_readonly(
          "assets",
          [](const MetaGraphReading& g) {
            py::list out;
            for (const auto& [a, check] : g.assets) {
              out.append(py::make_tuple(proto_str(a.tensor_name), proto_str(a.filename), proto_str(check.path),
                                        check.exists, proto_str(check.reason)));
            }
            return out;
          },
          "[(placeholder tensor name, filename, path, exists, problem), ...]: problem is \"\" for a file "
          "that resolves inside assets/, else why tfbundle.load refuses it (model_files.h: check_asset)")
      .def_readonly("saver", &MetaGraphReading::saver, "the SaverDef, or None")
      .def_property_readonly("init_op", [](const MetaGraphReading& g) { return proto_str(g.init_op); },
                             "the op run after the restore (\"\" if none)")
      .def_readonly("ops", &MetaGraphReading::ops, "the GraphOps (with ops=True or cli=True), or None");

  py::class_<SavedModelReading>(m, "SavedModelReading", "What inspect_saved_model read (read-only).")
      .def_property_readonly("file", [](const SavedModelReading& r) { return proto_str(r.file); })
      .def_readonly("format", &SavedModelReading::format, "\"pb\" or \"pbtxt\"")
      .def_readonly("schema_version", &SavedModelReading::schema_version)
      .def_readonly("meta_graphs", &SavedModelReading::meta_graphs, "in file order")
      .def_readonly("variables", &SavedModelReading::variables)
      .def_readonly("fingerprint", &SavedModelReading::fingerprint, "None when there is no fingerprint.pb")
      .def_readonly("functions", &SavedModelReading::functions, "the concrete functions (with cli=True), or None");

  m.def(
      "inspect_saved_model",
      [](const std::string& export_dir, bool ops, bool cli) {
        return without_gil([&] { return read_saved_model(export_dir, ops, cli); });
      },
      py::arg("export_dir"), py::arg("ops") = false, py::arg("cli") = false,
      "Reads the SavedModel in export_dir (a folder) without TensorFlow: meta graphs, signatures, "
      "assets, variables, fingerprint; with ops=True the op types of each graph; with cli=True also "
      "what saved_model_cli show --all needs.");
  m.def("op_registry_version", &op_registry_version,
        "The TensorFlow version whose op registry inspection uses to predict TensorFlow's loader.");
  m.def(
      "registered_op",
      [](const std::string& name) -> py::object {
        const RegisteredOp* op = find_registered_op(name);
        if (op == nullptr) return py::none();
        return py::make_tuple(op->outputs, op->required_attrs);
      },
      py::arg("name"), "(outputs, required_attrs) of a TensorFlow op type, or None if TensorFlow does not register it.");
}

}  // namespace tfbundle
