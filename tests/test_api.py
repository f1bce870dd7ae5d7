"""The Python API on the model tfbundle carries and on hand-made folders."""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import tfbundle
from tfbundle import errors
from tfbundle.cli.demo import demo_model_path

X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)


@pytest.fixture(scope="module")
def model():
    with tfbundle.load(demo_model_path()) as m:
        yield m


def test_signatures_and_specs(model):
    assert set(model.signatures) == {"serving_default", "logits"}
    assert model.tags == frozenset({"serve"})
    sig = model.signatures["serving_default"]
    assert sig.name == "serving_default"
    assert sig.method_name == "tensorflow/serving/predict"
    x = sig.inputs["x"]
    assert (x.name, x.dtype, x.shape, x.tf_dtype) == ("x", np.dtype(np.float32), (None, 4), "DT_FLOAT")
    assert x.tensor_name == "serving_default_x:0"
    assert sig.outputs["class_ids"].dtype == np.int64
    assert sig.outputs["probabilities"].shape == (None, 3)
    with pytest.raises(TypeError):
        model.signatures["other"] = sig  # read-only mapping
    with pytest.raises(errors.NotFoundError, match=r"no signature named 'nope'.*'logits', 'serving_default'"):
        model.signatures["nope"]


def test_call_forms_agree(model):
    out = model(x=X)
    assert set(out) == {"class_ids", "probabilities"}
    assert out["probabilities"].shape == (2, 3)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out["class_ids"], out["probabilities"].argmax(axis=1))
    sig = model.signatures["serving_default"]
    probs, ids = sig.run({"x": X}, ["probabilities", "class_ids"])
    np.testing.assert_array_equal(probs, out["probabilities"])
    np.testing.assert_array_equal(ids, out["class_ids"])
    assert [a.shape for a in sig.run({"x": X})] == [(2,), (2, 3)]  # sorted output keys
    logits = model.signatures["logits"](x=X)["logits"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), out["probabilities"], rtol=1e-5)


def test_lists_and_non_contiguous_inputs(model):
    expected = model(x=X)["probabilities"]
    np.testing.assert_allclose(model(x=X.tolist())["probabilities"], expected)
    wide = np.zeros((2, 8), np.float32)
    wide[:, ::2] = X
    np.testing.assert_allclose(model(x=wide[:, ::2])["probabilities"], expected)
    fortran = np.asfortranarray(X)
    np.testing.assert_allclose(model(x=fortran)["probabilities"], expected)
    assert model(x=np.zeros((0, 4), np.float32))["probabilities"].shape == (0, 3)


def test_bad_inputs_raise_clear_errors(model):
    with pytest.raises(TypeError, match=r"input 'x' of signature 'serving_default' expects float32, got .*float64"):
        model(x=X.astype(np.float64))
    with pytest.raises(ValueError, match=r"expects shape \(None, 4\), got \(2, 3\)"):
        model(x=X[:, :3].copy())
    with pytest.raises(errors.InvalidArgumentError, match=r"expects shape \(None, 4\), got \(4,\)"):
        model(x=X[0])
    with pytest.raises(errors.InvalidArgumentError, match="has no input 'y'; it takes 'x'"):
        model(x=X, y=X)
    with pytest.raises(errors.InvalidArgumentError, match="is missing input 'x'; it takes 'x'"):
        model()
    message = "no output 'nope'; its outputs are 'class_ids', 'probabilities'"
    with pytest.raises(errors.InvalidArgumentError, match=message):
        model.signatures["serving_default"].run({"x": X}, ["nope"])
    with pytest.raises(ValueError, match="could not convert string to float"):
        model(x=[["a", "b", "c", "d"]])


def test_outputs_are_not_copies(model):
    out = model(x=X)["probabilities"]
    # The array is a view of TensorFlow's buffer, owned by a capsule that frees
    # the TF_Tensor with the last view; a freshly computed buffer is writable.
    assert not out.flags.owndata
    assert type(out.base).__name__ == "PyCapsule"
    assert out.flags.writeable
    out[0, 0] = 1.0


def test_aligned_helpers(model):
    x = tfbundle.empty((2, 4), np.float32)
    assert x.ctypes.data % 64 == 0 and x.flags.c_contiguous
    x[...] = X
    # TF1 Session.run semantics: fetching a fed tensor returns the fed value.
    np.testing.assert_array_equal(model.run("serving_default_x:0", {"serving_default_x:0": x}), X)
    a = tfbundle.aligned(X)
    assert a.ctypes.data % 64 == 0 and tfbundle.aligned(a) is a
    np.testing.assert_array_equal(a, X)
    z = tfbundle.zeros((3, 5), np.int64)
    assert z.dtype == np.int64 and z.shape == (3, 5) and not z.any() and z.ctypes.data % 64 == 0


