#include "inspect.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "asset_flow.h"
#include "graph_view.h"
#include "model_files.h"
#include "op_registry.h"
#include "proto_fields.h"
#include "status.h"
#include "tensor_bundle.h"
#include "text_format.h"
#include "wire.h"

namespace tfbundle {
namespace {

using wire::Field;
using wire::Reader;

// Rethrows a wire-format error with the file's path in front.
template <typename Fn>
auto naming_file(const std::string& path, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error& e) {
    if (e.code() == kDataLoss && std::string(e.what()).find(path) == std::string::npos)
      throw Error(kDataLoss, path + ": " + e.what());
    throw;
  }
}


// The functions a library function depends on, as TensorFlow's Python loader
// lists them (function_deserialization._list_function_deps).
std::set<std::string> function_deps(const LibraryFunction& fn, const Library& lib) {
  std::set<std::string> deps;
  for (std::string_view bytes : fn.nodes) {
    const NodeView node = parse_node(bytes, true);
    std::string grad_op_type;
    if (!is_call_op(node.op)) {
      if (const std::string_view* a = node.attr("_gradient_op_type")) {
        const AttrOneof v = attr_oneof(*a);
        if (v.number == pb::AttrValue::kS) grad_op_type = std::string(v.bytes);
      }
    }
    if (lib.by_name.count(std::string(node.op))) {
      deps.insert(std::string(node.op));
    } else if (!grad_op_type.empty() && lib.gradient_names.count(grad_op_type)) {
      deps.insert(lib.gradient_names.at(grad_op_type));
    } else {
      std::vector<std::string> named;
      attr_functions(node, &named);
      deps.insert(named.begin(), named.end());
    }
  }
  return deps;
}

// The loader's topological order of the library (_sort_function_defs); false
// when some function can never be ready (a cycle, or a dependency missing
// from the library).
bool sort_functions(const Library& lib, std::vector<std::string>* order) {
  std::unordered_map<std::string, std::vector<std::string>> edges;
  std::unordered_map<std::string, int64_t> in_count;
  // function_deps is a dict keyed by name, in library order of first appearance.
  std::vector<std::string> keys;
  std::unordered_set<std::string> seen;
  for (const auto& fn : lib.functions) {
    if (seen.insert(fn.name).second) keys.push_back(fn.name);
  }
  for (const auto& name : keys) {
    for (const auto& dep : function_deps(lib.functions[lib.by_name.at(name)], lib)) {
      edges[dep].push_back(name);
      ++in_count[name];
    }
  }
  std::vector<std::string> ready;
  for (const auto& fn : lib.functions) {
    if (in_count[fn.name] == 0) ready.push_back(fn.name);
  }
  while (!ready.empty()) {
    std::string node = std::move(ready.back());
    ready.pop_back();
    auto it = edges.find(node);
    order->push_back(std::move(node));
    if (it == edges.end()) continue;
    for (const auto& dest : it->second) {
      if (--in_count[dest] == 0) ready.push_back(dest);
    }
  }
  return order->size() == lib.functions.size();
}

// Number of ListValue.type entries (packed or not).
int64_t list_type_count(std::string_view list_value) {
  int64_t n = 0;
  Reader r(list_value, "AttrValue.ListValue");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::AttrValue::ListValue::kType) wire::for_each_varint(f, [&](uint64_t) { ++n; });
  }
  return n;
}

std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const size_t comma = s.find(',');
    out.push_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

// How many tensors a node of a registered op makes. Returns false (with the
// missing attr) when a count depends on an attr the node lacks.
bool count_outputs(const RegisteredOp& op, const NodeView& node, int64_t* count, std::string* missing) {
  *count = 0;
  for (std::string_view spec : split_commas(op.outputs)) {
    if (spec == "1") {
      ++*count;
      continue;
    }
    const char kind = spec[0];
    std::string_view attr = spec.substr(1);
    std::string_view fallback;
    const size_t eq = attr.find('=');
    bool has_default = eq != std::string_view::npos;
    if (has_default) {
      fallback = attr.substr(eq + 1);
      attr = attr.substr(0, eq);
    }
    const std::string_view* value = node.attr(attr);
    if (value == nullptr) {
      if (!has_default) {
        *missing = std::string(attr);
        return false;
      }
      *count += std::stoll(std::string(fallback));
      continue;
    }
    const AttrOneof v = attr_oneof(*value);
    if (kind == '#') {
      *count += v.number == pb::AttrValue::kI ? static_cast<int64_t>(v.value) : 0;
    } else {
      *count += v.number == pb::AttrValue::kList ? list_type_count(v.bytes) : 0;
    }
  }
  return true;
}

}  // namespace

