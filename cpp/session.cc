#include "session.h"

#include <cstdlib>
#include <cstring>

#include <set>

#include "compile_cache.h"
#include "crc32c.h"
#include "graph_prune.h"
#include "graph_view.h"
#include "lifecycle.h"
#include "mapping_guard.h"
#include "model_files.h"
#include "proto_fields.h"
#include "tensor_bundle.h"
#include "tf2_restore.h"
#include "status.h"
#include "wire.h"

namespace tfbundle {
namespace {

constexpr char kInitSignatureKey[] = "__saved_model_init_op";

struct SessionOptionsPtr {
  explicit SessionOptionsPtr(const SessionConfig& config) : opts(tf_api().NewSessionOptions()) {
    const std::string proto = serialize_config(config);
    TfStatus status;
    tf_api().SetConfig(opts, proto.data(), proto.size(), status);
    status.throw_if_error("invalid session options");
  }
  ~SessionOptionsPtr() { tf_api().DeleteSessionOptions(opts); }
  TF_SessionOptions* opts;
};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

TensorShape graph_shape(TF_Graph* graph, TF_Output out) {
  const TfApi& api = tf_api();
  TensorShape shape;
  TfStatus status;
  const int n = api.GraphGetTensorNumDims(graph, out, status);
  if (!status.ok() || n < 0) return shape;  // unknown rank
  shape.unknown_rank = false;
  shape.dims.resize(static_cast<size_t>(n));
  if (n > 0) api.GraphGetTensorShape(graph, out, shape.dims.data(), n, status);
  if (!status.ok()) return TensorShape{};
  return shape;
}

// The shape a feed is checked against: the signature's, except where the
// graph's own inferred shape contradicts it (some old exports declare shapes
// their placeholders do not have); then TensorFlow's view wins.
TensorShape check_shape(const TensorShape& declared, const TensorShape& graph) {
  if (declared.unknown_rank) return graph;
  // An absent TensorShapeProto reads as a scalar; old exports (TF 1.0) leave
  // it out for placeholders of unknown shape. Only a known graph shape can
  // confirm a scalar.
  if (graph.unknown_rank) return declared.dims.empty() ? graph : declared;
  if (declared.dims.size() != graph.dims.size()) return graph;
  TensorShape merged = declared;
  for (size_t i = 0; i < merged.dims.size(); ++i) {
    const int64_t d = declared.dims[i], g = graph.dims[i];
    if (d < 0) merged.dims[i] = g;
    else if (g >= 0 && g != d) merged.dims[i] = g;
  }
  return merged;
}

// Every Session alive, for close_all(): weak references, so that close_all()
// holds each session it closes (no destructor runs under its feet).
std::mutex g_live_mu;
std::map<Session*, std::weak_ptr<Session>>& live_sessions() {
  static auto* live = new std::map<Session*, std::weak_ptr<Session>>();  // never destroyed: used at exit
  return *live;
}

constexpr char kClosedMessage[] = "this model was closed; load it again to use it";

}  // namespace

// The grappler settings of a tfbundle load (RewriterConfig). The first call of a signature builds
// its executor: grappler optimizes the graph (the functions the call reaches inlined), and that
// was 40-50% of a Keras model's load plus first call here. Three of TensorFlow's defaults cost
// time and change nothing for inference on the measured models (bench/bench_load.py; the outputs
// are equal to the last bit, and steady-state call times are unchanged):
// - meta_optimizer_iterations ONE: TensorFlow runs every optimizer twice by default;
// - disable_tfg_optimizer: the MLIR (TFG) hook, which TensorFlow's meta_optimizer.cc says runs no
//   optimization yet, converts the graph to MLIR and back;
// - memory_optimization NO_MEM_OPT: its default heuristics swap tensors to host memory and
//   reorder AddN nodes to lower the peak memory of training graphs on GPUs.
// Constant folding, the arithmetic, remapper (fused kernels), layout, function and dependency
// optimizers all still run.
std::string fast_rewrite_options() {
  namespace rc = pb::RewriterConfig;
  wire::Writer w;
  w.varint_field(rc::kMemoryOptimization, rc::NO_MEM_OPT);
  w.varint_field(rc::kMetaOptimizerIterations, rc::ONE);
  w.varint_field(rc::kDisableTfgOptimizer, 1);
  return w.data();
}

std::string serialize_config(const SessionConfig& config) {
  namespace cp = pb::ConfigProto;
  wire::Writer w;
  if (config.intra_op_threads > 0) {
    w.varint_field(cp::kIntraOpParallelismThreads, static_cast<uint64_t>(config.intra_op_threads));
  }
  // A negative inter_op_parallelism_threads runs every op in the caller's thread.
  if (config.inter_op_threads != 0) {
    w.varint_field(cp::kInterOpParallelismThreads, static_cast<uint64_t>(static_cast<int64_t>(config.inter_op_threads)));
  }
  wire::Writer gpu;
  if (config.gpu_memory_growth.has_value()) gpu.varint_field(pb::GPUOptions::kAllowGrowth, *config.gpu_memory_growth ? 1 : 0);
  if (config.visible_devices.has_value()) gpu.bytes_field(pb::GPUOptions::kVisibleDeviceList, *config.visible_devices);
  if (!gpu.data().empty()) w.bytes_field(cp::kGpuOptions, gpu.data());
  if (config.allow_soft_placement) w.varint_field(cp::kAllowSoftPlacement, 1);
  if (!config.tensorflow_grappler || config.grappler_off) {
    std::string rewrite = fast_rewrite_options();
    if (config.grappler_off) {
      wire::Writer off;
      off.varint_field(pb::RewriterConfig::kDisableMetaOptimizer, 1);
      rewrite += off.data();
    }
    wire::Writer graph;
    graph.bytes_field(pb::GraphOptions::kRewriteOptions, rewrite);
    w.bytes_field(cp::kGraphOptions, graph.data());
  }
  return w.data();
}

RestoreMode parse_restore_mode(std::string_view name) {
  if (name == "tensorflow") return RestoreMode::kTensorFlow;
  if (name == "graph") return RestoreMode::kGraph;
  if (name == "mmap") return RestoreMode::kMapped;
  if (name == "none") return RestoreMode::kNone;
  if (name == "auto") return RestoreMode::kAuto;
  throw Error(kInvalidArgument, "unknown restore mode '" + std::string(name) +
                                    "': use \"auto\", \"tensorflow\", \"graph\", \"mmap\" or \"none\"");
}

const char* restore_mode_name(RestoreMode mode) {
  switch (mode) {
    case RestoreMode::kTensorFlow: return "tensorflow";
    case RestoreMode::kGraph: return "graph";
    case RestoreMode::kMapped: return "mmap";
    case RestoreMode::kNone: return "none";
    case RestoreMode::kAuto: return "auto";
  }
  return "unknown";
}

namespace {

// Throws for an asset TensorFlow must not be given (model_files.h: check_asset).
void refuse_bad_asset(const AssetCheck& check, const std::string& filename, const std::string& tensor) {
  if (check.verdict == AssetCheck::kOutside) {
    throw Error(kPermissionDenied, "the model's asset file '" + filename + "' (fed to " + tensor + ") " + check.reason +
                                       ": TensorFlow's loader would read a file outside the model, so the model is "
                                       "not loaded");
  }
  if (check.verdict == AssetCheck::kNotRegular) {
    throw Error(kFailedPrecondition, "the model's asset file " + check.path + " " + check.reason +
                                         ", so the model is not loaded");
  }
}

}  // namespace

LoadPlan plan_load(const MetaGraph& meta_graph, const LoadRequest& request) {
  LoadPlan plan;
  // What TensorFlow will open must not block it: no FIFO (socket, device)
  // where a model file or a checkpoint file is.
  if (!request.export_dir.empty()) require_model_files_not_special(request.export_dir);
  if (request.restore != RestoreMode::kNone && request.checkpoint_prefix && !request.checkpoint_prefix->empty()) {
    require_checkpoint_files_not_special(*request.checkpoint_prefix);
  }
  if (request.restore != RestoreMode::kNone) {
    if (request.checkpoint_prefix.has_value()) {
      plan.checkpoint_prefix = *request.checkpoint_prefix;
      if (!plan.checkpoint_prefix.empty()) plan.checkpoint_format = checkpoint_format(plan.checkpoint_prefix);
    } else if (!request.export_dir.empty()) {
      // As TensorFlow's loaders: a SavedModel without a checkpoint restores nothing.
      const std::string prefix = request.export_dir + "/variables/variables";
      plan.checkpoint_format = checkpoint_format(prefix);
      if (plan.checkpoint_format != CheckpointFormat::kNone) plan.checkpoint_prefix = prefix;
    }
    if (!meta_graph.saver.has_value() || meta_graph.saver->restore_op_name.empty()) plan.checkpoint_prefix.clear();
    // A prefix the caller gave is fed as it is (it may already be a V1 file pattern).
    if (!plan.checkpoint_prefix.empty()) {
      plan.restore_path = request.checkpoint_prefix.has_value() ? plan.checkpoint_prefix
                                                                : saver_restore_path(plan.checkpoint_prefix);
    }
  }
  const std::string asset_dir =
      request.asset_dir.value_or(request.export_dir.empty() ? std::string() : request.export_dir + "/assets");
  // Every asset must resolve inside the asset folder (the init op reads
  // them), whether or not it is fed: refused before TensorFlow reads anything.
  const std::string model_dir = request.asset_dir.has_value() ? std::string() : request.export_dir;
  std::set<std::string> fed;
  for (const AssetFile& a : meta_graph.assets) {
    const AssetCheck check = check_asset(asset_dir, a.filename, model_dir);
    refuse_bad_asset(check, a.filename, a.tensor_name);
    if (fed.insert(a.tensor_name).second) plan.asset_feeds.emplace_back(a.tensor_name, check.path);
  }
  for (const auto& [tensor, path] : request.extra_assets) {
    // A path in the asset folder (a SessionBundle's serving_assets: asset_dir + "/" + the
    // filename its model file gives) is judged as the folder's assets are; another path is
    // the caller's own.
    const std::string in_dir = asset_dir + "/";
    if (!asset_dir.empty() && path.compare(0, in_dir.size(), in_dir) == 0) {
      const std::string filename = path.substr(in_dir.size());
      refuse_bad_asset(check_asset(asset_dir, filename), filename, tensor);
    }
    if (fed.insert(tensor).second) plan.asset_feeds.emplace_back(tensor, path);
  }
  plan.init_op = request.init_op.value_or(meta_graph.init_op_name());
  if (plan.init_op.empty() && request.init_local_variables) {
    plan.init_targets = meta_graph.local_variable_initializers;
    auto tables = meta_graph.node_collections.find("table_initializer");
    if (tables != meta_graph.node_collections.end()) {
      plan.init_targets.insert(plan.init_targets.end(), tables->second.begin(), tables->second.end());
    }
  }
  return plan;
}

std::shared_ptr<Session> Session::create() {
  std::shared_ptr<Session> s(new Session());
  std::lock_guard<std::mutex> lock(g_live_mu);
  live_sessions().emplace(s.get(), s);
  return s;
}

std::shared_ptr<Session> Session::load(LoadRequest request) {
  if (request.restore != RestoreMode::kAuto) return load_once(request);
  try {
    return load_once(request);  // resolves kAuto
  } catch (const Error& e) {
    // tfbundle's own load failed where it was expected to do: TensorFlow's loader, in a new
    // session, has the last word (it loads the model, or fails with TensorFlow's own error).
    // (A failure before the mode was chosen, still kAuto, is one TensorFlow's loader would meet too.)
    const bool ours = request.restore == RestoreMode::kMapped || request.restore == RestoreMode::kGraph;
    if (!ours || request.export_dir.empty() || e.code() == kClosed) throw;
    const std::string failed = restore_mode_name(request.restore);
    request.restore = RestoreMode::kTensorFlow;
    std::shared_ptr<Session> s = load_once(request);
    s->restore_fallback_ = "the " + failed + " restore failed (" + e.what() + ")";
    return s;
  }
}

namespace {
CheckpointGraphSource checkpoint_graph_of(const std::shared_ptr<BundleReader>& checkpoint);
}  // namespace

std::shared_ptr<Session> Session::load_once(LoadRequest& request) {
  check_not_forked();
  if (request.restore == RestoreMode::kAuto && request.export_dir.empty()) request.restore = RestoreMode::kGraph;
  if (request.export_dir.empty() == request.meta_graph.empty()) {
    throw Error(kInvalidArgument, "load: give either a SavedModel folder or a serialized MetaGraphDef");
  }
  if (request.restore == RestoreMode::kTensorFlow && request.export_dir.empty()) {
    throw Error(kInvalidArgument, "the restore mode \"tensorflow\" loads SavedModel folders only");
  }
  // TensorFlow makes its thread pools with the first session: from here on a
  // fork()ed child must not use it. The threads it makes while loading
  // inherit this thread's mask: they never take asynchronous signals.
  note_tensorflow_started();
  AsyncSignalsBlocked no_signals;
  std::shared_ptr<Session> s = create();
  Entry entry(*s);  // close_all() waits for the load
  // One reading of the MetaGraphDef (the one TensorFlow's loader chooses) serves
  // the plan and the session. The plan comes first, so that what it refuses (an
  // asset outside assets/, a FIFO where a file should be) is refused before
  // TensorFlow opens anything.
  s->meta_graph_bytes_ = request.export_dir.empty() ? std::move(request.meta_graph)
                                                    : meta_graph_bytes(request.export_dir, request.tags);
  s->meta_graph_ = parse_meta_graph(s->meta_graph_bytes_);
  const LoadPlan plan = plan_load(s->meta_graph_, request);
  std::optional<Tf2RestorePlan> tf2;
  if (request.restore == RestoreMode::kAuto) {
    s->restore_fallback_ = s->why_not_mapped(plan, &tf2);
    // Nothing to restore: importing the graph is TensorFlow's loader without its restore step.
    request.restore = s->restore_fallback_.empty() ? RestoreMode::kMapped
                      : plan.checkpoint_prefix.empty() ? RestoreMode::kGraph
                                                       : RestoreMode::kTensorFlow;
  }
  s->restore_used_ = request.restore;
  if (request.restore == RestoreMode::kTensorFlow) {
    if (s->load_with_tensorflow(request, plan)) {
      if (!request.compile_cache_dir.empty()) {
        s->compile_cache_ = "unused: TensorFlow's loader (restore \"tf\") imports the graph itself";
      }
      s->restore_what_tensorflow_left(plan);
      s->resolve_signatures();
      s->checkpoint_.reset();
      s->loaded_.store(true);
      return s;
    }
    // TensorFlow's C loader refuses a valid TF1 SavedModelBuilder export that
    // lists one asset twice; importing the graph feeds each asset once.
    request.restore = s->restore_used_ = RestoreMode::kGraph;
  }
  if (request.restore == RestoreMode::kMapped && plan.checkpoint_format == CheckpointFormat::kV1) {
    throw Error(kUnimplemented, "restore=\"mmap\" reads TensorBundle (V2) checkpoints; " + plan.checkpoint_prefix +
                                    " is in an older checkpoint format (V1): load it with the default restore");
  }
  if (request.restore == RestoreMode::kMapped && !plan.checkpoint_prefix.empty()) {
    if (!tf2) tf2 = plan_tf2_restore(s->meta_graph_, checkpoint_graph_of(s->checkpoint(plan)));
    if (tf2->tf2 && !tf2->plain) {
      throw Error(kUnimplemented, "restore=\"mmap\": the restore function " + tf2->restore_function +
                                      " does more than assign variables from the checkpoint (a lookup table or "
                                      "another object restored by its own code): load it with TensorFlow's own "
                                      "restore (restore=\"tf\"; the default, \"auto\", chooses it)");
    }
  }
  if (!request.compile_cache_dir.empty() && request.export_dir.empty()) {
    s->compile_cache_ = "unused: the model is not a SavedModel folder";
  } else if (!request.compile_cache_dir.empty()) {
    CompileCacheUse& use = s->cache_use_.emplace();
    use.dir = request.compile_cache_dir;
    use.export_dir = request.export_dir;
    use.tags = request.tags;
    use.key.tfbundle = request.tfbundle_version;
    use.key.tensorflow = tf_api().Version();
    use.key.cpu = cpu_features();
    use.key.model = model_fingerprint(request.export_dir, s->meta_graph_bytes_, plan.checkpoint_prefix);
    use.tensorflow_grappler = request.config.tensorflow_grappler;
  }
  if (tf2 && tf2->tf2 && request.restore == RestoreMode::kMapped) {
    s->load_tf2_mapped(request.config, plan, *tf2);
  } else {
    s->import_graph(request.config);
    if (request.restore == RestoreMode::kMapped) s->restore_stats_ = MappedRestoreStats{};  // zeros: nothing to restore
    if (!plan.checkpoint_prefix.empty() && request.restore == RestoreMode::kMapped) {
      s->restore_stats_ = restore_from_mapped_shards(s->session_, s->graph_, s->meta_graph_, s->checkpoint(plan));
    } else if (!plan.checkpoint_prefix.empty()) {
      s->restore_with_saver(plan);
      s->restore_what_tensorflow_left(plan);
    }
  }
  s->run_init(plan);
  s->resolve_signatures();
  s->checkpoint_.reset();
  if (s->cache_use_ && !s->cache_use_->path.empty()) {
    // Only a load that succeeded stores what it imported.
    const std::string failed = write_cache_file(s->cache_use_->path, s->cache_use_->key, s->cache_use_->payload);
    if (!failed.empty()) s->compile_cache_ += "; not written: " + failed;
  }
  if (s->cache_use_ && s->compiled_note_.empty() && !s->cache_use_->compilable) {
    s->compiled_note_ = "calls are not stored: only the mapped restore of a TF2 export stores them";
  }
  if (s->cache_use_ && s->cache_use_->compilable && !s->cache_use_->entry_path.empty()) {
    const std::optional<CompiledGraph>& found = s->cache_use_->compiled;
    s->start_capture(found && s->compiled_active_.load() ? &*found : nullptr, s->cache_use_->restored);
  }
  s->cache_use_.reset();
  s->loaded_.store(true);
  return s;
}

bool Session::load_with_tensorflow(const LoadRequest& request, const LoadPlan& plan) {
  const TfApi& api = tf_api();
  SessionOptionsPtr opts(request.config);
  std::vector<const char*> tag_ptrs;
  for (const auto& t : request.tags) tag_ptrs.push_back(t.c_str());
  graph_ = api.NewGraph();
  TfStatus status;
  // No MetaGraphDef asked back: load() has read the same one from the folder.
  session_ = api.LoadSessionFromSavedModel(opts.opts, nullptr, request.export_dir.c_str(), tag_ptrs.data(),
                                           static_cast<int>(tag_ptrs.size()), graph_, nullptr, status);
  if (!status.ok()) {
    session_ = nullptr;
    api.DeleteGraph(graph_);
    graph_ = nullptr;
    if (status.code() == kInvalidArgument && status.message().find("fed more than once") != std::string::npos) {
      return false;  // load() imports the graph instead
    }
    status.throw_if_error("could not load the SavedModel in " + request.export_dir + " with tags {" +
                          join(request.tags) + "}");
  }
  // TensorFlow's C loader restores only a V2 checkpoint and skips a V1 one
  // silently (every variable left uninitialised): restore it as TF1 did.
  if (plan.checkpoint_format == CheckpointFormat::kV1 && !plan.checkpoint_prefix.empty()) restore_with_saver(plan);
  return true;
}

void Session::import_graph(const SessionConfig& config) {
  graph_ = tf_api().NewGraph();
  std::string storage;
  // Functions nothing reaches left out.
  import_graph_def(graph_to_import("graph", {}, {}, &storage), {}, "could not import the graph");
  new_session(config);
}

std::string_view Session::graph_to_import(const char* kind, const std::set<std::string, std::less<>>& drop,
                                          const std::set<std::string, std::less<>>& omit, std::string* storage) {
  if (!cache_use_) return pruned_graph(drop, omit, storage);
  CompileCacheUse& use = *cache_use_;
  // What changes the pruned GraphDef besides the model: the import kind and the two node sets.
  std::string options = std::string("import=") + kind + ";drop=";
  for (const std::string& name : drop) options += name + ",";
  std::string omitted;
  for (const std::string& name : omit) omitted += name + '\n';
  options += ";omit=" + std::to_string(omit.size()) + "/" +
             std::to_string(crc32c::value(omitted.data(), omitted.size()));
  // What changes the optimized graphs of compiled calls: the grappler settings, and the
  // environment that switches TensorFlow's oneDNN rewrites and XLA's auto-clustering.
  options += std::string(";grappler=") + (use.tensorflow_grappler ? "tensorflow" : "fast");
  for (const char* var : {"TF_ENABLE_ONEDNN_OPTS", "TF_XLA_FLAGS"}) {
    const char* value = std::getenv(var);
    options += std::string(";") + var + (value ? "=" + std::string(value) : std::string(" unset"));
  }
  use.key.options = options;
  const std::string path = cache_file_path(use.dir, use.export_dir, use.tags, kind);
  use.entry_path = path;
  CacheLookup found = read_cache_file(path, use.key);
  if (found.payload) {
    // The payload: field 1, the pruned GraphDef; or field 2 = 1, the MetaGraph's own GraphDef;
    // field 3, the compiled calls (compiled_graph.h), when calls have been stored.
    std::optional<std::string_view> graph;
    std::optional<std::string_view> compiled;
    try {
      wire::Reader r(*found.payload, "compile cache payload");
      wire::Field f;
      while (r.next(&f)) {
        if (f.number == 1 && f.type == wire::kLengthDelimited) graph = f.bytes;
        if (f.number == 2 && f.type == wire::kVarint && f.value == 1) graph = meta_graph_.graph_def;
        if (f.number == 3 && f.type == wire::kLengthDelimited) compiled = f.bytes;
      }
    } catch (const Error&) {
      graph.reset();
    }
    if (graph) {
      compile_cache_ = "hit";
      if (compiled) {
        CompiledGraph calls;
        if (decode_compiled_graph(*compiled, &calls)) {
          use.compiled = std::move(calls);
        } else {
          compiled_note_ = "the cache entry's compiled calls are malformed";
        }
      }
      if (graph->data() == meta_graph_.graph_def.data()) return meta_graph_.graph_def;
      *storage = std::string(*graph);
      return *storage;
    }
    found.miss = "the cache file's payload is malformed";
  }
  compile_cache_ = "miss: " + found.miss;
  const std::string_view graph = pruned_graph(drop, omit, storage);
  wire::Writer payload;
  if (storage->empty()) {
    payload.varint_field(2, 1);
  } else {
    payload.bytes_field(1, *storage);
  }
  use.path = path;
  use.payload = payload.data();
  return graph;
}

std::string_view Session::pruned_graph(const std::set<std::string, std::less<>>& drop,
                                       const std::set<std::string, std::less<>>& omit, std::string* storage) const {
  *storage = prune_graph_def(meta_graph_.graph_def, drop, omit).graph_def;
  return storage->empty() ? meta_graph_.graph_def : std::string_view(*storage);
}

TF_Session* Session::open_session(TF_Graph* graph, const SessionConfig& config) {
  SessionOptionsPtr opts(config);
  TfStatus status;
  TF_Session* session = tf_api().NewSession(graph, opts.opts, status);
  if (!status.ok()) session = nullptr;
  status.throw_if_error("could not create a session");
  return session;
}

void Session::new_session(const SessionConfig& config) { session_ = open_session(graph_, config); }

void Session::import_graph_def(std::string_view bytes, const std::set<std::string, std::less<>>& present,
                               const char* what) {
  const TfApi& api = tf_api();
  TF_Buffer graph_def{bytes.data(), bytes.size(), nullptr};
  TF_ImportGraphDefOptions* import_opts = api.NewImportGraphDefOptions();
  for (const std::string& name : present) {
    // References to a node the graph has already are mapped to it.
    TF_Operation* op = api.GraphOperationByName(graph_, name.c_str());
    api.ImportGraphDefOptionsAddInputMapping(import_opts, name.c_str(), 0, TF_Output{op, 0});
    api.ImportGraphDefOptionsRemapControlDependency(import_opts, name.c_str(), op);
  }
  TfStatus status;
  api.GraphImportGraphDef(graph_, &graph_def, import_opts, status);
  api.DeleteImportGraphDefOptions(import_opts);
  status.throw_if_error(what);
}

bool Session::cpu_only() {
  for (const Device& d : devices()) {
    if (d.type != "CPU") return false;
  }
  return true;
}

void Session::load_tf2_mapped(const SessionConfig& config, const LoadPlan& plan, const Tf2RestorePlan& tf2) {
  const std::vector<VariableSource> variables = mapped_tf2_variables(plan, tf2);
  // The mapped restore assigns the variables itself, and nothing saves: the saver's traced save
  // and restore calls (and the functions only they reach) are not imported.
  const std::set<std::string, std::less<>> drop{std::string(input_node(meta_graph_.saver->save_tensor_name)),
                                                std::string(input_node(meta_graph_.saver->restore_op_name))};
  graph_ = tf_api().NewGraph();
  new_session(config);
  std::set<std::string, std::less<>> handles;
  const bool cpu = cpu_only();
  if (cpu) {
    // On a CPU-only session the variables are restored before the model's graph is imported:
    // the restore run then optimizes only the variables' handles and their assignments, not
    // the whole graph and its function library (each run of a new set of nodes costs a grappler
    // pass over the graph: about 2/3 of the load of a Keras MobileNetV2). The handles are the
    // model's own VarHandleOp nodes (same names and attributes: the same resources), imported
    // first; the model's graph is then imported without them, its references mapped to them.
    // (Where variables live on other devices, the model's graph places them: restored after it.)
    for (const VariableSource& v : variables) handles.insert(v.handle);
    wire::Writer only_handles;
    wire::Reader r(meta_graph_.graph_def, "GraphDef");
    wire::Field f;
    while (r.next(&f)) {
      if (f.type != wire::kLengthDelimited) continue;
      if (f.number == pb::GraphDef::kVersions ||
          (f.number == pb::GraphDef::kNode && handles.count(parse_node(f.bytes, false).name) > 0)) {
        only_handles.bytes_field(f.number, f.bytes);
      }
    }
    import_graph_def(only_handles.data(), {}, "could not import the variables' handles");
  }
  std::string storage;
  const std::string_view graph = graph_to_import("tf2-mapped", drop, handles, &storage);
  // Compiled calls: on a CPU-only session whose load runs nothing after the restore.
  const std::string not_compilable = !cpu                       ? "the session has a device other than a CPU"
                                     : !init_does_nothing(plan) ? "the load runs an init op or feeds assets"
                                                                : "";
  const bool compilable = not_compilable.empty();
  if (cache_use_) {
    cache_use_->compilable = compilable;
    cache_use_->restored = handles;
    if (!compilable) compiled_note_ = "calls are not stored: " + not_compilable;
  }
  bool compiled = false;
  if (cache_use_ && cache_use_->compiled) {
    if (!compilable) {
      compiled_note_ = "the stored calls are not run: " + not_compilable;
    } else {
      compiled = use_compiled(config, *cache_use_->compiled, variables, checkpoint(plan));
    }
  }
  if (!handles.empty() && !compiled) {
    restore_stats_ = assign_from_checkpoint(session_, graph_, variables, checkpoint(plan), true);
  }
  import_graph_def(graph, handles, "could not import the graph");
  if (compiled && !index_compiled(*cache_use_->compiled)) {
    free_compiled();
    restore_stats_ = assign_from_checkpoint(session_, graph_, variables, checkpoint(plan), true);
  }
  if (handles.empty()) restore_stats_ = assign_from_checkpoint(session_, graph_, variables, checkpoint(plan), true);
}

void Session::restore_with_saver(const LoadPlan& plan) {
  const SaverDef& saver = *meta_graph_.saver;  // plan_load keeps a checkpoint only with a SaverDef
  Endpoint filename = resolve_tensor(saver.filename_tensor_name);
  TensorPtr path = make_string_tensor({}, {plan.restore_path});
  TF_Tensor* feed = path.get();
  TF_Operation* restore = resolve_operation(saver.restore_op_name);
  try {
    run({filename.output}, {feed}, {}, {restore});
  } catch (const Error& e) {
    throw Error(e.code(), "could not restore the variables from " + plan.checkpoint_prefix + ": " + e.what());
  }
}

namespace {

// The checkpoint's object graph, read when a plan needs it.
CheckpointGraphSource checkpoint_graph_of(const std::shared_ptr<BundleReader>& checkpoint) {
  return [reader = checkpoint] {
    const BundleEntry* entry = reader->index().find("_CHECKPOINTABLE_OBJECT_GRAPH");
    if (entry == nullptr || entry->dtype != pb::DT_STRING) return std::vector<ObjectGraphNode>{};
    std::shared_ptr<const MappedFile> owner;
    const auto elements = reader->string_elements(*entry, false, &owner);
    if (elements.size() != 1) return std::vector<ObjectGraphNode>{};
    return parse_object_graph(elements[0]);
  };
}

std::string variable_names(const std::vector<VariableSource>& variables) {
  std::string out;
  for (size_t i = 0; i < variables.size() && i < 8; ++i) out += (i ? ", " : "") + variables[i].what;
  if (variables.size() > 8) out += " and " + std::to_string(variables.size() - 8) + " more";
  return out;
}

void refuse_unrestorable(const Tf2RestorePlan& plan, const std::string& prefix) {
  if (plan.unrestorable.empty()) return;
  throw Error(kFailedPrecondition,
              "the graph uses variables that neither its restore function (" + plan.restore_function +
                  ") nor the object graph restores from " + prefix + ": " + variable_names(plan.unrestorable) +
                  "; the model cannot run");
}

}  // namespace

void Session::restore_what_tensorflow_left(const LoadPlan& plan) {
  if (plan.checkpoint_prefix.empty() || meta_graph_.object_graph_def.empty()) return;
  const Tf2RestorePlan tf2 = plan_tf2_restore(meta_graph_, checkpoint_graph_of(checkpoint(plan)));
  refuse_unrestorable(tf2, plan.checkpoint_prefix);
  if (tf2.from_object_graph.empty()) return;
  assign_from_checkpoint(session_, graph_, tf2.from_object_graph, checkpoint(plan), false);
}

const std::shared_ptr<BundleReader>& Session::checkpoint(const LoadPlan& plan) {
  if (!checkpoint_) checkpoint_ = BundleReader::open(plan.checkpoint_prefix);
  return checkpoint_;
}

std::string Session::why_not_mapped(const LoadPlan& plan, std::optional<Tf2RestorePlan>* tf2) {
  if (plan.checkpoint_prefix.empty()) return "the model has no checkpoint to restore";
  if (plan.checkpoint_format != CheckpointFormat::kV2) return "its checkpoint is in the V1 format";
  if (!meta_graph_.saver.has_value() || meta_graph_.saver->restore_op_name.empty()) {
    return "its MetaGraph has no SaverDef restore op";
  }
  *tf2 = plan_tf2_restore(meta_graph_, checkpoint_graph_of(checkpoint(plan)));
  if ((*tf2)->tf2 && !(*tf2)->plain) {
    return "its restore function " + (*tf2)->restore_function + " does more than assign variables";
  }
  if ((*tf2)->tf2 && !(*tf2)->unrestorable.empty()) return "some variables are restored by nothing";
  if (!(*tf2)->tf2 && find_restore_nodes(meta_graph_.graph_def, meta_graph_.saver->restore_op_name).empty()) {
    return "its restore op has no graph-level RestoreV2";
  }
  // A mapping no lease guards would change with its file if the checkpoint were rewritten in
  // place (mapping_guard.h): the default maps only what it can guard.
  const auto& reader = checkpoint(plan);
  for (int32_t i = 0; i < reader->index().header().num_shards; ++i) {
    const std::string path = reader->shard_path(i);
    if (!can_guard_file(path)) {
      return "no read lease can be taken on " + path +
             " (the file is another user's, or its file system does not support leases), so a mapping of it "
             "would not be guarded against the file being rewritten in place";
    }
  }
  return {};
}

std::vector<VariableSource> Session::mapped_tf2_variables(const LoadPlan& plan, const Tf2RestorePlan& tf2) {
  refuse_unrestorable(tf2, plan.checkpoint_prefix);
  // TensorFlow's restore function reads every key it names, and fails the load on one the
  // checkpoint lacks: so does this, even for a variable the graph never reads.
  const BundleIndex& index = checkpoint(plan)->index();
  for (const VariableSource& v : tf2.from_restore_function) {
    if (index.find(v.key) != nullptr) continue;
    throw Error(kNotFound, "Key " + v.key + " not found in checkpoint " + plan.checkpoint_prefix +
                               " (the restore function " + tf2.restore_function + " reads it for the variable " +
                               v.what + ")");
  }
  // What the graph uses: optimizer slots and the copies only the saver reads are left alone.
  std::vector<VariableSource> variables;
  for (const VariableSource& v : tf2.from_restore_function) {
    if (v.used) variables.push_back(v);
  }
  variables.insert(variables.end(), tf2.from_object_graph.begin(), tf2.from_object_graph.end());
  mark_sparse_variables(meta_graph_, &variables);
  return variables;
}

namespace {

// True when the GraphDef's node `name` is a NoOp with no inputs (the `__saved_model_init_op` of a
// TF2 export with no tables): running it does nothing, yet a run of it costs a graph optimization
// pass over the whole graph and its functions (tens of milliseconds).
bool is_lone_noop(std::string_view graph_def, std::string_view name) {
  name = input_node(name);
  wire::Reader r(graph_def, "GraphDef");
  wire::Field f;
  bool found = false;
  bool lone = false;
  while (r.next(&f)) {
    if (f.number != pb::GraphDef::kNode || f.type != wire::kLengthDelimited) continue;
    const NodeView node = parse_node(f.bytes, false);
    if (node.name != name) continue;
    if (found) return false;  // two nodes of that name: TensorFlow's import refuses the graph anyway
    found = true;
    lone = node.op == "NoOp" && node.inputs.empty();
  }
  return lone;
}

}  // namespace

bool Session::init_does_nothing(const LoadPlan& plan) const {
  if (!plan.asset_feeds.empty() || !plan.init_targets.empty()) return false;
  return plan.init_op.empty() || is_lone_noop(meta_graph_.graph_def, plan.init_op);
}

void Session::run_init(const LoadPlan& plan) {
  if (!plan.init_op.empty()) {
    if (is_lone_noop(meta_graph_.graph_def, plan.init_op)) return;
    std::vector<TF_Output> feeds;
    std::vector<TensorPtr> values;
    std::vector<TF_Tensor*> raw;
    for (const auto& [tensor, path] : plan.asset_feeds) {
      feeds.push_back(resolve_tensor(tensor).output);
      values.push_back(make_string_tensor({}, {path}));
      raw.push_back(values.back().get());
    }
    try {
      run(feeds, raw, {}, {resolve_operation(plan.init_op)});
    } catch (const Error& e) {
      throw Error(e.code(), "the init op " + plan.init_op + " failed: " + e.what());
    }
  } else if (!plan.init_targets.empty()) {
    try {
      std::vector<TF_Operation*> targets;
      for (const auto& name : plan.init_targets) targets.push_back(resolve_operation(name));
      run({}, {}, {}, targets);
    } catch (const Error& e) {
      std::string names;
      for (size_t i = 0; i < plan.init_targets.size() && i < 5; ++i) names += (i ? ", " : "") + plan.init_targets[i];
      throw Error(e.code(), "initialising its local variables and lookup tables (" + names + ") failed: " + e.what());
    }
  }
}

Session::Session() = default;

Session::~Session() {
  // In a fork()ed child the session is the parent's, on TensorFlow's dead
  // thread pools: it is forgotten, never freed (no lock is taken either: a
  // thread of the parent may have held it at the fork).
  if (forked_after_tensorflow()) return;
  {
    std::lock_guard<std::mutex> lock(g_live_mu);
    live_sessions().erase(this);
  }
  try {
    close();
  } catch (...) {
    // A destructor must not throw; TensorFlow's close status is dropped here.
  }
}

Session::Entry::Entry(const Session& s) : s_(s) {
  check_not_forked();
  s_.entries_.fetch_add(1);
  if (s_.closing_.load()) {
    s_.leave();
    throw Error(kClosed, kClosedMessage);
  }
}

Session::Entry::~Entry() { s_.leave(); }

void Session::leave() const {
  if (entries_.fetch_sub(1) == 1 && closing_.load()) {
    std::lock_guard<std::mutex> lock(idle_mu_);
    idle_cv_.notify_all();
  }
}

void Session::close_all() {
  if (forked_after_tensorflow()) return;  // the parent's sessions: forgotten (see ~Session)
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard<std::mutex> lock(g_live_mu);
    for (const auto& [raw, weak] : live_sessions()) {
      (void)raw;
      if (std::shared_ptr<Session> s = weak.lock()) open.push_back(std::move(s));
    }
  }
  // At exit the calls still in flight belong to daemon threads that the
  // interpreter is about to end: refuse new calls everywhere, cancel those in
  // flight, then close (which waits for them).
  for (const auto& s : open) s->cancel_calls_in_flight();
  for (const auto& s : open) {
    try {
      s->close();
    } catch (const Error&) {
    }
  }
}

