#include "asset_flow.h"

#include <limits>

namespace tfbundle {
namespace {

constexpr size_t kNoIndex = std::numeric_limits<size_t>::max();

// Deeper than this, a path is no asset: the recursion stays within the stack whatever the graph.
constexpr int kMaxDepth = 256;

bool forwards_input(std::string_view op) { return op == "Identity" || op == "Snapshot" || op == "StopGradient"; }

}  // namespace

const std::vector<int>* file_path_inputs(std::string_view op) {
  static const auto* table = new std::unordered_map<std::string_view, std::vector<int>>{
      {"InitializeTableFromTextFile", {1}},  // filename
      {"InitializeTableFromTextFileV2", {1}},
      {"LoadAndRemapMatrix", {0}},           // ckpt_path
      {"GenerateVocabRemapping", {0, 1}},    // new_vocab_file, old_vocab_file
  };
  auto it = table->find(op);
  return it == table->end() ? nullptr : &it->second;
}

AssetFlow::AssetFlow(const std::vector<NodeView>& graph, const Library& lib,
                     const std::vector<std::vector<NodeView>>& functions, const std::vector<std::string>& asset_tensors)
    : lib_(lib), asset_tensors_(asset_tensors.begin(), asset_tensors.end()) {
  scopes_.resize(functions.size() + 1);
  scopes_[0].nodes = &graph;
  for (size_t i = 0; i < functions.size(); ++i) {
    scopes_[i + 1].nodes = &functions[i];
    const auto& args = lib.functions[i].input_arg_names;
    for (size_t a = 0; a < args.size(); ++a) scopes_[i + 1].args.emplace(args[a], a);
  }
  for (auto& scope : scopes_) {
    for (size_t n = 0; n < scope.nodes->size(); ++n) scope.by_name.emplace((*scope.nodes)[n].name, n);
  }
}

bool AssetFlow::from_asset(std::string_view input, int function) { return resolve(function + 1, input); }

bool AssetFlow::resolve(int scope, std::string_view input) {
  if (input.empty() || input[0] == '^' || depth_ >= kMaxDepth) return false;
  struct Depth {
    int& d;
    explicit Depth(int& depth) : d(++depth) {}
    ~Depth() { --d; }
  } depth(depth_);
  auto key = std::make_pair(scope, std::string(input));
  auto [it, fresh] = memo_.emplace(key, 0);
  if (!fresh) return it->second == 1;  // a cycle (still visiting) is no asset
  bool yes = false;
  const Scope& s = scopes_[scope];
  const InputRef ref = parse_input(input);
  if (scope > 0 && input.find(':') == std::string_view::npos && s.args.count(input)) {
    yes = argument_from_asset(scope - 1, s.args.at(input));
  } else if (auto n = s.by_name.find(ref.node); n != s.by_name.end() && ref.index != InputRef::kNoIndex) {
    const NodeView& node = (*s.nodes)[n->second];
    const auto inputs = data_inputs(node);
    if (scope == 0 && asset_tensors_.count(std::string(ref.node) + ":" + std::to_string(ref.index))) {
      yes = true;
    } else if (forwards_input(node.op)) {
      yes = ref.index == 0 && !inputs.empty() && resolve(scope, inputs[0]);
    } else if (node.op == "IdentityN") {
      yes = ref.index < inputs.size() && resolve(scope, inputs[ref.index]);
    } else if (node.op == "ReadVariableOp" && scope == 0 && !inputs.empty()) {
      const InputRef handle = parse_input(inputs[0]);
      auto h = s.by_name.find(handle.node);
      yes = handle.index == 0 && h != s.by_name.end() && variable_from_asset((*s.nodes)[h->second]);
    }
  }
  memo_[key] = yes ? 1 : 2;
  return yes;
}

void AssetFlow::index_calls() {
  if (calls_indexed_) return;
  calls_indexed_ = true;
  callers_.assign(lib_.functions.size(), {});
  escapes_.assign(lib_.functions.size(), false);
  auto function_index = [&](const std::string& name) -> size_t {
    auto it = lib_.by_name.find(name);
    return it == lib_.by_name.end() ? kNoIndex : it->second;
  };
  for (int scope = 0; scope < static_cast<int>(scopes_.size()); ++scope) {
    const auto& nodes = *scopes_[scope].nodes;
    for (size_t n = 0; n < nodes.size(); ++n) {
      const NodeView& node = nodes[n];
      if (size_t f = function_index(std::string(node.op)); f != kNoIndex) callers_[f].push_back({scope, n});
      std::string called;
      if (is_call_op(node.op)) {
        if (const std::string_view* a = node.attr("f")) called = attr_func_name(*a);
        if (size_t f = function_index(called); f != kNoIndex) callers_[f].push_back({scope, n});
      }
      std::vector<std::string> named;
      for (const auto& [k, v] : node.attrs) {
        if (is_call_op(node.op) && k == "f") continue;
        NodeView one;
        one.attrs.emplace_back(k, v);
        attr_functions(one, &named);
      }
      for (const auto& name : named) {
        if (size_t f = function_index(name); f != kNoIndex) escapes_[f] = true;
      }
    }
  }
}

bool AssetFlow::argument_from_asset(int function, size_t arg) {
  index_calls();
  const auto& sites = callers_[function];
  if (escapes_[function] || sites.empty()) return false;
  for (const Site& site : sites) {
    const auto inputs = data_inputs((*scopes_[site.scope].nodes)[site.node]);
    if (arg >= inputs.size() || !resolve(site.scope, inputs[arg])) return false;
  }
  return true;
}

void AssetFlow::index_variables() {
  if (variables_indexed_) return;
  variables_indexed_ = true;
  for (int scope = 0; scope < static_cast<int>(scopes_.size()); ++scope) {
    const auto& nodes = *scopes_[scope].nodes;
    for (size_t n = 0; n < nodes.size(); ++n) {
      const NodeView& node = nodes[n];
      if (scope == 0) {
        const auto inputs = data_inputs(node);
        for (size_t i = 0; i < inputs.size(); ++i) consumers_[parse_input(inputs[i]).node].emplace_back(n, i);
      }
      if (node.op != "VarHandleOp") continue;
      // A VarHandleOp's resource is (container, shared_name); an empty shared_name means the
      // node's own name.
      const auto shared = string_attr(node, "shared_name");
      const std::string_view name = shared && !shared->empty() ? *shared : node.name;
      const std::string container(string_attr(node, "container").value_or(""));
      variables_[container + "/" + std::string(name)].push_back({scope, n});
    }
  }
}

bool AssetFlow::variable_from_asset(const NodeView& handle) {
  if (handle.op != "VarHandleOp") return false;
  index_variables();
  const auto shared = string_attr(handle, "shared_name");
  const std::string_view name = shared && !shared->empty() ? *shared : handle.name;
  const auto& sites = variables_[std::string(string_attr(handle, "container").value_or("")) + "/" + std::string(name)];
  const auto& graph = *scopes_[0].nodes;
  int assignments = 0;
  for (const Site& site : sites) {
    if (site.scope != 0) return false;
    auto it = consumers_.find(graph[site.node].name);
    if (it == consumers_.end()) continue;
    for (const auto& [consumer, position] : it->second) {
      const NodeView& use = graph[consumer];
      const auto inputs = data_inputs(use);
      if (parse_input(inputs[position]).index != 0) return false;
      if (position == 0 && (use.op == "ReadVariableOp" || use.op == "VarIsInitializedOp")) continue;
      if (position != 0 || use.op != "AssignVariableOp" || inputs.size() < 2 || !resolve(0, inputs[1])) return false;
      ++assignments;
    }
  }
  return assignments > 0;
}

}  // namespace tfbundle
