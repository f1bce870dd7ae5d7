"""`tfbundle demo`: load the small model the package carries, run it, time it."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

#: One textbook flower of each iris species (the first of each in Fisher's table):
#: sepal length, sepal width, petal length, petal width in cm.
SAMPLES = np.array([[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5]], np.float32)


def demo_model_path() -> str:
    """The folder of the small SavedModel shipped with tfbundle (an iris classifier)."""
    return str(Path(__file__).resolve().parent.parent / "data" / "demo_model")


def class_names(path: str | None = None) -> list[str]:
    """The demo model's species names in class-id order (its ``assets.extra/class_names.txt``)."""
    names = Path(path or demo_model_path()) / "assets.extra" / "class_names.txt"
    return names.read_text().split()


def main(argv: list[str] | None = None) -> int:
    """Loads the carried model, prints its signatures and its predictions, and times calls."""
    parser = argparse.ArgumentParser(prog="tfbundle demo", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="calls to time (default 2000)")
    parser.add_argument("--batch", type=int, default=1, help="rows per call (default 1)")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.batch < 1:
        parser.error("--calls and --batch must be at least 1")

    import tfbundle

    path = demo_model_path()
    t0 = time.perf_counter()
    model = tfbundle.load(path)
    load_ms = (time.perf_counter() - t0) * 1e3
    print(f"loaded {path}")
    tf_version = tfbundle._runtime.library.tensorflow_version()
    print(f"  TensorFlow {tf_version}, load {load_ms:.1f} ms (first load opens TF's C library)")
    for sig in model.signatures.values():
        print(f"  {sig!r}")

    x = SAMPLES
    out = model(x=x)
    names = class_names(path)
    width = max(map(len, names))
    print("model(x=...) on one iris of each species")
    print("  (sepal length, sepal width, petal length, petal width in cm -> species):")
    for row, class_id, probs in zip(x.tolist(), out["class_ids"], out["probabilities"]):
        measures = ", ".join(f"{v:.1f}" for v in row)
        shares = ", ".join(f"{name} {p:.4f}" for name, p in zip(names, probs))
        print(f"  [{measures}] -> {names[class_id]:<{width}}  probabilities: {shares}")

    sig = model.signatures["serving_default"]
    batch = tfbundle.empty((args.batch, 4), np.float32)
    batch[...] = np.resize(x, batch.shape)
    inputs = {"x": batch}
    for _ in range(min(200, args.calls)):
        sig.run(inputs)
    times = []
    for _ in range(args.calls):
        t = time.perf_counter()
        sig.run(inputs)
        times.append(time.perf_counter() - t)
    times.sort()
    median = statistics.median(times) * 1e6
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1e6
    print(f"{args.calls} calls at batch {args.batch}: median {median:.1f} us, p99 {p99:.1f} us per call")
    model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
