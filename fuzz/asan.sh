#!/usr/bin/env bash
# The C++ core under AddressSanitizer and UndefinedBehaviorSanitizer (gcc).
#
#   fuzz/asan.sh build              builds tfbundle._core with -fsanitize=address,undefined into
#                                   build/asan and a package copy in build/asan/pkg
#   fuzz/asan.sh fuzz [ARGS...]     runs fuzz/fuzz_index.py on that build (ARGS go to libFuzzer,
#                                   e.g. -atheris_runs=20000)
#   fuzz/asan.sh pytest [ARGS...]   runs pytest on that build (e.g. tests/test_checkpoint_errors.py)
#
# Python itself is not instrumented, so libasan is preloaded; leak checking is off (the
# interpreter keeps memory until exit). Any sanitizer report aborts the run with exit code 1.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-build}"
shift || true
build=build/asan
if [[ "$mode" == build || ! -d "$build/pkg/tfbundle" ]]; then
  flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSKBUILD=ON \
    -DSKBUILD_PROJECT_VERSION=0.1.0 -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python3)" >/dev/null
  cmake --build "$build" -j2 --target _core
  rm -rf "$build/pkg"
  mkdir -p "$build/pkg/tfbundle"
  cp python/tfbundle/*.py "$build/pkg/tfbundle/"
  cp "$build"/_core*.so "$build/pkg/tfbundle/"
fi
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libstdc++.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:exitcode=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PYTHONPATH="$build/pkg${PYTHONPATH:+:$PYTHONPATH}"
case "$mode" in
  build) ;;
  fuzz) exec python3 fuzz/fuzz_index.py "$@" ;;
  pytest) exec python3 -m pytest -p no:cacheprovider "$@" ;;
  *) echo "usage: fuzz/asan.sh build|fuzz|pytest [ARGS...]" >&2; exit 2 ;;
esac
