// Shared declarations of the binding files (bindings*.cc). Each file binds one
// part of the API; bindings.cc defines the module and calls the others.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <string_view>
#include <utility>

namespace tfbundle {

void bind_tensor(pybind11::module_& m);      // bindings_tensor.cc: the DataType table, tensor alignment
void bind_inspect(pybind11::module_& m);     // bindings_inspect.cc: SavedModel inspection
void bind_checkpoint(pybind11::module_& m);  // bindings_checkpoint.cc: TensorBundle reader
void bind_example(pybind11::module_& m);     // bindings_example.cc: the tf.Example batch parser
void bind_batching(pybind11::module_& m);    // bindings_batching.cc: the Batcher's native queue
void bind_tfrecord(pybind11::module_& m);    // bindings_tfrecord.cc: TFRecord framing
void bind_json(pybind11::module_& m);        // bindings_json.cc: numeric tensors as TF Serving's JSON

class Session;
struct ResolvedSignature;
// The session and the resolved signature behind a NativeSignature object (bindings.cc).
std::pair<std::shared_ptr<Session>, const ResolvedSignature*> native_signature_parts(pybind11::handle signature);

}  // namespace tfbundle
