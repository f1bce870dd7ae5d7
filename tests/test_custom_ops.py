"""Custom ops: a graph that needs an op TensorFlow lacks says so, and tfbundle.load_library fixes it.

The custom-op library is a real one from the TensorFlow wheel:
``tensorflow/lite/experimental/microfrontend/python/ops/_audio_microfrontend_op.so``
(op ``AudioMicrofrontend``). TensorFlow, in a child process, saves a SavedModel and a
GraphDef that use the op, with its own output for a test signal (tests/makers/audio.py).
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
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tfbundle
from tfbundle import errors


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
def made(library: Path, tf_models: Callable[[str], Path]) -> Path:
    return tf_models("audio")


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
