"""`tfbundle serve`: serve SavedModels over TF Serving's REST API and KServe's v2 protocol.

    tfbundle serve --model_name m --model_base_path models/m --rest_api_port 8501
    tfbundle serve --model_config_file models.config --rest_api_port 8501 --workers 4
    tfbundle serve --model_name m --model_base_path models/m --enable_batching \\
        --batching_parameters_file batching.config

The flags are TF Serving's (``tensorflow_model_server``) where they apply, and its boolean
flags take ``--flag``, ``--flag=true`` or ``--flag=false``. tfbundle serves no gRPC: ``--port``
names the REST port when ``--rest_api_port`` is not given. ``--workers N`` starts N processes
answering on one port (uvicorn's multi-process mode); each loads the models itself, after it
starts, and the memory-mapped restore lets them share the weights through the page cache.
Their metrics page shows the whole server (prometheus_client's multiprocess mode, in a private
temporary folder removed when the server exits; see :mod:`tfbundle.serving.metrics`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

__all__ = ["build_parser", "config_from_args", "main"]


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tfbundle serve",
        description="Serve SavedModels over TF Serving's REST API and KServe's v2 REST protocol "
        "(TF Serving's flags where they apply).",
    )
    flag: dict[str, Any] = {"nargs": "?", "const": True, "type": _bool, "metavar": "BOOL"}
    p.add_argument("--port", type=int, default=None, help="the REST port when --rest_api_port is not given "
                   "(TF Serving's gRPC port; tfbundle serves no gRPC)")  # fmt: skip
    p.add_argument("--rest_api_port", type=int, default=None, help="the HTTP port (default 8501)")
    p.add_argument("--host", default="0.0.0.0", help="the address to listen on (default 0.0.0.0)")
    p.add_argument("--rest_api_num_threads", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--rest_api_timeout_in_ms", type=int, default=30000,
                   help="answer 504 to requests that take longer (default 30000; 0: no limit)")  # fmt: skip
    p.add_argument("--rest_api_enable_cors_support", default=False, help="add CORS headers", **flag)
    p.add_argument(
        "--model_name", default="default", help="the model's name in URLs (default: default)"
    )
    p.add_argument(
        "--model_base_path", default=None, help="the folder of numbered versions of the model"
    )
    p.add_argument("--model_config_file", default=None,
                   help="a ModelServerConfig in text format (model_config_list), instead of --model_name and "
                   "--model_base_path")  # fmt: skip
    p.add_argument(
        "--model_config_file_poll_wait_seconds", type=int, default=0, help=argparse.SUPPRESS
    )
    p.add_argument(
        "--enable_batching", default=False, help="batch concurrent predict requests", **flag
    )
    p.add_argument(
        "--batching_parameters_file", default=None, help="BatchingParameters in text format"
    )
    p.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                   help="seconds between looks for new model versions (default 1; 0: never)")  # fmt: skip
    p.add_argument("--enable_model_warmup", default=True,
                   help="replay assets.extra/tf_serving_warmup_requests before a version serves (default true)",
                   **flag)  # fmt: skip
    p.add_argument(
        "--tensorflow_intra_op_parallelism",
        type=int,
        default=0,
        help="threads per op (0: all cores)",
    )
    p.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0,
                   help="threads running independent ops (0: run a call's ops in its own thread)")  # fmt: skip
    p.add_argument("--tensorflow_session_parallelism", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument(
        "--saved_model_tags",
        default=None,
        help="the MetaGraph's comma-separated tags (default serve)",
    )
    p.add_argument("--monitoring_config_file", default=None,
                   help="MonitoringConfig in text format (default: the Prometheus page at "
                   "/monitoring/prometheus/metrics)")  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=1, help="processes answering on the port (default 1)"
    )
    p.add_argument("--max_request_bytes", type=int, default=256 * 1024 * 1024,
                   help="refuse larger request bodies with 413 (default 256 MiB)")  # fmt: skip
    p.add_argument("--graceful_shutdown_seconds", type=float, default=30.0,
                   help="at shutdown, how long requests in flight may take to finish (default 30)")  # fmt: skip
    p.add_argument(
        "--log_level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    return p


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`tfbundle.serving.ServerConfig` of parsed flags."""
    from ..errors import InvalidArgumentError
    from ..serving.config import (
        ModelConfig,
        ServerConfig,
        read_batching_parameters,
        read_model_config_file,
        read_monitoring_config,
    )

    if args.model_config_file:
        if args.model_base_path:
            raise InvalidArgumentError(
                "give either --model_config_file or --model_base_path, not both"
            )
        models = read_model_config_file(args.model_config_file)
    else:
        if not args.model_base_path:
            raise InvalidArgumentError(
                "give --model_base_path (and --model_name) or --model_config_file"
            )
        models = (ModelConfig(name=args.model_name, base_path=args.model_base_path),)
    batching = (
        read_batching_parameters(args.batching_parameters_file) if args.enable_batching else None
    )
    load_kwargs: dict[str, Any] = {}
    if args.tensorflow_intra_op_parallelism > 0:
        load_kwargs["intra_op_threads"] = args.tensorflow_intra_op_parallelism
    if args.tensorflow_inter_op_parallelism > 0:
        load_kwargs["inter_op_threads"] = args.tensorflow_inter_op_parallelism
    if args.saved_model_tags:
        load_kwargs["tags"] = args.saved_model_tags
    return ServerConfig(
        models=models,
        batching=batching,
        metrics_path=read_monitoring_config(args.monitoring_config_file),
        poll_interval=max(0.0, args.file_system_poll_wait_seconds),
        warmup=bool(args.enable_model_warmup),
        load_kwargs=load_kwargs,
        timeout=args.rest_api_timeout_in_ms / 1000 if args.rest_api_timeout_in_ms > 0 else None,
        max_body_bytes=args.max_request_bytes,
        cors=bool(args.rest_api_enable_cors_support),
    )