// ============================================================== public API ===

SavedModelContents parse_saved_model_contents(std::string_view bytes, const std::string& what) {
  return naming_file(what, [&] {
    SavedModelContents out;
    Reader r(bytes, "SavedModel");
    Field f;
    while (r.next(&f)) {
      if (f.number == pb::SavedModel::kSavedModelSchemaVersion && f.type == wire::kVarint) {
        out.schema_version = static_cast<int64_t>(f.value);
      }
      if (f.number == pb::SavedModel::kMetaGraphs && f.type == wire::kLengthDelimited) {
        MetaGraphEntry e;
        e.meta_graph = parse_meta_graph(f.bytes);
        e.bytes = f.bytes;
        e.assets = e.meta_graph.assets;
        out.meta_graphs.push_back(std::move(e));
      }
    }
    if (out.meta_graphs.empty()) throw Error(kDataLoss, what + " holds no MetaGraphDef: it is not a SavedModel");
    return out;
  });
}

namespace {

bool is_restore_op(std::string_view op) { return op == "Restore" || op == "RestoreV2" || op == "RestoreSlice"; }

// Functions reachable from `roots` through calls in function bodies.
// `function_nodes[i]`: the nodes of lib.functions[i].
std::unordered_set<std::string> reachable_functions(std::vector<std::string> roots, const Library& lib,
                                                    const std::vector<std::vector<NodeView>>& function_nodes) {
  std::unordered_set<std::string> seen;
  while (!roots.empty()) {
    std::string name = std::move(roots.back());
    roots.pop_back();
    auto it = lib.by_name.find(name);
    if (it == lib.by_name.end() || !seen.insert(name).second) continue;
    for (const NodeView& node : function_nodes[it->second]) node_functions(node, lib, &roots);
  }
  return seen;
}

// The op type as the policy judges it: a few op types are harmless unless an attr names a file
// ("PrintV2(file)"), or unless a path they read comes from elsewhere than the model's assets
// ("InitializeTableFromTextFileV2(path)"; see asset_flow.h). `function`: the node's function in
// the library, -1 for the graph.
std::string policy_key(const NodeView& node, int function, AssetFlow& flow) {
  if (const std::vector<int>* paths = file_path_inputs(node.op)) {
    const std::vector<std::string_view> data = data_inputs(node);
    for (int i : *paths) {
      if (static_cast<size_t>(i) >= data.size() || !flow.from_asset(data[i], function)) {
        return std::string(node.op) + "(path)";
      }
    }
    return std::string(node.op);
  }
  if (node.op == "PrintV2") {
    const auto stream = string_attr(node, "output_stream");
    if (stream && stream->substr(0, 7) == "file://") return "PrintV2(file)";
  } else if (node.op == "DecodeProtoV2" || node.op == "EncodeProto") {
    // descriptor_source: "local://" (the default), "bytes://<FileDescriptorSet>", or a file path.
    const auto source = string_attr(node, "descriptor_source");
    if (source && *source != "local://" && source->substr(0, 8) != "bytes://") return std::string(node.op) + "(file)";
  }
  return std::string(node.op);
}

}  // namespace

