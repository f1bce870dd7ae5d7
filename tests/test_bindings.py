"""What the bindings hand to Python: tfbundle's errors for wrong types, the DataType table, typed records."""

from __future__ import annotations

import gc
import subprocess
import sys

import numpy as np
import pytest

import tfbundle
from tfbundle import _core, errors
from tfbundle._base import dtypes
from tfbundle._readers.checkpoint import resolve_checkpoint_prefix
from tfbundle.cli.demo import demo_model_path
from tfbundle.errors import InvalidArgumentError, InvalidTypeError

X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)


@pytest.fixture(scope="module")
def model():
    with tfbundle.load(demo_model_path()) as m:
        yield m


def _is_invalid_type(exc: BaseException) -> bool:
    return (
        isinstance(exc, InvalidTypeError)
        and isinstance(exc, TypeError)
        and isinstance(exc, InvalidArgumentError)
        and isinstance(exc, tfbundle.Error)
        and exc.code == 3
    )


# ------------------------------------------------------------ wrong types ---


def test_wrong_dtype_input_is_invalid_type_error(model):
    sig = model.signatures["serving_default"]
    calls = [
        lambda: model(x=X.astype(np.float64)),
        lambda: sig.run({"x": X.astype(np.int32)}),
        lambda: model.run(
            "StatefulPartitionedCall:0", {"serving_default_x:0": X.astype(np.float16)}
        ),
    ]
    for call in calls:
        with pytest.raises(
            TypeError, match=r"expects float32, got an array of (float64|int32|float16)"
        ) as info:
            call()
        assert _is_invalid_type(info.value)


def test_values_numpy_cannot_convert(model):
    with pytest.raises(
        InvalidTypeError, match=r"input 'x' .*expects float32.*could not convert the list"
    ) as info:
        model(x=[[object()] * 4])
    assert _is_invalid_type(info.value)
    for bad in ([["a", "b", "c", "d"]], [[1, 2, 3, 4], [1]], [[10**400] * 4]):
        with pytest.raises(
            ValueError, match=r"input 'x' of signature 'serving_default' expects float32"
        ) as info:
            model(x=bad)
        assert type(info.value) is InvalidArgumentError


def test_output_keys_must_be_str(model):
    sig = model.signatures["serving_default"]
    with pytest.raises(InvalidTypeError, match=r"outputs must be str, got 1 \(int\)") as info:
        sig.run({"x": X}, [1])
    assert _is_invalid_type(info.value)
    with pytest.raises(InvalidTypeError, match="outputs must be a list of output keys, got str"):
        sig._native.run({"x": X}, "probabilities")
    assert [a.shape for a in sig.run({"x": X}, ("probabilities",))] == [(2, 3)]


def test_string_inputs_of_the_wrong_type(tf_models):
    with tfbundle.load(tf_models("zero_copy")) as m:
        with pytest.raises(TypeError, match="items must be bytes or str, got int") as info:
            m.run("s_upper:0", {"s:0": np.array([1, "a"], dtype=object)})
        assert _is_invalid_type(info.value)
        with pytest.raises(TypeError, match=r"expects strings .*got an array of float64") as info:
            m.run("s_upper:0", {"s:0": np.array([1.0])})
        assert _is_invalid_type(info.value)
        with pytest.raises(TypeError, match="items must be bytes or str, got float") as info:
            m.run("s_upper:0", {"s:0": [b"a", 2.5]})
        assert _is_invalid_type(info.value)


def test_string_inputs_with_surrogates(tf_models):
    """Bytes that were not UTF-8, carried in a str by surrogateescape, reach TensorFlow as they
    were; a lone surrogate, which has no bytes, is a tfbundle error naming the input."""
    with tfbundle.load(tf_models("zero_copy")) as m:
        raw = b"caf\xe9"  # Latin-1, not UTF-8
        out = m.run("s_upper:0", {"s:0": [raw.decode("utf-8", "surrogateescape")]})
        assert out.tolist() == [b"CAF\xe9"]
        with pytest.raises(tfbundle.InvalidArgumentError, match="lone surrogate"):
            m.run("s_upper:0", {"s:0": ["\ud800"]})


