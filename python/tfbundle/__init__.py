"""tfbundle: run TensorFlow SavedModels from Python through TensorFlow's C API.

    >>> import numpy as np, tfbundle
    >>> model = tfbundle.load("path/to/saved_model")
    >>> model.signatures
    >>> model(x=np.ones((1, 4), np.float32))

``import tfbundle`` never loads TensorFlow: its C library is opened at the
first ``tfbundle.load``, and TensorFlow's Python package is never imported.
"""

from __future__ import annotations

from . import errors, examples
from ._checkpoint import CheckpointKeyError, CheckpointReader, VariableSpec, open_checkpoint
from ._core import __version__
from ._inspect import (
    AssetInfo,
    FingerprintInfo,
    MetaGraphInfo,
    OpsInfo,
    SavedModelInfo,
    SaverInfo,
    SignatureInfo,
    VariablesInfo,
    inspect,
)
from ._graphs import (
    ChosenSignature,
    GraphModel,
    InferredSignatureWarning,
    latest_checkpoint,
    load_checkpoint_graph,
    load_graph,
)
from ._library import load_library
from ._model import (
    Device,
    Model,
    Signature,
    TensorSpec,
    aligned,
    empty,
    load,
    zeros,
)
from ._profile import NodeStat, OpTypeStat, Profile
from ._repository import ModelRepository
from ._warmup import WarmupReport, replay_warmup
from .errors import (
    ClosedError,
    DataLossError,
    Error,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    TensorFlowNotFoundError,
    UnimplementedError,
)

__all__ = [
    "__version__",
    "load",
    "load_library",
    "inspect",
    "SavedModelInfo",
    "MetaGraphInfo",
    "SignatureInfo",
    "AssetInfo",
    "SaverInfo",
    "OpsInfo",
    "VariablesInfo",
    "FingerprintInfo",
    "examples",
    "load_checkpoint_graph",
    "load_graph",
    "latest_checkpoint",
    "GraphModel",
    "ChosenSignature",
    "InferredSignatureWarning",
    "ModelRepository",
    "Profile",
    "NodeStat",
    "OpTypeStat",
    "WarmupReport",
    "replay_warmup",
    "open_checkpoint",
    "CheckpointReader",
    "VariableSpec",
    "CheckpointKeyError",
    "Model",
    "Signature",
    "TensorSpec",
    "Device",
    "empty",
    "zeros",
    "aligned",
    "errors",
    "Error",
    "ClosedError",
    "DataLossError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "TensorFlowNotFoundError",
    "UnimplementedError",
]
