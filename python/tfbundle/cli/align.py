"""``tfbundle align SRC DST``: copy a SavedModel with every checkpoint tensor 64-byte aligned.

``tfbundle.load(path, restore="mmap")`` shares a variable's pages between processes (no copy)
only when its bytes start at a multiple of 64 in the data shard; TensorFlow's savers pack
tensors without padding, so most are not. This command writes a copy of the SavedModel whose
checkpoint has every tensor aligned (see :func:`tfbundle.align_saved_model`) and prints how many
tensors were aligned before and are now. The ``tfbundle`` command adds this sub-command with
:func:`add_parser`; it also runs on its own as ``python -m tfbundle.cli.align``::

    tfbundle align models/resnet/1 models/resnet/2
    tfbundle align models/resnet/1 /srv/models/resnet/1 --alignment 4096

Exit status: 0 on success, 2 on an error (printed on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .. import _core
from .._readers.align import DEFAULT_ALIGNMENT, align_saved_model, checkpoint_prefix
from ..errors import Error
from .vars import _human

__all__ = ["add_parser", "configure_parser", "main", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``align`` sub-command to an ``argparse`` sub-parsers object.

    The parser's default ``func`` is :func:`run`, which takes the parsed
    arguments and returns the exit status.
    """
    parser = subparsers.add_parser(
        "align",
        help='copy a SavedModel with every checkpoint tensor 64-byte aligned (for restore="mmap")',
        description=(
            "Copies the SavedModel folder SRC to DST (a new or empty folder), rewriting its checkpoint "
            "so that every tensor starts at a multiple of --alignment bytes in one data shard. "
            'tfbundle.load(DST, restore="mmap") then maps every numeric variable without a copy, '
            "shared by all processes that load the model; TensorFlow restores DST as it does SRC."
        ),
    )
    configure_parser(parser)
    return parser


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Adds the ``align`` arguments to ``parser`` and sets ``func`` to :func:`run`."""
    parser.add_argument("src", help="the SavedModel folder to copy")
    parser.add_argument("dst", help="the new folder (must not exist, or be empty)")
    parser.add_argument(
        "--alignment",
        type=int,
        default=DEFAULT_ALIGNMENT,
        metavar="N",
        help=f"align every tensor to N bytes, a power of two (default {DEFAULT_ALIGNMENT})",
    )
    parser.set_defaults(func=run)


def _layout(prefix: Path, alignment: int) -> tuple[int, int, int, int]:
    """(tensors holding bytes, of those aligned, their bytes, bytes of the aligned ones)."""
    reader = _core.BundleReader(str(prefix))
    tensors = aligned = nbytes = aligned_bytes = 0
    for key in reader.keys(include_slices=True):
        entry = reader.entry(key)
        if entry.size == 0:
            continue
        tensors += 1
        nbytes += entry.size
        if entry.offset % alignment == 0:
            aligned += 1
            aligned_bytes += entry.size
    return tensors, aligned, nbytes, aligned_bytes


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Runs ``tfbundle align`` with parsed arguments; returns the exit status.

    Raises:
        tfbundle.errors.Error: the model cannot be read or the copy made
            (:func:`main` prints it and returns 2).
    """
    out = out or sys.stdout
    src, dst, alignment = Path(args.src), Path(args.dst), args.alignment
    align_saved_model(src, dst, alignment=alignment)
    if not (checkpoint_prefix(dst).parent / "variables.index").is_file():
        out.write(
            f"{src} has no checkpoint (variables/variables.index): copied as it is to {dst}\n"
        )
        return 0
    before = _layout(checkpoint_prefix(src), alignment)
    after = _layout(checkpoint_prefix(dst), alignment)
    tensors, total = after[0], after[2]
    out.write(f"copied {src} to {dst}: {tensors} tensors, {_human(total)} in one data shard\n")
    for label, (_, aligned, _, aligned_bytes) in (("before:", before), ("after:", after)):
        out.write(
            f"  {label:<7} {aligned} of {tensors} tensors ({_human(aligned_bytes)} of {_human(total)}) "
            f"start at a multiple of {alignment} bytes\n"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m tfbundle.cli.align``."""
    parser = argparse.ArgumentParser(prog="tfbundle align")
    configure_parser(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except Error as e:
        sys.stderr.write(f"tfbundle align: error: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
