// pybind11 bindings of the Batcher's native queue (batch_queue.h), used by
// python/tfbundle/_runtime/batching.py for signatures whose inputs and outputs are all numeric.
//
// A blocking call checks its arrays with the GIL held (a request that does not pass these checks
// is handed back as None: the Python side then raises the error, or converts the values and calls
// again), then queues it, runs its batch itself when a slot is free, and waits, all without the
// GIL, and takes the GIL once more to copy its rows of the outputs into new arrays. A submitted
// request (a future) is answered with the GIL by the thread that ran its batch.
//
// No Python object is held by the queue: a future is held as a counted PyObject* that is released,
// with the GIL, exactly once (answered, or taken out of its batch by cancel()).
#include <Python.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstring>

#include "batch_queue.h"
#include "bindings.h"
#include "bindings_tensor.h"
#include "session.h"
#include "status.h"
#include "tensor.h"
#include "tf_c_api.h"
#include "without_gil.h"

namespace py = pybind11;

namespace tfbundle {
namespace {

// A signature as the native queue batches it, with what a request is checked against.
class NativeBatchSignature {
 public:
  // `shapes`: input key -> its spec's shape (a tuple with None for unknown dimensions, or None).
  NativeBatchSignature(py::handle native_signature, const std::string& name, py::dict shapes) {
    auto [session, sig] = native_signature_parts(native_signature);
    if (!sig->unsupported.empty()) throw Error(kUnimplemented, sig->unsupported.begin()->second);
    s_ = std::make_shared<BatchSignature>();
    s_->session = std::move(session);
    s_->sig = sig;
    s_->name = name;
    for (size_t i = 0; i < sig->inputs.size(); ++i) {
      py::dtype dtype = numeric_dtype(sig->inputs[i].dtype, "input '" + sig->input_keys[i] + "'");
      s_->item_bytes.push_back(static_cast<size_t>(dtype.itemsize()));
      in_dtypes_.push_back(dtype);
      input_keys_.push_back(py::str(sig->input_keys[i]));
      std::optional<std::vector<int64_t>> known;
      py::object shape = shapes.contains(input_keys_.back()) ? py::object(shapes[input_keys_.back()]) : py::none();
      if (!shape.is_none()) {
        std::vector<int64_t> dims;
        for (py::handle d : shape) dims.push_back(d.is_none() ? -1 : d.cast<int64_t>());
        known = std::move(dims);
      }
      known_.push_back(std::move(known));
    }
    for (size_t j = 0; j < sig->outputs.size(); ++j) {
      numeric_dtype(sig->outputs[j].dtype, "output '" + sig->output_keys[j] + "'");
      output_keys_.push_back(py::str(sig->output_keys[j]));
    }
  }

  const std::shared_ptr<BatchSignature>& sig() const { return s_; }
  const std::vector<py::str>& output_keys() const { return output_keys_; }

  // The request's arrays (a dict of C-contiguous arrays of the inputs' dtypes, with one batch
  // size >= 1 and at most `max_rows`, whose dimensions match the spec's): false when it is not so.
  bool parse(py::handle inputs, int64_t max_rows, std::vector<std::vector<int64_t>>* inner,
             std::vector<const void*>* data, int64_t* rows) const {
    const size_t n = input_keys_.size();
    if (!PyDict_Check(inputs.ptr()) || static_cast<size_t>(PyDict_Size(inputs.ptr())) != n) return false;
    const auto& api = py::detail::npy_api::get();
    inner->resize(n);
    data->resize(n);
    *rows = -1;
    for (size_t i = 0; i < n; ++i) {
      PyObject* v = PyDict_GetItemWithError(inputs.ptr(), input_keys_[i].ptr());
      if (v == nullptr) {
        if (PyErr_Occurred()) throw py::error_already_set();
        return false;
      }
      if (!api.PyArray_Check_(v)) return false;
      const auto* a = py::detail::array_proxy(v);
      if (!(a->flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_)) return false;
      if (!api.PyArray_EquivTypes_(a->descr, in_dtypes_[i].ptr())) return false;
      if (a->nd < 1 || a->dimensions[0] < 1) return false;
      if (known_[i]) {
        const auto& k = *known_[i];
        if (k.size() != static_cast<size_t>(a->nd)) return false;
        for (int d = 1; d < a->nd; ++d) {
          if (k[d] >= 0 && k[d] != a->dimensions[d]) return false;
        }
      }
      if (*rows < 0) {
        *rows = a->dimensions[0];
      } else if (a->dimensions[0] != *rows) {
        return false;
      }
      (*inner)[i].assign(a->dimensions + 1, a->dimensions + a->nd);
      (*data)[i] = a->data;
    }
    return *rows <= max_rows;
  }

