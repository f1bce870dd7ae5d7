"""What the sub-commands share: colour on terminals, warnings, the model folder argument."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TextIO

from ..errors import InvalidArgumentError

# ------------------------------------------------------------------ colour ---


def use_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def paint(text: str, code: str, stream: TextIO) -> str:
    return f"\033[{code}m{text}\033[0m" if use_colour(stream) else text



def warn(message: str) -> None:
    """Prints ``warning: message`` on stderr (the prefix coloured on a terminal)."""
    sys.stderr.write(paint("warning: ", "33", sys.stderr) + message + "\n")


def model_dir(args: argparse.Namespace) -> str:
    path = args.dir or args.path
    if not path:
        raise InvalidArgumentError(
            "give the SavedModel folder with --dir DIR (or as the first argument)"
        )
    return path


def add_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", help="the SavedModel folder (same as --dir)")
    p.add_argument(
        "--dir",
        help="the SavedModel folder (or a TF Serving base folder: the highest version is used)",
    )
    p.add_argument("--debug", action="store_true", help="print the traceback of an error")
