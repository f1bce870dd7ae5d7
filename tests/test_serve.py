"""`tfbundle serve`: TF Serving's REST API and KServe's v2 protocol, driven by real clients over HTTP.

One server (uvicorn in a thread, on an ephemeral port of 127.0.0.1) serves five models:
tfbundle's iris demo model, the warmup model of tests/makers/warmup.py (predict, classify,
regress, a signature of every dtype, warmup records), tests/makers/cli_models.py's
tf1_two_tags (classify, regress, int and bool inputs) and tf2_module (strings, unknown rank),
and the versions of tests/makers/versions.py for hot reload. Each answer is compared with the
in-process call of the same signature. The request bodies are those of TF Serving's REST API
guide; the KServe tests use tritonclient. Last, the command line: two worker processes on one
port, with batching and a monitoring config file, and one metrics page for both workers.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfbundle
from _util import free_port, tfbundle_env
from tfbundle import tf_example
from tfbundle._base.dtypes import DTYPE_NAMES
from tfbundle.errors import (
    DeadlineExceededError,
    InvalidArgumentError,
    ResourceExhaustedError,
    UnimplementedError,
)
from tfbundle.serving import ModelConfig, ServerConfig, create_app, tfs_json
from tfbundle.serving.errors import http_status

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

DEMO = Path(tfbundle.__file__).resolve().parent / "data" / "demo_model"
IRIS = [[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5]]
# The warmup model's "mixed" signature: d is float16 and h complex64, which JSON cannot carry.
MIXED = {
    "a": [[1.0, 2.0], [3.0, 4.0]],
    "b": 1,
    "c": ["x"],
    "d": [1.0],
    "e": [True],
    "f": [1],
    "g": [1],
    "h": [1.0],
}


def _link_version(base: Path, version: int, export: Path) -> None:
    base.mkdir(parents=True, exist_ok=True)
    (base / str(version)).symlink_to(export, target_is_directory=True)


class Running:
    """A uvicorn server in a thread, serving one app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.host_port = f"127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.url, timeout=60)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(60)


