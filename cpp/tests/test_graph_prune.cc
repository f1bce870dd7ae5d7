// Unit tests of graph_prune.h on GraphDefs built here: which nodes and library functions a pruned
// import keeps, and that the rest of the GraphDef is kept byte for byte. No TensorFlow.
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "check.h"
#include "graph_prune.h"
#include "graph_view.h"
#include "proto_fields.h"
#include "status.h"
#include "wire.h"

using namespace tfbundle;
using tfbundle::testing::g_failures;

namespace {

std::string attr_entry(const std::string& key, const std::string& attr_value) {
  wire::Writer e;
  e.bytes_field(1, key);  // map entry: key = 1, value = 2
  e.bytes_field(2, attr_value);
  return e.data();
}

std::string func_attr(const std::string& function) {
  wire::Writer name;
  name.bytes_field(pb::NameAttrList::kName, function);
  wire::Writer v;
  v.bytes_field(pb::AttrValue::kFunc, name.data());
  return v.data();
}

std::string string_attr_value(const std::string& s) {
  wire::Writer v;
  v.bytes_field(pb::AttrValue::kS, s);
  return v.data();
}

std::string node(const std::string& name, const std::string& op, const std::vector<std::string>& inputs,
                 const std::string& calls = "") {
  wire::Writer n;
  n.bytes_field(pb::NodeDef::kName, name);
  n.bytes_field(pb::NodeDef::kOp, op);
  for (const auto& i : inputs) n.bytes_field(pb::NodeDef::kInput, i);
  if (!calls.empty()) n.bytes_field(pb::NodeDef::kAttr, attr_entry("f", func_attr(calls)));
  return n.data();
}

std::string function(const std::string& name, const std::vector<std::string>& body, const std::string& implements = "") {
  wire::Writer sig;
  sig.bytes_field(pb::OpDef::kName, name);
  wire::Writer f;
  f.bytes_field(pb::FunctionDef::kSignature, sig.data());
  for (const auto& n : body) f.bytes_field(pb::FunctionDef::kNodeDef, n);
  if (!implements.empty()) f.bytes_field(pb::FunctionDef::kAttr, attr_entry("api_implements", string_attr_value(implements)));
  return f.data();
}

std::string gradient(const std::string& of, const std::string& grad) {
  wire::Writer g;
  g.bytes_field(pb::GradientDef::kFunctionName, of);
  g.bytes_field(pb::GradientDef::kGradientFunc, grad);
  return g.data();
}

std::set<std::string> node_names(std::string_view graph_def) {
  std::set<std::string> out;
  wire::Reader r(graph_def, "GraphDef");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number == pb::GraphDef::kNode) out.emplace(parse_node(f.bytes, false).name);
  }
  return out;
}

std::set<std::string> function_names(std::string_view graph_def) {
  std::set<std::string> out;
  for (const auto& fn : parse_library(graph_def).functions) out.insert(fn.name);
  return out;
}

// A TF2 export in small: a serving call, the saver's save and restore calls, helpers they reach.
std::string tf2_like_graph() {
  wire::Writer lib;
  lib.bytes_field(pb::FunctionDefLibrary::kFunction, function("serve", {node("inner", "StatefulPartitionedCall", {}, "layer")}));
  lib.bytes_field(pb::FunctionDefLibrary::kFunction, function("layer", {node("m", "MatMul", {"a", "b"})}, "lstm"));
  lib.bytes_field(pb::FunctionDefLibrary::kFunction, function("layer_gpu", {node("m", "MatMul", {"a", "b"})}, "lstm"));
  lib.bytes_field(pb::FunctionDefLibrary::kFunction, function("traced_save", {node("s", "SaveV2", {})}));
  lib.bytes_field(pb::FunctionDefLibrary::kFunction, function("traced_restore", {node("r", "restore_helper", {})}));
  lib.bytes_field(pb::FunctionDefLibrary::kFunction, function("restore_helper", {node("r", "RestoreV2", {})}));
  lib.bytes_field(pb::FunctionDefLibrary::kFunction, function("never_called", {}));
  lib.bytes_field(pb::FunctionDefLibrary::kFunction, function("serve_grad", {}));
  lib.bytes_field(pb::FunctionDefLibrary::kFunction, function("save_grad", {}));
  lib.bytes_field(pb::FunctionDefLibrary::kGradient, gradient("serve", "serve_grad"));
  lib.bytes_field(pb::FunctionDefLibrary::kGradient, gradient("traced_save", "save_grad"));
  wire::Writer g;
  g.bytes_field(pb::GraphDef::kNode, node("x", "Placeholder", {}));
  g.bytes_field(pb::GraphDef::kNode, node("saver_filename", "Placeholder", {}));
  g.bytes_field(pb::GraphDef::kNode, node("call", "StatefulPartitionedCall", {"x"}, "serve"));
  g.bytes_field(pb::GraphDef::kNode, node("save", "StatefulPartitionedCall", {"saver_filename"}, "traced_save"));
  g.bytes_field(pb::GraphDef::kNode, node("save_after", "Identity", {"save:0"}));
  g.bytes_field(pb::GraphDef::kNode, node("after_that", "NoOp", {"^save_after"}));
  g.bytes_field(pb::GraphDef::kNode, node("restore", "StatefulPartitionedCall", {"saver_filename"}, "traced_restore"));
  g.bytes_field(pb::GraphDef::kLibrary, lib.data());
  wire::Writer versions;
  versions.varint_field(pb::VersionDef::kProducer, 1234);
  g.bytes_field(pb::GraphDef::kVersions, versions.data());
  return g.data();
}

