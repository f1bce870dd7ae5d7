"""Smoke test of the benchmark scripts: their command line and pure helpers, never timings."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _common():
    spec = importlib.util.spec_from_file_location("bench_common", BENCH / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python bench/SCRIPT ARGS...``, its output captured."""
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_help_lists_options() -> None:
    proc = _bench("run.py", "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--quick", "--json", "--models", "--sections", "--frameworks"):
        assert option in proc.stdout


def test_run_rejects_unknown_section() -> None:
    proc = _bench("run.py", "--sections", "speed")
    assert proc.returncode == 2
    assert "unknown section(s) speed" in proc.stderr


def test_percentile_interpolates_like_numpy() -> None:
    c = _common()
    assert c.percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert c.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 99) == pytest.approx(4.96)
    assert c.summarize([2.0])["p99"] == 2.0
    with pytest.raises(ValueError, match="empty sample"):
        c.percentile([], 50)
    with pytest.raises(ValueError, match=r"within 0..100"):
        c.percentile([1.0], 101)


def test_parse_tensor_name() -> None:
    c = _common()
    assert c.parse_tensor_name("serving_default_x:0") == ("serving_default_x", 0)
    assert c.parse_tensor_name("StatefulPartitionedCall:12") == ("StatefulPartitionedCall", 12)
    assert c.parse_tensor_name("scope/op") == ("scope/op", 0)
    for bad in ("", ":0", "op:x"):
        with pytest.raises(ValueError, match="tensor name"):
            c.parse_tensor_name(bad)


def test_formatting() -> None:
    c = _common()
    assert c.fmt_time(12.34e-6) == "12.3 us"
    assert c.fmt_time(4.567e-3) == "4.57 ms"
    assert c.fmt_time(2.5) == "2.50 s"
    assert c.fmt_time(None) == "-"
    assert c.fmt_ratio(3.0, 1.5) == "2.00x"
    assert c.fmt_ratio(1.0, 0.0) == "-"
    table = c.render_table(["a", "b"], [["x", "1"], ["long", "22"]])
    assert table.splitlines() == ["a      b", "----  --", "x      1", "long  22"]
    with pytest.raises(ValueError, match="2 cells"):
        c.render_table(["a"], [["x", "y"]])


def test_compiled_graph_bench_help() -> None:
    proc = _bench("bench_compiled_graph.py", "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--model", "--repeats", "--cache"):
        assert option in proc.stdout


def test_score_bench_help() -> None:
    proc = _bench("bench_score.py", "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--rows", "--scale-rows", "--repeats", "--workdir", "--skip-tf", "--json"):
        assert option in proc.stdout
