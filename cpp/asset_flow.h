// Whether the path an op reads a file from is one of the model's assets.
//
// TensorFlow's loader feeds each asset tensor of a MetaGraphDef (asset_file_def and the
// saved_model_assets collection) with the path of its file inside assets/ (tfbundle refuses an
// asset that resolves outside). A text-file lookup table initialised from an asset reads that
// file; one initialised from a constant, a signature input or a path computed in the graph can
// read any file and hand its lines back through a signature. So the policy judges such an op by
// where its path comes from, found by following the path back through the graph:
//
//   - an asset tensor of the graph (TF1 exports feed a Const or a Placeholder this way);
//   - Identity, Snapshot, StopGradient, IdentityN: their input;
//   - an argument of a library function: the matching input of every call of the function
//     (a function passed to anything but a call, say a While body, is not followed);
//   - ReadVariableOp of a VarHandleOp of the graph: a resource variable whose every use is a
//     read or an assignment of an asset, with at least one assignment (how TF2 exports hold
//     asset paths: asset_path_initializer -> AssignVariableOp -> ReadVariableOp -> the
//     initializer function's argument). A variable also created in a function, restored from
//     the checkpoint or handed to any other op can hold any string.
//
// Anything else is not an asset. The answer errs towards "not an asset", which the policy denies.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "graph_view.h"

namespace tfbundle {

// The inputs through which an op type reads a file named by a tensor (the text-file table
// initializers, the warm-starting ops); null for other op types.
const std::vector<int>* file_path_inputs(std::string_view op);

class AssetFlow {
 public:
  // `graph`: the GraphDef's nodes; `functions[i]`: the nodes of lib.functions[i];
  // `asset_tensors`: the tensors the loader feeds with asset paths ("a:0"). All are kept by
  // reference and must outlive the AssetFlow.
  AssetFlow(const std::vector<NodeView>& graph, const Library& lib,
            const std::vector<std::vector<NodeView>>& functions, const std::vector<std::string>& asset_tensors);

  // Whether `input` (as written in a node of the graph when `function` < 0, else of
  // lib.functions[function]) is an asset path whatever path the graph takes.
  bool from_asset(std::string_view input, int function);

 private:
  struct Scope {
    const std::vector<NodeView>* nodes = nullptr;
    std::unordered_map<std::string_view, size_t> by_name;
    std::unordered_map<std::string_view, size_t> args;  // a function's argument -> index
  };
  struct Site {
    int scope;
    size_t node;
  };

  bool resolve(int scope, std::string_view input);
  bool argument_from_asset(int function, size_t arg);
  bool variable_from_asset(const NodeView& handle);
  void index_calls();
  void index_variables();

  const Library& lib_;
  std::unordered_set<std::string> asset_tensors_;
  std::vector<Scope> scopes_;  // [0] the graph, [i + 1] lib.functions[i]
  bool calls_indexed_ = false;
  std::vector<std::vector<Site>> callers_;    // function -> its calls
  std::vector<bool> escapes_;                 // function -> named by an attr other than a call's f
  bool variables_indexed_ = false;
  std::map<std::string, std::vector<Site>> variables_;                       // container/name -> handles
  // graph: node name -> (node, data input) of each node reading one of its outputs
  std::unordered_map<std::string_view, std::vector<std::pair<size_t, size_t>>> consumers_;
  std::map<std::pair<int, std::string>, int> memo_;  // (scope, input) -> 0 visiting, 1 yes, 2 no
  int depth_ = 0;  // of resolve's recursion: a longer chain than kMaxDepth is no asset
};

}  // namespace tfbundle
