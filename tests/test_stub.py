"""The hand-written stub of the native module names exactly what the module has."""

from __future__ import annotations

import ast
from pathlib import Path

import tfbundle
from tfbundle import _core

STUB = Path(tfbundle.__file__).with_name("_core.pyi")


def _stub_names() -> tuple[set[str], dict[str, set[str]]]:
    tree = ast.parse(STUB.read_text())
    top, classes = set(), {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            top.add(node.name)
        elif isinstance(node, ast.ClassDef):
            top.add(node.name)
            classes[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            top.add(node.target.id)
    return top, classes


def _public(names) -> set[str]:
    keep = ("__version__", "__init__", "__contains__", "_load_mapped")
    return {n for n in names if not n.startswith("_") or n in keep}


def test_stub_matches_module():
    top, classes = _stub_names()
    assert top == _public(dir(_core)) - {"__init__", "__contains__"}
    for cls, methods in classes.items():
        actual = _public(dir(getattr(_core, cls)))
        assert methods - {"__init__"} == actual - {"__init__"}, cls
