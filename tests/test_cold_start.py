"""A fresh process to its first prediction: what it imports, the opt-in preload of TensorFlow's
library (TFBUNDLE_PRELOAD=1) with fork() and exit, lazy public names, and ``tfbundle bench --load``.

Behaviour only: no figure of time is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tfbundle
from _util import tfbundle_env
from tfbundle.cli.demo import demo_model_path

DEMO = str(demo_model_path())

# Modules the path `import tfbundle; tfbundle.load(...); model(...)` has no use for (numpy itself
# imports inspect, pickle, typing, ctypes, ...: those are not tfbundle's to avoid).
NOT_ON_THE_LOAD_PATH = (
    "tensorflow",
    "ml_dtypes",
    "google.protobuf",
    "tfbundle.cli",
    "tfbundle.types",
    "tfbundle.tf_example",
    "tfbundle._readers.align",
    "tfbundle._readers.checkpoint",
    "tfbundle._readers.inspect",
    "tfbundle._readers.policy",
    "tfbundle._runtime.graphs",
    "tfbundle._runtime.profile",
    "tfbundle._runtime.repository",
    "tfbundle._runtime.warmup",
    "argparse",
    "difflib",
    "glob",
    "json",
    "logging",
    "shutil",
    "subprocess",
    "tempfile",
)


def run_py(code: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in tfbundle_env().items() if k not in ("TFBUNDLE_PRELOAD", "TFBUNDLE_LIBTENSORFLOW")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=dict(base, **env),
        timeout=timeout,
        check=False,
    )


# ------------------------------------------------------------- what is imported ---


@pytest.mark.parametrize("preload", ["0", "1"])
def test_the_load_path_imports_only_what_it_needs(preload: str) -> None:
    proc = run_py(
        f"""
        import sys
        import numpy as np, tfbundle
        m = tfbundle.load({DEMO!r})
        m(x=np.ones((1, 4), np.float32))
        m.signatures["serving_default"].run({{"x": np.ones((2, 4), np.float32)}})
        print(sorted(set({list(NOT_ON_THE_LOAD_PATH)!r}) & set(sys.modules)))
        print(sorted(k for k in sys.modules if k.startswith("tfbundle.cli")))
        """,
        TFBUNDLE_PRELOAD=preload,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["[]", "[]"]


def test_import_alone_imports_no_reader_and_opens_no_library() -> None:
    proc = run_py(
        """
        import sys, threading, tfbundle
        print("tfbundle._readers.inspect" in sys.modules, "tfbundle._runtime.graphs" in sys.modules)
        print("libtensorflow" in open("/proc/self/maps").read())
        print([t.name for t in threading.enumerate() if t.name.startswith("tfbundle")])
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == ["False False", "False", "[]"]