GraphOps graph_ops(std::string_view graph_def, const MetaGraph* meta_graph) {
  GraphOps out;
  std::vector<NodeView> graph_nodes;
  {
    Reader r(graph_def, "GraphDef");
    Field f;
    while (r.next(&f)) {
      if (f.number == pb::GraphDef::kNode && f.type == wire::kLengthDelimited) {
        graph_nodes.push_back(parse_node(f.bytes, true));
      }
    }
  }
  const Library lib = parse_library(graph_def);
  std::vector<std::vector<NodeView>> function_nodes(lib.functions.size());
  for (size_t i = 0; i < lib.functions.size(); ++i) {
    out.function_names.push_back(lib.functions[i].name);
    for (std::string_view bytes : lib.functions[i].nodes) function_nodes[i].push_back(parse_node(bytes, true));
  }

  auto count = [&](std::string_view op) {
    if (lib.by_name.count(std::string(op))) {
      ++out.function_calls;
    } else {
      ++out.counts[std::string(op)];
    }
  };
  for (const auto& node : graph_nodes) count(node.op);
  for (size_t i = 0; i < lib.functions.size(); ++i) {
    for (const auto& node : function_nodes[i]) count(node.op);
    out.function_nodes += static_cast<int64_t>(function_nodes[i].size());
  }
  out.graph_nodes = static_cast<int64_t>(graph_nodes.size());

  // The part of the graph TensorFlow runs: what the signatures and the init op
  // depend on ("serving"), and what the restore op depends on ("restore").
  std::unordered_map<std::string_view, size_t> by_name;
  for (size_t i = 0; i < graph_nodes.size(); ++i) by_name.emplace(graph_nodes[i].name, i);
  auto ancestors = [&](std::vector<std::string_view> todo, std::unordered_set<std::string_view>* seen) {
    while (!todo.empty()) {
      const std::string_view name = todo.back();
      todo.pop_back();
      auto it = by_name.find(name);
      if (it == by_name.end() || !seen->insert(name).second) continue;
      for (auto in : graph_nodes[it->second].inputs) todo.push_back(input_node(in));
    }
  };
  std::unordered_set<std::string_view> serving_nodes, restore_nodes;
  std::vector<std::string> asset_tensors;
  std::vector<std::string> root_names;  // owns what `roots` views
  if (meta_graph != nullptr) {
    root_names = meta_graph->serving_roots();
    std::vector<std::string_view> roots(root_names.begin(), root_names.end());
    ancestors(std::move(roots), &serving_nodes);
    if (meta_graph->saver && !meta_graph->saver->restore_op_name.empty()) {
      ancestors({input_node(meta_graph->saver->restore_op_name)}, &restore_nodes);
    }
    for (const auto& a : meta_graph->assets) {
      asset_tensors.push_back(a.tensor_name.find(':') == std::string::npos ? a.tensor_name + ":0" : a.tensor_name);
    }
  }
  std::vector<std::string> serving_roots, restore_roots;
  for (const auto& node : graph_nodes) {
    const bool serving = meta_graph == nullptr || serving_nodes.count(node.name);
    if (!serving && !restore_nodes.count(node.name)) continue;
    node_functions(node, lib, serving ? &serving_roots : &restore_roots);
  }
  const auto serving_fns = reachable_functions(std::move(serving_roots), lib, function_nodes);
  const auto restore_fns = reachable_functions(std::move(restore_roots), lib, function_nodes);
  AssetFlow flow(graph_nodes, lib, function_nodes, asset_tensors);
  for (const auto& node : graph_nodes) {
    const bool serving = meta_graph == nullptr || serving_nodes.count(node.name);
    if (!serving && !restore_nodes.count(node.name)) continue;
    if (lib.by_name.count(std::string(node.op))) continue;
    if (!serving && is_restore_op(node.op)) continue;
    ++out.policy_counts[policy_key(node, -1, flow)];
  }
  for (size_t i = 0; i < lib.functions.size(); ++i) {
    const auto& fn = lib.functions[i];
    const bool serving = meta_graph == nullptr || serving_fns.count(fn.name);
    if (!serving && !restore_fns.count(fn.name)) continue;
    for (const auto& node : function_nodes[i]) {
      if (lib.by_name.count(std::string(node.op))) continue;
      if (!serving && is_restore_op(node.op)) continue;
      ++out.policy_counts[policy_key(node, static_cast<int>(i), flow)];
    }
  }

  // saved_model_cli's walk (meta_graph.ops_used_by_graph_def).
  std::unordered_set<std::string> used;
  std::vector<size_t> to_process;
  auto mark = [&](std::string_view op) {
    std::string name(op);
    if (used.count(name)) return;
    auto fn = lib.by_name.find(name);
    if (fn != lib.by_name.end()) to_process.push_back(fn->second);
    used.insert(name);
    out.cli_marks.push_back(std::move(name));
  };
  auto process = [&](const NodeView& node) {
    mark(node.op);
    if (is_call_op(node.op)) {
      const std::string_view* f_attr = node.attr("f");
      mark(f_attr ? attr_func_name(*f_attr) : std::string());
    }
  };
  for (const auto& node : graph_nodes) process(node);
  while (!to_process.empty()) {
    const size_t fn = to_process.back();
    to_process.pop_back();
    for (const auto& node : function_nodes[fn]) process(node);
  }
  return out;
}