void Session::cancel_calls_in_flight() {
  closing_.store(true);
  std::lock_guard<std::mutex> lock(close_mu_);
  // Only a loaded session: a load in flight is still writing session_.
  if (freed_ || !loaded_.load() || session_ == nullptr || entries_.load() == 0) return;
  AsyncSignalsBlocked no_signals;
  cancelled_at_exit_.store(true);
  TfStatus status;
  tf_api().CloseSession(session_, status);  // cancels the steps in flight; TF_SessionRun is safe beside it
  if (compiled_session_ != nullptr) {
    TfStatus compiled_status;
    tf_api().CloseSession(compiled_session_, compiled_status);
  }
}

bool Session::closed() const { return closing_.load(); }

void Session::close() {
  // A fork()ed child must not call TensorFlow, nor wait for calls that no
  // thread of its own is making: the session is forgotten (see ~Session).
  check_not_forked();
  std::lock_guard<std::mutex> lock(close_mu_);
  closing_.store(true);  // every entry from now on throws CLOSED
  {
    std::unique_lock<std::mutex> idle(idle_mu_);
    idle_cv_.wait(idle, [this] { return entries_.load() == 0; });
  }
  if (freed_) return;
  freed_ = true;
  AsyncSignalsBlocked no_signals;
  release(&session_, &graph_);
  free_compiled();
}

