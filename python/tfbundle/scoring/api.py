"""``tfbundle.score``: run a signature over files of rows and write one output row per input row."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import errors as _errors
from .._base.arrow import ALLOCATOR_ENV, environment_with
from .._base.fs import exists, file_name, folder_of, is_dir, is_uri, join, make_dirs, staged_name
from ..errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from .pipeline import Job, Options, ScoreError, Stages, output_rows, score_shard
from .progress import Progress, import_bar_early
from .sinks import EXTENSIONS, format_of_output
from .sources import Shard, expand_inputs, format_of

__all__ = ["ScoreError", "ScoreReport", "cpu_shares", "plan_jobs", "score"]


@dataclass
class ScoreReport:
    """What a scoring job did.

    Attributes:
        rows: rows written by this run (one per input row that scored).
        failed: rows that failed and went to an errors file (``on_error="skip"``).
        shards: input files.
        skipped_shards: input files whose output was already there (``resume=True``).
        seconds: wall time.
        stages: busy seconds per stage, summed over threads and workers: ``read``, ``convert``,
            ``run``, ``write``, and ``wait_feed`` (the writer waiting for fed batches).
        outputs: the output files, in input order.
        error_files: the errors files written.
        workers: processes used.
    """

    rows: int = 0
    failed: int = 0
    shards: int = 0
    skipped_shards: int = 0
    seconds: float = 0.0
    stages: Stages = field(default_factory=Stages)
    outputs: list[str] = field(default_factory=list)
    error_files: list[str] = field(default_factory=list)
    workers: int = 1

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "failed": self.failed,
            "shards": self.shards,
            "skipped_shards": self.skipped_shards,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows_per_second, 1),
            "stages": self.stages.as_dict(),
            "outputs": list(self.outputs),
            "error_files": list(self.error_files),
            "workers": self.workers,
        }

    def __str__(self) -> str:
        st = self.stages
        failed = (
            f", {self.failed} failed (see {', '.join(self.error_files)})" if self.failed else ""
        )
        skipped = f", {self.skipped_shards} file(s) done before" if self.skipped_shards else ""
        return (
            f"{self.rows} rows in {self.seconds:.2f} s ({self.rows_per_second:,.0f} rows/s){failed}{skipped}; "
            f"busy seconds: read {st.read:.2f}, convert {st.convert:.2f}, run {st.run:.2f}, "
            f"write {st.write:.2f}, writer waiting for input {st.wait_feed:.2f}"
        )


def _stem(path: str) -> str:
    name = file_name(path)
    if name.lower().endswith((".gz", ".gzip")):
        name = name.rsplit(".", 1)[0]
    return os.path.splitext(name)[0]


def plan_jobs(inputs: Sequence[str], output: str, output_format: str | None) -> list[Job]:
    """One Job per input file.

    ``output`` is a file (its extension says the format) when there is one input and it names a
    file of a known format that is not a folder; otherwise it is a folder of one output file per
    input, named after it (``part-0.parquet`` -> ``OUT/part-0.parquet``), in ``output_format``
    (default Parquet). The errors file is ``<output>.errors.jsonl``.
    """
    fmt = format_of_output(output)
    if output_format is not None and output_format not in EXTENSIONS:
        raise InvalidArgumentError(
            f"unknown output format {output_format!r}: use one of {', '.join(EXTENSIONS)}"
        )
    if fmt is not None and not is_dir(output):
        if len(inputs) != 1:
            raise InvalidArgumentError(
                f"{len(inputs)} input files: --output must be a folder (one output file per input), "
                f"not the file {output}"
            )
        if output_format is not None and output_format != fmt:
            raise InvalidArgumentError(
                f"--output {output} says {fmt}, --format says {output_format}"
            )
        return [Job(inputs[0], output, output + ".errors.jsonl", fmt)]
    fmt = output_format or "parquet"
    jobs: list[Job] = []
    seen: dict[str, str] = {}
    for p in inputs:
        stem = _stem(p)
        if stem in seen:
            raise InvalidArgumentError(
                f"the inputs {seen[stem]} and {p} would both write {stem}{EXTENSIONS[fmt]}: rename one"
            )
        seen[stem] = p
        out = join(output, stem + EXTENSIONS[fmt])
        jobs.append(Job(p, out, join(output, stem + ".errors.jsonl"), fmt))
    return jobs


def _signature(model: Any, name: str | None) -> tuple[Any, Any]:
    """(what runs, what describes) the signature: the same object but for a ModelRepository."""
    from .._runtime.repository import ModelRepository

    described = model.model if isinstance(model, ModelRepository) else model
    if name is None:
        spec = described.default_signature
    elif name in described.signatures:
        spec = described.signatures[name]
    else:
        names = ", ".join(repr(k) for k in described.signatures) or "none"
        raise NotFoundError(f"the model has no signature {name!r}; it has {names}")
    runner = model.signature(spec.name) if isinstance(model, ModelRepository) else spec
    return runner, spec


def score(
    model: Any,
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    sink: str | os.PathLike[str],
    *,
    signature: str | None = None,
    batch_size: int = 256,
    outputs: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    keep: Sequence[str] = (),
    output_format: str | None = None,
    on_error: str = "stop",
    resume: bool = False,
    overwrite: bool = False,
    workers: int = 1,
    pin_cpus: bool = False,
    inflight: int = 2,
    prefetch: int = 4,
    progress: str = "none",
    progress_interval: float = 10.0,
    load_kwargs: Mapping[str, Any] | None = None,
) -> ScoreReport:
    """Runs a signature over every row of the input files and writes the outputs, row for row.

    Args:
        model: a :class:`tfbundle.Model`, the path of a SavedModel (or of a TF Serving base folder),
            or a :class:`tfbundle.ModelRepository`.
        source: an input file, a glob (``"data/*.parquet"``), a folder, or a list of them: Parquet,
            Arrow IPC, CSV, JSON lines, .npy/.npz, TFRecord files of tf.Example (plain or GZIP);
            local paths or URIs of the filesystems pyarrow knows (``"s3://bucket/day=1/"``,
            ``gs://``, ``hdfs://``, ``file://``; credentials from the environment or the URI).
        sink: the output file (one input) or folder (one output file per input); a local path
            or a URI as for ``source`` (each file written locally, then uploaded: to its name on
            S3 and GCS, where an object appears only when its upload completes; elsewhere under
            a temporary name, then moved to its own).
        signature: the signature's key (default: ``serving_default``, or the only one).
        batch_size: rows per run.
        outputs: the output keys to write (default: all).
        rename: ``{column: input}`` for columns not named like the inputs they feed.
        keep: input columns copied to the output beside the outputs (ids, keys); for TFRecord
            inputs, features of the records.
        output_format: ``"parquet"``, ``"jsonl"``, ``"csv"`` or ``"npy"`` for a folder output
            (default Parquet; a file output's extension says its format).
        on_error: ``"stop"`` (default): a row that fails to convert or to score raises
            :class:`ScoreError` naming its file and row; ``"skip"``: such rows go to
            ``<output>.errors.jsonl`` with the reason, and the job goes on.
        resume: skip the inputs whose output file exists (outputs are renamed into place only
            when complete, so a rerun after a kill writes exactly the missing ones).
        overwrite: replace existing outputs (without it, and without ``resume``, an existing
            output is an error).
        workers: processes scoring at once, each with its own model: this one and ``workers - 1``
            started with ``spawn``; the files are shared among them. Each worker's TensorFlow uses
            its share of the CPUs this process may run on.
        pin_cpus: with more than one worker (and no more workers than CPUs), bind each worker to
            its own share of the CPUs (``sched_setaffinity``; Linux): its threads then hand work
            to each other on one core instead of across cores, which made 2 workers on 2 cores
            4-6% faster on bench/bench_score.py's 8M rows, 10-20% on 16M rows. In this process
            the binding is the scoring thread's, and threads started from it keep it:
            TensorFlow's pools, when this job loads the first model of the process.
            ``tfbundle score`` binds by default.
        inflight: runs in flight at once in each process.
        prefetch: batches read and converted ahead of the runs.
        progress: ``"auto"``, ``"bar"``, ``"log"``, ``"json"`` or ``"none"`` (default; see
            :mod:`tfbundle.scoring.progress`).
        progress_interval: seconds between progress lines or events.
        load_kwargs: options of :func:`tfbundle.load` when ``model`` is a path.

    Returns:
        A :class:`ScoreReport`.

    Raises:
        ScoreError: a row failed with ``on_error="stop"``.
        InvalidArgumentError: bad arguments, an input no column feeds, a rename or keep column
            the file lacks, an unknown output.
        NotFoundError: no input file, or no such signature.
        FailedPreconditionError: an output exists (neither ``resume`` nor ``overwrite``).
    """
    t0 = time.perf_counter()
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be at least 1, got {batch_size}")
    if workers < 1:
        raise InvalidArgumentError(f"workers must be at least 1, got {workers}")
    if on_error not in ("stop", "skip"):
        raise InvalidArgumentError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
    if resume and overwrite:
        raise InvalidArgumentError("resume and overwrite exclude each other")
    opts = Options(
        batch_size=batch_size,
        outputs=list(outputs) if outputs else None,
        rename=dict(rename or {}),
        keep=list(keep),
        on_error=on_error,
        inflight=max(1, inflight),
        prefetch=max(1, prefetch),
    )
    inputs = expand_inputs(source)
    out = os.fspath(sink)
    jobs = plan_jobs(inputs, out, output_format)
    _check_pyarrow(jobs)
    report = ScoreReport(shards=len(jobs), outputs=[j.output for j in jobs], workers=workers)
    todo: list[Job] = []
    for j in jobs:
        if exists(j.output):
            if resume:
                report.skipped_shards += 1
                continue
            if not overwrite:
                raise FailedPreconditionError(
                    f"the output {j.output} exists: pass resume=True (--resume) to skip the inputs already "
                    "scored, or overwrite=True (--overwrite)"
                )
        todo.append(j)
    folder = folder_of(todo[0].output) if todo else ""
    if folder:
        make_dirs(folder)
    for j in todo:
        _remove_stale_temporaries(j)
    if todo:
        import_bar_early(progress)  # while the model loads
    # Everything checkable is checked before any row runs: the signature, and each input's columns.
    model_here, owned = (None, False)
    if workers == 1 or len(todo) <= 1:
        model_here, owned = _open_model(model, dict(load_kwargs or {})) if todo else (None, False)
        spec = _signature(model_here, signature)[1] if todo else None
    else:
        spec = _describe(model, signature, dict(load_kwargs or {}))
    try:
        if spec is not None:
            _check(spec, todo, opts)
    except BaseException:
        if owned and model_here is not None:
            model_here.close()
        raise
    totals = [Shard(j.input).num_rows() for j in todo]
    total = sum(t for t in totals if t is not None) if all(t is not None for t in totals) else None
    prog = Progress(progress, total=total, interval=progress_interval)
    prog.start(len(todo), report.skipped_shards, workers)
    for j in jobs:
        if j not in todo:
            prog.shard_done(j.input, j.output, output_rows(j.output) or 0, 0, skipped=True)
    try:
        if workers == 1 or len(todo) <= 1:
            report.workers = 1
            _score_here(model_here, signature, todo, opts, report, prog)
        else:
            report.workers = min(workers, len(todo))
            _score_in_workers(
                model,
                signature,
                todo,
                opts,
                report,
                prog,
                dict(load_kwargs or {}),
                report.workers,
                pin_cpus,
            )
    finally:
        if owned and model_here is not None:
            model_here.close()
        report.seconds = time.perf_counter() - t0
        report.error_files = [j.errors for j in jobs if exists(j.errors)]
    prog.close(report)
    return report


# The formats pyarrow reads or writes (the others need only numpy and the standard library).
_PYARROW_FORMATS = frozenset({"parquet", "arrow", "csv"})


def _check_pyarrow(jobs: Sequence[Job]) -> None:
    """Refuses, before anything runs, a job whose files need pyarrow when it is not installed."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is not None:
        return
    for j in jobs:
        for path, fmt in ((j.input, format_of(j.input)), (j.output, j.format)):
            if fmt in _PYARROW_FORMATS:
                raise FailedPreconditionError(
                    f"{path} is a {fmt} file, which tfbundle reads and writes with pyarrow: "
                    "pip install 'tfbundle[score]'"
                )


def _remove_stale_temporaries(job: Job) -> None:
    """Deletes the temporary files a killed run left for this job's outputs (their process is gone).
    A URI's are left: another machine's job may be writing them."""
    import glob

    if is_uri(job.output):
        return
    for final in (job.output, job.errors):
        prefix = staged_name(final).rsplit("-", 1)[0] + "-"  # ".NAME.tmp-", any process's
        for tmp in glob.glob(glob.escape(prefix) + "*"):
            pid = tmp.rsplit("-", 1)[-1].split(".", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return pid != 0


def _open_model(model: Any, load_kwargs: dict[str, Any]) -> tuple[Any, bool]:
    """(model, whether we loaded it and must close it)."""
    if isinstance(model, (str, os.PathLike)):
        from .._runtime.model import load

        return load(os.fspath(model), **load_kwargs), True
    return model, False


def _describe(model: Any, signature: str | None, load_kwargs: dict[str, Any]) -> Any:
    """The signature's description without loading the model (for the checks before workers
    start), or None when it cannot be read so (the workers check then)."""
    if not isinstance(model, (str, os.PathLike)):
        return _signature(model, signature)[1]
    try:
        from types import SimpleNamespace

        from .._readers.inspect import inspect

        info = inspect(model)
        tags = load_kwargs.get("tags")
        graphs = list(info.meta_graphs)
        if tags is not None:
            want = set(tags.split(",") if isinstance(tags, str) else tags)
            graphs = [g for g in graphs if set(g.tags) == want] or graphs
        else:
            graphs = [g for g in graphs if set(g.tags) == {"serve"}] or graphs
        sigs = {k: v for k, v in graphs[0].signatures.items() if k != "__saved_model_init_op"}
    except Exception:  # noqa: BLE001 - the workers' load reports what is wrong
        return None
    if signature is None:
        key = (
            "serving_default"
            if "serving_default" in sigs
            else (next(iter(sigs)) if len(sigs) == 1 else None)
        )
        if key is None:
            names = ", ".join(repr(k) for k in sigs) or "none"
            raise NotFoundError(
                f"the model has no 'serving_default' signature; pick one of {names} with --signature"
            )
    elif signature not in sigs:
        names = ", ".join(repr(k) for k in sigs) or "none"
        raise NotFoundError(f"the model has no signature {signature!r}; it has {names}")
    else:
        key = signature
    d = sigs[key]
    return SimpleNamespace(name=key, method_name=d.method_name, inputs=d.inputs, outputs=d.outputs)


def _check(spec: Any, jobs: list[Job], opts: Options) -> None:
    """The checks score_shard makes, made for every input before any row runs."""
    from .convert import Feeder

    for name in opts.outputs or ():
        if name not in spec.outputs:
            have = ", ".join(repr(k) for k in spec.outputs)
            raise InvalidArgumentError(
                f"signature {spec.name!r} has no output {name!r} (its outputs: {have})"
            )
    for j in jobs:
        Feeder(spec, Shard(j.input).column_names(), opts.rename, opts.keep, j.input)


def _score_here(
    m: Any,
    signature: str | None,
    jobs: list[Job],
    opts: Options,
    report: ScoreReport,
    prog: Progress,
) -> None:
    if not jobs:
        return
    runner, spec = _signature(m, signature)

    def on_rows(rows: int, failed: int) -> None:
        prog.update(rows, failed)

    for j in jobs:
        prog.file_started(j.input)
        written, failed = score_shard(runner, spec, j, opts, report.stages, on_rows)
        report.rows += written
        report.failed += failed
        prog.shard_done(j.input, j.output, written, failed)


# ------------------------------------------------------------------------ workers ---


# The environment the worker processes start with, where the user's lacks these: pyarrow's
# allocator without huge pages (see ALLOCATOR_ENV), and numpy's OpenBLAS without its thread pool.
# Scoring makes no BLAS call, but OpenBLAS starts a thread per core when numpy is imported and
# they spin before they sleep: 0.1-0.2 s of CPU per process (perf: blas_thread_server).
WORKER_ENV = {**ALLOCATOR_ENV, "OPENBLAS_NUM_THREADS": "1"}


def _model_for_workers(model: Any) -> Any:
    from .._runtime.repository import ModelRepository

    if isinstance(model, ModelRepository):
        return model.model.path
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    return model  # a Model pickles by reference (its path and load options)


def cpu_shares(n: int) -> list[list[int]]:
    """The CPUs this process may run on, split into ``n`` shares as even as they go (consecutive
    CPU numbers together, so that a share keeps to neighbouring cores); ``[]`` when there are
    fewer CPUs than shares, or the platform does not tell."""
    if not hasattr(os, "sched_getaffinity"):
        return []
    cpus = sorted(os.sched_getaffinity(0))
    if n < 1 or len(cpus) < n:
        return []
    return [cpus[k * len(cpus) // n : (k + 1) * len(cpus) // n] for k in range(n)]


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _worker(
    model: Any,
    signature: str | None,
    opts: Options,
    load_kwargs: dict[str, Any],
    tasks: Any,
    events: Any,
    cpus: Sequence[int] = (),
) -> None:
    """A worker (a process, or this process's scoring thread): binds itself to ``cpus`` (before
    any thread of the job starts, so that they all inherit it), loads the model, then scores the
    shards it takes from ``tasks``."""
    try:
        if cpus:
            os.sched_setaffinity(0, cpus)  # 0: the calling thread
        m, owned = _open_model(model, load_kwargs)
        runner, spec = _signature(m, signature)
        pending = [0, 0]
        last = [time.perf_counter()]

        def on_rows(rows: int, failed: int) -> None:
            pending[0] += rows
            pending[1] += failed
            now = time.perf_counter()
            if now - last[0] >= 0.2:
                events.put(("rows", pending[0], pending[1]))
                pending[0] = pending[1] = 0
                last[0] = now

        while True:
            job = tasks.get()
            if job is None:
                break
            stages = Stages()
            events.put(("start", job.input))
            written, failed = score_shard(runner, spec, job, opts, stages, on_rows)
            events.put(("rows", pending[0], pending[1]))
            pending[0] = pending[1] = 0
            events.put(("shard", job.input, job.output, written, failed, stages))
        if owned:
            m.close()
        events.put(("exit",))
    except BaseException as e:  # noqa: BLE001 - sent to the parent, which raises it
        try:
            events.put(("error", e, traceback.format_exc()))
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            events.put(("error", _errors.Error(f"{type(e).__name__}: {e}"), traceback.format_exc()))


def _score_in_workers(
    model: Any,
    signature: str | None,
    jobs: list[Job],
    opts: Options,
    report: ScoreReport,
    prog: Progress,
    load_kwargs: dict[str, Any],
    n: int,
    pin_cpus: bool = False,
) -> None:
    import multiprocessing as mp
    import queue as queue_mod

    ctx = mp.get_context("spawn")
    tasks = ctx.Queue()
    events = ctx.Queue()
    for j in jobs:
        tasks.put(j)
    for _ in range(n):
        tasks.put(None)
    target = _model_for_workers(model)
    if isinstance(target, str) and "intra_op_threads" not in load_kwargs:
        # The cores shared among the workers, rather than each worker's TensorFlow taking them all.
        load_kwargs = {**load_kwargs, "intra_op_threads": max(1, _usable_cpus() // n)}
    shares = (cpu_shares(n) if pin_cpus else []) or [[] for _ in range(n)]
    procs = [
        ctx.Process(
            target=_worker,
            args=(target, signature, opts, load_kwargs, tasks, events, shares[i]),
            name=f"tfbundle-score-{i}",
            daemon=True,
        )
        for i in range(1, n)
    ]
    # The processes start before this one's scoring thread: a thread that changes the environment
    # (TensorFlow's library sets TF_CPP_MIN_LOG_LEVEL while it opens) during a spawn can hand the
    # new process a torn environment, and the exec then fails with nothing but exit code 255.
    with environment_with(WORKER_ENV):  # inherited: pyarrow and numpy are not imported there yet
        for p in procs:
            p.start()
    # This process is one of the n workers (a thread that loads the model and scores from the same
    # queue): it starts scoring while the others start up (about 0.5 s each: the interpreter, the
    # imports, TensorFlow's library, the load), so that more workers never make a small job slower.
    here = threading.Thread(
        target=_worker,
        args=(model, signature, opts, load_kwargs, tasks, events, shares[0]),
        name="tfbundle-score-0",
        daemon=True,
    )
    here.start()
    running = n
    try:
        while running:
            try:
                ev = events.get(timeout=1.0)
            except queue_mod.Empty:
                dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise _errors.InternalError(
                        f"a scoring worker died (exit code {dead[0].exitcode}): its shard was not written; "
                        "rerun with --resume"
                    ) from None
                continue
            kind = ev[0]
            if kind == "rows":
                prog.update(ev[1], ev[2])
            elif kind == "start":
                prog.file_started(ev[1])
            elif kind == "shard":
                _, inp, outp, written, failed, stages = ev
                report.rows += written
                report.failed += failed
                report.stages.add(stages)
                prog.shard_done(inp, outp, written, failed)
            elif kind == "exit":
                running -= 1
            elif kind == "error":
                raise ev[1]
    finally:
        if running:  # an error: no worker takes another shard (the thread ends after its own)
            with contextlib.suppress(queue_mod.Empty, OSError, ValueError):
                while True:
                    tasks.get_nowait()
            for _ in range(n):
                with contextlib.suppress(OSError, ValueError):
                    tasks.put(None)
        for p in procs:
            if p.is_alive() and running:
                p.terminate()
        for p in procs:
            p.join(timeout=10)
        here.join()  # its shard finishes (written whole, or not at all) before the error is raised
        tasks.close()
        events.close()