@contextlib.contextmanager
def _shared_metrics_dir() -> Iterator[str]:
    """A private folder for the workers' metrics, named in the environment they inherit.

    The workers write their values there (prometheus_client's multiprocess mode) and the one
    answering a scrape adds them up. The folder is removed, and the environment restored, when
    the server exits or fails.
    """
    from ..serving.metrics import MULTIPROC_ENV

    path = tempfile.mkdtemp(prefix="tfbundle-metrics-")  # mode 0700
    names = ("PROMETHEUS_MULTIPROC_DIR", MULTIPROC_ENV)
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in names:
            os.environ[name] = path
        logging.getLogger("tfbundle.serving").debug("the workers' metrics are in %s", path)
        yield path
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Runs the server until SIGINT or SIGTERM (then finishes the requests in flight)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.batching_parameters_file and not args.enable_batching:
        parser.error("--batching_parameters_file needs --enable_batching")
    try:
        import uvicorn
    except ImportError:
        sys.stderr.write(
            "tfbundle serve needs the server's packages: pip install 'tfbundle[serve]'\n"
        )
        return 2
    from ..serving.app import CONFIG_ENV, app_from_environment, create_app

    config = config_from_args(args)
    for model in config.models:  # say so in one line now, not in a traceback from each worker
        if not os.path.isdir(os.path.expanduser(model.base_path)):
            from ..errors import NotFoundError

            raise NotFoundError(
                f"model {model.name!r}: {model.base_path} is not a folder of numbered versions"
            )
    port = args.rest_api_port or args.port or 8501
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s: %(message)s"
    )
    names = ", ".join(m.name for m in config.models)
    sys.stderr.write(
        f"tfbundle serve: {names} on http://{args.host}:{port} (TF Serving REST /v1, KServe v2 /v2"
        + (f", metrics {config.metrics_path}" if config.metrics_path else "")
        + (f", {args.workers} workers" if args.workers > 1 else "")
        + ")\n"
    )
    common = {
        "host": args.host,
        "port": port,
        "log_level": args.log_level,
        "access_log": False,
        # No X-Forwarded-* rewriting of the client's address: nothing here reads it, and the
        # middleware costs each request.
        "proxy_headers": False,
        "timeout_graceful_shutdown": args.graceful_shutdown_seconds,
    }
    if args.workers > 1:
        # Each worker is a new process (spawned, not forked): it builds the app and loads the
        # models itself, from the config handed over in the environment.
        os.environ[CONFIG_ENV] = config.to_json()
        with contextlib.ExitStack() as stack:
            if config.metrics_path is not None:
                stack.enter_context(_shared_metrics_dir())
            uvicorn.run(f"{app_from_environment.__module__}:{app_from_environment.__name__}", factory=True,
                        workers=args.workers, **common)  # fmt: skip
    else:
        uvicorn.run(create_app(config), **common)
    return 0
