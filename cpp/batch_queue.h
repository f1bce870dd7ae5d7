// The per-request path of tfbundle.Batcher (python/tfbundle/_runtime/batching.py): queues of
// requests per (signature, dimensions after dim 0), batches formed as TF Serving's basic batch
// scheduler forms them, and runs through Session::run. No Python here: bindings_batching.cc
// checks requests, converts arrays and answers futures.
//
// A request's rows are copied into its batch's input buffers when it is queued, so the caller's
// arrays are never read after submit() returns. Each input buffer becomes the batch's feed
// (TensorFlow takes it without a copy: it is aligned); outputs are kept once per batch and each
// request reads its rows from them.
//
// Threads: submit(), wait(), cancel() from any thread; work() from each batch thread. None of
// them may be called with a lock the answer callback takes (the bindings call them without the
// GIL).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "session.h"
#include "tensor.h"

namespace tfbundle {

using BatchClock = std::chrono::steady_clock;

struct BatchOptions {
  int64_t max_batch_size = 32;
  BatchClock::duration timeout{};  // batch_timeout_micros
  int64_t max_enqueued_batches = 100;
  int64_t slots = 1;                       // num_batch_threads: batches that run at once
  std::vector<int64_t> allowed_batch_sizes;  // empty: batches run at their own size
  // A batch starts as soon as a slot is free, whatever its size (the timeout applies only while
  // every slot is busy). false: TF Serving's rule (full, or its first request waited the timeout).
  bool run_when_idle = false;
};

// A signature as batches run it.
struct BatchSignature {
  std::shared_ptr<Session> session;
  const ResolvedSignature* sig = nullptr;  // owned by the session
  std::string name;
  std::vector<size_t> item_bytes;  // per input (sig->inputs order): bytes per element
  // Set (under the queue's lock) once a batch's output was not split by rows: later requests fail.
  std::string error;
};

struct BatchOutputs {
  std::vector<TensorPtr> tensors;  // sig->outputs order; dim 0 is the padded batch size
};

struct BatchTask {
  enum class State { kQueued, kRunning, kAnswered, kGone };
  std::shared_ptr<BatchSignature> sig;
  int64_t rows = 0;
  std::optional<BatchClock::time_point> deadline;
  void* user = nullptr;  // the bindings' (a future): answered through the answer callback
  // Under the queue's lock:
  State state = State::kQueued;
  struct Batch* batch = nullptr;  // while queued
  int64_t in_offset = 0;          // its first row in the batch's input buffers
  // The answer (valid once state is kAnswered): outputs and the first row, or an error.
  std::shared_ptr<const BatchOutputs> outputs;
  int64_t out_offset = 0;
  int code = 0;
  std::string message;
  // Under `done_mu`: `done` once the answer is in (set after the queue's lock is let go: a caller
  // waits on its own task, so that the callers a batch answers do not all queue for that lock);
  // `waiting` while its caller sleeps in wait(); `signaled` once woken by the batch's chain.
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  bool waiting = false;
  bool signaled = false;
  // The next blocking request of the same batch. The callers a batch answers are woken one after
  // another, not all at once: each caller woken wakes the next (pass_on) once it holds the GIL, so
  // that the next one's wake-up overlaps its Python work instead of all of them queueing for the
  // GIL, each sleeping twice.
  std::shared_ptr<BatchTask> next;
};

struct BatchStats {
  int64_t requests = 0, batches = 0, padding_rows = 0, rejected = 0, deadline_exceeded = 0, cancelled = 0,
          errors = 0, queued_requests = 0, queued_batches = 0;
  std::map<int64_t, int64_t> batch_sizes;
};

struct Batch;

class BatchQueue {
 public:
  // Called (without the lock) with the tasks that have a `user` once they are answered.
  using Answer = std::function<void(std::vector<std::shared_ptr<BatchTask>>&)>;
  // Called before each batch's run (without the lock): signature, the feeds' shapes. May throw.
  using Hook = std::function<void(const BatchSignature&, const std::vector<std::vector<int64_t>>&)>;

  BatchQueue(BatchOptions options, Answer answer);
  ~BatchQueue();
  BatchQueue(const BatchQueue&) = delete;
  BatchQueue& operator=(const BatchQueue&) = delete;

  const BatchOptions& options() const { return o_; }
  void set_hook(Hook hook);

  // Queues a request of `rows` rows whose input i is `inner[i]` after dim 0 and starts at
  // data[i] (C order). Throws CLOSED, RESOURCE_EXHAUSTED (queue full), INVALID_ARGUMENT (the
  // signature's outputs turned out not to split). With `run_here`, when its batch is ready and
  // a slot is free, runs the batch in the calling thread before returning.
  std::shared_ptr<BatchTask> submit(const std::shared_ptr<BatchSignature>& sig,
                                    const std::vector<std::vector<int64_t>>& inner,
                                    const std::vector<const void*>& data, int64_t rows,
                                    std::optional<BatchClock::time_point> deadline, void* user, bool run_here);
  // Blocks until the task is answered (true) or `until` passes (false: a queued task is taken
  // out of its batch, a running one's answer is dropped).
  bool wait(BatchTask& task, std::optional<BatchClock::time_point> until);
  // After wait() answered true: wakes the next caller of the task's batch if the chain woke this
  // one (see BatchTask::next).
  void pass_on(BatchTask& task);
  // Takes a queued task out of its batch (its caller cancelled it): true when it was queued.
  bool cancel(BatchTask& task);
  // A batch thread: runs batches until closed and drained.
  void work();
  // Refuses new requests; batch threads drain the queue and return.
  void close();
  bool closed() const;
  // Answers every request still queued with CLOSED (after close(), once the threads stopped).
  void drain(const std::string& message);
  BatchStats stats() const;

 private:
  std::shared_ptr<Batch> take_locked(const std::shared_ptr<Batch>& batch);
  std::shared_ptr<Batch> next_batch_locked(std::unique_lock<std::mutex>& lock);
  void run(const std::shared_ptr<Batch>& batch);
  int64_t padded_size(int64_t rows) const;

  const BatchOptions o_;
  Answer answer_;
  Hook hook_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::map<std::vector<int64_t>, std::deque<std::shared_ptr<Batch>>> queues_;
  int64_t running_ = 0;
  bool closing_ = false;
  BatchStats stats_;
};

}  // namespace tfbundle
