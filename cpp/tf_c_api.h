// TensorFlow's C API, resolved at run time.
//
// tfbundle builds with no TensorFlow present: this header declares the small
// part of the C API the core uses (opaque types and the function signatures,
// as published in tensorflow/c/*.h; the data-type values are dtypes.h's) and
// tf_c_api.cc fills a table of function pointers with dlsym from the
// libraries that Python located (the tensorflow wheel, or a standalone
// libtensorflow). The libraries are opened RTLD_LOCAL so that a later
// `import tensorflow` in the same process keeps working.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dtypes.h"

extern "C" {
typedef struct TF_Status TF_Status;
typedef struct TF_Graph TF_Graph;
typedef struct TF_Operation TF_Operation;
typedef struct TF_Session TF_Session;
typedef struct TF_SessionOptions TF_SessionOptions;
typedef struct TF_Tensor TF_Tensor;
typedef struct TF_DeviceList TF_DeviceList;
typedef struct TF_ImportGraphDefOptions TF_ImportGraphDefOptions;
typedef struct TF_Library TF_Library;
typedef struct TF_OperationDescription TF_OperationDescription;

typedef struct TF_Buffer {
  const void* data;
  size_t length;
  void (*data_deallocator)(void* data, size_t length);
} TF_Buffer;

typedef struct TF_Output {
  TF_Operation* oper;
  int index;
} TF_Output;

// A TF_TString is a 24-byte union (inline small string or heap pointer); the
// core only touches it through the TF_String* functions.
typedef struct TF_TString {
  alignas(8) char raw[24];
} TF_TString;
}