void test_drops_the_saver_and_what_only_it_reaches() {
  const std::string graph = tf2_like_graph();
  const PrunedGraph pruned = prune_graph_def(graph, {"save", "restore"});
  CHECK(!pruned.graph_def.empty());
  CHECK(pruned.dropped_nodes == 4);  // save, its two consumers (data and control), restore
  CHECK((node_names(pruned.graph_def) == std::set<std::string>{"x", "saver_filename", "call"}));
  // Kept: what the serving call reaches, the other implementation of "lstm", the gradient of a
  // kept function. Dropped: the saver's functions, their helper and gradient, the uncalled one.
  CHECK((function_names(pruned.graph_def) == std::set<std::string>{"serve", "layer", "layer_gpu", "serve_grad"}));
  CHECK(pruned.dropped_functions == 5);
  // The gradient entry of a dropped function is dropped with it; the versions are kept.
  const Library lib = parse_library(pruned.graph_def);
  CHECK(lib.functions.size() == 4);
  bool versions = false;
  wire::Reader r(pruned.graph_def, "GraphDef");
  wire::Field f;
  int gradients = 0;
  while (r.next(&f)) {
    if (f.number == pb::GraphDef::kVersions) versions = f.bytes == std::string_view("\x08\xd2\x09", 3);
    if (f.number != pb::GraphDef::kLibrary) continue;
    wire::Reader l(f.bytes, "FunctionDefLibrary");
    wire::Field g;
    while (l.next(&g)) gradients += g.number == pb::FunctionDefLibrary::kGradient ? 1 : 0;
  }
  CHECK(versions);
  CHECK(gradients == 1);
}

void test_keeps_everything_reached() {
  const std::string graph = tf2_like_graph();
  // Nothing asked to be dropped: only the function nothing reaches goes.
  const PrunedGraph pruned = prune_graph_def(graph, {});
  CHECK(pruned.dropped_nodes == 0);
  CHECK(pruned.dropped_functions == 1);
  CHECK(node_names(pruned.graph_def).size() == 7);
  CHECK(function_names(pruned.graph_def).count("never_called") == 0);
  CHECK(function_names(pruned.graph_def).count("restore_helper") == 1);  // reached by name, as an op
  // A graph with nothing to drop is not written again.
  wire::Writer g;
  g.bytes_field(pb::GraphDef::kNode, node("x", "Placeholder", {}));
  const PrunedGraph same = prune_graph_def(g.data(), {"no_such_node"});
  CHECK(same.graph_def.empty() && same.dropped_nodes == 0 && same.dropped_functions == 0);
}

void test_omits_nodes_the_graph_has_already() {
  // A handle omitted (imported before): its consumers stay, and a consumer colocated with it
  // loses its `_class` attr (TensorFlow's importer refuses a colocation with an absent node).
  wire::Writer list;
  list.bytes_field(pb::AttrValue::ListValue::kS, "loc:@var");
  wire::Writer class_value;
  class_value.bytes_field(pb::AttrValue::kList, list.data());
  wire::Writer read;
  read.bytes_field(pb::NodeDef::kName, "read");
  read.bytes_field(pb::NodeDef::kOp, "ReadVariableOp");
  read.bytes_field(pb::NodeDef::kInput, "var");
  read.bytes_field(pb::NodeDef::kAttr, attr_entry("_class", class_value.data()));
  read.bytes_field(pb::NodeDef::kAttr, attr_entry("dtype", "\x30\x01"));  // AttrValue.type = DT_FLOAT
  wire::Writer g;
  g.bytes_field(pb::GraphDef::kNode, node("var", "VarHandleOp", {}));
  g.bytes_field(pb::GraphDef::kNode, read.data());
  g.bytes_field(pb::GraphDef::kNode, node("after", "NoOp", {"^var", "read"}));
  const PrunedGraph pruned = prune_graph_def(g.data(), {}, {"var"});
  CHECK(pruned.omitted_nodes == 1 && pruned.dropped_nodes == 0);
  CHECK((node_names(pruned.graph_def) == std::set<std::string>{"read", "after"}));
  wire::Reader r(pruned.graph_def, "GraphDef");
  wire::Field f;
  while (r.next(&f)) {
    const NodeView n = parse_node(f.bytes, true);
    if (n.name != "read") continue;
    CHECK(n.attr("_class") == nullptr);
    CHECK(n.attr("dtype") != nullptr);
    CHECK(n.inputs.size() == 1 && n.inputs[0] == "var");
  }
}

void test_malformed() {
  EXPECT_ERROR(kDataLoss, "GraphDef", prune_graph_def(std::string("\x0a\x05" "ab", 4), {}));
}

}  // namespace

int main() {
  test_drops_the_saver_and_what_only_it_reaches();
  test_keeps_everything_reached();
  test_omits_nodes_the_graph_has_already();
  test_malformed();
  if (g_failures > 0) {
    std::fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  std::puts("test_graph_prune: ok");
  return 0;
}
