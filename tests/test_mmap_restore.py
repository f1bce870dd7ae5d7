"""The experimental restore from memory-mapped shards (``_core._load_mapped``).

Models are made by TensorFlow in a subprocess (this process never imports it) and
cached beside the other test models. Every model loaded with ``load_mapped`` must give
the same outputs as ``tfbundle.load`` (TensorFlow's own restore) on the same inputs.
"""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tfbundle
from conftest import _tensorflow_version, models_cache_root, tensorflow_installed
from tfbundle import _core
from tfbundle._runtime import library as _library
from tfbundle._runtime import model as _model
from tfbundle.errors import DataLossError, InvalidArgumentError, NotFoundError, UnimplementedError

MAKE = r"""
import os, sys
import numpy as np
import tensorflow as tf
out = sys.argv[1]
tf.compat.v1.disable_eager_execution()
v1 = tf.compat.v1

def save(sess, folder, inputs, outputs, extra=None):
    b = v1.saved_model.Builder(os.path.join(out, folder))
    sigs = {"serving_default": v1.saved_model.predict_signature_def(inputs, outputs)}
    b.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=sigs, **(extra or {}))
    b.save()

# Resource variables with tensors of odd sizes (so some are stored misaligned), an
# embedding read by ResourceGather, a partitioned variable (RestoreV2 with slices), a
# string variable, and an op that updates a variable in place.
with tf.Graph().as_default(), v1.Session() as sess:
    x = v1.placeholder(tf.float32, (None, 3), name="x")
    ids = v1.placeholder(tf.int64, (None,), name="ids")
    a_bias = v1.get_variable("a_bias", initializer=np.array([0.5, -1.0, 2.0], np.float32), use_resource=True)
    kernel = v1.get_variable("b_kernel", initializer=np.arange(48, dtype=np.float32).reshape(3, 16) / 10, use_resource=True)
    emb = v1.get_variable("c_embedding", initializer=np.arange(70, dtype=np.float32).reshape(10, 7), use_resource=True)
    part = v1.get_variable("d_part", shape=(8, 4), initializer=v1.random_normal_initializer(seed=3),
                           partitioner=v1.fixed_size_partitioner(2), use_resource=True)
    words = v1.get_variable("e_words", initializer=np.array([b"alpha", b"beta", b"gamma"]), use_resource=True)
    counts = v1.get_variable("f_counts", initializer=np.array([1, 2, 3, 4, 5], np.int64), use_resource=True)
    h = tf.matmul(x + a_bias, kernel)
    y = tf.reduce_sum(h, axis=1) + tf.reduce_sum(tf.nn.embedding_lookup(emb, ids), axis=1)
    p = tf.reduce_sum(tf.matmul(tf.ones((1, 8)), tf.convert_to_tensor(part)))
    w = tf.gather(words.read_value(), tf.math.floormod(ids, 3))
    c = tf.reduce_sum(counts.read_value()) + ids
    tf.identity(counts.assign_add(tf.ones((5,), tf.int64)), name="increment")
    sess.run(v1.global_variables_initializer())
    save(sess, "tf1_resource", {"x": x, "ids": ids},
         {"y": tf.identity(y, "y"), "p": tf.identity(p, "p") * tf.ones_like(y), "w": w, "c": c})

# The same variable name with different dtypes, to swap checkpoints between.
for folder, dtype in (("dtype_float", np.float32), ("dtype_int", np.int32)):
    with tf.Graph().as_default(), v1.Session() as sess:
        x = v1.placeholder(dtype, (None,), name="x")
        v = v1.get_variable("v", initializer=np.array([1, 2], dtype), use_resource=True)
        sess.run(v1.global_variables_initializer())
        save(sess, folder, {"x": x}, {"y": x * v[0]})

"""

# A TF2 SavedModel: restores inside a function, which load_mapped refuses.
MAKE_TF2 = r"""
import sys
import tensorflow as tf
class M(tf.Module):
    def __init__(self):
        self.v = tf.Variable([1.0, 2.0])
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def f(self, x):
        return {"y": x * self.v[0]}
m = M()
tf.saved_model.save(m, sys.argv[1] + "/tf2_module", signatures={"serving_default": m.f})
"""


@pytest.fixture(scope="session")
def zoo() -> Path:
    """The folder of this file's models (made once per script and TensorFlow version)."""
    key = hashlib.sha256((MAKE + MAKE_TF2 + _tensorflow_version()).encode()).hexdigest()[:16]
    out = models_cache_root() / f"mmap-restore-{key}"
    if not (out / "done").exists():
        if not tensorflow_installed():
            pytest.skip("TensorFlow is not installed: it is needed to make the test models")
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        for script in (MAKE, MAKE_TF2):
            proc = subprocess.run(
                [sys.executable, "-c", script, str(tmp)],
                capture_output=True,
                text=True,
                env=env,
                timeout=600,
                check=False,
            )
            if proc.returncode != 0:
                pytest.fail(
                    f"making the mmap-restore test models failed:\n{proc.stderr[-4000:]}",
                    pytrace=False,
                )
        (tmp / "done").write_text("ok")
        try:
            tmp.rename(out)
        except OSError:  # another session made it first
            shutil.rmtree(tmp, ignore_errors=True)
    return out


