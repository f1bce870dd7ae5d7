"""tfbundle.score: inputs, outputs, mapping, errors, resume and workers (tests/makers/scoring.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import tfbundle  # noqa: E402
from tfbundle import tf_example  # noqa: E402
from tfbundle._readers.tfrecord import write_records  # noqa: E402
from tfbundle.scoring import ScoreError, score  # noqa: E402


@pytest.fixture(scope="module")
def made(tf_models) -> Path:
    return tf_models("scoring")


@pytest.fixture(scope="module")
def model_dir(made: Path) -> str:
    return str(made / "model")


@pytest.fixture(scope="module")
def model(model_dir: str):
    m = tfbundle.load(model_dir)
    yield m
    m.close()


@pytest.fixture(scope="module")
def rows(made: Path) -> dict[str, np.ndarray]:
    with np.load(made / "rows.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def expected(made: Path) -> dict[str, np.ndarray]:
    with np.load(made / "expected.npz") as z:
        return {k: z[k] for k in z.files}


def _table(rows: dict[str, np.ndarray], lo: int = 0, hi: int | None = None) -> pa.Table:
    hi = len(rows["a"]) if hi is None else hi
    b = rows["b"][lo:hi]
    return pa.table(
        {
            "id": np.arange(lo, hi),
            "a": rows["a"][lo:hi],
            "b": pa.FixedSizeListArray.from_arrays(pa.array(b.ravel()), 3),
            "c": rows["c"][lo:hi],
        }
    )


def _vec(col: pa.ChunkedArray) -> np.ndarray:
    return (
        np.stack(col.to_numpy(zero_copy_only=False)) if len(col) else np.zeros((0, 2), np.float32)
    )


def _check_outputs(table: pa.Table, expected: dict[str, np.ndarray], ids: np.ndarray) -> None:
    np.testing.assert_allclose(
        table["score"].to_numpy(), expected["score"][ids], rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(_vec(table["vec"]), expected["vec"][ids], rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ inputs ---


def test_parquet_named_columns(tmp_path, model, rows, expected) -> None:
    pq.write_table(_table(rows), tmp_path / "in.parquet", row_group_size=333)
    report = score(
        model, tmp_path / "in.parquet", tmp_path / "out.parquet", keep=["id"], batch_size=64
    )
    assert report.rows == 1000 and report.failed == 0 and report.shards == 1
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column_names == ["id", "score", "vec"]
    np.testing.assert_array_equal(out["id"].to_numpy(), np.arange(1000))
    _check_outputs(out, expected, np.arange(1000))
    # The same rows through an in-process call.
    direct = model(a=rows["a"], b=rows["b"], c=rows["c"])
    np.testing.assert_allclose(out["score"].to_numpy(), direct["score"], rtol=1e-6)
    assert set(report.stages.as_dict()) == {"read", "convert", "run", "write", "wait_feed"}
    assert "1000 rows in" in str(report)


def test_path_and_repository(tmp_path, model_dir, rows, expected) -> None:
    pq.write_table(_table(rows, 0, 100), tmp_path / "in.parquet")
    score(model_dir, str(tmp_path / "in.parquet"), str(tmp_path / "a.parquet"))
    _check_outputs(pq.read_table(tmp_path / "a.parquet"), expected, np.arange(100))
    base = tmp_path / "repo"
    base.mkdir()
    (base / "1").symlink_to(model_dir, target_is_directory=True)
    with tfbundle.ModelRepository(base, poll_interval=None, warmup=False) as repo:
        score(repo, tmp_path / "in.parquet", tmp_path / "b.parquet")
    _check_outputs(pq.read_table(tmp_path / "b.parquet"), expected, np.arange(100))


def test_arrow_ipc_file_and_stream(tmp_path, model, rows, expected) -> None:
    import pyarrow.ipc as ipc

    t = _table(rows)
    with ipc.new_file(tmp_path / "f.arrow", t.schema) as w:
        for rb in t.to_batches(max_chunksize=300):
            w.write_batch(rb)
    with ipc.new_stream(tmp_path / "s.arrow", t.schema) as w:
        w.write_table(t)
    for name in ("f", "s"):
        score(
            model,
            tmp_path / f"{name}.arrow",
            tmp_path / f"{name}.parquet",
            keep=["id"],
            batch_size=100,
        )
        out = pq.read_table(tmp_path / f"{name}.parquet")
        _check_outputs(out, expected, np.arange(1000))


def test_jsonl_input_and_output(tmp_path, model, rows, expected) -> None:
    with open(tmp_path / "in.jsonl", "w") as f:
        f.writelines(
            json.dumps(
                {
                    "id": f"k{i}",
                    "a": float(rows["a"][i]),
                    "b": rows["b"][i].tolist(),
                    "c": int(rows["c"][i]),
                }
            )
            + "\n"
            for i in range(50)
        )
    score(model, tmp_path / "in.jsonl", tmp_path / "out.jsonl", keep=["id"], batch_size=16)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == [f"k{i}" for i in range(50)]
    np.testing.assert_allclose(
        [r["score"] for r in lines], expected["score"][:50], rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        [r["vec"] for r in lines], expected["vec"][:50], rtol=1e-6, atol=1e-6
    )


def test_csv_input_and_output(tmp_path, model, rows) -> None:
    with open(tmp_path / "in.csv", "w") as f:
        f.write("key,a,c\n")
        f.writelines(f"{i},{float(rows['a'][i])!r},{rows['c'][i]}\n" for i in range(40))
    score(
        model,
        tmp_path / "in.csv",
        tmp_path / "out.csv",
        signature="scalars",
        keep=["key"],
        batch_size=7,
    )
    import pyarrow.csv as pcsv

    out = pcsv.read_csv(tmp_path / "out.csv")
    assert out.column_names == ["key", "score"]
    want = rows["a"][:40].astype(np.float64) * 2 + rows["c"][:40]
    np.testing.assert_allclose(out["score"].to_numpy(), want, rtol=1e-5, atol=1e-5)


def test_csv_value_past_the_first_block_that_does_not_convert(tmp_path, model) -> None:
    """pyarrow types a CSV's columns from its first block (1 MiB); a later value that does not fit
    is that row's error, with its file and row number, not the end of the job."""
    import pyarrow.csv as pcsv

    n = 200_000
    a = np.arange(n) * 0.5
    with open(tmp_path / "in.csv", "w") as f:
        f.write("key,a,c\n")
        for i in range(n):
            av = "abc" if i == 150_000 else repr(float(a[i]))
            cv = "" if i == 150_002 else str(i % 9)
            f.write(f"{i},{av},{cv}\n")
    with pytest.raises(ScoreError, match=r"in\.csv: row 150000: column 'a': 'abc' is not a double"):
        score(model, tmp_path / "in.csv", tmp_path / "o.csv", signature="scalars", keep=["key"])
    report = score(
        model,
        tmp_path / "in.csv",
        tmp_path / "o.csv",
        signature="scalars",
        keep=["key"],
        on_error="skip",
    )
    assert (report.rows, report.failed) == (n - 2, 2)
    errors = [json.loads(x) for x in (tmp_path / "o.csv.errors.jsonl").read_text().splitlines()]
    assert [(e["row"], e["error"]) for e in errors] == [
        (150_000, "column 'a': 'abc' is not a double"),
        (150_002, "column 'c': null value"),
    ]
    out = pcsv.read_csv(tmp_path / "o.csv")
    keys = out["key"].to_numpy()
    np.testing.assert_array_equal(keys, np.delete(np.arange(n), [150_000, 150_002]))
    np.testing.assert_allclose(out["score"].to_numpy(), a[keys] * 2 + keys % 9, rtol=1e-6)