namespace tfbundle {

// TF_DataType values are TensorFlow's DataType enum values: pb::DT_FLOAT, ...
// (dtypes.h, with dtype_name()).

struct TfApi {
  // status
  TF_Status* (*NewStatus)();
  void (*DeleteStatus)(TF_Status*);
  int (*GetCode)(const TF_Status*);
  const char* (*Message)(const TF_Status*);
  // buffers
  TF_Buffer* (*NewBuffer)();
  void (*DeleteBuffer)(TF_Buffer*);
  // graph
  TF_Graph* (*NewGraph)();
  void (*DeleteGraph)(TF_Graph*);
  TF_Operation* (*GraphOperationByName)(TF_Graph*, const char*);
  TF_Operation* (*GraphNextOperation)(TF_Graph*, size_t*);
  int (*GraphGetTensorNumDims)(TF_Graph*, TF_Output, TF_Status*);
  void (*GraphGetTensorShape)(TF_Graph*, TF_Output, int64_t*, int, TF_Status*);
  int (*OperationNumOutputs)(TF_Operation*);
  int (*OperationOutputType)(TF_Output);
  const char* (*OperationName)(TF_Operation*);
  const char* (*OperationOpType)(TF_Operation*);
  TF_ImportGraphDefOptions* (*NewImportGraphDefOptions)();
  void (*DeleteImportGraphDefOptions)(TF_ImportGraphDefOptions*);
  void (*GraphImportGraphDef)(TF_Graph*, const TF_Buffer*, const TF_ImportGraphDefOptions*, TF_Status*);
  void (*ImportGraphDefOptionsAddInputMapping)(TF_ImportGraphDefOptions*, const char*, int, TF_Output);
  void (*ImportGraphDefOptionsRemapControlDependency)(TF_ImportGraphDefOptions*, const char*, TF_Operation*);
  // building ops (added to a graph a session runs: the next TF_SessionRun extends the session)
  TF_OperationDescription* (*NewOperation)(TF_Graph*, const char*, const char*);
  void (*AddInput)(TF_OperationDescription*, TF_Output);
  void (*SetAttrType)(TF_OperationDescription*, const char*, int);
  TF_Operation* (*FinishOperation)(TF_OperationDescription*, TF_Status*);
  // sessions
  TF_SessionOptions* (*NewSessionOptions)();
  void (*DeleteSessionOptions)(TF_SessionOptions*);
  void (*SetConfig)(TF_SessionOptions*, const void*, size_t, TF_Status*);
  TF_Session* (*LoadSessionFromSavedModel)(const TF_SessionOptions*, const TF_Buffer*, const char*,
                                           const char* const*, int, TF_Graph*, TF_Buffer*, TF_Status*);
  TF_Session* (*NewSession)(TF_Graph*, const TF_SessionOptions*, TF_Status*);
  void (*SessionRun)(TF_Session*, const TF_Buffer*, const TF_Output*, TF_Tensor* const*, int,
                     const TF_Output*, TF_Tensor**, int, const TF_Operation* const*, int, TF_Buffer*,
                     TF_Status*);
  void (*CloseSession)(TF_Session*, TF_Status*);
  void (*DeleteSession)(TF_Session*, TF_Status*);
  TF_DeviceList* (*SessionListDevices)(TF_Session*, TF_Status*);
  void (*DeleteDeviceList)(TF_DeviceList*);
  int (*DeviceListCount)(const TF_DeviceList*);
  const char* (*DeviceListName)(const TF_DeviceList*, int, TF_Status*);
  const char* (*DeviceListType)(const TF_DeviceList*, int, TF_Status*);
  int64_t (*DeviceListMemoryBytes)(const TF_DeviceList*, int, TF_Status*);
  // tensors
  TF_Tensor* (*NewTensor)(int, const int64_t*, int, void*, size_t, void (*)(void*, size_t, void*), void*);
  TF_Tensor* (*AllocateTensor)(int, const int64_t*, int, size_t);
  TF_Tensor* (*TensorMaybeMove)(TF_Tensor*);
  void (*DeleteTensor)(TF_Tensor*);
  int (*TensorType)(const TF_Tensor*);
  int (*NumDims)(const TF_Tensor*);
  int64_t (*Dim)(const TF_Tensor*, int);
  size_t (*TensorByteSize)(const TF_Tensor*);
  void* (*TensorData)(const TF_Tensor*);
  int64_t (*TensorElementCount)(const TF_Tensor*);
  size_t (*DataTypeSize)(int);
  // strings
  void (*StringInit)(TF_TString*);
  void (*StringCopy)(TF_TString*, const char*, size_t);
  const char* (*StringGetDataPointer)(const TF_TString*);
  size_t (*StringGetSize)(const TF_TString*);
  void (*StringDealloc)(TF_TString*);
  // libraries and version
  TF_Library* (*LoadLibrary)(const char*, TF_Status*);
  TF_Buffer (*GetOpList)(TF_Library*);
  TF_Buffer* (*GetAllOpList)();
  const char* (*Version)();
};

// Opens the given libraries in order (RTLD_LOCAL) and resolves the API from
// them. Safe to call more than once: the first successful call wins and later
// calls return the same table. With `quiet`, what the libraries print to
// stderr while they are opened (their static initialisers log through absl
// before TF_CPP_MIN_LOG_LEVEL is read) is discarded. Throws tfbundle::Error (NOT_FOUND or
// FAILED_PRECONDITION) naming the library and the symbol that is missing.
const TfApi& init_tf_api(const std::vector<std::string>& libraries, bool quiet);

// The table; throws FAILED_PRECONDITION when init_tf_api has not succeeded.
const TfApi& tf_api();
bool tf_api_loaded();

// RAII TF_Status that throws tfbundle::Error carrying TensorFlow's code and
// message (prefixed by `context` when one is given).
class TfStatus {
 public:
  TfStatus() : s_(tf_api().NewStatus()) {}
  ~TfStatus() { tf_api().DeleteStatus(s_); }
  TfStatus(const TfStatus&) = delete;
  TfStatus& operator=(const TfStatus&) = delete;
  TF_Status* get() const { return s_; }
  operator TF_Status*() const { return s_; }
  bool ok() const { return tf_api().GetCode(s_) == 0; }
  int code() const { return tf_api().GetCode(s_); }
  std::string message() const { return tf_api().Message(s_); }
  void throw_if_error(const std::string& context = "") const;

 private:
  TF_Status* s_;
};

}  // namespace tfbundle
