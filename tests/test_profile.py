"""Model.profile: traced runs summarised per op type and per node.

The models are the oracle zoo of tests/makers/zoo.py (``models`` fixture): a TF1
simple_save dense layer and a TF2 tf.Module. The outputs of traced runs are compared
with TensorFlow's, and the RunMetadata tfbundle parses with its own declarations is
parsed again by TensorFlow's generated protos in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tfbundle
from _util import assert_outputs_match
from tfbundle import errors
from tfbundle._runtime.profile import Profile, profile_run, profile_signature


def test_profile_default_signature(models) -> None:
    case = models.case("tf1_simple/serving_default")
    with tfbundle.load(case.folder) as m:
        prof = m.profile(case.inputs, runs=3)
    assert isinstance(prof, Profile)
    assert prof.runs == 3 and len(prof.wall_us) == 3 and len(prof.run_metadata) == 3
    assert_outputs_match(prof.outputs, case.expected, case.id)
    # Every node of this graph runs once per run; kernels of MatMul type did the work.
    assert prof.nodes and all(n.count == 3 for n in prof.nodes)
    assert any("MatMul" in o.op for o in prof.op_types), [o.op for o in prof.op_types]
    assert sum(o.share for o in prof.op_types) == pytest.approx(1.0)
    assert sum(o.count for o in prof.op_types) == sum(n.count for n in prof.nodes)
    times = [o.total_us for o in prof.op_types]
    assert times == sorted(times, reverse=True)
    for n in prof.nodes:
        assert n.per_run_us == pytest.approx(n.total_us / 3) and n.op and n.device.endswith("CPU:0")
    assert prof.total_us == pytest.approx(sum(n.total_us for n in prof.nodes) / 3)
    source = [n for n in prof.nodes if n.name == "_SOURCE"]
    assert source and source[0].op == "NoOp"


def test_profile_named_signature_and_outputs(models) -> None:
    case = models.case("tf2_module/add")
    with tfbundle.load(case.folder) as m:
        prof = m.profile(case.inputs, signature="add")
        assert prof.name == "signature 'add'"
        assert_outputs_match(prof.outputs, case.expected, case.id)
        one = profile_signature(
            m.signatures["add"], case.inputs, outputs=[min(case.expected)], warmup=0
        )
        assert list(one.outputs) == [min(case.expected)]


def test_table_top_and_trace(models) -> None:
    case = models.case("tf2_module/serving_default")
    with tfbundle.load(case.folder) as m:
        prof = m.profile(case.inputs, runs=2)
    table = prof.table(3)
    assert table.splitlines()[0].split() == ["op", "type", "nodes", "us/run", "share"]
    assert len(table.splitlines()) == 2 + min(3, len(prof.op_types))
    assert "2 traced run(s) of signature 'serving_default'" in table
    assert str(prof) == prof.table()
    assert prof.top(2) == prof.op_types[:2] and prof.top(1, by="node") == prof.nodes[:1]
    assert "us/run" in prof.table(2, by="node")
    trace = json.loads(json.dumps(prof.chrome_trace()))
    ops = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(ops) == sum(n.count for n in prof.nodes)
    assert {e["args"]["run"] for e in ops} == {0, 1}
    assert min(e["ts"] for e in ops) == 0
    names = [e for e in trace["traceEvents"] if e["ph"] == "M"]
    assert names and names[0]["args"]["name"].endswith("CPU:0")
    assert repr(prof).startswith("<tfbundle.Profile signature 'serving_default': 2 run(s)")


def test_profile_run_by_tensor_names(models) -> None:
    case = models.case("tf1_simple/serving_default")
    with tfbundle.load(case.folder) as m:
        tensor = m.signatures["serving_default"].outputs["y"].tensor_name
        feed = m.signatures["serving_default"].inputs["x"].tensor_name
        prof = profile_run(m, [tensor], {feed: case.inputs["x"]}, runs=2)
        np.testing.assert_allclose(prof.outputs[tensor], case.expected["y"], rtol=1e-6)
        assert prof.runs == 2 and prof.op_types


def test_profile_refusals(models) -> None:
    case = models.case("tf1_simple/serving_default")
    m = tfbundle.load(case.folder)
    with pytest.raises(errors.InvalidArgumentError, match="runs must be a positive int"):
        m.profile(case.inputs, runs=0)
    with pytest.raises(errors.InvalidArgumentError, match="warmup must be a non-negative int"):
        profile_signature(m.default_signature, case.inputs, warmup=-1)
    with pytest.raises(errors.InvalidArgumentError, match="has no input 'z'"):
        m.profile({"z": case.inputs["x"]})
    with pytest.raises(errors.SignatureNotFoundError, match="no signature named 'nope'"):
        m.profile(case.inputs, signature="nope")
    prof = m.profile(case.inputs)
    with pytest.raises(errors.InvalidArgumentError, match="by must be 'op' or 'node'"):
        prof.top(3, by="kernel")
    m.close()
    with pytest.raises(errors.ClosedError, match="was closed"):
        m.profile(case.inputs)
    with pytest.raises(errors.ClosedError, match="was closed"):
        profile_run(m, ["y:0"])


@pytest.mark.needs_tensorflow  # TensorFlow parses the RunMetadata its own way
def test_run_metadata_parses_as_tensorflow_parses_it(models, tmp_path: Path) -> None:
    case = models.case("tf1_simple/serving_default")
    with tfbundle.load(case.folder) as m:
        prof = m.profile(case.inputs)
    (tmp_path / "md.pb").write_bytes(prof.run_metadata[0])
    script = (
        "import sys, json\n"
        "from tensorflow.core.protobuf import config_pb2\n"
        "md = config_pb2.RunMetadata.FromString(open(sys.argv[1], 'rb').read())\n"
        "out = {}\n"
        "for dev in md.step_stats.dev_stats:\n"
        "    for n in dev.node_stats:\n"
        "        out[n.node_name] = [n.op_end_rel_nanos - n.op_start_rel_nanos, n.timeline_label]\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "md.pb")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    ours = {n.name: n for n in prof.nodes}
    assert set(ours) == set(theirs)
    for name, (nanos, label) in theirs.items():
        assert ours[name].total_us == pytest.approx(max(nanos, 0) / 1000.0) or nanos <= 0
        assert label.split(" = ", 1)[1].startswith(ours[name].op + "(")


# ------------------------------------------------------------ tfbundle bench ---


def test_bench_cli_text_and_json(models, capsys: pytest.CaptureFixture[str]) -> None:
    from tfbundle.cli.bench import main

    case = models.case("tf1_simple/serving_default")
    assert main([str(case.folder), "--runs", "5", "--top", "3"]) == 0
    out = capsys.readouterr().out
    for text in (
        "(SavedModel, TensorFlow",
        "load",
        "first call",
        "steady state (5 calls)",
        "top op types",
    ):
        assert text in out, out
    assert "inputs made up (batch 1): x: float32[1, 4]" in out
    assert main([str(case.folder), "--runs", "3", "--top", "0", "--json", "--batch", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["signature"] == "serving_default" and data["kind"] == "SavedModel"
    assert data["inputs"] == {"x": ["float32", [2, 4]]} and data["latency"]["n"] == 3
    assert "top_ops" not in data and data["load_s"] > 0 and data["first_call_us"] > 0


def test_bench_cli_inputs_file_and_parser(
    models, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from tfbundle.cli.bench import add_parser

    case = models.case("tf1_simple/serving_default")
    np.savez(tmp_path / "in.npz", x=case.inputs["x"])
    parser = argparse.ArgumentParser(prog="tfbundle")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "bench",
            str(case.folder),
            "--inputs",
            str(tmp_path / "in.npz"),
            "--runs",
            "2",
            "--json",
            "--top",
            "2",
        ]
    )
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inputs_from"] == str(tmp_path / "in.npz")
    assert data["grappler"] == "fast"  # the default
    assert data["inputs"]["x"] == ["float32", list(case.inputs["x"].shape)]
    assert 1 <= len(data["top_ops"]) <= 2 and all(0 <= o["share"] <= 1 for o in data["top_ops"])


def test_bench_cli_refusals(models, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tfbundle.cli.bench import main

    case = models.case("tf1_simple/serving_default")
    assert main([str(tmp_path / "absent")]) == 2
    assert "NotFoundError: " in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2
    assert (
        "no SavedModel, frozen graph (.pb/.pbtxt) or TF1 checkpoint there"
        in capsys.readouterr().err
    )
    assert main([str(case.folder), "--batch", "0"]) == 2
    assert "--batch must be at least 1" in capsys.readouterr().err
    assert main([str(case.folder), "--runs", "0"]) == 2
    assert "--runs must be >= 1" in capsys.readouterr().err
    assert main([str(case.folder), "--signature", "nope"]) == 2
    assert "no signature named 'nope'" in capsys.readouterr().err
    np.savez(tmp_path / "bad.npz", z=case.inputs["x"])
    assert main([str(case.folder), "--inputs", str(tmp_path / "bad.npz")]) == 2
    assert "has no input 'z'" in capsys.readouterr().err


def test_bench_cli_checkpoint_and_frozen_graph(
    tf_models: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from tfbundle.cli.bench import main

    graphs = tf_models("graphs")
    assert main([str(graphs / "train"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "TF1 checkpoint" and data["signature"] is None
    assert "only its load was timed" in data["note"]
    assert main([str(graphs / "frozen.pbtxt"), "--runs", "3", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert (
        "(frozen graph," in out
        and "signature 'serving_default'" in out
        and "x: float32[1, 3]" in out
    )


def test_bench_takes_the_grappler_setting(models, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tfbundle.cli.bench import main

    case = models.case("tf1_simple/serving_default")
    assert main([str(case.folder), "--runs", "2", "--top", "0", "--json", "--grappler", "tensorflow"]) == 0
    assert json.loads(capsys.readouterr().out)["grappler"] == "tensorflow"
    with pytest.raises(SystemExit) as exited:
        main([str(case.folder), "--grappler", "off"])
    assert exited.value.code == 2 and "invalid choice: 'off'" in capsys.readouterr().err
