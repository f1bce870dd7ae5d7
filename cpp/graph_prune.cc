#include "graph_prune.h"

#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "graph_view.h"
#include "proto_fields.h"
#include "wire.h"

namespace tfbundle {
namespace {

using wire::Field;
using wire::Reader;

// The string `api_implements` / `_api_implements` attr of a FunctionDef ("" without one).
std::string api_implements(std::string_view function_def) {
  std::string out;
  Reader r(function_def, "FunctionDef");
  Field f;
  while (r.next(&f)) {
    if (f.number != pb::FunctionDef::kAttr || f.type != wire::kLengthDelimited) continue;
    std::string_view key, value;
    Reader e(f.bytes, "FunctionDef.AttrEntry");
    Field g;
    while (e.next(&g)) {
      if (g.type != wire::kLengthDelimited) continue;
      if (g.number == pb::FunctionDef::AttrEntry::kKey) key = g.bytes;
      if (g.number == pb::FunctionDef::AttrEntry::kValue) value = g.bytes;
    }
    if (key != "api_implements" && key != "_api_implements") continue;
    const AttrOneof v = attr_oneof(value);
    if (v.number == pb::AttrValue::kS) out = std::string(v.bytes);
  }
  return out;
}

// GradientDef: (function_name, gradient_func).
std::pair<std::string_view, std::string_view> gradient_def(std::string_view bytes) {
  std::pair<std::string_view, std::string_view> out;
  Reader r(bytes, "GradientDef");
  Field f;
  while (r.next(&f)) {
    if (f.type != wire::kLengthDelimited) continue;
    if (f.number == pb::GradientDef::kFunctionName) out.first = f.bytes;
    if (f.number == pb::GradientDef::kGradientFunc) out.second = f.bytes;
  }
  return out;
}

// True when the node's `_class` attr (its colocation list, "loc:@name" entries) names a node of
// `omit`: TensorFlow's importer refuses a colocation with a node the GraphDef does not hold.
bool colocated_with(const NodeView& node, const std::set<std::string, std::less<>>& omit) {
  const std::string_view* value = node.attr("_class");
  if (value == nullptr || omit.empty()) return false;
  const AttrOneof v = attr_oneof(*value);
  if (v.number != pb::AttrValue::kList) return false;
  Reader r(v.bytes, "AttrValue.ListValue");
  Field f;
  while (r.next(&f)) {
    if (f.number != pb::AttrValue::ListValue::kS || f.type != wire::kLengthDelimited) continue;
    if (f.bytes.substr(0, 5) == "loc:@" && omit.count(f.bytes.substr(5)) > 0) return true;
  }
  return false;
}

// The NodeDef without its `_class` attr entry.
std::string without_colocation(std::string_view node_def) {
  wire::Writer w;
  Reader r(node_def, "NodeDef");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::NodeDef::kAttr && f.type == wire::kLengthDelimited) {
      Reader e(f.bytes, "NodeDef.AttrEntry");
      Field g;
      bool colocation = false;
      while (e.next(&g)) {
        if (g.number == 1 && g.type == wire::kLengthDelimited) colocation = g.bytes == "_class";  // map entry key = 1
      }
      if (colocation) continue;
    }
    w.field(f);
  }
  return w.data();
}

}  // namespace

