#include "tf2_restore.h"

#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include "graph_view.h"
#include "proto_fields.h"
#include "status.h"
#include "wire.h"

namespace tfbundle {
namespace {

using wire::Field;
using wire::Reader;

int type_attr(const NodeView& node, std::string_view key) {
  const std::string_view* a = node.attr(key);
  if (a == nullptr) return 0;
  const AttrOneof v = attr_oneof(*a);
  return v.number == pb::AttrValue::kType ? static_cast<int>(v.value) : 0;
}

bool is_sparse_access(std::string_view op) {
  auto starts = [&](std::string_view p) { return op.substr(0, p.size()) == p; };
  return starts("ResourceGather") || starts("ResourceScatter") || starts("ResourceSparseApply");
}

// ------------------------------------------------------------------- the object graph ---

struct SavedObjectGraphView {
  struct Node {
    std::vector<std::pair<int64_t, std::string_view>> children;  // (node id, local name)
    std::string_view variable_name;                             // SavedVariable.name, when a variable
    bool variable = false;
  };
  std::vector<Node> nodes;
  std::unordered_map<std::string, std::vector<int64_t>> bound_inputs;  // concrete function -> object ids
  std::vector<std::shared_ptr<const std::string>> storage;            // merged messages the views point into
};

SavedObjectGraphView parse_saved_object_graph(std::string_view bytes) {
  SavedObjectGraphView out;
  const SavedObjectGraphParts parts = split_saved_object_graph(bytes);
  for (std::string_view object : parts.nodes) {
    SavedObjectGraphView::Node node;
    wire::MergedMessage variable;
    Reader n(object, "SavedObject");
    Field g;
    uint32_t kind = 0;
    while (n.next(&g)) {
      if (g.type != wire::kLengthDelimited) continue;
      if (g.number == pb::SavedObject::kChildren) {
        const ObjectReference child = parse_object_reference(g.bytes);
        node.children.emplace_back(child.node_id, child.local_name);
      } else if (pb::SavedObject::in_oneof_kind(g.number)) {
        if (g.number != kind) variable.clear();
        kind = g.number;
        if (kind == pb::SavedObject::kVariable) variable.add(g.bytes);
      }
    }
    if (kind == pb::SavedObject::kVariable) {
      node.variable = true;
      if (variable.storage()) out.storage.push_back(variable.storage());
      Reader v(variable.bytes(), "SavedVariable");
      Field h;
      while (v.next(&h)) {
        if (h.number == pb::SavedVariable::kName && h.type == wire::kLengthDelimited) node.variable_name = h.bytes;
      }
    }
    out.nodes.push_back(std::move(node));
  }
  for (const auto& [name, value] : parts.concrete_functions) {
    std::vector<int64_t> ids;
    Reader c(value.bytes(), "SavedConcreteFunction");
    Field g;
    while (c.next(&g)) {
      if (g.number == pb::SavedConcreteFunction::kBoundInputs) {
        wire::for_each_varint(g, [&](uint64_t v) { ids.push_back(static_cast<int32_t>(v)); });
      }
    }
    out.bound_inputs[name] = std::move(ids);
  }
  return out;
}

// Saved object id -> checkpoint object id, matched from the roots by child names.
std::unordered_map<int64_t, int64_t> match_objects(const SavedObjectGraphView& saved,
                                                   const std::vector<ObjectGraphNode>& checkpoint) {
  std::unordered_map<int64_t, int64_t> out;
  if (saved.nodes.empty() || checkpoint.empty()) return out;
  std::vector<std::pair<int64_t, int64_t>> todo{{0, 0}};
  out[0] = 0;
  while (!todo.empty()) {
    const auto [s, c] = todo.back();
    todo.pop_back();
    for (const auto& [child, name] : saved.nodes[static_cast<size_t>(s)].children) {
      if (child < 0 || child >= static_cast<int64_t>(saved.nodes.size()) || out.count(child)) continue;
      for (const auto& cc : checkpoint[static_cast<size_t>(c)].children) {
        if (cc.local_name != name) continue;
        if (cc.node_id < 0 || cc.node_id >= static_cast<int32_t>(checkpoint.size())) break;
        out[child] = cc.node_id;
        todo.emplace_back(child, cc.node_id);
        break;
      }
    }
  }
  return out;
}

// --------------------------------------------------------------- the restore function ---

struct RestoreFunction {
  bool plain = false;
  std::vector<std::pair<size_t, std::pair<std::string, std::string>>> assigned;  // argument -> (key, slice)
};

RestoreFunction read_restore_function(const std::vector<NodeView>& body, const LibraryFunction& fn) {
  RestoreFunction out;
  std::unordered_map<std::string_view, size_t> by_name, args;
  for (size_t i = 0; i < body.size(); ++i) by_name.emplace(body[i].name, i);
  for (size_t i = 0; i < fn.input_arg_names.size(); ++i) args.emplace(fn.input_arg_names[i], i);
  bool plain = true;
  std::unordered_map<std::string_view, std::pair<std::vector<std::string_view>, std::vector<std::string_view>>> specs;
  for (const NodeView& node : body) {
    if (node.op == "RestoreV2") {
      const auto inputs = data_inputs(node);
      std::optional<std::vector<std::string_view>> names, slices;
      if (inputs.size() == 3) {
        auto n = by_name.find(parse_input(inputs[1]).node);
        auto s = by_name.find(parse_input(inputs[2]).node);
        if (n != by_name.end()) names = const_strings(body[n->second]);
        if (s != by_name.end()) slices = const_strings(body[s->second]);
      }
      if (!names || !slices || names->size() != slices->size()) {
        plain = false;
        continue;
      }
      specs[node.name] = {std::move(*names), std::move(*slices)};
    } else if (node.op != "Identity" && node.op != "AssignVariableOp" && node.op != "NoOp" && node.op != "Const") {
      plain = false;
    }
  }
  for (const NodeView& node : body) {
    if (node.op != "AssignVariableOp") continue;
    const auto inputs = data_inputs(node);
    auto arg = inputs.size() == 2 && inputs[0].find(':') == std::string_view::npos ? args.find(inputs[0]) : args.end();
    if (arg == args.end()) {
      plain = false;
      continue;
    }
    InputRef ref = parse_input(inputs[1]);
    for (int hops = 0; hops < 64; ++hops) {  // through Identity nodes
      auto it = by_name.find(ref.node);
      if (it == by_name.end() || body[it->second].op != "Identity" || ref.output != "output" || ref.index != 0) break;
      const auto in = data_inputs(body[it->second]);
      if (in.empty()) break;
      ref = parse_input(in[0]);
    }
    auto spec = specs.find(ref.node);
    if (spec == specs.end() || ref.output != "tensors" || ref.index >= spec->second.first.size()) {
      plain = false;
      continue;
    }
    const size_t i = ref.index;
    out.assigned.push_back(
        {arg->second, {std::string(spec->second.first[i]), std::string(spec->second.second[i])}});
  }
  out.plain = plain;
  return out;
}

// Handles that some function reads or updates sparsely, followed through calls to the graph.
std::set<std::string_view> sparse_handles(const std::vector<NodeView>& graph, const Library& lib,
                                          const std::vector<std::vector<NodeView>>& bodies) {
  std::set<std::pair<size_t, size_t>> sparse;  // (function, argument)
  std::vector<std::unordered_map<std::string_view, size_t>> args(lib.functions.size());
  for (size_t f = 0; f < lib.functions.size(); ++f) {
    const auto& names = lib.functions[f].input_arg_names;
    for (size_t a = 0; a < names.size(); ++a) args[f].emplace(names[a], a);
    for (const NodeView& node : bodies[f]) {
      const auto inputs = data_inputs(node);
      if (!is_sparse_access(node.op) || inputs.empty()) continue;
      auto a = args[f].find(inputs[0]);
      if (a != args[f].end()) sparse.emplace(f, a->second);
    }
  }
  auto callee = [&](const NodeView& node) -> int64_t {
    std::string name(node.op);
    if (is_call_op(node.op)) {
      const std::string_view* a = node.attr("f");
      name = a ? attr_func_name(*a) : std::string();
    }
    auto it = lib.by_name.find(name);
    return it == lib.by_name.end() ? -1 : static_cast<int64_t>(it->second);
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t f = 0; f < lib.functions.size(); ++f) {
      for (const NodeView& node : bodies[f]) {
        const int64_t c = callee(node);
        if (c < 0) continue;
        const auto inputs = data_inputs(node);
        for (size_t k = 0; k < inputs.size(); ++k) {
          auto a = args[f].find(inputs[k]);
          if (a != args[f].end() && sparse.count({static_cast<size_t>(c), k}) && sparse.emplace(f, a->second).second) {
            changed = true;
          }
        }
      }
    }
  }
  std::set<std::string_view> out;
  for (const NodeView& node : graph) {
    const auto inputs = data_inputs(node);
    if (is_sparse_access(node.op) && !inputs.empty()) out.insert(input_node(inputs[0]));
    const int64_t c = callee(node);
    if (c < 0) continue;
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (sparse.count({static_cast<size_t>(c), k})) out.insert(input_node(inputs[k]));
    }
  }
  return out;
}

}  // namespace

