"""The threads that run ``Signature.acall``/``arun`` off the event loop, and the deadline that
the server's calls and ``Batcher.acall`` put on an awaited answer (:func:`within`).

A plain pool rather than ``loop.run_in_executor``: that wraps each call in a
``concurrent.futures.Future`` chained to an asyncio future (a lock, a condition, two callbacks
and a task step per call). With the task ``wait_for`` added around it, that cost the server about
75 us of event-loop CPU per request of the bench's small model (``bench/bench_asgi.py``: 245 us
before, 170 us after), more than the model's own run. Here a job is one tuple on a
``SimpleQueue`` and its answer one ``call_soon_threadsafe``.

Semantics are those of ``run_in_executor``: cancelling the awaiting task cancels the future; a
job whose future is cancelled before a thread takes it does not run; one already running
finishes in its thread and its result (or error) is dropped, never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..errors import DeadlineExceededError

__all__ = ["submit", "within"]

T = TypeVar("T")
_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+

_THREADS = min(32, (os.cpu_count() or 1) + 4)

_jobs: queue.SimpleQueue[tuple[Any, ...]] | None = None  # made with the threads, at the first use
_lock = threading.Lock()


def _set_result(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future[Any], error: BaseException) -> None:
    if not fut.done():
        fut.set_exception(error)


def _work(jobs: queue.SimpleQueue[tuple[Any, ...]]) -> None:
    while True:
        loop, fut, fn, args = jobs.get()
        if fut.cancelled():
            continue
        answer: Callable[[asyncio.Future[Any], Any], None]
        try:
            answer, arg = _set_result, fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting task, as run_in_executor does
            answer, arg = _set_exception, e
        with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile: nobody waits
            loop.call_soon_threadsafe(answer, fut, arg)
        del loop, fut, fn, args, arg  # drop inputs and outputs now, not at the next job


def _start() -> queue.SimpleQueue[tuple[Any, ...]]:
    global _jobs
    with _lock:
        if _jobs is None:
            jobs: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
            for i in range(_THREADS):
                # Daemon threads: a run still going at exit does not hold the interpreter up
                # (the core lets a thread be ended inside a run).
                threading.Thread(
                    target=_work, args=(jobs,), name=f"tfbundle-async_{i}", daemon=True
                ).start()
            _jobs = jobs
        return _jobs


def _forget_after_fork() -> None:
    # The child has none of the parent's threads: start anew at its first call.
    global _jobs, _lock
    _jobs = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def submit(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """``fn(*args)`` in tfbundle's threads; the returned future (of the running loop) has its result."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    (_jobs or _start()).put((loop, fut, fn, args))
    return fut


async def within(answer: Awaitable[T], timeout: float | None, message: str) -> T:
    """``await answer``; past ``timeout`` seconds (None: no limit) it is cancelled and
    ``DeadlineExceededError(message)`` raised. A ``DeadlineExceededError`` of the answer itself
    passes through as it is."""
    try:
        if timeout is None or _timeout is None:
            return await asyncio.wait_for(answer, timeout)
        # asyncio.timeout awaits in this task; wait_for makes a task of a coroutine.
        async with _timeout(timeout):
            return await answer
    except DeadlineExceededError:
        raise
    except asyncio.TimeoutError:
        raise DeadlineExceededError(message) from None
