// add_compiled_call on partition graphs written here as DirectSession writes them: the call frame's
// nodes rewritten, nodes renamed, variables' handles kept and shared between calls, and every graph
// that could not run apart refused with its reason; the stored form read back, malformed forms refused.
#include "compiled_graph.h"

#include <string>
#include <vector>

#include "check.h"
#include "graph_view.h"
#include "proto_fields.h"
#include "wire.h"

namespace {

using tfbundle::CompiledCall;
using tfbundle::CompiledGraph;
namespace pb = tfbundle::pb;
namespace wire = tfbundle::wire;

constexpr char kCpu[] = "/job:localhost/replica:0/task:0/device:CPU:0";

std::string attr(const std::string& key, uint32_t field, uint64_t value) {
  wire::Writer v;
  v.varint_field(field, value);
  wire::Writer e;
  e.bytes_field(pb::NodeDef::AttrEntry::kKey, key);
  e.bytes_field(pb::NodeDef::AttrEntry::kValue, v.data());
  return e.data();
}

std::string node(const std::string& name, const std::string& op, const std::vector<std::string>& inputs,
                 const std::vector<std::string>& attrs = {}, const std::string& device = kCpu) {
  wire::Writer w;
  w.bytes_field(pb::NodeDef::kName, name);
  w.bytes_field(pb::NodeDef::kOp, op);
  for (const auto& i : inputs) w.bytes_field(pb::NodeDef::kInput, i);
  w.bytes_field(pb::NodeDef::kDevice, device);
  for (const auto& a : attrs) w.bytes_field(pb::NodeDef::kAttr, a);
  return w.data();
}

// A RunMetadata holding one partition graph per entry of `partitions` (each a list of NodeDefs).
std::string metadata(const std::vector<std::vector<std::string>>& partitions) {
  wire::Writer md;
  for (const auto& nodes : partitions) {
    wire::Writer g;
    for (const auto& n : nodes) g.bytes_field(pb::GraphDef::kNode, n);
    wire::Writer versions;
    versions.varint_field(1, 1766);
    g.bytes_field(pb::GraphDef::kVersions, versions.data());
    md.bytes_field(pb::RunMetadata::kPartitionGraphs, g.data());
  }
  return md.data();
}

constexpr uint64_t kFloat = 1;

// y = ReadVariableOp(w) * x, as the call {x:0} -> {y:0} runs it.
std::vector<std::string> mul_graph(const std::string& extra_op = "") {
  std::vector<std::string> nodes = {
      node("w", "VarHandleOp", {}, {attr("dtype", pb::AttrValue::kType, kFloat)}),
      node("_arg_x_0_0", "_Arg", {}, {attr("T", pb::AttrValue::kType, kFloat), attr("index", pb::AttrValue::kI, 0)}),
      node("read", "ReadVariableOp", {"w"}, {attr("dtype", pb::AttrValue::kType, kFloat)}),
      node("y", "Mul", {"_arg_x_0_0", "read:0", "^w"}, {attr("T", pb::AttrValue::kType, kFloat)}),
      node("_retval_y_0_0", "_Retval", {"y"}, {attr("T", pb::AttrValue::kType, kFloat), attr("index", pb::AttrValue::kI, 0)}),
  };
  if (!extra_op.empty()) nodes.push_back(node("extra", extra_op, {"y"}));
  return nodes;
}

bool stateful(std::string_view op) { return op == "VarHandleOp" || op == "ReadVariableOp" || op == "RandomUniform"; }

CompiledCall call(std::vector<std::string> feeds, std::vector<std::string> fetches) {
  CompiledCall c;
  c.feeds = std::move(feeds);
  c.fetches = std::move(fetches);
  return c;
}

std::vector<tfbundle::NodeView> nodes_of(const std::string& graph_def) {
  std::vector<tfbundle::NodeView> out;
  wire::Reader r(graph_def, "GraphDef");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number == pb::GraphDef::kNode) out.push_back(tfbundle::parse_node(f.bytes, true));
  }
  return out;
}

