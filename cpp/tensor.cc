#include "tensor.h"

#include <cstdlib>

#include "status.h"

namespace tfbundle {

void TensorDeleter::operator()(TF_Tensor* t) const {
  if (t != nullptr) tf_api().DeleteTensor(t);
}

namespace {

struct Release {
  void (*fn)(void*);
  void* ctx;
};

void call_release(void* /*data*/, size_t /*len*/, void* arg) {
  auto* r = static_cast<Release*>(arg);
  r->fn(r->ctx);
  delete r;
}

int64_t element_count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

}  // namespace

TensorPtr wrap_tensor(int dtype, const std::vector<int64_t>& dims, void* data, size_t nbytes,
                      void (*release)(void* ctx), void* ctx) {
  auto* r = new Release{release, ctx};
  TF_Tensor* t = tf_api().NewTensor(dtype, dims.data(), static_cast<int>(dims.size()), data, nbytes,
                                    call_release, r);
  if (t == nullptr) {
    // TF_NewTensor does not call the deallocator when it fails.
    call_release(data, nbytes, r);
    throw Error(kInvalidArgument, "TensorFlow refused a " + dtype_name(dtype) + " buffer of " +
                                      std::to_string(nbytes) + " bytes for this shape");
  }
  return TensorPtr(t);
}

TensorPtr allocate_tensor(int dtype, const std::vector<int64_t>& dims, size_t nbytes) {
  TF_Tensor* t = tf_api().AllocateTensor(dtype, dims.data(), static_cast<int>(dims.size()), nbytes);
  // When its allocator fails, TensorFlow returns a tensor whose data is NULL rather than no tensor.
  TensorPtr out(t);
  if (t == nullptr || (nbytes > 0 && tf_api().TensorData(t) == nullptr)) {
    throw Error(kResourceExhausted, "TensorFlow could not allocate a " + dtype_name(dtype) + " tensor of " +
                                        std::to_string(nbytes) + " bytes");
  }
  return out;
}

namespace {

struct StringBuffer {
  TF_TString* items;
  int64_t count;
};

// A DT_STRING tensor made with TF_NewTensor over our own buffer: TensorFlow
// neither copies nor destroys the TF_TStrings in it, so this deallocator,
// which runs when the last reference (ours, or an output aliasing the input)
// goes away, frees them.
void free_strings(void* data, size_t /*len*/, void* arg) {
  auto* b = static_cast<StringBuffer*>(arg);
  for (int64_t i = 0; i < b->count; ++i) tf_api().StringDealloc(&b->items[i]);
  std::free(data);
  delete b;
}

}  // namespace

TensorPtr make_string_tensor(const std::vector<int64_t>& dims, const std::vector<std::string_view>& values) {
  const TfApi& api = tf_api();
  const int64_t n = element_count(dims);
  if (n != static_cast<int64_t>(values.size())) {
    throw Error(kInternal, "string tensor: element count does not match its shape");
  }
  const size_t len = static_cast<size_t>(n) * sizeof(TF_TString);
  const size_t alloc = (len + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  auto* items = static_cast<TF_TString*>(std::aligned_alloc(kTensorAlignment, alloc == 0 ? kTensorAlignment : alloc));
  if (items == nullptr) throw Error(kResourceExhausted, "out of memory for a string tensor");
  for (int64_t i = 0; i < n; ++i) {
    api.StringInit(&items[i]);
    api.StringCopy(&items[i], values[i].data(), values[i].size());
  }
  auto* owner = new StringBuffer{items, n};
  TF_Tensor* t = api.NewTensor(pb::DT_STRING, dims.data(), static_cast<int>(dims.size()), items, len, free_strings, owner);
  if (t == nullptr) {
    free_strings(items, len, owner);
    throw Error(kInvalidArgument, "TensorFlow refused a string tensor");
  }
  return TensorPtr(t);
}

std::vector<std::string_view> string_tensor_values(const TF_Tensor* t) {
  const TfApi& api = tf_api();
  const int64_t n = api.TensorElementCount(t);
  const auto* s = static_cast<const TF_TString*>(api.TensorData(t));
  std::vector<std::string_view> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.emplace_back(api.StringGetDataPointer(&s[i]), api.StringGetSize(&s[i]));
  return out;
}

std::vector<int64_t> tensor_dims(const TF_Tensor* t) {
  const TfApi& api = tf_api();
  std::vector<int64_t> dims(static_cast<size_t>(api.NumDims(t)));
  for (size_t i = 0; i < dims.size(); ++i) dims[i] = api.Dim(t, static_cast<int>(i));
  return dims;
}

}  // namespace tfbundle
