"""`tfbundle demo` runs the model the package carries, and that model is right."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tfbundle
from tfbundle.cli.demo import SAMPLES, class_names, demo_model_path, main

SPECIES = ["setosa", "versicolor", "virginica"]


def test_demo_runs_the_carried_model(capsys):
    assert main(["--calls", "20", "--batch", "3"]) == 0
    out = capsys.readouterr().out
    assert (
        "<Signature 'serving_default' (x: float32[?, 4]) -> (class_ids: int64[?], probabilities: float32[?, 3])>"
        in out
    )
    assert "[5.1, 3.5, 1.4, 0.2] -> setosa " in out
    assert "[7.0, 3.2, 4.7, 1.4] -> versicolor " in out
    assert "[6.3, 3.3, 6.0, 2.5] -> virginica " in out
    assert "probabilities: setosa " in out
    assert "20 calls at batch 3: median" in out


def test_carried_model_puts_the_textbook_flowers_in_their_species():
    assert class_names() == SPECIES
    with tfbundle.load(demo_model_path()) as m:
        out = m(x=SAMPLES)
    assert out["class_ids"].tolist() == [0, 1, 2]
    assert (out["probabilities"].max(axis=1) > 0.9).all()


@pytest.mark.needs_tensorflow
def test_carried_model_agrees_with_tensorflow(tmp_path):
    rng = np.random.default_rng(7)
    low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])  # iris's ranges
    x = np.concatenate([SAMPLES, rng.uniform(low, high, (61, 4)).astype(np.float32)])
    np.save(tmp_path / "x.npy", x)
    code = f"""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({demo_model_path()!r})
        x = tf.constant(np.load({str(tmp_path / "x.npy")!r}))
        out = loaded.signatures["serving_default"](x=x)
        logits = loaded.signatures["logits"](x=x)["logits"]
        np.savez({str(tmp_path / "tf.npz")!r}, logits=logits.numpy(),
                 **{{k: v.numpy() for k, v in out.items()}})
        """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    want = np.load(tmp_path / "tf.npz")
    with tfbundle.load(demo_model_path()) as m:
        got = m(x=x)
        logits = m.signatures["logits"](x=x)["logits"]
    assert got["class_ids"].dtype == want["class_ids"].dtype
    np.testing.assert_array_equal(got["class_ids"], want["class_ids"])
    np.testing.assert_allclose(got["probabilities"], want["probabilities"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(logits, want["logits"], rtol=1e-6, atol=1e-6)
