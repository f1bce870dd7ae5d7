"""The ASGI app: TF Serving's REST API, KServe's v2 REST protocol and a Prometheus page (Starlette).

    >>> from tfbundle.serving import ServerConfig, ModelConfig, create_app
    >>> app = create_app(ServerConfig(models=(ModelConfig("m", "models/m"),)))
    >>> # uvicorn.run(app, port=8501)

Routes:

- TF Serving: ``GET /v1/models/{name}[/versions/{v}|/labels/{l}]`` (status),
  ``GET .../metadata``, ``POST ...:predict|:classify|:regress``; errors are ``{"error": "..."}``
  with TF Serving's status codes (400, 404, 429, 501, 503, 504...).
- KServe v2: ``GET /v2``, ``GET /v2/health/live|ready``, ``GET /v2/models/{name}[/versions/{v}]``
  (metadata), ``GET .../ready``, ``POST .../infer``.
- ``GET /monitoring/prometheus/metrics`` (or the configured path).

The models load when the app starts (its lifespan), each version's warmup records replayed
before it serves; the app answers once they are loaded. At shutdown the batchers run what they
hold, then the models close once their calls return.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote

import numpy as np

from .._core import __version__
from .._runtime.offloop import within
from ..errors import (
    Error,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from . import kserve, tfs_json
from .config import ServerConfig
from .errors import http_status, status_name
from .models import ServedModel

__all__ = ["create_app", "app_from_environment", "CONFIG_ENV"]

logger = logging.getLogger("tfbundle.serving")

#: The environment variable that hands the config (JSON) to worker processes (``--workers``).
CONFIG_ENV = "TFBUNDLE_SERVE_CONFIG"

# TF Serving's URL patterns (http_rest_api_util.cc), case-insensitive.
_PREDICT = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)"
)
_STATUS = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?"
)
_V2_MODEL = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?(?:/(ready|infer))?")

# Bodies larger than this are decoded and encoded in a worker thread, off the event loop.
_OFF_LOOP_BYTES = 64 * 1024

_JSON = "application/json"


class _TooLargeError(Error):
    code = 8


def _error_response(error: BaseException, headers: dict[str, str] | None = None) -> Any:
    from starlette.responses import Response

    status = 413 if isinstance(error, _TooLargeError) else http_status(error)
    message = str(error) if isinstance(error, Error) else f"{type(error).__name__}: {error}"
    return Response(
        tfs_json.error_body(message), status_code=status, media_type=_JSON, headers=headers
    )


class _Server:
    """The app's state: its models, metrics and settings."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.models: dict[str, ServedModel] = {
            m.name: ServedModel(m, config) for m in config.models
        }
        self.ready = False
        self.metrics: Any = None
        if config.metrics_path is not None:
            from .metrics import Metrics

            self.metrics = Metrics(self.models)

    def load(self) -> None:
        for served in self.models.values():
            served.load()
        self.ready = True

    def close(self) -> None:
        self.ready = False
        for served in self.models.values():
            try:
                served.close()
            except Exception:
                logger.exception("closing model %s failed", served.name)

    def model(self, name: str, *, protocol: str = "tfs") -> ServedModel:
        served = self.models.get(name)
        if served is None or not served.loaded:
            if protocol == "v2":
                raise NotFoundError(f"Request for unknown model: '{name}' is not found")
            raise NotFoundError(f"Servable not found for request: Latest({name})")
        return served

    # ------------------------------------------------------------------ helpers ---

    async def body(self, request: Any) -> bytes:
        limit = self.config.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise _TooLargeError(
                f"the request body of {length} bytes is larger than the server's limit of {limit} bytes"
            )
        # The ASGI messages read as they come (Request.stream's async generator costs more than
        # the small body it usually carries).
        chunks = []
        size = 0
        receive = request.receive
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect: nobody waits for an answer
                from starlette.requests import ClientDisconnect

                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLargeError(
                    f"the request body is larger than the server's limit of {limit} bytes"
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def off_loop(self, size: int, fn: Any, *args: Any) -> Any:
        if size < _OFF_LOOP_BYTES:
            return fn(*args)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(fn, *args)

    async def run(
        self, signature: Any, inputs: dict[str, np.ndarray], batcher: Any
    ) -> dict[str, np.ndarray]:
        timeout = self.config.timeout
        if batcher is not None and _facts(signature).batchable:
            return await batcher.acall(inputs, signature=signature.name, timeout=timeout)
        return await within(
            signature.acall(**inputs),
            timeout,
            f"the request took more than the server's timeout of {timeout} s",
        )

    def begin(self) -> float:
        if self.metrics is not None:
            self.metrics.in_flight.inc()
        return time.perf_counter()

    def record(
        self, model: str, api: str, entrypoint: str, error: BaseException | None, start: float
    ) -> None:
        if self.metrics is not None:
            self.metrics.in_flight.dec()
            self.metrics.observe(
                model, api, entrypoint, status_name(error), time.perf_counter() - start
            )


class _SignatureFacts:
    """What the request path reads from a signature, worked out once per signature."""

    __slots__ = ("batchable", "input_dtypes", "output_dtypes")

    def __init__(self, signature: Any) -> None:
        from .._runtime.batching import _unbatchable

        # whether the Batcher takes it (its own test: every input and output batched on dim 0)
        self.batchable = _unbatchable(signature) is None
        self.input_dtypes = {k: s.tf_dtype for k, s in signature.inputs.items()}
        self.output_dtypes = {k: s.tf_dtype for k, s in signature.outputs.items()}


# Signature -> its facts; weak, so that replaced versions are not kept alive.
_FACTS: weakref.WeakKeyDictionary[Any, _SignatureFacts] = weakref.WeakKeyDictionary()


def _facts(signature: Any) -> _SignatureFacts:
    known = _FACTS.get(signature)
    if known is None:
        known = _FACTS[signature] = _SignatureFacts(signature)
    return known


def _signature(model: Any, name: str, what: str) -> Any:
    key = name or "serving_default"
    if key not in model.signatures or key == "__saved_model_init_op":
        if what == "predict":
            raise InvalidArgumentError(
                f'Serving signature name: "{key}" not found in signature def'
            )
        raise InvalidArgumentError(f"No signature was found with the name: {key}")
    return model.signatures[key]


def _signature_text(sig: Any) -> str:
    ins = ", ".join(f"{k}: {s.tf_dtype}" for k, s in sig.inputs.items())
    outs = ", ".join(f"{k}: {s.tf_dtype}" for k, s in sig.outputs.items())
    return f"method_name: {sig.method_name!r} inputs: [{ins}] outputs: [{outs}]"


def _check_examples_signature(sig: Any, method: str) -> list[str]:
    """The outputs a classify or regress signature is read from (TF Serving's checks)."""
    if len(sig.inputs) != 1:
        raise InvalidArgumentError("Expected one input Tensor.")
    if method == "classify":
        if len(sig.outputs) not in (1, 2):
            raise InvalidArgumentError(
                f"Expected one or two output Tensors, found {len(sig.outputs)}"
            )
        if "inputs" not in sig.inputs:
            raise InvalidArgumentError(
                f"No classification inputs found in SignatureDef: {_signature_text(sig)}"
            )
        wanted = [k for k in ("classes", "scores") if k in sig.outputs]
        if not wanted:
            raise InvalidArgumentError(
                'Expected classification signature outputs to contain at least one of "classes" or "scores". '
                f"Signature was: {_signature_text(sig)}"
            )
        return wanted
    if len(sig.outputs) != 1:
        raise InvalidArgumentError("Expected one output Tensor.")
    if "inputs" not in sig.inputs:
        raise InvalidArgumentError(
            f"No regression inputs found in SignatureDef: {_signature_text(sig)}"
        )
    if "outputs" not in sig.outputs:
        raise InvalidArgumentError(
            f"No regression outputs found in SignatureDef: {_signature_text(sig)}"
        )
    return ["outputs"]


# ------------------------------------------------------------------ TF Serving ---


def _tfs_version(text: str | None) -> int | None:
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value > 2**63 - 1:
        raise InvalidArgumentError(f"Failed to convert version: {text} to numeric.")
    return value


async def _tfs(server: _Server, request: Any) -> Any:
    from starlette.responses import Response

    start = server.begin()
    method = request.method
    raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    path = raw.decode("latin-1").split("?", 1)[0]
    headers = _cors_headers() if server.config.cors else None
    model_name, api = "", ""
    error: BaseException | None = None
    try:
        if method == "OPTIONS":
            if not re.search(r"https?://", request.headers.get("origin", "")):
                raise FailedPreconditionError("Origin header is missing in CORS preflight")
            return Response(b"", media_type=_JSON, headers=headers)
        match = None
        if method == "POST":
            match = _PREDICT.fullmatch(path)
        elif method == "GET":
            match = _STATUS.fullmatch(path)
        if match is None:
            raise InvalidArgumentError(f"Malformed request: {method} {request.scope['path']}")
        name, version_text, label, sub = match.groups()
        model_name = unquote(name or "")
        version = _tfs_version(version_text)
        if label is not None:
            label = unquote(label)
        if version is not None and label is not None:  # pragma: no cover - the pattern allows one
            raise InvalidArgumentError(
                "Both model version and model version label cannot be supplied."
            )
        if method == "POST":
            api = sub.lower()
            body = await server.body(request)
            out = await _tfs_post(server, api, model_name, version, label, body)
        elif sub is not None:
            api = "metadata"
            out = _tfs_metadata(server, model_name, version, label)
        else:
            api = "status"
            out = _tfs_status(server, model_name, version)
        return Response(out, media_type=_JSON, headers=headers)
    except Error as e:
        error = e
        return _error_response(e, headers)
    except Exception as e:  # every failure is answered, and the server keeps serving
        logger.exception("request %s %s failed", method, path)
        error = e
        return _error_response(e, headers)
    finally:
        server.record(model_name, api or "unknown", "REST", error, start)


def _cors_headers() -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "POST, GET",
        "Access-Control-Allow-Headers": "Content-Type",
    }


