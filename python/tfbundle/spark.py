"""Batch inference on Spark: ``predict_batch_udf`` for a SavedModel, and ``mapInArrow``.

:func:`predict_batch_udf` wraps :func:`pyspark.ml.functions.predict_batch_udf`: the model is
loaded once per Python worker (its ``make_predict_fn``, cached by pyspark) and runs batches of
``batch_size`` rows. The signature's inputs, their shapes and the return type are read from the
SavedModel on the driver, without TensorFlow::

    from pyspark.sql import functions as fn
    import tfbundle.spark

    classify = tfbundle.spark.predict_batch_udf("/models/iris/1", batch_size=1024)
    scored = df.withColumn("pred", classify(fn.col("features")))
    scored.select("id", "pred.class_ids", "pred.probabilities")

Several inputs take one column each, in the order of ``inputs`` (default: the signature's input
keys, sorted); array columns are reshaped to the inputs' shapes. One output gives a column of
its type, several a struct with one field per output; outputs of more than one dimension per
row are flattened into arrays (row-major).

With ``mapInArrow`` each task gets Arrow record batches and yields new ones; the model is loaded
once per Python worker by caching it in the module (``tfbundle.load`` is not repeated per
partition)::

    import functools, numpy as np, pyarrow as pa, tfbundle, tfbundle.ray

    @functools.cache
    def model():
        return tfbundle.load("/models/iris/1")

    def score(batches):
        for batch in batches:
            x = tfbundle.ray.column_to_numpy(batch.column("features"))  # fixed-size list -> 2-D
            out = model()(x=x.astype(np.float32, copy=False))
            yield pa.RecordBatch.from_arrays(
                [batch.column("id"), pa.array(out["class_ids"])], names=["id", "class_ids"]
            )

    df.mapInArrow(score, "id long, class_ids long")

(``tfbundle.ray.column_to_numpy`` needs only numpy and pyarrow, not Ray.) pyspark is imported by
this module only; install it with ``pip install 'tfbundle[spark]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ._base.dtypes import cast_numeric
from ._base.paths import PathLike, resolve_export_dir
from ._runtime.model import _INIT_SIGNATURE, DEFAULT_SIGNATURE
from .errors import InvalidArgumentError, NotFoundError

__all__ = ["make_predict_fn", "predict_batch_udf", "spark_type"]


def spark_type(dtype: Any, shape: Sequence[int | None] | None) -> Any:
    """The Spark SQL type of an output column: the element type of ``dtype``, in an ArrayType when
    ``shape`` has more than the batch dimension."""
    from pyspark.sql import types as sql_types

    kinds = {
        "float32": sql_types.FloatType(),
        "float64": sql_types.DoubleType(),
        "int8": sql_types.ByteType(),
        "int16": sql_types.ShortType(),
        "int32": sql_types.IntegerType(),
        "int64": sql_types.LongType(),
        "uint8": sql_types.ShortType(),
        "bool": sql_types.BooleanType(),
    }
    d = np.dtype(dtype) if dtype is not None else np.dtype(object)
    element = sql_types.BinaryType() if d.kind == "O" else kinds.get(d.name)
    if element is None:
        raise InvalidArgumentError(f"an output of dtype {d} has no Spark type: pass return_type=...")
    if shape is not None and len(shape) <= 1:
        return element
    return sql_types.ArrayType(element, containsNull=False)


def _signature_info(export_dir: str, tags: Any, signature: str | None) -> Any:
    from ._readers.inspect import inspect

    meta = inspect(export_dir).meta_graph(tags)
    sigs = {k: v for k, v in meta.signatures.items() if k != _INIT_SIGNATURE}
    if signature is None:
        if DEFAULT_SIGNATURE in sigs:
            return sigs[DEFAULT_SIGNATURE]
        if len(sigs) == 1:
            return next(iter(sigs.values()))
        raise NotFoundError(
            f"{export_dir} has no '{DEFAULT_SIGNATURE}' signature: pass signature= one of "
            f"{', '.join(map(repr, sigs))}"
        )
    if signature not in sigs:
        raise NotFoundError(f"{export_dir} has no signature {signature!r}; it has {', '.join(map(repr, sigs))}")
    return sigs[signature]


def make_predict_fn(
    export_dir: str,
    *,
    signature: str | None = None,
    inputs: Sequence[str],
    outputs: Sequence[str],
    flatten: bool = True,
    load_options: Mapping[str, Any] | None = None,
) -> Callable[[], Callable[..., Any]]:
    """The ``make_predict_fn`` of :func:`pyspark.ml.functions.predict_batch_udf` for a SavedModel.

    The function it returns loads the model (where pyspark calls it: once per Python worker) and
    returns ``predict(*columns)``: the columns are fed to ``inputs`` in order (numeric ones cast to
    the inputs' dtypes), and the result is one array when ``outputs`` has one key, else a dict of
    output key -> array; with ``flatten``, rows of more than one dimension become 1-D.
    """
    options = dict(load_options or {})
    keys = list(inputs)
    wanted = list(outputs)

    def make() -> Callable[..., Any]:
        from ._runtime.model import load

        model = load(export_dir, **options)
        sig = model.signatures[signature] if signature is not None else model.default_signature
        dtypes = [sig.inputs[k].dtype for k in keys]

        def predict(*columns: np.ndarray) -> Any:
            feeds = {key: cast_numeric(np.asarray(c), dtype) for key, dtype, c in zip(keys, dtypes, columns)}
            values = sig.run(feeds, wanted)
            if flatten:
                values = [v.reshape(len(v), -1) if v.ndim > 2 else v for v in values]
            return values[0] if len(values) == 1 else dict(zip(wanted, values))

        predict.model = model  # type: ignore[attr-defined]  # for tests and debugging
        return predict

    return make


def predict_batch_udf(
    model_dir: PathLike,
    *,
    signature: str | None = None,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | str | None = None,
    return_type: Any = None,
    batch_size: int = 1024,
    input_tensor_shapes: Any = None,
    **load_options: Any,
) -> Any:
    """A Spark pandas UDF that runs a SavedModel's signature, made with pyspark's ``predict_batch_udf``.

    Args:
        model_dir: the SavedModel (a path every executor can read: a shared or local copy).
        signature: the signature to run; ``serving_default``, or the only one, when None.
        inputs: the input keys, in the order the UDF takes its columns; the signature's input
            keys, sorted, when None.
        outputs: the output key(s) to compute; all of them (sorted) when None.
        return_type: the UDF's Spark type; by default made from the outputs' dtypes and shapes
            (one output: its type; several: a struct of them; an output with more than one
            value per row: an array).
        batch_size: rows per call of the model.
        input_tensor_shapes: pyspark's: the shape of each input's rows, by position; by default
            the signature's shapes without the batch dimension, when all their dimensions are
            known and there is more than the batch one.
        **load_options: passed to :func:`tfbundle.load` on the executors (``tags``,
            ``intra_op_threads``, ...).

    Returns:
        The UDF: call it with one column per input, ``udf(fn.col("x"))``.

    Raises:
        NotFoundError: no SavedModel at ``model_dir``, or no such signature.
        InvalidArgumentError: ``inputs`` or ``outputs`` name keys the signature does not have.
    """
    from pyspark.ml.functions import predict_batch_udf as spark_predict_batch_udf

    export_dir = resolve_export_dir(model_dir)
    info = _signature_info(export_dir, load_options.get("tags"), signature)
    keys = sorted(info.inputs) if inputs is None else list(inputs)
    wanted = sorted(info.outputs) if outputs is None else ([outputs] if isinstance(outputs, str) else list(outputs))
    for what, names, have in (("inputs", keys, info.inputs), ("outputs", wanted, info.outputs)):
        unknown = [n for n in names if n not in have]
        if unknown:
            raise InvalidArgumentError(
                f"{what} names {', '.join(map(repr, unknown))}, which signature {info.key!r} does not have; "
                f"it has {', '.join(map(repr, have))}"
            )
    if input_tensor_shapes is None:
        shapes: list[list[int] | None] = []
        for k in keys:
            shape = info.inputs[k].shape
            rows = list(shape[1:]) if shape is not None and len(shape) > 1 else None
            shapes.append(rows if rows is not None and all(d is not None for d in rows) else None)
        input_tensor_shapes = shapes if any(s is not None for s in shapes) else None
    if return_type is None:
        from pyspark.sql import types as sql_types

        specs = {k: info.outputs[k] for k in wanted}
        if len(specs) == 1:
            spec = next(iter(specs.values()))
            return_type = spark_type(spec.dtype, spec.shape)
        else:
            return_type = sql_types.StructType(
                [sql_types.StructField(k, spark_type(s.dtype, s.shape)) for k, s in specs.items()]
            )
    make = make_predict_fn(
        export_dir,
        signature=info.key,
        inputs=keys,
        outputs=wanted,
        load_options=load_options,
    )
    return spark_predict_batch_udf(
        make, return_type=return_type, batch_size=batch_size, input_tensor_shapes=input_tensor_shapes
    )
