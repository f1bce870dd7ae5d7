"""The result and record types of tfbundle's functions, for annotations and ``isinstance``.

    >>> info: tfbundle.types.SavedModelInfo = tfbundle.inspect("model/")
    >>> spec: tfbundle.types.TensorSpec = model.signatures["serving_default"].inputs["x"]
"""

from __future__ import annotations

from ._base.specs import Device, TensorSpec
from ._readers.checkpoint import VariableSpec
from ._readers.inspect import (
    AssetInfo,
    FingerprintInfo,
    MetaGraphInfo,
    OpsInfo,
    SavedModelInfo,
    SaverInfo,
    SignatureInfo,
    VariablesInfo,
)
from ._runtime.graphs import ChosenSignature, InferredSignatureWarning
from ._runtime.profile import NodeStat, OpTypeStat, Profile
from ._runtime.warmup import WarmupReport

__all__ = [
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
]
