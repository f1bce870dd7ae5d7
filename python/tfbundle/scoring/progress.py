"""Progress of a scoring job: a tqdm bar on a terminal, periodic lines in logs, or JSON events.

- ``"bar"`` (``"auto"`` when stderr is a terminal): tqdm's bar on stderr with rows, rows/s, the
  ETA when the total is known, and the current file;
- ``"log"`` (``"auto"`` otherwise): one line on stderr every ``interval`` seconds and one per
  finished file;
- ``"json"``: one JSON object per line on stdout: ``start``, ``progress`` (every ``interval``
  seconds), ``shard`` (a file finished or skipped), ``done`` (the summary);
- ``"none"``: nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Any, TextIO

__all__ = ["Progress", "import_bar_early"]


def _draws_bar(mode: str, stream: TextIO) -> bool:
    if mode == "auto":
        isatty = getattr(stream, "isatty", None)
        return isatty is not None and bool(isatty())
    return mode == "bar"


def import_bar_early(mode: str = "auto", stream: TextIO | None = None) -> None:
    """Starts importing tqdm in a thread when ``mode`` will draw a bar.

    tqdm's import takes 50-80 ms (its version lookup reads the installed packages' metadata),
    a few percent of a short job; started before the model loads (which runs without the GIL),
    it is done by the time the bar is drawn. The bar's own import waits for it (the import lock).
    """
    if _draws_bar(mode, stream or sys.stderr) and "tqdm" not in sys.modules:
        import importlib
        import threading

        def load() -> None:
            with contextlib.suppress(ImportError):  # Progress falls back to lines
                importlib.import_module("tqdm")

        threading.Thread(target=load, name="tfbundle-import-tqdm", daemon=True).start()


class Progress:
    """Reports rows as they are written. Not thread-safe: one caller (the writing thread)."""

    def __init__(
        self,
        mode: str = "auto",
        *,
        total: int | None = None,
        interval: float = 10.0,
        stream: TextIO | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.out = out or sys.stdout
        if mode == "auto":
            mode = "bar" if _draws_bar(mode, self.stream) else "log"
        if mode not in ("bar", "log", "json", "none"):
            raise ValueError(
                f"progress must be 'auto', 'bar', 'log', 'json' or 'none', got {mode!r}"
            )
        self.mode = mode
        self.total = total
        self.interval = interval
        self.rows = 0
        self.failed = 0
        self.file = ""
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.bar: Any = None
        if mode == "bar":
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm is an optional dependency: lines instead
                self.mode = "log"
            else:
                self.bar = tqdm(
                    total=total,
                    unit=" rows",
                    unit_scale=True,
                    dynamic_ncols=True,
                    file=self.stream,
                    smoothing=0.1,
                    mininterval=0.2,
                )

    def _event(self, kind: str, **fields: Any) -> None:
        self.out.write(json.dumps({"event": kind, **fields}) + "\n")
        self.out.flush()

    def start(self, shards: int, skipped: int, workers: int) -> None:
        if self.mode == "json":
            self._event(
                "start", shards=shards, skipped=skipped, workers=workers, total_rows=self.total
            )
        elif self.mode == "log":
            more = f" ({skipped} already done, skipped)" if skipped else ""
            total = f", {self.total} rows" if self.total is not None else ""
            self._line(f"scoring {shards} file(s){total} with {workers} worker(s){more}")

    def _line(self, text: str) -> None:
        self.stream.write(f"tfbundle score: {text}\n")
        self.stream.flush()

    def file_started(self, path: str) -> None:
        self.file = path
        if self.bar is not None:
            self.bar.set_postfix_str(os.path.basename(path), refresh=False)

    def update(self, rows: int, failed: int = 0) -> None:
        self.rows += rows
        self.failed += failed
        if self.bar is not None:
            self.bar.update(rows + failed)
            return
        now = time.perf_counter()
        if self.mode in ("log", "json") and now - self.last >= self.interval:
            self.last = now
            elapsed = now - self.t0
            rate = self.rows / elapsed if elapsed > 0 else 0.0
            eta = (self.total - self.rows - self.failed) / rate if self.total and rate > 0 else None
            if self.mode == "json":
                self._event(
                    "progress",
                    rows=self.rows,
                    failed=self.failed,
                    seconds=round(elapsed, 3),
                    rows_per_s=round(rate, 1),
                    eta_s=None if eta is None else round(eta, 1),
                    file=self.file,
                )
            else:
                of = f"/{self.total}" if self.total else ""
                left = f", ETA {eta:.0f} s" if eta is not None else ""
                self._line(
                    f"{self.rows}{of} rows, {rate:,.0f} rows/s{left} ({os.path.basename(self.file)})"
                )

    def shard_done(
        self, path: str, output: str, rows: int, failed: int, skipped: bool = False
    ) -> None:
        if self.mode == "json":
            self._event(
                "shard", file=path, output=output, rows=rows, failed=failed, skipped=skipped
            )
        elif self.mode == "log":
            what = (
                "skipped (done before)"
                if skipped
                else f"{rows} rows" + (f", {failed} failed" if failed else "")
            )
            self._line(f"{path} -> {output}: {what}")

    def close(self, report: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.mode == "json":
            self._event("done", **report.as_dict())
        elif self.mode in ("log", "bar"):
            self._line(str(report))
