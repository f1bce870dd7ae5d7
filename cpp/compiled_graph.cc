#include "compiled_graph.h"

#include <map>
#include <string>
#include <utility>

#include "graph_view.h"
#include "saved_model.h"
#include "proto_fields.h"
#include "status.h"
#include "wire.h"

namespace tfbundle {

namespace {

constexpr char kPrefix[] = "tfbundle_compiled/";

// A partition graph's NodeDef: what parse_node reads (name, op, inputs, attrs), and the fields
// it does not, kept to be written back as they are (the bytes stay in the RunMetadata).
struct RawNode {
  NodeView view;
  std::string_view device;
  std::vector<wire::Field> other;  // experimental_debug_info, experimental_type
};

RawNode read_node(std::string_view bytes) {
  RawNode n{parse_node(bytes, true), {}, {}};
  wire::Reader r(bytes, "NodeDef");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number == pb::NodeDef::kDevice && f.type == wire::kLengthDelimited) n.device = f.bytes;
    if (f.number > pb::NodeDef::kAttr) n.other.push_back(f);
  }
  return n;
}

// An int or type attr's value; -1 when the node has no such attr.
int64_t attr_varint(const NodeView& n, std::string_view key) {
  const std::string_view* v = n.attr(key);
  if (v == nullptr) return -1;
  const AttrOneof one = attr_oneof(*v);
  if (one.number != pb::AttrValue::kI && one.number != pb::AttrValue::kType) return -1;
  return static_cast<int64_t>(one.value);
}

std::string type_attr(uint64_t type) {
  wire::Writer w;
  w.varint_field(pb::AttrValue::kType, type);
  return w.data();
}

void write_attr(wire::Writer* node, std::string_view key, std::string_view value) {
  wire::Writer entry;
  entry.bytes_field(pb::NodeDef::AttrEntry::kKey, key);
  entry.bytes_field(pb::NodeDef::AttrEntry::kValue, value);
  node->bytes_field(pb::NodeDef::kAttr, entry.data());
}

// The position in `tensors` of the one the call frame's node `name` (DirectSession names it
// "<kind><op>_<output>_<index>", with `index` its attr) stands for; -1 when none.
int frame_position(std::string_view name, std::string_view kind, int64_t index,
                   const std::vector<std::string>& tensors) {
  int found = -1;
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::string_view op;
    int output = 0;
    if (!split_tensor_name(tensors[i], &op, &output)) continue;
    std::string expected(kind);
    expected.append(op).append("_").append(std::to_string(output)).append("_").append(std::to_string(index));
    if (expected == name) {
      if (found >= 0) return -1;  // two feeds of one name: ambiguous
      found = static_cast<int>(i);
    }
  }
  return found;
}

}  // namespace

std::string encode_compiled_graph(const CompiledGraph& graph) {
  wire::Writer w;
  w.bytes_field(1, graph.graph_def);
  for (const CompiledCall& c : graph.calls) {
    wire::Writer call;
    const std::vector<std::string>* lists[] = {&c.feeds, &c.fetches, &c.targets,
                                               &c.compiled_feeds, &c.compiled_fetches, &c.compiled_targets};
    for (uint32_t i = 0; i < 6; ++i) {
      for (const std::string& s : *lists[i]) call.bytes_field(i + 1, s);
    }
    w.bytes_field(2, call.data());
  }
  return w.data();
}

bool decode_compiled_graph(std::string_view bytes, CompiledGraph* out) {
  CompiledGraph g;
  try {
    wire::Reader r(bytes, "compiled graph");
    wire::Field f;
    while (r.next(&f)) {
      if (f.type != wire::kLengthDelimited) return false;
      if (f.number == 1) {
        g.graph_def = std::string(f.bytes);
      } else if (f.number == 2) {
        CompiledCall c;
        std::vector<std::string>* lists[] = {&c.feeds, &c.fetches, &c.targets,
                                             &c.compiled_feeds, &c.compiled_fetches, &c.compiled_targets};
        wire::Reader cr(f.bytes, "compiled call");
        wire::Field cf;
        while (cr.next(&cf)) {
          if (cf.type != wire::kLengthDelimited || cf.number < 1 || cf.number > 6) return false;
          lists[cf.number - 1]->emplace_back(cf.bytes);
        }
        if (c.feeds.size() != c.compiled_feeds.size() || c.fetches.size() != c.compiled_fetches.size() ||
            c.targets.size() != c.compiled_targets.size()) {
          return false;
        }
        g.calls.push_back(std::move(c));
      } else {
        return false;
      }
    }
    // Every compiled name must be a node of the graph.
    std::set<std::string_view> nodes;
    wire::Reader gr(g.graph_def, "GraphDef");
    while (gr.next(&f)) {
      if (f.number != pb::GraphDef::kNode || f.type != wire::kLengthDelimited) continue;
      const NodeView n = parse_node(f.bytes, false);
      nodes.insert(n.name);
      if (n.op == "VarHandleOp") g.handles.emplace(n.name);
    }
    for (const CompiledCall& c : g.calls) {
      for (const auto* list : {&c.compiled_feeds, &c.compiled_fetches, &c.compiled_targets}) {
        for (const std::string& name : *list) {
          if (nodes.count(input_node(name)) == 0) return false;
        }
      }
    }
  } catch (const Error&) {
    return false;
  }
  if (g.calls.empty() || g.calls.size() > kMaxCompiledCalls) return false;
  *out = std::move(g);
  return true;
}