def _resolve(
    server: _Server, name: str, version: int | None, label: str | None
) -> tuple[ServedModel, int | None]:
    if not name:
        raise InvalidArgumentError("ModelSpec has no name specified.")
    served = server.model(name)
    if label is not None:
        version = served.version_for_label(label)
    return served, version


async def _tfs_post(
    server: _Server, api: str, name: str, version: int | None, label: str | None, body: bytes
) -> bytes:
    # The common predict body (nested lists of numbers) is read in C++; any other body, and any
    # signature it does not fit, by the full rules, which also word the errors.
    simple = None
    if api == "predict":
        simple = await server.off_loop(len(body), tfs_json.parse_simple_predict, body)
    doc: dict[str, Any] | None = None
    if simple is not None:
        signature_name, row, values = simple
    else:
        doc = await server.off_loop(len(body), tfs_json.parse_json, body)
        signature_name = tfs_json.signature_name(doc)
    examples = None if doc is None or api == "predict" else tfs_json.examples_from_request(doc)
    served, version = _resolve(server, name, version, label)
    with served.acquire(version) as (_, model, batcher):
        sig = _signature(model, signature_name, api)
        if examples is None:
            facts = _facts(sig)
            dtypes = facts.input_dtypes
            if not dtypes:
                raise InvalidArgumentError(
                    f"Failed to get input map for signature: {signature_name or 'DEFAULT'}"
                )
            inputs = None if simple is None else tfs_json.simple_inputs(values, dtypes)
            if inputs is None:
                if doc is None:
                    doc = await server.off_loop(len(body), tfs_json.parse_json, body)
                inputs, row = await server.off_loop(
                    len(body), tfs_json.inputs_from_request, doc, dtypes
                )
            outputs = await server.run(sig, inputs, batcher)
            size = sum(a.nbytes for a in outputs.values())
            return await server.off_loop(
                size, tfs_json.predict_response, outputs, row, facts.output_dtypes
            )
        wanted = _check_examples_signature(sig, api)
        outputs = await server.run(sig, {"inputs": examples}, batcher)
        n = len(examples)
        if api == "classify":
            return tfs_json.classify_response(
                _as_array(outputs.get("classes")) if "classes" in wanted else None,
                _as_array(outputs.get("scores")) if "scores" in wanted else None,
                n,
            )
        return tfs_json.regress_response(np.asarray(outputs["outputs"]), n)