@pytest.fixture(scope="module")
def paths(
    tf_models: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serve")
    cli = tf_models("cli_models")
    out = {
        "iris": root / "iris",
        "warm": tf_models("warmup") / "model",
        "tt": root / "tt",
        "tf2": root / "tf2",
        "ver": root / "ver",
        "versions": tf_models("versions"),
    }
    _link_version(out["iris"], 1, DEMO)
    _link_version(out["tt"], 1, cli / "tf1_two_tags")
    _link_version(out["tf2"], 1, cli / "tf2_module")
    out["ver"].mkdir()
    shutil.copytree(out["versions"] / "v1", out["ver"] / "1")
    return out


@pytest.fixture(scope="module")
def srv(paths: dict[str, Path]) -> Iterator[Running]:
    models = tuple(
        ModelConfig(name, str(paths[name]), labels={"stable": 1} if name == "iris" else {})
        for name in ("iris", "warm", "tt", "tf2", "ver")
    )
    app = create_app(ServerConfig(models=models, poll_interval=0.2, max_body_bytes=64 * 1024))
    running = Running(app)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def local(paths: dict[str, Path]) -> Iterator[dict[str, tfbundle.Model]]:
    """The same models loaded in this process: the oracle of every answer."""
    loaded = {name: tfbundle.load(paths[name] / "1") for name in ("iris", "warm", "tt", "tf2")}
    yield loaded
    for m in loaded.values():
        m.close()


def post(srv: Running, path: str, body: Any) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return srv.client.post(path, content=data, headers={"Content-Type": "application/json"})


def ok_json(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return json.loads(r.text)  # the json module reads NaN and Infinity, as TF Serving writes them


def wait_until_serving(
    proc: subprocess.Popen[str], url: str, path: str = "/v2/health/ready"
) -> None:
    """Waits for a ``tfbundle serve`` subprocess to answer ``path`` with 200 (its output on failure)."""
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(url + path, timeout=30).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen[str]) -> str:
    """Stops a ``tfbundle serve`` subprocess as Ctrl-C does (killed after 60 s); its output."""
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert list(body) == ["error"], body
    return str(body["error"])


# ------------------------------------------------------------------ TF Serving REST ---


def test_status_and_metadata(srv: Running, local: dict[str, tfbundle.Model]) -> None:
    status = ok_json(srv.client.get("/v1/models/iris"))
    assert status == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert ok_json(srv.client.get("/v1/models/iris/versions/1")) == status
    assert (
        ok_json(srv.client.get("/V1/MODELS/iris/labels/stable")) == status
    )  # the server ignores case
    meta = ok_json(srv.client.get("/v1/models/tt/metadata"))
    assert meta["model_spec"] == {"name": "tt", "signature_name": "", "version": "1"}
    sigs = meta["metadata"]["signature_def"]["signature_def"]
    model = local["tt"]
    assert set(sigs) == set(model.signatures)
    for name, sig in model.signatures.items():
        assert sigs[name]["method_name"] == sig.method_name
        for key, spec in sig.inputs.items():
            info = sigs[name]["inputs"][key]
            assert info["dtype"] == spec.tf_dtype and info["name"] == spec.tensor_name
            if spec.shape is not None:
                assert [int(d["size"]) for d in info["tensor_shape"]["dim"]] == [
                    -1 if d is None else d for d in spec.shape
                ]
    assert (
        ok_json(srv.client.get("/v1/models/iris/labels/stable/metadata"))["model_spec"]["version"]
        == "1"
    )


def test_predict_row_and_columnar(srv: Running, local: dict[str, tfbundle.Model]) -> None:
    want = local["iris"](x=np.array(IRIS, np.float32))
    # TF Serving's REST guide: {"signature_name": ..., "instances": [...]}
    rows = ok_json(
        post(
            srv, "/v1/models/iris:predict", {"signature_name": "serving_default", "instances": IRIS}
        )
    )
    assert [r["class_ids"] for r in rows["predictions"]] == want["class_ids"].tolist()
    np.testing.assert_array_equal(
        np.array([r["probabilities"] for r in rows["predictions"]], np.float32),
        want["probabilities"],
    )
    cols = ok_json(post(srv, "/v1/models/iris/versions/1:predict", {"inputs": {"x": IRIS}}))[
        "outputs"
    ]
    assert cols["class_ids"] == want["class_ids"].tolist()
    np.testing.assert_array_equal(
        np.array(cols["probabilities"], np.float32), want["probabilities"]
    )
    # One output: the row values themselves, without its name.
    logits = local["iris"].signatures["logits"](x=np.array(IRIS[:1], np.float32))["logits"]
    one = ok_json(
        post(
            srv,
            "/v1/models/iris/labels/stable:predict",
            {"signature_name": "logits", "instances": IRIS[:1]},
        )
    )
    np.testing.assert_array_equal(np.array(one["predictions"], np.float32), logits)
    one = ok_json(
        post(srv, "/v1/models/iris:predict", {"signature_name": "logits", "inputs": IRIS[:1]})
    )
    np.testing.assert_array_equal(np.array(one["outputs"], np.float32), logits)


def test_predict_strings_b64_and_several_inputs(
    srv: Running, local: dict[str, tfbundle.Model]
) -> None:
    tf2 = local["tf2"]
    words = [b"ab", b"\xffz", "caf\u00e9".encode()]
    want = tf2.signatures["lengths"](text=np.array(words, object))
    body = {
        "signature_name": "lengths",
        "instances": [{"b64": base64.b64encode(w).decode()} for w in words],
    }
    got = ok_json(post(srv, "/v1/models/tf2:predict", body))["predictions"]
    assert [g["length"] for g in got] == want["length"].tolist()
    assert [g["upper"] for g in got[:1]] == ["AB"]
    plain = ok_json(
        post(
            srv,
            "/v1/models/tf2:predict",
            {"signature_name": "lengths", "instances": ["hello", "x"]},
        )
    )
    assert [p["length"] for p in plain["predictions"]] == [5, 1]
    # Several named inputs, columnar (a scalar and a vector): TF Serving's {"inputs": {...}}.
    want = tf2.signatures["multiply"](a=np.int32(3), b=np.array([1, 2, 5], np.int32))
    got = ok_json(
        post(
            srv,
            "/v1/models/tf2:predict",
            {"signature_name": "multiply", "inputs": {"a": 3, "b": [1, 2, 5]}},
        )
    )
    assert got["outputs"] == {"product": want["product"].tolist(), "total": int(want["total"])}
    ints = local["tt"].signatures["ints"](
        n=np.array([[1, 2], [3, 4]], np.int64), flag=np.bool_(True)
    )
    got = ok_json(
        post(
            srv,
            "/v1/models/tt:predict",
            {"signature_name": "ints", "inputs": {"n": [[1, 2], [3, 4]], "flag": True}},
        )
    )
    assert got["outputs"] == {"n_times_3": ints["n_times_3"].tolist(), "not_flag": False}
    # NaN and Infinity go in and come out as TF Serving writes them.
    doubled = ok_json(
        post(
            srv,
            "/v1/models/tf2:predict",
            b'{"signature_name": "unknown_rank", "inputs": {"anything": [NaN, Infinity, -1.5]}}',
        )
    )
    assert doubled["outputs"]["count"] == 7
    assert np.isnan(doubled["outputs"]["doubled"][0]) and doubled["outputs"]["doubled"][1:] == [
        float("inf"),
        -3.0,
    ]
    # A DT_DOUBLE input from a body of plain numbers (the C++ reader's float64 tensor as it is).
    values = [0.1, -1.5, 2, 1e-300]
    want = tf2.signatures["unknown_rank"](anything=np.array(values, np.float64))
    plain = ok_json(
        post(srv, "/v1/models/tf2:predict", {"signature_name": "unknown_rank", "inputs": values})
    )
    assert plain["outputs"]["doubled"] == want["doubled"].tolist()
    assert plain["outputs"]["count"] == int(want["count"])


def test_classify_and_regress(srv: Running, local: dict[str, tfbundle.Model]) -> None:
    tt = local["tt"]
    examples = [{"x": [1.0]}, {"x": [2.5]}]
    scores = tt.signatures["classify_x_to_y"](inputs=np.array(tf_example.encode(examples), object))[
        "scores"
    ]
    got = ok_json(
        post(
            srv,
            "/v1/models/tt:classify",
            {"signature_name": "classify_x_to_y", "examples": examples},
        )
    )
    assert list(got) == ["results"]  # the server's key (the guide says "result")
    assert [[label for label, _ in r] for r in got["results"]] == [[""], [""]]
    np.testing.assert_array_equal(
        np.array([[s for _, s in r] for r in got["results"]], np.float32), scores
    )
    # regress with a context: the context's features join each example (TF Serving's guide).
    body = {
        "signature_name": "regress_x_to_y",
        "context": {"unused": ["a"]},
        "examples": [{"x": 3.0}, {"x": [4.0]}],
    }
    outputs = tt.signatures["regress_x_to_y"](
        inputs=np.array(
            tf_example.encode([{"unused": [b"a"], "x": [3.0]}, {"unused": [b"a"], "x": [4.0]}]),
            object,
        )
    )["outputs"]
    got = ok_json(post(srv, "/v1/models/tt:regress", body))
    np.testing.assert_array_equal(np.array(got["results"], np.float32), outputs.ravel())
    warm = local["warm"]
    want = warm.signatures["regress_x_to_y2"](
        inputs=np.array(tf_example.encode([{"x": [2.0]}]), object)
    )["outputs"]
    got = ok_json(
        post(
            srv,
            "/v1/models/warm:regress",
            {"signature_name": "regress_x_to_y2", "examples": [{"x": [2.0]}]},
        )
    )
    np.testing.assert_array_equal(np.array(got["results"], np.float32), want.ravel())


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v1/models/iris:predict", b'{"instances": [', 400, "JSON Parse error"),
        ("/v1/models/iris:predict", b"", 400, "JSON Parse error: The document is empty"),
        ("/v1/models/iris:predict", b"[1, 2]", 400, "Is not object"),
        (
            "/v1/models/nope:predict",
            {"instances": IRIS},
            404,
            "Servable not found for request: Latest(nope)",
        ),
        (
            "/v1/models/iris/versions/9:predict",
            {"instances": IRIS},
            404,
            "Servable not found for request: Specific(iris, 9)",
        ),
        (
            "/v1/models/iris/labels/canary:predict",
            {"instances": IRIS},
            400,
            "Unrecognized servable version label: canary",
        ),
        (
            "/v1/models/iris:predict",
            {"signature_name": "nope", "instances": IRIS},
            400,
            'Serving signature name: "nope" not found',
        ),
        (
            "/v1/models/iris:predict",
            {"instances": [["a", 1, 2, 3]]},
            400,
            "is not of expected type: float",
        ),
        ("/v1/models/iris:predict", {"instances": [[1, 2, 3]]}, 400, "shape"),
        (
            "/v1/models/iris:predict",
            {"instances": [[1, 2, 3, 4], [1, 2, 3]]},
            400,
            "Expecting tensor size: 4 but got: 3",
        ),
        (
            "/v1/models/iris:predict",
            {"instances": IRIS, "inputs": IRIS},
            400,
            "expecting only one of 'inputs' or 'instances'",
        ),
        ("/v1/models/iris:predict", {"instances": []}, 400, "No values in 'instances' array"),
        (
            "/v1/models/iris:predict",
            {"signature_name": 3, "instances": IRIS},
            400,
            "'signature_name' key must be a string",
        ),
        ("/v1/models/iris:predict", {"rows": IRIS}, 400, "Missing 'inputs' or 'instances' key"),
        (  # a body of numbers the C++ reader takes, for a signature it does not fit: the full rules
            "/v1/models/tf2:predict",
            {"signature_name": "multiply", "instances": [1, 2]},
            400,
            "instances is a plain list, but expecting list of objects",
        ),
        (
            "/v1/models/tt:predict",
            {"signature_name": "ints", "inputs": {"n": [[1.5, 2], [3, 4]], "flag": True}},
            400,
            "is not of expected type: int64",
        ),
        (
            "/v1/models/tt:predict",
            {"signature_name": "ints", "inputs": {"n": [[1, 2], [3, 4]]}},
            400,
            "Missing named input: flag",
        ),
        (
            "/v1/models/warm:predict",
            {"signature_name": "mixed", "inputs": MIXED},
            501,
            "to type: half",
        ),
        (
            "/v1/models/tt:classify",
            {"signature_name": "classify_x_to_y"},
            400,
            "key 'examples' is expected",
        ),
        (
            "/v1/models/tt:classify",
            {"signature_name": "nope", "examples": [{}]},
            400,
            "No signature was found with the name: nope",
        ),
        (
            "/v1/models/tt:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": [1.0, 2]}]},
            400,
            "Unexpected element type in feature: x expecting type: float",
        ),
        (
            "/v1/models/iris:explain",
            {"instances": IRIS},
            400,
            "Malformed request: POST /v1/models/iris:explain",
        ),
        (
            "/v1/models/iris:predict",
            {"instances": [[0.0] * 4] * 3000},
            413,
            "larger than the server's limit",
        ),
    ],
)
def test_bad_requests_get_tf_serving_errors(
    srv: Running, path: str, body: Any, status: int, message: str
) -> None:
    assert message in error(post(srv, path, body), status)
    assert ok_json(post(srv, "/v1/models/iris:predict", {"instances": IRIS[:1]}))[
        "predictions"
    ]  # still serving