void test_rewrite() {
  CompiledGraph g;
  const std::set<std::string, std::less<>> restored{"w"};
  CHECK(add_compiled_call(&g, metadata({mul_graph()}), call({"x:0"}, {"y:0"}), restored, stateful).empty());
  CHECK(g.calls.size() == 1 && g.handles.count("w") == 1);
  const CompiledCall& c = g.calls[0];
  CHECK((c.compiled_feeds == std::vector<std::string>{"tfbundle_compiled/0/_arg_x_0_0:0"}));
  CHECK((c.compiled_fetches == std::vector<std::string>{"tfbundle_compiled/0/_retval_y_0_0:0"}));
  const auto nodes = nodes_of(g.graph_def);
  CHECK(nodes.size() == 5);
  for (const auto& n : nodes) {
    if (n.op == "VarHandleOp") CHECK(n.name == "w");
    if (n.name == "tfbundle_compiled/0/_arg_x_0_0") CHECK(n.op == "Placeholder" && n.attr("dtype") != nullptr);
    if (n.name == "tfbundle_compiled/0/_retval_y_0_0") {
      CHECK(n.op == "Identity" && n.inputs.size() == 1 && n.inputs[0] == "tfbundle_compiled/0/y:0");
    }
    if (n.op == "Mul") {
      CHECK(n.name == "tfbundle_compiled/0/y");
      CHECK(n.inputs.size() == 3 && n.inputs[0] == "tfbundle_compiled/0/_arg_x_0_0" &&
            n.inputs[1] == "tfbundle_compiled/0/read:0" && n.inputs[2] == "^w");
    }
  }
  // A second call shares the handle and gets names of its own; the stored form reads back.
  CHECK(add_compiled_call(&g, metadata({mul_graph()}), call({"x:0"}, {"y:0"}), restored, stateful).empty());
  CHECK(nodes_of(g.graph_def).size() == 9);  // the handle once
  CHECK(g.calls[1].compiled_fetches[0] == "tfbundle_compiled/1/_retval_y_0_0:0");
  CompiledGraph back;
  CHECK(decode_compiled_graph(encode_compiled_graph(g), &back));
  CHECK(back.graph_def == g.graph_def && back.calls.size() == 2 && back.handles == g.handles);
  CHECK(back.calls[1].feeds == g.calls[1].feeds && back.calls[1].compiled_fetches == g.calls[1].compiled_fetches);
}

void test_refusals() {
  const std::set<std::string, std::less<>> restored{"w"};
  struct Case {
    std::string metadata;
    CompiledCall call;
    std::set<std::string, std::less<>> restored;
    std::string why;
  };
  std::vector<std::string> gpu = mul_graph();
  gpu[3] = node("y", "Mul", {"_arg_x_0_0", "read:0"}, {}, "/job:localhost/replica:0/task:0/device:GPU:0");
  const std::vector<Case> cases = {
      {metadata({}), call({"x:0"}, {"y:0"}), restored, "the call ran in 0 partitions"},
      {metadata({mul_graph(), mul_graph()}), call({"x:0"}, {"y:0"}), restored, "the call ran in 2 partitions"},
      {metadata({mul_graph("RandomUniform")}), call({"x:0"}, {"y:0"}), restored,
       "the optimized graph holds a stateful op (RandomUniform)"},
      {metadata({mul_graph()}), call({"x:0"}, {"y:0"}), {}, "the variable w is not restored by the load"},
      {metadata({gpu}), call({"x:0"}, {"y:0"}), restored, "the node y runs on /job:localhost/replica:0/task:0/device:GPU:0"},
      {metadata({mul_graph()}), call({"z:0"}, {"y:0"}), restored, "the call frame's node _arg_x_0_0 matches no feed"},
      {metadata({mul_graph()}), call({"x:0"}, {"y:0", "y:0"}), restored,
       "the call frame's node _retval_y_0_0 matches no fetch"},
      {"\xff", call({"x:0"}, {"y:0"}), restored, "the run's partition graph could not be read"},
  };
  for (const Case& c : cases) {
    CompiledGraph g;
    const std::string why = add_compiled_call(&g, c.metadata, c.call, c.restored, stateful);
    if (why.find(c.why) != 0) {
      std::fprintf(stderr, "expected \"%s\", got \"%s\"\n", c.why.c_str(), why.c_str());
      ++tfbundle::testing::g_failures;
    }
    CHECK(g.calls.empty() && g.graph_def.empty() && g.handles.empty());  // nothing kept
  }
  CompiledGraph full;
  for (size_t i = 0; i < tfbundle::kMaxCompiledCalls; ++i) {
    CHECK(add_compiled_call(&full, metadata({mul_graph()}), call({"x:0"}, {"y:0"}), restored, stateful).empty());
  }
  CHECK(add_compiled_call(&full, metadata({mul_graph()}), call({"x:0"}, {"y:0"}), restored, stateful) ==
        "the model has 16 compiled calls already");
}

void test_malformed_stored_forms() {
  CompiledGraph g;
  CHECK(add_compiled_call(&g, metadata({mul_graph()}), call({"x:0"}, {"y:0"}), {"w"}, stateful).empty());
  const std::string good = encode_compiled_graph(g);
  CompiledGraph out;
  CHECK(decode_compiled_graph(good, &out));
  wire::Writer no_node;
  no_node.bytes_field(1, g.graph_def);
  wire::Writer bad_call;
  bad_call.bytes_field(1, "x:0");
  bad_call.bytes_field(4, "tfbundle_compiled/0/nowhere:0");
  bad_call.bytes_field(5, "tfbundle_compiled/0/_retval_y_0_0:0");
  no_node.bytes_field(2, bad_call.data());
  wire::Writer uneven;
  uneven.bytes_field(1, g.graph_def);
  wire::Writer half;
  half.bytes_field(1, "x:0");
  uneven.bytes_field(2, half.data());
  for (const std::string& bad : {std::string(), std::string("\xff\xff"), no_node.data(), uneven.data(),
                                 good.substr(0, good.size() - 3)}) {
    CompiledGraph o;
    CHECK(!decode_compiled_graph(bad, &o));
  }
}

}  // namespace

int main() {
  test_rewrite();
  test_refusals();
  test_malformed_stored_forms();
  return tfbundle::testing::g_failures != 0;
}
