"""Files in the filesystems pyarrow knows: URIs (``s3://``, ``gs://``, ``hdfs://``, ``file://``)
and the listing of folders and glob patterns in them.

Local paths stay with ``os`` and ``glob``; this module is for inputs that live elsewhere. pyarrow
makes a URI's filesystem from the URI itself (credentials and region from the environment or the
URI's query, as ``pyarrow.fs.FileSystem.from_uri`` takes them).
"""

from __future__ import annotations

import fnmatch
import glob
from collections.abc import Callable
from typing import Any

from ..errors import InvalidArgumentError, NotFoundError

__all__ = ["from_uri", "is_uri", "list_files"]


def is_uri(text: str) -> bool:
    """Whether ``text`` is a URI (``scheme://...``) rather than a local path."""
    head, sep, _ = text.partition("://")
    return bool(sep) and head.isidentifier()


def from_uri(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path in it) of a URI.

    Raises:
        InvalidArgumentError: pyarrow has no filesystem for the URI's scheme (or pyarrow is not
            installed).
    """
    try:
        import pyarrow as pa
        import pyarrow.fs as pafs
    except ImportError:
        raise InvalidArgumentError(f"{uri}: reading URIs needs pyarrow (pip install 'tfbundle[score]')") from None
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as e:
        raise InvalidArgumentError(f"{uri}: pyarrow has no filesystem for it ({e})") from None
    return fs, path


def _hidden(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.split("/") if part)


def list_files(
    filesystem: Any,
    path: str,
    *,
    recursive: bool,
    keep: Callable[[str], bool] = lambda name: True,
) -> list[tuple[str, int]]:
    """(file, size) of ``path`` in ``filesystem``, sorted: the file itself; a folder's files
    (recursively or not; names starting with ``.`` or ``_`` left out, and those ``keep(name)``
    refuses); or a glob pattern's files (``*``, ``?``, ``[...]``, one level per path component).
    A folder or pattern with no such file gives ``[]``.

    Raises:
        NotFoundError: ``path`` is neither a file, a folder nor a pattern.
    """
    import pyarrow.fs as pafs

    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [(info.path, info.size or 0)]
    if info.type == pafs.FileType.Directory:
        base = info.path.rstrip("/")
        found = filesystem.get_file_info(pafs.FileSelector(base, recursive=recursive))
        return sorted(
            (f.path, f.size or 0)
            for f in found
            if f.type == pafs.FileType.File
            and not _hidden(f.path[len(base) :])
            and keep(f.path.rsplit("/", 1)[-1])
        )
    if not glob.has_magic(path):
        raise NotFoundError(f"{path} does not exist")
    parts = path.split("/")
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base = "/".join(parts[:fixed]) or "/"
    if filesystem.get_file_info(base).type != pafs.FileType.Directory:
        return []
    return sorted(
        (f.path, f.size or 0)
        for f in filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
        if f.type == pafs.FileType.File
        and len(f.path.split("/")) == len(parts)
        and all(fnmatch.fnmatchcase(a, b) for a, b in zip(f.path.split("/"), parts))
    )
