// A loaded model: one TF_Graph + TF_Session, its MetaGraphDef, and runs.
//
// Thread safety: run() may be called from many threads at once (TF_SessionRun
// is thread-safe); close() waits for runs in flight and then frees the
// session. Every method throws tfbundle::Error; run() after close() throws
// FAILED_PRECONDITION.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "saved_model.h"
#include "tensor.h"
#include "tf_c_api.h"

namespace tfbundle {

struct SessionConfig {
  int intra_op_threads = 0;         // 0: TensorFlow's default
  int inter_op_threads = 0;         // 0: TensorFlow's default
  std::optional<bool> gpu_memory_growth;
  std::optional<std::string> visible_devices;  // "0,1"; "" hides every GPU
  bool allow_soft_placement = true;            // as TensorFlow's Python loaders do
};

// The serialized ConfigProto for these options.
std::string serialize_config(const SessionConfig& config);

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

class Session {
 public:
  // Loads a SavedModel through TF_LoadSessionFromSavedModel (restores the
  // variables and runs the init op with the asset paths fed). Blocking: call
  // without the GIL.
  static std::shared_ptr<Session> load_saved_model(const std::string& export_dir, const std::vector<std::string>& tags,
                                                   const SessionConfig& config);
  // The same done by tfbundle itself (import the MetaGraphDef's graph, restore,
  // run the init op with each asset fed once). Used where
  // TF_LoadSessionFromSavedModel fails on a valid model: a TF1 SavedModelBuilder
  // export that lists one asset twice.
  static std::shared_ptr<Session> load_saved_model_manually(const std::string& export_dir,
                                                            const std::vector<std::string>& tags,
                                                            const SessionConfig& config);
  // Builds a session from a serialized MetaGraphDef: imports its graph,
  // restores variables from `checkpoint_prefix` through the SaverDef's restore
  // op (when both are present), feeds `asset_paths` (placeholder -> path, each
  // fed once) and runs `init_op` (when not empty).
  static std::shared_ptr<Session> from_meta_graph(std::string meta_graph_bytes, const std::string& checkpoint_prefix,
                                                  const std::vector<std::pair<std::string, std::string>>& asset_paths,
                                                  const std::string& init_op, const SessionConfig& config);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const MetaGraph& meta_graph() const { return meta_graph_; }
  const std::map<std::string, ResolvedSignature>& signatures() const { return signatures_; }

  // "op:1" or "op" (output 0). Throws NOT_FOUND naming the tensor.
  Endpoint resolve_tensor(const std::string& name);
  TF_Operation* resolve_operation(const std::string& name);

  // Runs the graph. Outputs are returned in fetch order. Blocking: call without the GIL.
  std::vector<TensorPtr> run(const std::vector<TF_Output>& feeds, const std::vector<TF_Tensor*>& feed_values,
                             const std::vector<TF_Output>& fetches, const std::vector<TF_Operation*>& targets,
                             const std::string* run_options = nullptr, std::string* run_metadata = nullptr);

  std::vector<Device> devices();
  void close();
  bool closed() const;

  // Closes every session still open. Called at interpreter exit: a session
  // alive while TensorFlow's static destructors run can crash the process.
  static void close_all();

  // For benchmarks and advanced users: the raw TF_Session* / TF_Graph*.
  TF_Session* raw_session() const { return session_; }
  TF_Graph* raw_graph() const { return graph_; }

 private:
  Session();
  void resolve_signatures();
  void check_open() const;

  mutable std::shared_mutex mu_;  // shared: runs in flight; exclusive: close
  bool closed_ = false;
  TF_Graph* graph_ = nullptr;
  TF_Session* session_ = nullptr;
  std::string meta_graph_bytes_;  // owns the bytes meta_graph_ views into
  MetaGraph meta_graph_;
  std::map<std::string, ResolvedSignature> signatures_;
  std::mutex cache_mu_;
  std::map<std::string, Endpoint> endpoint_cache_;
};

}  // namespace tfbundle