void Session::release(TF_Session** session, TF_Graph** graph) {
  const TfApi& api = tf_api();
  if (*session != nullptr) {
    TfStatus status;
    api.CloseSession(*session, status);  // TensorFlow's close status is dropped: the session goes anyway
    TfStatus status2;
    api.DeleteSession(*session, status2);
    *session = nullptr;
  }
  if (*graph != nullptr) {
    api.DeleteGraph(*graph);
    *graph = nullptr;
  }
}

TF_Operation* Session::resolve_operation(const std::string& name) {
  Entry entry(*this);
  std::string op_name = name;
  if (!op_name.empty() && op_name[0] == '^') op_name.erase(0, 1);
  TF_Operation* op = tf_api().GraphOperationByName(graph_, op_name.c_str());
  if (op == nullptr) throw Error(kNotFound, "the graph has no operation named '" + op_name + "'");
  return op;
}

Endpoint Session::resolve_tensor(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = endpoint_cache_.find(name);
    if (it != endpoint_cache_.end()) return it->second;
  }
  std::string_view op_view = name;
  if (!op_view.empty() && op_view[0] == '^') op_view.remove_prefix(1);  // "^op" names its output 0, as before
  int index;
  if (!split_tensor_name(op_view, &op_view, &index)) {
    throw Error(kInvalidArgument, "'" + name + "' is not a tensor name: use 'op_name:output_index', e.g. 'x:0'");
  }
  const std::string op_name(op_view);
  TF_Operation* op = resolve_operation(op_name);
  const TfApi& api = tf_api();
  Endpoint e;
  e.name = name;
  {
    Entry entry(*this);
    const int n = api.OperationNumOutputs(op);
    if (index >= n) {
      throw Error(kNotFound, "operation '" + op_name + "' (" + api.OperationOpType(op) + ") has " + std::to_string(n) +
                                 " output(s); there is no '" + name + "'");
    }
    e.output = TF_Output{op, index};
    e.dtype = api.OperationOutputType(e.output);
    if (e.dtype > 100) e.dtype -= 100;  // a TF1 reference (DT_FLOAT_REF): fed and fetched as its base type
    e.shape = graph_shape(graph_, e.output);
  }
  std::lock_guard<std::mutex> lock(cache_mu_);
  endpoint_cache_.emplace(name, e);
  return e;
}