 private:
  static py::dtype numeric_dtype(int dtype, const std::string& what) {
    PyObject* d = numpy_dtype_or_null(dtype, true);
    if (d == nullptr) {
      throw Error(kInvalidArgument, what + " has no numpy form");
    }
    py::dtype out = py::reinterpret_borrow<py::dtype>(d);
    if (out.kind() == 'O' || out.kind() == 'S' || out.kind() == 'U') {  // 'V': ml_dtypes' types
      throw Error(kInvalidArgument, what + " is not numeric");
    }
    return out;
  }

  std::shared_ptr<BatchSignature> s_;
  std::vector<py::str> input_keys_, output_keys_;
  std::vector<py::dtype> in_dtypes_;
  std::vector<std::optional<std::vector<int64_t>>> known_;
};

// A queued request handed to Python (submit): what cancel() takes.
struct NativeBatchTask {
  std::shared_ptr<BatchTask> task;
};

py::object error_object(int code, const std::string& message) {
  static auto* error_for_code = new py::object(py::module_::import("tfbundle.errors").attr("error_for_code"));
  PyObject* msg = PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()), "backslashreplace");
  if (msg == nullptr) throw py::error_already_set();
  return (*error_for_code)(code, py::reinterpret_steal<py::str>(msg));
}

// The request's rows of its batch's outputs, as new arrays (GIL held; the task is answered without error).
py::dict task_outputs(const BatchTask& t) {
  const ResolvedSignature& sig = *t.sig->sig;
  py::dict out;
  for (size_t j = 0; j < t.outputs->tensors.size(); ++j) {
    const TF_Tensor* tensor = t.outputs->tensors[j].get();
    std::vector<int64_t> dims = tensor_dims(tensor);
    const size_t row = tf_api().TensorByteSize(tensor) / static_cast<size_t>(dims[0]);
    dims[0] = t.rows;
    PyObject* d = numpy_dtype_or_null(tf_api().TensorType(tensor), true);
    if (d == nullptr) throw Error(kInternal, "output '" + sig.output_keys[j] + "' has no numpy form");
    py::array array(py::reinterpret_borrow<py::dtype>(d), std::vector<py::ssize_t>(dims.begin(), dims.end()));
    if (row != 0) {
      std::memcpy(array.mutable_data(), static_cast<const char*>(tf_api().TensorData(tensor)) + row * t.out_offset,
                  row * static_cast<size_t>(t.rows));
    }
    out[py::str(sig.output_keys[j])] = std::move(array);
  }
  return out;
}