VariablesSummary summarize_variables(const std::string& export_dir) {
  VariablesSummary out;
  const std::string dir = export_dir + "/variables";
  const std::string index_path = dir + "/variables.index";
  if (!is_file(index_path)) {
    if (is_file(dir + "/variables")) out.format = "v1";
    return out;
  }
  out.format = "v2";
  const BundleIndex index = BundleIndex::parse(MappedFile::read(index_path), index_path);
  out.num_shards = index.header().num_shards;
  for (const BundleEntry& e : index.entries()) {
    if (e.key == "_CHECKPOINTABLE_OBJECT_GRAPH") {
      out.has_object_graph = true;
      continue;
    }
    if (!e.is_slice_key()) ++out.count;
    if (e.partitioned()) continue;  // its slices carry the data
    // Sizes are read from the file: a corrupt index can hold negative ones or ones whose sum overflows.
    if (e.size < 0 || __builtin_add_overflow(out.total_bytes, e.size, &out.total_bytes)) {
      throw Error(kDataLoss, "TensorBundle index " + index_path + " is corrupt: entry " + quote_key(e.key) +
                                 " has an impossible size (" + std::to_string(e.size) + " bytes)");
    }
  }
  // The shard count is read from the file too (up to 2^31 - 1): stop after kMaxMissingShards
  // missing files, so that a corrupt count costs at most that many more lookups than there are files.
  constexpr size_t kMaxMissingShards = 100;
  for (int32_t i = 0; i < out.num_shards && out.missing_shards.size() < kMaxMissingShards; ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "variables.data-%05d-of-%05d", i, out.num_shards);
    if (!is_file(dir + "/" + name)) out.missing_shards.push_back(name);
  }
  return out;
}

std::optional<Fingerprint> read_fingerprint(const std::string& export_dir) {
  const std::string path = export_dir + "/fingerprint.pb";
  if (!is_file(path)) return std::nullopt;
  const std::string bytes = MappedFile::read(path);
  return naming_file(path, [&] {
    Fingerprint fp;
    Reader r(bytes, "FingerprintDef");
    Field f;
    while (r.next(&f)) {
      const bool varint = f.type == wire::kVarint;  // the hashes are uint64: another wire type is an unknown field
      switch (f.number) {
        case pb::FingerprintDef::kSavedModelChecksum: if (varint) fp.saved_model_checksum = f.value; break;
        case pb::FingerprintDef::kGraphDefProgramHash: if (varint) fp.graph_def_program_hash = f.value; break;
        case pb::FingerprintDef::kSignatureDefHash: if (varint) fp.signature_def_hash = f.value; break;
        case pb::FingerprintDef::kSavedObjectGraphHash: if (varint) fp.saved_object_graph_hash = f.value; break;
        case pb::FingerprintDef::kCheckpointHash: if (varint) fp.checkpoint_hash = f.value; break;
        case pb::FingerprintDef::kVersion:
          if (f.type == wire::kLengthDelimited) {
            Reader v(f.bytes, "VersionDef");
            Field g;
            while (v.next(&g)) {
              if (g.number == pb::VersionDef::kProducer && g.type == wire::kVarint) {
                fp.producer = static_cast<int32_t>(g.value);
              }
            }
          }
          break;
        case pb::FingerprintDef::kUuid:
          if (f.type == wire::kLengthDelimited) fp.uuid = std::string(f.bytes);
          break;
        default: break;
      }
    }
    return fp;
  });
}

