"""TF2 SavedModels whose variables only the SavedObjectGraph connects to their checkpoint keys.

``tf.saved_model.save`` of a Keras 3 model (or of a tf.Module holding one) writes signature
functions that capture variable handles (``hidden/kernel``) which the SaverDef's traced restore
function never assigns; TF2's Python loader connects them through the SavedObjectGraph. Every
signature of every model of tests/makers/object_graph.py, loaded with TensorFlow's restore
(``restore="tf"``) and with the mapped one (``restore="mmap"``), must give the outputs of TF2's
Python loader (``expected.npz``, written by the maker; this process never imports TensorFlow).

The model whose checkpoint lacks a variable is made by the maker: it rewrites
``keras_functional``'s checkpoint with ``tf.raw_ops.SaveV2``, every tensor (the object graph
included) but the one of ``hidden/kernel``, and says which in ``dropped.json``. A SavedModel from
TensorFlow's own writer, minus one key, is the simplest faithful case: no index or shard bytes are
written by hand, and the graph and object graph are those of a real export.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfbundle
from _util import assert_outputs_match

#: Every (model, signature) the maker writes; test_cases_cover_every_signature keeps it true.
CASES = [
    ("keras_functional", "serving_default"),
    ("keras_sequential_embedding", "serving_default"),
    ("module_holding_keras", "serving_default"),
    ("module_holding_keras", "features"),
    ("keras_export", "serve"),
    ("keras_export", "serving_default"),
    ("tf_module", "serving_default"),
    ("tf_module", "greet"),
    ("sharded", "serving_default"),
    ("tf1_partitioned", "serving_default"),
]

MODELS = sorted({model for model, _ in CASES})

#: tfbundle.load's restore modes under test: TensorFlow's restore, and the mapped checkpoint.
RESTORES = ["tf", "mmap"]


@pytest.fixture(scope="session")
def made(tf_models: Callable[[str], Path]) -> Path:
    """The folder tests/makers/object_graph.py wrote: OUT/<model>/{model/, inputs.npz, expected.npz}."""
    return tf_models("object_graph")


def read_npz(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """``<signature>.<name>`` keys of an .npz file, as {signature: {name: array}}."""
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=True) as data:  # strings: object arrays this suite wrote
        for key in data.files:
            signature, name = key.split(".", 1)
            out.setdefault(signature, {})[name] = data[key]
    return out


def test_cases_cover_every_signature(made: Path) -> None:
    """CASES lists every signature the maker ran, and each has inputs and outputs."""
    found = []
    for model in sorted(p.name for p in made.iterdir() if (p / "expected.npz").is_file()):
        inputs = read_npz(made / model / "inputs.npz")
        expected = read_npz(made / model / "expected.npz")
        assert sorted(inputs) == sorted(expected), model
        assert all(expected[sig] for sig in expected), model
        found += [(model, sig) for sig in expected]
    assert sorted(found) == sorted(CASES)


def test_sharded_model_has_several_shards(made: Path) -> None:
    shards = sorted((made / "sharded" / "model" / "variables").glob("variables.data-*"))
    assert len(shards) > 1, shards


@pytest.mark.parametrize("model", MODELS)
def test_signatures_listed(made: Path, model: str) -> None:
    """tfbundle lists the signatures TF2's loader ran (nothing restored or run yet matters)."""
    with tfbundle.load(made / model / "model") as loaded:
        assert sorted(loaded.signatures) == sorted(read_npz(made / model / "expected.npz"))


@pytest.mark.parametrize("restore", RESTORES)
@pytest.mark.parametrize(("model", "signature"), CASES)
def test_outputs_match_tensorflow(made: Path, model: str, signature: str, restore: str) -> None:
    """Each output equals TF2's Python loader's (exact for ints and strings, tight for floats)."""
    inputs = read_npz(made / model / "inputs.npz")[signature]
    expected = read_npz(made / model / "expected.npz")[signature]
    with tfbundle.load(made / model / "model", restore=restore) as loaded:
        if restore == "mmap":
            assert loaded.restore_stats is not None
        got = loaded.signatures[signature](**inputs)
        # A second call sees the same variables (nothing consumed or reset by the first).
        again = loaded.signatures[signature](**inputs)
    what = f"{model}/{signature} (restore={restore})"
    assert_outputs_match(got, expected, what)
    assert_outputs_match(again, expected, f"{what}, second call")