def test_checkpoint_key_of_the_wrong_type():
    with tfbundle.open_checkpoint(demo_model_path()) as ckpt:
        with pytest.raises(TypeError, match="checkpoint tensor names are str, got int") as info:
            ckpt[3]  # type: ignore[index]
        assert _is_invalid_type(info.value)
    reader = _core.BundleReader(resolve_checkpoint_prefix(demo_model_path()))
    for call in (lambda: reader.tensor(3), lambda: reader.entry(2.5), lambda: 3 in reader):
        with pytest.raises(
            TypeError, match=r"a checkpoint key must be str or bytes, got (int|float)"
        ) as info:
            call()
        assert _is_invalid_type(info.value)
    with pytest.raises(InvalidTypeError, match="a data shard must be bytes, got int"):
        _core.BundleReader.from_bytes(b"", [1])


# ------------------------------------------------------- the dtype table ---


def test_dtype_table_is_the_cores():
    table = _core.DTYPES
    assert len({d.value for d in table}) == len(table) == len(dtypes.DTYPE_NAMES)
    by_value = {d.value: d for d in table}
    f32, string, bf16, ref = by_value[1], by_value[7], by_value[14], by_value[101]
    assert (f32.name, f32.python_name, f32.numpy_name, f32.ml_dtypes, f32.runnable) == (
        "DT_FLOAT",
        "float32",
        "float32",
        False,
        True,
    )
    assert (string.python_name, string.numpy_name, string.runnable) == ("string", "object", True)
    assert (bf16.numpy_name, bf16.ml_dtypes, bf16.runnable) == ("bfloat16", True, True)
    assert (ref.name, ref.python_name, ref.runnable) == ("DT_FLOAT_REF", "float32_ref", False)
    assert not by_value[20].numpy_name and not by_value[20].runnable  # DT_RESOURCE
    assert by_value[24].ml_dtypes and not by_value[24].runnable  # float8: checkpoints only
    assert {d.value for d in table if d.runnable} == dtypes.RUNNABLE
    for d in table:
        assert dtypes.dtype_name(d.value) == _core.dtype_name(d.value) == d.name
        assert dtypes.python_dtype_name(d.value) == (d.python_name or f"<DataType {d.value}>")
    assert _core.dtype_name(999) == dtypes.dtype_name(999) == "DT_999"
    assert dtypes.numpy_dtype(1) == np.float32 and dtypes.numpy_dtype(101) == np.float32
    assert dtypes.numpy_dtype(7) == np.dtype(object) and dtypes.numpy_dtype(20) is None
    assert dtypes.numpy_dtype(24, runnable_only=True) is None
    import ml_dtypes

    assert dtypes.numpy_dtype(14) == ml_dtypes.bfloat16 and dtypes.numpy_dtype(29) == ml_dtypes.int4


def test_ml_dtypes_is_imported_only_when_needed():
    code = (
        "import sys, numpy as np, tfbundle\n"
        "from tfbundle.cli.demo import demo_model_path\n"
        "m = tfbundle.load(demo_model_path())\n"
        "m(x=np.zeros((1, 4), np.float32))\n"
        "with tfbundle.open_checkpoint(demo_model_path()) as c:\n"
        "    [c[k] for k in c.keys()]\n"
        "print('ml_dtypes' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False"]


# --------------------------------------------------------- typed records ---


def test_checkpoint_entries_are_typed():
    with tfbundle.open_checkpoint(demo_model_path()) as ckpt:
        reader = _core.BundleReader(resolve_checkpoint_prefix(demo_model_path()))
        entries = reader.entries()
        assert [e.key for e in entries] == reader.keys()
        for e in entries:
            assert isinstance(e, _core.CheckpointEntry)
            spec = ckpt.spec(e.key)
            assert (_core.dtype_name(e.dtype), e.shape, e.size, e.shard_id, e.offset) == (
                spec.tf_dtype,
                spec.shape,
                spec.nbytes,
                spec.shard,
                spec.offset,
            )
            assert e.slices == () and isinstance(e.crc32c, int)
            assert repr(e).startswith("<CheckpointEntry ")
            assert reader.entry(e.key).key == e.key
        with pytest.raises(AttributeError):
            entries[0].size = 1  # type: ignore[misc]


def test_errors_cross_with_their_code(model):
    with pytest.raises(
        errors.UnimplementedError, match="DT_RESOURCE tensor, which has no numpy form"
    ):
        model.run("w1:0")


