"""The restore from memory-mapped shards (``tfbundle.load(restore="mmap")``).

Models are made by TensorFlow in a subprocess (tests/makers/mmap_restore.py, through the
``tf_models`` fixture; this process never imports TensorFlow). Every model loaded with
``load_mapped`` must give the same outputs as ``tfbundle.load`` (TensorFlow's own restore)
on the same inputs.
"""

from __future__ import annotations

import gc
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfbundle
from _util import tfbundle_env
from tfbundle import _core
from tfbundle._runtime import library as _library
from tfbundle._runtime import model as _model
from tfbundle.errors import DataLossError, InvalidArgumentError, NotFoundError, UnimplementedError


@pytest.fixture(scope="session")
def zoo(tf_models: Callable[[str], Path]) -> Path:
    """The models of tests/makers/mmap_restore.py."""
    return tf_models("mmap_restore")


@pytest.fixture(autouse=True)
def _tf_loaded() -> None:
    _library.ensure_loaded()


def load_native(folder: Path) -> _core.NativeModel:
    """The core's load path itself, with the mapped restore (no Python checks before it)."""
    return _core.NativeModel.load(export_dir=str(folder), tags=["serve"], restore="mmap")


def load_mapped(folder: Path) -> tuple[_model.Model, _core.RestoreStats]:
    model = _model.Model(load_native(folder), str(folder), frozenset({"serve"}))
    assert model.restore_stats is not None
    return model, model.restore_stats


def shard_files(folder: Path) -> list[Path]:
    return sorted((folder / "variables").glob("variables.data-*"))


def mapped_paths() -> set[str]:
    with open("/proc/self/maps") as f:
        return {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}


INPUTS = {
    "x": np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]], np.float32),
    "ids": np.array([3, 8], np.int64),
}


def test_outputs_equal_tensorflow_restore(zoo: Path) -> None:
    folder = zoo / "tf1_resource"
    with tfbundle.load(folder, restore="tf") as reference:
        expected = reference(**INPUTS)
    model, _ = load_mapped(folder)
    with model:
        got = model(**INPUTS)
    assert sorted(got) == sorted(expected) == ["c", "p", "w", "y"]
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    assert list(got["w"]) == [b"alpha", b"gamma"]


def test_stats_account_for_every_tensor(zoo: Path) -> None:
    model, stats = load_mapped(zoo / "tf1_resource")
    model.close()
    # a_bias, b_kernel, c_embedding, the two stored slices of d_part, e_words, f_counts.
    assert stats.tensors == 7
    assert stats.tf_read_tensors == 0
    assert stats.zero_copy_tensors + stats.copied_tensors == stats.tensors
    assert stats.zero_copy_tensors >= 1  # a_bias starts the shard: offset 0 is aligned
    assert stats.copied_sparse_bytes == 10 * 7 * 4  # c_embedding, read by ResourceGather
    assert stats.zero_copy_bytes % 4 == 0 and stats.copied_bytes > 0


def test_in_place_update_leaves_the_checkpoint_untouched(zoo: Path) -> None:
    folder = zoo / "tf1_resource"
    before = [p.read_bytes() for p in shard_files(folder)]
    model, _ = load_mapped(folder)
    with model:
        c0 = model(**INPUTS)["c"]
        model.run([], targets=["increment"])
        model.run([], targets=["increment"])
        np.testing.assert_array_equal(model(**INPUTS)["c"], c0 + 10)
    assert [p.read_bytes() for p in shard_files(folder)] == before
    again, _ = load_mapped(folder)
    with again:
        np.testing.assert_array_equal(again(**INPUTS)["c"], c0)


@pytest.mark.parametrize("name", ["tf1_resource", "tf2_module"])
def test_a_checkpoint_replaced_while_loaded_is_harmless(zoo: Path, tmp_path: Path, name: str) -> None:
    # TensorFlow's savers (and TF Serving's version folders) write new files and rename them over
    # the old ones: the loaded model keeps the pages of the files it mapped, whatever the new ones
    # hold. (A file truncated or overwritten in place is another matter: see the README.)
    folder = copy_model(zoo / name, tmp_path / "m")
    inputs = INPUTS if name == "tf1_resource" else {"x": np.arange(4, dtype=np.float32)}
    model, stats = load_mapped(folder)
    with model:
        before = model(**inputs)
        for shard in shard_files(folder):
            fresh = shard.with_name(shard.name + ".tmp")
            fresh.write_bytes(bytes(len(shard.read_bytes())))  # zeros: every weight changed
            fresh.replace(shard)
        gc.collect()
        after = model(**inputs)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    assert stats.zero_copy_tensors > 0  # the mapped pages were in use