std::string add_compiled_call(CompiledGraph* graph, std::string_view run_metadata, CompiledCall call,
                              const std::set<std::string, std::less<>>& restored,
                              const std::function<bool(std::string_view)>& stateful) {
  if (graph->calls.size() >= kMaxCompiledCalls) {
    return "the model has " + std::to_string(kMaxCompiledCalls) + " compiled calls already";
  }
  try {
    std::vector<std::string_view> partitions;
    wire::Reader r(run_metadata, "RunMetadata");
    wire::Field f;
    while (r.next(&f)) {
      if (f.number == pb::RunMetadata::kPartitionGraphs && f.type == wire::kLengthDelimited) {
        partitions.push_back(f.bytes);
      }
    }
    if (partitions.size() != 1) {
      return "the call ran in " + std::to_string(partitions.size()) + " partitions (one device expected)";
    }
    std::string_view versions;
    std::vector<RawNode> nodes;
    wire::Reader g(partitions[0], "GraphDef");
    while (g.next(&f)) {
      if (f.type != wire::kLengthDelimited) continue;
      if (f.number == pb::GraphDef::kNode) {
        nodes.push_back(read_node(f.bytes));
      } else if (f.number == pb::GraphDef::kVersions) {
        versions = f.bytes;
      } else if (f.number == pb::GraphDef::kLibrary && !f.bytes.empty()) {
        return "the optimized graph still calls library functions";
      }
    }
    const std::string prefix = kPrefix + std::to_string(graph->calls.size()) + "/";
    std::set<std::string_view> handles;
    for (const RawNode& raw : nodes) {
      if (raw.view.op == "VarHandleOp") handles.insert(raw.view.name);
    }
    auto rename = [&](std::string_view node) {
      return handles.count(node) ? std::string(node) : prefix + std::string(node);
    };
    call.compiled_feeds.assign(call.feeds.size(), std::string());
    call.compiled_fetches.assign(call.fetches.size(), std::string());
    call.compiled_targets.assign(call.targets.size(), std::string());
    std::vector<std::string> new_handles;
    wire::Writer kept;
    for (const RawNode& raw : nodes) {
      const NodeView& n = raw.view;
      if (!raw.device.empty() && raw.device.find("CPU") == std::string_view::npos) {
        return "the node " + std::string(n.name) + " runs on " + std::string(raw.device);
      }
      const bool frame = n.op == "_Arg" || n.op == "_Retval";  // rewritten below
      if (!frame && n.op != "VarHandleOp" && n.op != "ReadVariableOp" && stateful(n.op)) {
        return "the optimized graph holds a stateful op (" + std::string(n.op) + ")";
      }
      if (n.op == "VarHandleOp") {
        if (restored.count(n.name) == 0) return "the variable " + std::string(n.name) + " is not restored by the load";
        if (graph->handles.count(n.name) > 0) continue;  // an earlier call's node: the same resource
        new_handles.emplace_back(n.name);
      }
      const std::string name = rename(n.name);  // a handle keeps its name
      wire::Writer w;
      w.bytes_field(pb::NodeDef::kName, name);
      if (frame) {
        const bool arg = n.op == "_Arg";
        const int64_t index = attr_varint(n, "index");
        const int64_t type = attr_varint(n, "T");
        const int pos = frame_position(n.name, arg ? "_arg_" : "_retval_", index, arg ? call.feeds : call.fetches);
        if (type < 0 || pos < 0) return "the call frame's node " + std::string(n.name) + " matches no " + (arg ? "feed" : "fetch");
        std::string& slot = arg ? call.compiled_feeds[pos] : call.compiled_fetches[pos];
        if (!slot.empty()) return "two call frame nodes for one " + std::string(arg ? "feed" : "fetch");
        slot = name + ":0";
        w.bytes_field(pb::NodeDef::kOp, arg ? "Placeholder" : "Identity");
        if (!arg) {
          if (n.inputs.size() != 1) return "the call frame's node " + std::string(n.name) + " has no single input";
          const InputRef in = parse_input(n.inputs[0]);
          w.bytes_field(pb::NodeDef::kInput, rename(in.node) + ":" + std::to_string(in.index));
        }
        w.bytes_field(pb::NodeDef::kDevice, raw.device);
        write_attr(&w, arg ? "dtype" : "T", type_attr(static_cast<uint64_t>(type)));
      } else {
        w.bytes_field(pb::NodeDef::kOp, n.op);
        for (std::string_view in : n.inputs) {
          // "^a", "a:1", "a": the node renamed, the "^" and ":1" kept.
          const std::string_view node = input_node(in);
          const size_t at = !in.empty() && in[0] == '^' ? 1 : 0;
          w.bytes_field(pb::NodeDef::kInput,
                        std::string(in.substr(0, at)) + rename(node) + std::string(in.substr(at + node.size())));
        }
        w.bytes_field(pb::NodeDef::kDevice, raw.device);
        for (const auto& [k, v] : n.attrs) {
          if (k != "_class") write_attr(&w, k, v);
        }
        for (const wire::Field& o : raw.other) w.field(o);
        for (size_t i = 0; i < call.targets.size(); ++i) {
          if (call.targets[i] == n.name) call.compiled_targets[i] = name;
        }
      }
      kept.bytes_field(pb::GraphDef::kNode, w.data());
    }
    for (const auto* list : {&call.compiled_feeds, &call.compiled_fetches, &call.compiled_targets}) {
      for (const std::string& s : *list) {
        if (s.empty()) return "a feed, fetch or target of the call is not in its optimized graph";
      }
    }
    if (graph->graph_def.empty()) {
      wire::Writer head;
      head.bytes_field(pb::GraphDef::kVersions, versions);
      graph->graph_def = head.data();
    }
    graph->graph_def += kept.data();
    graph->handles.insert(new_handles.begin(), new_handles.end());
    graph->calls.push_back(std::move(call));
    return {};
  } catch (const Error& e) {
    return std::string("the run's partition graph could not be read: ") + e.what();
  }
}

}  // namespace tfbundle