// Sets the futures of answered tasks (takes the GIL; called by the thread that answered them).
void answer_futures(std::vector<std::shared_ptr<BatchTask>>& tasks) {
  // A batch thread (a daemon) that finishes while the interpreter exits leaves the futures: taking
  // the GIL then would end the thread inside this call.
  if (interpreter_finalizing()) return;
  PyGILState_STATE gil = PyGILState_Ensure();
  for (auto& t : tasks) {
    py::object future = py::reinterpret_steal<py::object>(static_cast<PyObject*>(t->user));
    t->user = nullptr;
    try {
      if (future.attr("done")().cast<bool>()) continue;  // cancelled while its batch ran
      if (t->code != 0) {
        future.attr("set_exception")(error_object(t->code, t->message));
      } else {
        future.attr("set_result")(task_outputs(*t));
      }
    } catch (py::error_already_set& e) {
      // Cancelled between the two calls (InvalidStateError): the answer is dropped.
      e.discard_as_unraisable("tfbundle.Batcher answering a request");
    } catch (const Error& e) {
      try {
        future.attr("set_exception")(error_object(e.code(), e.what()));
      } catch (py::error_already_set& e2) {
        e2.discard_as_unraisable("tfbundle.Batcher answering a request");
      }
    }
  }
  PyGILState_Release(gil);
}

std::optional<BatchClock::time_point> deadline_of(py::handle timeout, BatchClock::time_point now) {
  if (timeout.is_none()) return std::nullopt;
  const double s = timeout.cast<double>();
  if (!(s < 1e9)) return std::nullopt;  // inf, or beyond any wait
  return now + std::chrono::duration_cast<BatchClock::duration>(std::chrono::duration<double>(s));
}

class NativeBatchQueue {
 public:
  NativeBatchQueue(int64_t max_batch_size, double timeout_micros, int64_t max_enqueued_batches, int64_t slots,
                   std::vector<int64_t> allowed, bool run_when_idle) {
    BatchOptions o;
    o.max_batch_size = max_batch_size;
    o.timeout = std::chrono::duration_cast<BatchClock::duration>(std::chrono::duration<double, std::micro>(timeout_micros));
    o.max_enqueued_batches = max_enqueued_batches;
    o.slots = slots;
    o.allowed_batch_sizes = std::move(allowed);
    o.run_when_idle = run_when_idle;
    q_ = std::make_shared<BatchQueue>(std::move(o), answer_futures);
  }

  // A blocking request: its outputs, or None when the request does not pass the quick checks.
  py::object call(const NativeBatchSignature& sig, py::handle inputs, py::handle timeout) {
    std::vector<std::vector<int64_t>> inner;
    std::vector<const void*> data;
    int64_t rows = 0;
    if (!sig.parse(inputs, q_->options().max_batch_size, &inner, &data, &rows)) return py::none();
    const auto deadline = deadline_of(timeout, BatchClock::now());
    std::shared_ptr<BatchTask> task = without_gil([&] {
      auto t = q_->submit(sig.sig(), inner, data, rows, deadline, nullptr, true);
      return q_->wait(*t, deadline) ? t : nullptr;
    });
    // With the GIL: the next caller wakes while this one goes on (waking it before taking the GIL
    // measured the same).
    if (task) q_->pass_on(*task);
    if (!task) {
      throw Error(kDeadlineExceeded,
                  "the request took more than its timeout of " + py::str(timeout).cast<std::string>() + " s");
    }
    if (task->code != 0) throw Error(task->code, task->message);
    return task_outputs(*task);
  }

  // A request answered through `future`: its handle (for cancel), or None when the request does
  // not pass the quick checks.
  py::object submit(const NativeBatchSignature& sig, py::handle inputs, py::handle timeout, py::object future) {
    std::vector<std::vector<int64_t>> inner;
    std::vector<const void*> data;
    int64_t rows = 0;
    if (!sig.parse(inputs, q_->options().max_batch_size, &inner, &data, &rows)) return py::none();
    const auto deadline = deadline_of(timeout, BatchClock::now());
    PyObject* user = future.release().ptr();  // released once: answered or cancelled
    try {
      NativeBatchTask handle{q_->submit(sig.sig(), inner, data, rows, deadline, user, false)};
      return py::cast(std::move(handle));
    } catch (...) {
      Py_DECREF(user);
      throw;
    }
  }

  // Takes a queued request out of its batch (its future was cancelled): true when it was queued.
  bool cancel(NativeBatchTask& handle) {
    if (!q_->cancel(*handle.task)) return false;
    Py_XDECREF(static_cast<PyObject*>(handle.task->user));
    handle.task->user = nullptr;
    return true;
  }

