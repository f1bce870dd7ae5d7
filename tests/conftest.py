"""Shared fixtures: the TensorFlow-made test models and the third-party test data.

The pytest process never imports TensorFlow. ``models`` runs ``tests/make_models.py``
in a subprocess once and caches what it writes under a folder keyed by a hash of that
script and of the installed TensorFlow version:

- ``$TFBUNDLE_TEST_CACHE/<key>`` when TFBUNDLE_TEST_CACHE is set,
- ``~/.cache/tfbundle-tests/<key>`` otherwise.

``testdata`` is ``/work/shared/testdata`` seen from this repository (the folder beside
the checkout's parent), or ``$TFBUNDLE_TESTDATA``.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import ModelZoo

HERE = Path(__file__).resolve().parent
MAKE_MODELS = HERE / "make_models.py"

#: How long making the models may take before the fixture gives up (seconds).
MAKE_MODELS_TIMEOUT = 900


def tensorflow_installed() -> bool:
    """Whether TensorFlow's Python package is installed (found, not imported)."""
    return importlib.util.find_spec("tensorflow") is not None


def _tensorflow_version() -> str:
    for dist in ("tensorflow", "tensorflow-cpu", "tf-nightly", "tensorflow-intel"):
        try:
            return f"{dist}=={importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def models_cache_key() -> str:
    """Hash of make_models.py's source and the installed TensorFlow version."""
    digest = hashlib.sha256(MAKE_MODELS.read_bytes())
    digest.update(_tensorflow_version().encode())
    return digest.hexdigest()[:16]


def models_cache_root() -> Path:
    env = os.environ.get("TFBUNDLE_TEST_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "tfbundle-tests"


def _make_models(out: Path) -> None:
    """Runs make_models.py OUT in a subprocess (serialised by a lock file)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f"{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be writing the same cache
        if (out / "manifest.json").exists():
            return
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        try:
            proc = subprocess.run(
                [sys.executable, str(MAKE_MODELS), str(out)],
                capture_output=True,
                text=True,
                env=env,
                timeout=MAKE_MODELS_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"tests/make_models.py took more than {MAKE_MODELS_TIMEOUT} s")
        if proc.returncode != 0:
            pytest.fail(
                f"tests/make_models.py {out} failed with exit code {proc.returncode}:\n"
                f"{proc.stderr[-4000:]}",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def models() -> ModelZoo:
    """The test models of tests/make_models.py and TensorFlow's outputs for them."""
    out = models_cache_root() / models_cache_key()
    if not (out / "manifest.json").exists():
        if not tensorflow_installed():
            pytest.skip(
                "TensorFlow's Python package is not installed: the oracle tests need it to "
                "export their models (pip install tensorflow-cpu)"
            )
        _make_models(out)
    return ModelZoo(out)


def testdata_root() -> Path:
    """Where the third-party models are: $TFBUNDLE_TESTDATA or ../shared/testdata."""
    env = os.environ.get("TFBUNDLE_TESTDATA")
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Iterator[Path]:
    """The third-party SavedModels of shared/testdata (skips when the folder is absent)."""
    root = testdata_root()
    if not (root / "PROVENANCE.md").is_file():
        pytest.skip(
            f"third-party test data not found at {root} (set TFBUNDLE_TESTDATA to the "
            "folder holding PROVENANCE.md)"
        )
    yield root
