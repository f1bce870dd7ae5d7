// A loaded model: one TF_Graph + TF_Session, its MetaGraphDef, and runs.
//
// Thread safety: run() may be called from many threads at once (TF_SessionRun
// is thread-safe); close() refuses new calls at once, waits for the calls in
// flight, then frees the session. Every method throws tfbundle::Error; run()
// after close() throws CLOSED (tfbundle.errors.ClosedError). In a fork()ed
// child of a process where TensorFlow had started, every entry into
// TensorFlow throws FAILED_PRECONDITION (lifecycle.h).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "compile_cache.h"
#include "compiled_graph.h"
#include "mmap_restore.h"
#include "model_files.h"
#include "saved_model.h"
#include "tensor.h"
#include "tf2_restore.h"
#include "tf_c_api.h"

namespace tfbundle {

struct SessionConfig {
  int intra_op_threads = 0;         // 0: TensorFlow's default
  int inter_op_threads = 0;         // 0: TensorFlow's default
  std::optional<bool> gpu_memory_growth;
  std::optional<std::string> visible_devices;  // "0,1"; "" hides every GPU
  bool allow_soft_placement = true;            // as TensorFlow's Python loaders do
  // true: grappler with TensorFlow's own defaults. false (tfbundle's default): the same optimizers
  // with the settings of fast_rewrite_options() in session.cc, which halve the time of a first call
  // and change no output.
  bool tensorflow_grappler = false;
  // true: no grappler at all (the session of a compile cache's compiled calls, whose graphs
  // grappler has optimized already).
  bool grappler_off = false;
};

// The serialized ConfigProto for these options.
std::string serialize_config(const SessionConfig& config);

// How Session::load restores the variables.
enum class RestoreMode {
  // TF_LoadSessionFromSavedModel (a SavedModel folder only). TensorFlow's C
  // loader restores only TensorBundle (V2) checkpoints: a V1 checkpoint is
  // then restored through the SaverDef. A TF1 export that lists one asset
  // twice, which that loader refuses, is loaded with kGraph instead.
  kTensorFlow,
  // Import the graph, run the SaverDef's restore op (V1 and V2 checkpoints).
  kGraph,
  // Import the graph, feed its RestoreV2 outputs from the memory-mapped
  // shards (mmap_restore.h): TF1 graphs and V2 checkpoints only.
  kMapped,
  // Import the graph only (frozen graphs).
  kNone,
  // kMapped where it fits the model (Session::why_not_mapped says where not), kGraph for a model
  // with no checkpoint, kTensorFlow elsewhere; should kMapped or kGraph fail, kTensorFlow in a new
  // session. SavedModel folders only (a serialized MetaGraphDef is loaded with kGraph).
  kAuto,
};

// "tensorflow", "graph", "mmap", "none", "auto". Throws INVALID_ARGUMENT for another name.
RestoreMode parse_restore_mode(std::string_view name);
// The name parse_restore_mode reads.
const char* restore_mode_name(RestoreMode mode);

// Everything a loader asks of Session::load.
struct LoadRequest {
  // The MetaGraphDef: the one in the SavedModel folder `export_dir` whose
  // tag-set equals `tags`, or, when export_dir is empty, the serialized
  // `meta_graph` (built by a Python loader: checkpoint graph, SessionBundle,
  // frozen graph). Exactly one of the two.
  std::string export_dir;
  std::vector<std::string> tags;
  std::string meta_graph;
  // The checkpoint to restore. Unset: a SavedModel's variables/variables if a
  // checkpoint is there, none for `meta_graph`. Given: restored (unless the
  // MetaGraphDef has no SaverDef), fed to the restore op as it is.
  std::optional<std::string> checkpoint_prefix;
  // The folder of the MetaGraphDef's asset files. Unset: export_dir/assets.
  // Every asset must resolve inside it (plan_load: PERMISSION_DENIED).
  std::optional<std::string> asset_dir;
  // (placeholder, path) fed to the init op after the MetaGraphDef's own
  // assets (a SessionBundle's serving_assets). Each placeholder is fed once.
  // A path that starts with asset_dir + "/" is judged as the MetaGraphDef's
  // assets are (plan_load refuses one that resolves outside the folder).
  std::vector<std::pair<std::string, std::string>> extra_assets;
  // The op run after the restore instead of the MetaGraphDef's init op (a
  // SessionBundle's serving_init_op).
  std::optional<std::string> init_op;
  // With no init op: run the local variables' initializers and the table
  // initializers, as TensorFlow's default main op does (checkpoint graphs).
  bool init_local_variables = false;
  RestoreMode restore = RestoreMode::kTensorFlow;
  SessionConfig config;
  // The persistent compile cache's folder (compile_cache.h), or empty for none: the first load
  // stores the pruned GraphDef it imports, later loads of the same model folder, tag-set and
  // import take it from there. SavedModel folders only, and only the loads that import the graph
  // themselves (not TensorFlow's loader). A cache that cannot be read or written never fails a load.
  std::string compile_cache_dir;
  std::string tfbundle_version;  // part of the cache's key
};

// What a load does with one MetaGraph, decided before anything runs.
struct LoadPlan {
  std::string checkpoint_prefix;  // empty: nothing to restore
  CheckpointFormat checkpoint_format = CheckpointFormat::kNone;
  std::string restore_path;       // what the SaverDef's filename tensor is fed
  std::vector<std::pair<std::string, std::string>> asset_feeds;  // placeholder -> path, each placeholder once
  std::string init_op;                    // run with asset_feeds fed
  std::vector<std::string> init_targets;  // without an init op: initializers to run (init_local_variables)
};

// The plan for loading `meta_graph` as `request` asks. Reads only the file
// system (which checkpoint is there), and refuses what TensorFlow must not be
// given (model_files.h): PERMISSION_DENIED for an asset that resolves outside
// its folder, FAILED_PRECONDITION for a FIFO, socket or device where a model
// file, a checkpoint file or an asset is. Every loader plans before
// TensorFlow reads anything, so that these hold for each.
LoadPlan plan_load(const MetaGraph& meta_graph, const LoadRequest& request);

struct Device {
  std::string name;
  std::string type;
  int64_t memory_bytes;
};

// A tensor of the graph resolved for feeding or fetching.
struct Endpoint {
  std::string name;     // "op:index" as given
  TF_Output output{};
  int dtype = 0;        // the graph's dtype for this output
  TensorShape shape;    // the shape to check feeds against (unknown rank: no check)
};

struct ResolvedSignature {
  const SignatureDef* def = nullptr;
  std::vector<std::string> input_keys, output_keys;  // sorted
  std::vector<Endpoint> inputs, outputs;             // parallel to the keys
  // Inputs that are not plain tensors (sparse, composite): key -> why.
  std::map<std::string, std::string> unsupported;
};

// The compile cache during a load: the folder, the key's parts the load knows, and the entry to
// write once the load succeeds.
struct CompileCacheUse {
  std::string dir, export_dir;
  std::vector<std::string> tags;
  CompileCacheKey key;
  std::string path, payload;  // set on a miss: written at the end of the load
  std::string entry_path;     // the entry's file, hit or miss
  std::optional<CompiledGraph> compiled;  // a hit's compiled calls
  bool compilable = false;    // this load's calls can be compiled and stored
  bool tensorflow_grappler = false;  // the load's grappler setting, part of the key
  std::set<std::string, std::less<>> restored;  // the variables the load assigns
};

class Session {
 public:
  // The one way to load a model, for every loader: builds the session from
  // the request's MetaGraphDef, restores the variables as `request.restore`
  // says, then runs the init op with the asset paths fed. Blocking: call
  // without the GIL.
  static std::shared_ptr<Session> load(LoadRequest request);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const MetaGraph& meta_graph() const { return meta_graph_; }
  // What the mapped restore (RestoreMode::kMapped) fed; unset for other modes.
  const std::optional<MappedRestoreStats>& restore_stats() const { return restore_stats_; }
  // The restore that ran (never kAuto).
  RestoreMode restore_used() const { return restore_used_; }
  // With RestoreMode::kAuto: why the mapped restore was not used (empty when it was).
  const std::string& restore_fallback() const { return restore_fallback_; }
  const std::map<std::string, ResolvedSignature>& signatures() const { return signatures_; }
  // What the compile cache did for this load: "hit", "miss: <why>" (with "; not written: <why>"
  // when the new entry could not be written), "unused: <why>", or empty when none was asked for.
  const std::string& compile_cache() const { return compile_cache_; }
  // The compile cache's compiled calls (session_compiled.cc): how many this load took from the
  // cache, whether they still serve (no other call has been made), and why a load that found
  // some could not use them, or why the session's calls are not being stored (empty when they are).
  size_t compiled_calls() const { return compiled_runs_.size(); }
  bool compiled_active() const { return compiled_active_.load(); }
  std::string compiled_note() const;