void Session::resolve_signatures() {
  for (const SignatureDef& def : meta_graph_.signatures) {
    if (def.key == kInitSignatureKey) continue;
    ResolvedSignature sig;
    sig.def = &def;
    auto resolve_side = [&](const std::vector<std::pair<std::string, TensorInfo>>& side, bool is_input) {
      for (const auto& [key, info] : side) {
        const char* what = is_input ? "input" : "output";
        if (info.encoding != TensorInfo::Encoding::kDense) {
          sig.unsupported[key] = std::string(what) + " '" + key + "' is a " +
                                 (info.encoding == TensorInfo::Encoding::kCooSparse ? "SparseTensor" : "composite tensor") +
                                 "; run its component tensors by name with Model.run()";
          continue;
        }
        try {
          Endpoint e = resolve_tensor(info.name);
          if (is_input) e.shape = check_shape(info.shape, e.shape);
          (is_input ? sig.input_keys : sig.output_keys).push_back(key);
          (is_input ? sig.inputs : sig.outputs).push_back(std::move(e));
        } catch (const Error& err) {
          sig.unsupported[key] = std::string(what) + " '" + key + "': " + err.what();
        }
      }
    };
    resolve_side(def.inputs, true);
    resolve_side(def.outputs, false);
    signatures_.emplace(def.key, std::move(sig));
  }
}