def test_raw_run_shapes(model):
    feeds = {"serving_default_x:0": X}
    one = model.run("StatefulPartitionedCall_1:1", feeds)
    assert one.shape == (2, 3)
    lst = model.run(["StatefulPartitionedCall_1:0", "StatefulPartitionedCall_1:1"], feeds)
    assert [a.shape for a in lst] == [(2,), (2, 3)]
    d = model.run({"p": "StatefulPartitionedCall_1:1"}, feeds)
    np.testing.assert_array_equal(d["p"], one)
    assert model.run(None, feeds, targets=["StatefulPartitionedCall_1"]) is None
    with pytest.raises(errors.NotFoundError, match="no operation named 'nope'"):
        model.run("nope:0")
    with pytest.raises(errors.NotFoundError, match="has 2 output"):
        model.run("StatefulPartitionedCall_1:7", feeds)
    with pytest.raises(errors.InvalidArgumentError, match="is not a tensor name"):
        model.run("x:abc")
    with pytest.raises(errors.UnimplementedError, match="DT_RESOURCE tensor, which has no numpy form"):
        model.run("w1:0")
    with pytest.raises(TypeError, match="expects float32"):
        model.run("StatefulPartitionedCall_1:1", {"serving_default_x:0": X.astype(np.float64)})


def test_devices(model):
    devices = model.devices()
    assert any(d.type == "CPU" for d in devices)
    assert all(d.name.startswith("/job:") for d in devices)


def test_close_then_use_raises_closed_error():
    m = tfbundle.load(demo_model_path())
    sig = m.signatures["serving_default"]
    out = m(x=X)["probabilities"]
    m.close()
    m.close()  # idempotent
    assert m.closed and "closed" in repr(m)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)  # arrays outlive the model
    for call in (lambda: m(x=X), lambda: sig(x=X), lambda: sig.run({"x": X}), lambda: m.run("w1:0"), m.devices):
        with pytest.raises(tfbundle.ClosedError, match="closed"):
            call()
    assert issubclass(tfbundle.ClosedError, errors.FailedPreconditionError)


def test_context_manager_closes():
    with tfbundle.load(demo_model_path()) as m:
        assert m(x=X)["class_ids"].shape == (2,)
    assert m.closed


def test_versioned_folder_picks_highest(tmp_path):
    for v in ("1", "10", "9"):
        shutil.copytree(demo_model_path(), tmp_path / v)
    (tmp_path / "11-not-a-version").mkdir()
    (tmp_path / "12").mkdir()  # no model inside: skipped
    m = tfbundle.load(tmp_path)
    assert Path(m.path) == tmp_path / "10"
    m.close()
    assert Path(tfbundle.load(tmp_path / "9" / "saved_model.pb").path) == tmp_path / "9"


