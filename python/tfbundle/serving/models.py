"""The served models: their versions, states, batchers and metadata.

A model whose version policy is ``latest`` with one version (TF Serving's default) is a
:class:`tfbundle.ModelRepository`: the newest version serves, a newer one is loaded (and its
warmup records replayed) while the old one keeps serving, then swapped in; calls that started on
the old version finish on it.

Other policies (``all``, ``specific``, ``latest`` with several versions) keep a set of loaded
versions, which a poller thread (every ``poll_interval`` seconds) brings in line with the folder
as TF Serving's file system poller does: a version the policy now chooses is loaded (LOADING, its
warmup replayed, then AVAILABLE), and one it no longer chooses (deleted, or out of the newest N)
is UNLOADING until the requests using it are answered, then END. A version that failed to load
is tried again only once its ``saved_model.pb`` changes. The last versions serving are never
unloaded for want of others that loaded.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._base.paths import has_model_file, version_folders
from ..errors import Error, InvalidArgumentError, NotFoundError
from .config import ModelConfig, ServerConfig
from .errors import CODE_NAMES

__all__ = ["ServedModel"]

logger = logging.getLogger("tfbundle.serving")

# TF Serving's ModelVersionStatus states.
AVAILABLE = "AVAILABLE"
LOADING = "LOADING"
UNLOADING = "UNLOADING"
END = "END"


def _version_of(model: Any) -> int:
    return int(os.path.basename(model.path))


class ServedModel:
    """One model of the server: its versions, the batcher of each, and what the status page says."""

    def __init__(self, config: ModelConfig, server: ServerConfig) -> None:
        self.config = config
        self.name = config.name
        self._server = server
        self._lock = threading.Lock()
        # version -> (state, error code name, error message), as the status page shows it
        self._states: dict[int, tuple[str, str, str]] = {}
        self.repository: Any = None
        self.static: dict[int, Any] = {}  # version -> Model, for the policies loaded once
        self._batchers: dict[int | None, Any] = {}  # None: the repository's batcher
        self._metadata: dict[str, dict[str, Any]] = {}
        self.loaded = False
        # The policies loaded into `static`: requests using each model (by id), the models taken
        # out while in use (id -> (version, model, batcher)), the versions whose load failed
        # (version -> the stamp of its saved_model.pb then), and the poller.
        self._in_use: dict[int, int] = {}
        self._retiring: dict[int, tuple[int, Any, Any]] = {}
        self._failed: dict[int, tuple[int, int] | None] = {}
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # ---------------------------------------------------------------- loading ---

    def _load_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self._server.load_kwargs)
        kwargs["warmup"] = self._server.warmup
        return kwargs

    def load(self) -> None:
        """Loads the versions (blocking; warmup records are replayed before a version serves)."""
        from .. import ModelRepository

        cfg = self.config
        base = os.path.abspath(os.path.expanduser(cfg.base_path))
        if cfg.policy == "latest" and cfg.num_versions == 1:
            poll = self._server.poll_interval or None
            self.repository = ModelRepository(
                base, poll_interval=poll, on_change=self._changed, **self._load_kwargs()
            )
            self._set(self.repository.version, AVAILABLE)
            self._note_failures()
        else:
            on_disk = self._on_disk()
            if cfg.policy == "specific":
                missing = sorted(set(cfg.versions) - set(on_disk))
                if missing:
                    raise NotFoundError(f"model {cfg.name!r}: {base} has no version {missing[0]}")
            chosen = self._chosen(on_disk)
            if not chosen:
                raise NotFoundError(f"model {cfg.name!r}: {base} holds no model version")
            for version in chosen:
                self._load_version(version, startup=True)
        for label, version in cfg.labels.items():
            if version not in self.available():
                raise InvalidArgumentError(
                    f"Request to assign label to version {version} of model {cfg.name}, which is not currently "
                    f"available for inference (label {label!r})"
                )
        if self._server.batching is not None:
            self._make_batchers()
        self.loaded = True
        if self.repository is None and self._server.poll_interval:
            self._poller = threading.Thread(
                target=self._poll, name=f"tfbundle-serve-poll-{self.name}", daemon=True
            )
            self._poller.start()

    # ------------------------------------------- versions of the policies loaded into `static` ---

    def _base(self) -> str:
        return os.path.abspath(os.path.expanduser(self.config.base_path))

    def _on_disk(self) -> list[int]:
        return [v for v, _ in version_folders(self._base(), has_model_file)]

    def _chosen(self, on_disk: list[int]) -> list[int]:
        """The versions the policy serves, of those in the folder."""
        cfg = self.config
        if cfg.policy == "latest":
            return on_disk[-cfg.num_versions :]
        if cfg.policy == "all":
            return on_disk
        return sorted(set(cfg.versions) & set(on_disk))

    def _stamp(self, version: int) -> tuple[int, int] | None:
        try:
            st = os.stat(os.path.join(self._base(), str(version), "saved_model.pb"))
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _load_version(self, version: int, *, startup: bool) -> None:
        """Loads a version into `static` (its warmup replayed first), then marks it AVAILABLE.
        A failure at startup raises; later it is logged and shown on the status page."""
        from .. import load

        self._set(version, LOADING)
        try:
            model = load(os.path.join(self._base(), str(version)), **self._load_kwargs())
        except Exception as e:  # whatever failed, the status page says it and the others serve on
            self._set(version, END, e)
            if startup:
                raise
            self._failed[version] = self._stamp(version)
            logger.error("model %r: version %d failed to load: %s", self.name, version, e)
            return
        batcher = None
        if not startup and self._server.batching is not None:
            batcher = self._batcher_for(model)
        with self._lock:
            self.static[version] = model
            if batcher is not None:
                self._batchers[version] = batcher
        self._failed.pop(version, None)
        self._set(version, AVAILABLE)
        if not startup:
            logger.info("model %r: version %d is available", self.name, version)

    def _poll(self) -> None:
        while not self._stop.wait(self._server.poll_interval):
            try:
                self.sync()
            except Exception:  # the poller keeps polling; the versions loaded keep serving
                logger.exception("model %r: looking for new versions failed", self.name)

    def sync(self) -> None:
        """Loads the versions the policy now chooses and unloads the others (the poller's step)."""
        if self.repository is not None or self._stop.is_set():
            return
        chosen = set(self._chosen(self._on_disk()))
        for version in sorted(chosen - set(self.static)):
            if version in self._failed and self._failed[version] == self._stamp(version):
                continue  # failed as it is: tried again once it changes
            if self._stop.is_set():
                return
            self._load_version(version, startup=False)
        with self._lock:
            serving = set(self.static)
        if not serving & chosen:
            return  # nothing the policy wants loaded: the versions serving go on serving
        for version in sorted(serving - chosen):
            self._retire(version)

    def _retire(self, version: int) -> None:
        """Takes a version out of service; it is closed once no request uses it."""
        with self._lock:
            model = self.static.pop(version, None)
            if model is None:
                return
            batcher = self._batchers.pop(version, None)
            self._states[version] = (UNLOADING, "OK", "")
            busy = self._in_use.get(id(model), 0) > 0
            if busy:
                self._retiring[id(model)] = (version, model, batcher)
        logger.info("model %r: unloading version %d", self.name, version)
        if not busy:
            self._close_version(version, model, batcher)

    def _close_version(self, version: int, model: Any, batcher: Any) -> None:
        try:
            if batcher is not None:
                batcher.close()
            model.close()
        finally:
            with self._lock:
                if self._states.get(version, (None,))[0] == UNLOADING:
                    self._states[version] = (END, "OK", "")

    def _make_batchers(self) -> None:
        targets: dict[int | None, Any] = {v: m for v, m in self.static.items()}  # noqa: C416 - widens the key type
        if self.repository is not None:
            targets[None] = self.repository
        for key, target in targets.items():
            batcher = self._batcher_for(target)
            if batcher is not None:
                self._batchers[key] = batcher

    def _batcher_for(self, target: Any) -> Any:
        """A Batcher of a model's (or repository's) default signature, or None (no signature)."""
        from .. import Batcher, ModelRepository

        model = target.model if isinstance(target, ModelRepository) else target
        names = list(model.signatures)
        if not names:
            return None
        default = "serving_default" if "serving_default" in names else names[0]
        return Batcher(target, signature=default, **dict(self._server.batching or {}))

    def _set(self, version: int, state: str, error: BaseException | None = None) -> None:
        code = "OK" if error is None else CODE_NAMES.get(int(getattr(error, "code", 2)), "UNKNOWN")
        with self._lock:
            self._states[version] = (state, code, "" if error is None else str(error))

    def _note_failures(self) -> None:
        if self.repository is None:
            return
        for version, text in self.repository.failed.items():
            if self._states.get(version, (None,))[0] != AVAILABLE:
                with self._lock:
                    self._states[version] = (END, "UNKNOWN", text)

    def _changed(self, old: int | None, new: int) -> None:
        if old is not None:
            self._set(old, END)
        self._set(new, AVAILABLE)
        self._note_failures()

    # ---------------------------------------------------------------- serving ---

    def available(self) -> list[int]:
        """The versions serving now, ascending."""
        if self.repository is not None:
            try:
                return [self.repository.version]
            except Error:
                return []
        return sorted(self.static)

    def version_for_label(self, label: str) -> int:
        try:
            return int(self.config.labels[label])
        except KeyError:
            raise InvalidArgumentError(f"Unrecognized servable version label: {label}") from None

    def _not_found(self, version: int | None) -> NotFoundError:
        request = f"Latest({self.name})" if version is None else f"Specific({self.name}, {version})"
        return NotFoundError(f"Servable not found for request: {request}")

    @contextmanager
    def acquire(self, version: int | None) -> Iterator[tuple[int, Any, Any]]:
        """(version, Model, Batcher or None) of the version asked for (None: the newest), kept open.

        Raises:
            NotFoundError: TF Serving's "Servable not found for request: ...".
        """
        if self.repository is not None:
            with self.repository.acquire() as model:
                served = _version_of(model)
                if version is not None and version != served:
                    raise self._not_found(version)
                # A request for no version in particular goes through the repository's batcher,
                # which runs each batch on the version current then.
                yield served, model, self._batchers.get(None) if version is None else None
            return
        with self._lock:
            chosen = (max(self.static) if self.static else -1) if version is None else version
            model = self.static.get(chosen)
            if model is None:
                raise self._not_found(version)
            batcher = self._batchers.get(chosen)
            key = id(model)
            self._in_use[key] = self._in_use.get(key, 0) + 1
        try:
            yield chosen, model, batcher
        finally:
            retired = None
            with self._lock:
                left = self._in_use[key] - 1
                if left:
                    self._in_use[key] = left
                else:
                    del self._in_use[key]
                    retired = self._retiring.pop(key, None)
            if retired is not None:  # unloaded while in use: closed now, off the event loop
                threading.Thread(
                    target=self._close_version,
                    args=retired,
                    name="tfbundle-serve-unload",
                    daemon=True,
                ).start()

    def status(self, version: int | None) -> list[dict[str, Any]]:
        """TF Serving's ``model_version_status`` list (newest first).

        Raises:
            NotFoundError: no such version (TF Serving's messages).
        """
        self._note_failures()
        with self._lock:
            states = dict(self._states)
        if version is not None:
            if version not in states:
                raise NotFoundError(f"Could not find version {version} of model {self.name}")
            states = {version: states[version]}
        if not states:
            raise NotFoundError(f"Could not find any versions of model {self.name}")
        return [
            {
                "version": str(v),
                "state": state,
                "status": {"error_code": code, "error_message": message},
            }
            for v, (state, code, message) in sorted(states.items(), reverse=True)
        ]

    def states(self) -> dict[int, str]:
        with self._lock:
            return {v: s for v, (s, _, _) in self._states.items()}

    def batch_stats(self) -> list[dict[str, Any]]:
        return [b.stats for b in self._batchers.values()]

    def metadata(self, model: Any) -> dict[str, Any]:
        """The SignatureDefs of a loaded version as TF Serving's GetModelMetadata writes them (proto3 JSON)."""
        key = model.path
        cached = self._metadata.get(key)
        if cached is None:
            cached = signature_def_json(model.path, model.tags)
            with self._lock:
                self._metadata[key] = cached
        return cached

    def close(self) -> None:
        """Stops the poller, closes the batchers (running what they hold), then the models."""
        self._stop.set()
        if self._poller is not None and self._poller is not threading.current_thread():
            self._poller.join()
        for batcher in self._batchers.values():
            batcher.close()
        if self.repository is not None:
            self.repository.close()
        with self._lock:
            models = [*self.static.values(), *(m for _, m, _ in self._retiring.values())]
            batchers = [b for _, _, b in self._retiring.values() if b is not None]
        for batcher in batchers:
            batcher.close()
        for model in models:
            model.close()


def _message_to_dict(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    to_dict: Any = json_format.MessageToDict
    try:
        return dict(
            to_dict(
                message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
        )
    except TypeError:  # protobuf < 5.26 names the option differently
        return dict(
            to_dict(message, preserving_proto_field_name=True, including_default_value_fields=True)
        )


def signature_def_json(export_dir: str, tags: Any) -> dict[str, Any]:
    """``{"signature_def": {...}}`` of the MetaGraph with ``tags`` of a SavedModel folder."""
    from .._proto.parsing import parse, parse_text

    pb = os.path.join(export_dir, "saved_model.pb")
    if os.path.isfile(pb):
        with open(pb, "rb") as f:
            saved = parse("SavedModel", f.read(), pb)
    else:
        path = os.path.join(export_dir, "saved_model.pbtxt")
        with open(path, encoding="utf-8") as f:
            saved = parse_text("SavedModel", f.read(), path)
    wanted = frozenset(tags)
    for meta in saved.meta_graphs:
        if frozenset(meta.meta_info_def.tags) == wanted:
            return {
                "signature_def": {
                    k: _message_to_dict(v) for k, v in sorted(meta.signature_def.items())
                }
            }
    raise NotFoundError(f"{export_dir} has no MetaGraph with the tags {sorted(wanted)}")
