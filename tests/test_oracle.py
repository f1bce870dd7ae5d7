"""tfbundle against TensorFlow itself, on models exported by tests/makers/zoo.py.

Each case holds inputs and the outputs TensorFlow's own Python API computed for them
(TF1 sessions for TF1 exports, ``tf.saved_model.load`` signatures for TF2 ones). The
tests load the same folders with tfbundle and compare: outputs (exactly for integers,
booleans and strings, within a tight tolerance for floats), signature specs against
the MetaGraphDef, tag-set choice, assets read from another working directory,
``Model.run`` by tensor names, classify/regress on serialized tf.Example strings.
"""

from __future__ import annotations

import gc
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import tfbundle
from _util import (
    ModelZoo,
    assert_array_matches,
    assert_outputs_match,
    dtype_from_name,
    encode_example,
)
from makers.zoo import CASE_IDS, RUN_CASE_IDS
from tfbundle import errors

MODEL_NAMES = sorted({case_id.split("/")[0].split("@")[0] for case_id in CASE_IDS})

LoadFn = Callable[..., "tfbundle.Model"]


@pytest.fixture(scope="module")
def loaded(models: ModelZoo) -> Iterator[LoadFn]:
    """Loads each (model, tags) once for this module; closes them all at the end."""
    cache: dict[tuple[str, tuple[str, ...]], tfbundle.Model] = {}

    def get(model: str, tags: tuple[str, ...]) -> tfbundle.Model:
        key = (model, tuple(sorted(tags)))
        if key not in cache:
            cache[key] = tfbundle.load(models.folder(model), tags=list(tags))
        return cache[key]

    yield get
    for m in cache.values():
        m.close()


def test_manifest_lists_every_case(models: ModelZoo) -> None:
    assert sorted(models.case_ids) == sorted(CASE_IDS)
    assert sorted(models.run_case_ids) == sorted(RUN_CASE_IDS)
    assert sorted(models.model_names) == sorted(MODEL_NAMES), (
        "every model makers/zoo.py writes must have at least one oracle case"
    )


# ----------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_signature_call_matches_tensorflow(models: ModelZoo, loaded: LoadFn, case_id: str) -> None:
    case = models.case(case_id)
    sig = loaded(case.model, case.tags).signatures[case.signature]
    assert_outputs_match(sig(**case.inputs), case.expected, f"{case_id} sig(**inputs)")


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_mapped_restore_matches_tensorflow(models: ModelZoo, model: str) -> None:
    """Every model of the zoo (TF1 and TF2 exports, Keras, strings, assets) restored from the
    memory-mapped shards gives TensorFlow's outputs."""
    checked = 0
    for case_id in CASE_IDS:
        case = models.case(case_id)
        if case.model != model:
            continue
        with tfbundle.load(models.folder(model), tags=list(case.tags), restore="mmap") as m:
            assert m.restore_stats is not None
            got = m.signatures[case.signature](**case.inputs)
        assert_outputs_match(got, case.expected, f"{case_id} restore='mmap'")
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_grappler_settings_change_no_output(models: ModelZoo, model: str) -> None:
    """tfbundle's grappler settings (the default, "fast") and TensorFlow's own ("tensorflow") give
    the same outputs to the last bit, and TensorFlow's."""
    checked = 0
    for case_id in CASE_IDS:
        case = models.case(case_id)
        if case.model != model:
            continue
        got = {}
        for grappler in ("fast", "tensorflow"):
            with tfbundle.load(models.folder(model), tags=list(case.tags), grappler=grappler) as m:
                got[grappler] = m.signatures[case.signature](**case.inputs)
            assert_outputs_match(got[grappler], case.expected, f"{case_id} grappler={grappler!r}")
        assert sorted(got["fast"]) == sorted(got["tensorflow"])
        for key, fast in got["fast"].items():
            slow = got["tensorflow"][key]
            assert fast.dtype == slow.dtype and fast.shape == slow.shape, (case_id, key)
            same = np.array_equal(fast, slow, equal_nan=fast.dtype.kind in "fc")
            assert same, f"{case_id} {key!r}: grappler='fast' differs from grappler='tensorflow'"
        checked += 1
    assert checked > 0