std::vector<TensorPtr> Session::run(const std::vector<TF_Output>& feeds, const std::vector<TF_Tensor*>& feed_values,
                                    const std::vector<TF_Output>& fetches, const std::vector<TF_Operation*>& targets,
                                    const std::string* run_options, std::string* run_metadata) {
  Entry entry(*this);
  if (compiled_active_.load() || capturing_.load()) {
    thread_local std::vector<uintptr_t> key;
    call_key(feeds, fetches, targets, &key);
    if (compiled_active_.load()) {
      auto it = compiled_runs_.find(key);
      // A profiled call (run_options) runs the model's own graph, whose node names it reports.
      if (it != compiled_runs_.end() && run_options == nullptr) {
        const CompiledRun& c = it->second;
        return run_in(compiled_session_, c.feeds, feed_values, c.fetches, c.targets, nullptr, nullptr);
      }
      leave_compiled();
    }
    if (capturing_.load() && run_options == nullptr && first_call(key)) {
      const std::string options = partition_graph_options();
      std::string metadata;
      std::vector<TensorPtr> result = run_in(session_, feeds, feed_values, fetches, targets, &options, &metadata);
      capture_call(feeds, fetches, targets, metadata);
      return result;
    }
  }
  return run_in(session_, feeds, feed_values, fetches, targets, run_options, run_metadata);
}

