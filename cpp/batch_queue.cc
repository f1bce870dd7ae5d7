#include "batch_queue.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "status.h"

namespace tfbundle {

// Requests that run together, in the order they came, and the input buffers their rows are in.
struct Batch {
  std::vector<int64_t> key;
  std::shared_ptr<BatchSignature> sig;
  std::vector<std::vector<int64_t>> inner;  // per input: the dimensions after dim 0
  std::vector<size_t> row_bytes;            // per input
  std::vector<char*> buffers;               // per input: max_batch_size rows; handed to the feeds at run
  BatchClock::time_point created;
  std::vector<std::shared_ptr<BatchTask>> tasks;
  int64_t size = 0;  // rows of the tasks in it
  int64_t used = 0;  // rows of its buffers written (cancelled tasks' rows stay until the run)

  ~Batch() {
    for (char* b : buffers) std::free(b);
  }
};

namespace {

void free_buffer(void* data) { std::free(data); }

char* aligned_buffer(size_t bytes) {
  size_t n = (std::max<size_t>(bytes, 1) + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  void* p = std::aligned_alloc(kTensorAlignment, n);
  if (p == nullptr) throw Error(kResourceExhausted, "the Batcher could not allocate " + std::to_string(n) + " bytes");
  return static_cast<char*>(p);
}

std::string python_shape(const std::vector<int64_t>& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + (dims.size() == 1 ? ",)" : ")");
}

std::string python_repr(const std::string& s) {
  return (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? "\"" + s + "\"" : "'" + s + "'";
}

}  // namespace

BatchQueue::BatchQueue(BatchOptions options, Answer answer) : o_(std::move(options)), answer_(std::move(answer)) {}

BatchQueue::~BatchQueue() = default;

void BatchQueue::set_hook(Hook hook) {
  std::lock_guard<std::mutex> lock(mu_);
  hook_ = std::move(hook);
}

std::shared_ptr<BatchTask> BatchQueue::submit(const std::shared_ptr<BatchSignature>& sig,
                                              const std::vector<std::vector<int64_t>>& inner,
                                              const std::vector<const void*>& data, int64_t rows,
                                              std::optional<BatchClock::time_point> deadline, void* user,
                                              bool run_here) {
  const size_t n = inner.size();
  std::vector<int64_t> key;
  key.push_back(static_cast<int64_t>(reinterpret_cast<intptr_t>(sig.get())));
  std::vector<size_t> row_bytes(n);
  for (size_t i = 0; i < n; ++i) {
    key.push_back(static_cast<int64_t>(inner[i].size()));
    size_t bytes = sig->item_bytes[i];
    for (int64_t d : inner[i]) {
      key.push_back(d);
      bytes *= static_cast<size_t>(d);
    }
    row_bytes[i] = bytes;
  }
  auto task = std::make_shared<BatchTask>();
  task->sig = sig;
  task->rows = rows;
  task->deadline = deadline;
  task->user = user;
  const BatchClock::time_point now = BatchClock::now();
  std::shared_ptr<Batch> mine;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (closing_) throw Error(kClosed, "the Batcher was closed");
    if (!sig->error.empty()) throw Error(kInvalidArgument, sig->error);
    auto& queue = queues_[key];
    std::shared_ptr<Batch> batch;
    bool wake = false;
    if (!queue.empty() && queue.back()->used + rows <= o_.max_batch_size) {
      batch = queue.back();
    } else {
      if (stats_.queued_batches >= o_.max_enqueued_batches) {
        if (queue.empty()) queues_.erase(key);
        ++stats_.rejected;
        throw Error(kResourceExhausted, "the Batcher's queue is full (" + std::to_string(stats_.queued_batches) +
                                            " batches wait, max_enqueued_batches=" +
                                            std::to_string(o_.max_enqueued_batches) + "): retry later");
      }
      batch = std::make_shared<Batch>();
      batch->key = key;
      batch->sig = sig;
      batch->inner = inner;
      batch->row_bytes = row_bytes;
      batch->created = now;
      batch->buffers.assign(n, nullptr);
      try {
        for (size_t i = 0; i < n; ++i) {
          batch->buffers[i] = aligned_buffer(row_bytes[i] * static_cast<size_t>(o_.max_batch_size));
        }
      } catch (...) {
        if (queue.empty()) queues_.erase(key);  // no empty queue is left behind
        throw;
      }
      queue.push_back(batch);
      ++stats_.queued_batches;
      wake = true;
    }
    for (size_t i = 0; i < n; ++i) {
      if (row_bytes[i] != 0) {
        std::memcpy(batch->buffers[i] + batch->used * row_bytes[i], data[i], row_bytes[i] * rows);
      }
    }
    task->batch = batch.get();
    task->in_offset = batch->used;
    batch->used += rows;
    batch->size += rows;
    batch->tasks.push_back(task);
    ++stats_.queued_requests;
    ++stats_.requests;
    if (run_here && running_ < o_.slots && queue.front() == batch) {
      const bool ready = batch->size >= o_.max_batch_size || batch->created + o_.timeout <= now || o_.run_when_idle;
      if (ready) mine = take_locked(batch);
    }
    if (!mine && (wake || batch->size >= o_.max_batch_size)) work_cv_.notify_one();
  }
  if (mine) run(mine);
  return task;
}

std::shared_ptr<Batch> BatchQueue::take_locked(const std::shared_ptr<Batch>& batch) {
  std::shared_ptr<Batch> keep = batch;
  auto it = queues_.find(batch->key);
  it->second.pop_front();
  if (it->second.empty()) queues_.erase(it);
  --stats_.queued_batches;
  stats_.queued_requests -= static_cast<int64_t>(keep->tasks.size());
  ++running_;
  for (auto& t : keep->tasks) {
    t->state = BatchTask::State::kRunning;
    t->batch = nullptr;
  }
  return keep;
}

namespace {

// Takes a queued task out of its batch. Holds the lock.
void remove_locked(BatchTask& task, BatchStats& stats, bool past_deadline) {
  Batch* b = task.batch;
  auto it = std::find_if(b->tasks.begin(), b->tasks.end(), [&](const auto& t) { return t.get() == &task; });
  if (it != b->tasks.end()) b->tasks.erase(it);
  b->size -= task.rows;
  task.batch = nullptr;
  task.state = BatchTask::State::kGone;
  --stats.queued_requests;
  if (past_deadline) {
    ++stats.deadline_exceeded;
  } else {
    ++stats.cancelled;
  }
}

}  // namespace

namespace {

// Marks the tasks answered; with `notify`, wakes each (else the chain wakes them).
void signal_done(const std::vector<std::shared_ptr<BatchTask>>& tasks, bool notify) {
  for (const auto& t : tasks) {
    {
      std::lock_guard<std::mutex> lock(t->done_mu);
      t->done = true;
    }
    if (notify) t->done_cv.notify_one();
  }
}

// Wakes the first caller from `t` on that sleeps in wait() (it passes the wake-up on); a caller
// not waiting (not there yet, or gone at its deadline) finds its answer without being woken.
void wake_chain(std::shared_ptr<BatchTask> t) {
  while (t) {
    {
      std::lock_guard<std::mutex> lock(t->done_mu);
      if (t->waiting) {
        t->signaled = true;
        t->done_cv.notify_one();
        return;
      }
    }
    t = t->next;
  }
}

}  // namespace

void BatchQueue::pass_on(BatchTask& task) {
  bool signaled;
  {
    std::lock_guard<std::mutex> lock(task.done_mu);
    signaled = task.signaled;
  }
  // `next` stays as it is: a chain walker may be reading it (a caller that was not waiting is
  // passed over, and returns without being woken).
  if (signaled) wake_chain(task.next);
}

bool BatchQueue::wait(BatchTask& task, std::optional<BatchClock::time_point> until) {
  {
    std::unique_lock<std::mutex> lock(task.done_mu);
    task.waiting = true;
    // The chain wakes the caller; it also looks every 20 ms on its own (a safety net: a wake-up
    // lost would cost that, never a hang).
    while (!task.done) {
      auto next = BatchClock::now() + std::chrono::milliseconds(20);
      if (until && *until <= next) {
        task.done_cv.wait_until(lock, *until, [&] { return task.done; });
        break;
      }
      task.done_cv.wait_until(lock, next, [&] { return task.done; });
    }
    task.waiting = false;
    if (task.done) return true;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (task.state == BatchTask::State::kAnswered) return true;  // just now
  if (task.state == BatchTask::State::kQueued) remove_locked(task, stats_, true);
  return false;
}

bool BatchQueue::cancel(BatchTask& task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (task.state != BatchTask::State::kQueued) return false;
  remove_locked(task, stats_, task.deadline && BatchClock::now() >= *task.deadline);
  return true;
}

std::shared_ptr<Batch> BatchQueue::next_batch_locked(std::unique_lock<std::mutex>& lock) {
  while (true) {
    const BatchClock::time_point now = BatchClock::now();
    std::shared_ptr<Batch> best;
    std::optional<BatchClock::time_point> wake;
    for (auto& [key, queue] : queues_) {
      const auto& head = queue.front();
      const BatchClock::time_point ready_at = head->created + o_.timeout;
      if (queue.size() > 1 || head->size >= o_.max_batch_size || closing_ || ready_at <= now || o_.run_when_idle) {
        if (!best || head->created < best->created) best = head;
      } else if (!wake || ready_at < *wake) {
        wake = ready_at;
      }
    }
    if (best && running_ < o_.slots) {
      take_locked(best);
      if (!queues_.empty()) work_cv_.notify_one();  // another batch may be ready for another thread
      return best;
    }
    if (!best && closing_) return nullptr;
    // No batch ready, or every slot taken (a finished batch wakes a thread).
    if (best || !wake) {
      work_cv_.wait(lock);
    } else {
      work_cv_.wait_until(lock, *wake);
    }
  }
}

void BatchQueue::work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    std::shared_ptr<Batch> batch = next_batch_locked(lock);
    if (!batch) return;
    lock.unlock();
    run(batch);
    lock.lock();
  }
}

int64_t BatchQueue::padded_size(int64_t rows) const {
  for (int64_t allowed : o_.allowed_batch_sizes) {
    if (allowed >= rows) return allowed;
  }
  return rows;
}

void BatchQueue::run(const std::shared_ptr<Batch>& b) {
  const BatchClock::time_point now = BatchClock::now();
  std::vector<std::shared_ptr<BatchTask>> live, expired;
  for (auto& t : b->tasks) {  // no lock: only this thread touches a taken batch's task list
    if (t->deadline && now >= *t->deadline) {
      expired.push_back(t);
    } else {
      live.push_back(t);
    }
  }
  int64_t rows = 0;
  for (auto& t : live) rows += t->rows;
  const int64_t padded = padded_size(rows);
  const size_t n = b->inner.size();
  std::shared_ptr<BatchOutputs> outputs;
  std::vector<int64_t> offsets;
  int code = 0;
  std::string message;
  if (!live.empty()) {
    try {
      // Rows of requests that left the batch are closed up; padding repeats the first row.
      int64_t at = 0;
      for (auto& t : live) {
        if (t->in_offset != at) {
          for (size_t i = 0; i < n; ++i) {
            std::memmove(b->buffers[i] + at * b->row_bytes[i], b->buffers[i] + t->in_offset * b->row_bytes[i],
                         b->row_bytes[i] * t->rows);
          }
        }
        offsets.push_back(at);
        at += t->rows;
      }
      for (size_t i = 0; i < n; ++i) {
        for (int64_t r = rows; r < padded; ++r) {
          std::memcpy(b->buffers[i] + r * b->row_bytes[i], b->buffers[i], b->row_bytes[i]);
        }
      }
      const ResolvedSignature& sig = *b->sig->sig;
      std::vector<TensorPtr> feeds(n);
      std::vector<TF_Tensor*> raw(n);
      std::vector<TF_Output> feed_outputs(n);
      std::vector<std::vector<int64_t>> shapes(n);
      for (size_t i = 0; i < n; ++i) {
        shapes[i].push_back(padded);
        shapes[i].insert(shapes[i].end(), b->inner[i].begin(), b->inner[i].end());
        char* buffer = b->buffers[i];
        b->buffers[i] = nullptr;  // the feed owns it now (an output may alias it)
        feeds[i] = wrap_tensor(sig.inputs[i].dtype, shapes[i], buffer, b->row_bytes[i] * padded, free_buffer, buffer);
        raw[i] = feeds[i].get();
        feed_outputs[i] = sig.inputs[i].output;
      }
      Hook hook;
      {
        std::lock_guard<std::mutex> lock(mu_);
        hook = hook_;
      }
      if (hook) hook(*b->sig, shapes);
      std::vector<TF_Output> fetches;
      for (const auto& e : sig.outputs) fetches.push_back(e.output);
      auto out = std::make_shared<BatchOutputs>();
      out->tensors = b->sig->session->run(feed_outputs, raw, fetches, {});
      for (size_t j = 0; j < out->tensors.size(); ++j) {
        std::vector<int64_t> dims = tensor_dims(out->tensors[j].get());
        if (dims.empty() || dims[0] != padded) {
          std::string m = "signature " + python_repr(b->sig->name) + " cannot be batched: its output " +
                          python_repr(sig.output_keys[j]) + " has shape " + python_shape(dims) + " for a batch of " +
                          std::to_string(padded) + " rows (dim 0 must be the batch size to split it back)";
          {
            std::lock_guard<std::mutex> lock(mu_);
            b->sig->error = m;  // later requests fail at once
          }
          throw Error(kInvalidArgument, m);
        }
      }
      outputs = std::move(out);
    } catch (const Error& e) {
      code = e.code();
      message = e.what();
    } catch (const std::bad_alloc&) {
      code = kResourceExhausted;
      message = "out of memory while running a batch";
    }
  }
  std::vector<std::shared_ptr<BatchTask>> answered, all;
  std::shared_ptr<BatchTask> first_caller;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.deadline_exceeded += static_cast<int64_t>(expired.size());
    if (!live.empty()) {
      if (code != 0) stats_.errors += static_cast<int64_t>(live.size());
      ++stats_.batches;
      stats_.padding_rows += padded - rows;
      ++stats_.batch_sizes[padded];
    }
    for (auto& t : expired) {
      t->code = kDeadlineExceeded;
      t->message = "the request's deadline passed while it waited in the Batcher's queue; it was not run";
    }
    for (size_t k = 0; k < live.size(); ++k) {
      BatchTask& t = *live[k];
      if (code != 0) {
        t.code = code;
        t.message = message;
      } else {
        t.outputs = outputs;
        t.out_offset = offsets[k];
      }
    }
    BatchTask* last_caller = nullptr;
    for (auto* group : {&expired, &live}) {
      for (auto& t : *group) {
        t->state = BatchTask::State::kAnswered;
        all.push_back(t);
        if (t->user != nullptr) {
          answered.push_back(t);
        } else if (last_caller == nullptr) {
          first_caller = t;
          last_caller = t.get();
        } else {
          last_caller->next = t;
          last_caller = t.get();
        }
      }
    }
    --running_;
    if (!queues_.empty() || closing_) work_cv_.notify_one();
  }
  signal_done(all, false);
  wake_chain(std::move(first_caller));
  if (!answered.empty()) answer_(answered);
}

void BatchQueue::close() {
  std::lock_guard<std::mutex> lock(mu_);
  closing_ = true;
  work_cv_.notify_all();
}

bool BatchQueue::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closing_;
}

void BatchQueue::drain(const std::string& message) {
  std::vector<std::shared_ptr<BatchTask>> answered, all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, queue] : queues_) {
      for (auto& b : queue) {
        for (auto& t : b->tasks) {
          t->state = BatchTask::State::kAnswered;
          t->batch = nullptr;
          t->code = kClosed;
          t->message = message;
          all.push_back(t);
          if (t->user != nullptr) answered.push_back(t);
        }
      }
    }
    queues_.clear();
    stats_.queued_batches = 0;
    stats_.queued_requests = 0;
  }
  signal_done(all, true);
  if (!answered.empty()) answer_(answered);
}

BatchStats BatchQueue::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace tfbundle
