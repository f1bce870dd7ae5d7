"""The TensorFlow and TF Serving messages tfbundle parses in Python, declared by hand.

Frozen GraphDefs in text format (``.pbtxt``), warmup requests (``PredictionLog``),
``RunMetadata`` step stats and the parts of a ``MetaGraphDef`` that the loaders
of :mod:`tfbundle._graphs` look at are read with the ``protobuf`` package, through
message classes built here from descriptors declared in this file. They live in a
private descriptor pool under the package ``tfbundle_private.tf``, so they never
clash with TensorFlow's own generated modules when both are imported in one
process. The field numbers are those of TensorFlow's public ``.proto`` files
(``tensorflow/core/framework/{graph,node_def,attr_value,tensor,tensor_shape,
function,op_def,versions,step_stats,full_type}.proto``,
``tensorflow/core/protobuf/{meta_graph,saver,config,graph_debug_info}.proto``,
``tensorflow_serving/apis/{prediction_log,predict,classification,regression,
inference,input,model}.proto`` and the legacy ``session_bundle/manifest.proto``).

Where tfbundle only passes a sub-message on (a serialized ``tf.Example``, a
response it never reads), the field is declared as ``bytes``: the wire format is
the same, and the bytes come out as they were written.

``protobuf`` is imported at the first use, not when tfbundle is imported.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .errors import DataLossError, InvalidArgumentError, UnimplementedError

__all__ = [
    "DATA_TYPES",
    "iter_fields",
    "length_field",
    "message_class",
    "parse",
    "parse_text",
    "strings_of",
    "tensor_to_numpy",
    "varint_bytes",
]

PACKAGE = "tfbundle_private.tf"

#: TensorFlow's DataType enum (tensorflow/core/framework/types.proto).
DATA_TYPES: dict[str, int] = {
    "DT_INVALID": 0, "DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5,
    "DT_INT8": 6, "DT_STRING": 7, "DT_COMPLEX64": 8, "DT_INT64": 9, "DT_BOOL": 10, "DT_QINT8": 11,
    "DT_QUINT8": 12, "DT_QINT32": 13, "DT_BFLOAT16": 14, "DT_QINT16": 15, "DT_QUINT16": 16,
    "DT_UINT16": 17, "DT_COMPLEX128": 18, "DT_HALF": 19, "DT_RESOURCE": 20, "DT_VARIANT": 21,
    "DT_UINT32": 22, "DT_UINT64": 23, "DT_FLOAT8_E5M2": 24, "DT_FLOAT8_E4M3FN": 25,
    "DT_FLOAT8_E4M3FNUZ": 26, "DT_FLOAT8_E4M3B11FNUZ": 27, "DT_FLOAT8_E5M2FNUZ": 28, "DT_INT4": 29,
    "DT_UINT4": 30, "DT_INT2": 31, "DT_UINT2": 32, "DT_FLOAT4_E2M1FN": 33,
}  # fmt: skip
DATA_TYPES.update({name + "_REF": code + 100 for name, code in list(DATA_TYPES.items()) if code})

#: TensorFlow's FullTypeId enum (tensorflow/core/framework/full_type.proto).
_FULL_TYPE_IDS: dict[str, int] = {
    "TFT_UNSET": 0, "TFT_VAR": 1, "TFT_ANY": 2, "TFT_PRODUCT": 3, "TFT_NAMED": 4, "TFT_FOR_EACH": 20,
    "TFT_CALLABLE": 100, "TFT_TENSOR": 1000, "TFT_ARRAY": 1001, "TFT_OPTIONAL": 1002,
    "TFT_LITERAL": 1003, "TFT_ENCODED": 1004, "TFT_SHAPE_TENSOR": 1005, "TFT_BOOL": 200,
    "TFT_UINT8": 201, "TFT_UINT16": 202, "TFT_UINT32": 203, "TFT_UINT64": 204, "TFT_INT8": 205,
    "TFT_INT16": 206, "TFT_INT32": 207, "TFT_INT64": 208, "TFT_HALF": 209, "TFT_FLOAT": 210,
    "TFT_DOUBLE": 211, "TFT_BFLOAT16": 215, "TFT_COMPLEX64": 212, "TFT_COMPLEX128": 213,
    "TFT_STRING": 214, "TFT_DATASET": 10102, "TFT_RAGGED": 10103, "TFT_ITERATOR": 10104,
    "TFT_MUTEX_LOCK": 10202, "TFT_LEGACY_VARIANT": 10203,
}  # fmt: skip

_ENUMS = {"DataType": DATA_TYPES, "FullTypeId": _FULL_TYPE_IDS}

# Each message: "name=number:type" separated by spaces. A type is a scalar
# (string, bytes, bool, int32, int64, uint32, uint64, float, double, fixed64),
# a message or enum of this file, or map<K,V>; a leading '*' makes the field
# repeated; a trailing '|group' puts it in the oneof 'group'.
_MESSAGES: dict[str, str] = {
    # --- tensorflow/core/framework ---
    "TensorShapeProto": "dim=2:*TensorShapeDim unknown_rank=3:bool",
    "TensorShapeDim": "size=1:int64 name=2:string",
    "DtypeAndShape": "dtype=1:DataType shape=2:TensorShapeProto",
    "ResourceHandleProto": (
        "device=1:string container=2:string name=3:string hash_code=4:uint64 "
        "maybe_type_name=5:string dtypes_and_shapes=6:*DtypeAndShape"
    ),
    "VariantTensorDataProto": "type_name=1:string metadata=2:bytes tensors=3:*TensorProto",
    "TensorProto": (
        "dtype=1:DataType tensor_shape=2:TensorShapeProto version_number=3:int32 "
        "tensor_content=4:bytes half_val=13:*int32 float_val=5:*float double_val=6:*double "
        "int_val=7:*int32 string_val=8:*bytes scomplex_val=9:*float int64_val=10:*int64 "
        "bool_val=11:*bool dcomplex_val=12:*double resource_handle_val=14:*ResourceHandleProto "
        "variant_val=15:*VariantTensorDataProto uint32_val=16:*uint32 uint64_val=17:*uint64 "
        "float8_val=18:bytes"
    ),
    "AttrValue": (
        "s=2:bytes|value i=3:int64|value f=4:float|value b=5:bool|value type=6:DataType|value "
        "shape=7:TensorShapeProto|value tensor=8:TensorProto|value list=1:AttrList|value "
        "func=10:NameAttrList|value placeholder=9:string|value"
    ),
    "AttrList": (
        "s=2:*bytes i=3:*int64 f=4:*float b=5:*bool type=6:*DataType shape=7:*TensorShapeProto "
        "tensor=8:*TensorProto func=9:*NameAttrList"
    ),
    "NameAttrList": "name=1:string attr=2:map<string,AttrValue>",
    "FullTypeDef": "type_id=1:FullTypeId args=2:*FullTypeDef s=3:string|attr i=4:int64|attr",
    "NodeDebugInfo": "original_node_names=1:*string original_func_names=2:*string",
    "NodeDef": (
        "name=1:string op=2:string input=3:*string device=4:string attr=5:map<string,AttrValue> "
        "experimental_debug_info=6:NodeDebugInfo experimental_type=7:FullTypeDef"
    ),
    "VersionDef": "producer=1:int32 min_consumer=2:int32 bad_consumers=3:*int32",
    "ArgDef": (
        "name=1:string description=2:string type=3:DataType type_attr=4:string "
        "number_attr=5:string type_list_attr=6:string handle_data=7:*DtypeAndShape "
        "is_ref=16:bool experimental_full_type=17:FullTypeDef"
    ),
    "OpAttrDef": (
        "name=1:string type=2:string default_value=3:AttrValue description=4:string "
        "has_minimum=5:bool minimum=6:int64 allowed_values=7:AttrValue"
    ),
    "OpDeprecation": "version=1:int32 explanation=2:string",
    "OpDef": (
        "name=1:string input_arg=2:*ArgDef output_arg=3:*ArgDef control_output=20:*string "
        "attr=4:*OpAttrDef deprecation=8:OpDeprecation summary=5:string description=6:string "
        "is_commutative=18:bool is_aggregate=16:bool is_stateful=17:bool "
        "allows_uninitialized_input=19:bool is_distributed_communication=21:bool"
    ),
    "ArgAttrs": "attr=1:map<string,AttrValue>",
    "FunctionDef": (
        "signature=1:OpDef attr=5:map<string,AttrValue> arg_attr=7:map<uint32,ArgAttrs> "
        "resource_arg_unique_id=8:map<uint32,uint32> node_def=3:*NodeDef ret=4:map<string,string> "
        "control_ret=6:map<string,string>"
    ),
    "GradientDef": "function_name=1:string gradient_func=2:string",
    "RegisteredGradient": "gradient_func=1:string registered_op_type=2:string",
    "FunctionDefLibrary": (
        "function=1:*FunctionDef gradient=2:*GradientDef registered_gradients=3:*RegisteredGradient"
    ),
    "FileLineCol": "file_index=1:int32 line=2:int32 col=3:int32 func=4:string code=5:string",
    "StackTrace": "file_line_cols=1:*FileLineCol frame_id=2:*fixed64",
    "GraphDebugInfo": (
        "files=1:*string frames_by_id=4:map<fixed64,FileLineCol> "
        "traces_by_id=6:map<fixed64,StackTrace> traces=2:map<string,StackTrace> "
        "name_to_trace_id=5:map<string,fixed64>"
    ),
    "GraphDef": (
        "node=1:*NodeDef versions=4:VersionDef version=3:int32 library=2:FunctionDefLibrary "
        "debug_info=5:GraphDebugInfo"
    ),
    # --- tensorflow/core/protobuf: MetaGraphDef, with the graph kept as bytes ---
    "TensorInfo": (
        "name=1:string|encoding coo_sparse=4:bytes|encoding composite_tensor=5:bytes|encoding "
        "dtype=2:DataType tensor_shape=3:TensorShapeProto"
    ),
    "SignatureDef": (
        "inputs=1:map<string,TensorInfo> outputs=2:map<string,TensorInfo> method_name=3:string "
        "defaults=4:map<string,TensorProto>"
    ),
    "AssetFileDef": "tensor_info=1:TensorInfo filename=2:string",
    "SaverDef": (
        "filename_tensor_name=1:string save_tensor_name=2:string restore_op_name=3:string "
        "max_to_keep=4:int32 sharded=5:bool keep_checkpoint_every_n_hours=6:float version=7:int32"
    ),
    "Any": "type_url=1:string value=2:bytes",
    "NodeList": "value=1:*string",
    "BytesList": "value=1:*bytes",
    "Int64List": "value=1:*int64",
    "FloatList": "value=1:*float",
    "AnyList": "value=1:*Any",
    "CollectionDef": (
        "node_list=1:NodeList|kind bytes_list=2:BytesList|kind int64_list=3:Int64List|kind "
        "float_list=4:FloatList|kind any_list=5:AnyList|kind"
    ),
    "MetaInfoDef": (
        "meta_graph_version=1:string stripped_op_list=2:bytes any_info=3:bytes tags=4:*string "
        "tensorflow_version=5:string tensorflow_git_version=6:string stripped_default_attrs=7:bool "
        "function_aliases=8:map<string,string>"
    ),
    "MetaGraphDef": (
        "meta_info_def=1:MetaInfoDef graph_def=2:bytes saver_def=3:SaverDef "
        "collection_def=4:map<string,CollectionDef> signature_def=5:map<string,SignatureDef> "
        "asset_file_def=6:*AssetFileDef object_graph_def=7:bytes"
    ),
    # --- RunMetadata (tensorflow/core/protobuf/config.proto, framework/step_stats.proto) ---
    "AllocatorMemoryUsed": (
        "allocator_name=1:string total_bytes=2:int64 peak_bytes=3:int64 live_bytes=4:int64 "
        "allocation_records=6:*bytes allocator_bytes_in_use=5:int64"
    ),
    "NodeExecStats": (
        "node_name=1:string all_start_micros=2:int64 op_start_rel_micros=3:int64 "
        "op_end_rel_micros=4:int64 all_end_rel_micros=5:int64 memory=6:*AllocatorMemoryUsed "
        "output=7:*bytes timeline_label=8:string scheduled_micros=9:int64 thread_id=10:uint32 "
        "referenced_tensor=11:*bytes memory_stats=12:bytes all_start_nanos=13:int64 "
        "op_start_rel_nanos=14:int64 op_end_rel_nanos=15:int64 all_end_rel_nanos=16:int64 "
        "scheduled_nanos=17:int64"
    ),
    "DeviceStepStats": (
        "device=1:string node_stats=2:*NodeExecStats thread_names=3:map<uint32,string>"
    ),
    "StepStats": "dev_stats=1:*DeviceStepStats",
    "RunMetadata": (
        "step_stats=1:StepStats cost_graph=2:bytes partition_graphs=3:*bytes "
        "function_graphs=4:*bytes session_metadata=5:bytes"
    ),
    # --- tensorflow_serving/apis: warmup requests ---
    "Int64Value": "value=1:int64",
    "ModelSpec": (
        "name=1:string version=2:Int64Value|version_choice version_label=4:string|version_choice "
        "signature_name=3:string"
    ),
    "ExampleList": "examples=1:*bytes",
    "ExampleListWithContext": "examples=1:*bytes context=2:bytes",
    "Input": (
        "example_list=1:ExampleList|kind example_list_with_context=2:ExampleListWithContext|kind"
    ),
    "ClassificationRequest": "model_spec=1:ModelSpec input=2:Input",
    "RegressionRequest": "model_spec=1:ModelSpec input=2:Input",
    "PredictRequest": (
        "model_spec=1:ModelSpec inputs=2:map<string,TensorProto> output_filter=3:*string"
    ),
    "InferenceTask": "model_spec=1:ModelSpec method_name=2:string",
    "MultiInferenceRequest": "tasks=1:*InferenceTask input=2:Input",
    "ClassifyLog": "request=1:ClassificationRequest response=2:bytes",
    "RegressLog": "request=1:RegressionRequest response=2:bytes",
    "PredictLog": "request=1:PredictRequest response=2:bytes",
    "PredictStreamedLog": "request=1:*PredictRequest response=2:*bytes",
    "MultiInferenceLog": "request=1:MultiInferenceRequest response=2:bytes",
    "SessionRunLog": "request=1:bytes response=2:bytes",
    "PredictionLog": (
        "log_metadata=1:bytes classify_log=2:ClassifyLog|log_type regress_log=3:RegressLog|log_type "
        "predict_log=6:PredictLog|log_type predict_streamed_log=7:PredictStreamedLog|log_type "
        "multi_inference_log=4:MultiInferenceLog|log_type session_run_log=5:SessionRunLog|log_type"
    ),
    # --- legacy SessionBundle (tensorflow/contrib/session_bundle/manifest.proto) ---
    "TensorBinding": "tensor_name=1:string",
    "LegacyAssetFile": "tensor_binding=1:TensorBinding filename=2:string",
    "RegressionSignature": "input=1:TensorBinding output=2:TensorBinding",
    "ClassificationSignature": "input=1:TensorBinding classes=2:TensorBinding scores=3:TensorBinding",
    "GenericSignature": "map=1:map<string,TensorBinding>",
    "LegacySignature": (
        "regression_signature=1:RegressionSignature|type "
        "classification_signature=2:ClassificationSignature|type "
        "generic_signature=3:GenericSignature|type"
    ),
    "LegacySignatures": (
        "default_signature=1:LegacySignature named_signatures=2:map<string,LegacySignature>"
    ),
}

_SCALARS = {
    "double": 1, "float": 2, "int64": 3, "uint64": 4, "int32": 5, "fixed64": 6, "bool": 8,
    "string": 9, "bytes": 12, "uint32": 13,
}  # fmt: skip
_TYPE_MESSAGE, _TYPE_ENUM = 11, 14
_LABEL_OPTIONAL, _LABEL_REPEATED = 1, 3

_lock = threading.Lock()
_classes: dict[str, type] | None = None


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _set_type(field: Any, type_name: str) -> None:
    if type_name in _SCALARS:
        field.type = _SCALARS[type_name]
    elif type_name in _ENUMS:
        field.type = _TYPE_ENUM
        field.type_name = f".{PACKAGE}.{type_name}"
    elif type_name in _MESSAGES:
        field.type = _TYPE_MESSAGE
        field.type_name = f".{PACKAGE}.{type_name}"
    else:  # pragma: no cover - a typo in the table above
        raise AssertionError(f"unknown type {type_name}")


def _build_file() -> Any:
    from google.protobuf import descriptor_pb2

    fdp = descriptor_pb2.FileDescriptorProto(
        name="tfbundle_private/tf.proto", package=PACKAGE, syntax="proto3"
    )
    for enum_name, values in _ENUMS.items():
        enum = fdp.enum_type.add(name=enum_name)
        for value_name, number in sorted(values.items(), key=lambda kv: kv[1]):
            enum.value.add(name=value_name, number=number)
    for msg_name, spec in _MESSAGES.items():
        msg = fdp.message_type.add(name=msg_name)
        oneofs: dict[str, int] = {}
        for item in spec.split():
            name, rest = item.split("=", 1)
            number, type_name = rest.split(":", 1)
            oneof = None
            if "|" in type_name:
                type_name, oneof = type_name.split("|", 1)
            field = msg.field.add(name=name, number=int(number), json_name=name)
            field.label = _LABEL_OPTIONAL
            if type_name.startswith("*"):
                field.label = _LABEL_REPEATED
                type_name = type_name[1:]
            if type_name.startswith("map<"):
                key_type, value_type = type_name[4:-1].split(",")
                entry = msg.nested_type.add(name=_camel(name) + "Entry")
                entry.options.map_entry = True
                key = entry.field.add(name="key", number=1, json_name="key", label=_LABEL_OPTIONAL)
                _set_type(key, key_type)
                value = entry.field.add(
                    name="value", number=2, json_name="value", label=_LABEL_OPTIONAL
                )
                _set_type(value, value_type)
                field.label = _LABEL_REPEATED
                field.type = _TYPE_MESSAGE
                field.type_name = f".{PACKAGE}.{msg_name}.{entry.name}"
            else:
                _set_type(field, type_name)
            if oneof is not None:
                if oneof not in oneofs:
                    oneofs[oneof] = len(msg.oneof_decl)
                    msg.oneof_decl.add(name=oneof)
                field.oneof_index = oneofs[oneof]
    return fdp


def _message_classes() -> dict[str, type]:
    global _classes
    if _classes is not None:
        return _classes
    with _lock:
        if _classes is None:
            try:
                from google.protobuf import descriptor_pool, message_factory
            except ImportError as e:  # pragma: no cover - protobuf is a dependency
                raise UnimplementedError(
                    "reading this file needs the protobuf package: pip install protobuf"
                ) from e
            pool = descriptor_pool.DescriptorPool()
            pool.AddSerializedFile(_build_file().SerializeToString())
            classes = {}
            for name in _MESSAGES:
                desc = pool.FindMessageTypeByName(f"{PACKAGE}.{name}")
                if hasattr(message_factory, "GetMessageClass"):
                    classes[name] = message_factory.GetMessageClass(desc)
                else:  # pragma: no cover - protobuf < 4.22
                    classes[name] = message_factory.MessageFactory(pool).GetPrototype(desc)
            _classes = classes
    return _classes


def message_class(name: str) -> type:
    """The message class of one of the messages declared here (``"GraphDef"``)."""
    return _message_classes()[name]


def parse(name: str, data: bytes, what: str) -> Any:
    """Parses serialized bytes as the message ``name``.

    Args:
        name: a message declared here, e.g. ``"GraphDef"``.
        data: the serialized message.
        what: what the bytes are, for the error message (a file name, "record 3 of ...").

    Raises:
        DataLossError: the bytes are not a valid serialized message.
    """
    from google.protobuf.message import DecodeError

    msg = message_class(name)()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise DataLossError(f"{what} is not a valid serialized {name} ({e})") from None
    return msg


def parse_text(name: str, text: str, what: str) -> Any:
    """Parses protobuf text format (``.pbtxt``) as the message ``name``.

    Raises:
        DataLossError: the text is not a valid text-format message, with the
            line and column protobuf reports.
    """
    from google.protobuf import text_format

    msg = message_class(name)()
    try:
        text_format.Parse(text, msg, allow_unknown_extension=False)
    except text_format.ParseError as e:
        raise DataLossError(f"{what} is not a valid text-format {name}: {e}") from None
    return msg


# ------------------------------------------------------------- raw wire format ---
#
# The loaders look at a few top-level fields of a MetaGraphDef (is there a
# SaverDef, which collections are there) without paying for protobuf's import
# and descriptor pool on every load: these walk the wire format directly.

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


def _read_varint(buf: memoryview, pos: int, what: str) -> tuple[int, int]:
    result = shift = 0
    end = len(buf)
    while True:
        if pos >= end or shift > 63:
            raise DataLossError(f"{what} is truncated or malformed (a varint runs past its end)")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def iter_fields(data: bytes | memoryview, what: str) -> Any:
    """Yields ``(field_number, wire_type, value)`` for each field of a serialized message.

    ``value`` is an int for varint and fixed fields and a memoryview (no copy) for
    length-delimited ones. Groups (wire types 3 and 4, unused by TensorFlow) are refused.

    Raises:
        DataLossError: the bytes are not a well-formed message.
    """
    buf = memoryview(data)
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos, what)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise DataLossError(f"{what} is malformed (field number 0 at byte {pos})")
        if wire_type == _VARINT:
            value, pos = _read_varint(buf, pos, what)
            yield number, wire_type, value
        elif wire_type == _LENGTH:
            length, pos = _read_varint(buf, pos, what)
            if pos + length > end:
                raise DataLossError(
                    f"{what} is truncated (a field of {length} bytes runs past its end)"
                )
            yield number, wire_type, buf[pos : pos + length]
            pos += length
        elif wire_type == _FIXED64:
            if pos + 8 > end:
                raise DataLossError(f"{what} is truncated")
            yield number, wire_type, int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wire_type == _FIXED32:
            if pos + 4 > end:
                raise DataLossError(f"{what} is truncated")
            yield number, wire_type, int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            raise DataLossError(
                f"{what} is not a protobuf message (wire type {wire_type} at byte {pos})"
            )


def strings_of(data: bytes | memoryview, number: int, what: str) -> list[str]:
    """The values of the repeated string field ``number`` of a serialized message."""
    return [
        bytes(v).decode("utf-8", "replace")
        for n, t, v in iter_fields(data, what)
        if n == number and t == _LENGTH
    ]


def varint_bytes(value: int) -> bytes:
    """``value`` as a protobuf varint."""
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def length_field(number: int, payload: bytes | memoryview) -> bytes:
    """A length-delimited field ``number`` holding ``payload``, serialized."""
    return varint_bytes((number << 3) | _LENGTH) + varint_bytes(len(payload)) + bytes(payload)


# ------------------------------------------------------- TensorProto -> numpy ---

_FIELD_BY_DTYPE = {
    1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val", 6: "int_val",
    7: "string_val", 8: "scomplex_val", 9: "int64_val", 10: "bool_val", 11: "int_val",
    12: "int_val", 13: "int_val", 14: "half_val", 15: "int_val", 16: "int_val", 17: "int_val",
    18: "dcomplex_val", 19: "half_val", 22: "uint32_val", 23: "uint64_val",
}  # fmt: skip


def tensor_to_numpy(proto: Any, what: str) -> np.ndarray:
    """Converts a ``TensorProto`` message to a numpy array, as ``Tensor::FromProto`` does.

    ``tensor_content`` holds the raw bytes; otherwise the typed repeated field
    holds the values, and when it has fewer than the shape needs, the last one
    fills the rest (none at all: zeros), as TensorFlow fills them.

    Args:
        proto: a ``TensorProto`` message of this module.
        what: what the tensor is, for error messages.

    Raises:
        InvalidArgumentError: an unknown shape, more values than the shape
            holds, or content of the wrong size.
        UnimplementedError: a dtype numpy cannot hold (resource, variant, float8).
    """
    from ._base.dtypes import dtype_name, numpy_dtype

    code = int(proto.dtype)
    dtype = numpy_dtype(code, runnable_only=True) if code < 100 else None
    if dtype is None or code not in _FIELD_BY_DTYPE:
        raise UnimplementedError(
            f"{what} has dtype {dtype_name(code)}, which tfbundle cannot feed from numpy"
        )
    if proto.tensor_shape.unknown_rank:
        raise InvalidArgumentError(f"{what} has an unknown rank: a tensor needs a full shape")
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise InvalidArgumentError(f"{what} has an unknown dimension in its shape {shape}")
    size = int(np.prod(shape, dtype=np.int64))
    if proto.tensor_content and code != 7:
        content = bytes(proto.tensor_content)
        want = size * dtype.itemsize
        if len(content) != want:
            raise InvalidArgumentError(
                f"{what}: tensor_content holds {len(content)} bytes, the shape {shape} of "
                f"{dtype_name(code)} needs {want}"
            )
        return np.frombuffer(content, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    field = _FIELD_BY_DTYPE[code]
    raw = list(getattr(proto, field))
    if code == 7:
        values = np.empty(len(raw), dtype=object)
        values[:] = [bytes(v) for v in raw]
    elif code in (8, 18):  # complex: (real, imaginary) pairs
        pairs = np.asarray(raw, dtype=np.float32 if code == 8 else np.float64)
        values = (pairs[0::2] + 1j * pairs[1::2]).astype(dtype)
    elif code in (14, 19):  # half and bfloat16 keep their 16 bits in an int32 each
        values = np.asarray(raw, dtype=np.int64).astype(np.uint16).view(dtype)
    else:
        values = np.asarray(raw).astype(dtype) if raw else np.empty(0, dtype)
    count = len(values)
    if count > size:
        raise InvalidArgumentError(
            f"{what} holds {count} values, more than its shape {shape} has room for ({size})"
        )
    if count == size:
        return values.reshape(shape)
    out = np.empty(size, dtype=dtype) if code == 7 else np.zeros(size, dtype=dtype)
    if code == 7 and count == 0:
        out[:] = b""
    if count:
        out[:count] = values
        out[count:] = values[-1]
    return out.reshape(shape)
