// SavedModel, MetaGraphDef and SignatureDef decoding (no protobuf runtime).
//
// Field numbers are the generated constants of proto_fields.h (from proto/).
//
// Every decoder here reads a message as protobuf (and so TensorFlow) does,
// because what it finds decides what a load runs and what the op policy
// judges: the last occurrence of a scalar field wins; a message field given
// more than once is merged (wire::MergedMessage); repeated fields
// concatenate; of map entries with one key the last wins; a oneof holds the
// member that came last; a field whose wire type does not match its
// declaration is an unknown field and skipped.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wire.h"

namespace tfbundle {

struct TensorShape {
  bool unknown_rank = true;    // no shape recorded, or unknown_rank set
  std::vector<int64_t> dims;   // -1 for an unknown dimension
};

struct TensorInfo {
  enum class Encoding { kDense, kCooSparse, kComposite };
  Encoding encoding = Encoding::kDense;
  std::string name;            // dense: "op:index"
  int dtype = 0;               // TF_DataType value
  TensorShape shape;
  // kCooSparse: the three component tensors.
  std::string coo_values, coo_indices, coo_dense_shape;
  // kComposite: the component tensors, in order.
  std::vector<TensorInfo> components;
};

struct SignatureDef {
  std::string key;
  std::string method_name;
  std::vector<std::pair<std::string, TensorInfo>> inputs;   // sorted by key
  std::vector<std::pair<std::string, TensorInfo>> outputs;  // sorted by key
};

struct AssetFile {
  std::string tensor_name;  // the placeholder fed with the asset's path
  std::string filename;     // base name inside assets/
};

struct SaverDef {
  std::string filename_tensor_name;
  std::string save_tensor_name;
  std::string restore_op_name;
  int version = 0;  // CheckpointFormatVersion: 0 LEGACY, 1 V1, 2 V2
  bool sharded = false;
};

struct MetaGraph {
  std::vector<std::string> tags;  // in file order
  std::string meta_graph_version;
  std::string tensorflow_version;
  std::string tensorflow_git_version;
  bool stripped_default_attrs = false;
  std::vector<SignatureDef> signatures;  // sorted by key
  // The asset files the init op is fed: asset_file_def, or where that is
  // empty (TF1 SavedModelBuilder exports) the AssetFileDefs packed as Any in
  // the "saved_model_assets" collection, as TensorFlow's loader reads them.
  std::vector<AssetFile> assets;
  std::optional<SaverDef> saver;
  bool has_object_graph = false;
  // The serialized SavedObjectGraph (TF2 exports), a view into the buffer that
  // was parsed; empty when absent.
  std::string_view object_graph_def;
  // collection name -> node names, for node_list collections (main_op,
  // legacy_init_op, table_initializer, ...); a collection of another kind is
  // there with no names (TensorFlow's loader then finds no init op in it).
  std::map<std::string, std::vector<std::string>> node_collections;
  // The initializer op of each VariableDef in the "local_variables"
  // collection: with the "table_initializer" collection, what TensorFlow's
  // default main op runs when a graph has no init op of its own.
  std::vector<std::string> local_variable_initializers;
  // The serialized GraphDef, a view into the buffer that was parsed (or into
  // `storage` when graph_def was given more than once: the fields merged).
  std::string_view graph_def;
  // Owns the merged bytes of message fields given more than once, which
  // graph_def and object_graph_def then view; shared by copies.
  std::vector<std::shared_ptr<const std::string>> storage;

  // The op the loader runs after restoring, found as TensorFlow's loader
  // finds it (GetInitOp): the __saved_model_init_op signature's output of
  // that key; without that signature the saved_model_main_op collection if
  // it is there, else legacy_init_op, whose node list must hold exactly one
  // name. "" when there is none, or where TensorFlow's loader fails instead
  // (the signature lacks the output, the collection is not one node).
  std::string init_op_name() const;
  // The nodes TensorFlow runs from when serving: those of every tensor the signatures name
  // (dense, sparse components, composite components) and the init op's. Names may repeat.
  std::vector<std::string> serving_roots() const;
  const SignatureDef* signature(std::string_view key) const;
};

struct SavedModelProto {
  int64_t schema_version = 0;
  std::vector<MetaGraph> meta_graphs;
};

// Splits a tensor name or a NodeDef input: "op" -> ("op", 0), "op:2" -> ("op", 2),
// "^op" (a control input) -> ("op", -1). False when what follows the last ':'
// is not an output index (then *op is the whole name and *index 0).
bool split_tensor_name(std::string_view name, std::string_view* op, int* index);

// Parses a serialized TensorShapeProto (unknown_rank, or the dims with -1 for unknown).
TensorShape parse_tensor_shape(std::string_view bytes);

// Parses a serialized MetaGraphDef. Views in the result point into `bytes`.
MetaGraph parse_meta_graph(std::string_view bytes);
// Parses a serialized SavedModel. Views in the result point into `bytes`.
SavedModelProto parse_saved_model(std::string_view bytes);

// A SavedObjectGraph split into its parts: the SavedObject messages, in order, and the
// SavedConcreteFunction of each name (of map entries with one name the last; its value given
// more than once merged, as protobuf merges it). `nodes` view `bytes`; `concrete_functions` may
// own merged copies.
struct SavedObjectGraphParts {
  std::vector<std::string_view> nodes;
  std::map<std::string, wire::MergedMessage> concrete_functions;
};
SavedObjectGraphParts split_saved_object_graph(std::string_view bytes);

// One child of a SavedObject (TrackableObjectGraph.TrackableObject.ObjectReference): node_id -1
// when absent; local_name views the bytes.
struct ObjectReference {
  int64_t node_id = -1;
  std::string_view local_name;
};
ObjectReference parse_object_reference(std::string_view bytes);


}  // namespace tfbundle