def test_status_errors(srv: Running) -> None:
    assert "Could not find any versions of model nope" in error(
        srv.client.get("/v1/models/nope"), 404
    )
    assert "Could not find version 5 of model iris" in error(
        srv.client.get("/v1/models/iris/versions/5"), 404
    )
    assert "Missing model name in request." in error(srv.client.get("/v1/models"), 400)
    assert "Servable not found" in error(srv.client.get("/v1/models/iris/versions/5/metadata"), 404)


def test_warmup_before_available_and_hot_reload(srv: Running, paths: dict[str, Path]) -> None:
    served = srv.app.state.server.models
    manifest = json.loads((paths["warm"].parent / "manifest.json").read_text())
    with served[
        "warm"
    ].repository.acquire() as model:  # the warmup ran before the version was served
        assert model.warmup.ran == manifest["records"] - model.warmup.skipped > 0
        assert int(model.run("calls_value:0")) >= manifest["calls_per_replay"]
    y = ok_json(post(srv, "/v1/models/ver:predict", {"instances": [0.0, 10.0]}))["predictions"]
    assert y == [1.0, 11.0]
    shutil.copytree(paths["versions"] / "v2", paths["ver"] / "2.tmp")
    os.rename(paths["ver"] / "2.tmp", paths["ver"] / "2")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = {
            s["version"]: s["state"]
            for s in ok_json(srv.client.get("/v1/models/ver"))["model_version_status"]
        }
        if states.get("2") == "AVAILABLE":
            break
        time.sleep(0.1)
    assert states == {"2": "AVAILABLE", "1": "END"}
    assert ok_json(post(srv, "/v1/models/ver:predict", {"instances": [0.0]}))["predictions"] == [
        2.0
    ]
    assert ok_json(post(srv, "/v1/models/ver/versions/2:predict", {"inputs": [1.0]}))[
        "outputs"
    ] == [3.0]
    assert "Specific(ver, 1)" in error(
        post(srv, "/v1/models/ver/versions/1:predict", {"inputs": [1.0]}), 404
    )
    assert (
        ok_json(srv.client.get("/v1/models/ver/versions/1"))["model_version_status"][0]["state"]
        == "END"
    )


def _states(srv: Running, name: str) -> dict[str, str]:
    status = ok_json(srv.client.get(f"/v1/models/{name}"))["model_version_status"]
    return {s["version"]: s["state"] for s in status}


def _wait_states(srv: Running, name: str, want: dict[str, str]) -> None:
    deadline = time.monotonic() + 60
    while (got := _states(srv, name)) != want:
        assert time.monotonic() < deadline, f"{name}: {got}, waited for {want}"
        time.sleep(0.05)


def _add_version(base: Path, version: int, source: Path) -> None:
    shutil.copytree(source, base / f"{version}.tmp")
    os.rename(base / f"{version}.tmp", base / str(version))


