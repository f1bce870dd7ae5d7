"""The TensorFlow and TF Serving messages tfbundle reads, as protobuf message classes.

    from tfbundle import _proto as pb

    graph = pb.GraphDef.FromString(data)
    log = pb.PredictionLog()

The messages are declared once, in the project's own .proto files (proto/ at the repository
root: TensorFlow's message, field and enum names and numbers under the private package
``tfbundle_private``); dev/gen_protos.py compiles them into the FileDescriptorSet of
:mod:`._descriptors`, from which the classes are built here, in a descriptor pool of their own,
at the first use. So they never clash with TensorFlow's generated ``*_pb2`` modules when both
are imported in one process, and they work with any protobuf runtime from 3.20 on (protoc's
``_pb2`` files would pin it). ``protobuf`` is imported at the first attribute access, never
when tfbundle is imported.

Attributes: every top-level message by its simple name (``pb.MetaGraphDef``; nested ones as
attributes of their parent, ``pb.TensorShapeProto.Dim``) and every top-level enum as an enum
wrapper (``pb.DataType.Name(1) == "DT_FLOAT"``, ``pb.DataType.Value("DT_FLOAT") == 1``).
"""

from __future__ import annotations

import threading as _threading
from typing import Any as _Any

#: The prefix of proto/'s packages (tfbundle_private.tensorflow.GraphDef is tensorflow.GraphDef).
PRIVATE_PREFIX = "tfbundle_private."

#: The packages of proto/; their top-level messages and enums are this module's attributes.
PACKAGES = ("tfbundle_private.tensorflow", "tfbundle_private.tensorflow.serving")

_lock = _threading.Lock()
_types: dict[str, _Any] | None = None
_pool: _Any = None


def _build() -> dict[str, _Any]:
    if _types is None:
        with _lock:
            if _types is None:
                _load()
    assert _types is not None
    return _types


def _load() -> None:
    """Builds the pool and the classes (called once, under the lock)."""
    global _types, _pool
    import base64

    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from google.protobuf.internal import enum_type_wrapper

    from ._descriptors import FILE_DESCRIPTOR_SET_BASE64

    files = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(FILE_DESCRIPTOR_SET_BASE64))
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:  # in dependency order, as protoc writes them
        pool.Add(file)
    # protobuf >= 4.22 has GetMessageClass; older releases (3.20 is allowed) a factory.
    factory: _Any = message_factory
    get_class = getattr(factory, "GetMessageClass", None)
    if get_class is None:  # pragma: no cover - depends on the installed protobuf
        get_class = factory.MessageFactory(pool).GetPrototype
    types: dict[str, _Any] = {}
    count = 0
    for file in files.file:
        if file.package not in PACKAGES:
            continue
        for msg in file.message_type:
            types[msg.name] = get_class(pool.FindMessageTypeByName(f"{file.package}.{msg.name}"))
        for enum in file.enum_type:
            enum_desc = pool.FindEnumTypeByName(f"{file.package}.{enum.name}")
            types[enum.name] = enum_type_wrapper.EnumTypeWrapper(enum_desc)
        count += len(file.message_type) + len(file.enum_type)
    assert len(types) == count, "two messages or enums of proto/ share a simple name"
    _pool = pool
    _types = types


def __getattr__(name: str) -> _Any:
    # Messages and enums are CamelCase; anything else (dunders, and submodule names that
    # `from tfbundle._proto import parsing` looks up before importing it) must not build the
    # pool, which would import protobuf.
    if not name[:1].isupper():
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    types = _build()
    try:
        return types[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no message or enum {name!r}") from None


def names() -> list[str]:
    """The names of the messages and enums this module gives, sorted."""
    return sorted(_build())


def pool() -> _Any:
    """The private DescriptorPool the classes live in."""
    _build()
    return _pool