namespace {

// A TensorSpecProto, or the same fields of a BoundedTensorSpecProto.
static_assert(pb::BoundedTensorSpecProto::kName == pb::TensorSpecProto::kName &&
              pb::BoundedTensorSpecProto::kShape == pb::TensorSpecProto::kShape &&
              pb::BoundedTensorSpecProto::kDtype == pb::TensorSpecProto::kDtype);

void parse_spec(std::string_view bytes, StructuredValue* v) {
  wire::MergedMessage shape;
  Reader r(bytes, "TensorSpecProto");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::TensorSpecProto::kName && f.type == wire::kLengthDelimited) v->string = std::string(f.bytes);
    if (f.number == pb::TensorSpecProto::kShape && f.type == wire::kLengthDelimited) shape.add(f.bytes);
    if (f.number == pb::TensorSpecProto::kDtype && f.type == wire::kVarint) v->dtype = static_cast<int32_t>(f.value);
  }
  v->shape = parse_tensor_shape(shape.bytes());
}

// The wire type of each member of StructuredValue's `kind` oneof.
int structured_member_wire_type(uint32_t number) {
  namespace sv = pb::StructuredValue;
  switch (number) {
    case sv::kFloat64Value: return wire::kFixed64;
    case sv::kInt64Value:
    case sv::kBoolValue:
    case sv::kTensorDtypeValue: return wire::kVarint;
    default: return wire::kLengthDelimited;
  }
}

StructuredValue parse_structured(std::string_view bytes, int depth);

// The entries of a DictValue (a map: of entries with one key the last) or the
// PairValues of a NamedTupleValue (repeated: every one), into v->keys / v->items.
void parse_pairs(std::string_view bytes, bool named_tuple, int depth, StructuredValue* v) {
  Reader l(bytes, named_tuple ? "NamedTupleValue" : "DictValue");
  Field g;
  while (l.next(&g)) {
    if (g.type != wire::kLengthDelimited) continue;
    if (named_tuple && g.number == pb::NamedTupleValue::kName) {
      v->string = std::string(g.bytes);
      continue;
    }
    if (g.number != (named_tuple ? pb::NamedTupleValue::kValues : pb::DictValue::kFields)) continue;
    // DictValue.fields map entries and NamedTupleValue.values PairValues: key = 1, value = 2.
    static_assert(pb::PairValue::kKey == pb::MapEntry::kKey && pb::PairValue::kValue == pb::MapEntry::kValue);
    std::string key;
    wire::MergedMessage value;
    Reader e(g.bytes, named_tuple ? "PairValue" : "DictValue entry");
    Field h;
    while (e.next(&h)) {
      if (h.type != wire::kLengthDelimited) continue;
      if (h.number == pb::PairValue::kKey) key = std::string(h.bytes);
      if (h.number == pb::PairValue::kValue) value.add(h.bytes);
    }
    StructuredValue item = parse_structured(value.bytes(), depth + 1);
    auto it = named_tuple ? v->keys.end() : std::find(v->keys.begin(), v->keys.end(), key);
    if (it != v->keys.end()) {
      v->items[static_cast<size_t>(it - v->keys.begin())] = std::move(item);
    } else {
      v->keys.push_back(std::move(key));
      v->items.push_back(std::move(item));
    }
  }
}