def test_static_policies_follow_the_folder(
    paths: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Policies "all" and "latest" N: new versions load while serving, removed ones unload
    (after the requests using them), a broken one is reported and the others keep serving."""
    versions = paths["versions"]  # version k adds k to its input
    every, two = tmp_path / "every", tmp_path / "two"
    for base, have in ((every, (1,)), (two, (1, 2))):
        base.mkdir()
        for k in have:
            _add_version(base, k, versions / f"v{k}")
    config = ServerConfig(
        models=(
            ModelConfig("every", str(every), policy="all"),
            ModelConfig("two", str(two), policy="latest", num_versions=2),
        ),
        poll_interval=0.05,
    )
    srv = Running(create_app(config))
    try:

        def y(name: str, version: int | None = None) -> Any:
            where = f"/versions/{version}" if version else ""
            return ok_json(post(srv, f"/v1/models/{name}{where}:predict", {"instances": [0.0]}))[
                "predictions"
            ]

        assert _states(srv, "every") == {"1": "AVAILABLE"}
        assert _states(srv, "two") == {"2": "AVAILABLE", "1": "AVAILABLE"}
        _add_version(every, 2, versions / "v2")
        _wait_states(srv, "every", {"2": "AVAILABLE", "1": "AVAILABLE"})
        assert (y("every"), y("every", 1), y("every", 2)) == ([2.0], [1.0], [2.0])
        shutil.rmtree(every / "1")
        _wait_states(srv, "every", {"2": "AVAILABLE", "1": "END"})
        assert "Specific(every, 1)" in error(
            post(srv, "/v1/models/every/versions/1:predict", {"instances": [0.0]}), 404
        )
        # latest 2: a third version pushes the first out.
        _add_version(two, 3, versions / "v3")
        _wait_states(srv, "two", {"3": "AVAILABLE", "2": "AVAILABLE", "1": "END"})
        assert (y("two"), y("two", 2)) == ([3.0], [2.0])
        # A version that does not load is reported; the others serve on, and it is not retried.
        (every / "5").mkdir()
        (every / "5" / "saved_model.pb").write_bytes(b"not a SavedModel")
        _wait_states(srv, "every", {"5": "END", "2": "AVAILABLE", "1": "END"})
        status = ok_json(srv.client.get("/v1/models/every/versions/5"))["model_version_status"]
        assert status[0]["status"]["error_code"] != "OK" and status[0]["status"]["error_message"]
        assert y("every") == [2.0]

        def failures() -> int:
            return sum("version 5 failed to load" in r.getMessage() for r in caplog.records)

        time.sleep(0.5)  # ten polls
        assert failures() == 1
        (every / "5" / "saved_model.pb").write_bytes(
            b"still not a SavedModel"
        )  # changed: tried again
        deadline = time.monotonic() + 60
        while failures() < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # A version removed while a request uses it is UNLOADING until that request is done.
        served = srv.app.state.server.models["every"]
        _add_version(every, 3, versions / "v3")
        _wait_states(srv, "every", {"5": "END", "3": "AVAILABLE", "2": "AVAILABLE", "1": "END"})
        with served.acquire(2) as (_, model, _batcher):
            shutil.rmtree(every / "2")
            _wait_states(srv, "every", {"5": "END", "3": "AVAILABLE", "2": "UNLOADING", "1": "END"})
            assert float(model(x=np.array([1.0], np.float32))["y"][0]) == 3.0
        _wait_states(srv, "every", {"5": "END", "3": "AVAILABLE", "2": "END", "1": "END"})
        assert y("every") == [3.0]
    finally:
        srv.stop()


def test_batching_timeout_and_graceful_shutdown(paths: dict[str, Path]) -> None:
    """Batches wait up to 1.5 s for company: a 0.5 s timeout answers 504; a stop lets requests in flight finish."""
    from concurrent.futures import ThreadPoolExecutor

    batching = {"max_batch_size": 64, "batch_timeout_micros": 1_500_000, "num_batch_threads": 1}
    models = (ModelConfig("iris", str(paths["iris"])),)
    slow = Running(create_app(ServerConfig(models=models, batching=batching, timeout=0.5)))
    try:
        assert "timeout of 0.5 s" in error(
            post(slow, "/v1/models/iris:predict", {"instances": IRIS}), 504
        )
    finally:
        slow.stop()
    running = Running(create_app(ServerConfig(models=models, batching=batching)))
    want = tfbundle.load(DEMO)(x=np.array(IRIS, np.float32))["class_ids"].tolist()
    with ThreadPoolExecutor(3) as pool:
        futures = [
            pool.submit(post, running, "/v1/models/iris:predict", {"instances": [row]})
            for row in IRIS
        ]
        time.sleep(0.5)  # the three requests wait in one batch
        running.server.should_exit = True  # what SIGTERM does
        answers = [f.result() for f in futures]
    running.thread.join(60)
    running.client.close()
    assert [ok_json(a)["predictions"][0]["class_ids"] for a in answers] == want
    assert not running.thread.is_alive()
    stats = running.app.state.server.models["iris"].batch_stats()[0]
    assert stats["batch_sizes"] == {3: 1}


# ------------------------------------------------------------------ KServe v2 ---


def test_kserve_with_tritonclient(srv: Running, local: dict[str, tfbundle.Model]) -> None:
    httpclient = pytest.importorskip("tritonclient.http")
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(srv.host_port)
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("iris") and client.is_model_ready("iris", "1")
        assert not client.is_model_ready("nope")
        meta = client.get_model_metadata("iris")
        assert meta["versions"] == ["1"] and meta["inputs"] == [
            {"name": "x", "datatype": "FP32", "shape": [-1, 4]}
        ]
        x = np.array(IRIS, np.float32)
        want = local["iris"](x=x)
        for binary in (True, False):
            inp = httpclient.InferInput("x", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=binary)
            outs = [
                httpclient.InferRequestedOutput(n, binary_data=binary)
                for n in ("probabilities", "class_ids")
            ]
            result = client.infer("iris", [inp], outputs=outs, request_id="r1")
            np.testing.assert_array_equal(result.as_numpy("probabilities"), want["probabilities"])
            np.testing.assert_array_equal(result.as_numpy("class_ids"), want["class_ids"])
            assert (
                result.get_response()["id"] == "r1"
                and result.get_response()["model_version"] == "1"
            )
        result = client.infer("iris", [inp])  # no outputs named: all of them, in binary
        np.testing.assert_array_equal(result.as_numpy("class_ids"), want["class_ids"])
        # BYTES in binary (4-byte length prefixes) and in JSON, to the strings model.
        text = np.array([b"ab", b"xyz"], dtype=object)
        lengths = local["tf2"].signatures["lengths"](text=text)
        for binary in (True, False):
            t = httpclient.InferInput("text", [2], "BYTES")
            t.set_data_from_numpy(text, binary_data=binary)
            result = client.infer("tf2", [t], parameters={"signature_name": "lengths"})
            np.testing.assert_array_equal(result.as_numpy("length"), lengths["length"])
            assert result.as_numpy("upper").tolist() == lengths["upper"].tolist()
        bad = httpclient.InferInput("x", [1, 4], "FP64")
        bad.set_data_from_numpy(np.zeros((1, 4)), binary_data=True)
        with pytest.raises(
            InferenceServerException, match="data-type is 'FP64', but model 'iris' expects 'FP32'"
        ):
            client.infer("iris", [bad])
        with pytest.raises(InferenceServerException, match="unknown model: 'nope'") as e:
            client.infer("nope", [inp])
        assert e.value.status() == "404"
        assert client.is_server_live()
    finally:
        client.close()


def test_kserve_json_with_httpx(srv: Running, local: dict[str, tfbundle.Model]) -> None:
    body = {"id": "7", "inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP32", "data": IRIS}]}
    got = ok_json(post(srv, "/v2/models/iris/versions/1/infer", body))
    want = local["iris"](x=np.array(IRIS, np.float32))
    outputs = {o["name"]: o for o in got["outputs"]}
    assert got["model_name"] == "iris" and got["id"] == "7"
    assert outputs["class_ids"] == {
        "name": "class_ids",
        "datatype": "INT64",
        "shape": [3],
        "data": want["class_ids"].tolist(),
    }
    np.testing.assert_array_equal(
        np.array(outputs["probabilities"]["data"], np.float32).reshape(3, 3), want["probabilities"]
    )
    assert ok_json(srv.client.get("/v2"))["extensions"] == ["binary_tensor_data"]
    assert ok_json(srv.client.get("/v2/health/live")) == {"live": True}
    assert "unexpected shape for input 'x'" in error(
        post(
            srv,
            "/v2/models/iris/infer",
            {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
        ),
        400,
    )
    assert "unexpected inference input 'y'" in error(
        post(
            srv,
            "/v2/models/iris/infer",
            {"inputs": [{"name": "y", "shape": [1], "datatype": "FP32", "data": [1]}]},
        ),
        400,
    )
    assert "Specific(iris, 3)" in error(post(srv, "/v2/models/iris/versions/3/infer", body), 404)
    assert "failed to parse" in error(post(srv, "/v2/models/iris/infer", b"{"), 400)


def test_metrics_page(srv: Running) -> None:
    post(srv, "/v1/models/iris:predict", {"instances": IRIS})
    post(srv, "/v1/models/nope:predict", {"instances": IRIS})
    page = srv.client.get("/monitoring/prometheus/metrics")
    assert page.status_code == 200
    text = page.text
    assert ':tensorflow:serving:request_count_total{model_name="iris",status="OK"}' in text
    assert ':tensorflow:serving:request_count_total{model_name="nope",status="NOT_FOUND"}' in text
    assert ':tensorflow:serving:request_latency_bucket{API="predict",entrypoint="REST",le=' in text
    assert (
        'tfbundle_serving_model_version_state{model_name="warm",state="AVAILABLE",version="1"} 1.0'
        in text
    )


def test_metrics_keep_a_bounded_number_of_unknown_model_names(
    srv: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tfbundle.serving import metrics

    monkeypatch.setattr(metrics, "MAX_UNKNOWN_MODELS", 3)
    for i in range(6):
        assert post(srv, f"/v1/models/made-up-{i}:predict", {"instances": IRIS}).status_code == 404
    assert post(srv, "/v1/models/iris:predict", {"instances": IRIS}).status_code == 200
    text = srv.client.get("/monitoring/prometheus/metrics").text
    named = set(re.findall(r'request_count_total\{model_name="(made-up-\d)"', text))
    # the module fixture's earlier requests may have used some of the three places ("nope")
    assert len(named) <= 3 and "made-up-5" not in named
    assert ':tensorflow:serving:request_count_total{model_name="",status="NOT_FOUND"}' in text
    assert ':tensorflow:serving:request_count_total{model_name="iris",status="OK"}' in text


def test_a_client_gone_while_its_body_is_read_is_not_answered_ok(srv: Running) -> None:
    import asyncio

    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/models/iris:predict",
        "raw_path": b"/v1/models/iris:predict",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    parts = iter(
        [
            {"type": "http.request", "body": b'{"instances": ', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> dict[str, Any]:
        return next(parts)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(srv.app(scope, receive, send), 30))
    assert all(m.get("status", 500) != 200 for m in sent)
    assert post(srv, "/v1/models/iris:predict", {"instances": IRIS}).status_code == 200


def test_unexpected_failure_is_a_500_and_the_server_goes_on(
    srv: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model routes skip Starlette's error middleware: a failure that escapes tfbundle's
    handlers still gets a JSON 500, and the next request is answered."""
    from tfbundle.serving import app as app_module

    async def broken(server: Any, request: Any) -> Any:
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(app_module, "_tfs", broken)
    r = post(srv, "/v1/models/iris:predict", {"instances": IRIS})
    assert r.status_code == 500
    assert "a bug in a handler" in r.json()["error"]
    monkeypatch.undo()
    assert post(srv, "/v1/models/iris:predict", {"instances": IRIS}).status_code == 200
    assert srv.client.get("/monitoring/prometheus/metrics").status_code == 200
    assert srv.client.get("/nowhere").status_code == 404


def test_version_state_over_workers() -> None:
    """One state per version from each live worker's (--workers N's metrics page)."""
    from tfbundle.serving.metrics import _STATE_CODES, _reduce

    live = {"1", "2"}

    def one(a: str | None, b: str | None) -> str:
        by = {pid: _STATE_CODES[s] for pid, s in (("1", a), ("2", b)) if s is not None}
        return _reduce(by, live)

    assert one("AVAILABLE", "AVAILABLE") == "AVAILABLE"
    assert one("AVAILABLE", None) == "LOADING"  # a worker has not loaded it yet
    assert one("AVAILABLE", "LOADING") == "LOADING"
    assert one("AVAILABLE", "UNLOADING") == "UNLOADING"
    assert one("END", "UNLOADING") == "UNLOADING"
    assert one("AVAILABLE", "END") == "END"
    assert one("END", "END") == "END"
    assert _reduce({"1": _STATE_CODES["AVAILABLE"], "9": _STATE_CODES["END"]}, {"1"}) == "AVAILABLE"


# ------------------------------------------------------------------ JSON codec ---


def _python_tensor_json(arr: np.ndarray) -> bytes:
    """The pure-Python writer (the rules _core.json_tensor implements in C++)."""
    return tfs_json._nest(tfs_json._tokens("y", arr, None), arr.shape).encode()


@pytest.mark.parametrize(
    "arr",
    [
        # every float32 bit pattern class: normals, subnormals, NaNs, infinities, both zeros
        np.random.default_rng(1)
        .integers(0, 2**32, 60000, dtype=np.uint64)
        .astype(np.uint32)
        .view(np.float32)
        .reshape(-1, 6),
        np.array(
            [
                0,
                -0.0,
                1,
                0.1,
                1e10,
                1e-5,
                1e-45,
                3.4028235e38,
                1.17549435e-38,
                123456,
                1234567,
                2**24 + 1,
            ],
            np.float32,
        ),
        np.random.default_rng(2).standard_normal(20000)
        * 10.0 ** np.random.default_rng(3).integers(-300, 300, 20000),
        np.array(
            [
                0.1,
                1 / 3,
                5e-324,
                1.7976931348623157e308,
                2.0**53 + 1,
                1e22,
                1e21,
                -0.0,
                np.nan,
                -np.inf,
            ]
        ),
        np.random.default_rng(4).integers(-(2**63), 2**63 - 1, (4, 3), dtype=np.int64),
        np.array([0, 2**64 - 1], np.uint64),
        np.arange(-128, 128, dtype=np.int8).reshape(2, 2, 64),
        np.arange(6, dtype=np.int16),
        np.arange(6, dtype=np.uint8),
        np.arange(6, dtype=np.int32),
        np.arange(6, dtype=np.uint32),
        np.array([[True], [False]]),
        np.zeros((2, 0, 3), np.float32),
        np.zeros((0, 4)),
        np.array(2.5, np.float32),
        np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2],  # not contiguous: copied first
        np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4) / 7),
    ],
    ids=lambda a: f"{a.dtype}{list(a.shape)}",
)
def test_native_json_writer_equals_the_python_rules(arr: np.ndarray) -> None:
    from tfbundle import _core

    want = _python_tensor_json(arr)
    assert tfs_json._tensor_json("y", arr, None) == want
    if arr.flags.c_contiguous:  # the C++ writer itself, not a fallback
        assert _core.json_tensor(arr, tfs_json._WRITTEN[arr.dtype]) == want