Tf2RestorePlan plan_tf2_restore(const MetaGraph& meta_graph, const CheckpointGraphSource& checkpoint_graph) {
  Tf2RestorePlan plan;
  if (!meta_graph.saver || meta_graph.saver->restore_op_name.empty()) return plan;
  std::vector<NodeView> graph;
  {
    Reader r(meta_graph.graph_def, "GraphDef");
    Field f;
    while (r.next(&f)) {
      if (f.number == pb::GraphDef::kNode && f.type == wire::kLengthDelimited) graph.push_back(parse_node(f.bytes, true));
    }
  }
  std::unordered_map<std::string_view, size_t> by_name;
  for (size_t i = 0; i < graph.size(); ++i) by_name.emplace(graph[i].name, i);
  auto restore_node = by_name.find(input_node(meta_graph.saver->restore_op_name));
  if (restore_node == by_name.end() || !is_call_op(graph[restore_node->second].op)) return plan;
  plan.tf2 = true;
  const NodeView& restore_call = graph[restore_node->second];
  const std::string_view save_call = input_node(meta_graph.saver->save_tensor_name);

  const Library lib = parse_library(meta_graph.graph_def);
  auto handle_node = [&](std::string_view input) -> const NodeView* {
    auto it = by_name.find(input_node(input));
    if (it == by_name.end() || graph[it->second].op != "VarHandleOp" || input.find(':') != input.rfind(':')) {
      return nullptr;
    }
    const size_t colon = input.find(':');
    if (colon != std::string_view::npos && input.substr(colon + 1) != "0") return nullptr;
    return &graph[it->second];
  };
  auto source = [&](const NodeView& handle, std::string what, std::string key, std::string slice) {
    VariableSource v;
    v.handle = std::string(handle.name);
    v.what = what.empty() ? v.handle : std::move(what);
    v.dtype = type_attr(handle, "dtype");
    v.key = std::move(key);
    v.slice = std::move(slice);
    return v;
  };

  // What the restore function assigns.
  std::set<std::string_view> restored;
  {
    const std::string_view* f = restore_call.attr("f");
    auto fn = f ? lib.by_name.find(attr_func_name(*f)) : lib.by_name.end();
    if (fn != lib.by_name.end()) {
      plan.restore_function = lib.functions[fn->second].name;
      std::vector<NodeView> body;
      for (std::string_view bytes : lib.functions[fn->second].nodes) body.push_back(parse_node(bytes, true));
      const RestoreFunction rf = read_restore_function(body, lib.functions[fn->second]);
      plan.plain = rf.plain;
      const auto call_inputs = data_inputs(restore_call);
      for (const auto& [arg, key_slice] : rf.assigned) {
        const NodeView* h = arg < call_inputs.size() ? handle_node(call_inputs[arg]) : nullptr;
        if (h == nullptr) {
          plan.plain = false;
          continue;
        }
        restored.insert(h->name);
        plan.from_restore_function.push_back(source(*h, "", key_slice.first, key_slice.second));
      }
    }
  }

  // The handles of the part of the graph TensorFlow runs (what the signatures and the init op
  // depend on: TF2 graphs also hold a dangling "<variable>/Read/ReadVariableOp" per variable),
  // and those that part assigns itself.
  std::vector<const NodeView*> used;
  std::set<std::string_view> seen, assigned;
  {
    const std::vector<std::string> roots = meta_graph.serving_roots();
    std::vector<std::string_view> todo(roots.begin(), roots.end());
    std::set<std::string_view> visited;
    while (!todo.empty()) {
      const std::string_view name = todo.back();
      todo.pop_back();
      auto it = by_name.find(name);
      if (it == by_name.end() || !visited.insert(name).second) continue;
      const NodeView& node = graph[it->second];
      if (&node == &restore_call || node.name == save_call) continue;
      const auto inputs = data_inputs(node);
      if (node.op == "AssignVariableOp" && !inputs.empty()) assigned.insert(input_node(inputs[0]));
      for (std::string_view in : inputs) {
        const NodeView* h = handle_node(in);
        if (h != nullptr && seen.insert(h->name).second) used.push_back(h);
      }
      for (std::string_view in : node.inputs) todo.push_back(input_node(in));
    }
  }
  for (VariableSource& v : plan.from_restore_function) v.used = seen.count(v.handle) > 0;
  std::vector<const NodeView*> left;
  for (const NodeView* h : used) {
    if (!restored.count(h->name) && !assigned.count(h->name)) left.push_back(h);
  }
  if (left.empty()) return plan;

  // The rest through the object graph: the captured inputs of graph-level calls of concrete
  // functions are their last inputs, in the order of bound_inputs.
  const SavedObjectGraphView saved = parse_saved_object_graph(meta_graph.object_graph_def);
  std::unordered_map<std::string_view, int64_t> object_of;
  for (const NodeView& node : graph) {
    if (!is_call_op(node.op)) continue;
    const std::string_view* f = node.attr("f");
    auto bound = f ? saved.bound_inputs.find(attr_func_name(*f)) : saved.bound_inputs.end();
    if (bound == saved.bound_inputs.end()) continue;
    const auto inputs = data_inputs(node);
    const auto& ids = bound->second;
    if (ids.size() > inputs.size()) continue;
    for (size_t k = 0; k < ids.size(); ++k) {
      const NodeView* h = handle_node(inputs[inputs.size() - ids.size() + k]);
      if (h != nullptr) object_of.emplace(h->name, ids[k]);
    }
  }
  const std::vector<ObjectGraphNode> checkpoint = checkpoint_graph();
  const auto matched = match_objects(saved, checkpoint);
  for (const NodeView* h : left) {
    std::string what, key;
    auto obj = object_of.find(h->name);
    if (obj != object_of.end() && obj->second >= 0 && obj->second < static_cast<int64_t>(saved.nodes.size())) {
      const auto& node = saved.nodes[static_cast<size_t>(obj->second)];
      if (node.variable) what = std::string(node.variable_name);
      auto c = matched.find(obj->second);
      if (node.variable && c != matched.end()) {
        for (const auto& a : checkpoint[static_cast<size_t>(c->second)].attributes) {
          if (a.name == "VARIABLE_VALUE") key = a.checkpoint_key;
        }
      }
    }
    VariableSource v = source(*h, what, key, "");
    v.used = true;
    (key.empty() ? plan.unrestorable : plan.from_object_graph).push_back(std::move(v));
  }
  return plan;
}

void mark_sparse_variables(const MetaGraph& meta_graph, std::vector<VariableSource>* variables) {
  std::vector<NodeView> graph;
  Reader r(meta_graph.graph_def, "GraphDef");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::GraphDef::kNode && f.type == wire::kLengthDelimited) graph.push_back(parse_node(f.bytes, true));
  }
  const Library lib = parse_library(meta_graph.graph_def);
  std::vector<std::vector<NodeView>> bodies(lib.functions.size());
  for (size_t i = 0; i < lib.functions.size(); ++i) {
    for (std::string_view bytes : lib.functions[i].nodes) bodies[i].push_back(parse_node(bytes, true));
  }
  const std::set<std::string_view> sparse = sparse_handles(graph, lib, bodies);
  for (VariableSource& v : *variables) v.sparse = sparse.count(v.handle) > 0;
}

}  // namespace tfbundle