def _as_array(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value)


def _tfs_status(server: _Server, name: str, version: int | None) -> bytes:
    import orjson

    if not name:
        raise InvalidArgumentError("Missing model name in request.")
    served = server.models.get(name)
    if served is None:
        raise NotFoundError(f"Could not find any versions of model {name}")
    return orjson.dumps({"model_version_status": served.status(version)})


def _tfs_metadata(server: _Server, name: str, version: int | None, label: str | None) -> bytes:
    import orjson

    if not name:
        raise InvalidArgumentError("Missing model name in request.")
    served, version = _resolve(server, name, version, label)
    with served.acquire(version) as (served_version, model, _):
        metadata = served.metadata(model)
    return orjson.dumps(
        {
            "model_spec": {"name": name, "signature_name": "", "version": str(served_version)},
            "metadata": {"signature_def": metadata},
        }
    )


# ------------------------------------------------------------------ KServe v2 ---


def _v2_version(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidArgumentError(f"the model version must be a number, got '{text}'") from None


def _v2_signature(model: Any, params: Any) -> Any:
    name = params.get("signature_name") if isinstance(params, dict) else None
    if name is not None:
        if (
            not isinstance(name, str)
            or name not in model.signatures
            or name == "__saved_model_init_op"
        ):
            raise InvalidArgumentError(f"the model has no signature '{name}'")
        return model.signatures[name]
    try:
        return model.default_signature
    except NotFoundError as e:
        raise InvalidArgumentError(str(e)) from None


async def _v2(server: _Server, request: Any) -> Any:
    import orjson
    from starlette.responses import Response

    start = server.begin()
    path = request.scope["path"]
    method = request.method
    model_name, api = "", ""
    error: BaseException | None = None
    try:
        if path in ("/v2", "/v2/"):
            api = "server_metadata"
            body: dict[str, Any] = {
                "name": "tfbundle",
                "version": __version__,
                "extensions": ["binary_tensor_data"],
            }
            return Response(orjson.dumps(body), media_type=_JSON)
        if path == "/v2/health/live":
            api = "live"
            return Response(orjson.dumps({"live": True}), media_type=_JSON)
        if path == "/v2/health/ready":
            api = "ready"
            if not server.ready:
                raise UnavailableError("the server is not ready")
            return Response(orjson.dumps({"ready": True}), media_type=_JSON)
        match = _V2_MODEL.fullmatch(path)
        if match is None:
            raise NotFoundError(f"no such route: {method} {path}")
        model_name = unquote(match.group(1))
        version = _v2_version(match.group(2))
        action = match.group(3)
        served = server.model(model_name, protocol="v2")
        if action == "ready":
            api = "model_ready"
            with served.acquire(version):
                ready = {"name": model_name, "ready": True}
            return Response(orjson.dumps(ready), media_type=_JSON)
        if action is None:
            api = "model_metadata"
            if method != "GET":
                raise InvalidArgumentError(f"{method} is not allowed on {path}")
            with served.acquire(version) as (_, model, _):
                sig = model.default_signature
                body = {
                    "name": model_name,
                    "versions": [str(x) for x in served.available()],
                    "platform": "tensorflow_savedmodel",
                    "inputs": [kserve.tensor_metadata(s) for _, s in sorted(sig.inputs.items())],
                    "outputs": [kserve.tensor_metadata(s) for _, s in sorted(sig.outputs.items())],
                }
            return Response(orjson.dumps(body), media_type=_JSON)
        api = "infer"
        if method != "POST":
            raise InvalidArgumentError(
                f"{method} is not allowed on {path}; POST an inference request"
            )
        raw = await server.body(request)
        content, length = await _v2_infer(server, served, model_name, version, raw, request.headers)
        if length is None:
            return Response(content, media_type=_JSON)
        return Response(
            content,
            media_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(length)},
        )
    except Error as e:
        error = e
        return _error_response(e)
    except Exception as e:  # every failure is answered, and the server keeps serving
        logger.exception("request %s %s failed", method, path)
        error = e
        return _error_response(e)
    finally:
        server.record(model_name, api or "unknown", "V2", error, start)