@pytest.fixture(autouse=True)
def _tf_loaded() -> None:
    _library.ensure_loaded()


def load_mapped(folder: Path) -> tuple[_model.Model, dict[str, Any]]:
    native, stats = _core._load_mapped(str(folder), ["serve"])
    return _model.Model(native, str(folder), frozenset({"serve"})), stats


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
    with tfbundle.load(folder) as reference:
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
    assert stats["tensors"] == 7
    assert stats["tf_read_tensors"] == 0
    assert stats["zero_copy_tensors"] + stats["copied_tensors"] == stats["tensors"]
    assert stats["zero_copy_tensors"] >= 1  # a_bias starts the shard: offset 0 is aligned
    assert stats["copied_sparse_bytes"] == 10 * 7 * 4  # c_embedding, read by ResourceGather
    assert stats["zero_copy_bytes"] % 4 == 0 and stats["copied_bytes"] > 0


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


def test_mapping_released_after_close(zoo: Path) -> None:
    folder = zoo / "tf1_resource"
    shard = str(shard_files(folder)[0].resolve())
    model, stats = load_mapped(folder)
    assert stats["zero_copy_tensors"] > 0
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
    with tfbundle.load(folder) as reference:
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


def test_tf2_model_refused_clearly(zoo: Path) -> None:
    with pytest.raises(UnimplementedError, match="restores inside a function"):
        _core._load_mapped(str(zoo / "tf2_module"), ["serve"])


def test_missing_folder_and_tags(zoo: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        _core._load_mapped(str(tmp_path / "nothing"), ["serve"])
    with pytest.raises(NotFoundError, match="serve"):
        _core._load_mapped(str(zoo / "tf1_resource"), ["train"])


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_checkpoint_without_a_graph_tensor(zoo: Path, tmp_path: Path) -> None:
    folder = copy_model(zoo / "tf1_resource", tmp_path / "m")
    shutil.rmtree(folder / "variables")
    shutil.copytree(zoo / "dtype_float" / "variables", folder / "variables")
    with pytest.raises(NotFoundError, match="a_bias"):
        _core._load_mapped(str(folder), ["serve"])


def test_checkpoint_dtype_differs_from_graph(zoo: Path, tmp_path: Path) -> None:
    folder = copy_model(zoo / "dtype_float", tmp_path / "m")
    shutil.rmtree(folder / "variables")
    shutil.copytree(zoo / "dtype_int" / "variables", folder / "variables")
    with pytest.raises(InvalidArgumentError, match="DT_INT32.*DT_FLOAT"):
        _core._load_mapped(str(folder), ["serve"])


def test_missing_shard(zoo: Path, tmp_path: Path) -> None:
    folder = copy_model(zoo / "tf1_resource", tmp_path / "m")
    for p in shard_files(folder):
        p.unlink()
    with pytest.raises(NotFoundError, match="variables.data"):
        _core._load_mapped(str(folder), ["serve"])


def test_truncated_shard(zoo: Path, tmp_path: Path) -> None:
    folder = copy_model(zoo / "tf1_resource", tmp_path / "m")
    shard = shard_files(folder)[0]
    shard.write_bytes(shard.read_bytes()[:20])
    with pytest.raises(DataLossError):
        _core._load_mapped(str(folder), ["serve"])


def test_older_checkpoint_format_refused(zoo: Path, tmp_path: Path) -> None:
    folder = copy_model(zoo / "tf1_resource", tmp_path / "m")
    for p in (folder / "variables").iterdir():
        p.unlink()
    (folder / "variables" / "variables").write_bytes(b"a V1 checkpoint")
    with pytest.raises(UnimplementedError, match="older checkpoint format"):
        _core._load_mapped(str(folder), ["serve"])


def test_public_load_option(zoo: Path) -> None:
    folder = zoo / "tf1_resource"
    with tfbundle.load(folder) as reference:
        expected = reference(**INPUTS)
    with tfbundle.load(folder, restore="mmap") as model:
        assert model.restore_stats is not None
        got = model(**INPUTS)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    with pytest.raises(UnimplementedError, match="restores inside a function"):
        tfbundle.load(zoo / "tf2_module", restore="mmap")
    with pytest.raises(tfbundle.InvalidArgumentError, match='restore must be "tf" or "mmap"'):
        tfbundle.load(folder, restore="lazy")
