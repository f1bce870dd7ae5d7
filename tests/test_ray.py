"""tfbundle.ray: the map_batches Predictor and the TFRecord datasource, on a local Ray
(two CPUs, started once for the module), compared with a plain in-process run."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'tfbundle[ray]')")
pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

import tfbundle  # noqa: E402
import tfbundle.ray  # noqa: E402
from tfbundle import tf_example  # noqa: E402
from tfbundle._readers.tfrecord import write_records  # noqa: E402
from tfbundle.cli.demo import demo_model_path  # noqa: E402

N = 1000
ROWS = np.random.default_rng(5).normal(size=(N, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model() -> Iterator[tfbundle.Model]:
    with tfbundle.load(demo_model_path()) as m:
        yield m


@pytest.fixture(scope="module")
def want(model: tfbundle.Model) -> dict[str, np.ndarray]:
    return model(x=ROWS)


def gather(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.stack([np.asarray(r[key]) for r in rows])


# ------------------------------------------------------- without Ray running ---


def test_predictor_takes_read_only_and_unaligned_arrays(want: dict[str, np.ndarray]) -> None:
    p = tfbundle.ray.Predictor(demo_model_path())
    x = ROWS.copy()
    x.flags.writeable = False  # what Ray's zero-copy batches are
    out = p({"x": x})
    assert out.keys() == want.keys() and np.array_equal(out["probabilities"], want["probabilities"])
    strided = np.repeat(ROWS, 2, axis=1)[:, ::2]  # not C-contiguous: copied once
    assert np.array_equal(p({"x": strided})["class_ids"], want["class_ids"])
    assert np.array_equal(p({"x": ROWS.astype(np.float64)})["class_ids"], want["class_ids"])  # cast
    with pytest.raises(tfbundle.InvalidTypeError, match="float32"):
        tfbundle.ray.Predictor(demo_model_path(), cast=False)({"x": ROWS.astype(np.float64)})


def test_predictor_arrow_and_pandas_batches(want: dict[str, np.ndarray]) -> None:
    p = tfbundle.ray.Predictor(
        demo_model_path(), inputs={"x": "features"}, outputs={"class_ids": "label"}, keep_columns=["id"]
    )
    ids = np.arange(N)
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(ROWS.reshape(-1)), 4)
    table = pa.table({"id": ids, "features": fixed})
    out = p(table.slice(10))  # an offset into the list's values
    assert out.column_names == ["id", "label"]
    assert out["label"].to_numpy().tolist() == want["class_ids"][10:].tolist()
    frame = pd.DataFrame({"id": ids, "features": list(ROWS)})
    got = p(frame)
    assert list(got.columns) == ["id", "label"] and np.array_equal(got["label"].to_numpy(), want["class_ids"])
    probs = tfbundle.ray.Predictor(demo_model_path(), outputs=["probabilities"])(pa.table({"x": fixed}))
    assert pa.types.is_fixed_size_list(probs["probabilities"].type)
    assert np.allclose(tfbundle.ray.column_to_numpy(probs["probabilities"]), want["probabilities"])


def test_predictor_errors_say_what_to_do() -> None:
    with pytest.raises(tfbundle.InvalidArgumentError, match=r"no column 'x' for input 'x'.*inputs="):
        tfbundle.ray.Predictor(demo_model_path())({"y": ROWS})
    with pytest.raises(tfbundle.InvalidArgumentError, match="its inputs are 'x'"):
        tfbundle.ray.Predictor(demo_model_path(), inputs={"z": "x"})
    with pytest.raises(tfbundle.InvalidArgumentError, match="its outputs are"):
        tfbundle.ray.Predictor(demo_model_path(), outputs=["nope"])
    with pytest.raises(tfbundle.InvalidArgumentError, match="holds lists of different lengths"):
        tfbundle.ray.column_to_numpy(pa.array([[1.0], [1.0, 2.0]]))


# ------------------------------------------------------------------- on Ray ---


@pytest.mark.parametrize("batch_format", ["numpy", "pyarrow", "pandas"])
def test_map_batches_matches_an_in_process_run(
    local_ray: None, want: dict[str, np.ndarray], batch_format: str
) -> None:
    ds = ray.data.from_items([{"id": i, "x": ROWS[i]} for i in range(N)], override_num_blocks=4)
    out = ds.map_batches(
        tfbundle.ray.Predictor,
        fn_constructor_kwargs={"model": demo_model_path(), "keep_columns": ["id"]},
        concurrency=2,
        num_cpus=0.5,
        batch_size=128,
        batch_format=batch_format,
    )
    rows = sorted(out.take_all(), key=lambda r: r["id"])
    assert [r["id"] for r in rows] == list(range(N))
    assert np.array_equal(gather(rows, "class_ids"), want["class_ids"])
    # Batches of another size may sum in another order: equal to float32 rounding.
    assert np.allclose(gather(rows, "probabilities"), want["probabilities"], rtol=1e-5, atol=1e-6)


def test_a_loaded_model_goes_to_the_actors_by_reference(local_ray: None, want: dict[str, np.ndarray]) -> None:
    loaded = tfbundle.load(demo_model_path(), intra_op_threads=1)
    ds = ray.data.from_numpy(ROWS).rename_columns({"data": "x"})
    out = ds.map_batches(
        tfbundle.ray.Predictor,
        fn_constructor_kwargs={"model": loaded, "signature": "logits"},
        concurrency=1,
        batch_size=256,
    )
    got = out.to_pandas()["logits"]
    assert np.allclose(np.stack(got.to_list()), loaded.signatures["logits"](x=ROWS)["logits"], rtol=1e-5, atol=1e-5)
    loaded.close()


def write_examples(path: Path, rows: np.ndarray, first_id: int, compression: str | None = None) -> list[bytes]:
    records = tf_example.encode(
        [{"x": r, "id": [first_id + i], "name": f"row{first_id + i}"} for i, r in enumerate(rows)]
    )
    write_records(path, records, compression=compression)
    return records


def test_read_tfrecords_raw_and_parsed(local_ray: None, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    records = write_examples(folder / "a.tfrecord", ROWS[:600], 0)
    records += write_examples(folder / "b.tfrecord.gz", ROWS[600:], 600, compression="GZIP")
    (folder / "_SUCCESS").write_bytes(b"")  # left out, as are hidden files
    raw = tfbundle.ray.read_tfrecords(folder, rows_per_block=100)
    assert raw.schema().names == ["example"]
    assert sorted(r["example"] for r in raw.take_all()) == sorted(records)
    spec = {"x": (np.float32, [4]), "id": np.int64, "name": bytes}
    ds = tfbundle.ray.read_tfrecords(str(folder / "*.tfrecord*"), features=spec, include_paths=True)
    table = pa.concat_tables(ray.get(ds.to_arrow_refs())).sort_by("id")
    assert table.column_names == ["x", "id", "name", "path"]
    assert np.array_equal(tfbundle.ray.column_to_numpy(table["x"]), ROWS)
    assert table["name"].to_pylist()[598:602] == [b"row598", b"row599", b"row600", b"row601"]
    assert table["path"].to_pylist()[0].endswith("a.tfrecord")


def test_read_tfrecords_then_predict_without_tensorflow(
    local_ray: None, tmp_path: Path, want: dict[str, np.ndarray]
) -> None:
    write_examples(tmp_path / "part-0", ROWS[:500], 0)
    write_examples(tmp_path / "part-1", ROWS[500:], 500)
    ds = tfbundle.ray.read_tfrecords(tmp_path, features={"x": (np.float32, [4]), "id": np.int64})
    out = ds.map_batches(
        tfbundle.ray.Predictor,
        fn_constructor_kwargs={"model": demo_model_path(), "keep_columns": ["id"], "outputs": ["class_ids"]},
        concurrency=1,
        batch_size=200,
        batch_format="pyarrow",
    )
    got = out.to_pandas().sort_values("id")
    assert np.array_equal(got["class_ids"].to_numpy(), want["class_ids"])


def test_read_tfrecords_errors(local_ray: None, tmp_path: Path) -> None:
    with pytest.raises(tfbundle.NotFoundError, match="does not exist"):
        tfbundle.ray.read_tfrecords(tmp_path / "nothing")
    with pytest.raises(tfbundle.InvalidArgumentError, match="float32, int64 or bytes"):
        tfbundle.ray.read_tfrecords(tmp_path, features={"x": np.float64})
    write_examples(tmp_path / "f.tfrecord", ROWS[:10], 0)
    ds = tfbundle.ray.read_tfrecords(tmp_path / "f.tfrecord", features={"y": np.float32}, rows_per_block=4)
    with pytest.raises(Exception, match=r"f\.tfrecord: tf\.Example record 0, feature 'y': missing"):
        ds.take_all()
    (tmp_path / "g.tfrecord").write_bytes(gzip.compress(b"not a tfrecord file at all"))
    with pytest.raises(Exception, match=r"g\.tfrecord: record 0"):
        tfbundle.ray.read_tfrecords(tmp_path / "g.tfrecord").take_all()


def _subtree(tmp_path: Path) -> Any:
    """A pyarrow filesystem whose paths are not local paths: what an S3 or GCS filesystem is to
    the reader (the files are reached only through the filesystem's streams)."""
    import pyarrow.fs as pafs

    return pafs.SubTreeFileSystem(str(tmp_path / "bucket"), pafs.LocalFileSystem())


def test_read_tfrecords_from_a_pyarrow_filesystem(local_ray: None, tmp_path: Path) -> None:
    data = tmp_path / "bucket" / "data"
    (data / "day=2").mkdir(parents=True)
    a = write_examples(data / "a.tfrecord", ROWS[:300], 0)
    b = write_examples(data / "day=2" / "b.tfrecord.gz", ROWS[300:], 300, compression="GZIP")
    (data / "_SUCCESS").write_bytes(b"")
    (data / ".part.tmp").write_bytes(b"garbage")
    fs = _subtree(tmp_path)
    assert not Path("data").exists()  # the paths below mean something only in fs
    raw = tfbundle.ray.read_tfrecords("data", filesystem=fs, rows_per_block=128)
    assert sorted(r["example"] for r in raw.take_all()) == sorted(a + b)
    spec = {"x": (np.float32, [4]), "id": np.int64}
    ds = tfbundle.ray.read_tfrecords(
        ["data/*.tfrecord", "data/*/*.gz"], filesystem=fs, features=spec, include_paths=True
    )
    table = pa.concat_tables(ray.get(ds.to_arrow_refs())).sort_by("id")
    assert np.array_equal(tfbundle.ray.column_to_numpy(table["x"]), ROWS)
    assert set(table["path"].to_pylist()) == {"data/a.tfrecord", "data/day=2/b.tfrecord.gz"}
    uri = tfbundle.ray.read_tfrecords((data / "a.tfrecord").as_uri(), features=spec)  # file:///...
    assert np.array_equal(np.sort(uri.to_pandas()["id"].to_numpy()), np.arange(300))


def test_read_tfrecords_filesystem_errors(tmp_path: Path) -> None:
    """Checked where read_tfrecords is called, before Ray reads anything."""
    (tmp_path / "bucket" / "data").mkdir(parents=True)
    fs = _subtree(tmp_path)
    with pytest.raises(tfbundle.NotFoundError, match=r"data/missing\.tfrecord does not exist"):
        tfbundle.ray.read_tfrecords("data/missing.tfrecord", filesystem=fs)
    with pytest.raises(tfbundle.NotFoundError, match=r"no file matches data/\*\.tfrecord"):
        tfbundle.ray.read_tfrecords("data/*.tfrecord", filesystem=fs)
    with pytest.raises(tfbundle.NotFoundError, match="no TFRecord files in data"):
        tfbundle.ray.read_tfrecords("data", filesystem=fs)
    with pytest.raises(tfbundle.InvalidArgumentError, match="pyarrow has no filesystem for it"):
        tfbundle.ray.read_tfrecords("nosuchscheme://bucket/data")


def test_tfrecord_reader_through_a_filesystem(tmp_path: Path) -> None:
    """The reader's checks are the same through a pyarrow filesystem: records, GZIP told apart,
    and a truncated file named with its record."""
    from tfbundle._readers.tfrecord import RecordError, iter_records

    data = tmp_path / "bucket"
    data.mkdir()
    plain = write_examples(data / "p.tfrecord", ROWS[:50], 0)
    zipped = write_examples(data / "z.tfrecord.gz", ROWS[:50], 0, compression="GZIP")
    fs = _subtree(tmp_path)
    assert list(iter_records("p.tfrecord", filesystem=fs)) == plain
    assert list(iter_records("z.tfrecord.gz", filesystem=fs)) == zipped == plain
    whole = (data / "p.tfrecord").read_bytes()
    (data / "cut.tfrecord").write_bytes(whole[:-7])
    with pytest.raises(RecordError, match=r"cut\.tfrecord: record 49 at byte \d+: truncated record") as e:
        list(iter_records("cut.tfrecord", filesystem=fs))
    assert (e.value.path, e.value.index) == ("cut.tfrecord", 49)
    with pytest.raises(tfbundle.NotFoundError, match=r"gone\.tfrecord does not exist"):
        list(iter_records("gone.tfrecord", filesystem=fs))
