"""`tfbundle demo` runs the model the package carries."""

from __future__ import annotations

from tfbundle._demo import main


def test_demo_runs_the_carried_model(capsys):
    assert main(["--calls", "20", "--batch", "3"]) == 0
    out = capsys.readouterr().out
    assert "<Signature 'serving_default' (x: float32[?, 4]) -> (class_ids: int64[?], probabilities: float32[?, 3])>" in out
    assert "class_ids = [1 2]" in out
    assert "20 calls at batch 3: median" in out