@pytest.mark.parametrize("restore", RESTORES)
def test_missing_variable_fails_at_load(made: Path, restore: str) -> None:
    """A checkpoint without a variable the object graph names fails at load, naming it.

    Not at the first call, as it would if the variable were left uninitialised. The message
    must name the variable: its name in the graph (``hidden/kernel``) or its checkpoint key.
    """
    dropped = json.loads((made / "keras_functional_missing_var" / "dropped.json").read_text())
    folder = made / "keras_functional_missing_var" / "model"
    names = "|".join(re.escape(dropped[k]) for k in ("variable", "checkpoint_key"))
    with pytest.raises(tfbundle.NotFoundError, match=names):
        tfbundle.load(folder, restore=restore).close()


def test_mmap_restore_stats(made: Path) -> None:
    """restore="mmap" on a Keras 3 tf.saved_model.save model restores what the graph uses.

    The model's 8 variables (two Dense layers, BatchNormalization's four) come from the object
    graph; the restore function's copies and the optimizer's slots (nothing but the saver reads
    them) are left alone. Zero-copy needs 64-byte-aligned offsets, which TensorFlow's packing gives
    this small checkpoint only by chance: each tensor is counted as mapped or copied.
    """
    folder = made / "keras_functional" / "model"
    with tfbundle.load(folder, restore="mmap") as loaded:
        stats = loaded.restore_stats
    assert stats is not None
    assert stats.tensors == 8
    assert stats.zero_copy_tensors + stats.copied_tensors == stats.tensors
    assert stats.tf_read_tensors == 0
    with tfbundle.open_checkpoint(folder / "variables" / "variables") as ckpt:
        assert len(ckpt.specs()) > 8 + 1  # the optimizer's slots and iteration count are there


def _edited_copy(made: Path, tmp_path: Path, edit: Callable[[Any], None]) -> Path:
    """keras_functional copied with its MetaGraphDef changed by `edit`."""
    from tfbundle import _proto as pb

    folder = tmp_path / "model"
    shutil.copytree(made / "keras_functional" / "model", folder)
    model = pb.SavedModel.FromString((folder / "saved_model.pb").read_bytes())
    edit(model.meta_graphs[0])
    (folder / "saved_model.pb").write_bytes(model.SerializeToString())
    return folder


@pytest.mark.parametrize("restore", [*RESTORES, "auto"])
def test_variables_nothing_restores_fail_at_load(made: Path, tmp_path: Path, restore: str) -> None:
    # Without the concrete functions' bound inputs, the object graph cannot tie the handles the
    # signature captures to the checkpoint: the load names them instead of the first call failing.
    def unbind(meta_graph: Any) -> None:
        for fn in meta_graph.object_graph_def.concrete_functions.values():
            del fn.bound_inputs[:]

    folder = _edited_copy(made, tmp_path, unbind)
    message = r"neither its restore function .* restores.*hidden/kernel"
    with pytest.raises(tfbundle.FailedPreconditionError, match=message):
        tfbundle.load(folder, restore=restore).close()


def test_mmap_refuses_a_restore_function_that_does_more_than_assign(made: Path, tmp_path: Path) -> None:
    # A restore function with another op (a table import, here a stand-in) cannot be replaced by
    # assignments from the mapped shards: restore="mmap" says so; TensorFlow's restore loads it.
    def extend(meta_graph: Any) -> None:
        restore = next(f for f in meta_graph.graph_def.library.function if "traced_restore" in f.signature.name)
        restore.node_def.add(name="extra", op="Timestamp")

    folder = _edited_copy(made, tmp_path, extend)
    with pytest.raises(tfbundle.UnimplementedError, match=r"does more than assign variables.*restore=\"tf\""):
        tfbundle.load(folder, restore="mmap").close()
    tfbundle.load(folder, restore="tf").close()
    with tfbundle.load(folder) as model:  # the default: TensorFlow's restore, and why
        assert model.restore == "tf"
        assert model.restore_fallback is not None and "does more than assign variables" in model.restore_fallback
