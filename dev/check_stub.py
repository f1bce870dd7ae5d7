"""Checks the hand-written stub python/tfbundle/_core.pyi against the compiled module.

Two checks, both needed because the module is made by pybind11:

1. mypy's stubtest: every name of the stub exists at runtime as the same kind of object (function,
   class, static method, property, attribute of the declared type), and the module has nothing
   public that the stub leaves out. dev/stubtest_allowlist.txt lists what a stub cannot express.
2. The signatures. pybind11's functions hide their signatures from `inspect`, so stubtest cannot
   compare them (it skips them silently); pybind11 writes each signature as the first line of the
   function's docstring instead. This compares those with the stub's: parameter names, order and
   kinds, defaults, and types wherever the binding names one (a binding that takes or returns a
   bare `object`, `dict`, `list` or `tuple` leaves the precise type to the stub).

    python dev/check_stub.py              # both; exit status 1 on any finding
    python dev/check_stub.py --signatures # the second only (needs no mypy)

The package must be importable (built into the tree with dev/build.sh and PYTHONPATH=python, or
installed).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

MODULE = "tfbundle._core"
ALLOWLIST = Path(__file__).resolve().with_name("stubtest_allowlist.txt")

# ------------------------------------------------------------------------------- stubtest ---


def run_stubtest() -> tuple[int, str]:
    """Runs stubtest on the module; returns (exit status, output)."""
    module = importlib.import_module(MODULE)
    package_root = Path(module.__file__ or "").resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        # Errors in the rest of the package are mypy's own run's business (dev/lint.sh), not the
        # stub's: imported modules are analysed silently.
        # A source tree's package is put on mypy's path; an installed one (site-packages) mypy
        # finds by itself, and refuses to have on its path.
        installed = package_root.name in ("site-packages", "dist-packages")
        search = "" if installed else f"mypy_path = {package_root}\n"
        config = Path(tmp) / "mypy.ini"
        config.write_text(f"[mypy]\npython_version = 3.10\n{search}follow_imports = silent\n")
        env = dict(os.environ)
        if not installed:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(package_root), env.get("PYTHONPATH", "")) if p
            )
        proc = subprocess.run(
            [
                sys.executable, "-m", "mypy.stubtest", MODULE, "--concise",
                "--mypy-config-file", str(config), "--allowlist", str(ALLOWLIST),
            ],
            capture_output=True, text=True, env=env, cwd=tmp, check=False,
        )  # fmt: skip
    return proc.returncode, (proc.stdout + proc.stderr).strip()


# ---------------------------------------------------------------------- the signatures ---

# How pybind11 spells a type, and how the stub does.
_ALIASES = {
    "NoneType": "None",
    "SupportsInt": "int",
    "SupportsFloat": "float",
    "NDArray": "ndarray",
    "Buffer": "bytes",
}
# Runtime types that leave the precise type to the stub (py::object, py::dict, ...).
_OPEN = {"object", "dict", "list", "tuple", "Any"}


def _canon(node: ast.expr | None) -> frozenset[str]:
    """The members of a type annotation: {"int", "None", "Sequence[str]"}."""
    if node is None:
        return frozenset({"Any"})
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        members = _canon(node.left) | _canon(node.right)
        if "SupportsIndex" in members:  # SupportsInt | SupportsIndex, SupportsFloat | SupportsIndex
            members = (members - {"SupportsIndex"}) | ({"int"} if len(members) == 1 else set())
        return frozenset(members)
    if isinstance(node, ast.Constant) and node.value is None:
        return frozenset({"None"})
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
        return _canon(ast.parse(node.value, mode="eval").body)
    if isinstance(node, ast.Subscript):
        base = _name(node.value)
        if base == "Optional":
            return _canon(node.slice) | {"None"}
        if base == "Union":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return frozenset().union(*(_canon(e) for e in elts))
        if base == "ndarray":  # np.ndarray[shape, dtype]: the stub may say more than pybind11
            return frozenset({"ndarray"})
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        args = ", ".join("|".join(sorted(_canon(e))) if not _is_ellipsis(e) else "..." for e in elts)
        return frozenset({f"{base}[{args}]"})
    return frozenset({_name(node)})


def _is_ellipsis(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        name = node.attr
    elif isinstance(node, ast.Name):
        name = node.id
    else:
        name = ast.unparse(node)
    return _ALIASES.get(name, name)


def _base(member: str) -> str:
    return member.split("[", 1)[0]


def _member_fits(runtime: str, stub: str) -> bool:
    return (
        runtime == stub
        or stub == "Any"
        or runtime in _OPEN
        or ("[" not in runtime and _base(stub) == runtime)  # bare `dict` at runtime, dict[...] in the stub
    )


def _type_problem(what: str, runtime: frozenset[str], stub: frozenset[str]) -> str | None:
    """The same members on both sides, where an open runtime type stands for any member."""
    if all(any(_member_fits(r, s) for s in stub) for r in runtime) and all(
        any(_member_fits(r, s) for r in runtime) for s in stub
    ):
        return None
    return f"{what}: binding says {' | '.join(sorted(runtime))}, stub says {' | '.join(sorted(stub))}"


def _runtime_signatures(obj: Any, name: str) -> list[ast.FunctionDef]:
    """The signatures pybind11 wrote at the top of a function's docstring (several if overloaded)."""
    doc = inspect.getdoc(obj) or ""
    lines = doc.splitlines()
    if len(lines) > 1 and lines[1].strip() == "Overloaded function.":
        heads = [m.group(1) for m in re.finditer(r"^\d+\. (.*)$", doc, re.MULTILINE)]
    else:
        heads = lines[:1]
    out = []
    for head in heads:
        if head.startswith("("):  # a property's getter: "(arg0: X) -> int"
            head = name + head
        # Defaults pybind11 can only print as a repr (<Enum.X: 0>) become `...`.
        head = re.sub(r"= <[^<>]*>", "= ...", head)
        try:
            tree = ast.parse(f"def {head}: ...")
        except SyntaxError:
            continue
        fn = tree.body[0]
        if isinstance(fn, ast.FunctionDef) and fn.name == name.rsplit(".", 1)[-1]:
            out.append(fn)
    return out


