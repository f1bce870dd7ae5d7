"""tfbundle: run TensorFlow SavedModels from Python through TensorFlow's C API.

    >>> import numpy as np, tfbundle
    >>> model = tfbundle.load("path/to/saved_model")
    >>> model.signatures
    >>> model(x=np.ones((1, 4), np.float32))

``import tfbundle`` loads no TensorFlow: its C library is opened at the first
``tfbundle.load`` (or, with the environment variable ``TFBUNDLE_PRELOAD=1``, in a
background thread started by ``import tfbundle``, which the first load waits for),
and TensorFlow's Python package is never imported.

The package is layered; each layer imports only those below it:

- ``errors``, ``_base`` (paths, dtypes, tensor specs) and ``_proto`` (the schema
  of the TensorFlow messages tfbundle reads): the foundation;
- ``_readers``: what reads model files without TensorFlow's runtime (``inspect``,
  checkpoints, the op policy);
- ``_runtime``: what runs models through TensorFlow's C library (``load``,
  checkpoint and frozen graphs, warmup, profiling, the hot-reloading repository);
- ``scoring``: batch scoring of files of rows (``tfbundle.score``);
- ``cli``: the ``tfbundle`` command.

The public names are imported when first used (PEP 562): ``import tfbundle``
imports numpy and what ``load`` and ``Model`` need, nothing else.

Result and record types (``SavedModelInfo``, ``Profile``, ``VariableSpec``, ...)
are in :mod:`tfbundle.types`; tf.Example encoding is :mod:`tfbundle.tf_example`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors
from ._core import __version__
from ._runtime import library as _library
from ._runtime.model import Model, Signature, aligned, empty, load, zeros
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

if TYPE_CHECKING:  # imported at the first use (see __getattr__); listed here for type checkers and IDEs
    from . import tf_example, types
    from ._readers.align import align_saved_model
    from ._readers.checkpoint import CheckpointReader, open_checkpoint
    from ._readers.inspect import inspect
    from ._runtime.batching import Batcher
    from ._runtime.graphs import GraphModel, latest_checkpoint, load_checkpoint_graph, load_graph
    from ._runtime.library import load_library
    from ._runtime.repository import ModelRepository
    from ._runtime.warmup import replay_warmup
    from .scoring import ScoreReport, score

__all__ = [
    "__version__",
    # Loading and running
    "load",
    "load_graph",
    "load_checkpoint_graph",
    "latest_checkpoint",
    "load_library",
    "replay_warmup",
    "score",
    "ScoreReport",
    "Model",
    "Signature",
    "GraphModel",
    "ModelRepository",
    "Batcher",
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

# Public name -> the module that defines it, imported at the first access.
_LAZY = {
    "align_saved_model": "._readers.align",
    "CheckpointReader": "._readers.checkpoint",
    "open_checkpoint": "._readers.checkpoint",
    "inspect": "._readers.inspect",
    "Batcher": "._runtime.batching",
    "GraphModel": "._runtime.graphs",
    "latest_checkpoint": "._runtime.graphs",
    "load_checkpoint_graph": "._runtime.graphs",
    "load_graph": "._runtime.graphs",
    "load_library": "._runtime.library",
    "ModelRepository": "._runtime.repository",
    "replay_warmup": "._runtime.warmup",
    "score": ".scoring",
    "ScoreReport": ".scoring",
}
_SUBMODULES = frozenset({"tf_example", "types"})

# Names of earlier releases, still resolved: the types moved to tfbundle.types (the
# names it exports, listed here so that tfbundle.types is imported only when one is
# used), CheckpointKeyError to tfbundle.errors; tfbundle.examples is tfbundle.tf_example.
_MOVED = dict.fromkeys(
    (
        "AssetInfo",
        "ChosenSignature",
        "Device",
        "FingerprintInfo",
        "InferredSignatureWarning",
        "MetaGraphInfo",
        "NodeStat",
        "OpTypeStat",
        "OpsInfo",
        "Profile",
        "SavedModelInfo",
        "SaverInfo",
        "SignatureInfo",
        "TensorSpec",
        "VariableSpec",
        "VariablesInfo",
        "WarmupReport",
    ),
    "types",
)
_MOVED["CheckpointKeyError"] = "errors"


# TFBUNDLE_PRELOAD=1: open TensorFlow's C library now, in a daemon thread, so that it overlaps what
# the process does before its first load. Opt-in: a process that never loads a model (inspection,
# the command line) would pay its time and memory, and the opening blocks every other dlopen (the
# imports of extension modules) while it runs. Last, so that numpy's own libraries are open first.
_library.start_preload()


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module("." + name, __name__)
    elif name == "examples":
        import warnings

        warnings.warn("tfbundle.examples is now tfbundle.tf_example", DeprecationWarning, stacklevel=2)
        return importlib.import_module(".tf_example", __name__)
    elif name in _MOVED:
        return getattr(importlib.import_module("." + _MOVED[name], __name__), name)
    else:
        raise AttributeError(f"module 'tfbundle' has no attribute {name!r}")
    globals()[name] = value  # later accesses do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *_MOVED, "examples"})
