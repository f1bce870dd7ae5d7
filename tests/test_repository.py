"""ModelRepository: the newest version served, new versions swapped in while calls go on.

Three versions of a TF1 SavedModel (y = x + k, k = 1, 2, 3, restored from each
version's checkpoint) are made by TensorFlow in a child process (tests/makers/versions.py).
Versions are put into place the way deployments should do it: copied under another
name, then renamed.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfbundle
from tfbundle import errors
from tfbundle._runtime.repository import ModelRepository

X = np.array([0.0, 10.0], np.float32)


@pytest.fixture(scope="module")
def made(tf_models: Callable[[str], Path]) -> Path:
    return tf_models("versions")


@pytest.fixture
def base(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    return folder


def put(made: Path, base: Path, k: int, version: int | None = None) -> None:
    """Copies version k of the model into base/<version> atomically (copy, then rename)."""
    version = k if version is None else version
    staging = base / f".staging-{version}"
    shutil.copytree(made / f"v{k}", staging)
    staging.rename(base / str(version))


def which(out: dict[str, np.ndarray]) -> int:
    """The k of the version that answered (y = x + k)."""
    y = out["y"]
    k = float(y[0])
    assert y.tolist() == [k, k + 10.0], y
    return int(k)


def wait_until(predicate: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_serves_the_newest_and_swaps_on_poll(made: Path, base: Path) -> None:
    put(made, base, 1)
    with ModelRepository(base, poll_interval=None) as repo:
        assert repo.version == 1 and repo.versions() == [1]
        assert which(repo(x=X)) == 1
        first = repo.model
        put(made, base, 2)
        assert repo.poll() == 2 and repo.version == 2
        assert which(repo(x=X)) == 2
        assert repo.model.warmup.ran == 1  # warmup ran before the swap, as in TF Serving
        wait_until(lambda: first.closed, "the replaced version to be closed")
        assert repo.poll() == 2  # nothing new: nothing done


def test_calls_in_flight_finish_on_the_old_version(made: Path, base: Path) -> None:
    put(made, base, 1)
    with ModelRepository(base, poll_interval=None) as repo:
        with repo.acquire() as old:
            put(made, base, 2)
            repo.poll()
            assert which(repo(x=X)) == 2
            time.sleep(0.05)
            assert not old.closed  # still in use: not closed
            assert which(old(x=X)) == 1
        wait_until(lambda: old.closed, "the old version to close after its last call")


def test_removed_versions(made: Path, base: Path, caplog: pytest.LogCaptureFixture) -> None:
    put(made, base, 1)
    put(made, base, 2)
    with ModelRepository(base, poll_interval=None) as repo:
        assert repo.version == 2
        shutil.rmtree(base / "2")
        assert repo.poll() == 1 and which(repo(x=X)) == 1  # the newest remaining
        shutil.rmtree(base / "1")
        with caplog.at_level(logging.WARNING, logger="tfbundle"):
            assert repo.poll() == 1
        assert "every version of" in caplog.text and "still serving version 1" in caplog.text
        assert which(repo(x=X)) == 1  # still in memory, still serving


def test_a_version_that_fails_to_load_is_kept_out(
    made: Path, base: Path, caplog: pytest.LogCaptureFixture
) -> None:
    put(made, base, 1)
    with ModelRepository(base, poll_interval=None) as repo:
        broken = base / "7"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
        with caplog.at_level(logging.ERROR, logger="tfbundle"):
            assert repo.poll() == 1
        assert "could not load version 7" in caplog.text
        assert list(repo.failed) == [7]
        assert repo.failed[7].startswith("DataLossError: ") and "malformed" in repo.failed[7]
        assert which(repo(x=X)) == 1
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="tfbundle"):
            assert repo.poll() == 1
        assert caplog.text == ""  # not retried while its files are unchanged
        shutil.rmtree(broken)
        put(made, base, 3, version=7)  # fixed: retried
        assert repo.poll() == 7 and which(repo(x=X)) == 3 and repo.failed == {}


def test_unfinished_version_folders_are_ignored(made: Path, base: Path) -> None:
    put(made, base, 1)
    (base / "2").mkdir()  # being copied: no saved_model.pb yet
    (base / "tmp").mkdir()
    with ModelRepository(base, poll_interval=None) as repo:
        assert repo.versions() == [1] and repo.version == 1


def test_threads_calling_while_versions_come_and_go(made: Path, base: Path) -> None:
    """No call fails, every answer comes from a whole version, and the newest is served."""
    put(made, base, 1)
    changes: list[tuple[int | None, int]] = []
    repo = ModelRepository(
        base, poll_interval=0.02, on_change=lambda old, new: changes.append((old, new))
    )
    seen: dict[int, int] = {}
    failures: list[BaseException] = []
    stop = threading.Event()
    lock = threading.Lock()

    def call_forever() -> None:
        sig = repo.signature("serving_default")
        n = 0
        while not stop.is_set():
            try:
                k = which(repo(x=X)) if n % 2 else which({"y": sig.run({"x": X})[0]})
            except BaseException as e:  # noqa: BLE001 - any failure fails the test
                failures.append(e)
                return
            n += 1
            with lock:
                seen[k] = seen.get(k, 0) + 1

    threads = [threading.Thread(target=call_forever) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for k, want in ((2, 2), (3, 3)):
            put(made, base, k)
            wait_until(lambda want=want: repo.version == want, f"version {want}")
            count = sum(seen.values())
            wait_until(
                lambda count=count: sum(seen.values()) > count + 20, "calls on the new version"
            )
        shutil.rmtree(base / "3")
        wait_until(lambda: repo.version == 2, "the fall back to version 2")
        count = sum(seen.values())
        wait_until(lambda: sum(seen.values()) > count + 20, "calls after the fall back")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        repo.close()
    assert not failures, failures
    assert set(seen) == {1, 2, 3}
    assert changes == [(1, 2), (2, 3), (3, 2)]
    with pytest.raises(errors.ClosedError, match="was closed"):
        repo(x=X)


def test_calls_go_on_while_a_version_loads(made: Path, base: Path) -> None:
    """A load that takes long does not hold any call up: they run on the old version."""
    put(made, base, 1)
    loading, release = threading.Event(), threading.Event()

    def slow_loader(folder: str) -> tfbundle.Model:
        if folder.endswith("2"):
            loading.set()
            release.wait(30)
        return tfbundle.load(folder)

    with ModelRepository(base, poll_interval=None, loader=slow_loader) as repo:
        put(made, base, 2)
        poller = threading.Thread(target=repo.poll)
        poller.start()
        assert loading.wait(30)
        answers = [which(repo(x=X)) for _ in range(50)]  # while version 2 loads
        assert answers == [1] * 50
        release.set()
        poller.join(30)
        assert repo.version == 2 and which(repo(x=X)) == 2


def test_custom_loader_counts_every_numbered_folder(made: Path, base: Path) -> None:
    put(made, base, 1)
    (base / "3").mkdir()
    loaded: list[str] = []

    def loader(folder: str) -> tfbundle.Model:
        loaded.append(folder)
        return tfbundle.load(base / "1")

    with ModelRepository(base, poll_interval=None, loader=loader) as repo:
        assert repo.versions() == [1, 3] and repo.version == 3
        assert loaded == [str(base / "3")]


def test_signature_proxy_and_acquire(made: Path, base: Path) -> None:
    put(made, base, 1)
    with ModelRepository(base, poll_interval=None) as repo:
        sig = repo.signature("serving_default")
        assert which(sig(x=X)) == 1
        assert repo.run("y:0", {"x:0": X}).tolist() == [1.0, 11.0]
        assert list(repo.signatures) == ["serving_default"]
        with pytest.raises(errors.SignatureNotFoundError, match="no signature named 'nope'"):
            repo.signature("nope")
        assert "serving version 1" in repr(repo)
    assert repo.closed and "[closed]" in repr(repo)


def test_load_options_are_passed_on(made: Path, base: Path) -> None:
    put(made, base, 2)
    with ModelRepository(base, poll_interval=None, warmup=False, intra_op_threads=1) as repo:
        assert repo.model.warmup is None


def test_refusals(made: Path, base: Path, tmp_path: Path) -> None:
    with pytest.raises(errors.NotFoundError, match="is not a folder: pass the base folder"):
        ModelRepository(tmp_path / "absent")
    with pytest.raises(
        errors.NotFoundError,
        match=r"holds no model version: expected numbered folders \(1/, 2/, ...\)",
    ):
        ModelRepository(base)
    with pytest.raises(errors.InvalidArgumentError, match="poll_interval must be"):
        ModelRepository(base, poll_interval=-1)
    with pytest.raises(errors.InvalidArgumentError, match="either loader= or keyword arguments"):
        ModelRepository(base, loader=tfbundle.load, tags="serve")
    (base / "4").mkdir()
    (base / "4" / "saved_model.pb").write_bytes(b"junk")
    with pytest.raises(
        errors.DataLossError,
        match=r"no version of .* could be loaded; version 4 failed with: .*malformed",
    ):
        ModelRepository(base)
    put(made, base, 1)
    repo = ModelRepository(base, poll_interval=None)
    assert repo.version == 1  # 4 is broken: 1 serves
    repo.close()
    repo.close()  # idempotent
    for action in (
        lambda: repo(x=X),
        lambda: repo.version,
        lambda: repo.poll(),
        lambda: repo.model,
    ):
        with pytest.raises(errors.ClosedError, match="was closed"):
            action()


def test_closing_from_the_change_callback(made: Path, base: Path) -> None:
    """on_change runs in the polling thread, inside poll(): closing from there must not deadlock."""
    put(made, base, 1)
    holder: list[ModelRepository] = []
    repo = ModelRepository(base, poll_interval=None, on_change=lambda old, new: holder[0].close())
    holder.append(repo)
    put(made, base, 2)
    done = threading.Thread(target=repo.poll)
    done.start()
    done.join(30)
    assert not done.is_alive() and repo.closed
    with pytest.raises(errors.ClosedError):
        repo(x=X)