  // "op:1" or "op" (output 0). Throws NOT_FOUND naming the tensor.
  Endpoint resolve_tensor(const std::string& name);
  TF_Operation* resolve_operation(const std::string& name);

  // Runs the graph. Outputs are returned in fetch order. Blocking: call without
  // the GIL. Asynchronous signals are blocked in the calling thread while
  // TensorFlow runs (lifecycle.h).
  std::vector<TensorPtr> run(const std::vector<TF_Output>& feeds, const std::vector<TF_Tensor*>& feed_values,
                             const std::vector<TF_Output>& fetches, const std::vector<TF_Operation*>& targets,
                             const std::string* run_options = nullptr, std::string* run_metadata = nullptr);

  std::vector<Device> devices();
  // Refuses every call that starts after it (CLOSED), waits for the calls in
  // flight (their results are complete), then frees TensorFlow's session and
  // graph. Idempotent; calls from several threads all return once it is freed.
  // In a fork()ed child: throws FAILED_PRECONDITION and calls nothing in
  // TensorFlow (the session is forgotten, never freed).
  void close();
  // True from the moment close() starts.
  bool closed() const;

  // Closes every session still open. Called at interpreter exit: a session
  // alive while TensorFlow's static destructors run can crash the process.
  // The calls still in flight then (daemon threads) are cancelled first
  // (TF_CloseSession): those whose ops check for cancellation end at once,
  // with CANCELLED. Does nothing in a fork()ed child.
  static void close_all();