def test_bad_paths(tmp_path):
    with pytest.raises(tfbundle.NotFoundError, match="does not exist") as info:
        tfbundle.load(tmp_path / "missing")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(tfbundle.NotFoundError, match=r"no saved_model.pb or saved_model.pbtxt"):
        tfbundle.load(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(tfbundle.NotFoundError, match="is a file"):
        tfbundle.load(tmp_path / "file.txt")


def test_malformed_saved_model(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "saved_model.pb").write_bytes(b"\x12\xff\xff\xff\x0fgarbage")
    with pytest.raises(tfbundle.DataLossError, match="malformed"):
        tfbundle.load(bad)
    (bad / "saved_model.pb").write_bytes(b"")
    with pytest.raises(tfbundle.DataLossError, match="holds no MetaGraphDef"):
        tfbundle.load(bad)
    truncated = tmp_path / "truncated"
    shutil.copytree(demo_model_path(), truncated)
    data = (truncated / "saved_model.pb").read_bytes()
    (truncated / "saved_model.pb").write_bytes(data[: len(data) // 2])
    with pytest.raises(tfbundle.Error):
        tfbundle.load(truncated)
    chunked = tmp_path / "chunked"
    chunked.mkdir()
    (chunked / "saved_model.cpb").write_bytes(b"\0" * 16)
    with pytest.raises(tfbundle.UnimplementedError, match="chunked SavedModel format"):
        tfbundle.load(chunked)


def test_missing_variables_is_a_tensorflow_error(tmp_path):
    broken = tmp_path / "novars"
    shutil.copytree(demo_model_path(), broken)
    (broken / "variables" / "variables.data-00000-of-00001").unlink()
    with pytest.raises(tfbundle.Error, match="could not load the SavedModel"):
        tfbundle.load(broken)


def test_tags_argument():
    path = demo_model_path()
    assert tfbundle.load(path, tags="serve").tags == frozenset({"serve"})
    assert tfbundle.load(path, tags=["serve"]).tags == frozenset({"serve"})
    with pytest.raises(tfbundle.NotFoundError, match='no MetaGraph with the tag-set "gpu,serve"; it has "serve"'):
        tfbundle.load(path, tags="serve,gpu")
    with pytest.raises(tfbundle.NotFoundError, match="the empty tag-set"):
        tfbundle.load(path, tags=[])
    with pytest.raises(TypeError, match="tags must be strings"):
        tfbundle.load(path, tags=[1])


def test_session_options_are_checked():
    for inter in (None, 0, 1):  # calling thread, TensorFlow's pool, a pool of one
        m = tfbundle.load(demo_model_path(), intra_op_threads=1, inter_op_threads=inter, visible_devices=[])
        assert m(x=X)["class_ids"].shape == (2,)
        m.close()
    with pytest.raises(tfbundle.InvalidArgumentError, match="intra_op_threads must be a non-negative int"):
        tfbundle.load(demo_model_path(), intra_op_threads=-1)
    with pytest.raises(tfbundle.InvalidArgumentError, match="inter_op_threads must be a non-negative int"):
        tfbundle.load(demo_model_path(), inter_op_threads=True)


@pytest.mark.parametrize(
    "cls", [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.Error)]
)
def test_errors_pickle(cls):
    e = cls("some message")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is cls and back.message == "some message" and str(back) == "some message"


def test_error_codes_map_to_classes():
    assert isinstance(errors.error_for_code(5, "m"), FileNotFoundError)
    assert isinstance(errors.error_for_code(3, "m"), ValueError)
    assert type(errors.error_for_code(12, "m")) is errors.UnimplementedError
    assert type(errors.error_for_code(999, "m")) is errors.UnknownError
    assert type(errors.error_for_code(1000, "m")) is errors.ClosedError


def _saved_model_with_tag_sets(folder: Path, *tag_sets: list[str]) -> None:
    """A saved_model.pb holding empty MetaGraphDefs with these tag-sets (tag choice reads only that)."""

    def field(number: int, payload: bytes) -> bytes:
        assert len(payload) < 128
        return bytes([number << 3 | 2, len(payload)]) + payload

    graphs = b"".join(field(2, field(1, b"".join(field(4, t.encode()) for t in tags))) for tags in tag_sets)
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(graphs)


def test_several_tag_sets_without_serve_need_tags(tmp_path):
    _saved_model_with_tag_sets(tmp_path / "m", ["train"], ["eval", "gpu"])
    message = 'none is \'serve\': pass tags=... to load one of "train", "eval,gpu"'
    with pytest.raises(tfbundle.InvalidArgumentError, match=re.escape(message)):
        tfbundle.load(tmp_path / "m")
    with pytest.raises(tfbundle.NotFoundError, match='no MetaGraph with the tag-set "serve"'):
        tfbundle.load(tmp_path / "m", tags="serve")


def test_groups_in_the_wire_format_are_skipped(tmp_path):
    """Deprecated protobuf groups are legal: the reader skips them, and refuses an unterminated one."""
    _saved_model_with_tag_sets(tmp_path / "m", ["train"], ["eval"])
    pb = tmp_path / "m" / "saved_model.pb"
    meta_graphs = pb.read_bytes()
    group = bytes([9 << 3 | 3, 1 << 3 | 0, 7, 9 << 3 | 4])  # field 9: start group, a varint, end group
    pb.write_bytes(group + meta_graphs)
    with pytest.raises(tfbundle.InvalidArgumentError, match='"train", "eval"'):
        tfbundle.load(tmp_path / "m")  # both tag-sets were read past the group
    pb.write_bytes(meta_graphs + bytes([9 << 3 | 3, 1 << 3 | 0, 7]))
    with pytest.raises(tfbundle.DataLossError, match="unterminated group"):
        tfbundle.load(tmp_path / "m")


def test_no_tensorflow_anywhere_says_how_to_install(monkeypatch):
    from tfbundle._runtime import library as _library

    monkeypatch.delenv("TFBUNDLE_LIBTENSORFLOW", raising=False)
    monkeypatch.setattr(_library.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        tfbundle.TensorFlowNotFoundError, match=r"pip install 'tfbundle\[cpu\]'.*TFBUNDLE_LIBTENSORFLOW"
    ):
        _library.find_libraries()


def test_names_of_earlier_releases_still_resolve() -> None:
    """Types moved to tfbundle.types and tfbundle.examples (now tf_example) are still found."""
    assert tfbundle.TensorSpec is tfbundle.types.TensorSpec
    assert tfbundle.SavedModelInfo is tfbundle.types.SavedModelInfo
    assert tfbundle.CheckpointKeyError is errors.CheckpointKeyError
    with pytest.warns(DeprecationWarning, match="tfbundle.tf_example"):
        assert tfbundle.examples is tfbundle.tf_example
    assert {"examples", "TensorSpec", "load"} <= set(dir(tfbundle))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tfbundle.nope  # noqa: B018