async def _v2_infer(
    server: _Server,
    served: ServedModel,
    model_name: str,
    version: int | None,
    raw: bytes,
    headers: Any,
) -> tuple[bytes, int | None]:
    import orjson

    length_text = headers.get(kserve.HEADER_LENGTH)
    if length_text is not None:
        if not length_text.isdigit() or int(length_text) > len(raw):
            raise InvalidArgumentError(
                f"Inference-Header-Content-Length {length_text} does not fit the body of {len(raw)} bytes"
            )
        length = int(length_text)
        if length == 0:
            raise InvalidArgumentError(
                "raw binary requests (Inference-Header-Content-Length: 0) are not supported"
            )
        head, binary = raw[:length], memoryview(raw)[length:]
    else:
        head, binary = raw, memoryview(b"")
    try:
        header = orjson.loads(head)
    except orjson.JSONDecodeError as e:
        raise InvalidArgumentError(f"failed to parse the request JSON: {e}") from None
    if not isinstance(header, dict):
        raise InvalidArgumentError("the request must be a JSON object")
    with served.acquire(version) as (served_version, model, batcher):
        sig = _v2_signature(model, header.get("parameters"))
        inputs, wanted, binary_outputs, binary_default = kserve.decode_request(
            header, binary, model_name, sig.inputs
        )
        if wanted is not None:
            unknown = [n for n in wanted if n not in sig.outputs]
            if unknown:
                raise InvalidArgumentError(
                    f"unexpected inference output '{unknown[0]}' for model '{model_name}'"
                )
        outputs = await server.run(sig, inputs, batcher)
    names = wanted if wanted is not None else sorted(outputs)
    reply: dict[str, Any] = {"model_name": model_name, "model_version": str(served_version)}
    if "id" in header:
        reply["id"] = header["id"]
    chosen = {n: outputs[n] for n in names}
    binary_set = binary_outputs if wanted is not None else (None if binary_default else set())
    size = sum(np.asarray(a).nbytes for a in chosen.values())
    return await server.off_loop(
        size, kserve.encode_response, reply, chosen, sig.outputs, binary_set
    )