  // Benchmark hooks: the raw TF_Session* / TF_Graph*, for bench/c_loop.cc,
  // which calls TF_SessionRun on tfbundle's own session to compare per-call
  // times. Nothing in tfbundle loads or runs through them.
  TF_Session* raw_session() const { return session_; }
  TF_Graph* raw_graph() const { return graph_; }

 private:
  // An entry in flight (a run, a lookup in the graph, a whole load): close()
  // waits for every one. Throws CLOSED once close() has started, and
  // FAILED_PRECONDITION in a fork()ed child.
  class Entry {
   public:
    explicit Entry(const Session& s);
    ~Entry();
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

   private:
    const Session& s_;
  };

  Session();
  static std::shared_ptr<Session> create();  // a new Session, registered for close_all()
  // load() for one restore mode; resolves kAuto in `request` to the mode it runs.
  static std::shared_ptr<Session> load_once(LoadRequest& request);
  // Why the mapped restore does not fit this model (empty: it does); sets `tf2` when it planned
  // a TF2 restore.
  std::string why_not_mapped(const LoadPlan& plan, std::optional<Tf2RestorePlan>* tf2);
  // The plan's checkpoint, its index read once per load (released when the load ends).
  const std::shared_ptr<BundleReader>& checkpoint(const LoadPlan& plan);
  // nullptr: TensorFlow's C loader refused the folder in a way that importing
  // the graph (RestoreMode::kGraph) handles.
  // TF_LoadSessionFromSavedModel into this session; false when TensorFlow's
  // loader refuses a TF1 export that lists one asset twice (load() then imports the graph).
  bool load_with_tensorflow(const LoadRequest& request, const LoadPlan& plan);
  // Imports the MetaGraph's GraphDef (without library functions nothing reaches) into a new graph
  // and makes the session.
  void import_graph(const SessionConfig& config);
  // The GraphDef to import: the MetaGraph's GraphDef pruned (prune_graph_def with `drop` and
  // `omit`), taken from the compile cache when a usable entry is there; `storage` holds the bytes.
  std::string_view graph_to_import(const char* kind, const std::set<std::string, std::less<>>& drop,
                                   const std::set<std::string, std::less<>>& omit, std::string* storage);
  // prune_graph_def's GraphDef (held in `storage`), or the MetaGraph's own when nothing was pruned
  // (`storage` then empty).
  std::string_view pruned_graph(const std::set<std::string, std::less<>>& drop,
                                const std::set<std::string, std::less<>>& omit, std::string* storage) const;
  void new_session(const SessionConfig& config);
  static TF_Session* open_session(TF_Graph* graph, const SessionConfig& config);
  // Closes and deletes `*session`, then deletes `*graph` (either may be null); both set to null.
  static void release(TF_Session** session, TF_Graph** graph);
  // Imports `bytes` (a GraphDef) into graph_; references to the nodes of `present` (in graph_
  // already, left out of `bytes`) are mapped to them. Throws with `what` and TensorFlow's error.
  void import_graph_def(std::string_view bytes, const std::set<std::string, std::less<>>& present,
                        const char* what);
  bool cpu_only();  // every device of the session is a CPU
  // The mapped restore of a TF2 export whose restore function only assigns: the graph imported
  // without the saver's calls (graph_prune.h); on a CPU-only session the variables are restored
  // before the rest of the graph is imported.
  void load_tf2_mapped(const SessionConfig& config, const LoadPlan& plan, const Tf2RestorePlan& tf2);
  // The variables the mapped restore of a TF2 export assigns; refuses, as TensorFlow's restore
  // does, a key the restore function names that the checkpoint lacks.
  std::vector<VariableSource> mapped_tf2_variables(const LoadPlan& plan, const Tf2RestorePlan& tf2);
  void restore_with_saver(const LoadPlan& plan);
  // After TensorFlow's restore of a TF2 export: the variables the graph uses that its restore
  // function left unassigned (tf.saved_model.save of a Keras 3 model), from the checkpoint through
  // the object graph (tf2_restore.h); FAILED_PRECONDITION naming any it cannot find.
  void restore_what_tensorflow_left(const LoadPlan& plan);
  void run_init(const LoadPlan& plan);
  // True when the load runs no init op (none, or a lone NoOp) and feeds no asset: a compiled
  // call, which holds no init op, then needs nothing the load would have run.
  bool init_does_nothing(const LoadPlan& plan) const;
  void resolve_signatures();