def test_grappler_setting_must_be_known(models: ModelZoo) -> None:
    with pytest.raises(errors.InvalidArgumentError, match=r'grappler must be "fast" or "tensorflow", got "off"'):
        tfbundle.load(models.folder(MODEL_NAMES[0]), grappler="off")


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_signature_run_matches_tensorflow(models: ModelZoo, loaded: LoadFn, case_id: str) -> None:
    case = models.case(case_id)
    sig = loaded(case.model, case.tags).signatures[case.signature]
    keys = sorted(case.expected)
    got = sig.run(case.inputs)
    assert isinstance(got, list) and len(got) == len(keys)
    for key, arr in zip(keys, got):
        assert_array_matches(arr, case.expected[key], f"{case_id} run(): {key!r}")
    # An explicit order (reversed) is the order of the results.
    got = sig.run(case.inputs, outputs=keys[::-1])
    for key, arr in zip(keys[::-1], got):
        assert_array_matches(arr, case.expected[key], f"{case_id} run(outputs=...): {key!r}")
    if len(keys) > 1:
        got = sig.run(case.inputs, outputs=keys[:1])
        assert len(got) == 1
        assert_array_matches(got[0], case.expected[keys[0]], f"{case_id} one output")


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_repeated_calls_are_stable(models: ModelZoo, loaded: LoadFn, case_id: str) -> None:
    """Outputs of an earlier call stay right after later calls (no shared buffers)."""
    case = models.case(case_id)
    sig = loaded(case.model, case.tags).signatures[case.signature]
    first = sig(**case.inputs)
    second = sig(**case.inputs)
    gc.collect()
    assert_outputs_match(first, case.expected, f"{case_id} first call")
    assert_outputs_match(second, case.expected, f"{case_id} second call")


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_model_call_uses_default_signature(models: ModelZoo, model: str) -> None:
    info = models.info(model)
    with tfbundle.load(models.folder(model)) as m:
        default = info["default_signature"]
        if default is None:
            names = sorted(m.signatures)
            with pytest.raises(errors.Error) as exc:
                m()
            assert "serving_default" in str(exc.value)
            assert any(name in str(exc.value) for name in names), (
                f"the message should list the signatures: {exc.value}"
            )
            return
        case = models.case(f"{model}/{default}")
        assert_outputs_match(m(**case.inputs), case.expected, f"{model}()")


# ----------------------------------------------------------------------------- specs


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_signature_specs_match_metagraph(models: ModelZoo, model: str) -> None:
    for meta in models.info(model)["meta_graphs"]:
        with tfbundle.load(models.folder(model), tags=meta["tags"]) as m:
            assert m.tags == frozenset(meta["tags"])
            assert sorted(m.signatures) == sorted(meta["signatures"])
            for name, want in meta["signatures"].items():
                sig = m.signatures[name]
                assert sig.name == name
                assert sig.method_name == want["method_name"]
                for side in ("inputs", "outputs"):
                    specs = getattr(sig, side)
                    assert sorted(specs) == sorted(want[side]), f"{model}/{name} {side}"
                    for key, info in want[side].items():
                        spec = specs[key]
                        what = f"{model}{meta['tags']}/{name} {side}[{key!r}]"
                        assert spec.name == key, what
                        assert spec.tensor_name == info["tensor_name"], what
                        assert spec.tf_dtype == info["tf_dtype"], what
                        want_dtype = (
                            None if info["dtype"] is None else dtype_from_name(info["dtype"])
                        )
                        assert spec.dtype == want_dtype, what
                        want_shape = None if info["shape"] is None else tuple(info["shape"])
                        assert spec.shape == want_shape, what


def test_spec_shapes_cover_unknown_dims_and_rank(models: ModelZoo) -> None:
    """The dtypes model declares (None,), (), unknown rank and (None, None): check each."""
    with tfbundle.load(models.folder("dtypes")) as m:
        assert m.signatures["dt_float32"].inputs["x"].shape == (None,)
        assert m.signatures["scalar"].inputs["x"].shape == ()
        assert m.signatures["unknown_rank"].inputs["x"].shape is None
        assert m.signatures["identity"].inputs["x"].shape == (None, None)
        assert m.signatures["dt_string"].inputs["x"].dtype == np.dtype(object)
        assert m.signatures["dt_string"].inputs["x"].tf_dtype == "DT_STRING"
        assert m.signatures["dt_bfloat16"].inputs["x"].tf_dtype == "DT_BFLOAT16"
        assert m.signatures["constant"].inputs == {}


