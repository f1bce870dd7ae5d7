// What every entry into TensorFlow needs from the process around it:
// asynchronous signals kept away from the threads that run ops, and a fork()ed
// child refused before it reaches TensorFlow's dead thread pools.
#pragma once

#include <signal.h>

namespace tfbundle {

// Blocks the asynchronous signals in the calling thread while it lives, then
// restores the thread's mask; a signal that arrived meanwhile is delivered at
// that moment (Python then raises KeyboardInterrupt right after the call, as it
// would have anyway: its handlers run between bytecodes, never inside a call).
//
// Why: some of TensorFlow's kernels run with the stack pointer inside a heap
// buffer (oneDNN's JIT matmul kernels on AVX-512 machines). A signal handled by
// such a thread has its frame written there: heap corruption, then an abort or
// a crash, now or later. Ctrl-C, a notebook's interrupt, SIGTERM to a server,
// any signal.signal() handler.
//
// Held around TF_SessionRun and around everything that creates sessions
// (loads, TF_LoadLibrary, opening the library), so that:
// - the calling thread, which runs the ops itself with the default
//   inter_op_threads (-1), takes no signal while it runs them;
// - the threads TensorFlow creates (its intra- and inter-op pools, made with
//   the first session; tf.data's threads, made during runs) inherit the mask
//   and never take a process-directed signal at all. The kernel hands such a
//   signal to a thread that does not block it (another Python thread), or
//   keeps it pending until the call returns.
// An alternate signal stack (sigaltstack) on the calling thread was the other
// candidate: free per call, but it protects only handlers installed with
// SA_ONSTACK (Python's are; other libraries' often are not), and only the
// threads tfbundle can reach: TensorFlow's own threads would still take
// signals on their heap stacks. The mask costs two rt_sigprocmask system calls
// per call (well under a microsecond).
// What it changes: a signal whose default action ends or stops the process
// (SIGTERM, SIGQUIT, SIGTSTP, ...) waits for the end of the call when the only
// thread that could take it is inside one. SIGKILL and SIGSTOP cannot be blocked.
//
// Not blocked: the signals a thread raises for itself (SIGSEGV, SIGBUS, SIGFPE,
// SIGILL, SIGTRAP, SIGSYS, SIGABRT; SIGPIPE and SIGXFSZ from its own writes,
// handled on an ordinary stack at the system call's return), and the real-time
// signals the C library keeps for itself (it refuses to block them).
class AsyncSignalsBlocked {
 public:
  AsyncSignalsBlocked();
  ~AsyncSignalsBlocked();
  AsyncSignalsBlocked(const AsyncSignalsBlocked&) = delete;
  AsyncSignalsBlocked& operator=(const AsyncSignalsBlocked&) = delete;

 private:
  sigset_t saved_;
  bool restore_ = false;
};

// The set AsyncSignalsBlocked blocks.
const sigset_t& async_signals();

// Called before TensorFlow may start its threads (before a session is
// created): from then on, a child made by fork() is marked as such. Cheap
// after the first call.
void note_tensorflow_started();

// Whether this process is a fork() child of a process where TensorFlow had
// started: TensorFlow's thread pools did not survive the fork (a fork copies
// only the calling thread), and its first call with work for them never
// returns.
bool forked_after_tensorflow();

// Throws FAILED_PRECONDITION in such a child, saying what to do instead.
void check_not_forked();

}  // namespace tfbundle