  // The compile cache's compiled calls (session_compiled.cc). A load that found calls in its cache
  // entry imports their graphs into a graph of their own, run by a session with grappler off, and
  // restores the variables there; the model's own session is restored only when a call that is
  // not compiled comes (leave_compiled), and every call goes to it from then on. A load whose
  // calls can be compiled stores each new call's optimized graph in the entry (capture_call).
  // Imports `compiled` and restores `variables` into it; false (with compiled_note_ saying why)
  // when the compiled graph does not fit this load.
  bool use_compiled(const SessionConfig& config, const CompiledGraph& compiled,
                    const std::vector<VariableSource>& variables, const std::shared_ptr<BundleReader>& checkpoint);
  // Resolves the compiled calls against the model's graph (imported by then); false when one
  // does not resolve (nothing is then compiled: the caller restores the model's session).
  bool index_compiled(const CompiledGraph& compiled);
  void free_compiled();
  void leave_compiled();
  std::vector<TensorPtr> run_in(TF_Session* session, const std::vector<TF_Output>& feeds,
                                const std::vector<TF_Tensor*>& feed_values, const std::vector<TF_Output>& fetches,
                                const std::vector<TF_Operation*>& targets, const std::string* run_options,
                                std::string* run_metadata);
  // The key of a call in compiled_runs_ and Capture::seen: its feeds, fetches and targets in order.
  // Filled into `key` (a thread's reused buffer on the call path: no allocation per call).
  static void call_key(const std::vector<TF_Output>& feeds, const std::vector<TF_Output>& fetches,
                       const std::vector<TF_Operation*>& targets, std::vector<uintptr_t>* key);
  // True the first time a call of `key` is made while calls are stored (it is then stored).
  bool first_call(const std::vector<uintptr_t>& key);
  // A serialized RunOptions that asks for the run's partition graphs.
  static std::string partition_graph_options();
  // After a load that can compile its calls: from now on each new call's optimized graph is
  // added to the cache entry (`found`: the calls the entry held, when this load runs them).
  void start_capture(const CompiledGraph* found, const std::set<std::string, std::less<>>& restored);
  void capture_call(const std::vector<TF_Output>& feeds, const std::vector<TF_Output>& fetches,
                    const std::vector<TF_Operation*>& targets, std::string_view run_metadata);
  void leave() const;
  void cancel_calls_in_flight();

