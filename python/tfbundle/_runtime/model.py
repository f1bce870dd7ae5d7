"""Loading SavedModels and running them: ``load``, ``Model``, ``Signature``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import _core
from .._base.paths import PathLike, resolve_export_dir
from .._base.specs import Device, TensorSpec, specs_of
from .._base.tags import Tags, tag_set
from ..errors import (
    ClosedError,
    InvalidArgumentError,
    InvalidTypeError,
    NotFoundError,
    SignatureNotFoundError,
)
from . import library as _library

__all__ = ["load", "Model", "Signature", "TensorSpec", "Device", "empty", "aligned", "resolve_export_dir"]


DEFAULT_SIGNATURE = "serving_default"
_INIT_SIGNATURE = "__saved_model_init_op"


class Signature:
    """One SignatureDef of a loaded model, callable with numpy arrays.

    ``sig(x=array)`` returns a dict of numpy arrays; ``sig.run({"x": array})``
    is the lean form for hot loops and returns a list. Inputs that are
    C-contiguous, of the signature's dtype and 64-byte aligned (see
    :func:`tfbundle.empty`) go to TensorFlow without a copy; others are copied
    once. Computed outputs are numpy arrays over TensorFlow's memory, not
    copies; an output that is one of the inputs is a read-only view of it,
    and one that shares memory with the graph (a constant, a variable) is a
    copy, so a returned array never changes.
    """

    __slots__ = ("__weakref__", "_native", "_reference", "inputs", "method_name", "name", "outputs")

    def __init__(
        self, native: Any, name: str, sig_def: _core.SignatureDef, reference: ModelReference | None = None
    ) -> None:
        self._native = native
        self._reference = reference
        self.name: str = name
        self.method_name: str = sig_def.method_name
        self.inputs: Mapping[str, TensorSpec] = specs_of(sig_def.inputs)
        self.outputs: Mapping[str, TensorSpec] = specs_of(sig_def.outputs)

    def __call__(self, **inputs: Any) -> dict[str, np.ndarray]:
        """Runs the signature.

        Args:
            **inputs: one array (or scalar, or nested list) per input key.

        Returns:
            A dict from output key to numpy array.

        Raises:
            InvalidTypeError: an array has another dtype than the input's, or
                items numpy cannot convert to it (also a TypeError).
            InvalidArgumentError: a missing or unknown input, or a shape that
                does not match a known dimension (also a ValueError).
            ClosedError: the model was closed.
            Error: TensorFlow's own error while running, by status code.
        """
        return self._native.call(inputs)

    def run(self, inputs: Mapping[str, Any], outputs: Sequence[str] | None = None) -> list[np.ndarray]:
        """Runs the signature, the lean way: a dict in, a list out.

        Args:
            inputs: input key -> array.
            outputs: the output keys to compute, in the order wanted; all of
                them (sorted by key, as in ``self.outputs``) when None.

        Returns:
            The arrays, in the order of ``outputs``.
        """
        if not isinstance(inputs, dict):
            if not isinstance(inputs, Mapping):
                raise InvalidTypeError(
                    f"inputs must be a mapping of input key -> array, got {type(inputs).__name__}"
                )
            inputs = dict(inputs)
        if outputs is not None and not isinstance(outputs, (list, tuple)):
            outputs = _names(outputs, "outputs")  # a str or another iterable; the core checks the keys
        return self._native.run(inputs, outputs)

    async def acall(self, **inputs: Any) -> dict[str, np.ndarray]:
        """``sig(**inputs)`` for asyncio: the run happens in a worker thread, off the event loop.

        The loop never waits for TensorFlow (the run holds no GIL). Cancelling the
        awaiting task returns at once; a run already started finishes in its thread
        and its result is dropped.
        """
        return await _off_loop(self._native.call, inputs)

    async def arun(self, inputs: Mapping[str, Any], outputs: Sequence[str] | None = None) -> list[np.ndarray]:
        """``sig.run(inputs, outputs)`` for asyncio (see :meth:`acall`)."""
        return await _off_loop(self.run, inputs, outputs)

    def __reduce__(self) -> Any:
        """Pickles by reference: the model's path, tags and load options, and this signature's
        name; unpickling loads the model again (see :meth:`Model.__reduce__`)."""
        if self._reference is None:
            raise InvalidTypeError(
                f"a tfbundle.Signature ({self.name!r}) of a model not made by tfbundle.load cannot be "
                "pickled: send what loaded the model and the signature's name, and load the model in "
                "the other process (tfbundle.load(path).signatures[name])"
            )
        return _signature_by_reference, (self._reference, self.name)

    def __repr__(self) -> str:
        ins = ", ".join(f"{k}: {_spec_short(s)}" for k, s in self.inputs.items())
        outs = ", ".join(f"{k}: {_spec_short(s)}" for k, s in self.outputs.items())
        return f"<Signature {self.name!r} ({ins}) -> ({outs})>"


def _spec_short(spec: TensorSpec) -> str:
    dtype = spec.dtype.name if spec.dtype is not None and spec.dtype != object else spec.tf_dtype[3:].lower()
    if spec.shape is None:
        return f"{dtype}[...]"
    return f"{dtype}[{', '.join('?' if d is None else str(d) for d in spec.shape)}]"


class _SignatureMap(Mapping[str, Signature]):
    """A read-only mapping of signature names to :class:`Signature`."""

    __slots__ = ("_sigs",)

    def __init__(self, sigs: dict[str, Signature]) -> None:
        self._sigs = sigs

    def __getitem__(self, key: str) -> Signature:
        try:
            return self._sigs[key]
        except KeyError:
            names = ", ".join(repr(k) for k in self._sigs) or "none"
            raise SignatureNotFoundError(f"no signature named {key!r}; the model has {names}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._sigs

    def __iter__(self) -> Iterator[str]:
        return iter(self._sigs)

    def __len__(self) -> int:
        return len(self._sigs)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in self._sigs.items()) + "}"


class Model:
    """A loaded model: its signatures, a TF1-style ``run``, and its session.

    Use :func:`tfbundle.load` to make one. Safe to call from many threads at
    once. ``close()`` (or leaving a ``with`` block) frees TensorFlow's session
    after the calls in flight finish; arrays already returned stay valid.
    """

    def __init__(
        self, native: Any, path: str, tags: frozenset[str], *, reference: ModelReference | None = None
    ) -> None:
        self._native = native
        self._reference = reference  # what pickling sends: how load() made this model
        self.path: str = path
        self.tags: frozenset[str] = tags
        self.tensorflow_version: str = native.tensorflow_version
        self.warmup: Any = None  # the warmup report, when loaded with warmup=True
        # The restore that ran ("mmap", "tf", "graph" or "none"), what the mapped restore fed from
        # the mapping and copied (None for the others) and, under restore="auto", why it is not
        # the mapped one (None when it is).
        self.restore: str = _RESTORE_NAMES.get(native.restore, native.restore)
        self.restore_stats: _core.RestoreStats | None = native.restore_stats
        self.restore_fallback: str | None = native.restore_fallback or None
        # What the compile cache did: "hit", "miss: <why>", "unused: <why>"; None without a cache.
        self.compile_cache: str | None = native.compile_cache or None
        sigs = {
            d.key: Signature(_core.NativeSignature(native, d.key), d.key, d, reference)
            for d in native.signature_defs
            if d.key != _INIT_SIGNATURE
        }
        self.signatures: Mapping[str, Signature] = _SignatureMap(sigs)
        self._default: Signature | None = None  # default_signature, found on the first call

    @property
    def compiled_calls(self) -> int:
        """How many calls run from the optimized graphs stored in the compile cache.

        A load that finds calls in its compile cache entry (a signature's call, with the same
        inputs and outputs, made by an earlier load) runs them from the graph TensorFlow
        optimized then, skipping that optimization at the first call. The first other call
        (another signature, a raw :meth:`run`, a :meth:`profile`) restores the model's own
        session, which takes every call from then on: this is then 0.
        """
        count, active, _note = self._native.compiled_calls
        return count if active else 0

    @property
    def default_signature(self) -> Signature:
        """``serving_default``, or the only signature.

        Raises:
            NotFoundError: the model has several signatures and none is ``serving_default``.
        """
        sigs = self.signatures
        if DEFAULT_SIGNATURE in sigs:
            return sigs[DEFAULT_SIGNATURE]
        if len(sigs) == 1:
            return next(iter(sigs.values()))
        names = ", ".join(repr(k) for k in sigs) or "none"
        raise NotFoundError(
            f"the model has no '{DEFAULT_SIGNATURE}' signature to call; pick one of {names} "
            "with model.signatures[name](...)"
        )

    def __call__(self, **inputs: Any) -> dict[str, np.ndarray]:
        """Runs the default signature (see :attr:`default_signature`).

        After close() the signature's native call raises ClosedError itself.
        """
        return (self._default or self._find_default())(**inputs)

    def _find_default(self) -> Signature:
        self._default = self.default_signature
        return self._default

    async def acall(self, **inputs: Any) -> dict[str, np.ndarray]:
        """Runs the default signature for asyncio, off the event loop (see :meth:`Signature.acall`)."""
        return await (self._default or self._find_default()).acall(**inputs)

    def run(
        self,
        fetches: str | Sequence[str] | Mapping[str, str] | None,
        feeds: Mapping[str, Any] | None = None,
        targets: str | Sequence[str] | None = None,
    ) -> Any:
        """Runs graph tensors by name, like TF1 ``Session.run``.

        Args:
            fetches: a tensor name (``"y:0"``; ``"y"`` means output 0), a list
                of names, or a dict of key -> name; None to run only targets.
            feeds: tensor name -> value. Arrays must have the tensor's dtype.
            targets: operation names to run without fetching (e.g. an init op).

        Returns:
            An array, a list of arrays, or a dict of arrays, shaped like ``fetches``.

        Raises:
            NotFoundError: a tensor or operation is not in the graph.
            InvalidTypeError: a feed array has another dtype than the tensor (also a TypeError).
        """
        self._check_open()
        if isinstance(fetches, str):
            names, shape = [fetches], "one"
        elif fetches is None:
            names, shape = [], "none"
        elif isinstance(fetches, Mapping):
            names, shape = _names(list(fetches.values()), "fetches"), "dict"
        else:
            names, shape = _names(fetches, "fetches"), "list"
        target_list = [targets] if isinstance(targets, str) else _names(targets or [], "targets")
        if feeds is not None and not isinstance(feeds, Mapping):
            raise InvalidTypeError(f"feeds must be a mapping of tensor name -> value, got {type(feeds).__name__}")
        feeds = dict(feeds or {})
        if not all(isinstance(k, str) for k in feeds):
            raise InvalidTypeError(f"feed names must be str, got {sorted(map(repr, feeds))}")
        # TensorFlow refuses to fetch a tensor that is fed; TF1's Session.run
        # returns the fed value for it, and so does this.
        fed = {_tensor_key(k): v for k, v in feeds.items()}
        keys = [_tensor_key(n) for n in names]
        computed = [n for n, k in zip(names, keys) if k not in fed]
        values = iter(self._native.run(computed, feeds, target_list) if computed or target_list else [])
        out = [np.asarray(fed[k]) if k in fed else next(values) for k in keys]
        if shape == "one":
            return out[0]
        if shape == "none":
            return None
        if shape == "dict":
            return dict(zip(fetches.keys(), out))  # type: ignore[union-attr]
        return out

    def profile(self, inputs: Mapping[str, Any], signature: str | None = None, *, runs: int = 1) -> Any:
        """Runs a signature with TensorFlow's tracing on and summarises where the time went.

        Args:
            inputs: input key -> array, as for a signature call.
            signature: the signature's name; the default signature when None.
            runs: how many traced runs to aggregate.

        Returns:
            A ``tfbundle.Profile``: time per op type and per node (see its docs).
        """
        self._check_open()
        from .profile import profile_signature

        sig = self.signatures[signature] if signature is not None else self.default_signature
        return profile_signature(sig, inputs, runs=runs)

    def devices(self) -> list[Device]:
        """The devices of the model's session (CPU, GPUs)."""
        self._check_open()
        return [Device(*d) for d in self._native.devices()]

    def close(self) -> None:
        """Frees TensorFlow's session once the calls in flight finish. Idempotent.

        Calls that start after close() has begun raise ClosedError at once. In a process
        forked after TensorFlow started, raises FailedPreconditionError (the session is
        the parent's and is left alone).
        """
        self._native.close()

    @property
    def closed(self) -> bool:
        return bool(self._native.closed)

    def _check_open(self) -> None:
        if self._native.closed:
            raise ClosedError(f"the model loaded from {self.path} was closed; load it again to use it")

    def __reduce__(self) -> Any:
        """Pickles by reference: the path the model was loaded from (the version folder, for a TF
        Serving base folder), its tag-set and the options ``load`` was given. Unpickling calls
        :func:`tfbundle.load` with them, in the process where the pickle lands (a Ray actor, a Spark
        task, a ``spawn`` worker): each unpickling is a new load, with its own session. A closed
        model pickles too, and is loaded open. Models of ``load_graph``/``load_checkpoint_graph``
        refuse pickling (send their path instead).
        """
        if self._reference is None:
            raise InvalidTypeError(
                f"a {type(self).__name__} not made by tfbundle.load cannot be pickled: send its path "
                f"({self.path!r}) and load it again in the other process (a Ray actor, a Spark task, a "
                "multiprocessing worker started with the 'spawn' method)"
            )
        return _model_by_reference, (self._reference,)

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ", ".join(self.signatures) or "no signatures"
        return f"<tfbundle.Model {self.path!r} tags={sorted(self.tags)} [{state}]>"


