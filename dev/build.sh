#!/usr/bin/env bash
# Developer build: compiles the extension into build/dev and drops _core.so into
# python/tfbundle, so `PYTHONPATH=python pytest` tests the working tree.
# Builds are serialised with a lock, so several people (or agents) can share a tree.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/dev
exec 9>build/dev/.lock
flock 9
cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} -DSKBUILD=ON \
  -DSKBUILD_PROJECT_VERSION=0.1.0 -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python3)" >/dev/null
cmake --build build/dev -j2
# Replace the module by rename, never in place: running processes keep the old file mapped.
for so in build/dev/_core*.so; do cp -f "$so" "python/tfbundle/.$(basename "$so").tmp" && mv -f "python/tfbundle/.$(basename "$so").tmp" "python/tfbundle/$(basename "$so")"; done
