"""``tfbundle serve`` against the service a user writes today (FastAPI + TensorFlow's Python loader).

Usage::

    python bench/bench_serve.py [--models dense,mobilenet_v2] [--clients 1,8,64] [--seconds 10]
                                [--workers 1,2] [--memory] [--json OUT]

Both servers answer TF Serving's REST predict request (``POST /v1/models/m:predict`` with a
row-format ``{"instances": [...]}`` body of one example) on loopback, and ``wrk`` (Debian's
package; one thread, lighter than either server) drives them with N open connections, each
sending its next request when the last is answered (a closed loop of N clients), for
``--seconds`` each. Servers:

- ``tfbundle wN``: ``tfbundle serve --workers N`` (each worker loads the model itself, the
  variables memory-mapped);
- ``tfbundle wN batch``: the same with ``--enable_batching`` (max batch 64, timeout 500 us,
  one batch thread per worker);
- ``fastapi+tf wN``: ``uvicorn bench.fastapi_tf_app:app --workers N`` (``tf.saved_model.load``
  per worker, a plain ``def`` endpoint).

Reports requests/s, p50 and p99 (wrk's latency distribution) and non-2xx answers. With
``--memory``: total PSS (``/proc/PID/smaps_rollup``, server and workers) of 1 and 4 workers
serving the ``large`` model (1 GiB of variables) after every worker has answered, for both
servers, and the same for the dense model (the libraries' share), so that the weights' share
is ``large - dense``. Needs TensorFlow's Python package (the baseline and the models).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import make_models  # noqa: E402

CACHE = HERE / "_build" / "models"
DIMS = {"dense": (256,), "mobilenet_v2": (224, 224, 3), "large": (256,)}
LUA = """
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
"""
BATCHING = """max_batch_size { value: 64 }
batch_timeout_micros { value: 500 }
num_batch_threads { value: 1 }
max_enqueued_batches { value: 1000 }
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body_for(model: str) -> bytes:
    rng = np.random.default_rng(0)
    x = np.round(rng.random((1, *DIMS[model]), dtype=np.float32), 4)
    return json.dumps({"instances": x.tolist()}).encode()


def wait_ready(proc: subprocess.Popen, port: int, body: bytes, timeout: float = 180) -> None:
    """Until one predict request is answered with 200 (the server loaded its model)."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/v1/models/m:predict"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            req = urllib.request.Request(
                url, data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=30) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the server did not answer within the timeout")


def start(
    kind: str, model_dir: str, workers: int, port: int, tmp: Path, batching: bool
) -> subprocess.Popen:
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join([str(ROOT / "python"), str(ROOT)]),
    )
    if kind == "tfbundle":
        base = tmp / f"base-{Path(model_dir).name}"
        if not base.exists():
            base.mkdir()
            (base / "1").symlink_to(model_dir)
        cmd = [
            sys.executable,
            "-m",
            "tfbundle",
            "serve",
            "--model_name",
            "m",
            "--model_base_path",
            str(base),
            "--rest_api_port",
            str(port),
            "--workers",
            str(workers),
        ]
        if batching:
            params = tmp / "batching.txt"
            params.write_text(BATCHING)
            cmd += ["--enable_batching", "--batching_parameters_file", str(params)]
    else:
        env["BENCH_MODEL"] = model_dir
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.fastapi_tf_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ]
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(
    port: int, clients: int, seconds: float, body_file: Path, script: Path
) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{clients}",
            f"-d{seconds:g}s",
            "--timeout",
            "60s",  # wrk's default (2 s) counts a slow MobileNetV2 answer as lost
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/v1/models/m:predict",
        ],
        env=dict(os.environ, BENCH_BODY=str(body_file)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {
        q: _ms(v, u)
        for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    }
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "p50_ms": lat["50"],
        "p99_ms": lat["99"],
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def tree_pids(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return pids


def pss_mib(pid: int) -> tuple[float, list[float]]:
    """Total PSS (MiB) of a process and its descendants, and each one's RSS (MiB)."""
    total, rss = 0, []
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                text = f.read()
        except OSError:
            continue
        pss = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
        res = re.search(r"^Rss:\s+(\d+) kB", text, re.MULTILINE)
        if pss and res:
            total += int(pss.group(1))
            rss.append(round(int(res.group(1)) / 1024))
    return total / 1024, rss


