"""A copy of a SavedModel whose checkpoint has every tensor 64-byte aligned: ``align_saved_model``.

``tfbundle.load(path, restore="mmap")`` hands a variable to TensorFlow without a copy (its pages
stay page-cache pages shared by every process that loads the model) only when the variable's
bytes start at a file offset that is a multiple of 64: TensorFlow copies any buffer that is not
so aligned. TensorFlow's savers pack tensors with no padding, so after the first tensor whose
size is not a multiple of 64 bytes every later one is misaligned, and N processes hold N copies
of those weights. :func:`align_saved_model` copies a SavedModel with its checkpoint rewritten by
the C++ core: one data shard in which every tensor starts at a multiple of the alignment (zeros
in between), and an index saying where; the values, dtypes, shapes and checksums are those of
the source. TensorFlow reads the result as any other checkpoint.
"""

from __future__ import annotations

import operator
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .. import _core
from .._base.paths import MODEL_FILES_ANY_FORMAT, PathLike
from ..errors import AlreadyExistsError, InvalidArgumentError, InvalidTypeError, NotFoundError

__all__ = ["DEFAULT_ALIGNMENT", "align_saved_model", "checkpoint_prefix"]

#: TensorFlow's EIGEN_MAX_ALIGN_BYTES: the alignment below which TensorFlow copies a buffer.
DEFAULT_ALIGNMENT = 64
#: The largest alignment accepted (a 2 MiB huge page), as the C++ core's kMaxBundleAlignment.
MAX_ALIGNMENT = 1 << 21

_DATA_SHARD = re.compile(r"^variables\.data-\d{5}-of-\d{5}$")


def checkpoint_prefix(folder: PathLike) -> Path:
    """The checkpoint prefix of a SavedModel folder: ``folder/variables/variables``."""
    return Path(os.fspath(folder)) / "variables" / "variables"


def _check_alignment(alignment: object) -> int:
    try:
        if isinstance(alignment, bool):
            raise TypeError
        alignment = operator.index(alignment)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidTypeError(
            f"alignment must be an int, got {type(alignment).__name__}"
        ) from None
    if alignment < 1 or alignment & (alignment - 1) or alignment > MAX_ALIGNMENT:
        raise InvalidArgumentError(
            f"alignment must be a power of two from 1 to {MAX_ALIGNMENT}, got {alignment}"
        )
    return alignment


def _check_source(src: PathLike) -> Path:
    folder = Path(os.fspath(src)).expanduser()
    if not folder.exists():
        raise NotFoundError(f"{folder} does not exist")
    if not folder.is_dir():
        raise NotFoundError(
            f"{folder} is not a folder: give the SavedModel folder (it holds saved_model.pb)"
        )
    if not any((folder / name).exists() for name in MODEL_FILES_ANY_FORMAT):
        raise NotFoundError(
            f"{folder} is not a SavedModel folder: it has no saved_model.pb or saved_model.pbtxt "
            "(for a TF Serving base folder, give the version folder, e.g. model/1)"
        )
    return folder


def _check_destination(source: Path, dst: PathLike) -> Path:
    target = Path(os.fspath(dst)).expanduser()
    real_source, real_target = Path(os.path.realpath(source)), Path(os.path.realpath(target))
    if real_target == real_source:
        raise InvalidArgumentError(
            f"the destination {target} is the source SavedModel: give a new folder"
        )
    if real_source in real_target.parents:
        raise InvalidArgumentError(
            f"the destination {target} is inside the source SavedModel {source}: give a folder outside it"
        )
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise AlreadyExistsError(
            f"the destination {target} exists and is not a folder: give a new folder"
        )
    if target.is_dir() and any(target.iterdir()):
        raise AlreadyExistsError(
            f"the destination {target} exists and is not empty: give a new or empty folder"
        )
    return target


def align_saved_model(src: PathLike, dst: PathLike, *, alignment: int = DEFAULT_ALIGNMENT) -> None:
    """Copies the SavedModel ``src`` to ``dst`` with every checkpoint tensor ``alignment``-aligned.

    Everything in the folder is copied as it is (``saved_model.pb``, ``fingerprint.pb``,
    ``assets/``, ``assets.extra/``, any other file, with its mode), except the checkpoint
    ``variables/variables.index`` and ``variables/variables.data-*``, which are rewritten as one
    data shard in which every tensor starts at a multiple of ``alignment`` bytes. The tensors,
    their dtypes, shapes and checksums are unchanged, and TensorFlow restores the copy as it does
    the original; ``tfbundle.load(dst, restore="mmap")`` then maps every numeric variable
    without a copy (``restore_stats.zero_copy_tensors``), where the original's misaligned ones
    are copied into each process. A SavedModel without a checkpoint is just copied. The
    checkpoint is checked as it is read (bounds, sizes, CRC-32C): a corrupt one is refused.

    The copy is made in a hidden folder beside ``dst`` and renamed to ``dst`` when complete, so
    a model server watching the parent folder never sees a partial model. ``fingerprint.pb`` is
    copied unchanged: its ``checkpoint_hash`` (a hash of the index file) describes the source's
    index.

    Args:
        src: the SavedModel folder (holding ``saved_model.pb`` or ``.pbtxt``).
        dst: the new folder; it must not exist or be empty. Missing parent folders are made.
        alignment: a power of two from 1 to 2 MiB (default 64, TensorFlow's
            EIGEN_MAX_ALIGN_BYTES).

    Raises:
        NotFoundError: ``src`` is not a SavedModel folder.
        AlreadyExistsError: ``dst`` exists and is not an empty folder.
        InvalidArgumentError: ``dst`` is ``src`` or inside it; ``alignment`` is not a power of
            two in range.
        InvalidTypeError: ``alignment`` is not an int.
        DataLossError: the source checkpoint is corrupt (nothing is left at ``dst``).
        OSError: a file cannot be copied (nothing is left at ``dst``).

    Example:
        >>> tfbundle.align_saved_model("models/resnet/1", "models/resnet/2")
        >>> with tfbundle.load("models/resnet/2", restore="mmap") as model:
        ...     stats = model.restore_stats   # stats.zero_copy_tensors: the variables mapped
    """
    alignment = _check_alignment(alignment)
    source = _check_source(src)
    target = _check_destination(source, dst)
    variables = source / "variables"
    has_checkpoint = (variables / "variables.index").is_file()

    def skip_checkpoint(folder: str, names: Iterable[str]) -> list[str]:
        if not has_checkpoint or Path(folder) != variables:
            return []
        return [n for n in names if n == "variables.index" or _DATA_SHARD.match(n)]

    parent = target.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    try:
        shutil.copytree(source, work, ignore=skip_checkpoint, dirs_exist_ok=True)
        if has_checkpoint:
            _core.write_aligned_bundle(
                str(checkpoint_prefix(source)), str(checkpoint_prefix(work)), alignment
            )
        try:
            os.replace(work, target)  # an empty folder at `target` is replaced too
        except OSError as e:
            if target.exists():
                raise AlreadyExistsError(
                    f"the destination {target} was created while the copy was made: nothing written"
                ) from e
            raise
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
