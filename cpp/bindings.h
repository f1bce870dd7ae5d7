// Shared declarations of the binding files (bindings*.cc). Each file binds one
// part of the API; bindings.cc defines the module and calls the others.
#pragma once

#include <pybind11/pybind11.h>

#include <string_view>

namespace tfbundle {

void bind_tensor(pybind11::module_& m);      // bindings_tensor.cc: the DataType table, tensor alignment
void bind_inspect(pybind11::module_& m);     // bindings_inspect.cc: SavedModel inspection
void bind_checkpoint(pybind11::module_& m);  // bindings_checkpoint.cc: TensorBundle reader

}  // namespace tfbundle
