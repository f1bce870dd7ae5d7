#!/usr/bin/env bash
# Lint: ruff's rules (pyproject.toml) on all Python code and mypy on the package (the compiled
# module is typed by its stub, python/tfbundle/_core.pyi). Needs the dev extra (pip install
# '.[dev]'). The stub against the module (dev/check_stub.py) and the generated files
# (dev/gen_protos.py --check) are checked by the test suite (tests/test_stub.py,
# tests/test_proto_schema.py). Runs every check, then exits non-zero if any found something.
set -uo pipefail
cd "$(dirname "$0")/.."

if compgen -G "python/tfbundle/_core*.so" >/dev/null; then
  export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
fi

status=0
check() {
  echo "== $*"
  "$@" || status=1
}
check python -m ruff check --no-cache python tests bench fuzz dev
check python -m mypy
exit "$status"