# ------------------------------------------------------------------ the app ---


def create_app(config: ServerConfig) -> Any:
    """The Starlette app serving ``config``'s models (loaded when the app starts).

    Args:
        config: what to serve and how (:class:`ServerConfig`).

    Returns:
        A ``starlette.applications.Starlette``; run it with uvicorn (or any ASGI server
        that runs lifespan events). ``app.state.server`` holds its state.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    server = _Server(config)

    async def dispatch(request: Request) -> Response:
        # TF Serving matches its paths without regard to case; KServe's are as written.
        path = request.scope["path"]
        if path[:4].lower() == "/v1/":
            return await _tfs(server, request)
        if path == "/v2" or path.startswith("/v2/"):
            return await _v2(server, request)
        return _error_response(NotFoundError(f"no such route: {request.method} {path}"))

    async def metrics(request: Request) -> Response:
        assert server.metrics is not None
        body, content_type = server.metrics.page()
        return Response(body, media_type=content_type)

    everything = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
    routes = [Route("/{rest:path}", dispatch, methods=everything)]
    if config.metrics_path is not None:
        routes.insert(0, Route(config.metrics_path, metrics, methods=["GET"]))

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, server.load)
        logger.info("serving %s (pid %d)", ", ".join(server.models), os.getpid())
        try:
            yield
        finally:
            await loop.run_in_executor(None, server.close)

    class ServingApp(Starlette):
        """Starlette, with the model routes' requests taken before its middleware and router.

        Every answer of ``dispatch`` is made by tfbundle's own handlers, which catch every
        error, so the layers Starlette puts around a route (error and exception middleware,
        the router's matching, the route's wrapper) only cost time: about a quarter of the event
        loop's samples in a py-spy profile of the bench's dense model under ``wrk``. Other paths
        (metrics, lifespan) go through Starlette.
        """

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            path = scope.get("path", "")
            if scope["type"] != "http" or path == config.metrics_path:
                await super().__call__(scope, receive, send)
                return
            scope["app"] = self
            try:
                response = await dispatch(Request(scope, receive))
            except Exception as e:  # dispatch answers its errors: this is a last resort
                logger.exception("request %s %s failed", scope.get("method"), path)
                response = _error_response(e)
            await response(scope, receive, send)

    app = ServingApp(routes=routes, lifespan=lifespan)
    app.state.server = server
    return app


def app_from_environment() -> Any:
    """``create_app`` with the config in ``$TFBUNDLE_SERVE_CONFIG`` (each ``--workers`` process calls this)."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise FailedPreconditionError(f"${CONFIG_ENV} holds no server config")
    return create_app(ServerConfig.from_json(text))