_SERVE_WHILE_REWRITTEN = r"""
import sys, numpy as np, tfbundle
model = tfbundle.load(sys.argv[1], restore="mmap")
inputs = {"x": np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]], np.float32), "ids": np.array([3, 8], np.int64)}
print(repr({k: v.tolist() for k, v in model(**inputs).items()}), flush=True)
sys.stdin.readline()  # the parent rewrites the shard in place meanwhile
print(repr({k: v.tolist() for k, v in model(**inputs).items()}), flush=True)
"""


@pytest.mark.parametrize("rewrite", ["truncated", "overwritten"])
def test_a_checkpoint_rewritten_in_place_while_loaded_is_harmless(zoo: Path, tmp_path: Path, rewrite: str) -> None:
    # `cp` over a shard truncates it and writes it again, in place. Before the guard, the model's
    # mapped variables then changed under it (overwritten) or the next call died of SIGBUS
    # (truncated). The lease (cpp/mapping_guard.h) makes the writer wait until the model's pages
    # are copied aside: the model keeps its weights, and the writer still writes its file.
    folder = copy_model(zoo / "tf1_resource", tmp_path / "m")
    child = subprocess.Popen([sys.executable, "-c", _SERVE_WHILE_REWRITTEN, str(folder)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=tfbundle_env())  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    before = child.stdout.readline()
    shard = shard_files(folder)[0]
    size = shard.stat().st_size
    with open(shard, "r+b") as f:
        f.truncate(0)
        if rewrite == "overwritten":
            f.write(bytes(size))
    out, _ = child.communicate("\n", timeout=120)
    assert child.returncode == 0, (child.returncode, out)
    assert out.strip() == before.strip()
    assert shard.stat().st_size == (size if rewrite == "overwritten" else 0)


def test_mapping_released_after_close(zoo: Path) -> None:
    folder = zoo / "tf1_resource"
    shard = str(shard_files(folder)[0].resolve())
    model, stats = load_mapped(folder)
    assert stats.zero_copy_tensors > 0
    model(**INPUTS)
    assert shard in mapped_paths()  # variables share the mapped pages
    model.close()
    del model
    gc.collect()
    assert shard not in mapped_paths()


@pytest.mark.parametrize("name", ["tf1_simple", "tf1_builder", "tf1_asset"])
def test_fixture_tf1_models_match(models: Any, name: str) -> None:
    """TF1 reference variables, a main_op with a table, and an asset fed to the init op."""
    folder = models.folder(name)
    with tfbundle.load(folder, restore="tf") as reference:
        model, _ = load_mapped(folder)
        with model:
            assert sorted(model.signatures) == sorted(reference.signatures)
            checked = 0
            for cid in models.case_ids:
                case = models.case(cid)
                if case.model != name or tuple(sorted(case.tags)) != ("serve",):
                    continue
                want = reference.signatures[case.signature](**case.inputs)
                got = model.signatures[case.signature](**case.inputs)
                for key in want:
                    np.testing.assert_array_equal(got[key], want[key], err_msg=f"{cid} {key}")
                checked += 1
            assert checked > 0
    # Model.run sequences (TF1 reference variables updated in place by a target op).
    for cid in models.run_case_ids:
        run_case = models.run_case(cid)
        if run_case.model != name or tuple(sorted(run_case.tags)) != ("serve",):
            continue
        model, _ = load_mapped(folder)
        with model:
            for step in run_case.steps:
                got = model.run(step.fetches, step.feeds, step.targets)
                for g, e in zip(got if isinstance(got, list) else [got], step.expected):
                    np.testing.assert_array_equal(g, e, err_msg=cid)


def test_tf2_module_is_restored_from_mapped_shards(zoo: Path) -> None:
    # A TF2 export restores inside a traced function: each variable is assigned from the mapped
    # shard instead (before, UnimplementedError).
    folder = zoo / "tf2_module"
    with tfbundle.load(folder, restore="tf") as reference:
        model, stats = load_mapped(folder)
        with model:
            for inputs in ({"x": np.ones(3, np.float32)}, {"x": np.arange(5, dtype=np.float32)}):
                want, got = reference(**inputs), model(**inputs)
                for key in want:
                    np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    assert stats.tensors > 0 and stats.tf_read_tensors == 0
    assert stats.tensors == stats.zero_copy_tensors + stats.copied_tensors


def test_missing_folder_and_tags(zoo: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_native(tmp_path / "nothing")
    with pytest.raises(NotFoundError, match="serve"):
        _core.NativeModel.load(export_dir=str(zoo / "tf1_resource"), tags=["train"], restore="mmap")


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_checkpoint_without_a_graph_tensor(zoo: Path, tmp_path: Path) -> None:
    folder = copy_model(zoo / "tf1_resource", tmp_path / "m")
    shutil.rmtree(folder / "variables")
    shutil.copytree(zoo / "dtype_float" / "variables", folder / "variables")
    with pytest.raises(NotFoundError, match="a_bias"):
        load_native(folder)


def test_checkpoint_dtype_differs_from_graph(zoo: Path, tmp_path: Path) -> None:
    folder = copy_model(zoo / "dtype_float", tmp_path / "m")
    shutil.rmtree(folder / "variables")
    shutil.copytree(zoo / "dtype_int" / "variables", folder / "variables")
    with pytest.raises(InvalidArgumentError, match=r"DT_INT32.*DT_FLOAT"):
        load_native(folder)


def test_missing_shard(zoo: Path, tmp_path: Path) -> None:
    folder = copy_model(zoo / "tf1_resource", tmp_path / "m")
    for p in shard_files(folder):
        p.unlink()
    with pytest.raises(NotFoundError, match=r"variables.data"):
        load_native(folder)


@pytest.mark.parametrize("name", ["tf1_resource", "tf2_module"])
def test_a_corrupted_tensor_is_data_loss(zoo: Path, tmp_path: Path, name: str) -> None:
    # One flipped byte inside a stored tensor: TensorFlow's RestoreV2 refuses it by its CRC-32C,
    # and so does the mapped restore (before, the model loaded and answered with the bad value).
    folder = copy_model(zoo / name, tmp_path / "m")
    with tfbundle.open_checkpoint(folder / "variables" / "variables") as ckpt:
        specs = ckpt.specs()
    spec = next(v for _, v in sorted(specs.items()) if v.offset is not None and v.nbytes and v.tf_dtype == "DT_FLOAT")
    assert spec.shard is not None and spec.offset is not None
    shard = shard_files(folder)[spec.shard]
    data = bytearray(shard.read_bytes())
    data[spec.offset] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DataLossError, match=r"(?i)crc|checksum"):
        load_native(folder)
    with pytest.raises(DataLossError):
        tfbundle.load(folder, restore="tf").close()  # TensorFlow's own restore agrees
    # The default tries the mapped restore, then TensorFlow's, whose error is the one raised.
    with pytest.raises(DataLossError):
        tfbundle.load(folder).close()


def test_truncated_shard(zoo: Path, tmp_path: Path) -> None:
    folder = copy_model(zoo / "tf1_resource", tmp_path / "m")
    shard = shard_files(folder)[0]
    shard.write_bytes(shard.read_bytes()[:20])
    with pytest.raises(DataLossError):
        load_native(folder)


def test_older_checkpoint_format_refused(zoo: Path, tmp_path: Path) -> None:
    folder = copy_model(zoo / "tf1_resource", tmp_path / "m")
    for p in (folder / "variables").iterdir():
        p.unlink()
    (folder / "variables" / "variables").write_bytes(b"a V1 checkpoint")
    with pytest.raises(UnimplementedError, match="older checkpoint format"):
        load_native(folder)


def test_public_load_option(zoo: Path) -> None:
    folder = zoo / "tf1_resource"
    with tfbundle.load(folder, restore="tf") as reference:
        expected = reference(**INPUTS)
    for mode in ("mmap", "graph"):
        with tfbundle.load(folder, restore=mode) as model:
            assert (model.restore_stats is not None) == (mode == "mmap")
            got = model(**INPUTS)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{mode}: {key}")
    with pytest.raises(tfbundle.InvalidArgumentError, match="restore must be one of 'auto', 'tf', 'graph', 'mmap'"):
        tfbundle.load(folder, restore="lazy")
    with pytest.raises(tfbundle.InvalidArgumentError, match="restore must be one of"):
        tfbundle.load(zoo / "no-such-folder", restore="lazy")  # checked before anything else


TF2_INPUTS = {"x": np.array([1.0, -2.0, 0.5], np.float32)}


@pytest.mark.parametrize("name", ["tf1_resource", "tf2_module"])
def test_the_default_restore_is_the_mapped_one(zoo: Path, name: str) -> None:
    folder = zoo / name
    inputs = INPUTS if name == "tf1_resource" else TF2_INPUTS
    with tfbundle.load(folder, restore="tf") as reference:
        assert (reference.restore, reference.restore_stats, reference.restore_fallback) == ("tf", None, None)
        expected = reference(**inputs)
    with tfbundle.load(folder) as model:
        assert model.restore == "mmap" and model.restore_fallback is None
        assert model.restore_stats is not None and model.restore_stats.tensors > 0
        assert str(shard_files(folder)[0]) in mapped_paths()
        got = model(**inputs)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_the_default_maps_no_shard_it_cannot_guard(zoo: Path, tmp_path: Path) -> None:
    # A shard open for writing elsewhere cannot be leased, so a rewrite of it in place would
    # change a mapping: the default then restores with TensorFlow's loader and says why.
    folder = copy_model(zoo / "tf2_module", tmp_path / "m")
    shard = shard_files(folder)[0]
    with open(shard, "r+b"), tfbundle.load(folder) as model:
        assert model.restore == "tf" and model.restore_stats is None
        assert model.restore_fallback is not None and "no read lease" in model.restore_fallback
        assert str(shard) not in mapped_paths()
        got = model(**TF2_INPUTS)
    with tfbundle.load(folder) as mapped:  # the writer gone: mapped again
        assert mapped.restore == "mmap"
        for key, value in mapped(**TF2_INPUTS).items():
            np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_the_default_imports_a_model_without_checkpoint(zoo: Path, tmp_path: Path) -> None:
    folder = copy_model(zoo / "tf1_resource", tmp_path / "m")
    shutil.rmtree(folder / "variables")
    with tfbundle.load(folder) as model:
        assert model.restore == "graph" and model.restore_stats is None
        assert model.restore_fallback == "the model has no checkpoint to restore"
    with tfbundle.load(folder, restore="tf") as model:
        assert model.restore == "tf"


def test_the_default_falls_back_to_tensorflow_on_the_v1_format(zoo: Path) -> None:
    assert (zoo / "v1_format" / "variables" / "variables").is_file()
    with tfbundle.load(zoo / "v1_format") as model:
        assert model.restore == "tf"
        assert model.restore_fallback == "its checkpoint is in the V1 format"
        np.testing.assert_array_equal(model(x=np.array([1.0, 2.0], np.float32))["y"], [3.0, 6.0])


# ---------------------------------------------------- the core's one load entry point ---


def test_restore_stats_are_typed_and_read_only(zoo: Path) -> None:
    with tfbundle.load(zoo / "tf1_resource", restore="tf") as model:
        assert model.restore_stats is None  # TensorFlow's restore: nothing mapped
    model, stats = load_mapped(zoo / "tf1_resource")
    model.close()
    assert isinstance(stats, _core.RestoreStats)
    assert f"tensors={stats.tensors}" in repr(stats)
    with pytest.raises(AttributeError):
        stats.tensors = 0  # type: ignore[misc]


@pytest.mark.parametrize("restore", ["tensorflow", "graph", "mmap"])
def test_every_restore_mode_gives_the_same_outputs(zoo: Path, restore: str) -> None:
    folder = zoo / "tf1_resource"
    with tfbundle.load(folder, restore="tf") as reference:
        expected = reference(**INPUTS)
    native = _core.NativeModel.load(export_dir=str(folder), tags=["serve"], restore=restore)
    with _model.Model(native, str(folder), frozenset({"serve"})) as model:
        got = model(**INPUTS)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{restore} {key}")


def test_load_request_errors(zoo: Path) -> None:
    folder = str(zoo / "tf1_resource")
    with pytest.raises(InvalidArgumentError, match="unknown restore mode 'lazy'"):
        _core.NativeModel.load(export_dir=folder, tags=["serve"], restore="lazy")
    with pytest.raises(InvalidArgumentError, match="either a SavedModel folder or a serialized MetaGraphDef"):
        _core.NativeModel.load()
    with pytest.raises(InvalidArgumentError, match="either a SavedModel folder or a serialized MetaGraphDef"):
        _core.NativeModel.load(export_dir=folder, tags=["serve"], meta_graph=b"\x12\x00", restore="graph")
    with pytest.raises(InvalidArgumentError, match="SavedModel folders only"):
        _core.NativeModel.load(meta_graph=b"\x12\x00", restore="tensorflow")
