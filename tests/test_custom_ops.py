"""Custom ops: a graph that needs an op TensorFlow lacks says so, and tfbundle.load_library fixes it.

The custom-op library is a real one from the TensorFlow wheel:
``tensorflow/lite/experimental/microfrontend/python/ops/_audio_microfrontend_op.so``
(op ``AudioMicrofrontend``). TensorFlow, in a child process, saves a SavedModel and a
GraphDef that use the op, with its own output for a test signal (``MAKE_AUDIO``).
A loaded library stays loaded for the life of a process, so each scenario runs
tfbundle in a fresh child process too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tfbundle
from test_graphs import make_cached
from tfbundle import errors

MAKE_AUDIO = r"""
# A SavedModel and a GraphDef using AudioMicrofrontend, and TensorFlow's output.
import json, os, shutil, sys
import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
OUT = sys.argv[1]
TMP = OUT + ".tmp"
shutil.rmtree(TMP, ignore_errors=True)
os.makedirs(TMP)
SO = os.path.join(os.path.dirname(tf.__file__), "lite", "experimental", "microfrontend", "python", "ops",
                  "_audio_microfrontend_op.so")
ops = tf.load_op_library(SO)
t = np.arange(16000) / 16000.0
AUDIO = (8000 * np.sin(2 * np.pi * 440 * t) + 2000 * np.sin(2 * np.pi * 3000 * t)).astype(np.int16)
with tf.Graph().as_default() as g, tf1.Session() as s:
    audio = tf1.placeholder(tf.int16, [None], name="audio")
    features = tf.identity(ops.audio_microfrontend(audio, sample_rate=16000, num_channels=20), name="features")
    expected = s.run(features, {audio: AUDIO})
    sig = tf1.saved_model.signature_def_utils.predict_signature_def({"audio": audio}, {"features": features})
    builder = tf1.saved_model.Builder(os.path.join(TMP, "saved_model"))
    builder.add_meta_graph_and_variables(s, ["serve"], signature_def_map={"serving_default": sig})
    builder.save()
    tf.io.write_graph(g.as_graph_def(), TMP, "graph.pb", as_text=False)
np.savez(os.path.join(TMP, "oracle.npz"), audio=AUDIO, features=expected)
json.dump({"library": SO}, open(os.path.join(TMP, "manifest.json"), "w"))
os.rename(TMP, OUT)
"""


def library_path() -> Path | None:
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(
        spec.submodule_search_locations[0],
        "lite/experimental/microfrontend/python/ops/_audio_microfrontend_op.so",
    )
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def library() -> Path:
    path = library_path()
    if path is None:
        pytest.skip(
            "the TensorFlow wheel's _audio_microfrontend_op.so (a real custom-op library) is not installed"
        )
    return path


@pytest.fixture(scope="module")
def made(library: Path) -> Path:
    return make_cached("audio", MAKE_AUDIO)


def in_child(code: str) -> dict:
    """Runs tfbundle code in a fresh process; it prints one JSON line."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("how", ["saved_model", "graph"])
def test_missing_op_then_load_library(made: Path, library: Path, tmp_path: Path, how: str) -> None:
    load = (
        f"tfbundle.load({str(made / 'saved_model')!r})"
        if how == "saved_model"
        else f"tfbundle._runtime.graphs.load_graph({str(made / 'graph.pb')!r}, 'audio', 'features')"
    )
    result = in_child(
        f"""
        import json, numpy as np, tfbundle, tfbundle._runtime.graphs
        try:
            {load}
            refused = None
        except tfbundle.NotFoundError as e:
            refused = str(e)
        ops = tfbundle.load_library({str(library)!r})
        with {load} as m:
            audio = np.load({str(made / "oracle.npz")!r})["audio"]
            out = m(audio=audio)["features"]
            np.save({str(tmp_path / "out.npy")!r}, out)
        print(json.dumps({{"refused": refused, "ops": ops}}))
        """
    )
    assert result["refused"] is not None
    assert "the graph uses the op type 'AudioMicrofrontend'" in result["refused"]
    assert "tfbundle.load_library(path_to_so)" in result["refused"]
    assert result["ops"] == ["AudioMicrofrontend"]
    with np.load(made / "oracle.npz") as z:
        expected = z["features"]
    out = np.load(tmp_path / "out.npy")
    assert out.dtype == expected.dtype == np.uint16 and out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)


def test_load_library_refusals(tmp_path: Path) -> None:
    with pytest.raises(
        errors.NotFoundError, match="does not exist: pass the path of a custom-op shared library"
    ):
        tfbundle.load_library(tmp_path / "missing.so")
    not_a_library = tmp_path / "notes.so"
    not_a_library.write_text("not an ELF file")
    with pytest.raises(errors.Error, match=r"could not load the op library .*notes\.so"):
        tfbundle.load_library(not_a_library)
