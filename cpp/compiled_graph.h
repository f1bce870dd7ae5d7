// The graphs TensorFlow ran for a model's calls, kept so that a later load runs them as they are.
//
// A session optimizes the graph of each new set of feeds, fetches and targets at its first call:
// grappler's passes over the whole graph and its function library (the functions inlined,
// constants folded, kernels fused, oneDNN's rewrites), placement, partitioning. On a Keras
// MobileNetV2 that is most of a 250 ms first call, and the same work on every load. The graph the
// session then runs comes back as the run's partition graph (RunOptions.output_partition_graphs).
// A CompiledGraph holds such graphs, one per call, rewritten to be imported into a graph of their
// own and run by a session with grappler off (session.cc):
//
//   - the call frame's _Arg and _Retval nodes become Placeholder and Identity nodes;
//   - every node is renamed under "tfbundle_compiled/<n>/" (n: the call's position), except the
//     VarHandleOp nodes, which keep the model's names and shared_name: the restore assigns them
//     by name, and a variable is the same resource wherever its handle op is;
//   - colocation attrs (_class) are dropped: they name nodes of the model's graph, and every node
//     is on the one CPU device.
//
// A partition graph is taken only where running it in a session of its own gives what the model's
// session gives: one partition, every node on a CPU; no function library; no stateful op other
// than VarHandleOp and ReadVariableOp (no lookup table, no random op, no assignment: no state that
// could differ between two sessions); every VarHandleOp one that the load restores.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tfbundle {

// One call: what it feeds, fetches and runs, by name in the model's graph ("op:index" tensors,
// op names), in the call's order; and the same in the compiled graph.
struct CompiledCall {
  std::vector<std::string> feeds, fetches, targets;
  std::vector<std::string> compiled_feeds, compiled_fetches, compiled_targets;
};

struct CompiledGraph {
  std::string graph_def;                        // a GraphDef: the versions, then every call's nodes
  std::vector<CompiledCall> calls;
  std::set<std::string, std::less<>> handles;   // the VarHandleOp nodes of graph_def
};

// At most this many calls are kept for one model (a model run by raw tensor names could otherwise
// grow its entry without bound).
constexpr size_t kMaxCompiledCalls = 16;

// The serialized form (fields: 1 GraphDef, 2 repeated call {1 feeds, 2 fetches, 3 targets, 4-6
// their compiled names}), and its reading: false when the bytes are malformed or inconsistent (a
// call's lists of different lengths, or a compiled name the graph lacks).
std::string encode_compiled_graph(const CompiledGraph& graph);
bool decode_compiled_graph(std::string_view bytes, CompiledGraph* out);

// Adds the partition graph of `run_metadata` (a serialized RunMetadata) for the call `call`
// (its names in the model's graph; the compiled names are set here). `restored`: the VarHandleOp
// nodes the load assigns; `stateful`: whether TensorFlow registers an op type as stateful.
// Returns why the call cannot be kept (empty: added). Never throws.
std::string add_compiled_call(CompiledGraph* graph, std::string_view run_metadata, CompiledCall call,
                              const std::set<std::string, std::less<>>& restored,
                              const std::function<bool(std::string_view)>& stateful);

}  // namespace tfbundle
