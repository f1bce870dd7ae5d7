#include "tf_c_api.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include <atomic>
#include <mutex>

#include "status.h"

namespace tfbundle {
namespace {

TfApi g_api;
std::atomic<bool> g_loaded{false};
std::mutex g_mutex;

void* resolve(const std::vector<void*>& handles, const std::vector<std::string>& libs,
              const char* symbol) {
  // Search the last library first: it is the one that carries the C API
  // (libtensorflow_cc.so.2 or libtensorflow.so.2).
  for (size_t i = handles.size(); i-- > 0;) {
    if (void* p = dlsym(handles[i], symbol)) return p;
  }
  std::string where;
  for (const auto& l : libs) where += (where.empty() ? "" : ", ") + l;
  throw Error(kFailedPrecondition, std::string("TensorFlow's C API function ") + symbol +
                                       " was not found in " + where +
                                       ": this TensorFlow build is too old or not a full build "
                                       "(tfbundle needs TensorFlow >= 2.12)");
}

// Points fd 2 at /dev/null for its lifetime (a fraction of a second, while
// the libraries are opened).
class SilenceStderr {
 public:
  explicit SilenceStderr(bool on) {
    if (!on) return;
    std::fflush(stderr);
    saved_ = ::dup(2);
    const int devnull = ::open("/dev/null", O_WRONLY);
    if (saved_ < 0 || devnull < 0 || ::dup2(devnull, 2) < 0) {
      if (devnull >= 0) ::close(devnull);
      if (saved_ >= 0) ::close(saved_);
      saved_ = -1;
      return;
    }
    ::close(devnull);
  }
  ~SilenceStderr() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
  }

 private:
  int saved_ = -1;
};

}  // namespace

const TfApi& init_tf_api(const std::vector<std::string>& libraries, bool quiet) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_loaded) return g_api;
  if (libraries.empty()) throw Error(kNotFound, "no TensorFlow library was given to load");
  std::vector<void*> handles;
  SilenceStderr silence(quiet);
  for (const auto& lib : libraries) {
    // RTLD_LOCAL: with RTLD_GLOBAL a later `import tensorflow` in the same
    // process crashes. RTLD_LAZY: binds the ~thousands of symbols on use,
    // a third faster to open than RTLD_NOW.
    void* h = dlopen(lib.c_str(), RTLD_LAZY | RTLD_LOCAL);
    if (h == nullptr) {
      const char* err = dlerror();
      throw Error(kNotFound, "could not open TensorFlow library " + lib + ": " + (err ? err : "unknown error"));
    }
    handles.push_back(h);
  }
  TfApi api{};
