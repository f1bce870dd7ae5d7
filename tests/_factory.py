"""The one factory of what TensorFlow makes for the tests: models, checkpoints, oracle answers.

The pytest process never imports TensorFlow. A *maker* is a script that TensorFlow's Python
API runs in a subprocess, ``python SCRIPT [ARGS...] OUT`` (with a request on its standard
input if it takes one); it writes its files into OUT, a folder that does not exist yet. When
it succeeds, OUT is renamed to ``<cache>/<name>-<key>``, where the key hashes the script's
source, its arguments, its input and TensorFlow's version: a later run, or another session
sharing the cache, finds the folder and makes nothing, and an edited maker makes a new one.
One lock file serialises the makers of every process that shares the cache.

- ``made(name)``: the folder ``tests/makers/<name>.py`` wrote (the test models; the
  ``tf_models`` fixture of conftest.py hands this function to the tests);
- ``make(script, *args, name=..., stdin=...)``: any other maker, such as the
  saved_model_cli oracles of ``_inspect_models.py``.

The cache is ``$TFBUNDLE_TEST_CACHE``, else ``~/.cache/tfbundle-tests``. Tests that reach the
factory need TensorFlow's Python package: conftest.py marks them ``needs_tensorflow`` and
skips them when it is not installed.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

MAKERS = Path(__file__).resolve().parent / "makers"

#: How long one maker may take before the factory gives up (seconds).
TIMEOUT = 900


def tensorflow_installed() -> bool:
    """Whether TensorFlow's Python package is installed (found, not imported)."""
    return importlib.util.find_spec("tensorflow") is not None


def tensorflow_version() -> str | None:
    """The installed TensorFlow's version from its metadata, or None."""
    for dist in ("tensorflow", "tensorflow-cpu", "tf-nightly", "tensorflow-intel"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def cache_root() -> Path:
    """``$TFBUNDLE_TEST_CACHE``, else ``~/.cache/tfbundle-tests``."""
    env = os.environ.get("TFBUNDLE_TEST_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tfbundle-tests"


def tf_env() -> dict[str, str]:
    """The environment of TensorFlow subprocesses: quiet logs, no GPU, a fixed hash seed.

    The seed matters to the saved_model_cli oracles: it prints Python sets of op names, and
    tfbundle's output is compared with it under the same seed.
    """
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONHASHSEED="0")


def _fail(message: str) -> None:
    import pytest

    pytest.fail(message, pytrace=False)


def make(script: Path | str, *args: str, name: str, stdin: str | None = None) -> Path:
    """Runs ``python SCRIPT ARGS... OUT`` once per key; returns the cached OUT.

    Args:
        script: the maker; its source is part of the key.
        *args: arguments before OUT (part of the key).
        name: the start of the cache folder's name.
        stdin: text given to the maker on its standard input (part of the key).

    Returns:
        The folder the maker wrote, ``<cache>/<name>-<key>``.
    """
    script = Path(script)
    digest = hashlib.sha256(script.read_bytes())
    for part in (*args, stdin or "", f"tensorflow {tensorflow_version()}"):
        digest.update(b"\0" + part.encode())
    root = cache_root()
    final = root / f"{name}-{digest.hexdigest()[:16]}"
    if final.is_dir():
        return final
    if not tensorflow_installed():
        _fail(
            f"{script.name} needs TensorFlow's Python package to make {name}: mark the test "
            "needs_tensorflow, so that it is skipped where TensorFlow is not installed"
        )
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # other sessions may share this cache
        if final.is_dir():
            return final
        staging = root / f".making-{final.name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        out = staging / name
        try:
            try:
                proc = subprocess.run(
                    [sys.executable, str(script), *args, str(out)],
                    input=stdin or "",
                    capture_output=True,
                    text=True,
                    env=tf_env(),
                    timeout=TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                _fail(f"{script.name} {' '.join(args)} took more than {TIMEOUT} s")
            if proc.returncode != 0 or not out.is_dir():
                _fail(
                    f"{script.name} {' '.join(args)} failed (exit code {proc.returncode}) to "
                    f"make {name}:\n{proc.stderr[-4000:]}"
                )
            os.rename(out, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final


def made(name: str) -> Path:
    """The folder ``tests/makers/<name>.py`` wrote (made once per maker source and TF version)."""
    return make(MAKERS / f"{name}.py", name=name)
