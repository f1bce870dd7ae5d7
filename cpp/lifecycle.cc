#include "lifecycle.h"

#include <pthread.h>

#include <atomic>
#include <mutex>

#include "status.h"

namespace tfbundle {
namespace {

sigset_t make_async_signals() {
  sigset_t set;
  sigfillset(&set);
  // Raised by the thread for itself: handled where they happen, never deferred.
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT, SIGPIPE, SIGXFSZ}) {
    sigdelset(&set, sig);
  }
  return set;
}

std::atomic<bool> g_started{false};
std::atomic<bool> g_forked{false};
std::once_flag g_atfork_once;

// Runs in the child of fork(), where only async-signal-safe work is allowed:
// two atomic flags.
void on_fork_child() {
  if (g_started.load(std::memory_order_relaxed)) g_forked.store(true, std::memory_order_relaxed);
}

}  // namespace

const sigset_t& async_signals() {
  static const sigset_t set = make_async_signals();
  return set;
}

AsyncSignalsBlocked::AsyncSignalsBlocked() {
  restore_ = pthread_sigmask(SIG_BLOCK, &async_signals(), &saved_) == 0;
}

AsyncSignalsBlocked::~AsyncSignalsBlocked() {
  if (restore_) pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
}

void note_tensorflow_started() {
  if (g_started.load(std::memory_order_acquire)) return;
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, &on_fork_child); });
  g_started.store(true, std::memory_order_release);
}

bool forked_after_tensorflow() { return g_forked.load(std::memory_order_relaxed); }

void check_not_forked() {
  if (!forked_after_tensorflow()) return;
  throw Error(kFailedPrecondition,
              "this process was forked after TensorFlow started, and TensorFlow's thread pools do not survive "
              "fork(): load models after the fork (gunicorn without --preload, or in a post_fork hook) or use "
              "multiprocessing's \"spawn\" or \"forkserver\" start method");
}

}  // namespace tfbundle
