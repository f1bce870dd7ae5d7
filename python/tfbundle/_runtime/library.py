"""Finding and opening TensorFlow's C library, without importing TensorFlow.

Two sources, in this order:

1. ``TFBUNDLE_LIBTENSORFLOW``: a standalone libtensorflow (``libtensorflow.so.2``)
   or a folder holding it, or a folder holding the wheel's two libraries.
2. The installed ``tensorflow`` / ``tensorflow-cpu`` wheel, located with
   ``importlib.util.find_spec`` (which reads no TensorFlow code): it carries
   ``libtensorflow_framework.so.2`` and ``libtensorflow_cc.so.2``.

It is opened at the first load, or, with ``TFBUNDLE_PRELOAD=1``, in a daemon thread that
``import tfbundle`` starts (:func:`start_preload`); the first load then waits for that thread.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import sys
import threading
from pathlib import Path

from .. import _core
from ..errors import NotFoundError, TensorFlowNotFoundError

__all__ = ["ensure_loaded", "find_libraries", "tensorflow_version", "load_library", "start_preload"]

ENV_VAR = "TFBUNDLE_LIBTENSORFLOW"
PRELOAD_ENV_VAR = "TFBUNDLE_PRELOAD"

if sys.platform == "darwin":
    _FRAMEWORK, _CC, _STANDALONE = (
        "libtensorflow_framework.2.dylib",
        "libtensorflow_cc.2.dylib",
        "libtensorflow.2.dylib",
    )
else:
    _FRAMEWORK, _CC, _STANDALONE = (
        "libtensorflow_framework.so.2",
        "libtensorflow_cc.so.2",
        "libtensorflow.so.2",
    )

_HOW_TO_INSTALL = (
    "install TensorFlow's C library: `pip install 'tfbundle[cpu]'` (or `pip install tensorflow-cpu`, "
    "or `tensorflow[and-cuda]` for GPUs), or point the environment variable "
    f"{ENV_VAR} at a standalone libtensorflow ({_STANDALONE})"
)

_lock = threading.Lock()
_version: str | None = None
_preload_thread: threading.Thread | None = None


def _libraries_in(folder: Path) -> list[str] | None:
    """The libraries to open from one folder, framework first, or None."""
    framework, cc, standalone = folder / _FRAMEWORK, folder / _CC, folder / _STANDALONE
    if cc.is_file() and framework.is_file():
        return [str(framework), str(cc)]
    if standalone.is_file():
        return ([str(framework)] if framework.is_file() else []) + [str(standalone)]
    return None


def find_libraries() -> list[str]:
    """Returns the TensorFlow libraries tfbundle would open, in load order.

    Raises:
        TensorFlowNotFoundError: no TensorFlow C library was found; the message
            names the places searched and how to install one.
    """
    searched = []
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if path.is_file():
            sibling = path.parent / _FRAMEWORK
            return ([str(sibling)] if sibling.is_file() and sibling != path else []) + [str(path)]
        if path.is_dir():
            libs = _libraries_in(path)
            if libs:
                return libs
        raise TensorFlowNotFoundError(
            f"{ENV_VAR}={env} is neither {_STANDALONE} nor a folder holding it "
            f"(or {_CC} and {_FRAMEWORK}); fix the variable or unset it to use the tensorflow wheel"
        )
    for package in ("tensorflow",):
        spec = importlib.util.find_spec(package)
        locations = list(spec.submodule_search_locations or []) if spec else []
        for location in locations:
            libs = _libraries_in(Path(location))
            if libs:
                return libs
            searched.append(location)
    where = f" (looked in {', '.join(searched)})" if searched else ""
    raise TensorFlowNotFoundError(f"TensorFlow's C library was not found{where}: {_HOW_TO_INSTALL}")


def ensure_loaded() -> str:
    """Opens TensorFlow's C library once per process; returns TensorFlow's version.

    TensorFlow's start-up logging is silenced (what its libraries print while
    they are opened is discarded, and TensorFlow logs errors only) unless the user
    set TF_CPP_MIN_LOG_LEVEL. ``os.environ`` is left as the user had it.
    """
    global _version
    if _version is not None:
        return _version
    with _lock:
        if _version is None:
            libs = find_libraries()
            quiet = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
            # TensorFlow reads TF_CPP_MIN_LOG_LEVEL once, while its libraries open, and keeps
            # it; it is set only for that moment, so processes this one starts (workers of
            # multiprocessing, subprocesses) inherit the user's environment, not ours.
            if quiet:
                os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
            try:
                version = _core.init_tensorflow(libs, quiet)
            except FileNotFoundError as e:  # NotFoundError from dlopen
                raise TensorFlowNotFoundError(f"{e}: {_HOW_TO_INSTALL}") from None
            finally:
                if quiet:
                    os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
            # Sessions still open when TensorFlow's static destructors run
            # can crash the process at exit: close them first.
            atexit.register(_core.close_all_sessions)
            _version = version
    return _version


def _preload() -> None:
    # An error is left to the first load, which opens the library again and raises it itself.
    with contextlib.suppress(Exception):
        ensure_loaded()


def start_preload() -> bool:
    """Starts opening TensorFlow's C library in a daemon thread; returns whether it started one.

    Called by ``import tfbundle`` when the environment variable ``TFBUNDLE_PRELOAD`` is
    ``1`` (or ``true``/``yes``/``on``): the library opens (in C, without the GIL) while the
    process goes on with pure-Python work, and :func:`ensure_loaded` (the first load) waits
    for it. Nothing is started otherwise, nor when the library is open already or a preload
    ran. An error is not reported by the thread: the first load meets it again and raises it.

    Opt-in because a process that loads no model (inspection, most ``tfbundle`` commands)
    would pay the opening (a few tenths of a second of CPU, TensorFlow's libraries mapped, and
    its exit waits for the opening to end), and because the dynamic loader's lock, held while
    the library opens, makes every other ``dlopen`` (an import of an extension module) wait.
    """
    global _preload_thread
    if _version is not None or _preload_thread is not None:
        return False
    if os.environ.get(PRELOAD_ENV_VAR, "").strip().lower() not in ("1", "true", "yes", "on"):
        return False
    _preload_thread = threading.Thread(target=_preload, name="tfbundle-preload", daemon=True)
    _preload_thread.start()
    # exit() must not run while the thread is inside dlopen: it would destroy the static objects
    # of the library opened first while the second's constructors use them (a hang or a crash).
    # Python's atexit callbacks run before the C library's exit handlers: wait there.
    atexit.register(_preload_thread.join)
    return True


# A fork() while a thread (the preload's, or one of the user's) is opening the library would
# leave the child with a half-initialised TensorFlow and this lock (and the core's) held for
# ever: os.fork() waits for the opening to finish, and the child finds the library open.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_lock.acquire, after_in_parent=_lock.release, after_in_child=_lock.release)


def tensorflow_version() -> str | None:
    """TensorFlow's version if its library is loaded, else None (loads nothing)."""
    return _version


def load_library(path: str | os.PathLike[str]) -> list[str]:
    """Loads a custom-op library (a ``.so`` built against TensorFlow) before loading models that use it.

    Args:
        path: the shared library's path.

    Returns:
        The names of the ops it registers.

    Raises:
        NotFoundError: the file does not exist or TensorFlow could not open it.
    """
    ensure_loaded()
    p = Path(os.fspath(path)).expanduser()
    if not p.is_file():
        raise NotFoundError(f"{p} does not exist: pass the path of a custom-op shared library")
    return list(_core.load_library(str(p.absolute())))
