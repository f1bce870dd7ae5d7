// tfbundle::Error: the one exception type the C++ core throws.
//
// `code` uses TensorFlow's TF_Code numbering (0 OK ... 16 UNAUTHENTICATED) so
// that TensorFlow's own statuses pass through unchanged; the bindings map each
// code to the matching Python class in tfbundle.errors.
#pragma once

#include <stdexcept>
#include <string>

namespace tfbundle {

enum Code : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
  // tfbundle's own: use after close() (FAILED_PRECONDITION to TensorFlow's
  // eyes; the bindings raise tfbundle.errors.ClosedError for it).
  kClosed = 1000,
  // tfbundle's own: an argument of the wrong Python type or numpy dtype
  // (INVALID_ARGUMENT to TensorFlow's eyes; the bindings raise
  // tfbundle.errors.InvalidTypeError, also a TypeError, for it).
  kInvalidType = 1001,
};

class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

}  // namespace tfbundle