def test_signatures_mapping_is_read_only(models: ModelZoo, loaded: LoadFn) -> None:
    m = loaded("tf2_module", ("serve",))
    with pytest.raises(TypeError):
        m.signatures["extra"] = m.signatures["add"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del m.signatures["add"]  # type: ignore[attr-defined]


def test_signatures_mapping_protocol(loaded: LoadFn) -> None:
    """``in``, ``get`` and ``len`` work as for any Mapping; the init op is hidden."""
    m = loaded("tf2_module", ("serve",))
    assert "add" in m.signatures
    assert "__saved_model_init_op" not in m.signatures
    assert "no_such_signature" not in m.signatures
    assert m.signatures.get("no_such_signature") is None
    assert m.signatures.get("add") is m.signatures["add"]
    assert len(m.signatures) == 5
    assert dict(m.signatures.items()).keys() == set(m.signatures)


# ----------------------------------------------------------------------------- tags


def test_default_tags_pick_serve(models: ModelZoo) -> None:
    folder = models.folder("tf1_builder")
    with tfbundle.load(folder) as m:
        assert m.tags == frozenset({"serve"})
        assert m.path == str(folder.resolve())
        assert sorted(m.signatures) == ["classify", "predict", "regress", "serving_default"]
        case = models.case("tf1_builder/serving_default")
        assert_outputs_match(m(**case.inputs), case.expected, "tags=None")


@pytest.mark.parametrize(
    "tags",
    ["serve,gpu", "gpu,serve", ["serve", "gpu"], ("gpu", "serve"), frozenset({"gpu", "serve"})],
    ids=["str", "str-reordered", "list", "tuple", "frozenset"],
)
def test_second_tag_set(models: ModelZoo, tags: object) -> None:
    case = models.case("tf1_builder@gpu,serve/serving_default")
    with tfbundle.load(case.folder, tags=tags) as m:
        assert m.tags == frozenset({"serve", "gpu"})
        assert sorted(m.signatures) == ["serving_default"]
        assert_outputs_match(m(**case.inputs), case.expected, f"tags={tags!r}")
        # main_op initialised the local variable in this MetaGraphDef too
        assert m(**case.inputs)["marker"] == np.float32(42.0)


@pytest.mark.parametrize("tags", ["serve", ["serve"], ("serve",)])
def test_serve_tag_spellings(models: ModelZoo, tags: object) -> None:
    case = models.case("tf1_builder/predict")
    with tfbundle.load(case.folder, tags=tags) as m:
        assert m.tags == frozenset({"serve"})
        assert_outputs_match(m.signatures["predict"](**case.inputs), case.expected, repr(tags))


@pytest.mark.parametrize("tags", ["train", "serve,tpu", ["gpu"], "", []])
def test_missing_tag_set_lists_available(models: ModelZoo, tags: object) -> None:
    folder = models.folder("tf1_builder")
    with pytest.raises(errors.NotFoundError) as exc:
        tfbundle.load(folder, tags=tags)
    msg = str(exc.value)
    assert "serve" in msg and "gpu" in msg, f"message should list the tag-sets: {msg}"
    assert isinstance(exc.value, FileNotFoundError)


def test_main_op_ran(models: ModelZoo, loaded: LoadFn) -> None:
    """The local variable and the table only main_op initialises are readable."""
    case = models.case("tf1_builder/predict")
    out = loaded("tf1_builder", ("serve",)).signatures["predict"](**case.inputs)
    assert out["marker"] == np.float32(42.0)
    assert out["key_id"].tolist() == [1, -1, 0, -1]


# ----------------------------------------------------------------------------- assets


ASSET_CASES = [
    "tf1_asset/serving_default",
    "tf1_asset_dup/serving_default",
    "tf2_asset/serving_default",
]


@pytest.mark.parametrize("case_id", ASSET_CASES)
def test_assets_from_another_cwd(
    models: ModelZoo, case_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = models.case(case_id)
    monkeypatch.chdir(tmp_path)
    with tfbundle.load(case.folder.resolve()) as m:
        assert_outputs_match(m(**case.inputs), case.expected, f"{case_id} from {tmp_path}")


@pytest.mark.parametrize("case_id", ASSET_CASES)
def test_assets_of_moved_model_by_relative_path(
    models: ModelZoo, case_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy elsewhere, loaded by a relative path, reads its own assets/ folder."""
    case = models.case(case_id)
    shutil.copytree(case.folder, tmp_path / "moved")
    for rel in models.info(case.model)["asset_files"]:
        assert (tmp_path / "moved" / rel).is_file()
    monkeypatch.chdir(tmp_path)
    with tfbundle.load("moved") as m:
        assert m.path == str((tmp_path / "moved").resolve())
        assert_outputs_match(m(**case.inputs), case.expected, f"{case_id} moved")
    # With the copy gone for good, the original folder still works from here.
    shutil.rmtree(tmp_path / "moved")
    with tfbundle.load(case.folder) as m:
        assert_outputs_match(m(**case.inputs), case.expected, f"{case_id} original")


def test_tf2_asset_contents_come_from_model_folder(models: ModelZoo, loaded: LoadFn) -> None:
    case = models.case("tf2_asset/serving_default")
    out = loaded("tf2_asset", ("serve",))(**case.inputs)
    on_disk = (case.folder / "assets" / "tf2_vocab.txt").read_bytes()
    assert out["contents"].shape == ()
    assert out["contents"].dtype == np.dtype(object)
    assert out["contents"][()] == on_disk


# ----------------------------------------------------------------------------- strings


def test_string_inputs_accept_str_and_fixed_width_bytes(models: ModelZoo, loaded: LoadFn) -> None:
    case = models.case("tf2_module/mixed")
    sig = loaded("tf2_module", ("serve",)).signatures["mixed"]
    names = case.inputs["names"]
    as_str = np.array([b.decode("utf-8") for b in names])  # dtype <U
    as_bytes = np.array(list(names), dtype=bytes)  # dtype S
    as_list_obj = np.array([b.decode("utf-8") for b in names], dtype=object)
    for variant in (as_str, as_bytes, as_list_obj):
        inputs = dict(case.inputs, names=variant)
        assert_outputs_match(sig(**inputs), case.expected, f"names as {variant.dtype}")


def test_string_outputs_keep_nul_and_non_utf8_bytes(models: ModelZoo, loaded: LoadFn) -> None:
    case = models.case("dtypes/dt_string")
    out = loaded("dtypes", ("serve",)).signatures["dt_string"](**case.inputs)
    assert out["identity"].tolist() == case.inputs["x"].tolist()
    assert b"\x00bin\xff" in out["identity"].tolist()


def test_classify_and_regress_on_tf_examples(models: ModelZoo, loaded: LoadFn) -> None:
    m = loaded("tf1_builder", ("serve",))
    classify = m.signatures["classify"]
    regress = m.signatures["regress"]
    assert classify.method_name == "tensorflow/serving/classify"
    assert regress.method_name == "tensorflow/serving/regress"
    assert sorted(classify.inputs) == ["inputs"]
    assert sorted(classify.outputs) == ["classes", "scores"]
    assert classify.inputs["inputs"].dtype == np.dtype(object)
    case = models.case("tf1_builder/classify")
    out = classify(inputs=case.inputs["inputs"])
    assert out["classes"].tolist() == [[b"low", b"mid", b"high"]] * 3
    np.testing.assert_allclose(out["scores"].sum(axis=1), np.ones(3), rtol=1e-6)
    # the same Example bytes given as a list of bytes objects in an object array
    one = np.empty(1, dtype=object)
    one[0] = case.inputs["inputs"][1]
    out = regress(inputs=one)
    want = models.case("tf1_builder/regress").expected["outputs"][1:2]
    assert_array_matches(out["outputs"], want, "regress one example")


def test_example_encoder_matches_tensorflow(models: ModelZoo) -> None:
    """_util.encode_example (used by test_testdata.py) writes the bytes TF writes."""
    tf_bytes = models.case("tf1_builder/classify").inputs["inputs"]
    assert encode_example({"x": [1.0, 2.0]}) == tf_bytes[0]
    assert encode_example({"x": [-1.0, 0.5]}) == tf_bytes[1]


def test_malformed_tf_example_is_invalid_argument(loaded: LoadFn) -> None:
    regress = loaded("tf1_builder", ("serve",)).signatures["regress"]
    bad = np.array([b"\xff\xff not a proto"], dtype=object)
    with pytest.raises(errors.InvalidArgumentError):
        regress(inputs=bad)


# ----------------------------------------------------------------------------- Model.run


@pytest.mark.parametrize("case_id", RUN_CASE_IDS)
def test_model_run_by_tensor_names(models: ModelZoo, case_id: str) -> None:
    case = models.run_case(case_id)
    with tfbundle.load(case.folder, tags=list(case.tags)) as m:
        for i, step in enumerate(case.steps):
            got = m.run(step.fetches, feeds=step.feeds or None, targets=step.targets or None)
            assert isinstance(got, list) and len(got) == len(step.fetches), f"step {i}"
            for name, arr, want in zip(step.fetches, got, step.expected):
                assert_array_matches(arr, want, f"{case_id} step {i} {name}")


def test_model_run_fetch_forms(models: ModelZoo, loaded: LoadFn) -> None:
    """fetches as a str, a list and a dict, as in TF1 Session.run."""
    case = models.run_case("tf1_simple/run_by_tensor_names")
    step = case.steps[0]
    m = loaded("tf1_simple", ("serve",))
    y, total = step.expected
    assert_array_matches(m.run("y:0", feeds=step.feeds), y, "str fetch")
    got = m.run({"a": "total:0", "b": "y:0"}, feeds=step.feeds)
    assert isinstance(got, dict) and sorted(got) == ["a", "b"]
    assert_array_matches(got["a"], total, "dict fetch a")
    assert_array_matches(got["b"], y, "dict fetch b")
    # a tensor that is not in the graph
    with pytest.raises(errors.Error) as exc:
        m.run("no_such_tensor:0", feeds=step.feeds)
    assert "no_such_tensor" in str(exc.value)


def test_model_run_matches_signature(models: ModelZoo, loaded: LoadFn) -> None:
    """Feeding a signature's tensor names by hand gives the signature's outputs."""
    case = models.case("tf2_module/add")
    m = loaded("tf2_module", ("serve",))
    sig = m.signatures["add"]
    feeds = {sig.inputs[k].tensor_name: v for k, v in case.inputs.items()}
    keys = sorted(sig.outputs)
    got = m.run([sig.outputs[k].tensor_name for k in keys], feeds=feeds)
    for key, arr in zip(keys, got):
        assert_array_matches(arr, case.expected[key], f"run {key}")


# ----------------------------------------------------------------------------- read-only


@pytest.mark.parametrize("case_id", ["dtypes/constant", "dtypes/variable"])
def test_writing_an_output_cannot_change_the_model(
    models: ModelZoo, loaded: LoadFn, case_id: str
) -> None:
    """Const and variable-read outputs may be TF's own buffers: writes must not leak in."""
    case = models.case(case_id)
    sig = loaded(case.model, case.tags).signatures[case.signature]
    out = sig()["value"]
    if out.flags.writeable:
        out[...] = -7.0
    else:
        with pytest.raises(ValueError, match="read-only"):
            out[...] = -7.0
    assert_outputs_match(sig(), case.expected, f"{case_id} after writing an output")


def test_identity_output_equals_input(models: ModelZoo, loaded: LoadFn) -> None:
    case = models.case("dtypes/identity")
    sig = loaded(case.model, case.tags).signatures["identity"]
    x = case.inputs["x"].copy()
    out = sig(x=x)["same"]
    np.testing.assert_array_equal(out, case.expected["same"])
    # the next call with another array gives that array's values
    y = x * 3
    np.testing.assert_array_equal(sig(x=y)["same"], y)


def test_outputs_outlive_the_model(models: ModelZoo) -> None:
    case = models.case("tf2_module/serving_default")
    m = tfbundle.load(case.folder)
    out = m(**case.inputs)
    m.close()
    del m
    gc.collect()
    assert_outputs_match(out, case.expected, "after close()")


# ----------------------------------------------------------------------------- bad inputs


def test_wrong_dtype_is_type_error(models: ModelZoo, loaded: LoadFn) -> None:
    case = models.case("tf1_simple/serving_default")
    sig = loaded("tf1_simple", ("serve",)).signatures["serving_default"]
    with pytest.raises(TypeError) as exc:
        sig(x=case.inputs["x"].astype(np.float64))
    assert "x" in str(exc.value)


def test_wrong_known_dimension_is_invalid_argument(models: ModelZoo, loaded: LoadFn) -> None:
    sig = loaded("tf1_simple", ("serve",)).signatures["serving_default"]
    with pytest.raises(errors.InvalidArgumentError) as exc:
        sig(x=np.zeros((2, 5), np.float32))
    assert isinstance(exc.value, ValueError)
    assert "x" in str(exc.value)


def test_unknown_and_missing_inputs_list_valid_names(models: ModelZoo, loaded: LoadFn) -> None:
    case = models.case("tf2_module/add")
    sig = loaded("tf2_module", ("serve",)).signatures["add"]
    with pytest.raises(errors.InvalidArgumentError) as exc:
        sig(**case.inputs, c=case.inputs["a"])
    assert "c" in str(exc.value) and "a" in str(exc.value) and "b" in str(exc.value)
    with pytest.raises(errors.InvalidArgumentError) as exc:
        sig(a=case.inputs["a"])
    assert "b" in str(exc.value)


def test_unknown_signature_key(loaded: LoadFn) -> None:
    m = loaded("tf2_module", ("serve",))
    with pytest.raises(KeyError) as exc:
        m.signatures["serving"]
    assert "serving" in str(exc.value)


def test_unknown_output_name_in_run(models: ModelZoo, loaded: LoadFn) -> None:
    case = models.case("tf2_module/add")
    sig = loaded("tf2_module", ("serve",)).signatures["add"]
    with pytest.raises(errors.Error) as exc:
        sig.run(case.inputs, outputs=["product"])
    assert "product" in str(exc.value)