PrunedGraph prune_graph_def(std::string_view graph_def, const std::set<std::string, std::less<>>& drop,
                            const std::set<std::string, std::less<>>& omit) {
  // The nodes, and which consume which.
  std::vector<std::string_view> node_bytes;
  std::vector<std::string_view> libraries;
  {
    Reader r(graph_def, "GraphDef");
    Field f;
    while (r.next(&f)) {
      if (f.type != wire::kLengthDelimited) continue;
      if (f.number == pb::GraphDef::kNode) node_bytes.push_back(f.bytes);
      if (f.number == pb::GraphDef::kLibrary) libraries.push_back(f.bytes);
    }
  }
  std::vector<NodeView> nodes;
  nodes.reserve(node_bytes.size());
  std::unordered_map<std::string_view, std::vector<size_t>> consumers;
  for (size_t i = 0; i < node_bytes.size(); ++i) {
    nodes.push_back(parse_node(node_bytes[i], true));
    for (std::string_view input : nodes.back().inputs) consumers[input_node(input)].push_back(i);
  }
  std::unordered_set<std::string_view> dropped;
  std::deque<std::string_view> queue;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (drop.count(nodes[i].name) > 0 && dropped.insert(nodes[i].name).second) queue.push_back(nodes[i].name);
  }
  while (!queue.empty()) {
    const std::string_view name = queue.front();
    queue.pop_front();
    auto it = consumers.find(name);
    if (it == consumers.end()) continue;
    for (size_t i : it->second) {
      if (dropped.insert(nodes[i].name).second) queue.push_back(nodes[i].name);
    }
  }

  // The functions the kept nodes reach.
  const Library lib = parse_library(graph_def);
  std::unordered_map<std::string, std::vector<std::string>> gradients;  // function -> its gradient functions
  std::unordered_map<std::string, std::vector<std::string>> implementations;  // api_implements -> functions
  std::unordered_map<std::string, std::string> implements_of;
  std::vector<std::string> reached;
  size_t listed = 0;  // parse_library lists every function field in this same order
  for (std::string_view library : libraries) {
    Reader r(library, "FunctionDefLibrary");
    Field f;
    while (r.next(&f)) {
      if (f.type != wire::kLengthDelimited) continue;
      if (f.number == pb::FunctionDefLibrary::kGradient) {
        const auto [function, gradient] = gradient_def(f.bytes);
        gradients[std::string(function)].emplace_back(gradient);
      } else if (f.number == pb::FunctionDefLibrary::kFunction) {
        const std::string& name = lib.functions[listed++].name;
        const std::string api = api_implements(f.bytes);
        if (api.empty()) continue;
        implementations[api].push_back(name);
        implements_of[name] = api;
      }
    }
  }
  for (const auto& [op_type, gradient] : lib.gradient_names) reached.push_back(gradient);
  for (const NodeView& node : nodes) {
    if (dropped.count(node.name) == 0) node_functions(node, lib, &reached);
  }
  std::unordered_set<std::string> keep;
  while (!reached.empty()) {
    std::string name = std::move(reached.back());
    reached.pop_back();
    if (lib.by_name.count(name) == 0 || !keep.insert(name).second) continue;
    for (std::string_view body_node : lib.functions[lib.by_name.at(name)].nodes) {
      node_functions(parse_node(body_node, true), lib, &reached);
    }
    if (auto g = gradients.find(name); g != gradients.end()) reached.insert(reached.end(), g->second.begin(), g->second.end());
    if (auto a = implements_of.find(name); a != implements_of.end()) {
      const auto& same = implementations[a->second];
      reached.insert(reached.end(), same.begin(), same.end());
    }
  }

  // The GraphDef again, without what is dropped.
  PrunedGraph out;
  out.dropped_nodes = static_cast<int>(dropped.size());
  out.dropped_functions = static_cast<int>(lib.functions.size()) - static_cast<int>(keep.size());
  for (const NodeView& node : nodes) {
    if (dropped.count(node.name) == 0 && omit.count(node.name) > 0) ++out.omitted_nodes;
  }
  if (out.dropped_nodes == 0 && out.dropped_functions == 0 && out.omitted_nodes == 0) return out;  // nothing to write
  out.dropped_functions = 0;  // counted again below, per function field
  wire::Writer w;
  Reader r(graph_def, "GraphDef");
  Field f;
  size_t node_index = 0;
  size_t function_index = 0;
  while (r.next(&f)) {
    if (f.number == pb::GraphDef::kNode && f.type == wire::kLengthDelimited) {
      const NodeView& node = nodes[node_index++];
      if (dropped.count(node.name) > 0 || omit.count(node.name) > 0) continue;
      if (colocated_with(node, omit)) {
        w.bytes_field(pb::GraphDef::kNode, without_colocation(f.bytes));
      } else {
        w.field(f);
      }
      continue;
    }
    if (f.number != pb::GraphDef::kLibrary || f.type != wire::kLengthDelimited) {
      w.field(f);
      continue;
    }
    wire::Writer l;
    Reader lr(f.bytes, "FunctionDefLibrary");
    Field g;
    while (lr.next(&g)) {
      if (g.number == pb::FunctionDefLibrary::kFunction && g.type == wire::kLengthDelimited) {
        // parse_library lists every function field in order, so this is lib.functions[function_index].
        if (keep.count(lib.functions[function_index++].name) > 0) {
          l.field(g);
        } else {
          ++out.dropped_functions;
        }
      } else if (g.number == pb::FunctionDefLibrary::kGradient && g.type == wire::kLengthDelimited) {
        if (keep.count(std::string(gradient_def(g.bytes).first)) > 0) l.field(g);
      } else {
        l.field(g);
      }
    }
    w.bytes_field(pb::GraphDef::kLibrary, l.data());
  }
  out.graph_def = w.data();
  return out;
}

}  // namespace tfbundle
