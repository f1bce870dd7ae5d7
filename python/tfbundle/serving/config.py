"""What ``tfbundle serve`` serves, and how: :class:`ServerConfig`, and TF Serving's config files.

The files are TF Serving's, in protobuf text format:

- ``--model_config_file``: a ``ModelServerConfig`` with a ``model_config_list`` (each model's
  ``name``, ``base_path``, ``model_version_policy`` and ``version_labels``);
- ``--batching_parameters_file``: ``BatchingParameters`` (``max_batch_size { value: 128 }``...);
- ``--monitoring_config_file``: ``MonitoringConfig`` (``prometheus_config { enable: true
  path: "/monitoring/prometheus/metrics" }``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgumentError, NotFoundError

__all__ = [
    "DEFAULT_METRICS_PATH",
    "ModelConfig",
    "ServerConfig",
    "read_batching_parameters",
    "read_model_config_file",
    "read_monitoring_config",
]

#: TF Serving's default path of the Prometheus page.
DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"


@dataclass(frozen=True)
class ModelConfig:
    """One served model: TF Serving's ``ModelConfig``.

    Attributes:
        name: the model's name in URLs (``/v1/models/{name}``).
        base_path: the folder of numbered versions (``base_path/1/saved_model.pb``...).
        policy: ``"latest"`` (the newest ``num_versions`` versions), ``"all"`` or ``"specific"``
            (``versions``); every policy follows the folder while serving (every
            ``poll_interval`` seconds).
        num_versions: for ``"latest"``.
        versions: for ``"specific"``.
        labels: version labels (``{"stable": 1}``), for ``/labels/{label}`` URLs.
    """

    name: str
    base_path: str
    policy: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()
    labels: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidArgumentError("a served model needs a name")
        if not self.base_path:
            raise InvalidArgumentError(f"model {self.name!r} needs a base_path")
        if self.policy not in ("latest", "all", "specific"):
            raise InvalidArgumentError(
                f"model {self.name!r}: unknown version policy {self.policy!r}"
            )
        if self.policy == "latest" and self.num_versions < 1:
            raise InvalidArgumentError(f"model {self.name!r}: num_versions must be at least 1")
        if self.policy == "specific" and not self.versions:
            raise InvalidArgumentError(
                f"model {self.name!r}: a specific version policy lists no versions"
            )


@dataclass(frozen=True)
class ServerConfig:
    """What the server serves and how (``create_app(config)``; ``tfbundle serve`` builds one from its flags).

    Attributes:
        models: the served models.
        batching: Batcher keyword arguments (``max_batch_size``, ``batch_timeout_micros``,
            ``max_enqueued_batches``, ``num_batch_threads``, ``allowed_batch_sizes``,
            ``pad_variable_length_inputs``) to batch predict requests; None: no batching.
        metrics_path: the Prometheus page's path; None: no page.
        poll_interval: seconds between looks for new versions (TF Serving's
            ``--file_system_poll_wait_seconds``); 0: never.
        warmup: replay each version's warmup records before it serves (TF Serving's
            ``--enable_model_warmup``).
        load_kwargs: more keyword arguments for :func:`tfbundle.load` (``tags``,
            ``intra_op_threads``, ``inter_op_threads``, ...).
        timeout: seconds a request may take before 504 (TF Serving's
            ``--rest_api_timeout_in_ms``); None: no limit.
        max_body_bytes: the largest request body accepted (413 beyond).
        cors: add CORS headers (TF Serving's ``--rest_api_enable_cors_support``).
    """

    models: tuple[ModelConfig, ...]
    batching: Mapping[str, Any] | None = None
    metrics_path: str | None = DEFAULT_METRICS_PATH
    poll_interval: float = 1.0
    warmup: bool = True
    load_kwargs: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = 30.0
    max_body_bytes: int = 256 * 1024 * 1024
    cors: bool = False

    def __post_init__(self) -> None:
        if not self.models:
            raise InvalidArgumentError("the server needs at least one model")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"two served models share a name: {names}")

    def to_json(self) -> str:
        """The config as JSON (how ``--workers`` hands it to each process)."""
        import json

        data = dataclasses.asdict(self)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ServerConfig:
        import json

        data = json.loads(text)
        models = tuple(
            ModelConfig(**{**m, "versions": tuple(m["versions"]), "labels": dict(m["labels"])})
            for m in data.pop("models")
        )
        batching = data.pop("batching")
        return cls(models=models, batching=batching, **data)


def _read_text(path: str, message: str) -> Any:
    from .._proto.parsing import parse_text

    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise NotFoundError(f"{path} does not exist") from None
    return parse_text(message, text, path)


def read_model_config_file(path: str) -> tuple[ModelConfig, ...]:
    """The models of a ``--model_config_file`` (a ModelServerConfig in text format).

    Raises:
        DataLossError: not a valid text-format ModelServerConfig.
        InvalidArgumentError: no ``model_config_list``, or an invalid model entry.
    """
    config = _read_text(path, "ModelServerConfig")
    if config.WhichOneof("config") != "model_config_list":
        raise InvalidArgumentError(
            f"{path}: tfbundle serve reads a model_config_list, not a custom_model_config"
        )
    models = []
    for entry in config.model_config_list.config:
        platform = entry.model_platform
        if platform and platform != "tensorflow":
            raise InvalidArgumentError(
                f"{path}: model {entry.name!r} has model_platform {platform!r}; tfbundle serves 'tensorflow' models"
            )
        policy, num = "latest", 1
        versions: tuple[int, ...] = ()
        choice = entry.model_version_policy.WhichOneof("policy_choice")
        if choice == "latest":
            policy, num = "latest", entry.model_version_policy.latest.num_versions or 1
        elif choice == "all":
            policy = "all"
        elif choice == "specific":
            policy, versions = (
                "specific",
                tuple(int(v) for v in entry.model_version_policy.specific.versions),
            )
        models.append(
            ModelConfig(
                name=entry.name,
                base_path=entry.base_path,
                policy=policy,
                num_versions=num,
                versions=versions,
                labels={k: int(v) for k, v in entry.version_labels.items()},
            )
        )
    if not models:
        raise InvalidArgumentError(f"{path} lists no model")
    return tuple(models)


#: TF Serving's batching defaults when --enable_batching is given without a parameters file
#: (its basic batch scheduler's options), except the thread count: one per core.
def default_batching() -> dict[str, Any]:
    return {
        "max_batch_size": 1000,
        "batch_timeout_micros": 0,
        "max_enqueued_batches": 10,
        "num_batch_threads": os.cpu_count() or 1,
    }


def read_batching_parameters(path: str | None) -> dict[str, Any]:
    """Batcher keyword arguments from a ``--batching_parameters_file`` (BatchingParameters).

    Fields not set keep TF Serving's defaults; ``thread_pool_name`` is ignored, and large batch
    splitting is refused (UnimplementedError): the Batcher refuses requests larger than a batch.
    """
    params = default_batching()
    if path is None:
        return params
    msg = _read_text(path, "BatchingParameters")
    for name in (
        "max_batch_size",
        "batch_timeout_micros",
        "max_enqueued_batches",
        "num_batch_threads",
    ):
        if msg.HasField(name):
            params[name] = int(getattr(msg, name).value)
    if msg.allowed_batch_sizes:
        params["allowed_batch_sizes"] = [int(v) for v in msg.allowed_batch_sizes]
    if msg.pad_variable_length_inputs:
        params["pad_variable_length_inputs"] = True
    if msg.HasField("enable_large_batch_splitting") and msg.enable_large_batch_splitting.value:
        from ..errors import UnimplementedError

        raise UnimplementedError(
            f"{path}: enable_large_batch_splitting is not supported: a request larger than max_batch_size is refused"
        )
    return params


def read_monitoring_config(path: str | None) -> str | None:
    """The Prometheus path of a ``--monitoring_config_file``, or None when it disables the page.

    Without a file the page is served at TF Serving's default path.
    """
    if path is None:
        return DEFAULT_METRICS_PATH
    msg = _read_text(path, "MonitoringConfig")
    if not msg.prometheus_config.enable:
        return None
    return msg.prometheus_config.path or DEFAULT_METRICS_PATH