def test_native_json_writer_leaves_other_types_to_python() -> None:
    from tfbundle import _core

    # Types TF Serving writes no JSON for keep its error; those the C++ writer does not take
    # (foreign byte order, ml_dtypes' types) are answered None and written by Python.
    for arr in (np.zeros(2, np.float16), np.zeros(2, np.uint16)):
        with pytest.raises(
            InvalidArgumentError, match="Failed to write JSON value for tensor type"
        ):
            tfs_json.row_response({"y": arr})
    code = {name: value for value, name in DTYPE_NAMES.items()}
    assert _core.json_tensor(np.arange(3, dtype=">f4"), code["DT_FLOAT"]) is None
    assert _core.json_tensor(np.arange(3, dtype=np.complex64), code["DT_COMPLEX64"]) is None
    assert _core.json_tensor(np.zeros(2, np.float16), code["DT_HALF"]) is None
    assert _core.json_tensor(np.zeros(2, np.uint16), code["DT_UINT16"]) is None
    assert _core.json_tensor(np.arange(6).reshape(2, 3)[:, ::2], code["DT_INT64"]) is None
    # an array that does not hold the DataType's elements is never read as if it did
    assert _core.json_tensor(np.zeros(2, np.float32), code["DT_DOUBLE"]) is None
    assert _core.json_tensor(np.zeros(2, np.int8), code["DT_INT64"]) is None
    ml_dtypes = pytest.importorskip("ml_dtypes")
    assert _core.json_tensor(np.zeros(2, ml_dtypes.bfloat16), code["DT_BFLOAT16"]) is None
    # Strings go through Python, in the same nesting as numbers.
    assert (
        tfs_json.row_response({"s": np.array([[b"a"], [b"b"]], object)})
        == b'{"predictions":[["a"],["b"]]}'
    )


