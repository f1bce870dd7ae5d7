// The numpy half of tensor conversion, for every binding file: numpy arrays
// and Python values -> TF_Tensor (feeds), TF_Tensor -> numpy (fetches), and
// the numpy forms of checkpoint data (read-only views over mapped shards,
// object arrays of bytes). One mapping from DataType to numpy dtype (dtypes.h)
// serves them all. Call everything here with the GIL held.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "saved_model.h"
#include "tensor.h"

namespace tfbundle {

// The numpy dtype of a DataType value (borrowed, cached for the process), or
// nullptr when it has none: no numpy form, ml_dtypes not installed or too old
// for the type, or, with runnable_only, a type that model inputs and outputs
// do not convert (DataTypeInfo::runnable). ml_dtypes is imported the first
// time one of its types is asked for.
PyObject* numpy_dtype_or_null(int dtype, bool runnable_only);

// numpy's str() of a dtype ("float32").
std::string numpy_dtype_name(const pybind11::dtype& d);

// A string read from a model or checkpoint file as Python str: UTF-8, any
// other bytes kept with surrogateescape, so that no file fails to read for its
// names, and every name round-trips through string_bytes().
pybind11::str proto_str(std::string_view s);

// The bytes of a str (UTF-8, with surrogateescape'd bytes restored) or of a
// bytes object; false for any other type. A str that cannot be encoded (a
// lone surrogate) is INVALID_ARGUMENT naming `what`.
bool string_bytes(pybind11::handle o, const std::string& what, std::string* out);

// The name of an object's type ("int"), for InvalidTypeError messages.
std::string python_type_name(pybind11::handle o);

// One feed: `value` (an array, or anything numpy.asarray takes) as a tensor of
// `dtype` (the graph's). `shape`, when given, is checked before TensorFlow
// runs. A C-contiguous array of the right dtype whose buffer TensorFlow can
// use in place (aligned, see probe_alignment) is not copied: the tensor holds
// a reference to it. `what` names the tensor in errors ("input 'x' of
// signature 'serving_default'"). Raises InvalidTypeError (code
// kInvalidType) for an array of another dtype or items of the wrong type.
TensorPtr to_tensor(pybind11::handle value, int dtype, const TensorShape* shape, const std::string& what);

// A fetched tensor as a numpy array. A buffer that is the tensor's alone (freshly computed) becomes
// a writable array over it (no copy; the array owns the tensor through a capsule). A buffer inside
// one of `fed` (the tensors fed to the same run: an Identity of an input) becomes a read-only view.
// Any other shared buffer (a constant, a variable) is copied, so a returned array never changes.
// Strings become an object array of bytes (a copy).
pybind11::object to_numpy(TensorPtr t, const std::string& what, const std::vector<TF_Tensor*>& fed);

// An object array of `dims` holding `values` as bytes (copies).
pybind11::array bytes_array(const std::vector<std::string_view>& values, const std::vector<int64_t>& dims);

// A C-ordered array of `dtype` over `data` (not copied), kept alive by `base`.
pybind11::array view_array(const pybind11::dtype& dtype, const std::vector<int64_t>& dims, const void* data,
                           pybind11::object base, bool writable);

// The alignment TensorFlow needs to use a buffer without copying it
// (EIGEN_MAX_ALIGN_BYTES, which the C API does not expose), probed once.
size_t probe_alignment();

// Whether the interpreter is shutting down: a thread of ours must not take the GIL then (it would
// be ended inside the call).
bool interpreter_finalizing();

}  // namespace tfbundle
