"""Pure helpers shared by the benchmark's driver (run.py) and its workers (worker.py).

Nothing here imports TensorFlow or tfbundle, and nothing here measures time: statistics,
formatting, tensor-name parsing and the deterministic benchmark inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

# Per model: the signature's input key, the input's trailing dimensions (after the batch one),
# the output key and the output's trailing dimensions.
MODELS: dict[str, dict] = {
    "dense": {"input": "x", "dims": (256,), "output": "y", "out_dims": (10,)},
    "mobilenet_v2": {"input": "x", "dims": (224, 224, 3), "output": "y", "out_dims": (1000,)},
}


def percentile(samples: Sequence[float], q: float) -> float:
    """Return the q-th percentile of ``samples`` with linear interpolation (numpy's default).

    Args:
        samples: the values; need not be sorted.
        q: the percentile, 0 to 100.

    Returns:
        The interpolated percentile.

    Raises:
        ValueError: ``samples`` is empty or ``q`` is outside 0..100.
    """
    if not samples:
        raise ValueError("percentile of an empty sample: the measurement produced no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(samples: Sequence[float]) -> float:
    """Return the median of ``samples`` (see :func:`percentile`)."""
    return percentile(samples, 50.0)


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Summarize a list of measurements.

    Args:
        samples: the values (any unit).

    Returns:
        A dict with n, median, p90, p99, mean, min and max, in the unit of the samples.

    Raises:
        ValueError: ``samples`` is empty.
    """
    return {
        "n": len(samples),
        "median": median(samples),
        "p90": percentile(samples, 90.0),
        "p99": percentile(samples, 99.0),
        "mean": sum(samples) / len(samples) if samples else float("nan"),
        "min": min(samples),
        "max": max(samples),
    }


def parse_tensor_name(name: str) -> tuple[str, int]:
    """Split a graph tensor name into operation name and output index.

    Args:
        name: ``"op:0"`` or a bare ``"op"`` (index 0), as in a SignatureDef's ``tensor_info.name``.

    Returns:
        ``(op_name, index)``.

    Raises:
        ValueError: the name is empty or its index is not a non-negative integer.
    """
    if not name:
        raise ValueError(
            "empty tensor name; expected 'op_name:index' such as 'serving_default_x:0'"
        )
    op, sep, idx = name.rpartition(":")
    if not sep:
        return name, 0
    if not op or not idx.isdigit():
        raise ValueError(
            f"bad tensor name {name!r}; expected 'op_name:index' such as 'serving_default_x:0'"
        )
    return op, int(idx)


def input_shape(model: str, batch: int) -> tuple[int, ...]:
    """Return the benchmark input shape of ``model`` at ``batch``.

    Args:
        model: a key of :data:`MODELS`.
        batch: the batch size.

    Returns:
        ``(batch, *trailing_dims)``.

    Raises:
        ValueError: unknown model name or batch below 1.
    """
    if model not in MODELS:
        raise ValueError(f"unknown bench model {model!r}; choose from {', '.join(MODELS)}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    return (batch, *MODELS[model]["dims"])


def make_input(model: str, batch: int):
    """Return the deterministic float32 benchmark input of ``model`` at ``batch``.

    Every worker builds the same values, so outputs can be compared across frameworks.

    Args:
        model: a key of :data:`MODELS`.
        batch: the batch size.

    Returns:
        A C-contiguous float32 numpy array of shape :func:`input_shape`.
    """
    import numpy as np

    rng = np.random.default_rng(1000 + batch)
    return rng.uniform(-1.0, 1.0, size=input_shape(model, batch)).astype(np.float32)


def fmt_time(seconds: float | None) -> str:
    """Format a duration with a unit that keeps 3 significant figures (us, ms or s).

    Args:
        seconds: the duration, or None / NaN for a missing value.

    Returns:
        e.g. ``"12.3 us"``, ``"4.56 ms"``, ``"2.51 s"``, or ``"-"`` when missing.
    """
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    if seconds < 1e-3:
        value, unit = seconds * 1e6, "us"
    elif seconds < 1.0:
        value, unit = seconds * 1e3, "ms"
    else:
        value, unit = seconds, "s"
    if value >= 100:
        text = f"{value:.0f}"
    elif value >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}"


def fmt_ratio(num: float | None, den: float | None) -> str:
    """Format ``num / den`` as ``"3.21x"``, or ``"-"`` if either is missing or ``den`` is 0."""
    if num is None or den is None or den == 0 or math.isnan(num) or math.isnan(den):
        return "-"
    r = num / den
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x"


def render_table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    """Render a plain-text table: the first ``left`` columns left-aligned, the others right-aligned.

    Args:
        header: column titles.
        rows: rows of cell strings, each as long as ``header``.
        left: how many leading columns are left-aligned.

    Returns:
        The table as lines joined by newlines (no trailing newline).

    Raises:
        ValueError: a row's length differs from the header's.
    """
    rows = [list(r) for r in rows]
    for r in rows:
        if len(r) != len(header):
            raise ValueError(f"table row has {len(r)} cells, header has {len(header)}: {r}")
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(parts).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)
