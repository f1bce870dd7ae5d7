"""Files in the filesystems pyarrow knows: URIs (``s3://``, ``gs://``, ``hdfs://``, ``file://``)
and the listing of folders and glob patterns in them.

Local paths stay with ``os`` and ``glob``; this module is for inputs that live elsewhere. pyarrow
makes a URI's filesystem from the URI itself (credentials and region from the environment or the
URI's query, as ``pyarrow.fs.FileSystem.from_uri`` takes them).
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from ..errors import InvalidArgumentError, NotFoundError

__all__ = [
    "exists",
    "file_name",
    "folder_of",
    "from_uri",
    "is_dir",
    "is_uri",
    "join",
    "list_files",
    "local_temporary",
    "make_dirs",
    "open_input_file",
    "publish",
    "remove",
    "staged_name",
    "strip_query",
    "uri_of",
]


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


# --- paths that may be URIs: the few file operations batch scoring's outputs need ---


def _split(path: str) -> tuple[Any, str]:
    return from_uri(path) if is_uri(path) else (None, path)


def _query(uri: str) -> tuple[str, str]:
    """(the URI without its query, ``?query`` or "")."""
    head, sep, query = uri.partition("?")
    return head, sep + query


def strip_query(path: str) -> str:
    """A URI without its query (``?region=...``); a local path as it is."""
    return _query(path)[0] if is_uri(path) else path


def file_name(path: str) -> str:
    """The file's name: a path's last component, a URI's without its query."""
    return os.path.basename(strip_query(path))


def join(folder: str, name: str) -> str:
    """``folder/name``, for a local path or a URI (whose query stays at the end)."""
    if not is_uri(folder):
        return os.path.join(folder, name)
    head, query = _query(folder)
    return head.rstrip("/") + "/" + name + query


def folder_of(path: str) -> str:
    """The folder of a local path or a URI (whose query stays at the end)."""
    if not is_uri(path):
        return os.path.dirname(path)
    head, query = _query(path)
    return head.rsplit("/", 1)[0] + query


def uri_of(uri: str, path: str) -> str:
    """The URI of ``path``, a path in the filesystem of ``uri`` (one of its listed files): the
    same scheme, authority and query; the path percent-encoded as URIs want it."""
    from urllib.parse import quote, urlsplit

    parts = urlsplit(uri)
    query = "?" + parts.query if parts.query else ""
    # S3 and GCS paths start with the bucket, which is the URI's authority; HDFS paths do not
    # hold theirs (host:port); local paths have none.
    authority = "" if not parts.netloc or path.startswith(parts.netloc) else parts.netloc
    return f"{parts.scheme}://{authority}{quote(path, safe='/:@=+,')}{query}"


def staged_name(path: str) -> str:
    """The temporary name a file is written under beside ``path`` before it is renamed to it."""
    d, n = os.path.split(path)
    return os.path.join(d, f".{n}.tmp-{os.getpid()}")


def exists(path: str) -> bool:
    fs, inner = _split(path)
    if fs is None:
        return os.path.exists(path)
    import pyarrow.fs as pafs

    return bool(fs.get_file_info(inner).type != pafs.FileType.NotFound)


def is_dir(path: str) -> bool:
    fs, inner = _split(path)
    if fs is None:
        return os.path.isdir(path)
    import pyarrow.fs as pafs

    return bool(fs.get_file_info(inner).type == pafs.FileType.Directory)


def make_dirs(path: str) -> None:
    fs, inner = _split(path)
    if fs is None:
        os.makedirs(path, exist_ok=True)
    else:
        fs.create_dir(inner, recursive=True)


def remove(path: str) -> None:
    """Deletes a file if it is there."""
    fs, inner = _split(path)
    if fs is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(inner)


def local_temporary(path: str) -> str:
    """Where to write ``path``'s content before :func:`publish`: beside it for a local path (the
    rename is then atomic), in the local temporary folder for a URI."""
    if not is_uri(path):
        return staged_name(path)
    fd, tmp = tempfile.mkstemp(prefix="tfbundle-", suffix="-" + file_name(path))
    os.close(fd)
    return tmp


# Object stores whose upload makes the object appear only when it completes (S3's multipart and
# GCS's resumable uploads): a killed upload leaves nothing under the name, so the upload goes to
# the name itself. Their "move" would be a second, server-side copy of the whole file.
_WHOLE_ON_COMPLETION = frozenset({"s3", "gcs"})


def publish(tmp: str, path: str) -> None:
    """Puts the finished local file ``tmp`` at ``path``, so that a file under the name is always
    whole: a rename for a local path; for an S3 or GCS URI, an upload to the name (the object
    appears when the upload completes); for other filesystems (HDFS, file://), an upload under a
    temporary name beside it (``.NAME.tmp-PID``), then a move to its name."""
    fs, inner = _split(path)
    if fs is None:
        os.replace(tmp, path)
        return
    staged = inner if fs.type_name in _WHOLE_ON_COMPLETION else staged_name(inner)
    with open(tmp, "rb") as src, fs.open_output_stream(staged) as dst:
        shutil.copyfileobj(src, dst, 8 << 20)
    if staged != inner:
        fs.move(staged, inner)
    os.unlink(tmp)


def open_input_file(path: str) -> Any:
    """A local path as it is, or a URI's file opened for random access (pyarrow's readers take
    either)."""
    fs, inner = _split(path)
    return path if fs is None else fs.open_input_file(inner)