def test_public_names_resolve_on_first_use() -> None:
    proc = run_py(
        """
        import sys, warnings, tfbundle
        assert "tfbundle._readers.inspect" not in sys.modules
        assert tfbundle.inspect.__module__ == "tfbundle._readers.inspect"
        assert "inspect" in vars(tfbundle)  # cached: the next access does not come back
        for name in tfbundle.__all__:
            assert getattr(tfbundle, name) is not None, name
        assert set(tfbundle.__all__) <= set(dir(tfbundle))
        import tfbundle.types
        assert tfbundle.SavedModelInfo is tfbundle.types.SavedModelInfo
        assert tfbundle.CheckpointKeyError is tfbundle.errors.CheckpointKeyError
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert tfbundle.examples is tfbundle.tf_example
        assert w and issubclass(w[0].category, DeprecationWarning)
        try:
            tfbundle.no_such_name
        except AttributeError as e:
            assert "no_such_name" in str(e)
        else:
            raise AssertionError("no AttributeError")
        ns = {}
        exec("from tfbundle import *", ns)
        assert set(tfbundle.__all__) <= set(ns)
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_moved_type_names_are_those_of_tfbundle_types() -> None:
    import tfbundle.types

    moved = {k for k, v in vars(tfbundle)["_MOVED"].items() if v == "types"}
    assert moved == set(tfbundle.types.__all__)


def test_type_checkers_see_the_lazy_names() -> None:
    """Each lazy name is imported under TYPE_CHECKING in __init__.py, so mypy and IDEs know it."""
    source = Path(tfbundle.__file__).read_text()
    checked = source.split("if TYPE_CHECKING:", 1)[1].split("\n\n", 1)[0]
    for name, module in vars(tfbundle)["_LAZY"].items():
        assert f"from {module} import" in checked and name in checked, name


# ---------------------------------------------------------------- the preload ---


@pytest.mark.needs_tensorflow
def test_preload_opens_the_library_in_the_background_and_load_uses_it() -> None:
    proc = run_py(
        f"""
        import numpy as np, tfbundle
        from tfbundle._runtime import library
        thread = library._preload_thread
        print(thread is not None and thread.daemon)
        thread.join(120)
        print(library.tensorflow_version() is not None)
        m = tfbundle.load({DEMO!r})
        print(m(x=np.ones((1, 4), np.float32))["class_ids"].shape)
        """,
        TFBUNDLE_PRELOAD="1",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == ["True", "True", "(1,)"]
    assert proc.stderr == ""  # as quiet as without the preload


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_preload_is_off_unless_asked(value: str) -> None:
    proc = run_py(
        """
        import tfbundle
        from tfbundle._runtime import library
        print(library._preload_thread is None, library.tensorflow_version())
        """,
        TFBUNDLE_PRELOAD=value,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True None"


def test_a_failed_preload_is_reported_by_the_first_load_as_without_it(tmp_path) -> None:
    code = f"""
        import tfbundle
        from tfbundle._runtime import library
        if library._preload_thread is not None:
            library._preload_thread.join(120)
        try:
            tfbundle.load({DEMO!r})
        except tfbundle.TensorFlowNotFoundError as e:
            print(type(e).__name__, e)
        """
    missing = str(tmp_path / "nothing-here")
    with_preload = run_py(code, TFBUNDLE_PRELOAD="1", TFBUNDLE_LIBTENSORFLOW=missing)
    without = run_py(code, TFBUNDLE_PRELOAD="0", TFBUNDLE_LIBTENSORFLOW=missing)
    assert with_preload.returncode == 0 and without.returncode == 0, with_preload.stderr + without.stderr
    assert with_preload.stderr == "" and with_preload.stdout == without.stdout
    assert with_preload.stdout.startswith("TensorFlowNotFoundError TFBUNDLE_LIBTENSORFLOW=")


FORK_RIGHT_AFTER_IMPORT = f"""
    import os
    import numpy as np, tfbundle
    pid = os.fork()  # while the preload thread may be opening the library
    if pid == 0:
        try:
            m = tfbundle.load({DEMO!r})
            m(x=np.ones((1, 4), np.float32))
            os.write(1, b"child loaded\\n")
        except tfbundle.FailedPreconditionError:
            os.write(1, b"child refused\\n")
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    m = tfbundle.load({DEMO!r})
    m(x=np.ones((1, 4), np.float32))
    print("parent loaded, child exit", os.waitstatus_to_exitcode(status))
    """


@pytest.mark.needs_tensorflow
@pytest.mark.parametrize("preload", ["0", "1"])
def test_fork_right_after_import_never_hangs(preload: str) -> None:
    proc = run_py(FORK_RIGHT_AFTER_IMPORT, timeout=240, TFBUNDLE_PRELOAD=preload)
    assert proc.returncode == 0, proc.stderr
    # No session existed at the fork: the child loads as any fresh process does.
    assert proc.stdout.split("\n")[:2] == ["child loaded", "parent loaded, child exit 0"]


@pytest.mark.needs_tensorflow
def test_exit_while_the_preload_runs_is_clean() -> None:
    for _ in range(3):
        proc = run_py("import tfbundle", TFBUNDLE_PRELOAD="1")
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr


# ------------------------------------------------------- tfbundle bench --load ---


def _bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tfbundle", "bench", *args],
        capture_output=True,
        text=True,
        env=tfbundle_env(),
        timeout=timeout,
        check=False,
    )


@pytest.mark.needs_tensorflow
def test_bench_load_text() -> None:
    proc = _bench(DEMO, "--load", "--repeats", "1", "--no-tensorflow")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "median of 1 fresh processes" in out and "signature 'serving_default'" in out
    for label in (
        "interpreter start",
        "import numpy",
        "import tfbundle",
        "open TensorFlow's libraries",
        "load",
        "first call",
        "fresh process to first prediction",
        "warm process: load",
        "warm process: first call",
    ):
        assert f"  {label} " in out, label
    assert "note: TensorFlow's Python loader not timed (--no-tensorflow)" in out
    assert " ms" in out


@pytest.mark.needs_tensorflow
def test_bench_load_json_against_tensorflow() -> None:
    proc = _bench(DEMO, "--load", "--repeats", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["kind"] == "SavedModel" and result["repeats"] == 1
    assert result["signature"] == "serving_default" and result["tags"] == ["serve"]
    steps = {
        "interpreter_s",
        "import_numpy_s",
        "import_s",
        "libraries_s",
        "load_s",
        "first_call_s",
        "total_s",
        "warm_load_s",
        "warm_first_call_s",
    }
    ours = result["tfbundle"]["median_s"]
    assert set(ours) == steps and all(v >= 0 for v in ours.values())
    assert len(result["tfbundle"]["runs"]) == 1
    theirs = result["tensorflow_python"]["median_s"]
    assert set(theirs) == steps and theirs["libraries_s"] is None  # TensorFlow opens them in its import
    assert all(v >= 0 for k, v in theirs.items() if k != "libraries_s")


def test_bench_load_refuses_what_is_not_a_saved_model(tmp_path) -> None:
    missing = _bench(str(tmp_path / "nowhere"), "--load", "--repeats", "1")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr and missing.stdout == ""
    graph = tmp_path / "frozen.pb"
    graph.write_bytes(b"\x00")
    frozen = _bench(str(graph), "--load")
    assert frozen.returncode == 2
    assert "--load times SavedModels only" in frozen.stderr
    bad = _bench(DEMO, "--load", "--repeats", "0")
    assert bad.returncode == 2 and "--repeats must be at least 1" in bad.stderr


def test_bench_without_load_keeps_its_options() -> None:
    from tfbundle.cli.bench import main

    with pytest.raises(SystemExit):
        main(["--help"])


@pytest.mark.needs_tensorflow
def test_bench_load_reports_compiled_calls(tmp_path) -> None:
    """With a compile cache, the bench's untimed first process stores the call's optimized graph;
    every timed load, fresh process or warm, runs the call from it."""
    cache = tmp_path / "cache"
    proc = _bench(DEMO, "--load", "--repeats", "2", "--no-tensorflow", "--compile-cache", str(cache), "--json")
    assert proc.returncode == 0, proc.stderr
    states = json.loads(proc.stdout)["tfbundle"]["compile_cache"]
    assert states == {
        "compile_cache": {"hit, 1 compiled call(s)": 2},
        "warm_compile_cache": {"hit, 1 compiled call(s)": 2},
    }, states
    text = _bench(DEMO, "--load", "--repeats", "1", "--no-tensorflow", "--compile-cache", str(cache))
    assert text.returncode == 0, text.stderr
    assert "compile cache, load: hit, 1 compiled call(s) (1/1)" in text.stdout, text.stdout