#define TFB_RESOLVE(field, symbol) \
  api.field = reinterpret_cast<decltype(api.field)>(resolve(handles, libraries, #symbol))
  TFB_RESOLVE(NewStatus, TF_NewStatus);
  TFB_RESOLVE(DeleteStatus, TF_DeleteStatus);
  TFB_RESOLVE(GetCode, TF_GetCode);
  TFB_RESOLVE(Message, TF_Message);
  TFB_RESOLVE(NewBuffer, TF_NewBuffer);
  TFB_RESOLVE(DeleteBuffer, TF_DeleteBuffer);
  TFB_RESOLVE(NewGraph, TF_NewGraph);
  TFB_RESOLVE(DeleteGraph, TF_DeleteGraph);
  TFB_RESOLVE(GraphOperationByName, TF_GraphOperationByName);
  TFB_RESOLVE(GraphNextOperation, TF_GraphNextOperation);
  TFB_RESOLVE(GraphGetTensorNumDims, TF_GraphGetTensorNumDims);
  TFB_RESOLVE(GraphGetTensorShape, TF_GraphGetTensorShape);
  TFB_RESOLVE(OperationNumOutputs, TF_OperationNumOutputs);
  TFB_RESOLVE(OperationOutputType, TF_OperationOutputType);
  TFB_RESOLVE(OperationName, TF_OperationName);
  TFB_RESOLVE(OperationOpType, TF_OperationOpType);
  TFB_RESOLVE(NewImportGraphDefOptions, TF_NewImportGraphDefOptions);
  TFB_RESOLVE(DeleteImportGraphDefOptions, TF_DeleteImportGraphDefOptions);
  TFB_RESOLVE(GraphImportGraphDef, TF_GraphImportGraphDef);
  TFB_RESOLVE(ImportGraphDefOptionsAddInputMapping, TF_ImportGraphDefOptionsAddInputMapping);
  TFB_RESOLVE(ImportGraphDefOptionsRemapControlDependency, TF_ImportGraphDefOptionsRemapControlDependency);
  TFB_RESOLVE(NewSessionOptions, TF_NewSessionOptions);
  TFB_RESOLVE(DeleteSessionOptions, TF_DeleteSessionOptions);
  TFB_RESOLVE(SetConfig, TF_SetConfig);
  TFB_RESOLVE(LoadSessionFromSavedModel, TF_LoadSessionFromSavedModel);
  TFB_RESOLVE(NewSession, TF_NewSession);
  TFB_RESOLVE(NewOperation, TF_NewOperation);
  TFB_RESOLVE(AddInput, TF_AddInput);
  TFB_RESOLVE(SetAttrType, TF_SetAttrType);
  TFB_RESOLVE(FinishOperation, TF_FinishOperation);
  TFB_RESOLVE(SessionRun, TF_SessionRun);
  TFB_RESOLVE(CloseSession, TF_CloseSession);
  TFB_RESOLVE(DeleteSession, TF_DeleteSession);
  TFB_RESOLVE(SessionListDevices, TF_SessionListDevices);
  TFB_RESOLVE(DeleteDeviceList, TF_DeleteDeviceList);
  TFB_RESOLVE(DeviceListCount, TF_DeviceListCount);
  TFB_RESOLVE(DeviceListName, TF_DeviceListName);
  TFB_RESOLVE(DeviceListType, TF_DeviceListType);
  TFB_RESOLVE(DeviceListMemoryBytes, TF_DeviceListMemoryBytes);
  TFB_RESOLVE(NewTensor, TF_NewTensor);
  TFB_RESOLVE(AllocateTensor, TF_AllocateTensor);
  TFB_RESOLVE(TensorMaybeMove, TF_TensorMaybeMove);
  TFB_RESOLVE(DeleteTensor, TF_DeleteTensor);
  TFB_RESOLVE(TensorType, TF_TensorType);
  TFB_RESOLVE(NumDims, TF_NumDims);
  TFB_RESOLVE(Dim, TF_Dim);
  TFB_RESOLVE(TensorByteSize, TF_TensorByteSize);
  TFB_RESOLVE(TensorData, TF_TensorData);
  TFB_RESOLVE(TensorElementCount, TF_TensorElementCount);
  TFB_RESOLVE(DataTypeSize, TF_DataTypeSize);
  TFB_RESOLVE(StringInit, TF_StringInit);
  TFB_RESOLVE(StringCopy, TF_StringCopy);
  TFB_RESOLVE(StringGetDataPointer, TF_StringGetDataPointer);
  TFB_RESOLVE(StringGetSize, TF_StringGetSize);
  TFB_RESOLVE(StringDealloc, TF_StringDealloc);
  TFB_RESOLVE(LoadLibrary, TF_LoadLibrary);
  TFB_RESOLVE(GetOpList, TF_GetOpList);
  TFB_RESOLVE(GetAllOpList, TF_GetAllOpList);
  TFB_RESOLVE(Version, TF_Version);
#undef TFB_RESOLVE
  g_api = api;
  g_loaded.store(true, std::memory_order_release);
  return g_api;
}

bool tf_api_loaded() { return g_loaded.load(std::memory_order_acquire); }

const TfApi& tf_api() {
  // g_loaded only ever goes false -> true, and g_api is written before it.
  if (!g_loaded.load(std::memory_order_acquire)) {
    throw Error(kFailedPrecondition, "TensorFlow's C library is not loaded yet (call tfbundle.load first)");
  }
  return g_api;
}

void TfStatus::throw_if_error(const std::string& context) const {
  const int c = code();
  if (c == 0) return;
  throw Error(c, context.empty() ? message() : context + ": " + message());
}

}  // namespace tfbundle