std::vector<TensorPtr> Session::run_in(TF_Session* session, const std::vector<TF_Output>& feeds,
                                       const std::vector<TF_Tensor*>& feed_values, const std::vector<TF_Output>& fetches,
                                       const std::vector<TF_Operation*>& targets, const std::string* run_options,
                                       std::string* run_metadata) {
  const TfApi& api = tf_api();
  std::vector<TF_Tensor*> outputs(fetches.size(), nullptr);
  TfStatus status;
  TF_Buffer options_buf{run_options ? run_options->data() : nullptr, run_options ? run_options->size() : 0, nullptr};
  TF_Buffer* metadata = run_metadata ? api.NewBuffer() : nullptr;
  {
    AsyncSignalsBlocked no_signals;
    api.SessionRun(session, run_options ? &options_buf : nullptr, feeds.data(), feed_values.data(),
                   static_cast<int>(feeds.size()), fetches.data(), outputs.data(), static_cast<int>(fetches.size()),
                   targets.data(), static_cast<int>(targets.size()), metadata, status);
  }
  if (metadata != nullptr) {
    run_metadata->assign(static_cast<const char*>(metadata->data), metadata->length);
    api.DeleteBuffer(metadata);
  }
  std::vector<TensorPtr> result;
  result.reserve(outputs.size());
  for (TF_Tensor* t : outputs) result.emplace_back(t);
  if (status.code() == kCancelled && cancelled_at_exit_.load()) {
    throw Error(kCancelled, "the call was cancelled: tfbundle closed the model at interpreter exit while it ran (" +
                                status.message() + ")");
  }
  status.throw_if_error();
  return result;
}

std::vector<Device> Session::devices() {
  const TfApi& api = tf_api();
  Entry entry(*this);
  TfStatus status;
  TF_DeviceList* list = api.SessionListDevices(session_, status);
  status.throw_if_error("could not list the devices");
  std::vector<Device> out;
  const int n = api.DeviceListCount(list);
  for (int i = 0; i < n; ++i) {
    Device d;
    d.name = api.DeviceListName(list, i, status);
    d.type = api.DeviceListType(list, i, status);
    d.memory_bytes = api.DeviceListMemoryBytes(list, i, status);
    out.push_back(std::move(d));
  }
  api.DeleteDeviceList(list);
  return out;
}

}  // namespace tfbundle
