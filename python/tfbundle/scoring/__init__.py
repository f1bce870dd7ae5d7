"""Batch scoring: run a SavedModel's signature over files of rows (``tfbundle.score``).

    >>> import tfbundle
    >>> report = tfbundle.score("models/ranker", "data/*.parquet", "scores/", keep=["id"])
    >>> print(report)

The command is ``tfbundle score MODEL_DIR --input PATH_OR_GLOB --output PATH``. Inputs are
Parquet, Arrow IPC, CSV, JSON lines, .npy/.npz and TFRecord files of tf.Example, read without
TensorFlow and streamed in batches; outputs are Parquet, JSON lines, CSV or .npy, one row per
input row, in input order, one output file per input file, each renamed into place only when
complete (so ``resume=True`` after a kill writes exactly what is missing).

Modules: ``sources`` (reading inputs), ``convert`` (rows -> feeds), ``sinks`` (writing outputs),
``pipeline`` (one process's overlapped read/convert/run/write), ``progress``, ``api``
(:func:`score`, workers).
"""

from __future__ import annotations

from .api import ScoreReport, score
from .pipeline import ScoreError

__all__ = ["ScoreError", "ScoreReport", "score"]
