"""A model's life in a process: signals during calls, close() under load, interpreter exit with
busy threads, fork(), and many threads calling at once.

What could crash or hang runs in a child interpreter under a timeout: a plain ``python``, without
faulthandler. (pytest enables faulthandler, whose alternate signal stack hid the heap corruption
that a signal during a call caused.) The models are tests/makers/lifecycle.py's: ``loop``, whose
call lasts as many matmul steps as its input ``n`` asks, and ``wide``, a 1024-wide dense layer.
Each test takes a few seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import tfbundle
from _util import tfbundle_env

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="signals, /proc and fork() as Linux has them"
)

#: What every child starts with: the models' folder is argv[1].
PRELUDE = """
import json, os, signal, sys, threading, time
import numpy as np
import tfbundle

ROOT = sys.argv[1]
X = np.eye(256, dtype=np.float32)

def loop_model(**options):
    model = tfbundle.load(os.path.join(ROOT, "loop"), **options)
    return model, model.signatures["serving_default"]

def steps_for(sig, seconds):
    # How many matmul steps make a call of about `seconds`.
    sig(x=X, n=np.int32(5))  # the first run prunes and optimizes the graph
    t = time.perf_counter()
    sig(x=X, n=np.int32(50))
    return max(1, int(seconds * 50 / (time.perf_counter() - t)))

def check_result(y):
    # x = identity times an orthogonal matrix n times: orthogonal, Frobenius norm 16.
    assert y.shape == (256, 256) and np.isfinite(y).all(), y
    assert abs(float(np.linalg.norm(y)) - 16.0) < 0.05, np.linalg.norm(y)
