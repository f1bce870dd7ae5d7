// Where each variable of a TF2 SavedModel comes from in its checkpoint.
//
// A TF2 export (tf.saved_model.save, Keras export) restores inside a traced function: the
// SaverDef's restore op is a call of `__inference__traced_restore_*`, whose arguments are the
// checkpoint prefix and the VarHandleOps it assigns, and whose body is RestoreV2 (the keys in a
// constant) -> Identity -> AssignVariableOp(argument). That covers tf.Module exports. It does not
// cover every model TF2's Python loader runs: `tf.saved_model.save` of a Keras 3 model writes a
// restore function that assigns copies of the variables (`Variable_N`), while the signature
// functions capture the Keras variables' own handles (`dense/kernel`), which only the loader's
// object graph ties to the checkpoint. So two sources, both read here without TensorFlow:
//
//   - the restore function: handle -> key, for the handles it assigns;
//   - the object graph: a graph-level call of a concrete function passes its captured inputs last,
//     in the order of SavedConcreteFunction.bound_inputs (object ids); the object with that id is
//     found in the checkpoint's own object graph (TrackableObjectGraph, matched from the root by
//     child names, as TF2's checkpoint restore matches objects), whose VARIABLE_VALUE attribute
//     names the key.
//
// Session::load uses the plan to restore what TensorFlow's loader leaves unrestored (the Keras 3
// case) and, with restore="mmap", to feed every variable from the mapped shards.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "saved_model.h"
#include "tensor_bundle.h"

namespace tfbundle {

// One variable of the graph and the checkpoint tensor it is restored from.
struct VariableSource {
  std::string handle;  // the graph's VarHandleOp node
  std::string what;    // how messages name it: the object graph's name, else the handle
  int dtype = 0;       // the VarHandleOp's dtype
  std::string key;     // the checkpoint key
  std::string slice;   // RestoreV2's shape_and_slices spec ("": the whole tensor)
  bool used = false;   // a node of the graph other than the saver's save and restore calls takes it
  bool sparse = false; // the graph reads or updates it sparsely (set by mark_sparse_variables)
};

struct Tf2RestorePlan {
  // False: the restore op is not a call of a traced restore function (a TF1 graph, no SaverDef).
  bool tf2 = false;
  // The restore function is only RestoreV2 -> Identity -> AssignVariableOp(argument): restoring
  // `from_restore_function` ourselves restores everything it would.
  bool plain = false;
  std::string restore_function;  // its name, for messages
  // The handles the restore function assigns, in its order (optimizer slots and variables that
  // nothing but the saver uses included: see VariableSource::used).
  std::vector<VariableSource> from_restore_function;
  // Handles that the graph uses (an input of any node but the saver's save and restore calls),
  // that the restore function does not assign and no node of the graph assigns either, found
  // through the object graph.
  std::vector<VariableSource> from_object_graph;
  // Handles of that kind found nowhere: the model cannot run.
  std::vector<VariableSource> unrestorable;
};

// The checkpoint's object graph (parse_object_graph of its _CHECKPOINTABLE_OBJECT_GRAPH; empty
// when it has none), asked for only when some handle needs it.
using CheckpointGraphSource = std::function<std::vector<ObjectGraphNode>()>;

// The plan for `meta_graph`. Throws DATA_LOSS for malformed protos, or what `checkpoint_graph`
// throws.
Tf2RestorePlan plan_tf2_restore(const MetaGraph& meta_graph, const CheckpointGraphSource& checkpoint_graph);

// Sets VariableSource::sparse: the handle is gathered from or scattered into (ResourceGather,
// ResourceScatter*, ResourceSparseApply*) in the graph or in a function it reaches through calls'
// arguments. TensorFlow copies such a variable's buffer when it does not own it, so a zero-copy
// restore would only keep the mapped pages resident beside the copy.
void mark_sparse_variables(const MetaGraph& meta_graph, std::vector<VariableSource>* variables);

}  // namespace tfbundle
