"""Shared fixtures, and the ``needs_tensorflow`` marker.

What TensorFlow makes for the tests (models, checkpoints, the oracles' answers) comes from one
factory, tests/_factory.py. The ``tf_models`` fixture hands out its ``made``:
``tf_models("graphs")`` is the folder tests/makers/graphs.py wrote, made once and cached by
the maker's source and TensorFlow's version under ``$TFBUNDLE_TEST_CACHE`` (default
``~/.cache/tfbundle-tests``). The pytest process never imports TensorFlow.

TensorFlow's Python package is optional. A test needs it when it asks for ``tf_models``,
directly or through another fixture (the hook below marks it ``needs_tensorflow``), or when
it runs TensorFlow itself to compare outputs (marked ``needs_tensorflow`` by hand). Where
TensorFlow is not installed, the hook skips them all and says why.

The third-party SavedModels and checkpoints (their PROVENANCE.md says where each comes from)
are reached only through the ``testdata`` fixture: ``$TFBUNDLE_TESTDATA``, else
``shared/testdata`` beside the repository's folder. Where that folder is absent, the tests
that use it skip and say so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _factory
from _util import ModelZoo

TENSORFLOW_MISSING = (
    "TensorFlow's Python package is not installed (pip install tensorflow-cpu): this test "
    "needs it to make its models or to compare with TensorFlow's outputs"
)


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers added here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks needs_tensorflow the tests that ask for tf_models; skips them all without TF."""
    skip = None if _factory.tensorflow_installed() else pytest.mark.skip(TENSORFLOW_MISSING)
    for item in items:
        if "tf_models" in getattr(item, "fixturenames", ()):
            item.add_marker("needs_tensorflow")
        if skip is not None and item.get_closest_marker("needs_tensorflow"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tf_models() -> Callable[[str], Path]:
    """``tf_models(name)``: the folder tests/makers/<name>.py wrote (made once, then cached)."""
    return _factory.made


@pytest.fixture(scope="session")
def models(tf_models: Callable[[str], Path]) -> ModelZoo:
    """The test models of tests/makers/zoo.py and TensorFlow's outputs for them."""
    return ModelZoo(tf_models("zoo"))


@pytest.fixture(scope="session")
def imodels(tf_models: Callable[[str], Path]) -> str:
    """The models of tests/makers/cli_models.py, one folder per name in its MODEL_NAMES."""
    return str(tf_models("cli_models"))


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The third-party test data: $TFBUNDLE_TESTDATA or shared/testdata beside the repository.

    Skips the test, naming the folder, where it is absent.
    """
    env = os.environ.get("TFBUNDLE_TESTDATA")
    beside = Path(__file__).resolve().parents[2] / "shared" / "testdata"
    root = Path(env).expanduser().resolve() if env else beside
    if not (root / "PROVENANCE.md").is_file():
        pytest.skip(
            f"the third-party test data is not at {root}: set TFBUNDLE_TESTDATA to the folder "
            "holding its PROVENANCE.md to run this test"
        )
    return root
