"""A model loaded before gunicorn forks its workers (``--preload``): a clear error, never a hang.

TensorFlow's thread pools do not survive ``fork()``. A WSGI app that loads its model at import
time and runs under ``gunicorn --preload`` has loaded it in the master, before the workers are
forked: each worker's call must fail at once with an error that says what to do, not hang until
gunicorn's worker timeout (benoitc/gunicorn#2369, SeldonIO/seldon-core#2220). The way that works,
loading in each worker after the fork (gunicorn's ``post_fork`` hook), answers as the in-process
model does. The package's demo model needs no TensorFlow Python package to make.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import tfbundle
from _util import free_port, tfbundle_env

pytest.importorskip("gunicorn")

DEMO = Path(tfbundle.__file__).resolve().parent / "data" / "demo_model"

APP = """
import json, os
import numpy as np
import tfbundle

MODEL = None
if os.environ["TFB_LOAD"] == "import":  # at import: in gunicorn's master with --preload
    MODEL = tfbundle.load(os.environ["TFB_MODEL"])


def load_in_worker():
    global MODEL
    MODEL = tfbundle.load(os.environ["TFB_MODEL"])


def app(environ, start_response):
    x = np.asarray(json.loads(environ["wsgi.input"].read()), np.float32)
    try:
        out = MODEL(x=x)
        body, status = {k: v.tolist() for k, v in out.items()}, "200 OK"
    except tfbundle.Error as e:
        body, status = {"error": type(e).__name__, "message": str(e)}, "500 Internal Server Error"
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
"""

CONFIG = """
def post_fork(server, worker):
    import app
    app.load_in_worker()
"""


def _post(port: int, rows: list[list[float]], timeout: float) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=json.dumps(rows).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _serve(tmp_path: Path, load: str, extra: list[str]) -> tuple[subprocess.Popen, int]:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "gconf.py").write_text(CONFIG)
    port = free_port()
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    env = tfbundle_env(TFB_MODEL=str(DEMO), TFB_LOAD=load)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    proc = subprocess.Popen(
        [
            gunicorn,
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "120",
            "--graceful-timeout",
            "5",
            *extra,
            "app:app",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("gunicorn did not listen within 60 s")


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def test_preloaded_model_fails_fast_in_forked_workers(tmp_path):
    proc, port = _serve(tmp_path, "import", ["--preload"])
    try:
        for _ in range(4):  # both workers, whichever gets each request
            start = time.monotonic()
            status, body = _post(port, ROWS, timeout=60)
            assert time.monotonic() - start < 10
            assert status == 500, body
            assert body["error"] == "FailedPreconditionError", body
            assert "fork" in body["message"] and "spawn" in body["message"], body["message"]
    finally:
        _stop(proc)


def test_model_loaded_after_fork_answers(tmp_path):
    expected = tfbundle.load(DEMO)(x=np.asarray(ROWS, np.float32))
    proc, port = _serve(tmp_path, "post_fork", ["--preload", "--config", "python:gconf"])
    try:
        for _ in range(4):
            status, body = _post(port, ROWS, timeout=60)
            assert status == 200, body
            for name, value in expected.items():
                np.testing.assert_array_equal(np.asarray(body[name], value.dtype), value)
    finally:
        _stop(proc)
