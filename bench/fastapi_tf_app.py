"""The service a user writes today: FastAPI + TensorFlow's Python loader (bench_serve.py's baseline).

It answers TF Serving's REST predict request, ``POST /v1/models/{name}:predict`` with
``{"instances": [...]}``, as ``tfbundle serve`` does, so one load generator drives both::

    BENCH_MODEL=path/to/saved_model uvicorn bench.fastapi_tf_app:app --workers 2

Each worker loads the model with ``tf.saved_model.load`` at start (after uvicorn's workers are
spawned, so none of TensorFlow's threads cross a fork), and runs the call in FastAPI's thread
pool (a plain ``def`` endpoint), the way its documentation suggests for blocking work.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf
from fastapi import Body, FastAPI

MODEL = tf.saved_model.load(os.environ["BENCH_MODEL"])
SIGNATURE = MODEL.signatures["serving_default"]
INPUT = next(iter(SIGNATURE.structured_input_signature[1]))
DTYPE = SIGNATURE.structured_input_signature[1][INPUT].dtype.as_numpy_dtype

app = FastAPI()


@app.post("/v1/models/{name}:predict")
def predict(name: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008 (FastAPI's idiom)
    x = tf.constant(np.asarray(body["instances"], dtype=DTYPE))
    outputs = SIGNATURE(**{INPUT: x})
    if len(outputs) == 1:
        return {"predictions": next(iter(outputs.values())).numpy().tolist()}
    columns = {k: v.numpy().tolist() for k, v in outputs.items()}
    rows = len(next(iter(columns.values())))
    return {"predictions": [{k: v[i] for k, v in columns.items()} for i in range(rows)]}
