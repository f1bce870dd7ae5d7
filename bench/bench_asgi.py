"""The server's own cost per request: tfbundle's ASGI app driven in process.

Usage::

    python bench/bench_asgi.py [--requests N] [--concurrency C] [--repeats R] [--batching] [--profile]

``create_app`` serves the bench's ``dense`` model (made by ``bench/make_models.py`` when missing,
which needs TensorFlow); C tasks on one event loop (uvloop when installed, as uvicorn runs it) send
TF Serving's predict request of one example (the body ``bench_serve.py`` sends) straight to the
app, N in all, with no socket and no HTTP parsing. Prints, for each of R rounds, requests/s and the
event-loop thread's CPU time per request (``time.thread_time``): what the app costs the thread
that, in ``tfbundle serve``, also runs uvicorn and is the bound of a worker's requests/s.
``--profile`` adds a cProfile of the last round (the loop thread only; the model runs in other
threads).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_models  # noqa: E402
from tfbundle.serving import ModelConfig, ServerConfig, create_app  # noqa: E402

PATH = "/v1/models/m:predict"


def request_body() -> bytes:
    x = np.round(np.random.default_rng(0).random((1, 256), dtype=np.float32), 4)
    return json.dumps({"instances": x.tolist()}).encode()


async def drive(app: Any, body: bytes, requests: int, concurrency: int, rounds: int, profile: bool) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def one() -> None:
        status: list[int] = []

        async def send(msg: dict[str, Any]) -> None:
            if msg["type"] == "http.response.start":
                status.append(msg["status"])

        await app(dict(scope), receive, send)
        if status != [200]:
            raise RuntimeError(f"the app answered {status}")

    for _ in range(200):  # warm up: the first calls build the executor
        await one()
    async def client(left: list[int]) -> None:
        while left[0] > 0:
            left[0] -= 1
            await one()

    for r in range(rounds):
        left = [requests]

        profiler = None
        if profile and r == rounds - 1:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t0, c0 = time.perf_counter(), time.thread_time()
        await asyncio.gather(*(client(left) for _ in range(concurrency)))
        wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        rate, per = requests / wall, 1e6 * cpu / requests
        print(f"round {r + 1}: {rate:,.0f} requests/s, event-loop CPU {per:.1f} us per request")


async def main_async(args: argparse.Namespace, base: Path) -> None:
    batching = {"max_batch_size": 64, "batch_timeout_micros": 0} if args.batching else None
    app = create_app(ServerConfig(models=(ModelConfig("m", str(base)),), batching=batching, poll_interval=0))
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def lifespan_receive() -> dict[str, Any]:
        return await events.get()

    async def lifespan_send(msg: dict[str, Any]) -> None:
        if msg["type"] == "lifespan.startup.complete":
            started.set()
        elif msg["type"] == "lifespan.startup.failed":
            raise RuntimeError(msg.get("message", "the app did not start"))

    await events.put({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan = asyncio.ensure_future(app(scope, lifespan_receive, lifespan_send))
    await started.wait()
    try:
        await drive(app, request_body(), args.requests, args.concurrency, args.repeats, args.profile)
    finally:
        await events.put({"type": "lifespan.shutdown"})
        await lifespan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batching", action="store_true", help="serve with a Batcher (max batch 64, timeout 0)")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)
    cache = HERE / "_build" / "models"
    model = make_models.model_dir(str(cache), "dense")
    if not make_models.is_complete(model):
        print("making the dense model with TensorFlow ...", file=sys.stderr)
        make_models.make(str(cache), ["dense"])
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "m"
        base.mkdir()
        (base / "1").symlink_to(Path(model).resolve())
        runner: Any = asyncio.run
        try:
            import uvloop

            runner = getattr(uvloop, "run", asyncio.run)
        except ImportError:
            pass
        runner(main_async(args, base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
