"""Hot reload: serve the newest version of a TF Serving-style model folder, swapping without downtime.

    >>> repo = tfbundle.ModelRepository("models/resnet", poll_interval=5)
    >>> repo(x=batch)                         # the default signature of the newest version
    >>> repo.version                          # 3
    >>> # ... someone copies models/resnet/4/ into place ...
    >>> repo.version                          # 4, a few seconds later
    >>> repo.close()

The base folder holds numbered versions (``models/resnet/1/``, ``.../2/``), as TF
Serving lays them out. A background thread looks for new versions every
``poll_interval`` seconds, loads the newest (with its warmup requests, as TF
Serving does) while the current one keeps serving, then swaps the two under a
lock held for a few instructions. Calls that started on the old version finish
on it; it is closed when the last of them returns. No call waits for a load, and
no call sees a closed model.

Write a new version under another name and rename it into place (``2.tmp`` ->
``2``) so that a half-copied folder is never seen; a version that fails to load
is logged, kept out, and tried again when its files change.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .._base.paths import MODEL_FILES, PathLike, has_model_file, version_folders
from ..errors import ClosedError, Error, InvalidArgumentError, InvalidTypeError, NotFoundError
from .model import load

__all__ = ["ModelRepository"]

logger = logging.getLogger("tfbundle")



class _Served:
    """One loaded version and the calls running on it."""

    __slots__ = ("drained", "inflight", "model", "retired", "version")

    def __init__(self, version: int, model: Any) -> None:
        self.version = version
        self.model = model
        self.inflight = 0
        self.retired = False
        self.drained = threading.Event()


def _fingerprint(folder: Path) -> tuple[Any, ...]:
    """What changes when a version's files are rewritten (for retrying failed loads)."""
    parts: list[Any] = []
    for name in (*MODEL_FILES, "variables"):
        try:
            st = (folder / name).stat()
            parts.append((name, st.st_mtime_ns, st.st_size))
        except OSError:
            parts.append((name, None))
    return tuple(parts)


class _SignatureProxy:
    """A signature of whichever version the repository serves at each call."""

    __slots__ = ("_repo", "name")

    def __init__(self, repo: ModelRepository, name: str) -> None:
        self._repo = repo
        self.name = name

    def __call__(self, **inputs: Any) -> dict[str, np.ndarray]:
        served = self._repo._enter()
        try:
            return served.model.signatures[self.name](**inputs)
        finally:
            self._repo._exit(served)

    def run(
        self, inputs: Mapping[str, Any], outputs: Sequence[str] | None = None
    ) -> list[np.ndarray]:
        served = self._repo._enter()
        try:
            return served.model.signatures[self.name].run(inputs, outputs)
        finally:
            self._repo._exit(served)

    def __repr__(self) -> str:
        return f"<ModelRepository signature {self.name!r} of {self._repo.path}>"


_live: weakref.WeakSet[ModelRepository] = weakref.WeakSet()
_atexit_lock = threading.Lock()
_atexit_registered = False


def _stop_pollers() -> None:
    # A poller still loading while TensorFlow's sessions are closed at exit could
    # crash the process: stop them first. This is registered after the first
    # model loaded, so after tfbundle's own handler that closes the sessions,
    # and atexit runs handlers in reverse order: this one first.
    for repo in list(_live):
        repo._stop_polling(timeout=5.0)


def _register_atexit() -> None:
    global _atexit_registered
    with _atexit_lock:
        if not _atexit_registered:
            atexit.register(_stop_pollers)
            _atexit_registered = True


