"""`tfbundle score`: arguments, one-line errors with exit status 2, JSON events, kill and --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from _util import tfbundle_env  # noqa: E402
from tfbundle.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tf_models) -> str:
    return str(tf_models("scoring") / "model")


def _write_shards(d: Path, shards: int, rows: int) -> None:
    d.mkdir()
    rng = np.random.default_rng(1)
    for k in range(shards):
        b = rng.normal(size=(rows, 3)).astype(np.float32)
        pq.write_table(
            pa.table(
                {
                    "id": np.arange(k * rows, (k + 1) * rows),
                    "a": rng.normal(size=rows).astype(np.float32),
                    "b": pa.FixedSizeListArray.from_arrays(pa.array(b.ravel()), 3),
                    "c": rng.integers(0, 9, size=rows),
                }
            ),
            d / f"part-{k:02d}.parquet",
        )


def _concat(out: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted(out.glob("part-*.parquet")))


def _score(model_dir: str, tmp_path: Path, *args: str) -> int:
    """``tfbundle score MODEL -i tmp_path/in -o tmp_path/out ARGS...``"""
    return main(
        ["score", model_dir, "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *args]
    )


def test_score_command(tmp_path, model_dir, capsys) -> None:
    _write_shards(tmp_path / "in", 2, 100)
    rc = main(
        [
            "score",
            model_dir,
            "--input",
            str(tmp_path / "in" / "*.parquet"),
            "--output",
            str(tmp_path / "out"),
            "--keep",
            "id",
            "--batch-size",
            "32",
            "--progress",
            "log",
        ]
    )
    assert rc == 0
    err = capsys.readouterr().err
    assert "tfbundle score: 200 rows in" in err
    out = _concat(tmp_path / "out")
    assert out.column_names == ["id", "score", "vec"] and out.num_rows == 200


def test_json_events(tmp_path, model_dir, capsys) -> None:
    _write_shards(tmp_path / "in", 2, 50)
    rc = _score(model_dir, tmp_path, "--json", "--format", "jsonl")
    assert rc == 0
    events = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events] == ["start", "shard", "shard", "done"]
    assert events[-1]["rows"] == 100 and set(events[-1]["stages"]) >= {"read", "run", "write"}
    assert sorted(os.listdir(tmp_path / "out")) == ["part-00.jsonl", "part-01.jsonl"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--signature", "nope"], "no signature 'nope'"),
        (["--rename", "a=zz"], "has no input 'zz'"),
        (["--rename", "q=a"], "has no column 'q'"),
        (["--keep", "nope"], "--keep nope"),
        (["--outputs", "nope"], "no output 'nope'"),
        (["--format", "npy"], "a .npy output holds one tensor"),
    ],
)
def test_errors_are_one_line(tmp_path, model_dir, capsys, args, message) -> None:
    _write_shards(tmp_path / "in", 1, 10)
    rc = _score(model_dir, tmp_path, "--progress", "none", *args)
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tfbundle: error: ") and message in err[0], err


def test_column_matching_no_input(tmp_path, model_dir, capsys) -> None:
    pq.write_table(
        pa.table({"alpha": [1.0], "b": [[1.0, 2.0, 3.0]], "c": [1]}), tmp_path / "in.parquet"
    )
    rc = main(
        ["score", model_dir, "-i", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "o.parquet")]
    )
    assert rc == 2
    assert "input 'a' matches no column" in capsys.readouterr().err
    assert (
        main(
            [
                "score",
                model_dir,
                "-i",
                str(tmp_path / "in.parquet"),
                "-o",
                str(tmp_path / "o.parquet"),
                "--rename",
                "alpha=a",
                "--progress",
                "none",
            ]
        )
        == 0
    )


def test_usage_errors(tmp_path, model_dir, capsys) -> None:
    assert main(["score", model_dir, "-i", "x.parquet"]) == 2  # no --output
    assert main(["score", model_dir, "-i", "x", "-o", "y", "--batch-size", "0"]) == 2
    assert main(["score", model_dir, "-i", "x", "-o", "y", "--on-error", "maybe"]) == 2
    assert main(["score", model_dir, "-i", "x", "-o", "y", "--resume", "--overwrite"]) == 2
    assert main(["score", model_dir, "-i", str(tmp_path / "missing.parquet"), "-o", "y"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err
    assert main(["score", "--help"]) == 0
    assert "--on-error" in capsys.readouterr().out


def test_bad_row_stops_then_skip(tmp_path, model_dir, capsys) -> None:
    pq.write_table(
        pa.table({"a": [1.0, float("nan"), 2.0], "b": [[0.0, 0.0, 0.0]] * 3, "c": [1, 2, 3]}),
        tmp_path / "in.parquet",
    )
    args = [
        "score",
        model_dir,
        "-i",
        str(tmp_path / "in.parquet"),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--progress",
        "none",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "in.parquet: row 1:" in err and "a must be finite" in err
    assert main([*args, "--on-error", "skip"]) == 0
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 2
    (bad,) = [json.loads(x) for x in (tmp_path / "o.jsonl.errors.jsonl").read_text().splitlines()]
    assert bad["row"] == 1


def test_killed_job_resumes_exactly(tmp_path, model_dir) -> None:
    """SIGKILL after the first finished shard; --resume then writes exactly the missing rows."""
    _write_shards(tmp_path / "in", 6, 20000)
    base = [
        sys.executable,
        "-m",
        "tfbundle",
        "score",
        model_dir,
        "-i",
        str(tmp_path / "in"),
        "--keep",
        "id",
        "--batch-size",
        "64",
        "--inflight",
        "1",
    ]
    env = tfbundle_env()  # the tfbundle this process imports: the tree's, or the installed one
    subprocess.run(
        [*base, "-o", str(tmp_path / "full"), "--progress", "none"],
        check=True,
        env=env,
        timeout=600,
    )
    proc = subprocess.Popen(
        [*base, "-o", str(tmp_path / "out"), "--json"], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if json.loads(line)["event"] == "shard":
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = sorted(p.name for p in (tmp_path / "out").glob("part-*.parquet"))
    assert 1 <= len(done) < 6, done
    r = subprocess.run(
        [*base, "-o", str(tmp_path / "out"), "--resume", "--json"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    events = [json.loads(x) for x in r.stdout.splitlines()]
    assert events[0]["skipped"] == len(done)
    assert events[-1]["rows"] == (6 - len(done)) * 20000
    assert _concat(tmp_path / "out").equals(_concat(tmp_path / "full"))
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.listdir(tmp_path / "full"))


def test_the_allocator_setting_precedes_pyarrow(tmp_path, model_dir) -> None:
    """The command puts ALLOCATOR_ENV in the environment before anything imports pyarrow (mimalloc
    reads it only then); a value the user set is kept."""
    from tfbundle._base.arrow import ALLOCATOR_ENV

    _write_shards(tmp_path / "in", 1, 20)
    (key, value), = ALLOCATOR_ENV.items()
    script = (
        "import os, sys\n"
        "seen = []\n"
        "class Hook:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pyarrow' and not seen:\n"
        f"            seen.append(os.environ.get({key!r}))\n"
        "sys.meta_path.insert(0, Hook())\n"
        "from tfbundle.cli import main\n"
        "rc = main(['score', sys.argv[1], '-i', sys.argv[2], '-o', sys.argv[3], '--progress', 'none'])\n"
        "print(rc, seen)\n"
    )
    for preset, expected in ((None, value), ("7", "7")):
        env = tfbundle_env()
        env.pop(key, None)
        if preset is not None:
            env[key] = preset
        out = tmp_path / f"out-{preset}"
        r = subprocess.run(
            [sys.executable, "-c", script, model_dir, str(tmp_path / "in"), str(out)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[-1] == f"0 [{expected!r}]"


def test_workers_are_bound_to_cpus_unless_told(tmp_path, model_dir, monkeypatch) -> None:
    """The command binds each worker to its share of the CPUs (``pin_cpus``); --no-pin-cpus does not."""
    import tfbundle.scoring
    from tfbundle.scoring import ScoreReport

    calls: list[dict] = []

    def fake(*args, **kwargs):
        calls.append(kwargs)
        return ScoreReport()

    monkeypatch.setattr(tfbundle.scoring, "score", fake)
    assert _score(model_dir, tmp_path, "--workers", "2", "--progress", "none") == 0
    assert _score(model_dir, tmp_path, "--workers", "2", "--no-pin-cpus", "--progress", "none") == 0
    assert [(c["workers"], c["pin_cpus"]) for c in calls] == [(2, True), (2, False)]
