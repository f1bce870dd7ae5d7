"""TensorFlow's restore against the memory-mapped one, on every SavedModel at hand.

Usage::

    python bench/bench_restore_modes.py [--repeats N] [--testdata DIR] [--json OUT] [MODEL_DIR ...]

For each SavedModel (the bench's own models in ``bench/_build/models``, every SavedModel under
``../shared/testdata`` when it is there, and any folder given), in one warm process (TensorFlow's
libraries opened by an untimed load first), loads it ``--repeats`` times (default 5) with each of
``restore="tf"`` and ``restore="mmap"``, alternating, and times the load and the first call of
its default signature on made-up inputs (the first call is where mapped pages fault in). Reports
medians, mmap over tf, whether the outputs of the two are equal, and what ``restore="auto"``
(the default) chose for the model. A model that ``restore="mmap"`` cannot load shows the reason.
Needs tfbundle importable (from a source tree: ``PYTHONPATH=python``), not TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import tfbundle
from tfbundle.cli.bench import _made_up_inputs

HERE = Path(__file__).resolve().parent


def _models(testdata: Path | None, extra: list[str]) -> list[Path]:
    found: list[Path] = []
    built = HERE / "_build" / "models"
    if built.is_dir():
        found += sorted(p.parent for p in built.glob("*/saved_model.pb"))
    if testdata is not None and testdata.is_dir():
        found += sorted(p.parent for p in testdata.rglob("saved_model.pb") if (p.parent / "variables").is_dir())
    found += [Path(p) for p in extra]
    return found


def _first_call(model: tfbundle.Model) -> dict[str, np.ndarray] | None:
    if not model.signatures:
        return None
    name = "serving_default" if "serving_default" in model.signatures else min(model.signatures)
    signature = model.signatures[name]
    rng_inputs = _made_up_inputs(signature, 1)
    return signature(**rng_inputs)


def _once(path: Path, restore: str) -> tuple[float, float, dict[str, np.ndarray] | None, str]:
    t0 = time.perf_counter()
    model = tfbundle.load(path, restore=restore)
    t1 = time.perf_counter()
    try:
        out = _first_call(model)
    except tfbundle.Error:
        out = None
    t2 = time.perf_counter()
    chosen = model.restore
    model.close()
    return t1 - t0, t2 - t1, out, chosen


def _equal(a: dict[str, np.ndarray] | None, b: dict[str, np.ndarray] | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a)


def measure(path: Path, repeats: int) -> dict[str, Any]:
    row: dict[str, Any] = {"model": str(path)}
    try:
        _, _, _, row["auto_chose"] = _once(path, "auto")
    except tfbundle.Error as e:
        row["error"] = f"{type(e).__name__}: {e}"
        return row
    times: dict[str, dict[str, list[float]]] = {m: {"load": [], "first_call": []} for m in ("tf", "mmap")}
    outputs: dict[str, Any] = {}
    for _ in range(repeats):
        for mode in ("tf", "mmap"):
            if mode in row.get("unsupported", {}):
                continue
            try:
                load_s, call_s, out, _ = _once(path, mode)
            except tfbundle.Error as e:
                row.setdefault("unsupported", {})[mode] = f"{type(e).__name__}: {e}"
                continue
            times[mode]["load"].append(load_s)
            times[mode]["first_call"].append(call_s)
            outputs[mode] = out
    for mode, t in times.items():
        if t["load"]:
            row[mode] = {k: statistics.median(v) for k, v in t.items()}
    if "tf" in row and "mmap" in row:
        total = {m: row[m]["load"] + row[m]["first_call"] for m in ("tf", "mmap")}
        row["mmap_over_tf"] = total["mmap"] / total["tf"]
        row["outputs_equal"] = _equal(outputs["tf"], outputs["mmap"])
    return row


def _ms(row: dict[str, Any], mode: str) -> str:
    """Load + first call in ms, or why the mode could not load the model (shortened)."""
    if mode not in row:
        return str(row.get("unsupported", {}).get(mode, row.get("error", "-")))[:60]
    return f"{1e3 * row[mode]['load']:.1f} + {1e3 * row[mode]['first_call']:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", help="more SavedModel folders")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--testdata", type=Path, default=HERE.parent.parent / "shared" / "testdata")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    models = _models(args.testdata, args.models)
    if not models:
        print("no models: run bench/make_models.py or give folders", file=sys.stderr)
        return 2
    tfbundle.load(models[0], restore="tf").close()  # opens TensorFlow's libraries, untimed
    rows = []
    print("| model | auto chose | tf load+call ms | mmap load+call ms | mmap/tf | equal |")
    print("|---|---|---|---|---|---|")
    for path in models:
        row = measure(path, args.repeats)
        rows.append(row)
        name = str(path.relative_to(args.testdata)) if path.is_relative_to(args.testdata) else path.name

        ratio = f"{row['mmap_over_tf']:.2f}" if "mmap_over_tf" in row else "-"
        equal = str(row.get("outputs_equal", "-"))
        cells = [name, row.get("auto_chose", "-"), _ms(row, "tf"), _ms(row, "mmap"), ratio, equal]
        print("| " + " | ".join(cells) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
