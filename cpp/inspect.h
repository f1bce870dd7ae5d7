// Inspecting a SavedModel folder without TensorFlow: what tfbundle.inspect and
// `tfbundle show / scan` report.
//
// Everything here reads files and decodes protos with the wire reader; no
// TensorFlow library is opened. saved_model.pb is memory-mapped and the
// GraphDef inside it is skipped (one varint) unless op types are asked for, so
// inspecting a model with a 100 MB graph touches only the pages it reads.
//
// Field numbers are the generated constants of proto_fields.h (from proto/).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mapped_file.h"
#include "model_files.h"
#include "saved_model.h"

namespace tfbundle {

// The SavedModel proto of a folder, as binary wire-format bytes.

// One MetaGraphDef of a SavedModel, with what inspection reports beside the
// fields parse_meta_graph decodes.
struct MetaGraphEntry {
  MetaGraph meta_graph;
  std::string_view bytes;           // the serialized MetaGraphDef
  std::vector<AssetFile> assets;    // asset_file_def, else the saved_model_assets collection
};

struct SavedModelContents {
  int64_t schema_version = 0;
  std::vector<MetaGraphEntry> meta_graphs;  // in file order
};

// Decodes the SavedModel proto (views point into `bytes`). Throws DATA_LOSS
// naming `what` when the bytes are malformed.
SavedModelContents parse_saved_model_contents(std::string_view bytes, const std::string& what);

// The op types of a GraphDef.
struct GraphOps {
  // Op type -> number of nodes of that type, over the graph's nodes and the
  // bodies of every function in its library. Nodes that call a library
  // function by name are counted under "function_calls", not as op types.
  std::map<std::string, int64_t> counts;
  int64_t function_calls = 0;
  // saved_model_cli's ops_used_by_graph_def walk: the graph's nodes, then the
  // functions they reach by name or through PartitionedCall /
  // StatefulPartitionedCall's `f` (last found, first walked). Every name the walk
  // marks, in the order first marked, library function names included.
  std::vector<std::string> cli_marks;
  std::vector<std::string> function_names;  // signature names of the library's functions
  int64_t graph_nodes = 0;
  int64_t function_nodes = 0;
  // What a security policy looks at (python/tfbundle/_policy.py): op type ->
  // nodes, over the part of the graph TensorFlow runs when it loads the model
  // and runs its signatures. That is what the signatures' tensors and the init
  // op depend on (through inputs and control inputs) and the SaverDef's restore
  // op, plus the bodies of the functions those nodes call, transitively. The
  // restore op's own checkpoint reads (Restore, RestoreV2, RestoreSlice) are
  // left out; the saver's save subgraph and code nothing runs are not counted.
  // PrintV2 nodes whose output_stream is a file count as "PrintV2(file)".
  // Without a MetaGraph, every node counts.
  std::map<std::string, int64_t> policy_counts;
};

// The op types of `graph_def`; `meta_graph` (the MetaGraphDef holding it, or
// null) tells which part of the graph runs (see policy_counts).
GraphOps graph_ops(std::string_view graph_def, const MetaGraph* meta_graph = nullptr);

// What variables/ holds.
struct VariablesSummary {
  std::string format;  // "v2" (variables.index + data shards), "v1" (a V1 checkpoint file), "" (none)
  int64_t count = 0;        // tensors in the index (slices of one tensor count once)
  int64_t total_bytes = 0;  // bytes of tensor data the index points to
  int32_t num_shards = 0;
  bool has_object_graph = false;  // the _CHECKPOINTABLE_OBJECT_GRAPH entry (TF2), not counted above
  std::vector<std::string> missing_shards;  // data files the index names but the folder lacks (the first 100)
};

// Reads variables/variables.index (header and entries only; no tensor data).
// Throws as BundleIndex::parse for a malformed index, and DATA_LOSS for an
// entry of negative size or sizes whose sum overflows.
VariablesSummary summarize_variables(const std::string& export_dir);

struct Fingerprint {
  uint64_t saved_model_checksum = 0;
  uint64_t graph_def_program_hash = 0;
  uint64_t signature_def_hash = 0;
  uint64_t saved_object_graph_hash = 0;
  uint64_t checkpoint_hash = 0;
  int32_t producer = 0;  // FingerprintDef.version.producer
  std::string uuid;
};

// fingerprint.pb of the folder, or nullopt when absent. Throws DATA_LOSS when malformed.
std::optional<Fingerprint> read_fingerprint(const std::string& export_dir);

// A decoded StructuredValue (tensorflow/core/protobuf/struct.proto): the
// signatures TF2 saved functions were traced with.
struct StructuredValue {
  enum Kind {
    kUnset,
    kNone,
    kFloat64,
    kInt64,
    kString,
    kBool,
    kTensorShape,
    kDType,
    kTensorSpec,
    kBoundedTensorSpec,
    kTypeSpec,
    kList,
    kTuple,
    kDict,
    kNamedTuple,
    kTensor,
    kNumpy,
  };
  Kind kind = kUnset;
  double float64 = 0;
  int64_t int64 = 0;
  bool boolean = false;
  std::string string;  // string_value; spec name; named tuple name; type spec class name
  int dtype = 0;
  TensorShape shape;
  int type_spec_class = 0;
  std::vector<StructuredValue> items;  // list / tuple / dict / named tuple values; a type spec's state
  std::vector<std::string> keys;       // dict / named tuple keys
  bool decodable() const;              // every value set (TensorFlow's decoder refuses unset ones)
};

StructuredValue parse_structured_value(std::string_view bytes);

struct ConcreteFunctionEntry {
  std::string name;        // in the SavedModel: "__inference_f_123"
  std::string load_name;   // the name TensorFlow's Python loader gives it (see below)
  StructuredValue input_signature;  // canonicalized_input_signature: (args tuple, kwargs dict)
  bool has_signature = false;
};

struct RootFunction {
  std::string name;  // the root object's attribute
  bool bare = false;  // a bare concrete function (else a tf.function with concrete functions)
  std::vector<std::string> argument_keywords;  // bare concrete functions
  std::vector<ConcreteFunctionEntry> concrete_functions;  // in SavedModel order
};

// The "Concrete Functions" part of saved_model_cli show --all, predicted from
// the protos. saved_model_cli loads the model with TensorFlow's Python loader
// (tf.saved_model.load, checkpoint skipped) and lists the functions attached to
// the root object; the loader renames each function "__inference_<name>_<uid>"
// with a process-wide counter, and saved_model_cli sorts concrete functions by
// those names. The counter advances by one per FuncGraph, per tensor it
// creates (one per function argument and per output of every node) and per
// name, in the loader's topological order of the library, so the names are
// computed here with the op registry's output counts (op_registry.h).
struct FunctionListing {
  bool present = false;  // some MetaGraphDef has an object graph
  // Why TensorFlow's loader would fail, as saved_model_cli reports it:
  // "" (it loads), "custom_ops" (an op type TensorFlow does not register) or
  // "unknown" (another failure); `failure_detail` says which.
  std::string failure;
  std::string failure_detail;
  std::vector<RootFunction> functions;  // in object-graph order
};

FunctionListing list_concrete_functions(const SavedModelContents& contents);

// The name saved_model_cli's loader gives a library function before its
// counter suffix: "__inference_f_12" -> "f" (other names are kept).
std::string clean_function_name(std::string_view name);

}  // namespace tfbundle