  // Closing is writer-preferring: close() sets closing_ first, so that every
  // entry starting after it throws at once, then waits until entries_ is back
  // to 0 (idle_cv_), then frees. (A reader-preferring std::shared_mutex never
  // let close() in while calls overlapped.) An entry increments entries_, then
  // reads closing_; close() sets closing_, then reads entries_: with
  // sequentially consistent atomics one of the two sees the other.
  mutable std::atomic<int> entries_{0};
  std::atomic<bool> closing_{false};
  std::atomic<bool> loaded_{false};  // load() finished: session_ is set and stays so until freed
  std::atomic<bool> cancelled_at_exit_{false};  // close_all() cancelled the calls in flight
  mutable std::mutex idle_mu_;
  mutable std::condition_variable idle_cv_;
  std::mutex close_mu_;  // one close() at a time; guards freed_
  bool freed_ = false;
  TF_Graph* graph_ = nullptr;
  TF_Session* session_ = nullptr;
  std::string meta_graph_bytes_;  // owns the bytes meta_graph_ views into
  MetaGraph meta_graph_;
  std::optional<MappedRestoreStats> restore_stats_;
  std::shared_ptr<BundleReader> checkpoint_;  // during a load only (Session::checkpoint)
  RestoreMode restore_used_ = RestoreMode::kTensorFlow;
  std::string restore_fallback_;
  std::map<std::string, ResolvedSignature> signatures_;
  std::optional<CompileCacheUse> cache_use_;
  std::string compile_cache_;
  std::mutex cache_mu_;
  std::map<std::string, Endpoint> endpoint_cache_;

  // Compiled calls (session_compiled.cc). compiled_runs_ is written by the load only.
  struct CompiledRun {
    std::vector<TF_Output> feeds, fetches;
    std::vector<TF_Operation*> targets;
  };
  TF_Graph* compiled_graph_ = nullptr;
  TF_Session* compiled_session_ = nullptr;
  std::map<std::vector<uintptr_t>, CompiledRun> compiled_runs_;  // by call_key of the model's graph
  std::atomic<bool> compiled_active_{false};
  std::mutex leave_mu_;
  std::vector<VariableSource> deferred_variables_;  // restored into session_ by leave_compiled
  std::shared_ptr<BundleReader> deferred_reader_;  // the load's checkpoint reader, kept for it
  std::string compiled_note_;
  // Storing new calls: the entry's file and key, the calls so far.
  struct Capture {
    std::string path;
    CompileCacheKey key;
    CompiledGraph graph;
    std::set<std::string, std::less<>> restored;
  };
  // The calls made since calls are stored (a shared lock on the call path, a unique one to add).
  std::set<std::vector<uintptr_t>> seen_;
  std::shared_mutex seen_mu_;
  std::optional<Capture> capture_;
  std::atomic<bool> capturing_{false};
  mutable std::mutex capture_mu_;
};

}  // namespace tfbundle