def test_npz_and_npy(tmp_path, model, rows, expected) -> None:
    np.savez(tmp_path / "in.npz", **rows)
    score(model, tmp_path / "in.npz", tmp_path / "out.npy", outputs=["vec"], batch_size=300)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected["vec"], rtol=1e-6, atol=1e-6)
    np.save(tmp_path / "x.npy", rows["b"] * 0 + 1)  # the demo model takes x (None, 4): use our own
    demo = tfbundle.load(str(Path(tfbundle.__file__).parent / "data" / "demo_model"))
    x = np.random.default_rng(0).normal(size=(70, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    score(demo, tmp_path / "x.npy", tmp_path / "p.npy", outputs=["probabilities"], batch_size=32)
    np.testing.assert_allclose(
        np.load(tmp_path / "p.npy"), demo(x=x)["probabilities"], rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "compressed"])
def test_npz_read_by_rows(tmp_path, save) -> None:
    """.npz arrays come a batch at a time: stored members memory-mapped in the file, compressed
    ones decompressed as read; the rows are np.load's, in every batch size."""
    from tfbundle.scoring.npz import iter_npz, npz_names, npz_rows
    from tfbundle.scoring.sources import Shard

    rng = np.random.default_rng(3)
    arrays = {
        "x": rng.normal(size=(1001, 3, 2)).astype(np.float32),
        "id": np.arange(1001, dtype=np.int64),
        "s": np.array([f"r{i}" for i in range(1001)]),
        "big_endian": np.arange(1001, dtype=">i4"),
    }
    path = str(tmp_path / "a.npz")
    save(path, **arrays)
    assert npz_names(path) == list(arrays) and npz_rows(path) == 1001
    for batch in (1, 256, 1001, 5000):
        got = list(iter_npz(path, None, batch))
        assert [first for first, _ in got] == list(range(0, 1001, batch))
        for k, v in arrays.items():
            np.testing.assert_array_equal(np.concatenate([cols[k] for _, cols in got]), v)
    (_, cols), *_ = iter_npz(path, ["id", "nothing"], 10)
    assert list(cols) == ["id"]
    if save is np.savez:  # a view of the file's pages, not a copy
        assert isinstance(cols["id"].base, np.memmap) or isinstance(cols["id"], np.memmap)
    rows = [b.n for b in Shard(path).batches(300)]
    assert rows == [300, 300, 300, 101]


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "compressed"])
def test_npz_memory_stays_bounded(tmp_path, save) -> None:
    """Scoring a 48 MB .npz holds a batch's rows at a time, not the arrays (np.load would)."""
    import tracemalloc

    from tfbundle.scoring.sources import Shard

    save(tmp_path / "big.npz", x=np.ones((200_000, 60), np.float32))
    shard = Shard(str(tmp_path / "big.npz"))
    tracemalloc.start()
    try:
        rows = sum(b.n for b in shard.batches(1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == 200_000
    assert peak < 8 << 20, f"{peak / 2**20:.1f} MiB held at once"


def test_npz_bad_inputs(tmp_path) -> None:
    from tfbundle.scoring.npz import iter_npz

    np.savez(tmp_path / "uneven.npz", a=np.zeros(3), b=np.zeros(4))
    uneven = r"uneven\.npz: the arrays have different numbers of rows \(\[3, 4\]\)"
    with pytest.raises(tfbundle.InvalidArgumentError, match=uneven):
        list(iter_npz(str(tmp_path / "uneven.npz"), None, 2))
    np.savez(tmp_path / "scalar.npz", a=np.float32(1))
    with pytest.raises(tfbundle.InvalidArgumentError, match="'a' is a scalar, not rows"):
        list(iter_npz(str(tmp_path / "scalar.npz"), None, 2))
    np.savez(tmp_path / "objects.npz", a=np.array([{"k": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):  # numpy's own refusal, as np.load gives it
        list(iter_npz(str(tmp_path / "objects.npz"), None, 2))
    np.savez_compressed(tmp_path / "cut.npz", a=np.arange(100000, dtype=np.int64))
    import zipfile

    with zipfile.ZipFile(tmp_path / "cut.npz") as zf:
        member = zf.read("a.npy")
    with zipfile.ZipFile(tmp_path / "short.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        # a header that promises 100000 rows over the bytes of 1000
        zf.writestr("a.npy", member[: len(member) - 99000 * 8])
    with pytest.raises(tfbundle.InvalidArgumentError, match=r"short\.npz: truncated array"):
        list(iter_npz(str(tmp_path / "short.npz"), None, 4096))
    fortran = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(4, 3))
    np.savez(tmp_path / "fortran.npz", a=fortran)  # loaded whole, still right
    got = np.concatenate([c["a"] for _, c in iter_npz(str(tmp_path / "fortran.npz"), None, 3)])
    np.testing.assert_array_equal(got, fortran)


@pytest.mark.parametrize("name", ["examples.tfrecord", "examples.tfrecord.gz"])
def test_tfrecord_features_parsed(tmp_path, made, model, expected, name) -> None:
    """Named inputs read from tf.Example records; TensorFlow's parse gave the expected outputs."""
    score(model, made / name, tmp_path / "out.parquet", keep=["id"], batch_size=128)
    out = pq.read_table(tmp_path / "out.parquet")
    assert out["id"].to_pylist()[:3] == [b"r0", b"r1", b"r2"]
    _check_outputs(out, expected, np.arange(1000))


def test_tfrecord_fed_as_records(tmp_path, made, model, expected) -> None:
    score(model, made / "examples.tfrecord.gz", tmp_path / "p.parquet", signature="parse")
    _check_outputs(pq.read_table(tmp_path / "p.parquet"), expected, np.arange(1000))
    score(model, made / "examples.tfrecord", tmp_path / "c.parquet", signature="classify")
    out = pq.read_table(tmp_path / "c.parquet")
    np.testing.assert_allclose(
        np.stack(out["scores"].to_numpy(zero_copy_only=False)), expected["class_scores"], rtol=1e-6
    )
    assert out["classes"][0].as_py() == [b"neg", b"pos"]
    score(model, made / "examples.tfrecord", tmp_path / "r.jsonl", signature="regress")
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(
        [r["outputs"] for r in lines], expected["regress"], rtol=1e-6, atol=1e-6
    )


def test_rows_encoded_to_examples(tmp_path, model, rows, expected) -> None:
    """A table fed to a signature of serialized tf.Examples: each row becomes one."""
    pq.write_table(_table(rows, 0, 200), tmp_path / "in.parquet")
    score(model, tmp_path / "in.parquet", tmp_path / "out.parquet", signature="parse", keep=["id"])
    _check_outputs(pq.read_table(tmp_path / "out.parquet"), expected, np.arange(200))


def test_rename(tmp_path, model, rows, expected) -> None:
    t = _table(rows, 0, 10).rename_columns(["id", "alpha", "b", "c"])
    pq.write_table(t, tmp_path / "in.parquet")
    with pytest.raises(
        tfbundle.InvalidArgumentError, match=r"input 'a' matches no column .*--rename COLUMN=a"
    ):
        score(model, tmp_path / "in.parquet", tmp_path / "out.parquet")
    score(model, tmp_path / "in.parquet", tmp_path / "out.parquet", rename={"alpha": "a"})
    _check_outputs(pq.read_table(tmp_path / "out.parquet"), expected, np.arange(10))
    with pytest.raises(tfbundle.InvalidArgumentError, match="has no input 'zz'"):
        score(model, tmp_path / "in.parquet", tmp_path / "o2.parquet", rename={"alpha": "zz"})
    with pytest.raises(tfbundle.InvalidArgumentError, match="has no column 'nope'"):
        score(model, tmp_path / "in.parquet", tmp_path / "o2.parquet", rename={"nope": "a"})


def test_bad_arguments(tmp_path, model, rows) -> None:
    pq.write_table(_table(rows, 0, 10), tmp_path / "in.parquet")
    src = tmp_path / "in.parquet"
    with pytest.raises(tfbundle.NotFoundError, match="no signature 'nope'"):
        score(model, src, tmp_path / "o.parquet", signature="nope")
    with pytest.raises(tfbundle.NotFoundError, match="no input file matches"):
        score(model, str(tmp_path / "*.csv"), tmp_path / "o.parquet")
    with pytest.raises(tfbundle.InvalidArgumentError, match="no output 'x'"):
        score(model, src, tmp_path / "o.parquet", outputs=["x"])
    with pytest.raises(tfbundle.InvalidArgumentError, match="batch_size"):
        score(model, src, tmp_path / "o.parquet", batch_size=0)
    with pytest.raises(tfbundle.InvalidArgumentError, match="keep"):
        score(model, src, tmp_path / "o.parquet", keep=["zz"])
    assert not (tmp_path / "o.parquet").exists()
    score(model, src, tmp_path / "o.parquet")
    with pytest.raises(tfbundle.FailedPreconditionError, match="exists"):
        score(model, src, tmp_path / "o.parquet")
    score(model, src, tmp_path / "o.parquet", overwrite=True)


# ------------------------------------------------------------------ errors ---


def _with_bad_rows(rows: dict[str, np.ndarray], bad_nan: int, bad_null: int) -> pa.Table:
    t = _table(rows, 0, 300)
    a = rows["a"][:300].copy()
    a[bad_nan] = np.nan  # the model's check_numerics fails the run
    c = pa.array(
        [None if i == bad_null else int(v) for i, v in enumerate(rows["c"][:300])], pa.int64()
    )
    return t.set_column(1, "a", pa.array(a)).set_column(3, "c", c)


def test_on_error_stop_names_file_and_row(tmp_path, model, rows) -> None:
    pq.write_table(_with_bad_rows(rows, 137, 250), tmp_path / "in.parquet")
    with pytest.raises(ScoreError, match=r"in.parquet: row 137: .*a must be finite") as e:
        score(model, tmp_path / "in.parquet", tmp_path / "out.parquet", batch_size=64)
    assert (e.value.row, Path(e.value.file).name) == (137, "in.parquet")
    assert not (tmp_path / "out.parquet").exists()
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize(("batch_size", "group_rows"), [(64, None), (7, 20), (1, 3), (300, 1)])
def test_on_error_skip(
    tmp_path, model, rows, expected, batch_size, group_rows, monkeypatch
) -> None:
    """Rows that fail to run (137) and to read (250, a null) wherever they fall: in the middle of a
    group of batches handed between the stages, at its edge, or in a group of one batch."""
    from tfbundle.scoring import pipeline

    if group_rows is not None:
        monkeypatch.setattr(pipeline._Group, "GROUP_ROWS", group_rows)
    pq.write_table(_with_bad_rows(rows, 137, 250), tmp_path / "in.parquet")
    report = score(
        model,
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        batch_size=batch_size,
        keep=["id"],
        on_error="skip",
    )
    assert (report.rows, report.failed) == (298, 2)
    out = pq.read_table(tmp_path / "out.parquet")
    ids = np.array([i for i in range(300) if i not in (137, 250)])
    np.testing.assert_array_equal(out["id"].to_numpy(), ids)
    _check_outputs(out, expected, ids)
    errs = [json.loads(x) for x in (tmp_path / "out.parquet.errors.jsonl").read_text().splitlines()]
    assert [(e["row"], Path(e["file"]).name) for e in errs] == [
        (137, "in.parquet"),
        (250, "in.parquet"),
    ]
    assert "a must be finite" in errs[0]["error"] and errs[0]["id"] == 137
    assert "null" in errs[1]["error"]
    assert report.error_files == [str(tmp_path / "out.parquet.errors.jsonl")]


def test_bad_records_skipped(tmp_path, made, model, expected) -> None:
    from tfbundle._readers.tfrecord import iter_records

    records = list(iter_records(made / "examples.tfrecord"))[:100]
    records[5] = b"\xff\xff not an example"
    records[9] = tf_example.encode_example({"a": [1.0], "c": [1]})  # no b
    write_records(tmp_path / "in.tfrecord", records)
    with pytest.raises(ScoreError, match="row 5"):
        score(model, tmp_path / "in.tfrecord", tmp_path / "o.parquet")
    report = score(
        model, tmp_path / "in.tfrecord", tmp_path / "o.parquet", on_error="skip", keep=["id"]
    )
    assert (report.rows, report.failed) == (98, 2)
    ids = np.array([i for i in range(100) if i not in (5, 9)])
    _check_outputs(pq.read_table(tmp_path / "o.parquet"), expected, ids)


def test_corrupt_tfrecord_stops(tmp_path, made, model) -> None:
    data = bytearray((made / "examples.tfrecord").read_bytes())
    data[5000] ^= 1
    (tmp_path / "in.tfrecord").write_bytes(bytes(data))
    with pytest.raises(tfbundle.DataLossError, match=r"in.tfrecord: record \d+ at byte \d+"):
        score(model, tmp_path / "in.tfrecord", tmp_path / "o.parquet", on_error="skip")
    assert not (tmp_path / "o.parquet").exists()


# ------------------------------------------------------- shards, resume, workers ---


def _shards(tmp_path: Path, rows: dict[str, np.ndarray], n: int = 4) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    for k in range(n):
        lo, hi = k * 250, (k + 1) * 250
        pq.write_table(_table(rows, lo, hi), d / f"part-{k}.parquet")
    return d


def _all_rows(out: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted(out.glob("part-*.parquet")))


def test_folder_of_shards_and_resume(tmp_path, model, rows, expected) -> None:
    d = _shards(tmp_path, rows)
    out = tmp_path / "out"
    report = score(model, str(d / "*.parquet"), out, keep=["id"])
    assert report.shards == 4 and report.rows == 1000
    full = _all_rows(out)
    np.testing.assert_array_equal(full["id"].to_numpy(), np.arange(1000))
    # A job killed during shard 2: shards 0-1 done, 2 half-written under its temporary name, 3 not started.
    (out / "part-2.parquet").rename(out / ".part-2.parquet.tmp-12345")
    (out / "part-3.parquet").unlink()
    report = score(model, d, out, keep=["id"], resume=True)
    assert (report.skipped_shards, report.rows) == (2, 500)
    again = _all_rows(out)
    assert again.equals(full)
    _check_outputs(again, expected, np.arange(1000))


def test_workers(tmp_path, model_dir, rows) -> None:
    d = _shards(tmp_path, rows)
    one = score(model_dir, d, tmp_path / "one", keep=["id"])
    two = score(model_dir, d, tmp_path / "two", keep=["id"], workers=2)
    assert two.workers == 2 and two.rows == one.rows == 1000
    assert _all_rows(tmp_path / "two").equals(_all_rows(tmp_path / "one"))


def test_workers_start_before_the_scoring_thread(tmp_path, model_dir, rows, monkeypatch) -> None:
    """The worker processes are started before this process's scoring thread loads its model:
    TensorFlow's library changes the environment while it opens, and a spawn at that moment could
    exec with a torn environment (the worker then dies with exit code 255 and no message)."""
    import multiprocessing

    from tfbundle.scoring import api

    seen: list[int] = []
    real = api._open_model

    def opening(model, load_kwargs):
        seen.append(len(multiprocessing.active_children()))
        return real(model, load_kwargs)

    monkeypatch.setattr(api, "_open_model", opening)
    d = _shards(tmp_path, rows)
    report = score(model_dir, d, tmp_path / "out", workers=2)
    assert report.rows == 1000 and seen == [1]


def test_worker_processes_get_the_worker_environment(tmp_path, model_dir, rows, monkeypatch) -> None:
    from tfbundle.scoring import api

    entries: list[dict[str, str]] = []
    real = api.environment_with

    def recording(env=api.ALLOCATOR_ENV):
        entries.append(dict(env))
        return real(env)

    monkeypatch.setattr(api, "environment_with", recording)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    score(model_dir, _shards(tmp_path, rows), tmp_path / "out", workers=2)
    assert entries == [api.WORKER_ENV]
    assert api.WORKER_ENV["OPENBLAS_NUM_THREADS"] == "1"
    assert set(api.ALLOCATOR_ENV) < set(api.WORKER_ENV)


def test_cpu_shares(monkeypatch) -> None:
    from tfbundle.scoring.api import cpu_shares

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6}, raising=False)
    assert cpu_shares(2) == [[0, 1, 2], [3, 4, 5, 6]]
    assert cpu_shares(3) == [[0, 1], [2, 3], [4, 5, 6]]
    assert cpu_shares(7) == [[k] for k in range(7)]
    assert cpu_shares(8) == []  # more workers than CPUs: nobody is bound
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {5, 9}, raising=False)
    assert cpu_shares(2) == [[5], [9]]  # the CPUs this process may use, not 0..n-1
    monkeypatch.delattr("os.sched_getaffinity", raising=False)
    assert cpu_shares(2) == []  # a platform that cannot bind


@pytest.mark.skipif(
    not hasattr(__import__("os"), "sched_setaffinity")
    or len(__import__("os").sched_getaffinity(0)) < 2,
    reason="binding workers needs Linux and 2 CPUs",
)
def test_pinned_workers(tmp_path, model_dir, rows, monkeypatch) -> None:
    """With pin_cpus, this process's scoring thread binds itself to the first share (the worker
    processes to theirs) and the rows are the unbound job's; the calling thread stays unbound."""
    import os
    import threading

    from tfbundle.scoring import api

    before = os.sched_getaffinity(0)
    bound: list[tuple[str, list[int], set[int]]] = []
    real = os.sched_setaffinity

    def binding(pid, cpus):
        real(pid, cpus)
        bound.append((threading.current_thread().name, list(cpus), os.sched_getaffinity(0)))

    monkeypatch.setattr(os, "sched_setaffinity", binding)
    d = _shards(tmp_path, rows)
    free = score(model_dir, d, tmp_path / "free", keep=["id"], workers=2)
    assert bound == []  # the default binds nothing
    pinned = score(model_dir, d, tmp_path / "pinned", keep=["id"], workers=2, pin_cpus=True)
    first = api.cpu_shares(2)[0]
    assert bound == [("tfbundle-score-0", first, set(first))]
    assert os.sched_getaffinity(0) == before
    assert pinned.rows == free.rows == 1000
    assert _all_rows(tmp_path / "pinned").equals(_all_rows(tmp_path / "free"))


def test_float_outputs_are_not_dictionary_encoded(tmp_path, model, rows) -> None:
    """Model outputs (floats) are written plain: a dictionary of values that seldom repeat is
    work thrown away; kept ids and labels keep Parquet's dictionary encoding."""
    t = _table(rows).append_column("label", pa.array(["a", "b"] * 500))
    pq.write_table(t, tmp_path / "in.parquet")
    score(model, tmp_path / "in.parquet", tmp_path / "o.parquet", keep=["id", "label"])
    md = pq.ParquetFile(tmp_path / "o.parquet").metadata.row_group(0)
    enc = {md.column(i).path_in_schema: md.column(i).encodings for i in range(md.num_columns)}
    assert set(enc) == {"id", "label", "score", "vec.list.element"}
    assert "RLE_DICTIONARY" in enc["id"] and "RLE_DICTIONARY" in enc["label"]
    assert "RLE_DICTIONARY" not in enc["score"] and "RLE_DICTIONARY" not in enc["vec.list.element"]


def test_worker_errors_reach_the_caller(tmp_path, model_dir, rows) -> None:
    d = _shards(tmp_path, rows)
    pq.write_table(_with_bad_rows(rows, 3, 250), d / "part-1.parquet")
    with pytest.raises(ScoreError, match=r"part-1\.parquet: row 3"):
        score(model_dir, d, tmp_path / "out", workers=2)
    assert not list((tmp_path / "out").glob("part-1*"))


def test_progress_events(tmp_path, model, rows, capsys) -> None:
    pq.write_table(_table(rows), tmp_path / "in.parquet")
    score(
        model, tmp_path / "in.parquet", tmp_path / "o.parquet", progress="json", progress_interval=0
    )
    events = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "progress" in kinds and "shard" in kinds
    assert events[0]["total_rows"] == 1000 and events[-1]["rows"] == 1000
    score(model, tmp_path / "in.parquet", tmp_path / "o2.parquet", progress="log")
    err = capsys.readouterr().err
    assert "tfbundle score: 1000 rows in" in err and "run" in err


def test_flat_rows_reshaped_to_the_input() -> None:
    """A flat list column (an image stored as 150528 floats) feeds a (None, 224, 224, 3) input."""
    from types import SimpleNamespace

    from tfbundle.scoring.convert import to_tensor

    spec = SimpleNamespace(dtype=np.dtype(np.float32), shape=(None, 2, 3), tf_dtype="DT_FLOAT")
    assert to_tensor(np.zeros((4, 6)), spec, "x").shape == (4, 2, 3)
    with pytest.raises(tfbundle.InvalidArgumentError, match=r"takes shape \(None, 2, 3\)"):
        to_tensor(np.zeros((4, 5)), spec, "x")


def test_jsonl_bad_lines(tmp_path, model, rows, expected) -> None:
    lines = [
        json.dumps({"a": float(rows["a"][i]), "b": rows["b"][i].tolist(), "c": int(rows["c"][i])})
        for i in range(10)
    ]
    lines[2] = "{not json"
    lines[6] = json.dumps({"a": 1.0, "c": 2})  # no b
    (tmp_path / "in.jsonl").write_text("\n".join(["", *lines]) + "\n")
    with pytest.raises(ScoreError, match=r"in\.jsonl: row 2: bad JSON"):
        score(model, tmp_path / "in.jsonl", tmp_path / "o.jsonl", batch_size=4)
    report = score(
        model, tmp_path / "in.jsonl", tmp_path / "o.jsonl", batch_size=4, on_error="skip"
    )
    assert (report.rows, report.failed) == (8, 2)
    errs = [json.loads(x) for x in (tmp_path / "o.jsonl.errors.jsonl").read_text().splitlines()]
    assert [e["row"] for e in errs] == [2, 6] and "'b'" in errs[1]["error"]
    got = [json.loads(x)["score"] for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    ids = [i for i in range(10) if i not in (2, 6)]
    np.testing.assert_allclose(got, expected["score"][ids], rtol=1e-6, atol=1e-6)


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, model, monkeypatch) -> None:
    """A Parquet input or output without pyarrow: refused before anything runs, naming the extra."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a)
    )
    (tmp_path / "in.jsonl").write_text(json.dumps({"a": 1.0, "b": [1.0, 2.0, 3.0], "c": 1}) + "\n")
    with pytest.raises(tfbundle.FailedPreconditionError, match=r"pip install 'tfbundle\[score\]'"):
        score(model, tmp_path / "in.jsonl", tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_the_bar_library_is_imported_early_only_for_a_bar() -> None:
    """tqdm's import (tens of ms) starts in a thread before the model loads, when a bar will be
    drawn: never for the other progress modes."""
    import subprocess
    import sys

    from _util import tfbundle_env

    code = (
        "import sys, threading\n"
        "from tfbundle.scoring.progress import import_bar_early\n"
        "import_bar_early(sys.argv[1])\n"
        "for t in threading.enumerate():\n"
        "    if t.name == 'tfbundle-import-tqdm':\n"
        "        t.join()\n"
        "print('tqdm' in sys.modules)\n"
    )
    for mode, imported in (("bar", "True"), ("none", "False"), ("log", "False"), ("auto", "False")):
        r = subprocess.run(
            [sys.executable, "-c", code, mode], env=tfbundle_env(), capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == imported, (mode, r.stdout, r.stderr)


# --------------------------------------------------------------------- URIs ---


def _every_format(d: Path, rows: dict[str, np.ndarray]) -> dict[str, tuple[str, dict]]:
    """The same 1000 rows in each input format: file name -> (file, score's keyword arguments)."""
    import gzip

    import pyarrow.csv as pcsv
    import pyarrow.ipc as ipc

    d.mkdir(parents=True)
    t = _table(rows)
    pq.write_table(t, d / "p.parquet", row_group_size=300)
    with ipc.new_file(d / "a.arrow", t.schema) as w:
        w.write_table(t)
    ids = np.arange(len(rows["a"]))
    flat = pa.table({"id": ids, "a": rows["a"], "c": rows["c"]})
    pcsv.write_csv(flat, d / "s.csv")
    with gzip.open(d / "s.csv.gz", "wb") as f:
        f.write((d / "s.csv").read_bytes())
    lines = "".join(
        json.dumps({"id": int(i), "a": float(a), "c": int(c)}) + "\n"
        for i, a, c in zip(ids, rows["a"], rows["c"])
    )
    (d / "j.jsonl").write_text(lines)
    with gzip.open(d / "j.jsonl.gz", "wt") as f:
        f.write(lines)
    np.savez(d / "z.npz", id=ids, **rows)
    np.savez_compressed(d / "zc.npz", id=ids, **rows)
    np.save(d / "x.npy", rows["b"])
    scalars = {"signature": "scalars", "keep": ["id"]}
    return {
        "p.parquet": ("p.parquet", {"keep": ["id"]}),
        "a.arrow": ("a.arrow", {"keep": ["id"]}),
        "s.csv": ("s.csv", scalars),
        "s.csv.gz": ("s.csv.gz", scalars),
        "j.jsonl": ("j.jsonl", scalars),
        "j.jsonl.gz": ("j.jsonl.gz", scalars),
        "z.npz": ("z.npz", {"keep": ["id"]}),
        "zc.npz": ("zc.npz", {"keep": ["id"]}),
    }


def test_inputs_given_as_uris(tmp_path, model, rows) -> None:
    """Every format read through pyarrow's filesystem (a file:// URI here; s3:// and gs:// take the
    same path) gives the rows a local read gives."""
    d = tmp_path / "in"
    for name, (file, kwargs) in _every_format(d, rows).items():
        local = score(model, d / file, tmp_path / "local" / f"{name}.parquet", **kwargs)
        remote = score(model, (d / file).as_uri(), tmp_path / "uri" / f"{name}.parquet", **kwargs)
        assert remote.rows == local.rows == 1000, name
        assert pq.read_table(tmp_path / "uri" / f"{name}.parquet").equals(
            pq.read_table(tmp_path / "local" / f"{name}.parquet")
        ), name
    from tfbundle.scoring.sources import Shard

    shard = Shard((d / "x.npy").as_uri())
    (column,) = shard.column_names()
    got = [b.columns[column] for b in shard.batches(300)]
    assert [len(g) for g in got] == [300, 300, 300, 100]
    np.testing.assert_array_equal(np.concatenate(got), rows["b"])
    assert Shard((d / "x.npy").as_uri()).num_rows() == 1000


def test_folder_and_glob_uris_with_workers(tmp_path, model_dir, rows) -> None:
    d = _shards(tmp_path, rows)
    (d / "_SUCCESS").write_bytes(b"")
    (d / "notes.txt").write_text("not an input")
    local = score(model_dir, d, tmp_path / "local", keep=["id"])
    by_folder = score(model_dir, d.as_uri() + "/", tmp_path / "folder", keep=["id"], workers=2)
    by_glob = score(model_dir, d.as_uri() + "/part-*.parquet", tmp_path / "glob", keep=["id"])
    assert local.rows == by_folder.rows == by_glob.rows == 1000 and by_folder.workers == 2
    for out in ("folder", "glob"):
        assert _all_rows(tmp_path / out).equals(_all_rows(tmp_path / "local"))


def test_uri_errors(tmp_path, model, rows) -> None:
    d = _shards(tmp_path, rows, n=1)
    with pytest.raises(tfbundle.NotFoundError, match="does not exist"):
        score(model, (tmp_path / "nothing.parquet").as_uri(), tmp_path / "o")
    with pytest.raises(tfbundle.NotFoundError, match=r"no input file matches 'file://.*\*\.csv'"):
        score(model, d.as_uri() + "/*.csv", tmp_path / "o")
    (tmp_path / "empty").mkdir()
    with pytest.raises(tfbundle.NotFoundError, match="holds no input file of a known format"):
        score(model, (tmp_path / "empty").as_uri(), tmp_path / "o")
    with pytest.raises(tfbundle.InvalidArgumentError, match="pyarrow has no filesystem for it"):
        score(model, "nosuchscheme://bucket/data/", tmp_path / "o")
    with pytest.raises(tfbundle.InvalidArgumentError, match="pyarrow has no filesystem for it"):
        score(model, d, "nosuchscheme://bucket/scores/")


def test_outputs_to_uris(tmp_path, model, rows) -> None:
    """Outputs and errors files go to a URI's filesystem (file:// here), each uploaded under a
    temporary name and moved to its own when whole; resume and overwrite ask that filesystem."""
    d = _shards(tmp_path, rows)
    local = score(model, d, tmp_path / "local", keep=["id"])
    out = (tmp_path / "out").as_uri()
    report = score(model, d, out, keep=["id"])
    assert report.rows == local.rows == 1000
    assert report.outputs == [f"{out}/part-{k}.parquet" for k in range(4)]
    assert _all_rows(tmp_path / "out").equals(_all_rows(tmp_path / "local"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"part-{k}.parquet" for k in range(4)]
    with pytest.raises(tfbundle.FailedPreconditionError, match=r"part-0\.parquet exists"):
        score(model, d, out, keep=["id"])
    (tmp_path / "out" / "part-2.parquet").unlink()
    again = score(model, d, out, keep=["id"], resume=True)
    assert (again.skipped_shards, again.rows) == (3, 250)
    assert _all_rows(tmp_path / "out").equals(_all_rows(tmp_path / "local"))
    one = score(model, d / "part-1.parquet", (tmp_path / "one.jsonl").as_uri(), keep=["id"])
    assert one.rows == 250 and len((tmp_path / "one.jsonl").read_text().splitlines()) == 250
    pq.write_table(_with_bad_rows(rows, 3, 7), d / "part-1.parquet")
    bad = score(model, d / "part-1.parquet", out + "/bad.parquet", on_error="skip")
    assert bad.failed == 2 and bad.error_files == [out + "/bad.parquet.errors.jsonl"]
    assert len((tmp_path / "out" / "bad.parquet.errors.jsonl").read_text().splitlines()) == 2
    pq.write_table(_table(rows), d / "part-1.parquet")
    score(model, d / "part-1.parquet", out + "/bad.parquet", on_error="skip", overwrite=True)
    assert not (tmp_path / "out" / "bad.parquet.errors.jsonl").exists()  # the stale one removed


def test_uri_query_goes_to_every_file(monkeypatch, tmp_path) -> None:
    """A URI's query (an S3 region or endpoint) is kept on each file it lists, so that the
    workers, which open the files from their URIs, reach the same store."""
    import pyarrow.fs as pafs

    from tfbundle.scoring import sources

    (tmp_path / "bucket" / "day=1").mkdir(parents=True)
    for n in ("a.parquet", "b.tfrecord", "c.txt"):
        (tmp_path / "bucket" / "day=1" / n).write_bytes(b"")
    store = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    seen = []

    def from_uri(uri):
        seen.append(uri)
        return store, uri.split("://", 1)[1].split("?", 1)[0].rstrip("/")

    monkeypatch.setattr(sources, "from_uri", from_uri)
    got = sources.expand_inputs("s3://bucket/day=1/?region=eu-west-3&scheme=http")
    assert got == [
        "s3://bucket/day=1/a.parquet?region=eu-west-3&scheme=http",
        "s3://bucket/day=1/b.tfrecord?region=eu-west-3&scheme=http",
    ]


@pytest.mark.parametrize("kind", ["s3", "gcs", "hdfs", "local"])
def test_publish_stages_only_where_a_move_is_a_rename(tmp_path, monkeypatch, kind) -> None:
    """An S3 or GCS upload goes to the object's name (it appears only when complete; a move would
    copy it again); elsewhere the upload goes to a temporary name, then moves to its own."""
    import pyarrow.fs as pafs

    from tfbundle._base import fs as tfs

    local = pafs.SubTreeFileSystem(str(tmp_path / "store"), pafs.LocalFileSystem())
    (tmp_path / "store" / "out").mkdir(parents=True)
    calls: list[tuple[str, ...]] = []

    class Store:
        type_name = kind

        def open_output_stream(self, path):
            calls.append(("upload", path))
            return local.open_output_stream(path)

        def move(self, src, dst):
            calls.append(("move", src, dst))
            local.move(src, dst)

    monkeypatch.setattr(tfs, "from_uri", lambda uri: (Store(), uri.split("://", 1)[1]))
    tmp = tmp_path / "scores.parquet.local"
    tmp.write_bytes(b"the whole file")
    tfs.publish(str(tmp), "x://out/scores.parquet")
    assert (tmp_path / "store" / "out" / "scores.parquet").read_bytes() == b"the whole file"
    assert not tmp.exists()
    if kind in ("s3", "gcs"):
        assert calls == [("upload", "out/scores.parquet")]
    else:
        staged = f"out/.scores.parquet.tmp-{__import__('os').getpid()}"
        assert calls == [("upload", staged), ("move", staged, "out/scores.parquet")]


def test_a_job_of_local_json_lines_imports_no_pyarrow(tmp_path, model_dir) -> None:
    """JSON lines in, JSON lines out, on local paths: pyarrow is not imported (it is an extra, and
    its import costs start-up); the URI helpers import it only for URIs."""
    import subprocess
    import sys

    from _util import tfbundle_env

    (tmp_path / "in.jsonl").write_text(json.dumps({"a": 1.0, "c": 2}) + "\n")
    code = (
        "import sys, tfbundle\n"
        f"r = tfbundle.score({model_dir!r}, {str(tmp_path / 'in.jsonl')!r}, "
        f"{str(tmp_path / 'out.jsonl')!r}, signature='scalars')\n"
        "print(r.rows, 'pyarrow' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=tfbundle_env(), capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["1", "False"]


def test_uris_with_encoded_characters(tmp_path, model, rows) -> None:
    """A folder URI whose path is percent-encoded (a space) lists files as URIs that open again."""
    d = tmp_path / "day 1"
    d.mkdir()
    pq.write_table(_table(rows), d / "p.parquet")
    from tfbundle.scoring.sources import expand_inputs

    (found,) = expand_inputs(d.as_uri() + "/")
    assert found == d.as_uri() + "/p.parquet" and "%20" in found
    report = score(model, found, tmp_path / "o.parquet", keep=["id"])
    assert report.rows == 1000


def test_uri_of_keeps_scheme_authority_and_query() -> None:
    from tfbundle._base.fs import uri_of

    assert uri_of("s3://bucket/data/?region=eu-west-3", "bucket/data/a b.parquet") == (
        "s3://bucket/data/a%20b.parquet?region=eu-west-3"
    )
    assert uri_of("hdfs://nn:8020/data/", "/data/p.parquet") == "hdfs://nn:8020/data/p.parquet"
    assert uri_of("file:///tmp/x/", "/tmp/x/day=1/p.parquet") == "file:///tmp/x/day=1/p.parquet"


def test_npy_through_a_uri_streamed_or_loaded(tmp_path) -> None:
    """A remote .npy is read by rows; a Fortran-ordered one whole (as np.load); a truncated one
    is an error naming the file."""
    from tfbundle.scoring.sources import Shard

    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    np.save(tmp_path / "c.npy", x)
    np.save(tmp_path / "f.npy", np.asfortranarray(x))
    for name in ("c.npy", "f.npy"):
        shard = Shard((tmp_path / name).as_uri())
        (col,) = shard.column_names()
        got = [b.columns[col] for b in shard.batches(8)]
        assert [len(g) for g in got] == [8, 8, 4], name
        np.testing.assert_array_equal(np.concatenate(got), x)
    whole = (tmp_path / "c.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(whole[:-10])
    with pytest.raises(tfbundle.InvalidArgumentError, match=r"cut\.npy: truncated array"):
        list(Shard((tmp_path / "cut.npy").as_uri()).batches(8))


def test_broken_npz_is_named(tmp_path) -> None:
    """A member whose local header is not where the zip index says, or a file that is no zip:
    an error naming the file, not zipfile's bare one."""
    from tfbundle.scoring.npz import iter_npz, npz_names

    np.savez(tmp_path / "a.npz", x=np.arange(10))
    data = bytearray((tmp_path / "a.npz").read_bytes())
    assert data[:4] == b"PK\x03\x04"
    data[:4] = b"XX\x03\x04"  # the first (only) member's local header signature
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(tfbundle.InvalidArgumentError, match=r"bad\.npz: not a readable \.npz file \(Bad magic"):
        list(iter_npz(str(tmp_path / "bad.npz"), None, 4))
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(tfbundle.InvalidArgumentError, match=r"text\.npz: not a readable \.npz file"):
        npz_names(str(tmp_path / "text.npz"))