class ModelReference(NamedTuple):
    """What a pickled :class:`Model` carries: how :func:`load` made it."""

    path: str
    tags: tuple[str, ...]
    options: tuple[tuple[str, Any], ...]  # load's keyword arguments, as given


def _model_by_reference(ref: ModelReference) -> Model:
    return load(ref.path, list(ref.tags), **dict(ref.options))


def _signature_by_reference(ref: ModelReference, name: str) -> Signature:
    # The signature keeps the session alive (its native handle holds it); the Model object goes.
    return _model_by_reference(ref).signatures[name]


def _names(values: Any, what: str) -> list[str]:
    """``values`` as a list of str: a str, or an iterable of str (else InvalidTypeError)."""
    if isinstance(values, str):
        return [values]
    try:
        names = list(values)
    except TypeError:
        raise InvalidTypeError(f"{what} must be a str or a list of str, got {type(values).__name__}") from None
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise InvalidTypeError(f"{what} must be str, got {bad[0]!r} ({type(bad[0]).__name__})")
    return names


def _tensor_key(name: str) -> str:
    """"x" and "x:0" name the same tensor."""
    return name if ":" in name else name + ":0"


# ------------------------------------------------------------------ asyncio ---

async def _off_loop(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in tfbundle's threads, awaited without blocking the event loop.

    Cancelling the awaiting task cancels a run not yet started; one already running
    finishes in its thread and its result (or error) is dropped, never logged.
    """
    from .offloop import submit

    return await submit(fn, *args)


# ------------------------------------------------------------------ loading ---

def _fmt_tag_set(tags: Iterable[str]) -> str:
    return '"' + ",".join(tags) + '"' if tags else '"" (the empty tag-set)'


def _choose_tags(export_dir: str, wanted: frozenset[str] | None) -> frozenset[str]:
    sets = [frozenset(s) for s in _core.saved_model_tag_sets(export_dir)]
    if wanted is None:
        if frozenset({"serve"}) in sets:
            return frozenset({"serve"})
        if len(set(sets)) == 1:
            return sets[0]
        listing = ", ".join(_fmt_tag_set(sorted(s)) for s in sets)
        raise InvalidArgumentError(
            f"{export_dir} has several tag-sets and none is 'serve': pass tags=... to load one of {listing}"
        )
    if wanted not in sets:
        listing = ", ".join(_fmt_tag_set(sorted(s)) for s in sets)
        raise NotFoundError(
            f"{export_dir} has no MetaGraph with the tag-set {_fmt_tag_set(sorted(wanted))}; it has {listing}"
        )
    return wanted


def session_options(
    intra_op_threads: int | None,
    inter_op_threads: int | None,
    gpu_memory_growth: bool | None,
    visible_devices: str | Sequence[int] | None,
) -> tuple[int, int, bool | None, str | None]:
    """Checks the session options of the loaders and puts them in the native form.

    ``inter_op_threads=None`` becomes -1: the ops of one call run in the
    calling thread (TensorFlow's ConfigProto semantics for a negative value),
    as ONNX Runtime's default sequential mode does. That halves the latency
    of small models (no hand-off to a pool thread and back); calls from
    several Python threads still run in parallel, and each op still uses the
    intra-op pool. ``0`` asks for TensorFlow's own default pool.
    """
    for name, value in (("intra_op_threads", intra_op_threads), ("inter_op_threads", inter_op_threads)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise InvalidArgumentError(f"{name} must be a non-negative int or None, got {value!r}")
    if visible_devices is not None and not isinstance(visible_devices, str):
        visible_devices = ",".join(str(int(d)) for d in visible_devices)
    inter = -1 if inter_op_threads is None else inter_op_threads
    return intra_op_threads or 0, inter, gpu_memory_growth, visible_devices


_UNREGISTERED_OP = re.compile(r"Op type not registered '([^']+)'")


def _explain_missing_op(e: NotFoundError) -> NotFoundError:
    """Adds what to do to TensorFlow's "Op type not registered" error."""
    m = _UNREGISTERED_OP.search(e.message)
    if not m:
        return e
    return NotFoundError(
        f"the graph uses the op type '{m.group(1)}', which this TensorFlow does not have: if it comes from a "
        f"custom-op library (TensorFlow Text, Addons, TensorRT, your own), call tfbundle.load_library(path_to_so) "
        f"before tfbundle.load. TensorFlow said: {e.message}"
    )


# load(restore=...) -> the core's restore mode, and back.
_RESTORE_MODES = {"auto": "auto", "tf": "tensorflow", "graph": "graph", "mmap": "mmap"}
_RESTORE_NAMES = {"tensorflow": "tf", "graph": "graph", "mmap": "mmap", "none": "none"}


def load(
    path: PathLike,
    tags: Tags = None,
    *,
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
    gpu_memory_growth: bool | None = None,
    visible_devices: str | Sequence[int] | None = None,
    warmup: bool = False,
    allowed_ops: Iterable[str] | str | None = None,
    restore: str = "auto",
    compile_cache: PathLike | bool | None = None,
    grappler: str = "fast",
) -> Model:
    """Loads a SavedModel through TensorFlow's C API.

    Args:
        path: a SavedModel folder, or a TF Serving base folder of numbered
            versions (the highest is loaded).
        tags: the MetaGraph's tag-set: ``"serve"``, ``"serve,gpu"``, a list
            of tags, or ``""``/``[]`` for the empty tag-set. By default
            ``serve`` where present, else the only tag-set.
        intra_op_threads: threads one op may use (None or 0: TensorFlow's
            default, all cores).
        inter_op_threads: None (default): the ops of a call run in the
            calling thread, like ONNX Runtime's sequential mode: the lowest
            latency, and calls from several threads still run in parallel.
            0: TensorFlow's default inter-op pool; n: a pool of n threads
            (for graphs with many independent branches).
        gpu_memory_growth: allocate GPU memory as needed instead of all at once.
        visible_devices: the GPUs this session may use, e.g. ``[0]`` or ``"0,1"``.
        warmup: replay ``assets.extra/tf_serving_warmup_requests`` (at most
            1000 records, as TF Serving does) before returning; the report is
            in ``model.warmup``.
        allowed_ops: refuse, before anything runs, a graph whose signatures,
            init op or restore path use ops that reach outside the model
            (file reads and writes, PyFunc, ...; see ``tfbundle scan``),
            except those named here; ``()`` allows none of them. None (the
            default) checks nothing.
        restore: how the variables are restored. ``"auto"`` (default):
            ``"mmap"`` where it fits the model, else ``"tf"``; the model's
            ``restore`` attribute says which ran and ``restore_fallback``
            why not ``"mmap"``. ``"mmap"``: tfbundle assigns the variables
            from the memory-mapped checkpoint: tensors at 64-byte-aligned
            offsets become variables without a copy (pages of the file,
            shared between processes that load the same model; checksums
            verified), the rest are read once; a variable the graph gathers
            from (an embedding) is copied, since TensorFlow would copy it at
            the first gather. TF1 graphs (graph-level RestoreV2) and TF2
            exports whose restore function only assigns variables;
            UnimplementedError for others (a restore function that fills
            lookup tables, a V1 checkpoint). A read lease on each shard keeps
            the mapping valid if the file is rewritten in place; ``"auto"``
            maps only shards it can lease (the process's own files), and
            falls back to ``"tf"`` if the mapped restore fails. What was
            mapped and what copied is in ``model.restore_stats``. ``"tf"``:
            TensorFlow's loader (TF_LoadSessionFromSavedModel) restores the
            variables, then tfbundle the variables only the object graph
            reaches. ``"graph"``: tfbundle imports the graph and runs its
            SaverDef's restore op itself.
        compile_cache: a folder for the persistent compile cache (made if
            missing, one level): the first load of a model stores there the
            pruned GraphDef it imports, keyed by the model's files,
            TensorFlow's version, the CPU's features and tfbundle's version;
            later loads use it. An entry that does not match (the model
            rewritten, another TensorFlow or CPU, a truncated or corrupt
            file) is ignored and rewritten; a folder that cannot be read or
            written never fails the load. The optimized graph of each call
            (a signature's first call, where TensorFlow optimizes the graph)
            is stored too, where the model allows it (a CPU, the default
            mapped restore of a TF2 export, no init op that does something,
            no stateful op in the call but variable reads): a later load runs
            those calls without optimizing them again (:attr:`Model.compiled_calls`).
            ``model.compile_cache`` says what
            happened: ``"hit"``, ``"miss: <why>"`` (``"; not written:
            <why>"`` appended when the entry could not be stored) or
            ``"unused: <why>"`` (``restore="tf"``: TensorFlow's loader
            imports the graph itself). None (default): the folder in
            ``$TFBUNDLE_COMPILE_CACHE`` when set, else no cache; False or
            ``""``: no cache.
        grappler: how TensorFlow's graph optimizer (grappler) runs when a
            signature's first call builds its executor. ``"fast"``
            (default): every optimizer once, without the MLIR hook and the
            GPU memory heuristics, which roughly halves a Keras model's
            load plus first call and changes no output;
            ``"tensorflow"``: TensorFlow's own defaults (each optimizer
            twice).

    Returns:
        The loaded :class:`Model`. The GIL is released while loading.

    Raises:
        NotFoundError: no SavedModel at ``path``, or no such tag-set (the
            message lists those present).
        TensorFlowNotFoundError: TensorFlow's C library is not installed.
        UnimplementedError: a chunked (``saved_model.cpb``-only) model.
        PermissionDeniedError: ``allowed_ops`` was given and the graph uses
            another op that reaches outside the model (the message names it).
        Error: TensorFlow's own error while loading, by status code.
    """
    if restore not in _RESTORE_MODES:
        raise InvalidArgumentError(f"restore must be one of {', '.join(map(repr, _RESTORE_MODES))}, got {restore!r}")
    export_dir = resolve_export_dir(path)
    chosen = _choose_tags(export_dir, tag_set(tags))
    if allowed_ops is not None and not isinstance(allowed_ops, str):
        allowed_ops = tuple(allowed_ops)  # an iterator is read once: the check and a pickle both see it
    if allowed_ops is not None:
        from .._readers.policy import check_saved_model

        check_saved_model(export_dir, sorted(chosen), allowed_ops)
    cache = (os.environ.get("TFBUNDLE_COMPILE_CACHE") or None) if compile_cache is None else compile_cache
    if cache is None or cache is False:
        cache_dir = ""
    elif isinstance(cache, (str, os.PathLike)):
        cache_dir = os.path.abspath(os.fspath(cache)) if os.fspath(cache) else ""
    else:
        raise InvalidArgumentError(f"compile_cache must be a folder, None or False, got {compile_cache!r}")
    _library.ensure_loaded()
    options = session_options(intra_op_threads, inter_op_threads, gpu_memory_growth, visible_devices)
    intra, inter, growth, visible = options
    try:
        native = _core.NativeModel.load(
            export_dir=export_dir,
            tags=sorted(chosen),
            restore=_RESTORE_MODES[restore],
            intra_op_threads=intra,
            inter_op_threads=inter,
            gpu_memory_growth=growth,
            visible_devices=visible,
            compile_cache=cache_dir,
            grappler=grappler,
        )
    except NotFoundError as e:
        raise _explain_missing_op(e) from None
    reference = ModelReference(
        export_dir,
        tuple(sorted(chosen)),
        (
            ("intra_op_threads", intra_op_threads),
            ("inter_op_threads", inter_op_threads),
            ("gpu_memory_growth", gpu_memory_growth),
            ("visible_devices", visible),
            ("warmup", warmup),
            ("allowed_ops", allowed_ops),
            ("restore", restore),
            ("compile_cache", compile_cache),
            ("grappler", grappler),
        ),
    )
    model = Model(native, export_dir, chosen, reference=reference)
    if warmup:
        from .warmup import replay_warmup

        try:
            model.warmup = replay_warmup(model)
        except BaseException:
            model.close()
            raise
    return model


# ---------------------------------------------------------- aligned arrays ---


def _alignment() -> int:
    return max(64, _core.tensor_alignment()) if _core.tensorflow_loaded() else 64


def empty(shape: int | Sequence[int], dtype: Any = np.float32) -> np.ndarray:
    """A new uninitialised array whose buffer TensorFlow can use without copying.

    TensorFlow copies every input buffer that is not aligned to its
    EIGEN_MAX_ALIGN_BYTES (64 bytes in the x86-64 wheels); numpy aligns to 16.
    Fill arrays made here and pass them as inputs in hot loops.
    """
    dtype = np.dtype(dtype)
    shape_t = (shape,) if isinstance(shape, int) else tuple(shape)
    count = int(np.prod(shape_t, dtype=np.int64))
    align = _alignment()
    raw = np.empty(count * dtype.itemsize + align, dtype=np.uint8)
    offset = (-raw.ctypes.data) % align
    return raw[offset : offset + count * dtype.itemsize].view(dtype).reshape(shape_t)


def zeros(shape: int | Sequence[int], dtype: Any = np.float32) -> np.ndarray:
    """Like :func:`empty`, filled with zeros."""
    out = empty(shape, dtype)
    out[...] = 0
    return out


def aligned(array: Any, dtype: Any = None) -> np.ndarray:
    """``array`` as a C-contiguous, aligned array TensorFlow can use without copying.

    Returns the array itself when it already is one, else an aligned copy.
    """
    a = np.asarray(array, dtype=dtype)
    if a.flags.c_contiguous and a.ctypes.data % _alignment() == 0:
        return a
    out = empty(a.shape, a.dtype)
    out[...] = a
    return out