def _params(fn: ast.FunctionDef) -> list[tuple[str, str, ast.expr | None, ast.expr | None]]:
    """(kind, name, annotation, default) of each parameter, in order."""
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    out: list[tuple[str, str, ast.expr | None, ast.expr | None]] = []
    for i, p in enumerate(positional):
        kind = "positional-only" if i < len(a.posonlyargs) or p.arg.startswith("__") else "positional"
        out.append((kind, p.arg, p.annotation, defaults[i]))
    if a.vararg:
        out.append(("*args", a.vararg.arg, a.vararg.annotation, None))
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append(("keyword-only", p.arg, p.annotation, d))
    if a.kwarg:
        out.append(("**kwargs", a.kwarg.arg, a.kwarg.annotation, None))
    return out


def _literal(node: ast.expr) -> Any:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return Ellipsis
    return tuple(value) if isinstance(value, list) else value  # `[]` at runtime, `()` in the stub


def _compare(where: str, runtime: ast.FunctionDef, stub: ast.FunctionDef) -> Iterator[str]:
    rt, st = _params(runtime), _params(stub)
    if len(rt) != len(st):
        yield (
            f"{where}: binding takes ({', '.join(p[1] for p in rt)}), "
            f"stub says ({', '.join(p[1] for p in st)})"
        )
        return
    for i, ((rkind, rname, rtype, rdef), (skind, sname, stype, sdef)) in enumerate(zip(rt, st)):
        if i == 0 and rname in ("self", "arg0") and sname in ("self", "cls"):
            continue  # the instance: pybind11 names its type, the stub leaves it out
        unnamed = re.fullmatch(r"arg\d+", rname) is not None
        if unnamed:
            # py::arg gave it no name: callers can only pass it by position.
            if skind != "positional-only" and not sname.startswith("__"):
                yield f"{where}: parameter {sname!r} is unnamed in the binding ({rname}): make it positional-only"
        elif rname != sname:
            yield f"{where}: the binding's parameter {rname!r} is {sname!r} in the stub"
        if not unnamed and rkind != skind and not (rkind == "positional" and skind == "positional-only"):
            yield f"{where}: parameter {rname!r} is {rkind} in the binding, {skind} in the stub"
        if (rdef is None) != (sdef is None):
            has = "has" if rdef is not None else "has no"
            yield f"{where}: parameter {rname!r} {has} a default in the binding, not so in the stub"
        elif rdef is not None and sdef is not None:
            rv, sv = _literal(rdef), _literal(sdef)
            if rv is not Ellipsis and sv is not Ellipsis and rv != sv:
                yield f"{where}: parameter {rname!r} defaults to {rv!r} in the binding, {sv!r} in the stub"
        if rkind not in ("*args", "**kwargs") and rtype is not None:
            problem = _type_problem(f"{where}: parameter {rname!r}", _canon(rtype), _canon(stype))
            if problem:
                yield problem
    if runtime.returns is not None:
        problem = _type_problem(f"{where}: result", _canon(runtime.returns), _canon(stub.returns))
        if problem:
            yield problem


