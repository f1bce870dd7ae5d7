"""Paths the user gives: SavedModel folders, their model files, TF Serving version folders."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

from .._proto.parsing import parse_text
from ..errors import DataLossError, NotFoundError

__all__ = [
    "MODEL_FILES",
    "MODEL_FILES_ANY_FORMAT",
    "CheckpointState",
    "PathLike",
    "has_model_file",
    "read_checkpoint_state",
    "resolve_export_dir",
    "version_folders",
]

PathLike = Union[str, "os.PathLike[str]"]

#: The files that make a folder a SavedModel (binary, then text format).
MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
#: The same, and the chunked format TensorFlow's C API cannot load (refused with a clear error).
MODEL_FILES_ANY_FORMAT = (*MODEL_FILES, "saved_model.cpb")

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
        with os.scandir(os.fspath(base)) as entries:  # is_dir() from the listing: no stat per entry
            numbered = [e for e in entries if _VERSION_DIR.match(e.name) and e.is_dir()]
    except OSError:
        return []
    found = [(int(e.name), Path(e.path)) for e in numbered]
    return sorted((v for v in found if holds is None or holds(v[1])), key=lambda v: v[0])


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
    # exists(), not is_file(): a FIFO in place of saved_model.pb still makes this the model folder,
    # whose reader then refuses it (it would block TensorFlow's loader forever).
    if any((p / f).exists() for f in MODEL_FILES_ANY_FORMAT):
        return str(p)
    versions = version_folders(p, has_model_file)
    if versions:
        return str(versions[-1][1])
    raise NotFoundError(
        f"no saved_model.pb or saved_model.pbtxt in {p}, nor in a numbered version folder under it "
        "(TF Serving layout: model/1/saved_model.pb)"
    )


@dataclass(frozen=True)
class CheckpointState:
    """What a training folder's ``checkpoint`` file says (TensorFlow's CheckpointState).

    Attributes:
        file: the ``checkpoint`` file.
        newest: ``model_checkpoint_path``, as written (relative to the folder, or absolute).
        all: ``all_model_checkpoint_paths``, oldest first, as written.
    """

    file: Path
    newest: str
    all: tuple[str, ...]

    def locate(self, recorded: str, exists: Callable[[str], bool]) -> tuple[str, str]:
        """Where a prefix the file names is: (the path to use, the path as written).

        A relative prefix is relative to the folder. One that is not there under the path
        as written (checkpoints moved after saving keep the absolute paths of where they
        were written) is looked for beside the state file; the path as written is used
        when neither exists, so that errors can name it.
        """
        written = str(self.file.parent / recorded)  # an absolute `recorded` stays as it is
        if exists(written):
            return written, written
        beside = str(self.file.parent / Path(recorded).name)
        return (beside if exists(beside) else written), written


def read_checkpoint_state(folder: PathLike) -> CheckpointState | None:
    """Reads ``folder/checkpoint``, the text-format CheckpointState TensorFlow's savers write.

    Returns:
        The state, or None when the folder has no ``checkpoint`` file.

    Raises:
        DataLossError: the file is not a text-format CheckpointState, or names no
            ``model_checkpoint_path``.
    """
    state_file = Path(os.fspath(folder)) / "checkpoint"
    if not state_file.is_file():
        return None
    try:
        text = state_file.read_text("utf-8")
    except UnicodeDecodeError:
        raise DataLossError(f"{state_file} is not a text CheckpointState file (it is not UTF-8 text)") from None
    except OSError as e:
        raise DataLossError(f"{state_file} cannot be read: {e.strerror}") from None
    state = parse_text("CheckpointState", text, str(state_file))
    if not state.model_checkpoint_path:
        raise DataLossError(f"{state_file} names no model_checkpoint_path")
    return CheckpointState(state_file, state.model_checkpoint_path, tuple(state.all_model_checkpoint_paths))
