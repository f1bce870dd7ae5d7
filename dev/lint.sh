#!/usr/bin/env bash
# Lint: ruff's rules (pyproject.toml) on all Python code, mypy on the package, and the stub of the
# compiled module checked against it (dev/check_stub.py: mypy's stubtest and the signatures).
# Needs the dev extra (pip install '.[dev]') and an importable tfbundle with its compiled module:
# the tree's (dev/build.sh) when it is built there, else the installed package.
# Runs every check, then exits non-zero if any of them found something.
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
check python dev/check_stub.py
exit "$status"