  void work() {
    std::shared_ptr<BatchQueue> q = q_;
    without_gil([&] { q->work(); });
  }

  void close() { q_->close(); }
  bool closed() const { return q_->closed(); }
  void drain(const std::string& message) { q_->drain(message); }

  py::dict stats() const {
    BatchStats s = q_->stats();
    py::dict out;
    out["requests"] = s.requests;
    out["batches"] = s.batches;
    out["padding_rows"] = s.padding_rows;
    out["rejected"] = s.rejected;
    out["deadline_exceeded"] = s.deadline_exceeded;
    out["cancelled"] = s.cancelled;
    out["errors"] = s.errors;
    out["queued_requests"] = s.queued_requests;
    out["queued_batches"] = s.queued_batches;
    out["batch_sizes"] = s.batch_sizes;
    return out;
  }

  // A callable run (in the thread that runs the batch) before each batch's run, with the signature's
  // name and a dict of the feeds' shapes; None removes it. An exception it raises fails the batch.
  void set_hook(py::object hook) {
    hook_ = hook;
    if (hook.is_none()) {
      q_->set_hook(nullptr);
      return;
    }
    q_->set_hook([this](const BatchSignature& sig, const std::vector<std::vector<int64_t>>& shapes) {
      PyGILState_STATE gil = PyGILState_Ensure();
      std::string failure;
      try {
        py::dict feeds;
        for (size_t i = 0; i < shapes.size(); ++i) feeds[py::str(sig.sig->input_keys[i])] = py::tuple(py::cast(shapes[i]));
        hook_(sig.name, feeds);
      } catch (py::error_already_set& e) {
        failure = e.what();
      }
      PyGILState_Release(gil);
      if (!failure.empty()) throw Error(kInternal, "the Batcher's hook failed: " + failure);
    });
  }

 private:
  std::shared_ptr<BatchQueue> q_;
  py::object hook_ = py::none();
};

}  // namespace

void bind_batching(py::module_& m) {
  py::class_<NativeBatchSignature>(m, "NativeBatchSignature")
      .def(py::init<py::handle, const std::string&, py::dict>(), py::arg("signature"), py::arg("name"),
           py::arg("shapes"),
           "A signature (a NativeSignature) as the native batch queue runs it; `shapes`: input key -> the "
           "spec's shape. Raises when an input or output is not numeric.");
  py::class_<NativeBatchTask>(m, "NativeBatchTask");
  py::class_<NativeBatchQueue>(m, "NativeBatchQueue")
      .def(py::init<int64_t, double, int64_t, int64_t, std::vector<int64_t>, bool>(), py::kw_only(),
           py::arg("max_batch_size"), py::arg("batch_timeout_micros"), py::arg("max_enqueued_batches"),
           py::arg("num_batch_threads"), py::arg("allowed_batch_sizes"), py::arg("run_when_idle"))
      .def("call", &NativeBatchQueue::call, py::arg("signature"), py::arg("inputs"), py::arg("timeout"),
           "Runs one request in a batch (blocking, without the GIL): its outputs, or None when the request "
           "needs the Python checks.")
      .def("submit", &NativeBatchQueue::submit, py::arg("signature"), py::arg("inputs"), py::arg("timeout"),
           py::arg("future"), "Queues a request answered through `future`; None when it needs the Python checks.")
      .def("cancel", &NativeBatchQueue::cancel, py::arg("task"))
      .def("work", &NativeBatchQueue::work, "A batch thread's loop (without the GIL): returns once closed and drained.")
      .def("close", &NativeBatchQueue::close)
      .def_property_readonly("closed", &NativeBatchQueue::closed)
      .def("drain", &NativeBatchQueue::drain, py::arg("message"))
      .def("stats", &NativeBatchQueue::stats)
      .def("set_hook", &NativeBatchQueue::set_hook, py::arg("hook"));
}

}  // namespace tfbundle
