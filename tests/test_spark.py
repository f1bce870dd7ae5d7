"""tfbundle.spark on a local Spark (``local[2]``, one session for the module), compared with a
plain in-process run."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'tfbundle[spark]')")
pa = pytest.importorskip("pyarrow")

import tfbundle  # noqa: E402
import tfbundle.spark  # noqa: E402
from tfbundle.cli.demo import demo_model_path  # noqa: E402

N = 500
ROWS = np.random.default_rng(11).normal(size=(N, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    # The Python workers start from the JVM, which has this process's environment: they import
    # tfbundle from where this process does, and this module (mapInArrow's function) from here.
    saved = {k: os.environ.get(k) for k in ("PYSPARK_PYTHON", "PYTHONPATH")}
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p
        for p in (str(Path(tfbundle.__file__).parents[1]), str(Path(__file__).parent), os.environ.get("PYTHONPATH"))
        if p
    )
    session = (
        SparkSession.builder.master("local[2]")
        .appName("tfbundle-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def frame(spark: Any) -> Any:
    return spark.createDataFrame(
        [(i, [float(v) for v in ROWS[i]]) for i in range(N)], "id long, features array<float>"
    ).repartition(2)


@pytest.fixture(scope="module")
def want() -> dict[str, np.ndarray]:
    with tfbundle.load(demo_model_path()) as model:
        return {**model(x=ROWS), **model.signatures["logits"](x=ROWS)}


def test_udfs_match_an_in_process_run(frame: Any, want: dict[str, np.ndarray]) -> None:
    """Every output as a struct; one output; another signature with load options (one Spark job)."""
    from pyspark.sql import functions as fn
    from pyspark.sql import types as sql_types

    every = tfbundle.spark.predict_batch_udf(demo_model_path(), batch_size=64)
    assert every.returnType == sql_types.StructType(
        [
            sql_types.StructField("class_ids", sql_types.LongType()),
            sql_types.StructField("probabilities", sql_types.ArrayType(sql_types.FloatType(), False)),
        ]
    )
    ids = tfbundle.spark.predict_batch_udf(demo_model_path(), outputs="class_ids", batch_size=100)
    assert ids.returnType == sql_types.LongType()
    logits = tfbundle.spark.predict_batch_udf(
        demo_model_path(), signature="logits", batch_size=100, tags="serve", intra_op_threads=1
    )
    rows = (
        frame.select(
            "id", every(fn.col("features")).alias("pred"), ids("features").alias("c"), logits("features").alias("l")
        )
        .orderBy("id")
        .collect()
    )
    assert [r["id"] for r in rows] == list(range(N))
    assert [r["pred"]["class_ids"] for r in rows] == want["class_ids"].tolist()
    assert [r["c"] for r in rows] == want["class_ids"].tolist()
    # Batches of another size may sum in another order: equal to float32 rounding.
    got = np.array([r["pred"]["probabilities"] for r in rows], dtype=np.float32)
    assert np.allclose(got, want["probabilities"], rtol=1e-5, atol=1e-6)
    assert np.allclose(np.array([r["l"] for r in rows]), want["logits"], rtol=1e-5, atol=1e-5)


def test_udf_errors_on_the_driver() -> None:
    with pytest.raises(tfbundle.InvalidArgumentError, match="outputs names 'nope'"):
        tfbundle.spark.predict_batch_udf(demo_model_path(), outputs=["nope"])
    with pytest.raises(tfbundle.NotFoundError, match="no signature 'other'"):
        tfbundle.spark.predict_batch_udf(demo_model_path(), signature="other")


@functools.cache
def cached_model() -> tfbundle.Model:
    return tfbundle.load(demo_model_path())


def score(batches: Iterator[Any]) -> Iterator[Any]:
    """The mapInArrow example of tfbundle.spark's docstring."""
    import tfbundle.ray

    for batch in batches:
        x = tfbundle.ray.column_to_numpy(batch.column("features"))
        out = cached_model()(x=x.astype(np.float32, copy=False))
        yield pa.RecordBatch.from_arrays([batch.column("id"), pa.array(out["class_ids"])], names=["id", "class_ids"])


def test_map_in_arrow_example(frame: Any, want: dict[str, np.ndarray]) -> None:
    rows = frame.mapInArrow(score, "id long, class_ids long").orderBy("id").collect()
    assert [r["class_ids"] for r in rows] == want["class_ids"].tolist()