def test_inspection_is_typed_and_views_keep_their_root():
    reading = _core.inspect_saved_model(str(demo_model_path()), ops=True, cli=True)
    assert isinstance(reading, _core.SavedModelReading) and reading.format == "pb"
    meta = reading.meta_graphs[0]
    assert isinstance(meta, _core.MetaGraphReading) and meta.tags == ["serve"]
    sig = next(s for s in meta.signatures if s.key == "serving_default")
    x = sig.inputs["x"]
    assert (x.dtype, x.tf_dtype, x.shape, x.dims, x.encoding) == (
        1,
        "DT_FLOAT",
        (None, 4),
        [-1, 4],
        "dense",
    )
    ops = meta.ops
    assert (
        isinstance(ops, _core.GraphOps) and ops.counts and set(ops.policy_counts) <= set(ops.counts)
    )
    assert isinstance(reading.variables, _core.VariablesSummary) and reading.variables.error is None
    functions = reading.functions
    assert isinstance(functions, _core.FunctionListing)
    del reading, meta
    gc.collect()
    # the views outlive their root: the demo model's object graph lists its two signature functions
    assert ops.graph_nodes > 0 and functions.present and len(functions.functions) == 2
    for fn in functions.functions:
        for cf in fn.concrete_functions:
            sig_value = cf.input_signature
            assert sig_value is None or sig_value.kind in ("tuple", "list")


def test_python_wrappers_raise_tfbundle_errors_for_wrong_types() -> None:
    """sig.run and Model.run check their arguments' types before the core sees them."""
    import tfbundle
    from tfbundle.cli.demo import demo_model_path

    with tfbundle.load(demo_model_path()) as model:
        sig = model.signatures["serving_default"]
        for call in (
            lambda: sig.run(5),  # type: ignore[arg-type]
            lambda: sig.run({"x": [[1.0, 2.0, 3.0, 4.0]]}, outputs=1),  # type: ignore[arg-type]
            lambda: sig.run({"x": [[1.0, 2.0, 3.0, 4.0]]}, outputs=[b"probabilities"]),  # type: ignore[list-item]
            lambda: model.run([3]),  # type: ignore[list-item]
            lambda: model.run("x:0", feeds=5),  # type: ignore[arg-type]
            lambda: model.run("x:0", feeds={3: 1.0}),  # type: ignore[dict-item]
            lambda: model.run(None, targets=[7]),  # type: ignore[list-item]
        ):
            with pytest.raises(tfbundle.InvalidTypeError) as info:
                call()
            assert isinstance(info.value, TypeError) and isinstance(info.value, tfbundle.Error)
        # the right types still run
        assert sig.run({"x": [[5.1, 3.5, 1.4, 0.2]]}, outputs="class_ids")[0].tolist() == [0]


def test_other_byte_order_type_alias_and_strided_bfloat16_inputs(models) -> None:
    """A big-endian array is converted (its bytes must not reach TensorFlow as they are), an
    array of an equal type under another type number is accepted, and a non-contiguous bfloat16
    array is copied (ml_dtypes' types have no buffer-protocol format)."""
    import ml_dtypes

    with tfbundle.load(models.folder("dtypes")) as m:
        sig = m.signatures["dt_float32"]
        x = np.array([1.0, 2.0, 3.0], np.float32)
        want = sig(x=x, y=x)
        got = sig(x=x.astype(">f4"), y=x)
        assert want.keys() == got.keys()
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
        ints = m.signatures["dt_int64"]
        one = np.array([1, 2, 3], np.int64)
        want = ints(x=one, y=one)
        for alias in (np.longlong, np.dtype(">i8")):
            got = ints(x=np.array([1, 2, 3], alias), y=one)
            for key in want:
                np.testing.assert_array_equal(got[key], want[key])
        bf = m.signatures["dt_bfloat16"]
        strided = np.arange(8, dtype=ml_dtypes.bfloat16)[::2]
        assert not strided.flags.c_contiguous
        want = bf(x=np.ascontiguousarray(strided), y=np.ascontiguousarray(strided))
        got = bf(x=strided, y=strided)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
        with pytest.raises(InvalidTypeError, match="expects float32, got an array of float64"):
            sig(x=x.astype(np.float64), y=x)


def test_failed_allocation_raises_resource_exhausted(tmp_path) -> None:
    """A copy TensorFlow cannot allocate is ResourceExhaustedError, not a write through NULL."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import numpy as np, tfbundle
        m = tfbundle.load({demo_model_path()!r})
        huge = np.broadcast_to(np.float32(1), (1 << 40, 4))  # 16 TiB, no memory: a strided view
        try:
            m(x=huge)
        except tfbundle.ResourceExhaustedError as e:
            print("refused:", e)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "refused: TensorFlow could not allocate" in proc.stdout
