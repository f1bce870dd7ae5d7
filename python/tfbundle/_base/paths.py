"""Paths the user gives: SavedModel folders, their model files, TF Serving version folders."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Union

from ..errors import NotFoundError

__all__ = ["MODEL_FILES", "PathLike", "has_model_file", "resolve_export_dir", "version_folders"]

PathLike = Union[str, "os.PathLike[str]"]

#: The files that make a folder a SavedModel (binary, then text format).
MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")

_VERSION_DIR = re.compile(r"^\d+$")


def has_model_file(folder: Path) -> bool:
    """Whether ``folder`` holds ``saved_model.pb`` or ``saved_model.pbtxt``."""
    return any((folder / f).is_file() for f in MODEL_FILES)


def version_folders(base: PathLike, holds: Callable[[Path], bool] | None = None) -> list[tuple[int, Path]]:
    """The numbered version folders of a TF Serving base folder, ascending by number.

    Args:
        base: the base folder (``model/`` holding ``1/``, ``2/``, ...).
        holds: keeps only the folders for which it is true (all when None).

    A base folder that cannot be listed has no versions.
    """
    try:
        children = list(Path(os.fspath(base)).iterdir())
    except OSError:
        return []
    found = [
        (int(c.name), c)
        for c in children
        if _VERSION_DIR.match(c.name) and c.is_dir() and (holds is None or holds(c))
    ]
    return sorted(found, key=lambda v: v[0])


def resolve_export_dir(path: PathLike) -> str:
    """The SavedModel folder for ``path``.

    ``path`` may be a SavedModel folder, its ``saved_model.pb``/``.pbtxt``
    file, or a TF Serving base folder of numbered versions (the highest
    number that holds a SavedModel is chosen).

    Raises:
        NotFoundError: no SavedModel there.
    """
    p = Path(os.fspath(path)).expanduser()
    if p.is_file() and p.name in MODEL_FILES:
        p = p.parent
    if not p.exists():
        raise NotFoundError(f"{p} does not exist")
    if not p.is_dir():
        raise NotFoundError(f"{p} is a file, not a SavedModel folder (it should hold saved_model.pb)")
    p = p.absolute()
    if any((p / f).is_file() for f in MODEL_FILES + ("saved_model.cpb",)):
        return str(p)
    versions = version_folders(p, has_model_file)
    if versions:
        return str(versions[-1][1])
    raise NotFoundError(
        f"no saved_model.pb or saved_model.pbtxt in {p}, nor in a numbered version folder under it "
        "(TF Serving layout: model/1/saved_model.pb)"
    )
