"""``tfbundle vars DIR``: list, dump, verify and export a checkpoint's variables.

The ``tfbundle`` command adds this sub-command with :func:`add_parser`; it also
runs on its own as ``python -m tfbundle.cli.vars DIR``::

    tfbundle vars models/resnet                       # name, dtype, shape, size
    tfbundle vars ckpt/ --dump dense/kernel           # print values
    tfbundle vars ckpt/ --verify                      # check every CRC-32C
    tfbundle vars ckpt/ --export weights.safetensors  # or weights.npz

Exit status: 0 on success, 1 when ``--verify`` finds a corrupt tensor, 2 when
the checkpoint cannot be read (with the error on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np

from .._readers.checkpoint import OBJECT_GRAPH_KEY, CheckpointReader, open_checkpoint
from ..errors import Error, FailedPreconditionError, InvalidArgumentError

__all__ = ["add_parser", "main", "run"]

#: Dtype names the safetensors format can store (its documented list).
_SAFETENSORS_DTYPES = frozenset(
    [
        "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
        "float16", "float32", "float64", "bfloat16", "complex64",
        "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
    ]
)  # fmt: skip


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``vars`` sub-command to an ``argparse`` sub-parsers object.

    The parser's default ``func`` is :func:`run`, which takes the parsed
    arguments and returns the exit status.
    """
    parser = subparsers.add_parser(
        "vars",
        help="list, dump, verify or export the variables of a checkpoint or SavedModel",
        description=(
            "Reads a TensorFlow checkpoint without TensorFlow: a SavedModel folder, its "
            "variables/ folder, a training checkpoint folder (newest checkpoint) or a "
            "checkpoint prefix. Lists every variable's name, dtype, shape and size."
        ),
    )
    configure_parser(parser)
    return parser


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Adds the ``vars`` arguments to ``parser`` and sets ``func`` to :func:`run`."""
    parser.add_argument("path", help="SavedModel folder, checkpoint folder, prefix or .index file")
    parser.add_argument(
        "--dump", metavar="NAME", action="append", default=[],
        help="print the values of variable NAME (a key or a friendly name); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--verify", action="store_true",
        help="check the CRC-32C, bounds and size of every variable (reads all data)",
    )  # fmt: skip
    parser.add_argument(
        "--export", metavar="OUT",
        help="write every variable to OUT.npz or OUT.safetensors (needs the safetensors package)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="list the variables as JSON")
    parser.add_argument(
        "--full", action="store_true", help="with --dump: print every value, not a summary"
    )
    parser.set_defaults(func=run)


def _human(nbytes: int) -> str:
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{nbytes} B"  # pragma: no cover


def _dtype_label(spec: Any) -> str:
    return spec.dtype.name if spec.dtype is not None and spec.dtype != object else spec.tf_dtype


def _friendly(reader: CheckpointReader, key: str) -> str | None:
    name = reader.friendly_name(key)
    return None if name == key else name


def _list(reader: CheckpointReader, out: TextIO, as_json: bool) -> None:
    specs = reader.specs()
    if as_json:
        rows = [
            {
                "name": s.name,
                "dtype": _dtype_label(s),
                "tf_dtype": s.tf_dtype,
                "shape": list(s.shape),
                "nbytes": s.nbytes,
                "shard": s.shard,
                "partitioned": s.partitioned,
                "friendly_name": _friendly(reader, s.name),
            }
            for s in specs.values()
        ]
        json.dump({"checkpoint": reader.path, "variables": rows}, out, indent=2)
        out.write("\n")
        return
    rows_txt = [
        (
            s.name,
            _dtype_label(s),
            "(" + ", ".join(str(d) for d in s.shape) + ("," if len(s.shape) == 1 else "") + ")",
            _human(s.nbytes) + (f" in {len(s.slices)} slices" if s.partitioned else ""),
            _friendly(reader, s.name) or "",
        )
        for s in specs.values()
    ]
    header = ("name", "dtype", "shape", "size", "friendly name")
    show_alias = any(r[4] for r in rows_txt)
    columns = 5 if show_alias else 4
    widths = [max([len(header[i])] + [len(r[i]) for r in rows_txt]) for i in range(columns)]
    out.writelines(
        "  ".join(row[i].ljust(widths[i]) for i in range(columns)).rstrip() + "\n"
        for row in [header, *rows_txt]
    )
    total = sum(s.nbytes for s in specs.values())
    out.write(
        f"{len(specs)} variables, {_human(total)} in {reader.num_shards} shard(s): {reader.path}\n"
    )


def _dump(reader: CheckpointReader, names: Sequence[str], out: TextIO, full: bool) -> None:
    for name in names:
        spec = reader.spec(name)
        value = reader[name]
        shown = f"{name} -> {spec.name}" if spec.name != name else name
        out.write(f"{shown}: {_dtype_label(spec)} {tuple(spec.shape)}\n")
        options: dict[str, Any] = {"threshold": sys.maxsize} if full else {}
        with np.printoptions(**options):
            out.write(np.array2string(np.asarray(value), separator=", ") + "\n")


def _verify(reader: CheckpointReader, out: TextIO, err: TextIO) -> int:
    problems = reader.verify()
    keys = reader.keys()
    if not problems:
        total = sum(reader.spec(k).nbytes for k in keys)
        out.write(f"OK: {len(keys)} variables verified ({_human(total)}): {reader.path}\n")
        return 0
    err.writelines(f"CORRUPT {key}: {message}\n" for key, message in problems)
    err.write(f"{len(problems)} of {len(keys)} variables failed verification: {reader.path}\n")
    return 1


def _string_array(value: np.ndarray) -> np.ndarray:
    """Bytes in a numpy 'S' array when that loses nothing (numpy drops trailing NULs)."""
    items = value.ravel().tolist()
    if any(not isinstance(x, bytes) or x.endswith(b"\0") for x in items):
        return value
    return np.array(items, dtype=np.bytes_).reshape(value.shape) if items else value.astype(np.bytes_)


def _export(reader: CheckpointReader, target: str, out: TextIO, err: TextIO) -> None:
    lower = target.lower()
    if not lower.endswith((".npz", ".safetensors")):
        raise InvalidArgumentError(f"--export {target}: the file name must end in .npz or .safetensors")
    skipped: list[str] = []
    tensors: dict[str, np.ndarray] = {}
    for key in reader:
        spec = reader.spec(key)
        if spec.dtype is None:
            skipped.append(f"{key} ({spec.tf_dtype} has no numpy form)")
            continue
        value = reader[key]
        if lower.endswith(".safetensors"):
            if spec.dtype == object:
                if key != OBJECT_GRAPH_KEY:
                    skipped.append(f"{key} (strings: safetensors stores only numbers)")
                continue
            if spec.dtype.name not in _SAFETENSORS_DTYPES:
                skipped.append(f"{key} ({spec.dtype.name}: not a safetensors dtype)")
                continue
            tensors[key] = np.ascontiguousarray(value)
        else:
            tensors[key] = _string_array(value) if spec.dtype == object else value
    if lower.endswith(".safetensors"):
        try:
            from safetensors.numpy import save_file
        except ImportError:
            raise FailedPreconditionError(
                "--export to .safetensors needs the safetensors package: pip install safetensors "
                "(or pip install 'tfbundle[safetensors]')"
            ) from None
        save_file(tensors, target, metadata={"source": reader.path, "written_by": "tfbundle vars"})
    else:
        with open(target, "wb") as f:
            np.savez(f, **tensors)  # type: ignore[arg-type]
        exotic = sorted(k for k, v in tensors.items() if v.dtype.kind == "V")
        if exotic:
            err.write(
                f"note: {len(exotic)} variables have ml_dtypes dtypes (bfloat16, float8, int4, ...) that "
                ".npz stores as raw bytes: view them back with arr.view(ml_dtypes.<dtype>)\n"
            )
    err.writelines(f"skipped {item}\n" for item in skipped)
    out.write(f"wrote {len(tensors)} variables to {target}\n")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Runs ``tfbundle vars`` with parsed arguments; returns the exit status.

    Raises:
        tfbundle.errors.Error: the checkpoint cannot be opened or read
            (:func:`main` prints it and returns 2).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    status = 0
    with open_checkpoint(args.path) as reader:
        if args.verify:
            status = _verify(reader, out, err)
        if args.dump:
            _dump(reader, args.dump, out, args.full)
        if args.export:
            _export(reader, os.fspath(args.export), out, err)
        if not (args.verify or args.dump or args.export):
            _list(reader, out, args.json)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m tfbundle.cli.vars``."""
    parser = argparse.ArgumentParser(prog="tfbundle vars")
    configure_parser(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except Error as e:
        sys.stderr.write(f"tfbundle vars: error: {e}\n")
        return 2
    except BrokenPipeError:  # e.g. piped into head
        return 0


if __name__ == "__main__":
    sys.exit(main())