def _simple_bodies() -> list[bytes]:
    rng = np.random.default_rng(5)
    floats = rng.standard_normal((3, 4, 2)).astype(np.float32)
    bodies = [
        json.dumps({"instances": floats.tolist()}).encode(),
        json.dumps({"inputs": floats.tolist(), "signature_name": "serving_default"}).encode(),
        json.dumps(
            {"signature_name": "", "instances": (floats * 1e30).tolist()}, indent=2
        ).encode(),
        json.dumps({"instances": rng.integers(-(2**53), 2**53, (5, 3)).tolist()}).encode(),
        json.dumps({"instances": rng.integers(-(2**24) - 9, 2**24 + 9, (64,)).tolist()}).encode(),
        b'{"instances": [[1, 2.5, -0, -0.0, 0e0, 1E2, 1e-2, 1.5e+3, 123456789.123456789]]}',
        b'\t{ "inputs" : [ [ 5e-324 , 1.7976931348623157e308 ] ] }\r\n',
        b'{"instances": [3.4028235e38, 3.4028236e38, 1e39, 1.401298464e-45, 7e-46]}',
    ]
    # every float32 bit pattern class, written as Python's shortest repr of the float64 value
    bits = rng.integers(0, 2**32, 4000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    finite = bits[np.isfinite(bits)].astype(np.float64)
    bodies.append(
        json.dumps({"instances": finite[: len(finite) // 4 * 4].reshape(-1, 4).tolist()}).encode()
    )
    return bodies


@pytest.mark.parametrize("dtype", ["DT_FLOAT", "DT_DOUBLE"])
def test_simple_predict_bodies_read_as_the_full_rules_read_them(dtype: str) -> None:
    for body in _simple_bodies():
        simple = tfs_json.parse_simple_predict(body)
        assert simple is not None, body[:80]
        name, row, values = simple
        doc = tfs_json.parse_json(body)
        assert name == tfs_json.signature_name(doc)
        want, want_row = tfs_json.inputs_from_request(doc, {"x": dtype})
        got = tfs_json.simple_inputs(values, {"x": dtype})
        assert got is not None and row == want_row
        assert got["x"].dtype == want["x"].dtype and got["x"].shape == want["x"].shape
        # bit for bit (NaN-free; -0.0 and 0.0 told apart)
        assert got["x"].tobytes() == want["x"].tobytes(), body[:80]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[1]",
        b'{"instances": []}',
        b'{"instances": [[]]}',
        b'{"instances": [[1, 2], [3]]}',
        b'{"instances": [[1], 2]}',
        b'{"instances": [1, [2]]}',
        b'{"instances": [1], "inputs": [2]}',
        b'{"instances": [1], "instances": [2]}',
        b'{"instances": [NaN, Infinity]}',
        b'{"instances": [true]}',
        b'{"instances": [null]}',
        b'{"instances": ["a"]}',
        b'{"instances": [{"b64": "AA=="}]}',
        b'{"instances": [{"x": 1}]}',
        b'{"inputs": {"x": [1]}}',
        b'{"inputs": 1.5}',
        b'{"instances": [01]}',
        b'{"instances": [1.]}',
        b'{"instances": [.5]}',
        b'{"instances": [+1]}',
        b'{"instances": [1e400]}',
        b'{"instances": [9007199254740993]}',
        b'{"instances": [1,]}',
        b'{"instances": [1]} trailing',
        b'{"instances": [1]',
        b'{"signature_name": 3, "instances": [1]}',
        b'{"signature_name": "s\\u0041", "instances": [1]}',
        b'{"signature_name": "caf\xc3\xa9", "instances": [1]}',
        b'{"other": 1, "instances": [1]}',
        b'{"signature_name": "x"}',
        b"{" + b'"instances": ' + b"[" * 40 + b"1" + b"]" * 40 + b"}",
    ],
)
def test_other_predict_bodies_are_left_to_the_full_rules(body: bytes) -> None:
    assert tfs_json.parse_simple_predict(body) is None


def test_simple_bodies_fit_only_single_float_inputs() -> None:
    values = np.arange(4.0)
    assert tfs_json.simple_inputs(values, {"x": "DT_INT64"}) is None
    assert tfs_json.simple_inputs(values, {"x": "DT_FLOAT", "y": "DT_FLOAT"}) is None
    assert tfs_json.simple_inputs(values, {"x": "DT_HALF"}) is None
    got = tfs_json.simple_inputs(values, {"x": "DT_FLOAT"})
    assert got is not None and got["x"].dtype == np.float32


def test_json_codec_follows_tf_serving() -> None:
    # Floats: six digits when they read back the same, else full precision; ".0" on whole numbers.
    out = tfs_json.columnar_response(
        {"y": np.array([0.1, 1.0, 9000000.0, 1 / 3, np.nan, -np.inf], np.float32)}
    )
    assert out == b'{"outputs":[0.1,1.0,9e+06,0.333333343,NaN,-Infinity]}'
    # Several outputs in rows: an object per row; DT_STRING outputs named *_bytes are written as b64.
    rows = tfs_json.row_response(
        {
            "a_bytes": np.array([b"\x00\x01", b"hi"], object),
            "n": np.array([[1, 2], [3, 4]], np.int64),
        }
    )
    assert json.loads(rows) == {
        "predictions": [
            {"a_bytes": {"b64": "AAE="}, "n": [1, 2]},
            {"a_bytes": {"b64": "aGk="}, "n": [3, 4]},
        ]
    }
    # Row format with several inputs: objects with exactly the inputs' names.
    inputs, row = tfs_json.inputs_from_request(
        {
            "instances": [
                {"tag": "foo", "signal": [1, 2], "sensor": [[1, 2], [3, 4]]},
                {"tag": {"b64": "YmFy"}, "signal": [3, 4], "sensor": [[4, 5], [6, 7]]},
            ]
        },
        {"tag": "DT_STRING", "signal": "DT_INT32", "sensor": "DT_FLOAT"},
    )
    assert row and inputs["tag"].tolist() == [b"foo", b"bar"] and inputs["signal"].dtype == np.int32
    assert inputs["sensor"].shape == (2, 2, 2) and inputs["sensor"].dtype == np.float32
    with pytest.raises(
        tfbundle.InvalidArgumentError, match="keys must be equal to: sensor,signal,tag"
    ):
        tfs_json.inputs_from_request(
            {"instances": [{"tag": "x", "signal": [1]}]},
            {"tag": "DT_STRING", "signal": "DT_INT32", "sensor": "DT_FLOAT"},
        )
    with pytest.raises(
        tfbundle.InvalidArgumentError,
        match="Encountered list at unexpected size: 1 at level: 1 expected size: 2",
    ):
        tfs_json.inputs_from_request({"inputs": [[1, 2], [3]]}, {"x": "DT_FLOAT"})
    with pytest.raises(tfbundle.InvalidArgumentError, match="is not of expected type: bool"):
        tfs_json.inputs_from_request({"inputs": [1, 0]}, {"x": "DT_BOOL"})
    with pytest.raises(tfbundle.InvalidArgumentError, match="is not of expected type: int32"):
        tfs_json.inputs_from_request({"inputs": [2**31]}, {"x": "DT_INT32"})
    with pytest.raises(tfbundle.InvalidArgumentError, match="does not have named input: y"):
        tfs_json.inputs_from_request({"instances": [{"x": 1, "y": 2}]}, {"x": "DT_FLOAT"})
    with pytest.raises(tfbundle.InvalidArgumentError, match="Unable to base64 decode"):
        tfs_json.inputs_from_request({"inputs": {"b64": "a"}}, {"x": "DT_STRING"})
    with pytest.raises(UnimplementedError, match="Conversion of JSON Value: 1 to type: half"):
        tfs_json.inputs_from_request({"inputs": [1]}, {"x": "DT_HALF"})
    with pytest.raises(tfbundle.InvalidArgumentError, match="Only int64_t is supported"):
        tfs_json.examples_from_request({"examples": [{"f": 2**64 - 1}]})
    errors = (ResourceExhaustedError, UnimplementedError, DeadlineExceededError)
    assert [http_status(e("x")) for e in errors] == [429, 501, 504]
    assert http_status(tfbundle.ClosedError("closed")) == 503 and http_status(ValueError()) == 500
    classify = tfs_json.classify_response(
        np.array([[b"a", b"b"]], object), np.array([[0.25, 0.75]], np.float32), 1
    )
    assert json.loads(classify) == {"results": [[["a", 0.25], ["b", 0.75]]]}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("+/8=", b"\xfb\xff"),  # the standard alphabet
        ("-_8=", b"\xfb\xff"),  # the web-safe one
        ("-_8", b"\xfb\xff"),  # unpadded
        ("aGk", b"hi"),
        ("", b""),
        ("!!!", None),  # junk is refused, not dropped (it once decoded to b"")
        ("ab$d", None),
        ("+_8=", None),  # the two alphabets mixed
        ("a", None),
    ],
)
def test_json_b64_is_validated(srv: Running, text: str, want: bytes | None) -> None:
    spec = {"text": "DT_STRING"}
    if want is not None:
        got = tfs_json.inputs_from_request({"inputs": {"text": [{"b64": text}]}}, spec)[0]
        assert got["text"].tolist() == [want]
        return
    with pytest.raises(tfbundle.InvalidArgumentError, match="Unable to base64 decode") as e:
        tfs_json.inputs_from_request({"inputs": {"text": [{"b64": text}]}}, spec)
    assert http_status(e.value) == 400
    body = {"signature_name": "lengths", "instances": [{"b64": text}]}
    assert "Unable to base64 decode" in error(post(srv, "/v1/models/tf2:predict", body), 400)


