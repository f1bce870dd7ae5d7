"""``tfbundle scan``: the ops of a model that reach outside it (files, Python, ...)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from .. import _core
from .._readers.inspect import inspect
from ._common import model_dir, paint

__all__ = ["command"]

# ------------------------------------------------------------------ scan ---


def _scan_line(op: str, meta_ops: Any, found: Mapping[str, Any], width: int, out: TextIO) -> str:
    """One line of ``tfbundle scan``: the op type, its node count and what the policy says."""
    from .._readers.policy import DENIED_OPS

    total = meta_ops.counts.get(op, 0)
    # Some nodes of an op type are judged apart ("PrintV2(file)", "InitializeTableFromTextFileV2(path)"):
    # the line shows the denied variant first.
    variants = [f for name, f in found.items() if name.split("(", 1)[0] == op]
    f = next((v for v in variants if v.denied), variants[0] if variants else None)
    line = f"  {op:<{width}}  {total:>6}"
    if f is not None and f.denied:
        runs = f" ({f.count} of {total} nodes run)" if f.count != total else ""
        return line + "  " + paint(f"DENIED: {f.reason}{runs}", "1;31", out)
    if f is not None:
        return line + "  " + paint(f"note: {f.reason}", "33", out)
    if op in DENIED_OPS and not meta_ops.policy_counts.get(op):
        return line + "  (only in the saver's subgraphs or in code nothing runs: fine)"
    if _core.registered_op(op) is None:
        return (
            line
            + "  "
            + paint("note: not a TensorFlow op (a custom-op library must be loaded)", "33", out)
        )
    return line


def command(args: argparse.Namespace) -> int:
    from .._readers.policy import asset_findings, findings

    info = inspect(model_dir(args), ops=True)
    metas = info.meta_graphs
    if args.tag_set is not None:
        metas = (info.meta_graph(args.tag_set),)
    report = []
    for meta in metas:
        assert meta.ops is not None
        # Asset files outside assets/ are denied whatever the op lists say: load() refuses them.
        found = findings(meta.ops.policy_counts, allowed_ops=args.allow, only=args.op_denylist)
        found += asset_findings(meta.assets)
        custom = sorted(op for op in meta.ops.counts if _core.registered_op(op) is None)
        report.append((meta, found, custom))
    denied_ops = sorted({f.op for _, found, _ in report for f in found if f.denied})

    if args.json:
        doc = {
            "path": info.path,
            "meta_graphs": [
                {
                    "tags": list(meta.tags),
                    "ops": dict(meta.ops.counts) if meta.ops else {},
                    "ops_run": dict(meta.ops.policy_counts) if meta.ops else {},
                    "denied": [vars(f) for f in found if f.denied],
                    "noted": [vars(f) for f in found if not f.denied],
                    "custom_ops": custom,
                }
                for meta, found, custom in report
            ],
            "denied": bool(denied_ops),
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 1 if denied_ops else 0

    out = sys.stdout
    for meta, found, _custom in report:
        assert meta.ops is not None
        by_op = {f.op: f for f in found}
        version = (
            f", written by TensorFlow {meta.tensorflow_version}" if meta.tensorflow_version else ""
        )
        out.write(
            f"MetaGraph with tag-set '{', '.join(meta.tags)}'{version}: {len(meta.ops.counts)} op types, "
            f"{meta.ops.graph_nodes} nodes in the graph and {meta.ops.function_nodes} in "
            f"{len(meta.ops.functions)} functions\n"
        )
        names = sorted(meta.ops.counts)
        width = max((len(n) for n in names), default=0)
        for op in names:
            out.write(_scan_line(op, meta.ops, by_op, width, out) + "\n")
        for f in found:
            if f.op.startswith("asset:"):
                out.write(f"  asset {f.op[len('asset:'):]!r}  " + paint(f"DENIED: {f.reason}", "1;31", out) + "\n")
    if denied_ops:
        assets = [op[len("asset:"):] for op in denied_ops if op.startswith("asset:")]
        ops = [op for op in denied_ops if not op.startswith("asset:")]
        parts: list[str] = []
        if ops:
            n = len(ops)
            parts.append(f"Found {n} op type{'s that reach' if n != 1 else ' that reaches'} outside the model: "
                         f"{', '.join(ops)}.")  # fmt: skip
        if assets:
            parts.append(f"Found asset files outside its assets/ folder (tfbundle.load refuses the model): "
                         f"{', '.join(repr(a) for a in assets)}.")  # fmt: skip
        message = " ".join(parts) + " Do not run this model outside a sandbox unless you trust it."
        out.write(paint(message, "1;31", out) + "\n")
        return 1
    out.write("No op type that reaches outside the model was found.\n")
    return 0