StructuredValue parse_structured(std::string_view bytes, int depth) {
  if (depth > 100) throw Error(kDataLoss, "StructuredValue is malformed: nested too deeply");
  namespace sv = pb::StructuredValue;
  // The member of the `kind` oneof that came last: its scalar, or its message
  // occurrences since it was set, merged.
  uint32_t kind = 0;
  Field scalar;
  wire::MergedMessage message;
  {
    Reader r(bytes, "StructuredValue");
    Field f;
    while (r.next(&f)) {
      if (!sv::in_oneof_kind(f.number) || f.type != structured_member_wire_type(f.number)) continue;
      if (f.number != kind) message.clear();
      kind = f.number;
      if (f.type == wire::kLengthDelimited && f.number != sv::kStringValue) {
        message.add(f.bytes);
      } else {
        scalar = f;
      }
    }
  }
  StructuredValue v;
  v.shape.unknown_rank = false;
  const std::string_view m = message.bytes();
  switch (kind) {
    case sv::kNoneValue: v.kind = StructuredValue::kNone; break;
    case sv::kFloat64Value: {
      v.kind = StructuredValue::kFloat64;
      double d;
      static_assert(sizeof(d) == sizeof(scalar.value));
      std::memcpy(&d, &scalar.value, sizeof(d));
      v.float64 = d;
      break;
    }
    case sv::kInt64Value:
      v.kind = StructuredValue::kInt64;
      v.int64 = static_cast<int64_t>(scalar.value >> 1) ^ -static_cast<int64_t>(scalar.value & 1);  // zigzag
      break;
    case sv::kStringValue: v.kind = StructuredValue::kString; v.string = std::string(scalar.bytes); break;
    case sv::kBoolValue: v.kind = StructuredValue::kBool; v.boolean = scalar.value != 0; break;
    case sv::kTensorShapeValue: v.kind = StructuredValue::kTensorShape; v.shape = parse_tensor_shape(m); break;
    case sv::kTensorDtypeValue: v.kind = StructuredValue::kDType; v.dtype = static_cast<int32_t>(scalar.value); break;
    case sv::kTensorSpecValue: v.kind = StructuredValue::kTensorSpec; parse_spec(m, &v); break;
    case sv::kBoundedTensorSpecValue: v.kind = StructuredValue::kBoundedTensorSpec; parse_spec(m, &v); break;
    case sv::kTypeSpecValue: {
      v.kind = StructuredValue::kTypeSpec;
      namespace ts = pb::TypeSpecProto;
      wire::MergedMessage state;
      Reader t(m, "TypeSpecProto");
      Field g;
      while (t.next(&g)) {
        if (g.number == ts::kTypeSpecClass && g.type == wire::kVarint) v.type_spec_class = static_cast<int32_t>(g.value);
        if (g.number == ts::kTypeState && g.type == wire::kLengthDelimited) state.add(g.bytes);
        if (g.number == ts::kTypeSpecClassName && g.type == wire::kLengthDelimited) v.string = std::string(g.bytes);
      }
      if (state.present()) v.items = {parse_structured(state.bytes(), depth + 1)};
      break;
    }
    case sv::kListValue:
    case sv::kTupleValue: {
      static_assert(pb::ListValue::kValues == pb::TupleValue::kValues);
      v.kind = kind == sv::kListValue ? StructuredValue::kList : StructuredValue::kTuple;
      Reader l(m, "ListValue");
      Field g;
      while (l.next(&g)) {
        if (g.number == pb::ListValue::kValues && g.type == wire::kLengthDelimited) {
          v.items.push_back(parse_structured(g.bytes, depth + 1));
        }
      }
      break;
    }
    case sv::kDictValue:
    case sv::kNamedTupleValue:
      v.kind = kind == sv::kDictValue ? StructuredValue::kDict : StructuredValue::kNamedTuple;
      parse_pairs(m, kind == sv::kNamedTupleValue, depth, &v);
      break;
    case sv::kTensorValue: v.kind = StructuredValue::kTensor; break;
    case sv::kNumpyValue: v.kind = StructuredValue::kNumpy; break;
    default: break;
  }
  return v;
}

}  // namespace

bool StructuredValue::decodable() const {
  if (kind == kUnset) return false;
  for (const auto& item : items) {
    if (!item.decodable()) return false;
  }
  return true;
}

StructuredValue parse_structured_value(std::string_view bytes) { return parse_structured(bytes, 0); }

