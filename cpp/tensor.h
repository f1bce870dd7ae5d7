// The TensorFlow half of numpy <-> TF_Tensor conversion: owning pointers,
// zero-copy wrapping of caller buffers, and string tensors. The numpy half
// lives in bindings_tensor.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tf_c_api.h"

namespace tfbundle {

struct TensorDeleter {
  void operator()(TF_Tensor* t) const;
};
using TensorPtr = std::unique_ptr<TF_Tensor, TensorDeleter>;

// TensorFlow copies a numeric buffer passed to TF_NewTensor unless its address
// is a multiple of this (EIGEN_MAX_ALIGN_BYTES, 64 in the x86-64 wheels; the
// C API does not expose it). tfbundle aligns its own buffers to it.
constexpr size_t kTensorAlignment = 64;

// Wraps `data` without copying when TensorFlow allows it (aligned numeric
// buffer); `release(ctx)` runs when TensorFlow no longer needs the buffer. The
// caller guarantees `data` is aligned (see is_aligned); otherwise it should use
// copy_tensor.
TensorPtr wrap_tensor(int dtype, const std::vector<int64_t>& dims, void* data, size_t nbytes,
                      void (*release)(void* ctx), void* ctx);

// A new tensor with TensorFlow's own (aligned) memory, `nbytes` long; the
// caller fills TF_TensorData.
TensorPtr allocate_tensor(int dtype, const std::vector<int64_t>& dims, size_t nbytes);

inline bool is_aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kTensorAlignment == 0; }

// A DT_STRING tensor holding copies of `values` (row-major, product(dims) items).
TensorPtr make_string_tensor(const std::vector<int64_t>& dims, const std::vector<std::string_view>& values);

// Views of the elements of a DT_STRING tensor (valid while the tensor lives).
std::vector<std::string_view> string_tensor_values(const TF_Tensor* t);

std::vector<int64_t> tensor_dims(const TF_Tensor* t);

}  // namespace tfbundle
