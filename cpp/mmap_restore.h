// Experimental: restore a SavedModel's variables from memory-mapped data shards.
//
// TensorFlow's own restore (the SaverDef's restore op, a graph-level RestoreV2
// node) reads every tensor from the data shards into fresh private buffers.
// This feeds the outputs of those RestoreV2 nodes instead, with TF_Tensors
// over a private, writable (copy-on-write) mapping of each shard: a tensor
// whose bytes start at a 64-byte-aligned address is handed to TensorFlow
// without a copy (AssignVariableOp then shares that buffer, so its pages stay
// page-cache pages shared between processes until something writes them);
// any other tensor is copied into TensorFlow's memory. The mapping stays alive
// as long as a tensor over it does, guarded against the shard being rewritten
// in place (mapping_guard.h). Every tensor's CRC-32C is checked before it
// is fed (DATA_LOSS), as TensorFlow's RestoreV2 checks it.
//
// restore_from_mapped_shards handles graphs whose restore op runs graph-level RestoreV2 nodes
// (TF1 exports: tf.compat.v1 Saver / SavedModelBuilder). TF2 SavedModels restore inside a
// function (__inference__traced_restore_*) whose RestoreV2 cannot be fed from outside: for them
// assign_from_checkpoint assigns each variable itself, from the plan of tf2_restore.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "saved_model.h"
#include "tensor_bundle.h"
#include "tf2_restore.h"
#include "tf_c_api.h"

namespace tfbundle {

struct MappedRestoreStats {
  int64_t tensors = 0;          // tensors fed from the mapping
  int64_t zero_copy_tensors = 0;
  int64_t zero_copy_bytes = 0;  // handed to TensorFlow without a copy (64-aligned)
  int64_t copied_tensors = 0;
  int64_t copied_bytes = 0;     // copied (misaligned, byte-swapped, sparsely accessed, or strings)
  int64_t copied_sparse_bytes = 0;  // of those, aligned but copied because the graph gathers from them
  int64_t tf_read_tensors = 0;  // left to TensorFlow's RestoreV2 (a RestoreV2 with a slice not stored as such)
};

// One graph-level RestoreV2 node of the saver, as found in the GraphDef.
struct RestoreNode {
  std::string name;
  std::string tensor_names_input;      // "op:index" of its tensor_names input
  std::string shape_and_slices_input;  // "op:index" of its shape_and_slices input
};

// The RestoreV2 nodes of the graph that belong to the saver whose restore op
// is `restore_op_name` (same name scope, e.g. "save/" for "save/restore_all").
// Throws DATA_LOSS for a malformed GraphDef.
std::vector<RestoreNode> find_restore_nodes(std::string_view graph_def, const std::string& restore_op_name);

// Restores the variables of `session` (built from `meta_graph`'s graph, not yet
// restored) from the bundle `checkpoint` by feeding its RestoreV2
// nodes from mapped shards and running the restore op. Called by Session::load
// (RestoreMode::kMapped) with the session's lock held, so that nothing closes
// the session meanwhile. Blocking. Throws tfbundle::Error: UNIMPLEMENTED when the graph has no
// graph-level RestoreV2 (TF2 exports), NOT_FOUND for a tensor missing from the
// checkpoint, INVALID_ARGUMENT for a dtype that differs from the graph's,
// DATA_LOSS for a malformed bundle, or TensorFlow's error from the restore op.
MappedRestoreStats restore_from_mapped_shards(TF_Session* session, TF_Graph* graph, const MetaGraph& meta_graph,
                                              const std::shared_ptr<BundleReader>& checkpoint);

// Restores `variables` (tf2_restore.h) of `session`, whose graph is `graph`: adds a Placeholder
// and an AssignVariableOp on each variable's handle to the graph (under "tfbundle_restore/"), and
// runs them once, fed with the checkpoint's tensors. With `zero_copy`, a tensor stored 64-byte-
// aligned in this machine's byte order, of a variable nothing reads sparsely, is handed to
// TensorFlow over the private mapping of its shard (shared page-cache pages, as above); every
// other tensor is read into TensorFlow's memory (a tensor stored partitioned, in slices, is
// reassembled there). Throws NOT_FOUND for a key the checkpoint lacks, INVALID_ARGUMENT for a
// dtype that differs from the variable's, each naming the variable; TensorFlow's error from the run.
MappedRestoreStats assign_from_checkpoint(TF_Session* session, TF_Graph* graph,
                                          const std::vector<VariableSource>& variables,
                                          const std::shared_ptr<BundleReader>& checkpoint, bool zero_copy);

}  // namespace tfbundle
