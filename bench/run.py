"""tfbundle's benchmark: tfbundle against TensorFlow's own loaders, side by side, in one run.

Usage::

    python bench/run.py [--quick] [--json OUT]

It makes two SavedModels with TensorFlow's Python API (cached, see --cache), then measures, each
figure in fresh subprocesses so that TensorFlow's Python package and tfbundle never share a
measured process:

1. load time: tfbundle.load, tf.saved_model.load (TF2) and tf.compat.v1.saved_model.loader.load
   (TF1), a fresh process per repeat; and tfbundle.load repeated in a warm process;
2. per-call latency at batch 1 and 32: tfbundle's signature call and ``sig.run``, a C++ loop of
   TF_SessionRun on the very session tfbundle loaded, TF2's signature call and TF1's Session.run;
3. cold start: ``python -c`` to the first prediction, tfbundle (with and without
   ``TFBUNDLE_PRELOAD=1``) vs TensorFlow, against the floor: a C program doing
   TF_LoadSessionFromSavedModel + the first TF_SessionRun (bench/c_coldstart.cc).

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import glob
import importlib.metadata
import importlib.util
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import common  # noqa: E402 - bench/ is not a package: imported from its folder

BUILD_DIR = os.path.join(HERE, "_build")
DEFAULT_CACHE = os.path.join(BUILD_DIR, "models")
WORKER = os.path.join(HERE, "worker.py")
MAKE_MODELS = os.path.join(HERE, "make_models.py")
WORKER_TIMEOUT_S = 900

LOADERS = {
    "tfbundle": "tfbundle.load",
    "tf2": "tf.saved_model.load (TF2)",
    "tf1": "tf.compat.v1 loader.load (TF1)",
}
METHODS = {
    "tfbundle_call": "tfbundle sig(**inputs)",
    "tfbundle_run": "tfbundle sig.run(inputs, outputs)",
    "c_loop": "C loop: TF_SessionRun, same session (alloc+memcpy/call)",
    "c_loop_reuse": "C loop, input tensor made once",
    "tf2_call": "TF2 signature call (tf.constant in, .numpy() out)",
    "tf1_session_run": "TF1 Session.run (numpy feed)",
}
SHORT = {
    "tfbundle_call": "tfbundle sig()",
    "tfbundle_run": "tfbundle sig.run",
    "c_loop": "C loop",
    "c_loop_reuse": "C loop (reused input)",
    "tf2_call": "TF2",
    "tf1_session_run": "TF1",
}
BATCHES = (1, 32)

# Iterations per (model, batch): (timed calls, warm-up calls). --quick uses the second table.
FULL_ITERS = {
    ("dense", 1): (2000, 50),
    ("dense", 32): (1000, 20),
    ("mobilenet_v2", 1): (100, 5),
    ("mobilenet_v2", 32): (15, 2),
}
QUICK_ITERS = {
    ("dense", 1): (200, 10),
    ("dense", 32): (100, 5),
    ("mobilenet_v2", 1): (8, 1),
    ("mobilenet_v2", 32): (2, 1),
}
# (load repeats per loader, warm loads, cold-start repeats)
FULL_REPEATS = (5, 10, 5)
QUICK_REPEATS = (2, 3, 2)


def log(msg: str) -> None:
    """Print a progress line to stderr (the tables go to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- environment


def tf_dir() -> str | None:
    """Return the installed TensorFlow package folder without importing TensorFlow, or None."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(spec.submodule_search_locations))


def child_env() -> dict[str, str]:
    """Return the environment of every measured subprocess.

    The dev tree's python/ folder goes first on PYTHONPATH when it holds a built tfbundle
    extension. Everything else passes through unchanged (OPENBLAS_CORETYPE, TF_CPP_MIN_LOG_LEVEL:
    each library logs as it does for its users; the children's output is captured).
    """
    env = dict(os.environ)
    if glob.glob(os.path.join(REPO, "python", "tfbundle", "_core*.so")):
        parts = [os.path.join(REPO, "python")] + [
            p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p
        ]
        env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(env: dict[str, str]) -> dict[str, Any]:
    """Describe the machine and the software versions (nothing here imports TensorFlow)."""
    tf_version = _dist_version("tensorflow-cpu") or _dist_version("tensorflow")
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": _dist_version("numpy"),
        "tensorflow": tf_version,
        "tensorflow_dir": tf_dir(),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "load_avg_at_start": load,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "tf_cpp_min_log_level": env.get("TF_CPP_MIN_LOG_LEVEL"),
        "pythonpath": env.get("PYTHONPATH"),
    }


def check_tfbundle(env: dict[str, str]) -> tuple[str | None, str | None]:
    """Check that tfbundle imports in a child process.

    Returns:
        ``(location, None)`` when it works, ``(None, error)`` otherwise.
    """
    code = "import tfbundle, os; tfbundle.load; print(os.path.dirname(tfbundle.__file__))"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return None, (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    return proc.stdout.strip().splitlines()[-1], None


# ----------------------------------------------------------------------------- build steps


def make_models(cache: str, names: list[str], env: dict[str, str]) -> None:
    """Make the benchmark models in ``cache`` with TensorFlow, unless already there.

    Raises:
        RuntimeError: model making failed (the message carries TensorFlow's last error line).
    """
    sys.path.insert(0, HERE)
    import make_models as mm

    missing = [n for n in names if not mm.is_complete(mm.model_dir(cache, n))]
    if not missing:
        log(f"models cached in {cache}")
        return
    log(f"making models {', '.join(missing)} in {cache} with TensorFlow (once)")
    proc = subprocess.run(
        [sys.executable, MAKE_MODELS, cache, "--models", ",".join(missing)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"making the benchmark models failed:\n{tail}")


def _build_c(tfdir: str | None, source: str, output: str, shared: bool) -> tuple[str | None, str]:
    """Compile bench/SOURCE against TensorFlow's C API into bench/_build/OUTPUT (when out of date).

    Args:
        tfdir: the installed TensorFlow package folder (headers and libraries), or None.
        source: the file name in bench/.
        output: the file name in bench/_build/.
        shared: build a shared library (loaded with ctypes) rather than a program.

    Returns:
        ``(path, how)``, how being "built" or "cached"; or ``(None, reason)`` when it cannot be built.
    """
    if tfdir is None:
        return None, "TensorFlow is not installed"
    include = os.path.join(tfdir, "include")
    if not os.path.isfile(os.path.join(include, "tensorflow", "c", "c_api.h")):
        return None, f"no C headers under {include}"
    for lib in ("libtensorflow_cc.so.2", "libtensorflow_framework.so.2"):
        if not os.path.isfile(os.path.join(tfdir, lib)):
            return None, f"{os.path.join(tfdir, lib)} is missing"
    src = os.path.join(HERE, source)
    out = os.path.join(BUILD_DIR, output)
    cmd = [
        os.environ.get("CXX", "g++"),
        "-O2",
        *(["-shared", "-fPIC"] if shared else []),
        "-std=c++17",
        f"-I{include}",
        src,
        "-o",
        out,
        f"-L{tfdir}",
        "-l:libtensorflow_cc.so.2",
        "-l:libtensorflow_framework.so.2",
        f"-Wl,-rpath,{tfdir}",
    ]
    stamp = out + ".cmd"
    cmdline = shlex.join(cmd)
    if (
        os.path.isfile(out)
        and os.path.getmtime(out) >= os.path.getmtime(src)
        and os.path.isfile(stamp)
        and Path(stamp).read_text() == cmdline
    ):
        return out, "cached"
    os.makedirs(BUILD_DIR, exist_ok=True)
    log(f"building bench/{source}")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        return None, f"cannot run the C++ compiler: {exc}"
    if proc.returncode != 0:
        return None, "g++ failed: " + "\n".join(proc.stderr.strip().splitlines()[-5:])
    with open(stamp, "w") as f:
        f.write(cmdline)
    return out, "built"


def build_c_loop(tfdir: str | None) -> tuple[str | None, str]:
    """Build bench/c_loop.cc into the library bench/_build/c_loop.so (when out of date)."""
    return _build_c(tfdir, "c_loop.cc", "c_loop.so", shared=True)


def build_c_coldstart(tfdir: str | None) -> tuple[str | None, str]:
    """Build bench/c_coldstart.cc into the program bench/_build/c_coldstart (when out of date)."""
    return _build_c(tfdir, "c_coldstart.cc", "c_coldstart", shared=False)


def serving_tensors(env: dict[str, str], model_dir: str) -> tuple[str, str] | None:
    """The graph tensors of ``serving_default``'s first input and output (read by tfbundle.inspect)."""
    code = (
        f"import tfbundle; sig = tfbundle.inspect({model_dir!r}).meta_graphs[0]"
        ".signatures['serving_default']; print(next(iter(sig.inputs.values())).tensor_name, "
        "next(iter(sig.outputs.values())).tensor_name)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    names = proc.stdout.split()
    return (names[0], names[1]) if proc.returncode == 0 and len(names) == 2 else None


# ----------------------------------------------------------------------------- subprocesses


def describe_failure(returncode: int, result: dict | None, stderr: str) -> str:
    """Say why a child process failed: its Python error, the signal that killed it, or its exit.

    Args:
        returncode: the child's exit status (negative: killed by that signal).
        result: the worker's result dict, if it wrote one.
        stderr: the child's standard error.

    Returns:
        One short paragraph for the notes of the report.
    """
    if result and result.get("error"):
        return result["error"]
    if returncode < 0:
        try:
            how = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"killed by signal {-returncode}"
    else:
        how = f"exit status {returncode}"
    lines = [
        ln
        for ln in stderr.strip().splitlines()
        if ln.strip() and not ln.startswith(("I0000", "W0000", "WARNING: All log messages"))
    ]
    tail = " | ".join(lines[-4:])
    return f"{how}; stderr: {tail}" if tail else how


class Runner:
    """Starts workers in fresh processes and collects their results and errors."""

    def __init__(self, env: dict[str, str], tmp: str) -> None:
        self.env = env
        self.tmp = tmp
        self.count = 0
        self.errors: list[str] = []

    def worker(self, request: dict) -> dict | None:
        """Run bench/worker.py with ``request``; return its result, or None (error recorded)."""
        self.count += 1
        req_path = os.path.join(self.tmp, f"req{self.count}.json")
        res_path = os.path.join(self.tmp, f"res{self.count}.json")
        with open(req_path, "w") as f:
            json.dump(request, f)
        what = (
            f"{request['task']} {request.get('framework', 'tfbundle')} {request.get('model', '')}"
        )
        try:
            proc = subprocess.run(
                [sys.executable, WORKER, req_path, res_path],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=WORKER_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            self.errors.append(f"{what}: timed out after {WORKER_TIMEOUT_S} s")
            return None
        result = None
        if os.path.isfile(res_path):
            with open(res_path) as f:
                result = json.load(f)
        if result is None or proc.returncode != 0 or "error" in result:
            self.errors.append(f"{what}: {describe_failure(proc.returncode, result, proc.stderr)}")
            return None
        return result

    def cold_start(
        self, code: str | list[str], env: dict[str, str] | None = None
    ) -> tuple[float, float] | None:
        """Run ``python -c code`` (or the command ``code``, a list); return (seconds to its DONE
        stamp, seconds to its exit). ``env``: variables added to the children's environment."""
        argv = [sys.executable, "-c", code] if isinstance(code, str) else code
        t0 = time.monotonic()
        proc = subprocess.run(
            argv,
            env=dict(self.env, **(env or {})),
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT_S,
            check=False,
        )
        t_exit = time.monotonic()
        stamps = [ln for ln in proc.stdout.splitlines() if ln.startswith("TFB_BENCH_DONE ")]
        if proc.returncode != 0 or not stamps:
            self.errors.append(
                f"cold start `{shlex.join(argv)[:80]}...`: "
                f"{describe_failure(proc.returncode, None, proc.stderr)}"
            )
            return None
        # time.monotonic() is CLOCK_MONOTONIC on Linux: one clock for all processes.
        return float(stamps[-1].split()[1]) - t0, t_exit - t0


# The contestants of the cold-start section: (key, extra environment, label).
COLD_START = (
    ("c_floor", None, "C: TF_LoadSessionFromSavedModel + TF_SessionRun (bench/c_coldstart.cc)"),
    ("tfbundle", None, "import tfbundle; tfbundle.load(...); m(x=...)"),
    ("tfbundle_preload", {"TFBUNDLE_PRELOAD": "1"}, "the same, TFBUNDLE_PRELOAD=1"),
    ("tf2", None, "import tensorflow; tf.saved_model.load(...); sig(x=...)"),
)


def cold_start_code(framework: str, model_dir: str) -> str:
    """Return the ``python -c`` program of a cold start: load the dense model, predict once."""
    shape = common.input_shape("dense", 1)
    stamp = "import time; print('TFB_BENCH_DONE', time.monotonic())"
    if framework == "tfbundle":
        return (
            f"import tfbundle, numpy as np; m = tfbundle.load({model_dir!r}); "
            f"m(x=np.zeros({shape}, np.float32)); {stamp}"
        )
    return (
        f"import tensorflow as tf, numpy as np; m = tf.saved_model.load({model_dir!r}); "
        f"m.signatures['serving_default'](x=np.zeros({shape}, np.float32)); {stamp}"
    )


# ----------------------------------------------------------------------------- the run


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run every measurement; return the results dict (also what --json writes)."""
    started = time.monotonic()
    env = child_env()
    res: dict[str, Any] = {"env": environment(env), "mode": "quick" if args.quick else "full"}
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in common.MODELS:
            raise SystemExit(f"unknown model {m!r}; choose from {', '.join(common.MODELS)}")
    iters_table = QUICK_ITERS if args.quick else FULL_ITERS
    load_reps, warm_reps, cold_reps = QUICK_REPEATS if args.quick else FULL_REPEATS
    if args.repeats:
        load_reps = cold_reps = args.repeats
    res["config"] = {
        "models": models,
        "batches": list(BATCHES),
        "load_repeats": load_reps,
        "warm_load_repeats": warm_reps,
        "cold_start_repeats": cold_reps,
        "rounds": args.rounds,
        "iters": {
            f"{m} b{b}": {"timed": iters_table[(m, b)][0], "warmup": iters_table[(m, b)][1]}
            for m in models
            for b in BATCHES
        },
        "cache": args.cache,
    }
    notes: list[str] = []

    make_models(args.cache, models, env)
    dirs = {m: os.path.join(args.cache, m) for m in models}
    location, tfb_error = check_tfbundle(env)
    res["env"]["tfbundle"] = location
    if tfb_error:
        notes.append(f"tfbundle unavailable, its rows are empty: {tfb_error}")
        log(f"tfbundle does not import: {tfb_error}")
    c_lib, c_how = build_c_loop(res["env"]["tensorflow_dir"])
    res["env"]["c_loop"] = c_lib
    if c_lib is None:
        notes.append(f"C loop unavailable: {c_how}")
    wanted = set(args.frameworks.split(","))
    frameworks = [f for f in LOADERS if f in wanted and (f != "tfbundle" or not tfb_error)]

    with tempfile.TemporaryDirectory(prefix="tfbundle-bench-") as tmp:
        run = Runner(env, tmp)
        sections = set(args.sections.split(","))

        # 1. Load time: round-robin over repeats so slow drift hits every loader alike.
        if "load" in sections:
            raw: dict[str, dict[str, list[dict]]] = {m: {f: [] for f in frameworks} for m in models}
            total = load_reps * len(models) * len(frameworks)
            k = 0
            for _ in range(load_reps):
                for m in models:
                    for f in frameworks:
                        k += 1
                        log(f"load {k}/{total}: {f} {m}")
                        r = run.worker(
                            {"task": "load", "framework": f, "model": m, "model_dir": dirs[m]}
                        )
                        if r:
                            raw[m][f].append(r)
            load: dict[str, Any] = {}
            for m in models:
                load[m] = {}
                for f in frameworks:
                    rs = raw[m][f]
                    if not rs:
                        continue
                    load[m][f] = {
                        key: common.summarize([r[key] for r in rs])
                        for key in ("import_s", "load_s", "first_call_s")
                    }
                    libs = [r["libs_s"] for r in rs if r.get("libs_s") is not None]
                    load[m][f]["libs_s"] = common.summarize(libs) if libs else None
                    load[m][f]["total_s"] = common.summarize(
                        [
                            r["import_s"]
                            + (r.get("libs_s") or 0.0)
                            + r["load_s"]
                            + r["first_call_s"]
                            for r in rs
                        ]
                    )
                    rss = [r["rss_mb"] for r in rs if r.get("rss_mb") is not None]
                    load[m][f]["rss_mb"] = common.median(rss) if rss else None
                if not tfb_error:
                    log(f"warm load: tfbundle {m} x{warm_reps}")
                    r = run.worker(
                        {
                            "task": "warm_load",
                            "model": m,
                            "model_dir": dirs[m],
                            "repeats": warm_reps,
                        }
                    )
                    if r:
                        load[m]["tfbundle_warm"] = {"load_s": common.summarize(r["load_s"])}
            res["load"] = load

        # 2. Per-call latency: one process per framework and model.
        if "latency" in sections:
            lat: dict[str, Any] = {}
            agreement: dict[str, Any] = {}
            for m in models:
                request = {
                    "task": "latency",
                    "model": m,
                    "model_dir": dirs[m],
                    "batches": list(BATCHES),
                    "iters": {str(b): iters_table[(m, b)][0] for b in BATCHES},
                    "warmup": {str(b): iters_table[(m, b)][1] for b in BATCHES},
                    "rounds": args.rounds,
                    "out_dir": tmp,
                    "c_loop": c_lib,
                    "c_loop_reason": c_how,
                }
                lat[m] = {str(b): {} for b in BATCHES}
                outputs: dict[str, dict[str, str]] = {}
                for f in frameworks:
                    log(f"latency: {f} {m}")
                    r = run.worker(dict(request, framework=f))
                    if not r:
                        continue
                    notes.extend(f"{m}: {note}" for note in r["notes"])
                    for method, per_batch in r["samples_us"].items():
                        for b, samples in per_batch.items():
                            lat[m][b][method] = common.summarize(samples)
                    outputs.update(r["outputs"])
                agreement[m] = compare_outputs(outputs)
            res["latency_us"] = lat
            res["agreement"] = agreement

        # 3. Cold start to the first prediction, dense model, alternating the two commands.
        if "cold" in sections and "dense" in dirs:
            commands: dict[str, tuple[str | list[str], dict[str, str] | None]] = {}
            c_prog, c_prog_how = build_c_coldstart(res["env"]["tensorflow_dir"])
            names = serving_tensors(env, dirs["dense"]) if c_prog and not tfb_error else None
            if c_prog is None:
                notes.append(f"C cold-start floor unavailable: {c_prog_how}")
            elif names is None:
                notes.append("C cold-start floor skipped: the dense model's tensors were not read")
            else:
                shape = [str(d) for d in common.input_shape("dense", 1)]
                commands["c_floor"] = ([c_prog, dirs["dense"], *names, *shape], None)
            for key, extra, _ in COLD_START:
                f = "tf2" if key == "tf2" else "tfbundle"
                if key != "c_floor" and f in frameworks:
                    commands[key] = (cold_start_code(f, dirs["dense"]), extra)
            raw_cold: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
            for i in range(cold_reps):
                for key, (cmd, extra) in commands.items():
                    log(f"cold start {i + 1}/{cold_reps}: {key}")
                    r = run.cold_start(cmd, extra)
                    if r:
                        raw_cold[key].append(r)
            res["cold_start"] = {}
            for key, v in raw_cold.items():
                if not v:
                    continue
                cmd, extra = commands[key]
                prefix = "".join(f"{k}={val} " for k, val in (extra or {}).items())
                shown = f"python -c {shlex.quote(cmd)}" if isinstance(cmd, str) else shlex.join(cmd)
                res["cold_start"][key] = {
                    "first_prediction_s": common.summarize([a for a, _ in v]),
                    "process_exit_s": common.summarize([b for _, b in v]),
                    "command": prefix + shown,
                }
        notes.extend(run.errors)
    with contextlib.suppress(OSError):
        res["env"]["load_avg_at_end"] = os.getloadavg()
    res["notes"] = notes
    res["elapsed_s"] = time.monotonic() - started
    return res


def compare_outputs(outputs: dict[str, dict[str, str]]) -> dict[str, dict[str, float]]:
    """Compare each method's saved output with TF2's (or the first available reference).

    Args:
        outputs: {method: {batch: path of a .npy file}}.

    Returns:
        {batch: {method: max absolute difference from the reference}}, with the reference's
        name under the key ``"reference"``.
    """
    import numpy as np

    ref_method = next(
        (m for m in ("tf2_call", "tf1_session_run", "tfbundle_call") if m in outputs), None
    )
    if ref_method is None:
        return {}
    result: dict[str, Any] = {}
    for b, ref_path in outputs[ref_method].items():
        ref = np.load(ref_path)
        row: dict[str, Any] = {"reference": ref_method}
        for method, per_batch in outputs.items():
            if method != ref_method and b in per_batch:
                out = np.load(per_batch[b])
                row[method] = (
                    float(np.max(np.abs(out - ref))) if out.shape == ref.shape else float("inf")
                )
        result[b] = row
    return result


# ----------------------------------------------------------------------------- report


def _lat(lat: dict, m: str, b: int, method: str, key: str = "median") -> float | None:
    s = lat.get(m, {}).get(str(b), {}).get(method)
    return None if s is None else s[key] * 1e-6


def report(res: dict[str, Any]) -> str:
    """Format the results as the plain-text tables printed by the benchmark."""
    env, cfg = res["env"], res["config"]
    out = []
    la = env.get("load_avg_at_start")
    out.append(f"tfbundle benchmark ({res['mode']} run, {env['date']}, {res['elapsed_s']:.0f} s)")
    out.append(
        f"  TensorFlow {env['tensorflow']} | Python {env['python']} | numpy {env['numpy']} | "
        f"{env['cpus']} CPUs ({env['cpu']}) | load avg {la[0]:.2f} at start"
        if la
        else f"  TensorFlow {env['tensorflow']} | Python {env['python']}"
    )
    out.append(
        f"  tfbundle: {env.get('tfbundle') or 'unavailable'} | OPENBLAS_CORETYPE="
        f"{env['openblas_coretype']} | TF_CPP_MIN_LOG_LEVEL={env['tf_cpp_min_log_level']}"
    )
    out.append(
        "  models: dense = x (N,256) -> Dense 256 relu -> Dense 10 (tf.Module); mobilenet_v2 = "
        "Keras MobileNetV2, random weights, x (N,224,224,3)"
    )
    models = cfg["models"]

    if "load" in res:
        out.append("")
        out.append(
            f"Load time: a fresh process per repeat, median of {cfg['load_repeats']} (TF libs = "
            "tfbundle opening TensorFlow's C library, which TF's Python does in its import;"
        )
        out.append("first call = first prediction at batch 1; total = the sum, median of the sums)")
        rows = []
        for m in models:
            for f, label in LOADERS.items():
                s = res["load"].get(m, {}).get(f)
                if not s:
                    continue
                rss = s.get("rss_mb")
                rows.append(
                    [
                        m,
                        label,
                        common.fmt_time(s["import_s"]["median"]),
                        common.fmt_time(s["libs_s"]["median"]) if s.get("libs_s") else "-",
                        common.fmt_time(s["load_s"]["median"]),
                        common.fmt_time(s["first_call_s"]["median"]),
                        common.fmt_time(s["total_s"]["median"]),
                        f"{rss:.0f} MB" if rss is not None else "-",
                    ]
                )
            w = res["load"].get(m, {}).get("tfbundle_warm")
            if w:
                rows.append(
                    [
                        m,
                        f"tfbundle.load, warm process (median of {w['load_s']['n']})",
                        "-",
                        "-",
                        common.fmt_time(w["load_s"]["median"]),
                        "-",
                        "-",
                        "-",
                    ]
                )
        out.append(
            common.render_table(
                [
                    "model",
                    "loader",
                    "import",
                    "TF libs",
                    "load",
                    "first call",
                    "total",
                    "RSS after",
                ],
                rows,
                left=2,
            )
        )
        ratio_rows = []
        for m in models:
            loads = res["load"].get(m, {})
            if "tfbundle" in loads:
                t = loads["tfbundle"]
                ratio_rows.append(
                    [m]
                    + [
                        common.fmt_ratio(loads[f][k]["median"], t[k]["median"]) if f in loads else "-"
                        for f in ("tf2", "tf1")
                        for k in ("load_s", "total_s")
                    ]
                )
        if ratio_rows:
            out.append("")
            out.append(
                common.render_table(
                    [
                        "ratio (median)",
                        "TF2/tfbundle load",
                        "TF2/tfbundle total",
                        "TF1/tfbundle load",
                        "TF1/tfbundle total",
                    ],
                    ratio_rows,
                )
            )

    if "latency_us" in res:
        lat = res["latency_us"]
        cols = [(m, b) for m in models for b in BATCHES]
        out.append("")
        out.append(
            "Per-call latency, median / p99 (each call form in its own process per framework; "
            "tfbundle inputs from tfbundle.empty)"
        )
        rows = []
        for method, label in METHODS.items():
            cells = []
            for m, b in cols:
                med, p99 = _lat(lat, m, b, method), _lat(lat, m, b, method, "p99")
                cells.append(
                    "-" if med is None else f"{common.fmt_time(med)} / {common.fmt_time(p99)}"
                )
            if any(c != "-" for c in cells):
                rows.append([label, *cells])
        rows.append(
            ["calls timed per form"] + [str(cfg["iters"][f"{m} b{b}"]["timed"]) for m, b in cols]
        )
        out.append(common.render_table(["call form"] + [f"{m} b{b}" for m, b in cols], rows))

        out.append("")
        ratio_defs = [
            ("tfbundle sig() / C loop", "tfbundle_call", "c_loop", "ratio"),
            ("tfbundle sig() - C loop", "tfbundle_call", "c_loop", "diff"),
            ("tfbundle sig.run / C loop", "tfbundle_run", "c_loop", "ratio"),
            ("TF2 call / tfbundle sig()", "tf2_call", "tfbundle_call", "ratio"),
            ("TF1 Session.run / tfbundle sig()", "tf1_session_run", "tfbundle_call", "ratio"),
        ]
        rows = []
        for label, a, b_, kind in ratio_defs:
            cells = []
            for m, b in cols:
                x, y = _lat(lat, m, b, a), _lat(lat, m, b, b_)
                if kind == "ratio":
                    cells.append(common.fmt_ratio(x, y))
                else:
                    cells.append(
                        "-"
                        if x is None or y is None
                        else ("+" if x >= y else "-") + common.fmt_time(abs(x - y))
                    )
            if any(c != "-" for c in cells):
                rows.append([label, *cells])
        out.append(common.render_table(["ratio of medians"] + [f"{m} b{b}" for m, b in cols], rows))

        agree = res.get("agreement", {})
        parts = []
        for m in models:
            for b, row in sorted(agree.get(m, {}).items(), key=lambda kv: int(kv[0])):
                diffs = [f"{SHORT[k]} {v:.1e}" for k, v in row.items() if k != "reference"]
                if diffs:
                    parts.append(
                        f"  {m} b{b}: max |out - {SHORT[row['reference']]} out|: "
                        + ", ".join(diffs)
                    )
        if parts:
            out.append("")
            out.append("Outputs on the same input agree:")
            out.extend(parts)

    if "cold_start" in res:
        cs = res["cold_start"]
        out.append("")
        out.append(
            f"Cold start, dense model: a fresh process to the first prediction, median of "
            f"{cfg['cold_start_repeats']} (and to process exit)"
        )
        rows = []
        for key, _, label in COLD_START:
            if key in cs:
                rows.append(
                    [
                        label,
                        common.fmt_time(cs[key]["first_prediction_s"]["median"]),
                        common.fmt_time(cs[key]["process_exit_s"]["median"]),
                    ]
                )
        for num, den, label in (
            ("tfbundle", "c_floor", "ratio tfbundle / C floor (goal: at most 2)"),
            ("tfbundle_preload", "c_floor", "ratio tfbundle with preload / C floor"),
            ("tf2", "tfbundle", "ratio TensorFlow / tfbundle (goal: at least 8)"),
        ):
            if num in cs and den in cs:
                rows.append(
                    [
                        label,
                        common.fmt_ratio(
                            cs[num]["first_prediction_s"]["median"],
                            cs[den]["first_prediction_s"]["median"],
                        ),
                        common.fmt_ratio(
                            cs[num]["process_exit_s"]["median"],
                            cs[den]["process_exit_s"]["median"],
                        ),
                    ]
                )
        out.append(common.render_table(["fresh process", "first prediction", "process exit"], rows))

    la_end = env.get("load_avg_at_end")
    if la_end:
        out.append("")
        out.append(
            f"Machine load average at the end: {la_end[0]:.2f} (other processes on the "
            "machine inflate every figure alike; compare within one run)"
        )
    if res["notes"]:
        out.append("")
        out.append("Notes and errors:")
        for n in res["notes"]:
            n = n if len(n) <= 800 else n[:800] + " ..."
            out.append("  - " + n.replace("\n", "\n    "))
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(
        prog="python bench/run.py",
        description="Benchmark tfbundle against TensorFlow's own SavedModel loaders "
        "(load time, per-call latency, cold start), side by side in one run.",
    )
    p.add_argument(
        "--quick", action="store_true", help="few iterations: a smoke test, not figures to quote"
    )
    p.add_argument(
        "--json", metavar="OUT", help="also write every figure (and the raw summaries) to OUT"
    )
    p.add_argument(
        "--cache",
        default=DEFAULT_CACHE,
        help="folder of the benchmark models, made with TensorFlow when missing "
        "(default: bench/_build/models)",
    )
    p.add_argument(
        "--models",
        default=",".join(common.MODELS),
        help="comma-separated models to measure (default: dense,mobilenet_v2)",
    )
    p.add_argument(
        "--sections",
        default="load,latency,cold",
        help="comma-separated parts to run: load, latency, cold (default: all)",
    )
    p.add_argument(
        "--frameworks",
        default="tfbundle,tf2,tf1",
        help="comma-separated subset of tfbundle, tf2, tf1 to measure (default: all)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=0,
        help="fresh-process repeats for load time and cold start (default: 5, quick: 2)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="latency: interleave the call forms in this many rounds (default: 4)",
    )
    args = p.parse_args(argv)
    unknown = set(args.sections.split(",")) - {"load", "latency", "cold"}
    if unknown:
        p.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from load, latency, cold")
    unknown = set(args.frameworks.split(",")) - set(LOADERS)
    if unknown:
        p.error(
            f"unknown framework(s) {', '.join(sorted(unknown))}; choose from tfbundle, tf2, tf1"
        )
    if args.repeats < 0 or args.rounds < 1:
        p.error("--repeats must be >= 0 and --rounds >= 1")
    args.cache = os.path.abspath(args.cache)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the tables; write JSON when asked. Returns the exit status."""
    args = parse_args(argv)
    res = measure(args)
    print(report(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