"""


@pytest.fixture(scope="module")
def models(tf_models) -> Path:
    return tf_models("lifecycle")


def child_env() -> dict[str, str]:
    """This tfbundle first on PYTHONPATH; faulthandler off (see the module docstring)."""
    dropped = ("PYTHONFAULTHANDLER", "TFBUNDLE_LIBTENSORFLOW")
    return tfbundle_env({k: v for k, v in os.environ.items() if k not in dropped})


def script(tmp_path: Path, body: str, name: str = "child.py") -> Path:
    path = tmp_path / name
    path.write_text(PRELUDE + textwrap.dedent(body))
    return path


def run_children(
    path: Path, args_list: list[list[str]], timeout: float, parallel: int = 2
) -> list[subprocess.CompletedProcess]:
    """Runs ``python path *args`` for each args, `parallel` at a time; a hang fails the test."""
    results: list[subprocess.CompletedProcess | None] = [None] * len(args_list)
    pending = list(enumerate(args_list))
    running: list[tuple[int, subprocess.Popen, float]] = []
    try:
        while pending or running:
            while pending and len(running) < parallel:
                i, args = pending.pop(0)
                proc = subprocess.Popen(
                    [sys.executable, str(path), *args],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=child_env(),
                    start_new_session=True,  # its own process group: a hung grandchild is killed too
                )
                running.append((i, proc, time.monotonic()))
            i, proc, started = running[0]
            try:
                out, err = proc.communicate(timeout=max(0.1, started + timeout - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_group(proc)
                out, err = proc.communicate()
                pytest.fail(
                    f"child {args_list[i]} still running after {timeout} s (hung):\n{out}\n{err[-3000:]}"
                )
            running.pop(0)
            results[i] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    finally:
        for _, proc, _ in running:
            kill_group(proc)
            proc.communicate()
    return [r for r in results if r is not None]


def kill_group(proc: subprocess.Popen) -> None:
    """Kills the child and what it started (a forked grandchild holds its pipes open)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_child(path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_children(path, [list(args)], timeout)[0]


def assert_clean(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, (
        f"exit code {proc.returncode}:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    )
    for bad in (
        "terminate called",
        "Fatal Python error",
        "corrupted",
        "double free",
        "Segmentation",
    ):
        assert bad not in proc.stderr, proc.stderr[-3000:]


# ------------------------------------------------------------------ signals ---

SIGNAL_MASKS = """
def blocked(tid):
    with open(f"/proc/self/task/{tid}/status") as f:
        for line in f:
            if line.startswith("SigBlk:"):
                return int(line.split()[1], 16)

def threads():
    return {int(t) for t in os.listdir("/proc/self/task")}

SIGINT_BIT = 1 << (signal.SIGINT - 1)
before_load = threads()  # numpy's threads; TensorFlow's come with its library and the first load
model, sig = loop_model()
python_threads = {t.native_id for t in threading.enumerate()}
tensorflow_threads = threads() - before_load - python_threads
n = steps_for(sig, 0.8)
report = {"tensorflow_threads": len(tensorflow_threads)}
calling = threading.Event()

def probe(caller):
    time.sleep(0.25)
    if not calling.is_set():
        return
    masks = {"caller": blocked(caller), "tensorflow": [blocked(t) for t in tensorflow_threads if t in threads()]}
    if calling.is_set():  # read while the call ran
        report["caller_blocks_sigint_in_call"] = bool(masks["caller"] & SIGINT_BIT)
        report["tensorflow_threads_block_sigint"] = [bool(m & SIGINT_BIT) for m in masks["tensorflow"]]

def call():
    global n
    caller = threading.get_native_id()
    for attempt in range(4):
        p = threading.Thread(target=probe, args=(caller,))
        p.start()
        calling.set()
        check_result(sig(x=X, n=np.int32(n))["y"])
        calling.clear()
        p.join()
        if "caller_blocks_sigint_in_call" in report:
            break
        n *= 2  # the call ended before the probe (a busy machine misled steps_for): a longer one
    report["caller_blocks_sigint_after"] = bool(blocked(caller) & SIGINT_BIT)

if sys.argv[2] == "main":
    call()
else:
    t = threading.Thread(target=call)
    t.start()
    t.join()
print(json.dumps(report))
"""


@pytest.mark.parametrize("caller", ["main", "thread"])
def test_threads_running_ops_block_asynchronous_signals(models, tmp_path, caller):
    """The calling thread blocks SIGINT during a call only; TensorFlow's threads always do."""
    proc = run_child(script(tmp_path, SIGNAL_MASKS), str(models), caller)
    assert_clean(proc)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report.get("caller_blocks_sigint_in_call") is True, report
    assert not report["caller_blocks_sigint_after"], report
    assert report["tensorflow_threads"] > 0 and all(report["tensorflow_threads_block_sigint"]), (
        report
    )


SIGINT_DURING_CALL = """
inter, caller = sys.argv[2], sys.argv[3]
model, sig = loop_model(**({} if inter == "default" else {"inter_op_threads": int(inter)}))
n = steps_for(sig, 1.0)
calling, done = threading.Event(), threading.Event()
result = {}

def call():
    calling.set()
    try:
        result["y"] = sig(x=X, n=np.int32(n))["y"]
    finally:
        calling.clear()
        done.set()

def interrupt(started, sent):
    time.sleep(0.3)
    if calling.is_set():
        sent.append(time.perf_counter() - started)
        os.kill(os.getpid(), signal.SIGINT)

for attempt in range(6):
    result.clear()
    done.clear()
    sent = []
    started = time.perf_counter()
    killer = threading.Thread(target=interrupt, args=(started, sent))
    killer.start()
    try:
        if caller == "main":
            call()
        else:
            threading.Thread(target=call).start()
            done.wait()  # not join(): an interrupted join() forgets the thread (Python < 3.13)
        killer.join()
        time.sleep(0.2)  # a signal sent as the call returned is raised here
    except KeyboardInterrupt:
        elapsed = time.perf_counter() - started
        print(f"SIGINT at {sent[0]:.3f} s")
        if caller == "main":
            # Raised once the call returned, never inside it.
            print(f"KeyboardInterrupt after {elapsed:.3f} s")
            assert "y" not in result
        else:
            # The main thread, waiting, takes it; the call goes on to its end.
            print(f"KeyboardInterrupt in wait after {elapsed:.3f} s")
            done.wait()
            check_result(result["y"])
        break
    n *= 2  # the call ended before the signal (a busy machine misled steps_for): a longer one
killer.join()
# The heap is intact: more calls, then a clean exit.
for _ in range(3):
    check_result(sig(x=X, n=np.int32(20))["y"])
print("ok")
"""


@pytest.mark.parametrize(
    ("inter", "caller", "runs"),
    [("default", "main", 10), ("0", "main", 4), ("default", "thread", 4)],
    ids=["inter_op_default", "inter_op_0", "non_main_thread"],
)
def test_sigint_during_a_call(models, tmp_path, inter, caller, runs):
    """SIGINT 0.3 s into a 1 s call: never a crash, KeyboardInterrupt once the call returns."""
    path = script(tmp_path, SIGINT_DURING_CALL)
    procs = run_children(path, [[str(models), inter, caller]] * runs, timeout=120)
    for proc in procs:
        assert_clean(proc)
        lines = proc.stdout.split("\n")
        assert "ok" in lines, proc.stdout
        interrupted = [line for line in lines if line.startswith("KeyboardInterrupt")]
        assert interrupted, f"the SIGINT was lost:\n{proc.stdout}"
        if caller == "main":
            # The signal came during the call, which ran on to its end before Python raised.
            sent = float(next(line for line in lines if line.startswith("SIGINT at")).split()[2])
            assert float(interrupted[0].split()[2]) > sent + 0.05, proc.stdout


# ---------------------------------------------------------------- close() ---

CLOSE_UNDER_LOAD = """
model, sig = loop_model()
n = steps_for(sig, 0.1)
expected = sig(x=X, n=np.int32(n))["y"]
stop = threading.Event()
close_started = []
durations, in_flight_results, errors = [], [], []

def work():
    while not stop.is_set():
        t = time.perf_counter()
        try:
            y = sig(x=X, n=np.int32(n))["y"]
        except tfbundle.ClosedError:
            errors.append(time.perf_counter())
            return
        durations.append(time.perf_counter() - t)
        if close_started:  # a call that was in flight when close() began
            in_flight_results.append(y)

workers = [threading.Thread(target=work, daemon=True) for _ in range(4)]
for w in workers:
    w.start()
time.sleep(0.6)
close_started.append(time.perf_counter())
model.close()
close_s = time.perf_counter() - close_started[0]
assert model.closed
for w in workers:
    w.join(10)
assert not any(w.is_alive() for w in workers)
try:
    sig(x=X, n=np.int32(1))
    raise AssertionError("a call after close() ran")
except tfbundle.ClosedError:
    pass
for y in in_flight_results:
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    check_result(y)
print(json.dumps({"close_s": close_s, "longest_call_s": max(durations), "closed_errors": len(errors),
                  "in_flight": len(in_flight_results)}))
"""


def test_close_under_load(models, tmp_path):
    """close() with 4 threads making 0.1 s calls: refuses new calls, waits for those in flight only."""
    proc = run_child(script(tmp_path, CLOSE_UNDER_LOAD), str(models), timeout=90)
    assert_clean(proc)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    # It waited for the calls in flight at most, not for the calls that kept coming.
    assert report["close_s"] <= 2 * report["longest_call_s"] + 0.1, report
    assert report["closed_errors"] == 4, report


def test_close_from_many_threads_at_once(models):
    model = tfbundle.load(models / "loop")
    sig = model.signatures["serving_default"]
    x = np.eye(256, dtype=np.float32)
    sig(x=x, n=np.int32(2))
    errors: list[BaseException] = []

    def close() -> None:
        try:
            model.close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    closers = [threading.Thread(target=close) for _ in range(8)]
    for t in closers:
        t.start()
    for t in closers:
        t.join(30)
    assert not errors and not any(t.is_alive() for t in closers)
    assert model.closed
    with pytest.raises(tfbundle.ClosedError):
        sig(x=x, n=np.int32(1))


# -------------------------------------------------------------------- exit ---

EXIT_WITH_BUSY_THREADS = """
mode = sys.argv[2]
model, sig = loop_model()
n = steps_for(sig, 0.1 if mode == "loops" else 1.5)

def loop():
    while True:
        try:
            sig(x=X, n=np.int32(n))
        except (tfbundle.ClosedError, tfbundle.CancelledError):
            pass  # closed at exit: calls keep failing until the interpreter ends the thread

def one_call():
    sig(x=X, n=np.int32(n))

for _ in range(4 if mode == "loops" else 1):
    threading.Thread(target=loop if mode == "loops" else one_call, daemon=True).start()
time.sleep(0.4)
print("exiting", flush=True)
"""


def test_exit_with_busy_daemon_threads(models, tmp_path):
    """4 daemon threads making 0.1 s calls in a loop: the process exits (the atexit hook returns)."""
    path = script(tmp_path, EXIT_WITH_BUSY_THREADS)
    for proc in run_children(path, [[str(models), "loops"]] * 3, timeout=60):
        assert_clean(proc)
        assert "exiting" in proc.stdout


def test_exit_with_a_daemon_thread_inside_a_call(models, tmp_path):
    """A daemon thread inside a 1.5 s call at exit: no SIGABRT ("terminate called ..."), exit code 0."""
    path = script(tmp_path, EXIT_WITH_BUSY_THREADS)
    for proc in run_children(path, [[str(models), "one_call"]] * 10, timeout=60):
        assert_clean(proc)
        assert "exiting" in proc.stdout


# -------------------------------------------------------------------- fork ---

FORK = """
import multiprocessing as mp

WIDE = os.path.join(ROOT, "wide")
XW = np.linspace(-1, 1, 8 * 1024, dtype=np.float32).reshape(8, 1024)

def attempts(model, queue):
    for what in ("call", "load", "close"):
        started = time.monotonic()
        try:
            if what == "call":
                model.signatures["serving_default"](x=XW)
            elif what == "load":
                tfbundle.load(WIDE).signatures["serving_default"](x=XW)
            else:
                model.close()
            queue.put((what, "no error", "", time.monotonic() - started))
        except Exception as e:
            queue.put((what, type(e).__name__, str(e), time.monotonic() - started))

def fresh_load(queue):
    queue.put(float(tfbundle.load(WIDE).signatures["serving_default"](x=XW)["y"].sum()))

if __name__ == "__main__":
    report = {}
    if sys.argv[2] == "after_load":
        model = tfbundle.load(WIDE)
        report["parent"] = float(model.signatures["serving_default"](x=XW)["y"].sum())
        ctx = mp.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=attempts, args=(model, queue))
        child.start()
        report["fork"] = [queue.get(timeout=30) for _ in range(3)]
        child.join(30)
        report["fork_exitcode"] = child.exitcode
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=fresh_load, args=(queue,))
        child.start()
        report["spawn"] = queue.get(timeout=60)
        child.join(30)
        report["spawn_exitcode"] = child.exitcode
        report["parent_after"] = float(model.signatures["serving_default"](x=XW)["y"].sum())
    else:  # TensorFlow never started here (its library opened at most): a forked child may use it
        if sys.argv[2] == "library_opened":
            from tfbundle._runtime import library
            library.ensure_loaded()
        ctx = mp.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=fresh_load, args=(queue,))
        child.start()
        report["fork"] = queue.get(timeout=60)
        child.join(30)
        report["fork_exitcode"] = child.exitcode
    print(json.dumps(report))
"""


def test_fork_after_load_fails_fast(models, tmp_path):
    """A forked child's load, call and close raise FailedPreconditionError at once; spawn works."""
    proc = run_child(script(tmp_path, FORK), str(models), "after_load", timeout=120)
    assert_clean(proc)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [a[0] for a in report["fork"]] == ["call", "load", "close"], report
    for what, error, message, seconds in report["fork"]:
        assert error == "FailedPreconditionError", (what, error, message)
        assert "fork" in message and "spawn" in message and "after the fork" in message, message
        assert seconds < 5, (what, seconds)
    assert report["fork_exitcode"] == 0, report
    assert report["spawn"] == pytest.approx(report["parent"], rel=1e-6)
    assert report["spawn_exitcode"] == 0, report
    assert report["parent_after"] == report["parent"]  # the parent is untouched


@pytest.mark.parametrize("state", ["nothing_loaded", "library_opened"])
def test_fork_before_tensorflow_started_works(models, tmp_path, state):
    proc = run_child(script(tmp_path, FORK), str(models), state, timeout=120)
    assert_clean(proc)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert np.isfinite(report["fork"]) and report["fork"] > 0, report
    assert report["fork_exitcode"] == 0, report


# ------------------------------------------------------------------ threads ---


def test_threads_times_calls_equal_serial_calls(models):
    """8 threads x 40 calls of the wide model, each input different: the serial results, exactly."""
    model = tfbundle.load(models / "wide")
    sig = model.signatures["serving_default"]
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((8, 1024)).astype(np.float32) for _ in range(320)]
    serial = [sig(x=x)["y"] for x in inputs]
    got: list[np.ndarray | None] = [None] * len(inputs)

    def work(k: int) -> None:
        for i in range(k, len(inputs), 8):
            got[i] = sig(x=inputs[i])["y"]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    for i, (a, b) in enumerate(zip(serial, got)):
        assert b is not None and np.array_equal(a, b), i
    model.close()


READER_AT_EXIT = """
import threading, time
from tfbundle import _core

data = bytes(64 << 20)
started = threading.Event()

def loop():
    while True:
        started.set()
        _core.crc32c(data, 0, True)  # the portable CRC: tens of ms without the GIL

threading.Thread(target=loop, daemon=True).start()
started.wait()
time.sleep(0.05)
print("exiting", flush=True)
"""


def test_exit_with_a_daemon_thread_inside_a_checkpoint_read(tmp_path):
    """The checkpoint reader's bindings also retake the GIL outside destructors: no SIGABRT."""
    path = tmp_path / "reader_at_exit.py"
    path.write_text(READER_AT_EXIT)
    for proc in run_children(path, [[]] * 6, timeout=60):
        assert_clean(proc)
        assert "exiting" in proc.stdout
