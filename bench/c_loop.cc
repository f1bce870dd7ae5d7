// The benchmark's floor: a C++ loop calling TF_SessionRun directly.
//
// bench/run.py builds this file at run time into bench/_build/ (g++ -O2 -shared -fPIC against
// the TensorFlow wheel's C headers, linked to libtensorflow_cc.so.2 and
// libtensorflow_framework.so.2) and calls tfb_bench_loop() through ctypes, in the process where
// tfbundle loaded the model, on the TF_Session* and TF_Graph* that tfbundle created. The dynamic
// loader resolves this library's dependency on libtensorflow_cc.so.2 to the copy tfbundle already
// opened (same soname), so both use one TensorFlow runtime and one session.
//
// Each timed call does what a real C caller does per request: TF_AllocateTensor for the input,
// memcpy of the caller's data into it, TF_SessionRun for one output, TF_DeleteTensor of the input
// and the output. With reuse_input != 0 the input tensor is allocated and filled once, before the
// loop, and only TF_SessionRun + TF_DeleteTensor(output) are timed.

#include <tensorflow/c/c_api.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

void set_error(char* err, size_t err_len, const char* what, const char* detail) {
  if (err != nullptr && err_len > 0) {
    std::snprintf(err, err_len, "%s%s%s", what, detail[0] != '\0' ? ": " : "", detail);
  }
}

TF_Tensor* make_input(const int64_t* dims, int ndims, const float* data, size_t nbytes) {
  TF_Tensor* t = TF_AllocateTensor(TF_FLOAT, dims, ndims, nbytes);
  if (t != nullptr) std::memcpy(TF_TensorData(t), data, nbytes);
  return t;
}

}  // namespace

extern "C" {

// Runs `iters` calls of TF_SessionRun feeding in_op:in_idx with a float32 tensor of shape `dims`
// (data: the row-major values) and fetching out_op:out_idx.
//
// per_call_us_out (iters entries) receives each call's wall time in microseconds.
// out_first (may be NULL) receives min(out_first_len, output size) values of the last output.
// Returns the total wall time of the loop in seconds, or -1.0 with a message in err on failure.
double tfb_bench_loop(void* session, void* graph, const char* in_op, int in_idx,
                      const char* out_op, int out_idx, const float* data, const int64_t* dims,
                      int ndims, int iters, int reuse_input, double* per_call_us_out,
                      float* out_first, int64_t out_first_len, char* err, size_t err_len) {
  using clock = std::chrono::steady_clock;
  if (session == nullptr || graph == nullptr) {
    set_error(err, err_len, "session or graph handle is NULL", "");
    return -1.0;
  }
  auto* sess = static_cast<TF_Session*>(session);
  auto* g = static_cast<TF_Graph*>(graph);
  TF_Operation* in = TF_GraphOperationByName(g, in_op);
  if (in == nullptr) {
    set_error(err, err_len, "no such input operation in the graph", in_op);
    return -1.0;
  }
  TF_Operation* out = TF_GraphOperationByName(g, out_op);
  if (out == nullptr) {
    set_error(err, err_len, "no such output operation in the graph", out_op);
    return -1.0;
  }
  int64_t count = 1;
  for (int i = 0; i < ndims; ++i) count *= dims[i];
  const size_t nbytes = static_cast<size_t>(count) * sizeof(float);
  TF_Output feed{in, in_idx};
  TF_Output fetch{out, out_idx};
  TF_Status* status = TF_NewStatus();
  TF_Tensor* reused = reuse_input ? make_input(dims, ndims, data, nbytes) : nullptr;
  TF_Tensor* last_output = nullptr;
  const auto loop_start = clock::now();
  for (int i = 0; i < iters; ++i) {
    const auto t0 = clock::now();
    TF_Tensor* input = reuse_input ? reused : make_input(dims, ndims, data, nbytes);
    TF_Tensor* output = nullptr;
    TF_SessionRun(sess, nullptr, &feed, &input, 1, &fetch, &output, 1, nullptr, 0, nullptr,
                  status);
    if (!reuse_input) TF_DeleteTensor(input);
    if (TF_GetCode(status) != TF_OK) {
      set_error(err, err_len, "TF_SessionRun failed", TF_Message(status));
      if (output != nullptr) TF_DeleteTensor(output);
      if (reused != nullptr) TF_DeleteTensor(reused);
      if (last_output != nullptr) TF_DeleteTensor(last_output);
      TF_DeleteStatus(status);
      return -1.0;
    }
    if (i + 1 < iters) {
      TF_DeleteTensor(output);
    } else {
      last_output = output;  // kept for out_first; deleting it is outside the timed region
    }
    const auto t1 = clock::now();
    per_call_us_out[i] = std::chrono::duration<double, std::micro>(t1 - t0).count();
  }
  const double total = std::chrono::duration<double>(clock::now() - loop_start).count();
  if (last_output != nullptr) {
    if (out_first != nullptr && out_first_len > 0 && TF_TensorType(last_output) == TF_FLOAT) {
      int64_t n = static_cast<int64_t>(TF_TensorByteSize(last_output) / sizeof(float));
      if (n > out_first_len) n = out_first_len;
      std::memcpy(out_first, TF_TensorData(last_output), static_cast<size_t>(n) * sizeof(float));
    }
    TF_DeleteTensor(last_output);
  }
  if (reused != nullptr) TF_DeleteTensor(reused);
  TF_DeleteStatus(status);
  return total;
}

}  // extern "C"
