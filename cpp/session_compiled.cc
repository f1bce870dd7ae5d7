// Session's compiled calls: the optimized graphs of a model's calls, stored in its compile cache
// entry (compiled_graph.h) and run again by a later load without TensorFlow's per-call
// optimization. See the notes on use_compiled and start_capture in session.h.
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "compiled_graph.h"
#include "lifecycle.h"
#include "proto_fields.h"
#include "session.h"
#include "status.h"
#include "wire.h"

namespace tfbundle {

namespace {

// Whether TensorFlow registers `op` as stateful; an op it does not register (yet) counts as
// stateful. The registry is read again when an op is missing (a custom op loaded since).
bool stateful_op(std::string_view op) {
  static std::mutex mu;
  static std::map<std::string, bool, std::less<>> known;
  std::lock_guard<std::mutex> lock(mu);
  auto it = known.find(op);
  if (it == known.end()) {
    const TfApi& api = tf_api();
    TF_Buffer* list = api.GetAllOpList();
    try {
      wire::Reader r(std::string_view(static_cast<const char*>(list->data), list->length), "OpList");
      wire::Field f;
      while (r.next(&f)) {
        if (f.number != pb::OpList::kOp || f.type != wire::kLengthDelimited) continue;
        std::string_view name;
        bool is_stateful = false;
        wire::Reader d(f.bytes, "OpDef");
        wire::Field df;
        while (d.next(&df)) {
          if (df.number == pb::OpDef::kName && df.type == wire::kLengthDelimited) name = df.bytes;
          if (df.number == pb::OpDef::kIsStateful && df.type == wire::kVarint) is_stateful = df.value != 0;
        }
        known[std::string(name)] = is_stateful;
      }
    } catch (const Error&) {
    }
    api.DeleteBuffer(list);
    it = known.find(op);
    if (it == known.end()) return true;
  }
  return it->second;
}

std::string tensor_name(TF_Output out) {
  return std::string(tf_api().OperationName(out.oper)) + ":" + std::to_string(out.index);
}

}  // namespace

void Session::call_key(const std::vector<TF_Output>& feeds, const std::vector<TF_Output>& fetches,
                       const std::vector<TF_Operation*>& targets, std::vector<uintptr_t>* key) {
  key->clear();
  for (const auto* side : {&feeds, &fetches}) {
    key->push_back(side->size());
    for (const TF_Output& o : *side) {
      key->push_back(reinterpret_cast<uintptr_t>(o.oper));
      key->push_back(static_cast<uintptr_t>(o.index));
    }
  }
  key->push_back(targets.size());
  for (TF_Operation* t : targets) key->push_back(reinterpret_cast<uintptr_t>(t));
}

std::string Session::partition_graph_options() {
  wire::Writer w;
  w.varint_field(pb::RunOptions::kOutputPartitionGraphs, 1);
  return w.data();
}

std::string Session::compiled_note() const {
  std::lock_guard<std::mutex> lock(capture_mu_);
  return compiled_note_;
}

bool Session::use_compiled(const SessionConfig& config, const CompiledGraph& compiled,
                           const std::vector<VariableSource>& variables,
                           const std::shared_ptr<BundleReader>& checkpoint) {
  std::vector<VariableSource> used;
  for (const VariableSource& v : variables) {
    if (compiled.handles.count(v.handle) > 0) used.push_back(v);
  }
  for (const std::string& h : compiled.handles) {
    if (cache_use_->restored.count(h) == 0) {
      compiled_note_ = "the compiled calls read the variable " + h + ", which this load does not restore";
      return false;
    }
  }
  const TfApi& api = tf_api();
  compiled_graph_ = api.NewGraph();
  TF_Buffer def{compiled.graph_def.data(), compiled.graph_def.size(), nullptr};
  TF_ImportGraphDefOptions* opts = api.NewImportGraphDefOptions();
  TfStatus status;
  api.GraphImportGraphDef(compiled_graph_, &def, opts, status);
  api.DeleteImportGraphDefOptions(opts);
  if (!status.ok()) {
    compiled_note_ = "TensorFlow refused the compiled graph: " + status.message();
    free_compiled();
    return false;
  }
  SessionConfig off = config;
  off.grappler_off = true;  // grappler made these graphs: running it again costs time and changes nothing
  compiled_session_ = open_session(compiled_graph_, off);
  restore_stats_ = assign_from_checkpoint(compiled_session_, compiled_graph_, used, checkpoint, true);
  deferred_variables_ = variables;
  deferred_reader_ = checkpoint;
  return true;
}

bool Session::index_compiled(const CompiledGraph& compiled) {
  const TfApi& api = tf_api();
  auto output = [&](TF_Graph* graph, const std::string& name, TF_Output* out) {
    std::string_view op;
    int index = 0;
    if (!split_tensor_name(name, &op, &index)) return false;
    TF_Operation* oper = api.GraphOperationByName(graph, std::string(op).c_str());
    if (oper == nullptr || index >= api.OperationNumOutputs(oper)) return false;
    *out = TF_Output{oper, index};
    return true;
  };
  std::map<std::vector<uintptr_t>, CompiledRun> runs;
  for (const CompiledCall& call : compiled.calls) {
    std::vector<TF_Output> feeds(call.feeds.size()), fetches(call.fetches.size());
    std::vector<TF_Operation*> targets;
    CompiledRun run;
    run.feeds.resize(call.feeds.size());
    run.fetches.resize(call.fetches.size());
    bool ok = true;
    for (size_t i = 0; ok && i < call.feeds.size(); ++i) {
      ok = output(graph_, call.feeds[i], &feeds[i]) && output(compiled_graph_, call.compiled_feeds[i], &run.feeds[i]);
    }
    for (size_t i = 0; ok && i < call.fetches.size(); ++i) {
      ok = output(graph_, call.fetches[i], &fetches[i]) &&
           output(compiled_graph_, call.compiled_fetches[i], &run.fetches[i]);
    }
    for (size_t i = 0; ok && i < call.targets.size(); ++i) {
      TF_Operation* t = api.GraphOperationByName(graph_, call.targets[i].c_str());
      TF_Operation* c = api.GraphOperationByName(compiled_graph_, call.compiled_targets[i].c_str());
      ok = t != nullptr && c != nullptr;
      targets.push_back(t);
      run.targets.push_back(c);
    }
    if (!ok) {
      compiled_note_ = "a compiled call names a tensor the model's graph does not have";
      return false;
    }
    std::vector<uintptr_t> key;
    call_key(feeds, fetches, targets, &key);
    runs.emplace(std::move(key), std::move(run));
  }
  compiled_runs_ = std::move(runs);
  compiled_active_.store(true);
  return true;
}

void Session::free_compiled() {
  compiled_active_.store(false);
  compiled_runs_.clear();
  deferred_reader_.reset();
  release(&compiled_session_, &compiled_graph_);
}

void Session::leave_compiled() {
  std::lock_guard<std::mutex> lock(leave_mu_);
  if (!compiled_active_.load()) return;  // another call restored the model's session first
  // The compiled calls change no variable (compiled_graph.h), so the checkpoint is still what
  // the variables hold. The compiled session stays until close(): calls may be running in it.
  // The load's own reader: the same index and mapped shards the compiled session was restored
  // from, whatever has happened to the files since.
  AsyncSignalsBlocked no_signals;  // TensorFlow runs the restore in this thread (lifecycle.h)
  assign_from_checkpoint(session_, graph_, deferred_variables_, deferred_reader_, true);
  compiled_active_.store(false);
  deferred_reader_.reset();  // the variables hold what they need of the mapping
}

bool Session::first_call(const std::vector<uintptr_t>& key) {
  {
    std::shared_lock<std::shared_mutex> lock(seen_mu_);
    if (seen_.count(key) > 0) return false;
  }
  {
    std::lock_guard<std::mutex> lock(capture_mu_);
    if (!capture_ || capture_->graph.calls.size() >= kMaxCompiledCalls) {
      capturing_.store(false);  // the entry is full: calls no longer look themselves up here
      return false;
    }
  }
  std::unique_lock<std::shared_mutex> lock(seen_mu_);
  return seen_.insert(key).second;
}

void Session::start_capture(const CompiledGraph* found, const std::set<std::string, std::less<>>& restored) {
  std::lock_guard<std::mutex> lock(capture_mu_);
  Capture& c = capture_.emplace();
  c.path = cache_use_->entry_path;
  c.key = cache_use_->key;
  c.restored = restored;
  if (found != nullptr) {
    c.graph = *found;
    std::unique_lock<std::shared_mutex> seen_lock(seen_mu_);
    for (const auto& [key, run] : compiled_runs_) seen_.insert(key);
  }
  capturing_.store(true);
}

void Session::capture_call(const std::vector<TF_Output>& feeds, const std::vector<TF_Output>& fetches,
                           const std::vector<TF_Operation*>& targets, std::string_view run_metadata) {
  CompiledCall call;
  for (const TF_Output& o : feeds) call.feeds.push_back(tensor_name(o));
  for (const TF_Output& o : fetches) call.fetches.push_back(tensor_name(o));
  for (TF_Operation* t : targets) call.targets.emplace_back(tf_api().OperationName(t));
  std::lock_guard<std::mutex> lock(capture_mu_);
  const std::string why = add_compiled_call(&capture_->graph, run_metadata, std::move(call), capture_->restored,
                                            stateful_op);
  if (!why.empty()) {
    compiled_note_ = "a call was not compiled: " + why;
    return;
  }
  // The entry's graph fields are read back from the file (rather than kept, for the model's
  // life, a copy of a GraphDef that may be large), and the calls written after them.
  CacheLookup entry = read_cache_file(capture_->path, capture_->key);
  if (!entry.payload) {
    compiled_note_ = "the compiled calls were not written: the cache entry is gone (" + entry.miss + ")";
    return;
  }
  wire::Writer payload;
  try {
    wire::Reader r(*entry.payload, "compile cache payload");
    wire::Field f;
    while (r.next(&f)) {
      if (f.number != 3) payload.field(f);
    }
  } catch (const Error& e) {
    compiled_note_ = std::string("the compiled calls were not written: ") + e.what();
    return;
  }
  payload.bytes_field(3, encode_compiled_graph(capture_->graph));
  const std::string failed = write_cache_file(capture_->path, capture_->key, payload.data());
  if (!failed.empty()) compiled_note_ = "the compiled calls could not be written: " + failed;
}

}  // namespace tfbundle