def _stub_functions(
    body: list[ast.stmt], prefix: str
) -> Iterator[tuple[str, list[ast.FunctionDef], ast.ClassDef | None]]:
    """(dotted name, its defs (several when @overload), the class) for each function of the stub."""
    defs: dict[str, list[ast.FunctionDef]] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef):
            defs.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.ClassDef) and not prefix:
            for name, fns, _ in _stub_functions(node.body, node.name + "."):
                yield name, fns, node
    for name, fns in defs.items():
        yield prefix + name, fns, None


def _stub_attributes(tree: ast.Module) -> Iterator[tuple[str, ast.expr]]:
    """(Class.name, annotation) of each attribute a class of the stub declares."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    yield f"{node.name}.{item.target.id}", item.annotation


def _lookup(module: ModuleType, dotted: str) -> Any:
    obj: Any = module
    for part in dotted.split("."):
        obj = inspect.getattr_static(obj, part, None) if isinstance(obj, type) else getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def signature_problems(stub_path: Path | None = None) -> list[str]:
    """Where the stub's signatures differ from the bindings' (empty when they agree)."""
    module = importlib.import_module(MODULE)
    stub_path = stub_path or Path(module.__file__ or "").with_name("_core.pyi")
    tree = ast.parse(stub_path.read_text())
    problems: list[str] = []
    checked = 0
    for dotted, stub_defs, _cls in _stub_functions(tree.body, ""):
        obj = _lookup(module, dotted)
        if obj is None:
            continue  # stubtest reports names missing at runtime
        decorators = {_name(d) for d in stub_defs[0].decorator_list}
        if "property" in decorators or isinstance(obj, property):
            if not isinstance(obj, property) or obj.fget is None:
                continue  # stubtest reports a property that is none at runtime
            runtime = _runtime_signatures(obj.fget, dotted.rsplit(".", 1)[-1])
            if runtime and runtime[0].returns is not None:
                checked += 1
                problem = _type_problem(
                    f"{dotted}: value", _canon(runtime[0].returns), _canon(stub_defs[0].returns)
                )
                if problem:
                    problems.append(problem)
            continue
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if dotted.endswith(".__init__") and (inspect.getdoc(obj) or "").startswith("Initialize self"):
            problems.append(f"{dotted}: the class has no constructor (py::init) in the binding")
            continue
        runtime = _runtime_signatures(obj, dotted.rsplit(".", 1)[-1])
        if not runtime:
            if inspect.isbuiltin(obj) or type(obj).__name__ == "instancemethod":
                problems.append(f"{dotted}: the binding's docstring has no signature")
            continue
        stub_sigs = [d for d in stub_defs if "overload" in {_name(x) for x in d.decorator_list}] or stub_defs
        if len(runtime) != len(stub_sigs):
            problems.append(f"{dotted}: {len(runtime)} overload(s) in the binding, {len(stub_sigs)} in the stub")
            continue
        for rt, st in zip(runtime, stub_sigs):
            checked += 1
            problems.extend(_compare(dotted, rt, st))
    for dotted, annotation in _stub_attributes(tree):
        obj = _lookup(module, dotted)
        if isinstance(obj, property) and obj.fget is not None:
            runtime = _runtime_signatures(obj.fget, dotted.rsplit(".", 1)[-1])
            if runtime and runtime[0].returns is not None:
                checked += 1
                problem = _type_problem(f"{dotted}: value", _canon(runtime[0].returns), _canon(annotation))
                if problem:
                    problems.append(problem)
    if checked == 0:
        problems.append(f"no signature of {MODULE} could be read from its docstrings")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--signatures", action="store_true", help="only compare the signatures")
    args = parser.parse_args(argv)
    status = 0
    problems = signature_problems()
    for p in problems:
        print(f"_core.pyi: {p}")
    if problems:
        status = 1
    if not args.signatures:
        code, output = run_stubtest()
        if code != 0:
            print(output)
            status = 1
    if status == 0:
        print(f"{MODULE}: the stub agrees with the module")
    return status


if __name__ == "__main__":
    sys.exit(main())
