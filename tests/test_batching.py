"""tfbundle.Batcher (dynamic batching in process) and the asyncio calls of Model and Signature.

Most tests run the iris model the package carries (input float32 (None, 4)); the shape and
repository tests use models TensorFlow makes (tests/makers). Where a test must hold a batch
while it runs (a full queue, a deadline, close() mid-flight), a gate wraps the Batcher's run:
the batch thread waits at the gate before the model runs, and the gate records each batch.
Behaviour only: nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfbundle
from tfbundle import errors
from tfbundle.cli.demo import demo_model_path

WAIT = 30.0  # seconds before a test calls a hang a failure
RNG = np.random.default_rng(7)
ROWS = RNG.uniform(0.0, 8.0, size=(64, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def model() -> Iterator[tfbundle.Model]:
    with tfbundle.load(demo_model_path()) as m:
        yield m


@pytest.fixture
def fresh_model() -> Iterator[tfbundle.Model]:
    with tfbundle.load(demo_model_path()) as m:
        yield m


def assert_same(out: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert set(out) == set(expected)
    for key, value in expected.items():
        assert out[key].shape == value.shape, key
        if value.dtype.kind == "f":
            np.testing.assert_allclose(out[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(out[key], value, err_msg=key)


def before_each_run(batcher: tfbundle.Batcher, hook: Callable[[str, dict[str, tuple[int, ...]]], None]) -> None:
    """Calls ``hook(signature, {input key: shape})`` before each batch's run, in the thread that
    runs it, on either path (the native queue's hook, or the Python path's run)."""
    s = batcher._s
    target = s.target
    real = target.run

    def run(name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        hook(name, {k: v.shape for k, v in inputs.items()})
        return real(name, inputs)

    target.run = run
    if s.native is not None:
        s.native.set_hook(hook)


class Gate:
    """Holds each batch before its run until ``go`` is set, and records the batches' input shapes.
    With ``transform`` (applied to the outputs of each run), the Batcher takes the Python path."""

    def __init__(self, batcher: tfbundle.Batcher, transform: Callable[[Any], Any] | None = None) -> None:
        self.go = threading.Event()
        self.started = threading.Event()
        self.runs: list[tuple[str, dict[str, tuple[int, ...]]]] = []

        def hold(name: str, shapes: dict[str, tuple[int, ...]]) -> None:
            self.runs.append((name, shapes))
            self.started.set()
            assert self.go.wait(WAIT)

        if transform is None:
            before_each_run(batcher, hold)
            return
        batcher._s.use_native = False
        target = batcher._s.target
        real = target.run

        def run(name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            hold(name, {k: v.shape for k, v in inputs.items()})
            return transform(real(name, inputs))

        target.run = run

    def rows(self) -> list[int]:
        return [next(iter(shapes.values()))[0] for _, shapes in self.runs]


def wait_for(predicate: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.002)


# ------------------------------------------------------- who runs a batch ---


def test_a_blocking_call_runs_its_ready_batch_itself(model: tfbundle.Model) -> None:
    # With no batch timeout and a slot free, the caller's thread runs its batch (no hand-off to
    # a batch thread and back); while every slot is taken, the request waits for a batch thread.
    with tfbundle.Batcher(model, max_batch_size=8, batch_timeout_micros=0, num_batch_threads=1) as b:
        ran_in: list[str] = []
        hold = threading.Event()
        held = threading.Event()

        def run(name: str, shapes: dict[str, tuple[int, ...]]) -> None:
            ran_in.append(threading.current_thread().name)
            if threading.current_thread().name == "holder":
                held.set()
                assert hold.wait(WAIT)

        before_each_run(b, run)
        assert_same(b(x=ROWS[:2]), model(x=ROWS[:2]))
        assert ran_in == [threading.current_thread().name]
        # A caller holds the only slot: the next request is run by the batch thread once it frees.
        holder = threading.Thread(target=lambda: b(x=ROWS[:1], timeout=WAIT), name="holder")
        holder.start()
        assert held.wait(WAIT)
        later = b.submit(x=ROWS[2:3])
        time.sleep(0.05)
        assert not later.done()  # no slot: not run while the holder runs
        hold.set()
        holder.join(WAIT)
        assert_same(later.result(WAIT), model(x=ROWS[2:3]))
        assert ran_in[1:] == ["holder", "tfbundle-batcher-0"]


# ----------------------------------------------------------- same outputs ---


@pytest.mark.parametrize("threads", [1, 2])
def test_outputs_equal_direct_calls_from_many_threads(model: tfbundle.Model, threads: int) -> None:
    expected = model(x=ROWS)
    requests = [(i % 60, 1 + i % 4) for i in range(240)]  # (first row, rows): mixed sizes
    with tfbundle.Batcher(model, max_batch_size=16, batch_timeout_micros=2000, num_batch_threads=threads) as b:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            outs = list(pool.map(lambda r: b(x=ROWS[r[0] : r[0] + r[1]], timeout=WAIT), requests))
        stats = b.stats
    for (start, n), out in zip(requests, outs):
        assert_same(out, {k: v[start : start + n] for k, v in expected.items()})
    assert stats["requests"] == len(requests)
    assert sum(stats["batch_sizes"].values()) == stats["batches"] <= len(requests)
    assert stats["errors"] == stats["rejected"] == stats["queued_requests"] == 0
    assert max(stats["batch_sizes"]) <= 16


def test_outputs_equal_direct_calls_from_many_asyncio_tasks(model: tfbundle.Model) -> None:
    expected = model(x=ROWS)
    requests = [(i % 60, 1 + i % 5) for i in range(200)]

    async def main() -> list[dict[str, np.ndarray]]:
        async with tfbundle.Batcher(model, max_batch_size=32, batch_timeout_micros=1000) as b:
            outs = await asyncio.gather(*(b.acall(x=ROWS[s : s + n], timeout=WAIT) for s, n in requests))
            assert b.stats["batches"] < len(requests)  # they did share batches
            return outs

    for (start, n), out in zip(requests, asyncio.run(main())):
        assert_same(out, {k: v[start : start + n] for k, v in expected.items()})


def test_a_mapping_submit_and_a_signature_target(model: tfbundle.Model) -> None:
    sig = model.signatures["logits"]
    with tfbundle.Batcher(sig, batch_timeout_micros=0) as b:
        assert b.signature == "logits"
        assert_same(b({"x": ROWS[:3]}), sig(x=ROWS[:3]))
        assert_same(b.submit(x=ROWS[3:5]).result(WAIT), sig(x=ROWS[3:5]))
        assert_same(b(x=ROWS[:1].tolist()), sig(x=ROWS[:1]))  # a list is converted to the input's dtype
        with pytest.raises(errors.InvalidArgumentError, match="runs only the signature 'logits'"):
            b(x=ROWS[:1], signature="serving_default")


def test_signatures_of_a_model_are_batched_apart(model: tfbundle.Model) -> None:
    with tfbundle.Batcher(model, max_batch_size=8) as b:
        gate = Gate(b)
        first = b.submit(x=ROWS[:1])
        assert gate.started.wait(WAIT)
        futures = [b.submit(x=ROWS[i : i + 1], signature=("logits" if i % 2 else None)) for i in range(1, 9)]
        gate.go.set()
        assert_same(first.result(WAIT), model(x=ROWS[:1]))
        for i, f in enumerate(futures, 1):
            sig = model.signatures["logits"] if i % 2 else model.default_signature
            assert_same(f.result(WAIT), sig(x=ROWS[i : i + 1]))
    assert sorted(name for name, _ in gate.runs) == ["logits", "serving_default", "serving_default"]
    assert sorted(gate.rows()) == [1, 4, 4]


# ------------------------------------------------------- shapes and padding ---


def test_requests_of_other_inner_shapes_are_batched_apart(models: Any) -> None:
    with tfbundle.load(models.folder("dtypes")) as m, tfbundle.Batcher(m, signature="identity") as b:
        gate = Gate(b)
        first = b.submit(x=np.zeros((1, 2), np.float32))
        assert gate.started.wait(WAIT)
        arrays = [np.full((1 + i % 2, 3 if i % 3 else 5), i, np.float32) for i in range(9)]
        futures = [b.submit(x=a) for a in arrays]
        gate.go.set()
        np.testing.assert_array_equal(first.result(WAIT)["same"], np.zeros((1, 2), np.float32))
        for a, f in zip(arrays, futures):
            np.testing.assert_array_equal(f.result(WAIT)["same"], a)
    inner = sorted(shapes["x"][1] for _, shapes in gate.runs[1:])
    assert inner == [3, 5]  # one batch per inner shape
    assert {shapes["x"][0] for _, shapes in gate.runs[1:]} == {9, 4}


def test_pad_variable_length_inputs_joins_other_inner_shapes(models: Any) -> None:
    with tfbundle.load(models.folder("dtypes")) as m:
        with tfbundle.Batcher(m, signature="identity", pad_variable_length_inputs=True) as b:
            gate = Gate(b)
            first = b.submit(x=np.zeros((1, 1), np.float32))
            assert gate.started.wait(WAIT)
            short = b.submit(x=np.array([[7.0, 8.0]], np.float32))
            long = b.submit(x=np.array([[1.0, 2.0, 3.0, 4.0]], np.float32))
            gate.go.set()
            first.result(WAIT)
            # Outputs keep the padded width; the padding is the request's own first element.
            np.testing.assert_array_equal(short.result(WAIT)["same"], [[7.0, 8.0, 7.0, 7.0]])
            np.testing.assert_array_equal(long.result(WAIT)["same"], [[1.0, 2.0, 3.0, 4.0]])
        assert gate.runs[1][1]["x"] == (2, 4)


def test_allowed_batch_sizes_pad_the_batch_and_drop_the_padding(model: tfbundle.Model) -> None:
    with tfbundle.Batcher(model, max_batch_size=8, allowed_batch_sizes=[2, 4, 8], batch_timeout_micros=0) as b:
        gate = Gate(b)
        gate.go.set()
        assert_same(b(x=ROWS[:3]), model(x=ROWS[:3]))
        assert_same(b(x=ROWS[3:8]), model(x=ROWS[3:8]))
        assert_same(b(x=ROWS[8:9]), model(x=ROWS[8:9]))
        stats = b.stats
    assert gate.rows() == [4, 8, 2]
    assert stats["batch_sizes"] == {2: 1, 4: 1, 8: 1}
    assert stats["padding_rows"] == 1 + 3 + 1


# -------------------------------------------------- queue, deadline, close ---


def test_a_full_queue_raises_resource_exhausted(model: tfbundle.Model) -> None:
    with tfbundle.Batcher(model, max_batch_size=2, max_enqueued_batches=2) as b:
        gate = Gate(b)
        running = b.submit(x=ROWS[:2])  # a full batch: taken at once, then held at the gate
        assert gate.started.wait(WAIT)
        queued = [b.submit(x=ROWS[i : i + 2]) for i in (2, 4)]  # two batches wait
        with pytest.raises(errors.ResourceExhaustedError, match="max_enqueued_batches=2"):
            b(x=ROWS[6:7])
        with pytest.raises(MemoryError):  # the builtin it also is
            b(x=ROWS[6:7])
        assert b.stats["rejected"] == 2
        assert b.stats["queued_batches"] == 2
        gate.go.set()
        for start, f in zip((0, 2, 4), (running, *queued)):
            assert_same(f.result(WAIT), model(x=ROWS[start : start + 2]))
        assert_same(b(x=ROWS[6:7]), model(x=ROWS[6:7]))  # room again


def test_a_deadline_that_passes_in_the_queue_is_not_run(model: tfbundle.Model) -> None:
    with tfbundle.Batcher(model, max_batch_size=4, batch_timeout_micros=0) as b:
        gate = Gate(b)
        running = b.submit(x=ROWS[:1])
        assert gate.started.wait(WAIT)
        with pytest.raises(errors.DeadlineExceededError, match="timeout"):
            b(x=ROWS[1:2], timeout=0.05)  # the caller gives up at its deadline
        late = b.submit(x=ROWS[2:3], timeout=0.05)  # the batch thread finds it past its deadline
        on_time = b.submit(x=ROWS[3:4], timeout=WAIT)
        time.sleep(0.1)
        gate.go.set()
        assert_same(running.result(WAIT), model(x=ROWS[:1]))
        assert isinstance(late.exception(WAIT), errors.DeadlineExceededError)
        assert "not run" in str(late.exception())
        assert_same(on_time.result(WAIT), model(x=ROWS[3:4]))
        stats = b.stats
    assert gate.rows() == [1, 1]  # only the first and the one on time ran
    assert stats["deadline_exceeded"] == 2


def test_close_runs_what_is_queued_and_refuses_new_requests(model: tfbundle.Model) -> None:
    b = tfbundle.Batcher(model, max_batch_size=2)
    gate = Gate(b)
    futures = [b.submit(x=ROWS[i : i + 1]) for i in range(7)]
    assert gate.started.wait(WAIT)
    closer = threading.Thread(target=b.close)
    closer.start()
    wait_for(lambda: b.closed, "close() to begin")
    with pytest.raises(errors.ClosedError):
        b(x=ROWS[:1])
    gate.go.set()
    closer.join(WAIT)
    assert not closer.is_alive()
    for i, f in enumerate(futures):
        assert_same(f.result(WAIT), model(x=ROWS[i : i + 1]))
    assert sorted(gate.rows()) == [1, 2, 2, 2]
    b.close()  # idempotent


def test_close_with_a_timeout_answers_every_request_exactly_once(model: tfbundle.Model) -> None:
    b = tfbundle.Batcher(model, max_batch_size=2, batch_timeout_micros=0)
    gate = Gate(b)
    futures = [b.submit(x=ROWS[i : i + 1]) for i in range(9)]
    assert gate.started.wait(WAIT)
    answers: list[int] = []
    for f in futures:
        f.add_done_callback(lambda _f: answers.append(1))
    b.close(timeout=0.05)  # the batch thread is held: what is queued is refused
    gate.go.set()
    concurrent.futures.wait(futures, WAIT)
    outcomes = [type(f.exception()).__name__ if f.exception() else "ok" for f in futures]
    assert outcomes[0] == "ok"
    assert outcomes.count("ClosedError") >= 7
    assert len(answers) == len(futures)  # every request answered, once
    for f in futures:
        if not f.exception():
            assert set(f.result()) == {"class_ids", "probabilities"}


def test_a_model_closed_under_the_batcher_fails_its_waiting_requests(fresh_model: tfbundle.Model) -> None:
    with tfbundle.Batcher(fresh_model, max_batch_size=4) as b:
        gate = Gate(b)
        futures = [b.submit(x=ROWS[i : i + 1]) for i in range(6)]
        assert gate.started.wait(WAIT)
        fresh_model.close()
        gate.go.set()
        for f in futures:
            assert isinstance(f.exception(WAIT), errors.ClosedError)
        with pytest.raises(errors.ClosedError):
            b(x=ROWS[:1], timeout=WAIT)
        assert b.stats["errors"] == 7


def test_an_error_of_the_run_goes_to_every_request_of_the_batch(model: tfbundle.Model) -> None:
    with tfbundle.Batcher(model, max_batch_size=4) as b:
        gate = Gate(b, transform=lambda out: {"one": np.float32(1.0), **out})  # not split by rows
        futures = [b.submit(x=ROWS[i : i + 1]) for i in range(3)]
        gate.go.set()
        for f in futures:
            e = f.exception(WAIT)
            assert isinstance(e, errors.InvalidArgumentError)
            assert "cannot be batched: its output 'one'" in str(e)
        assert len({id(f.exception()) for f in futures}) == 3  # one exception object each
        with pytest.raises(errors.InvalidArgumentError, match="cannot be batched"):
            b(x=ROWS[:1])  # refused at once from now on


# --------------------------------------------------------------- asyncio ---


def test_model_and_signature_acall_equal_direct_calls(model: tfbundle.Model) -> None:
    sig = model.signatures["logits"]

    async def main() -> None:
        outs = await asyncio.gather(*(model.acall(x=ROWS[i : i + 3]) for i in range(20)))
        for i, out in enumerate(outs):
            assert_same(out, model(x=ROWS[i : i + 3]))
        assert_same(await sig.acall(x=ROWS[:2]), sig(x=ROWS[:2]))
        (logits,) = await sig.arun({"x": ROWS[:2]})
        np.testing.assert_array_equal(logits, sig(x=ROWS[:2])["logits"])
        with pytest.raises(errors.InvalidArgumentError):
            await sig.acall(y=ROWS[:2])

    asyncio.run(main())


def test_acall_on_a_closed_model_raises_closed(fresh_model: tfbundle.Model) -> None:
    fresh_model.close()
    with pytest.raises(errors.ClosedError):
        asyncio.run(fresh_model.acall(x=ROWS[:1]))


def test_cancelling_awaiting_tasks_breaks_nothing(model: tfbundle.Model) -> None:
    problems: list[Any] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: problems.append(ctx))
        async with tfbundle.Batcher(model, max_batch_size=2, batch_timeout_micros=0) as b:
            gate = Gate(b)
            running = asyncio.ensure_future(b.acall(x=ROWS[:2]))  # a full batch, held at the gate
            await asyncio.get_running_loop().run_in_executor(None, gate.started.wait, WAIT)
            queued = asyncio.ensure_future(b.acall(x=ROWS[2:3]))
            with_timeout = asyncio.ensure_future(b.acall(x=ROWS[3:4], timeout=WAIT))
            await asyncio.sleep(0.01)
            running.cancel()
            queued.cancel()
            with_timeout.cancel()
            for task in (running, queued, with_timeout):
                with pytest.raises(asyncio.CancelledError):
                    await task
            gate.go.set()
            after = await asyncio.gather(*(b.acall(x=ROWS[i : i + 1], timeout=WAIT) for i in range(5)))
            for i, out in enumerate(after):
                assert_same(out, model(x=ROWS[i : i + 1]))
            # the plain acall of a model, cancelled while it runs in its thread
            task = asyncio.ensure_future(model.acall(x=ROWS))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert_same(await model.acall(x=ROWS[:1]), model(x=ROWS[:1]))
            stats = b.stats
        assert gate.rows()[0] == 2  # the cancelled running batch ran; the queued ones did not
        assert stats["cancelled"] == 2

    asyncio.run(main())
    assert problems == []


def test_acall_threads_skip_a_job_cancelled_before_it_starts() -> None:
    from tfbundle._runtime import offloop

    ran: list[str] = []
    release = threading.Event()

    def block() -> str:
        release.wait(WAIT)
        return "blocked"

    async def main() -> None:
        busy = [offloop.submit(block) for _ in range(offloop._THREADS)]  # every thread taken
        late = offloop.submit(ran.append, "late")
        failing = offloop.submit(int, "not a number")
        late.cancel()
        release.set()
        assert await asyncio.gather(*busy) == ["blocked"] * offloop._THREADS
        with pytest.raises(ValueError, match="not a number"):
            await failing  # an error reaches the awaiting task as it is
        assert await offloop.submit(ran.append, "after") is None

    asyncio.run(main())
    assert ran == ["after"]


def test_acall_threads_survive_a_loop_closed_before_the_answer() -> None:
    # A job still running when its event loop closes: its answer has nowhere to go (the loop
    # refuses call_soon_threadsafe), and the thread goes on to the next job.
    from tfbundle._runtime import offloop

    release = threading.Event()
    failures: list[Any] = []
    old_hook = threading.excepthook
    threading.excepthook = failures.append

    def slow() -> str:
        release.wait(WAIT)
        return "late"

    async def leave_it_running() -> None:
        offloop.submit(slow)

    try:
        asyncio.run(leave_it_running())  # the loop closes with the job still running
        release.set()

        async def more() -> list[int]:
            return list(await asyncio.gather(*(offloop.submit(pow, 2, i) for i in range(2 * offloop._THREADS))))

        assert asyncio.run(more()) == [2**i for i in range(2 * offloop._THREADS)]
    finally:
        threading.excepthook = old_hook
    assert failures == []


def test_within_puts_a_deadline_on_an_answer() -> None:
    from tfbundle._runtime.offloop import within

    async def main() -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.call_soon(ready.set_result, 7)
        assert await within(ready, 5.0, "late") == 7
        never = loop.create_future()
        with pytest.raises(errors.DeadlineExceededError, match=r"^too late$"):
            await within(never, 0.01, "too late")
        assert never.cancelled()  # what timed out is cancelled
        own = loop.create_future()
        own.set_exception(errors.DeadlineExceededError("the queue's own deadline"))
        with pytest.raises(errors.DeadlineExceededError, match="the queue's own deadline"):
            await within(own, 5.0, "not this one")
        unbounded = loop.create_future()
        loop.call_later(0.01, unbounded.set_result, "done")
        assert await within(unbounded, None, "no limit") == "done"

    asyncio.run(main())


def _submit_in_child(out: Any) -> None:
    from tfbundle._runtime import offloop

    async def main() -> int:
        return await asyncio.wait_for(offloop.submit(pow, 2, 10), WAIT)

    out.put(asyncio.run(main()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_acall_threads_start_anew_in_a_forked_child() -> None:
    # A child has none of its parent's threads: it starts its own rather than queueing jobs
    # that no thread takes (a model cannot run in such a child, but the pool must not hang it).
    import multiprocessing

    from tfbundle._runtime import offloop

    async def warm() -> int:
        return await offloop.submit(pow, 2, 3)

    assert asyncio.run(warm()) == 8  # the parent's threads are running
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_submit_in_child, args=(out,))
    child.start()
    try:
        assert out.get(timeout=WAIT) == 1024
    finally:
        child.join(WAIT)
    assert child.exitcode == 0


def test_acall_deadline(model: tfbundle.Model) -> None:
    async def main() -> None:
        async with tfbundle.Batcher(model, batch_timeout_micros=0) as b:
            gate = Gate(b)
            first = asyncio.ensure_future(b.acall(x=ROWS[:1]))
            await asyncio.get_running_loop().run_in_executor(None, gate.started.wait, WAIT)
            with pytest.raises(errors.DeadlineExceededError):
                await b.acall(x=ROWS[1:2], timeout=0.02)
            gate.go.set()
            assert_same(await first, model(x=ROWS[:1]))

    asyncio.run(main())


# ------------------------------------------------------ the native queue ---


def test_numeric_signatures_run_in_the_native_queue_and_get_their_own_arrays(model: tfbundle.Model) -> None:
    with tfbundle.Batcher(model, max_batch_size=8, batch_timeout_micros=0) as b:
        gate = Gate(b)
        first = b.submit(x=ROWS[:1])
        assert gate.started.wait(WAIT)
        futures = [b.submit(x=ROWS[i : i + 2]) for i in (1, 3, 5)]
        gate.go.set()
        assert_same(first.result(WAIT), model(x=ROWS[:1]))
        outs = [f.result(WAIT) for f in futures]
        assert b._s.info(model.default_signature).native is not None
        assert not b._s.python_threads_started  # nothing took the Python path
    assert gate.rows() == [1, 6]
    for i, out in zip((1, 3, 5), outs):
        assert_same(out, model(x=ROWS[i : i + 2]))
    probabilities = [out["probabilities"] for out in outs]
    assert all(p.flags.writeable and p.flags.c_contiguous for p in probabilities)
    assert not np.shares_memory(probabilities[0], probabilities[1])  # copies of their rows, not views


def test_values_that_need_converting_are_checked_then_batched_natively(model: tfbundle.Model) -> None:
    with tfbundle.Batcher(model, max_batch_size=8, batch_timeout_micros=0) as b:
        assert_same(b(x=ROWS[:3].tolist()), model(x=ROWS[:3]))
        assert_same(b(x=ROWS[:6:2]), model(x=ROWS[:6:2]))  # not contiguous
        assert_same(b(x=np.asfortranarray(ROWS[:3])), model(x=ROWS[:3]))
        assert_same(b({"x": ROWS[:2]}, timeout=WAIT), model(x=ROWS[:2]))
        assert_same(b.submit(x=ROWS[:6:2]).result(WAIT), model(x=ROWS[:6:2]))
        assert_same(b.submit(x=ROWS[:2].tolist(), timeout=WAIT).result(WAIT), model(x=ROWS[:2]))
        stats = b.stats
        assert not b._s.python_threads_started
    assert stats["requests"] == stats["batches"] == 6


def test_a_cancelled_future_leaves_its_batch_and_the_rest_run(model: tfbundle.Model) -> None:
    with tfbundle.Batcher(model, max_batch_size=8, batch_timeout_micros=0) as b:
        gate = Gate(b)
        running = b.submit(x=ROWS[:1])
        assert gate.started.wait(WAIT)
        gone = b.submit(x=ROWS[1:3])
        kept = b.submit(x=ROWS[3:4])  # after the cancelled rows in the batch's buffers
        assert gone.cancel()
        gate.go.set()
        assert_same(running.result(WAIT), model(x=ROWS[:1]))
        assert_same(kept.result(WAIT), model(x=ROWS[3:4]))
        assert gone.cancelled()
        stats = b.stats
    assert gate.rows() == [1, 1]
    assert stats["cancelled"] == 1
    assert stats["queued_requests"] == 0


def test_every_dtype_through_the_batcher(models: Any) -> None:
    # Numeric signatures run in the native queue, the string one on the Python path; each answers
    # as a direct call does.
    with (
        tfbundle.load(models.folder("dtypes")) as m,
        tfbundle.Batcher(m, batch_timeout_micros=0, signature="dt_int8") as b,
    ):
        names = sorted(n for n in m.signatures if n.startswith("dt_"))
        assert "dt_string" in names and "dt_bfloat16" in names
        for name in names:
            sig = m.signatures[name]
            dtype = sig.inputs["x"].dtype
            if dtype.kind == "O":
                x = np.array([b"a", b"bc", b""], object)
            elif dtype.kind == "b":
                x = np.array([True, False, True])
            else:
                x = np.arange(1, 4).astype(dtype)
            y = x[::-1].copy()
            expected = sig(x=x, y=y)
            out = b(x=x, y=y, signature=name, timeout=WAIT)
            assert (b._s.info(sig).native is not None) == (name != "dt_string"), name
            assert set(out) == set(expected)
            for key, value in expected.items():
                assert out[key].dtype == value.dtype and out[key].shape == value.shape, (name, key)
                if value.dtype.kind == "O":
                    assert out[key].tolist() == value.tolist(), (name, key)
                else:
                    assert out[key].tobytes() == value.tobytes(), (name, key)
        assert b._s.python_threads_started


def test_many_callers_with_deadlines_and_cancellations_all_get_their_answer(model: tfbundle.Model) -> None:
    # The callers a batch answers are woken one after another; callers that gave up at their
    # deadline, cancelled futures and early arrivals must not break that chain (a hang fails here).
    expected = model(x=ROWS)
    outcomes: list[str] = []

    def client(k: int) -> None:
        rng = np.random.default_rng(k)
        for i in range(60):
            start = int(rng.integers(0, 60))
            rows = ROWS[start : start + 1 + i % 3]
            want = {key: v[start : start + len(rows)] for key, v in expected.items()}
            kind = i % 5
            try:
                if kind == 0:
                    out = b(x=rows, timeout=float(rng.uniform(0.0, 0.002)))  # often gives up
                elif kind == 1:
                    future = b.submit(x=rows)
                    if future.cancel():
                        outcomes.append("cancelled")
                        continue
                    out = future.result(WAIT)
                else:
                    out = b(x=rows, timeout=WAIT)
            except errors.DeadlineExceededError:
                outcomes.append("deadline")
                continue
            assert_same(out, want)
            outcomes.append("ok")

    with tfbundle.Batcher(model, max_batch_size=16, batch_timeout_micros=300) as b:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
            assert not t.is_alive()
        stats = b.stats
    assert len(outcomes) == 24 * 60
    assert outcomes.count("ok") >= 24 * 60 * 3 // 5  # every request without a short deadline
    assert stats["queued_requests"] == stats["queued_batches"] == stats["errors"] == 0


@pytest.mark.parametrize("path", ["native", "python"])
def test_run_when_idle_starts_a_batch_as_soon_as_a_slot_is_free(model: tfbundle.Model, path: str) -> None:
    python = {"pad_variable_length_inputs": True} if path == "python" else {}  # which takes the Python path
    hour = 3600e6
    with tfbundle.Batcher(model, max_batch_size=8, batch_timeout_micros=hour, run_when_idle=True, **python) as b:
        assert (b._s.native is not None) == (path == "native")
        assert_same(b(x=ROWS[:1], timeout=WAIT), model(x=ROWS[:1]))  # not held for the hour
        assert_same(b.submit(x=ROWS[1:3]).result(WAIT), model(x=ROWS[1:3]))
        gate = Gate(b)
        first = b.submit(x=ROWS[:1])
        assert gate.started.wait(WAIT)
        rest = [b.submit(x=ROWS[i : i + 1]) for i in range(1, 5)]  # while the slot is busy: one batch
        gate.go.set()
        for i, f in enumerate([first, *rest]):
            assert_same(f.result(WAIT), model(x=ROWS[i : i + 1]))
    assert gate.rows() == [1, 4]
    # TF Serving's rule (the default): a lone request waits for the timeout (here until close()).
    b = tfbundle.Batcher(model, max_batch_size=8, batch_timeout_micros=hour, **python)
    lone = b.submit(x=ROWS[:1])
    time.sleep(0.05)
    assert not lone.done()
    b.close()
    assert_same(lone.result(WAIT), model(x=ROWS[:1]))


# ----------------------------------------------------- a model repository ---


def test_a_batcher_over_a_repository_follows_its_swaps(tf_models: Callable[[str], Path], tmp_path: Path) -> None:
    made = tf_models("versions")
    base = tmp_path / "model"
    base.mkdir()
    shutil.copytree(made / "v1", base / "1")
    x = np.array([0.0, 10.0], np.float32)
    with tfbundle.ModelRepository(base, poll_interval=None) as repo:
        b = tfbundle.Batcher(repo, batch_timeout_micros=0)
        s = tfbundle.Batcher(repo.signature("serving_default"))
        assert b(x=x)["y"].tolist() == [1.0, 11.0]
        assert s(x=x)["y"].tolist() == [1.0, 11.0]
        shutil.copytree(made / "v2", base / ".staging")
        (base / ".staging").rename(base / "2")
        assert repo.poll() == 2
        assert b(x=x)["y"].tolist() == [2.0, 12.0]
        assert s(x=x)["y"].tolist() == [2.0, 12.0]
        b.close()
        s.close()


def test_a_request_queued_over_a_swap_runs_on_the_version_it_came_to(
    tf_models: Callable[[str], Path], tmp_path: Path
) -> None:
    made = tf_models("versions")
    base = tmp_path / "model"
    base.mkdir()
    shutil.copytree(made / "v1", base / "1")
    x = np.array([0.0, 10.0], np.float32)
    with (
        tfbundle.ModelRepository(base, poll_interval=None) as repo,
        tfbundle.Batcher(repo, max_batch_size=4, batch_timeout_micros=0) as b,
    ):
        assert b._s.native is not None
        gate = Gate(b)
        held = b.submit(x=x)  # version 1, held at the gate
        assert gate.started.wait(WAIT)
        queued = b.submit(x=x + 1)  # version 1 too, queued behind it
        shutil.copytree(made / "v2", base / ".staging")
        (base / ".staging").rename(base / "2")
        assert repo.poll() == 2
        later = b.submit(x=x)  # version 2
        gate.go.set()
        assert held.result(WAIT)["y"].tolist() == [1.0, 11.0]
        assert queued.result(WAIT)["y"].tolist() == [2.0, 12.0]
        assert later.result(WAIT)["y"].tolist() == [2.0, 12.0]
        assert b(x=x, timeout=WAIT)["y"].tolist() == [2.0, 12.0]
        assert not b._s.python_threads_started


# ------------------------------------------------------------ bad arguments ---


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_batch_size": 0}, "max_batch_size must be an integer >= 1"),
        ({"max_batch_size": 2.5}, "max_batch_size must be an integer"),
        ({"max_batch_size": True}, "max_batch_size must be an integer"),
        ({"batch_timeout_micros": -1}, "batch_timeout_micros must be a number >= 0"),
        ({"batch_timeout_micros": float("nan")}, "batch_timeout_micros"),
        ({"max_enqueued_batches": 0}, "max_enqueued_batches"),
        ({"num_batch_threads": 0}, "num_batch_threads"),
        ({"allowed_batch_sizes": [4, 2, 32]}, "strictly increasing"),
        ({"allowed_batch_sizes": []}, "strictly increasing"),
        ({"allowed_batch_sizes": [2, 4]}, r"last of allowed_batch_sizes \(4\) must be max_batch_size \(32\)"),
        ({"allowed_batch_sizes": "8"}, "a list of sizes"),
        ({"allowed_batch_sizes": [0, 32]}, "allowed_batch_sizes"),
        ({"pad_variable_length_inputs": 1}, "True or False"),
        ({"run_when_idle": 1}, "run_when_idle must be True or False"),
    ],
)
def test_invalid_parameters_raise_clear_errors(model: tfbundle.Model, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(errors.InvalidArgumentError, match=match):
        tfbundle.Batcher(model, **kwargs)


def test_invalid_targets_and_signatures(model: tfbundle.Model) -> None:
    with pytest.raises(errors.InvalidTypeError, match="Signature, Model or ModelRepository"):
        tfbundle.Batcher(lambda **kw: kw)
    with pytest.raises(errors.SignatureNotFoundError, match="no signature named 'nope'"):
        tfbundle.Batcher(model, signature="nope")
    with pytest.raises(errors.InvalidArgumentError, match="was given the signature 'logits'"):
        tfbundle.Batcher(model.signatures["logits"], signature="serving_default")


def test_invalid_requests_raise_in_the_caller_and_do_not_reach_a_batch(model: tfbundle.Model) -> None:
    with tfbundle.Batcher(model, max_batch_size=8, batch_timeout_micros=0) as b:
        with pytest.raises(errors.InvalidTypeError, match="wants float32, got an array of float64"):
            b(x=ROWS[:1].astype(np.float64))
        with pytest.raises(errors.InvalidArgumentError, match="batch dimension"):
            b(x=np.zeros((0, 4), np.float32))
        with pytest.raises(errors.InvalidArgumentError, match="batch dimension"):
            b(x=np.float32(1.0))
        with pytest.raises(errors.InvalidArgumentError, match=r"the signature wants \(-1, 4\)"):
            b(x=np.zeros((2, 3), np.float32))
        with pytest.raises(errors.InvalidArgumentError, match="missing 'x'; unknown 'y'"):
            b(y=ROWS[:1])
        with pytest.raises(errors.InvalidArgumentError, match="larger than max_batch_size=8"):
            b(x=ROWS[:9])
        with pytest.raises(errors.InvalidArgumentError, match="timeout must be a number >= 0"):
            b(x=ROWS[:1], timeout=-1)
        with pytest.raises(errors.InvalidArgumentError, match="either as a mapping or as keywords"):
            b({"x": ROWS[:1]}, x=ROWS[:1])
        with pytest.raises(errors.SignatureNotFoundError):
            b(x=ROWS[:1], signature="nope")
        assert b.stats["requests"] == 0
        assert_same(b(x=ROWS[:2]), model(x=ROWS[:2]))


def test_signatures_that_cannot_be_batched_are_refused(models: Any) -> None:
    with tfbundle.load(models.folder("tf2_module")) as m:
        b = tfbundle.Batcher(m, signature="mixed")
        with pytest.raises(errors.InvalidArgumentError, match="its input 'factor' is a scalar"):
            b(ids=np.ones((1, 2), np.int32), factor=np.float32(2), names=np.array([b"a"], object))
        b.close()
        b = tfbundle.Batcher(m, signature="scale")
        with pytest.raises(errors.InvalidArgumentError, match="fixed dim 0 of 2"):
            b(m=np.ones((2, 2)))
        b.close()
        b = tfbundle.Batcher(m, signature="no_inputs")
        with pytest.raises(errors.InvalidArgumentError, match="no inputs"):
            b()
        b.close()


def test_a_forgotten_batcher_stops_its_threads(model: tfbundle.Model) -> None:
    import gc

    b = tfbundle.Batcher(model)
    threads = list(b._s.threads)
    assert b(x=ROWS[:1], timeout=WAIT)["class_ids"].shape == (1,)
    del b
    gc.collect()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()
