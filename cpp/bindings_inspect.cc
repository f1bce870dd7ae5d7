// Bindings of SavedModel inspection (inspect.h): _core.inspect_saved_model.
//
// The C++ side reads and decodes with the GIL released and returns plain
// dicts, lists and tuples; python/tfbundle/_inspect.py turns them into
// dataclasses and cli.py prints them. No TensorFlow library is opened here.
#include <Python.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "inspect.h"
#include "op_registry.h"
#include "status.h"

namespace py = pybind11;

namespace tfbundle {
namespace {

// Proto strings are meant to be UTF-8; anything else still round-trips.
py::str to_py(std::string_view s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

py::list str_list(const std::vector<std::string>& v) {
  py::list out;
  for (const auto& s : v) out.append(to_py(s));
  return out;
}

py::object shape_to_py(const TensorShape& shape) {
  if (shape.unknown_rank) return py::none();
  py::list dims;
  for (int64_t d : shape.dims) dims.append(d < 0 ? py::object(py::none()) : py::object(py::int_(d)));
  return py::tuple(dims);
}

py::dict tensor_info_to_py(const TensorInfo& info) {
  py::dict d;
  d["name"] = to_py(info.name);
  d["dtype"] = info.dtype;
  d["shape"] = shape_to_py(info.shape);
  if (info.shape.unknown_rank) {
    d["dims"] = py::none();
  } else {
    d["dims"] = info.shape.dims;
  }
  switch (info.encoding) {
    case TensorInfo::Encoding::kDense:
      d["encoding"] = "dense";
      d["components"] = py::list();
      break;
    case TensorInfo::Encoding::kCooSparse:
      d["encoding"] = "coo_sparse";
      d["components"] = str_list({info.coo_values, info.coo_indices, info.coo_dense_shape});
      break;
    case TensorInfo::Encoding::kComposite: {
      d["encoding"] = "composite";
      py::list comps;
      for (const auto& c : info.components) comps.append(to_py(c.name));
      d["components"] = comps;
      break;
    }
  }
  return d;
}

py::list named_infos(const std::vector<std::pair<std::string, TensorInfo>>& v) {
  py::list out;
  for (const auto& [key, info] : v) out.append(py::make_tuple(to_py(key), tensor_info_to_py(info)));
  return out;
}

py::object structured_to_py(const StructuredValue& v) {
  py::dict d;
  switch (v.kind) {
    case StructuredValue::kUnset: d["kind"] = "unset"; break;
    case StructuredValue::kNone: d["kind"] = "none"; break;
    case StructuredValue::kFloat64: d["kind"] = "float"; d["value"] = v.float64; break;
    case StructuredValue::kInt64: d["kind"] = "int"; d["value"] = v.int64; break;
    case StructuredValue::kString: d["kind"] = "str"; d["value"] = to_py(v.string); break;
    case StructuredValue::kBool: d["kind"] = "bool"; d["value"] = v.boolean; break;
    case StructuredValue::kTensorShape: d["kind"] = "tensor_shape"; d["shape"] = shape_to_py(v.shape); break;
    case StructuredValue::kDType: d["kind"] = "dtype"; d["dtype"] = v.dtype; break;
    case StructuredValue::kTensorSpec:
    case StructuredValue::kBoundedTensorSpec:
      d["kind"] = v.kind == StructuredValue::kTensorSpec ? "tensor_spec" : "bounded_tensor_spec";
      d["name"] = v.string.empty() ? py::object(py::none()) : py::object(to_py(v.string));
      d["shape"] = shape_to_py(v.shape);
      d["dtype"] = v.dtype;
      break;
    case StructuredValue::kTypeSpec:
      d["kind"] = "type_spec";
      d["type_spec_class"] = v.type_spec_class;
      d["class_name"] = to_py(v.string);
      d["state"] = v.items.empty() ? py::object(py::none()) : structured_to_py(v.items[0]);
      break;
    case StructuredValue::kList:
    case StructuredValue::kTuple: {
      d["kind"] = v.kind == StructuredValue::kList ? "list" : "tuple";
      py::list items;
      for (const auto& i : v.items) items.append(structured_to_py(i));
      d["items"] = items;
      break;
    }
    case StructuredValue::kDict:
    case StructuredValue::kNamedTuple: {
      d["kind"] = v.kind == StructuredValue::kDict ? "dict" : "named_tuple";
      if (v.kind == StructuredValue::kNamedTuple) d["name"] = to_py(v.string);
      py::list items;
      for (size_t i = 0; i < v.items.size(); ++i) items.append(py::make_tuple(to_py(v.keys[i]), structured_to_py(v.items[i])));
      d["items"] = items;
      break;
    }
    case StructuredValue::kTensor: d["kind"] = "tensor"; break;
    case StructuredValue::kNumpy: d["kind"] = "numpy"; break;
  }
  return std::move(d);
}

// Everything the C++ side computes, made without the GIL.
struct Inspection {
  SavedModelBytes file;
  SavedModelContents contents;
  std::vector<std::optional<GraphOps>> ops;
  VariablesSummary variables;
  std::string variables_error;
  std::optional<Fingerprint> fingerprint;
  std::optional<FunctionListing> functions;
};

Inspection run_inspection(const std::string& export_dir, bool ops, bool cli) {
  Inspection in;
  in.file = read_saved_model_bytes(export_dir);
  in.contents = parse_saved_model_contents(in.file.bytes(), in.file.path);
  for (const auto& mg : in.contents.meta_graphs) {
    if (ops || cli) {
      in.ops.push_back(graph_ops(mg.meta_graph.graph_def, &mg.meta_graph));
    } else {
      in.ops.emplace_back();
    }
  }
  try {
    in.variables = summarize_variables(export_dir);
  } catch (const Error& e) {
    in.variables_error = e.what();  // a broken index does not hide the rest
  }
  in.fingerprint = read_fingerprint(export_dir);
  if (cli) in.functions = list_concrete_functions(in.contents);
  return in;
}

py::dict inspect_saved_model(const std::string& export_dir, bool ops, bool cli) {
  Inspection in;
  {
    py::gil_scoped_release release;
    in = run_inspection(export_dir, ops, cli);
  }
  py::dict out;
  out["file"] = to_py(in.file.path);
  out["format"] = in.file.format;
  out["schema_version"] = in.contents.schema_version;
  py::list metas;
  for (size_t i = 0; i < in.contents.meta_graphs.size(); ++i) {
    const MetaGraphEntry& e = in.contents.meta_graphs[i];
    const MetaGraph& mg = e.meta_graph;
    py::dict m;
    m["tags"] = str_list(mg.tags);
    m["meta_graph_version"] = to_py(mg.meta_graph_version);
    m["tensorflow_version"] = to_py(mg.tensorflow_version);
    m["tensorflow_git_version"] = to_py(mg.tensorflow_git_version);
    m["stripped_default_attrs"] = mg.stripped_default_attrs;
    m["has_object_graph"] = mg.has_object_graph;
    m["graph_def_bytes"] = mg.graph_def.size();
    py::list sigs;
    for (const auto& s : mg.signatures) {
      py::dict sd;
      sd["key"] = to_py(s.key);
      sd["method_name"] = to_py(s.method_name);
      sd["inputs"] = named_infos(s.inputs);
      sd["outputs"] = named_infos(s.outputs);
      sigs.append(sd);
    }
    m["signatures"] = sigs;
    py::list assets;
    for (const auto& a : e.assets) assets.append(py::make_tuple(to_py(a.tensor_name), to_py(a.filename)));
    m["assets"] = assets;
    if (mg.saver) {
      py::dict sv;
      sv["filename_tensor_name"] = to_py(mg.saver->filename_tensor_name);
      sv["save_tensor_name"] = to_py(mg.saver->save_tensor_name);
      sv["restore_op_name"] = to_py(mg.saver->restore_op_name);
      sv["version"] = mg.saver->version;
      sv["sharded"] = mg.saver->sharded;
      m["saver"] = sv;
    } else {
      m["saver"] = py::none();
    }
    m["init_op"] = to_py(mg.init_op_name());
    if (in.ops[i]) {
      const GraphOps& g = *in.ops[i];
      py::dict counts;
      for (const auto& [op, n] : g.counts) counts[to_py(op)] = n;
      py::dict od;
      od["counts"] = counts;
      py::dict policy;
      for (const auto& [op, n] : g.policy_counts) policy[to_py(op)] = n;
      od["policy_counts"] = policy;
      od["function_calls"] = g.function_calls;
      od["graph_nodes"] = g.graph_nodes;
      od["function_nodes"] = g.function_nodes;
      od["functions"] = str_list(g.function_names);
      od["cli_marks"] = str_list(g.cli_marks);
      m["ops"] = od;
    } else {
      m["ops"] = py::none();
    }
    metas.append(m);
  }
  out["meta_graphs"] = metas;

  py::dict vars;
  vars["format"] = in.variables.format;
  vars["count"] = in.variables.count;
  vars["total_bytes"] = in.variables.total_bytes;
  vars["num_shards"] = in.variables.num_shards;
  vars["has_object_graph"] = in.variables.has_object_graph;
  vars["missing_shards"] = str_list(in.variables.missing_shards);
  vars["error"] = in.variables_error.empty() ? py::object(py::none()) : py::object(to_py(in.variables_error));
  out["variables"] = vars;

  if (in.fingerprint) {
    const Fingerprint& fp = *in.fingerprint;
    py::dict f;
    f["saved_model_checksum"] = fp.saved_model_checksum;
    f["graph_def_program_hash"] = fp.graph_def_program_hash;
    f["signature_def_hash"] = fp.signature_def_hash;
    f["saved_object_graph_hash"] = fp.saved_object_graph_hash;
    f["checkpoint_hash"] = fp.checkpoint_hash;
    f["producer"] = fp.producer;
    f["uuid"] = to_py(fp.uuid);
    out["fingerprint"] = f;
  } else {
    out["fingerprint"] = py::none();
  }

  if (in.functions) {
    const FunctionListing& fl = *in.functions;
    py::dict d;
    d["present"] = fl.present;
    d["failure"] = fl.failure;
    d["failure_detail"] = to_py(fl.failure_detail);
    py::list fns;
    for (const auto& rf : fl.functions) {
      py::dict fd;
      fd["name"] = to_py(rf.name);
      fd["bare"] = rf.bare;
      fd["argument_keywords"] = str_list(rf.argument_keywords);
      py::list cfs;
      for (const auto& cf : rf.concrete_functions) {
        py::dict c;
        c["name"] = to_py(cf.name);
        c["load_name"] = to_py(cf.load_name);
        c["input_signature"] = cf.has_signature ? structured_to_py(cf.input_signature) : py::object(py::none());
        cfs.append(c);
      }
      fd["concrete_functions"] = cfs;
      fns.append(fd);
    }
    d["functions"] = fns;
    out["functions"] = d;
  } else {
    out["functions"] = py::none();
  }
  return out;
}

}  // namespace

void bind_inspect(py::module_& m) {
  m.def("inspect_saved_model", &inspect_saved_model, py::arg("export_dir"), py::arg("ops") = false,
        py::arg("cli") = false,
        "Reads the SavedModel in export_dir (a folder) without TensorFlow and returns plain dicts: "
        "meta graphs, signatures, assets, variables, fingerprint; with ops=True the op types of each "
        "graph; with cli=True also what saved_model_cli show --all needs.");
  m.def("op_registry_version", &op_registry_version,
        "The TensorFlow version whose op registry inspection uses to predict TensorFlow's loader.");
  m.def("registered_op", [](const std::string& name) -> py::object {
    const RegisteredOp* op = find_registered_op(name);
    if (op == nullptr) return py::none();
    return py::make_tuple(op->outputs, op->required_attrs);
  }, py::arg("name"), "(outputs, required_attrs) of a TensorFlow op type, or None if TensorFlow does not register it.");
}

}  // namespace tfbundle
