"""tfbundle: run TensorFlow SavedModels from Python through TensorFlow's C API.

    >>> import numpy as np, tfbundle
    >>> model = tfbundle.load("path/to/saved_model")
    >>> model.signatures
    >>> model(x=np.ones((1, 4), np.float32))

``import tfbundle`` never loads TensorFlow: its C library is opened at the
first ``tfbundle.load``, and TensorFlow's Python package is never imported.

The package is layered; each layer imports only those below it:

- ``errors``, ``_base`` (paths, dtypes, tensor specs) and ``_proto`` (the schema
  of the TensorFlow messages tfbundle reads): the foundation;
- ``_readers``: what reads model files without TensorFlow's runtime (``inspect``,
  checkpoints, the op policy);
- ``_runtime``: what runs models through TensorFlow's C library (``load``,
  checkpoint and frozen graphs, warmup, profiling, the hot-reloading repository);
- ``cli``: the ``tfbundle`` command.

Result and record types (``SavedModelInfo``, ``Profile``, ``VariableSpec``, ...)
are in :mod:`tfbundle.types`; tf.Example encoding is :mod:`tfbundle.tf_example`.
"""

from __future__ import annotations

from typing import Any

from . import errors, tf_example, types
from ._core import __version__
from ._readers.align import align_saved_model
from ._readers.checkpoint import CheckpointReader, open_checkpoint
from ._readers.inspect import inspect
from ._runtime.graphs import GraphModel, latest_checkpoint, load_checkpoint_graph, load_graph
from ._runtime.library import load_library
from ._runtime.model import Model, Signature, aligned, empty, load, zeros
from ._runtime.repository import ModelRepository
from ._runtime.warmup import replay_warmup
from .errors import (
    ClosedError,
    DataLossError,
    Error,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    InvalidTypeError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    TensorFlowNotFoundError,
    UnimplementedError,
)

__all__ = [
    "__version__",
    # Loading and running
    "load",
    "load_graph",
    "load_checkpoint_graph",
    "latest_checkpoint",
    "load_library",
    "replay_warmup",
    "Model",
    "Signature",
    "GraphModel",
    "ModelRepository",
    "empty",
    "zeros",
    "aligned",
    # Reading without TensorFlow
    "inspect",
    "open_checkpoint",
    "CheckpointReader",
    "align_saved_model",
    # Modules
    "errors",
    "tf_example",
    "types",
    # The errors users catch most (all are in tfbundle.errors)
    "Error",
    "ClosedError",
    "DataLossError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "TensorFlowNotFoundError",
    "UnimplementedError",
]

# Names of earlier releases, still resolved (the types moved to tfbundle.types,
# tfbundle.examples became tfbundle.tf_example).
_MOVED = dict.fromkeys(types.__all__, "types")
_MOVED["CheckpointKeyError"] = "errors"


def __getattr__(name: str) -> Any:
    if name == "examples":
        import warnings

        warnings.warn("tfbundle.examples is now tfbundle.tf_example", DeprecationWarning, stacklevel=2)
        return tf_example
    where = _MOVED.get(name)
    if where is None:
        raise AttributeError(f"module 'tfbundle' has no attribute {name!r}")
    return getattr(globals()[where], name)


def __dir__() -> list[str]:
    return sorted({*__all__, *_MOVED, "examples"})