# ------------------------------------------------------------------ the command line ---


def test_command_line_workers_batching_and_config_files(
    paths: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "batching.config").write_text(
        "max_batch_size { value: 16 }\nbatch_timeout_micros { value: 2000 }\n"
        "max_enqueued_batches { value: 100 }\nnum_batch_threads { value: 2 }\n"
    )
    (tmp_path / "monitoring.config").write_text(
        'prometheus_config { enable: true path: "/metrics" }\n'
    )
    iris = f'config {{ name: "iris" base_path: "{paths["iris"]}" model_platform: "tensorflow" }}'
    tt = (
        f'config {{ name: "tt" base_path: "{paths["tt"]}" model_version_policy {{ specific {{ versions: 1 }} }}'
        ' version_labels { key: "stable" value: 1 } }'
    )
    (tmp_path / "models.config").write_text(f"model_config_list {{\n  {iris}\n  {tt}\n}}\n")
    port = free_port()
    env = tfbundle_env()
    cmd = [
        sys.executable, "-m", "tfbundle", "serve", "--model_config_file", str(tmp_path / "models.config"),
        "--rest_api_port", str(port), "--host", "127.0.0.1", "--workers", "2", "--enable_batching",
        "--batching_parameters_file", str(tmp_path / "batching.config"),
        "--monitoring_config_file", str(tmp_path / "monitoring.config"), "--log_level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(proc, url)
        with httpx.Client(base_url=url, timeout=30) as client:
            want = tfbundle.load(DEMO)(x=np.array(IRIS, np.float32))

            def one(i: int) -> list[int]:
                r = client.post("/v1/models/iris:predict", json={"instances": [IRIS[i % 3]]})
                assert r.status_code == 200, r.text
                return [p["class_ids"] for p in r.json()["predictions"]]

            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(8) as pool:
                got = list(pool.map(one, range(48)))
            assert got == [[int(want["class_ids"][i % 3])] for i in range(48)]
            assert (
                client.get("/v1/models/tt").json()["model_version_status"][0]["state"]
                == "AVAILABLE"
            )
            body = {"signature_name": "regress_x_to_y", "examples": [{"x": [2.0]}]}
            answer = client.post("/v1/models/tt/labels/stable:regress", json=body)
            assert answer.json() == {"results": [3.0]}
            metrics = client.get("/metrics")
            assert metrics.status_code == 200 and "processed_batch_size" in metrics.text
            assert client.get("/monitoring/prometheus/metrics").status_code == 404
    finally:
        out = stop_server(proc)
    assert proc.returncode == 0, out


def test_command_line_workers_share_one_metrics_page(
    paths: dict[str, Path], tmp_path: Path
) -> None:
    """With ``--workers 2`` every scrape shows the requests of both workers, whichever answers it,
    and the folder the workers share their metrics in is removed when the server exits."""
    from concurrent.futures import ThreadPoolExecutor

    temp = tmp_path / "tmp"  # the server's temporary folder: its metrics folder is made there
    temp.mkdir()
    env = tfbundle_env(TMPDIR=str(temp))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("TFBUNDLE_SERVE_METRICS_DIR", None)
    port = free_port()
    cmd = [
        sys.executable, "-m", "tfbundle", "serve", "--model_name", "iris", "--model_base_path", str(paths["iris"]),
        "--rest_api_port", str(port), "--host", "127.0.0.1", "--workers", "2", "--log_level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, url)
        folders = list(temp.glob("tfbundle-metrics-*"))
        assert len(folders) == 1 and folders[0].is_dir(), folders
        assert folders[0].stat().st_mode & 0o077 == 0  # private

        def one(i: int) -> None:  # a connection of its own, so that either worker may take it
            r = httpx.post(f"{url}/v1/models/iris:predict", json={"instances": [IRIS[i % 3]]})
            assert r.status_code == 200, r.text

        # Requests until both workers have answered some (each writes its counters to a file
        # counter_<pid>.db there once it has counted a request).
        sent = 0
        with ThreadPoolExecutor(4) as pool:
            while sent < 40 or len(list(folders[0].glob("counter_*.db"))) < 2:
                assert sent < 400, "one worker took every request"
                list(pool.map(one, range(20)))
                sent += 20
        for _ in range(5):  # each scrape on a new connection: either worker may answer it
            page = httpx.get(f"{url}/monitoring/prometheus/metrics")
            assert page.status_code == 200
            lines = page.text.splitlines()
            count = ':tensorflow:serving:request_count_total{model_name="iris",status="OK"}'
            assert f"{count} {float(sent)}" in lines, [x for x in lines if "request_count" in x]
            latency = ':tensorflow:serving:request_latency_count{API="predict",entrypoint="REST",model_name="iris"}'
            assert f"{latency} {float(sent)}" in lines, [x for x in lines if "latency_count" in x]
            assert "tfbundle_serving_requests_in_flight 0.0" in lines
            state = 'tfbundle_serving_model_version_state{model_name="iris",state="AVAILABLE",version="1"}'
            assert f"{state} 1.0" in lines, [x for x in lines if "version_state" in x]
            assert not [x for x in lines if "pid=" in x or "worker_model_version_state" in x]
    finally:
        out = stop_server(proc)
    assert proc.returncode == 0, out
    assert not list(temp.glob("tfbundle-metrics-*"))


def test_command_line_full_batch_queue_answers_429(paths: dict[str, Path], tmp_path: Path) -> None:
    """A request the batch queue has no room for gets 429 and TF Serving's error JSON at once.

    The queue is filled deterministically: one batch may wait (max_enqueued_batches 1) and it
    holds 2 rows, so a 1-row request waits (for 20 s, or for a second row); while it waits,
    every 2-row request needs a batch of its own and is refused.
    """
    from concurrent.futures import ThreadPoolExecutor

    (tmp_path / "batching.config").write_text(
        "max_batch_size { value: 2 }\nbatch_timeout_micros { value: 20000000 }\n"
        "max_enqueued_batches { value: 1 }\nnum_batch_threads { value: 1 }\n"
    )
    port = free_port()
    cmd = [
        sys.executable, "-m", "tfbundle", "serve", "--model_name", "iris", "--model_base_path", str(paths["iris"]),
        "--rest_api_port", str(port), "--host", "127.0.0.1", "--enable_batching",
        "--batching_parameters_file", str(tmp_path / "batching.config"), "--log_level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=tfbundle_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    want = tfbundle.load(DEMO)(x=np.array(IRIS, np.float32))["class_ids"].tolist()
    try:
        wait_until_serving(proc, f"http://127.0.0.1:{port}", "/v1/models/iris")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:

            def predict(rows: list[list[float]]) -> httpx.Response:
                return client.post("/v1/models/iris:predict", json={"instances": rows})

            def classes(r: httpx.Response) -> list[int]:
                return [p["class_ids"] for p in ok_json(r)["predictions"]]

            def queued_batches() -> float:
                page = client.get("/monitoring/prometheus/metrics").text
                gauge = 'tfbundle_serving_batch_queue{model_name="iris",unit="batches"} '
                for line in page.splitlines():
                    if line.startswith(gauge):
                        return float(line[len(gauge) :])
                raise AssertionError(page)

            with ThreadPoolExecutor(9) as pool:
                held = pool.submit(predict, IRIS[:1])  # waits in the one batch the queue holds
                while queued_batches() < 1:
                    assert not held.done(), held.result().text
                    time.sleep(0.05)
                refused = list(pool.map(predict, [IRIS[1:]] * 8))
                assert not held.done()
                for r in refused:
                    assert "the Batcher's queue is full" in error(r, 429)
                joined = predict(IRIS[2:])  # the second row: the waiting batch is full and runs
                assert classes(held.result()) == want[:1] and classes(joined) == want[2:]
            assert classes(predict(IRIS[1:])) == want[1:]  # still serving
            assert classes(predict(IRIS[:1] * 2)) == want[:1] * 2
            assert queued_batches() == 0
    finally:
        out = stop_server(proc)
    assert proc.returncode == 0, out


def test_command_line_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tfbundle.cli import main

    assert main(["serve", "--rest_api_port", "1"]) == 2
    assert "--model_base_path" in capsys.readouterr().err
    assert main(["serve", "--model_base_path", str(tmp_path / "none")]) == 2
    assert "is not a folder of numbered versions" in capsys.readouterr().err
    (tmp_path / "bad.config").write_text("model_config_list { config { nme: 'x' } }")
    assert main(["serve", "--model_config_file", str(tmp_path / "bad.config")]) == 2
    assert "not a valid text-format ModelServerConfig" in capsys.readouterr().err
