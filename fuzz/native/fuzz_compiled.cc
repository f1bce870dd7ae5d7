// libFuzzer target: the compile cache's compiled calls (cpp/compiled_graph.h).
//
// The input is read two ways: as the RunMetadata of a call {x:0} -> {y:0} whose variable w the
// load restores (add_compiled_call), and as the stored form (decode_compiled_graph). Properties:
// neither throws nor crashes; a call that was added reads back from its stored form unchanged,
// its compiled names are nodes of its graph, and a refused call leaves the graph untouched.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "compiled_graph.h"
#include "fuzz_common.h"

namespace {

bool stateful(std::string_view op) { return op == "VarHandleOp" || op == "ReadVariableOp" || op == "RandomUniform"; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  tfbundle::CompiledGraph graph;
  tfbundle::CompiledCall call;
  call.feeds = {"x:0"};
  call.fetches = {"y:0"};
  const std::string why = tfbundle::add_compiled_call(&graph, input, call, {"w"}, stateful);
  if (why.empty()) {
    FUZZ_CHECK(graph.calls.size() == 1);
    tfbundle::CompiledGraph back;
    // What was added reads back: its names resolve in its own graph.
    FUZZ_CHECK(tfbundle::decode_compiled_graph(tfbundle::encode_compiled_graph(graph), &back));
    FUZZ_CHECK(back.graph_def == graph.graph_def && back.handles == graph.handles);
    FUZZ_CHECK(back.calls[0].compiled_feeds == graph.calls[0].compiled_feeds);
    FUZZ_CHECK(back.calls[0].compiled_fetches == graph.calls[0].compiled_fetches);
  } else {
    FUZZ_CHECK(graph.calls.empty() && graph.graph_def.empty() && graph.handles.empty());
  }
  tfbundle::CompiledGraph stored;
  if (tfbundle::decode_compiled_graph(input, &stored)) {
    FUZZ_CHECK(!stored.calls.empty() && stored.calls.size() <= tfbundle::kMaxCompiledCalls);
    for (const auto& c : stored.calls) {
      FUZZ_CHECK(c.feeds.size() == c.compiled_feeds.size() && c.fetches.size() == c.compiled_fetches.size());
    }
  }
  return 0;
}
