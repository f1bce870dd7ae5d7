// Running C++ with the GIL released, in a way a daemon thread can be ended in.
#pragma once

#include <Python.h>

#include <type_traits>
#include <utility>

namespace tfbundle {

// Calls f() with the GIL released, takes it back, and returns f's result (or
// rethrows what f threw).
//
// Use it rather than pybind11's gil_scoped_release, which takes the GIL back
// in a destructor. When the interpreter finalizes while a daemon thread is
// inside f() (a long call at exit), taking the GIL back ends that thread:
// CPython calls pthread_exit, which unwinds the thread's stack (a "forced
// unwind", abi::__forced_unwind). Destructors are noexcept, so an unwind that
// starts in one is std::terminate: "terminate called without an active
// exception" and SIGABRT at exit. Here the GIL is taken back by plain calls,
// outside any destructor, and the unwind passes through (pybind11's
// dispatcher rethrows abi::__forced_unwind; a catch (...) must rethrow too).
template <class F>
auto without_gil(F&& f) -> decltype(f()) {
  using R = decltype(f());
  PyThreadState* state = PyEval_SaveThread();
  if constexpr (std::is_void_v<R>) {
    try {
      f();
    } catch (...) {
      PyEval_RestoreThread(state);
      throw;
    }
    PyEval_RestoreThread(state);
  } else {
    R result = [&]() -> R {
      try {
        return f();
      } catch (...) {
        PyEval_RestoreThread(state);
        throw;
      }
    }();
    PyEval_RestoreThread(state);
    return result;
  }
}

}  // namespace tfbundle