def bench_latency(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    rows = []
    script = tmp / "post.lua"
    script.write_text(LUA)
    for model in args.models:
        model_dir = str(CACHE / model)
        body_file = tmp / f"{model}.json"
        body = body_for(model)
        body_file.write_bytes(body)
        servers = []
        for w in args.workers:
            servers += [("tfbundle", w, False), ("tfbundle", w, True), ("fastapi+tf", w, False)]
        for kind, workers, batching in servers:
            name = f"{kind} w{workers}" + (" batch" if batching else "")
            port = free_port()
            proc = start(kind, model_dir, workers, port, tmp, batching)
            try:
                wait_ready(proc, port, body)
                run_wrk(port, max(args.clients), 2, body_file, script)  # warm every worker
                for clients in args.clients:
                    r = run_wrk(port, clients, args.seconds, body_file, script)
                    r.update(model=model, server=name, clients=clients)
                    rows.append(r)
                    print(
                        f"{model:13s} {name:22s} c={clients:3d} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:8.2f} ms"
                        f"  p99 {r['p99_ms']:8.2f} ms  non2xx {r['non2xx']}",
                        flush=True,
                    )
            finally:
                stop(proc)
    return rows


def bench_memory(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    rows = []
    # A new connection per request: the workers share one listening socket, and connections kept
    # open would leave the requests with the workers that happened to accept them.
    script = tmp / "post-close.lua"
    script.write_text(LUA + 'wrk.headers["Connection"] = "close"\n')
    for model in ("dense", "large"):
        body_file = tmp / f"{model}.json"
        body = body_for(model)
        body_file.write_bytes(body)
        for kind in ("tfbundle", "fastapi+tf"):
            for workers in (1, 4):
                port = free_port()
                proc = start(kind, str(CACHE / model), workers, port, tmp, False)
                try:
                    wait_ready(proc, port, body, timeout=600)
                    # Enough concurrent requests that every worker answers (and reads every weight).
                    run_wrk(port, 4 * workers, 5 if model == "large" else 2, body_file, script)
                    mib, rss = pss_mib(proc.pid)
                finally:
                    stop(proc)
                rows.append(
                    {
                        "model": model,
                        "server": kind,
                        "workers": workers,
                        "pss_mib": mib,
                        "rss_mib": rss,
                    }
                )
                print(
                    f"memory {model:6s} {kind:11s} w{workers}: total PSS {mib:8.0f} MiB; RSS of each process "
                    f"(MiB): {rss}",
                    flush=True,
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="dense,mobilenet_v2")
    parser.add_argument("--clients", default="1,8,64")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--memory", action="store_true", help="also the PSS figures (makes the 1 GiB model)"
    )
    parser.add_argument("--no-latency", action="store_true", help="only the memory figures")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.clients = [int(c) for c in args.clients.split(",")]
    args.workers = [int(w) for w in args.workers.split(",")]
    if shutil.which("wrk") is None:
        print("bench_serve: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    try:
        import fastapi  # noqa: F401 - the service every figure compares with
    except ImportError:
        print("bench_serve: FastAPI is not installed (pip install '.[bench]')", file=sys.stderr)
        return 2
    need = set(args.models) | ({"dense", "large"} if args.memory else set())
    make_models.make(
        str(CACHE), sorted(n for n in need if not make_models.is_complete(str(CACHE / n)))
    )
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tfb-bench-serve-") as d:
        if not args.no_latency:
            report["latency"] = bench_latency(args, Path(d))
        if args.memory:
            report["memory"] = bench_memory(args, Path(d))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