std::string clean_function_name(std::string_view name) {
  // re.search(r"^__inference_(.*)_\d+$", name).group(1), else the name.
  constexpr std::string_view kPrefix = "__inference_";
  if (name.size() < kPrefix.size() || name.substr(0, kPrefix.size()) != kPrefix) return std::string(name);
  const std::string_view rest = name.substr(kPrefix.size());
  const size_t us = rest.rfind('_');
  if (us == std::string_view::npos || us + 1 >= rest.size()) return std::string(name);
  for (size_t i = us + 1; i < rest.size(); ++i) {
    if (rest[i] < '0' || rest[i] > '9') return std::string(name);
  }
  if (rest.substr(0, us).find('\n') != std::string_view::npos) return std::string(name);
  return std::string(rest.substr(0, us));
}

FunctionListing list_concrete_functions(const SavedModelContents& contents) {
  FunctionListing out;
  for (const auto& e : contents.meta_graphs) out.present |= e.meta_graph.has_object_graph;
  if (!out.present) return out;
  auto fail = [&](const char* why, std::string detail) {
    out.failure = why;
    out.failure_detail = std::move(detail);
    out.functions.clear();
    return out;
  };
  if (contents.meta_graphs.size() != 1) {
    return fail("unknown", "the SavedModel has several MetaGraphDefs; tf.saved_model.load needs tags= to choose one");
  }
  const MetaGraph& mg = contents.meta_graphs[0].meta_graph;

  // The object graph: nodes and the concrete functions' signatures.
  std::vector<std::string_view> nodes;
  // name -> SavedConcreteFunction
  SavedObjectGraphParts object_graph = split_saved_object_graph(mg.object_graph_def);
  nodes = std::move(object_graph.nodes);
  const auto& concrete = object_graph.concrete_functions;
  auto signatures_of = [&](const std::string& name, StructuredValue* input, bool* has_input, bool* decodable) {
    *has_input = false;
    *decodable = true;
    auto it = concrete.find(name);
    if (it == concrete.end()) return;
    wire::MergedMessage in_bytes, output_bytes;
    Reader r(it->second.bytes(), "SavedConcreteFunction");
    Field f;
    while (r.next(&f)) {
      if (f.type != wire::kLengthDelimited) continue;
      if (f.number == pb::SavedConcreteFunction::kCanonicalizedInputSignature) in_bytes.add(f.bytes);
      if (f.number == pb::SavedConcreteFunction::kOutputSignature) output_bytes.add(f.bytes);
    }
    StructuredValue in = parse_structured_value(in_bytes.bytes());  // absent: unset, as TensorFlow's decoder sees it
    const StructuredValue output = parse_structured_value(output_bytes.bytes());
    *decodable = in.decodable() && output.decodable();
    *has_input = true;
    *input = std::move(in);
  };

  // The function library, imported in the loader's order: failures and names.
  const Library lib = parse_library(mg.graph_def);
  std::vector<std::string> order;
  if (!sort_functions(lib, &order)) {
    return fail("unknown", "there is a cyclic dependency between functions in the library");
  }
  std::unordered_map<std::string, std::string> load_names;
  uint64_t uid = 2;  // 0: saved_model_cli's tf.Graph(); 1: the loader's shared-name suffix
  for (const std::string& name : order) {
    const LibraryFunction& fn = lib.functions[lib.by_name.at(name)];
    StructuredValue unused;
    bool has_sig = false, decodable = true;
    signatures_of(name, &unused, &has_sig, &decodable);
    if (!decodable) return fail("unknown", "the saved signature of " + name + " cannot be decoded");
    uid += 1;  // the FuncGraph
    uid += static_cast<uint64_t>(fn.input_args);
    for (std::string_view bytes : fn.nodes) {
      const NodeView node = parse_node(bytes, true);
      auto called = lib.by_name.find(std::string(node.op));
      if (called != lib.by_name.end()) {
        uid += static_cast<uint64_t>(lib.functions[called->second].output_args);
        continue;
      }
      const RegisteredOp* op = find_registered_op(node.op);
      if (op == nullptr) {
        return fail("custom_ops", "Op type not registered '" + std::string(node.op) + "' (function " + name + ")");
      }
      for (std::string_view attr : split_commas(op->required_attrs)) {
        if (!attr.empty() && node.attr(attr) == nullptr) {
          return fail("unknown", "NodeDef missing attr '" + std::string(attr) + "' from Op<name=" +
                                     std::string(node.op) + "> in function " + name);
        }
      }
      int64_t n = 0;
      std::string missing;
      if (!count_outputs(*op, node, &n, &missing)) {
        return fail("unknown", "NodeDef missing attr '" + missing + "' from Op<name=" + std::string(node.op) + ">");
      }
      uid += static_cast<uint64_t>(n);
    }
    load_names[name] = "__inference_" + clean_function_name(name) + "_" + std::to_string(uid);
    uid += 1;
  }

  // Objects: slot variables need an optimizer the generic loader cannot revive.
  for (std::string_view node : nodes) {
    Reader r(node, "SavedObject");
    Field f;
    while (r.next(&f)) {
      if (f.number == pb::SavedObject::kSlotVariables && f.type == wire::kLengthDelimited) {
        return fail("unknown", "'_UserObject' object has no attribute 'add_slot' (optimizer slot variables)");
      }
    }
  }
  if (nodes.empty()) return fail("unknown", "the object graph has no root object");

  // The root object's children that are functions.
  std::vector<std::pair<std::string, int64_t>> children;
  {
    Reader r(nodes[0], "SavedObject");
    Field f;
    while (r.next(&f)) {
      if (f.number != pb::SavedObject::kChildren || f.type != wire::kLengthDelimited) continue;
      const ObjectReference child = parse_object_reference(f.bytes);
      const int64_t id = child.node_id;
      const std::string local(child.local_name);
      if (id < 0 || static_cast<size_t>(id) >= nodes.size()) {
        return fail("unknown", "the root object names node " + std::to_string(id) + ", which does not exist");
      }
      children.emplace_back(std::move(local), id);
    }
  }
  for (const auto& [local, id] : children) {
    RootFunction rf;
    rf.name = local;
    // The member of SavedObject's `kind` oneof that came last, merged since it was set.
    uint32_t kind = 0;
    wire::MergedMessage kind_message;
    {
      Reader r(nodes[static_cast<size_t>(id)], "SavedObject");
      Field f;
      while (r.next(&f)) {
        if (f.type != wire::kLengthDelimited || !pb::SavedObject::in_oneof_kind(f.number)) continue;
        if (f.number != kind) kind_message.clear();
        kind = f.number;
        kind_message.add(f.bytes);
      }
    }
    if (kind != pb::SavedObject::kFunction && kind != pb::SavedObject::kBareConcreteFunction) continue;
    rf.bare = kind == pb::SavedObject::kBareConcreteFunction;
    std::vector<std::string> names;  // SavedFunction.concrete_functions, or the one concrete_function_name
    {
      Reader k(kind_message.bytes(), rf.bare ? "SavedBareConcreteFunction" : "SavedFunction");
      static_assert(pb::SavedFunction::kConcreteFunctions == pb::SavedBareConcreteFunction::kConcreteFunctionName);
      Field g;
      while (k.next(&g)) {
        if (g.type != wire::kLengthDelimited) continue;
        if (g.number == pb::SavedFunction::kConcreteFunctions) {
          if (rf.bare) names.clear();  // a string field: the last occurrence
          names.emplace_back(g.bytes);
        }
        if (rf.bare && g.number == pb::SavedBareConcreteFunction::kArgumentKeywords) {
          rf.argument_keywords.emplace_back(g.bytes);
        }
      }
    }
    for (const auto& name : names) {
      auto load_name = load_names.find(name);
      if (load_name == load_names.end()) {
        return fail("unknown", "concrete function " + name + " is not in the function library");
      }
      ConcreteFunctionEntry cf;
      cf.name = name;
      cf.load_name = load_name->second;
      bool decodable = true;
      signatures_of(name, &cf.input_signature, &cf.has_signature, &decodable);
      rf.concrete_functions.push_back(std::move(cf));
    }
    out.functions.push_back(std::move(rf));
  }
  return out;
}

}  // namespace tfbundle
