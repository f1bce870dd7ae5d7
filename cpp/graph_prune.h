// Pruning a GraphDef before TensorFlow imports it.
//
// A TF2 SavedModel's GraphDef carries every function the exported object had traced: the signatures'
// functions, the saver's traced save and restore functions (in a Keras export, together larger than
// the model's own function), and functions that nothing in the graph calls. TF_GraphImportGraphDef
// converts and validates each of them, a large part of a load. A load that never runs the saver's
// save (tfbundle never saves), nor the restore function (the mapped restore assigns the variables
// itself), imports neither, nor functions unreachable from the nodes it keeps.
#pragma once

#include <set>
#include <string>
#include <string_view>

namespace tfbundle {

struct PrunedGraph {
  std::string graph_def;          // the pruned GraphDef; empty when nothing is dropped
  int dropped_nodes = 0;          // nodes left out: those asked for and their consumers
  int dropped_functions = 0;      // library functions left out
  int omitted_nodes = 0;          // nodes of `omit` left out
};

// `graph_def` without the nodes named in `drop` and every node that takes one of them as an input
// (data or control, transitively), and with only the library functions the remaining nodes reach:
// through calls (ops named after a function, function-valued attrs, lists of functions) in the
// graph and in the functions reached, the gradient functions of those (GradientDef) and of the
// library's registered gradients, and every function that shares a reached function's
// `api_implements` attribute (grappler's implementation selector may swap one for another: the
// CuDNN and the generic LSTM). Everything else in the GraphDef is kept byte for byte. Throws
// DATA_LOSS for malformed bytes.
//
// `omit`: nodes left out of the GraphDef without their consumers (nodes that are in the graph
// being imported into already: the importer maps the references to them, see
// Session::import_into_graph). A kept node colocated with one of them (`_class` "loc:@name")
// loses its `_class` attr, which TensorFlow's importer would refuse; only for a CPU-only
// session, where colocation changes nothing.
PrunedGraph prune_graph_def(std::string_view graph_def, const std::set<std::string, std::less<>>& drop,
                            const std::set<std::string, std::less<>>& omit = {});

}  // namespace tfbundle