class ModelRepository:
    """Serves the newest numbered version of a model folder and reloads it when a new one appears.

    Args:
        base_path: the folder of numbered versions (``model/1``, ``model/2``...).
        poll_interval: seconds between looks for new versions by a background
            thread; None or 0 for no thread (call :meth:`poll` yourself).
        loader: ``loader(version_folder) -> Model``; by default
            :func:`tfbundle.load` with ``load_kwargs``. A version folder counts
            only once it holds ``saved_model.pb`` (or ``.pbtxt``) with the
            default loader; with your own loader, every numbered folder does.
        on_change: called as ``on_change(old_version, new_version)`` after each
            swap, from the thread that loaded the new version.
        **load_kwargs: passed to :func:`tfbundle.load` (``tags``, thread counts,
            ``warmup``: True by default here, as in TF Serving).

    The newest version is loaded before the constructor returns. Then: a newer
    version is loaded in the background and swapped in; if the version served is
    deleted from disk, the newest remaining one is loaded; if every version is
    deleted, the last one keeps serving (with a warning in the log).

    Raises:
        NotFoundError: ``base_path`` holds no version folder.
        Error: the newest version (and every older one) failed to load: the
            newest one's error.
    """

    def __init__(
        self,
        base_path: PathLike,
        *,
        poll_interval: float | None = 2.0,
        loader: Callable[[str], Any] | None = None,
        on_change: Callable[[int | None, int], None] | None = None,
        **load_kwargs: Any,
    ) -> None:
        self.path = str(Path(os.fspath(base_path)).expanduser().absolute())
        if poll_interval is not None and (
            not isinstance(poll_interval, (int, float)) or poll_interval < 0
        ):
            raise InvalidArgumentError(
                f"poll_interval must be a number of seconds >= 0 or None, got {poll_interval!r}"
            )
        if loader is not None and load_kwargs:
            raise InvalidArgumentError(
                "pass either loader= or keyword arguments for tfbundle.load, not both"
            )
        if loader is None:
            load_kwargs.setdefault("warmup", True)
            kwargs = dict(load_kwargs)
            self._loader: Callable[[str], Any] = lambda folder: load(folder, **kwargs)
            self._needs_model_file = True
        else:
            self._loader = loader
            self._needs_model_file = False
        self._on_change = on_change
        self._lock = threading.Lock()  # guards _current and every _Served's counters
        self._poll_lock = threading.RLock()  # one poll at a time (re-entrant: on_change may close)
        self._current: _Served | None = None
        self._closed = False
        self._failed: dict[int, tuple[tuple[Any, ...], BaseException]] = {}
        self._closers: list[threading.Thread] = []
        self._warned_empty = False
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

        if not Path(self.path).is_dir():
            raise NotFoundError(
                f"{self.path} is not a folder: pass the base folder of numbered model versions"
            )
        if self.poll() is None:  # no version could be loaded
            versions = self.versions()
            if not versions:
                raise NotFoundError(
                    f"{self.path} holds no model version: expected numbered folders (1/, 2/, ...)"
                    + (" each holding saved_model.pb" if self._needs_model_file else "")
                )
            newest = max(self._failed)
            error = self._failed[newest][1]
            message = (
                f"no version of {self.path} could be loaded; version {newest} failed with: {error}"
            )
            if isinstance(error, Error):
                raise type(error)(message) from error
            raise Error(message) from error
        _live.add(self)
        if poll_interval:
            _register_atexit()
            self._poller = threading.Thread(
                target=self._poll_loop,
                args=(float(poll_interval),),
                name=f"tfbundle-repository {self.path}",
                daemon=True,
            )
            self._poller.start()

    # ------------------------------------------------------------ serving ---

    def _enter(self) -> _Served:
        with self._lock:
            served = self._current
            if served is None or self._closed:
                raise ClosedError(f"the model repository {self.path} was closed")
            served.inflight += 1
        return served

    def _exit(self, served: _Served) -> None:
        with self._lock:
            served.inflight -= 1
            done = served.retired and served.inflight == 0
        if done:
            served.drained.set()

    @contextmanager
    def acquire(self) -> Iterator[Any]:
        """The model of the current version, kept open until the ``with`` block ends.

            >>> with repo.acquire() as model:
            ...     a = model.signatures["encode"](x=x)
            ...     b = model.signatures["decode"](z=a["z"])   # same version as a

        Raises:
            ClosedError: the repository was closed.
        """
        served = self._enter()
        try:
            yield served.model
        finally:
            self._exit(served)

    def __call__(self, **inputs: Any) -> dict[str, np.ndarray]:
        """Calls the current version's default signature (``serving_default`` or the only one)."""
        served = self._enter()
        try:
            return served.model(**inputs)
        finally:
            self._exit(served)

    def run(self, fetches: Any, feeds: Mapping[str, Any] | None = None, targets: Any = None) -> Any:
        """``Model.run`` on the current version."""
        with self.acquire() as model:
            return model.run(fetches, feeds, targets)

    def signature(self, name: str) -> _SignatureProxy:
        """A callable for one signature that always runs on the current version.

        Raises:
            SignatureNotFoundError: the current version has no such signature.
        """
        with self.acquire() as model:
            model.signatures[name]  # raises, listing the names, when absent
        return _SignatureProxy(self, name)

    @property
    def version(self) -> int:
        """The version being served."""
        served = self._current
        if served is None or self._closed:
            raise ClosedError(f"the model repository {self.path} was closed")
        return served.version

    @property
    def model(self) -> Any:
        """The current version's model, for a look at it (signatures, path).

        For calls use the repository itself, :meth:`signature` or :meth:`acquire`:
        a model taken from here is closed once a newer version replaces it.
        """
        served = self._current
        if served is None or self._closed:
            raise ClosedError(f"the model repository {self.path} was closed")
        return served.model

    @property
    def signatures(self) -> Mapping[str, Any]:
        """The current version's signatures (a snapshot: see :meth:`signature` for calls)."""
        return self.model.signatures

    @property
    def failed(self) -> dict[int, str]:
        """Versions that failed to load, with the error (retried when their files change)."""
        return {v: f"{type(e).__name__}: {e}" for v, (_, e) in self._failed.items()}

    @property
    def closed(self) -> bool:
        return self._closed

    def versions(self) -> list[int]:
        """The version numbers on disk now, ascending (only loadable-looking folders)."""
        holds = has_model_file if self._needs_model_file else None
        return [number for number, _ in version_folders(self.path, holds)]

    # ------------------------------------------------------------ reloading ---

    def poll(self) -> int | None:
        """Looks for versions now and loads the newest if it is not the one served.

        Runs in the caller's thread (the background thread calls it too).
        Returns the version served afterwards (None only before the first load).
        A version that fails to load is logged and left out until its files change.
        """
        with self._poll_lock:
            if self._closed:
                raise ClosedError(f"the model repository {self.path} was closed")
            current = self._current
            on_disk = self.versions()
            if not on_disk:
                if current is not None and not self._warned_empty:
                    logger.warning(
                        "every version of %s is gone; still serving version %d",
                        self.path,
                        current.version,
                    )
                    self._warned_empty = True
                return current.version if current else None
            self._warned_empty = False
            for version in sorted(on_disk, reverse=True):
                if current is not None and version == current.version:
                    return version
                if current is not None and version < current.version and current.version in on_disk:
                    return current.version  # never go back while the served version is there
                folder = os.path.join(self.path, str(version))
                fingerprint = _fingerprint(Path(folder))
                failed = self._failed.get(version)
                if failed is not None and failed[0] == fingerprint:
                    continue
                try:
                    model = self._loader(folder)
                except Exception as e:  # noqa: BLE001 - a bad version must not stop serving the good one
                    self._failed[version] = (fingerprint, e)
                    logger.error(
                        "could not load version %d of %s: %s: %s",
                        version,
                        self.path,
                        type(e).__name__,
                        e,
                    )
                    continue
                self._failed.pop(version, None)
                self._swap(_Served(version, model))
                return version
            return current.version if current else None

    def _swap(self, loaded: _Served) -> None:
        old: _Served | None
        new: _Served | None
        with self._lock:
            if self._closed:  # closed while this version loaded: never serve it
                old, new = loaded, None
            else:
                old, new = self._current, loaded
                self._current = new
            drained = False
            if old is not None:
                old.retired = True
                drained = old.inflight == 0
        if old is None:
            return
        if drained:
            old.drained.set()
        self._retire(old)
        if new is None:
            return
        logger.info("%s: now serving version %d (was %d)", self.path, new.version, old.version)
        if self._on_change is not None:
            try:
                self._on_change(old.version, new.version)
            except Exception:
                logger.exception("the on_change callback of %s failed", self.path)

    def _retire(self, old: _Served) -> None:
        """Closes a replaced version once its last call has returned, off the callers' threads."""

        def close_when_drained() -> None:
            old.drained.wait()
            try:
                old.model.close()
            except Exception:
                logger.exception("closing version %d of %s failed", old.version, self.path)

        closer = threading.Thread(
            target=close_when_drained, name=f"tfbundle-retire-{old.version}", daemon=True
        )
        self._closers = [t for t in self._closers if t.is_alive()]
        self._closers.append(closer)
        closer.start()

    def _poll_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.poll()
            except ClosedError:
                return
            except Exception:  # pragma: no cover - poll() handles load errors itself
                logger.exception("polling %s failed", self.path)

    def _stop_polling(self, timeout: float | None = None) -> None:
        self._stop.set()
        poller = self._poller
        if poller is not None and poller is not threading.current_thread():
            poller.join(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stops polling and closes the served model once the calls in flight return. Idempotent.

        Args:
            timeout: at most this many seconds to wait for a load in progress
                and for calls in flight (None: as long as they take).
        """
        self._stop_polling(timeout)
        with self._poll_lock if timeout is None else _try_lock(self._poll_lock, timeout):
            with self._lock:
                if self._closed:
                    return
                self._closed = True
                served, self._current = self._current, None
                drained = False
                if served is not None:
                    served.retired = True
                    drained = served.inflight == 0
            if served is not None:
                if drained:
                    served.drained.set()
                self._retire(served)
        for closer in list(self._closers):
            closer.join(timeout)
        _live.discard(self)

    def __reduce__(self) -> Any:
        raise InvalidTypeError(
            "a tfbundle.ModelRepository holds loaded TensorFlow sessions and cannot be pickled: send "
            f"its path ({self.path!r}) and make a ModelRepository in the other process"
        )

    def __enter__(self) -> ModelRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return f"<tfbundle.ModelRepository {self.path!r} [closed]>"
        served = self._current
        return f"<tfbundle.ModelRepository {self.path!r} serving version {served.version if served else None}>"


@contextmanager
def _try_lock(lock: Any, timeout: float) -> Iterator[None]:
    acquired = lock.acquire(timeout=timeout)
    try:
        yield
    finally:
        if acquired:
            lock.release()
