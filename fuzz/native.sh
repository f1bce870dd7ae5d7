#!/usr/bin/env bash
# Native fuzzing and the C++ unit tests of the core: clang, libFuzzer, ASan + UBSan.
#
#   fuzz/native.sh [SECONDS]      SECONDS of fuzzing per target (default 60)
#
# 1. Installs clang and the libFuzzer runtime from Debian when they are missing (apt-get; root).
# 2. Builds the fuzz targets (fuzz/native/fuzz_*.cc) and the C++ unit tests (cpp/tests) in
#    build/native, all instrumented with AddressSanitizer and UndefinedBehaviorSanitizer.
# 3. Runs the unit tests (ctest).
# 4. Writes seeds and dictionaries (fuzz/native/seeds.py: the test suite's models in
#    $TFBUNDLE_TEST_CACHE, ../shared/testdata when present, small inputs of its own) and runs
#    every target for SECONDS, as many at a time as there are cores. The corpus each run finds is
#    kept in build/native/corpus/<target> for the next run.
#
# Exits non-zero when a unit test fails or a target finds a crash, a leak, undefined behaviour,
# an input that runs longer than 10 s or allocates more than 2 GB. The input is saved as
# build/native/artifacts/<target>-crash-<sha1> (or leak-, timeout-, oom-); reproduce with
#   build/native/fuzz/native/fuzz_<target> build/native/artifacts/<target>-crash-<sha1>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
build=build/native
jobs="${FUZZ_JOBS:-$(nproc)}"
cxx="${FUZZ_CXX:-clang++}"

have_libfuzzer() {
  command -v "$cxx" >/dev/null 2>&1 || return 1
  local probe
  probe="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    >"$probe/probe.cc"
  local ok=0
  "$cxx" -fsanitize=fuzzer,address,undefined "$probe/probe.cc" -o "$probe/probe" >/dev/null 2>&1 || ok=1
  rm -rf "$probe"
  return "$ok"
}

start=$SECONDS
if ! have_libfuzzer; then
  echo "native: installing clang and the libFuzzer runtime (Debian)"
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  # Debian 12 packages clang 14; its sanitizer and libFuzzer runtimes are in libclang-rt-14-dev.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
  have_libfuzzer || { echo "native: $cxx cannot link -fsanitize=fuzzer" >&2; exit 1; }
fi

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
  -DTFBUNDLE_BUILD_FUZZERS=ON -DTFBUNDLE_BUILD_TESTS=ON >/dev/null
if ! cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1; then
  tail -n 40 "$build/build.log" >&2
  echo "native: build failed (log: $build/build.log)" >&2
  exit 1
fi
echo "native: built in $((SECONDS - start)) s"

# A failed unit test fails the script at the end; the fuzzing still runs.
failed=0
(cd "$build/cpp/tests" && ctest --output-on-failure) || { echo "native: C++ unit tests failed" >&2; failed=1; }

python3 fuzz/native/seeds.py "$build/seeds"
mkdir -p "$build/artifacts" "$build/logs"

run_target() {  # name: runs build/native/fuzz/native/fuzz_<name>, output in logs/<name>.log
  local name="$1"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$build/artifacts/$name-" -max_len="$(cat "$build/seeds/$name.max_len")")
  [[ -f "$build/seeds/$name.dict" ]] && args+=(-dict="$build/seeds/$name.dict")
  mkdir -p "$build/corpus/$name"
  "$build/fuzz/native/fuzz_$name" "${args[@]}" "$build/corpus/$name" "$build/seeds/$name" \
    >"$build/logs/$name.log" 2>&1
}

names=()
for exe in "$build"/fuzz/native/fuzz_*; do
  [[ -x "$exe" && -f "$exe" ]] && names+=("${exe##*/fuzz_}")
done
declare -A status
pids=()
for name in "${names[@]}"; do
  run_target "$name" &
  pids+=("$!:$name")
  if (( ${#pids[@]} >= jobs )); then
    entry="${pids[0]}"
    pids=("${pids[@]:1}")
    wait "${entry%%:*}" && status[${entry#*:}]=0 || status[${entry#*:}]=$?
  fi
done
for entry in "${pids[@]}"; do
  wait "${entry%%:*}" && status[${entry#*:}]=0 || status[${entry#*:}]=$?
done

printf '%-12s %-6s %12s %9s %7s %7s\n' target result execs exec/s cov corpus
for name in "${names[@]}"; do
  log="$build/logs/$name.log"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  cov="$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)"
  corpus="$(find "$build/corpus/$name" -type f | wc -l)"
  result=ok
  if [[ "${status[$name]}" != 0 ]]; then
    result=FAIL
    failed=1
  fi
  printf '%-12s %-6s %12s %9s %7s %7s\n' "$name" "$result" "${execs:--}" "${rate:--}" "${cov:--}" "$corpus"
done
for name in "${names[@]}"; do
  if [[ "${status[$name]}" != 0 ]]; then
    echo "---- fuzz_$name (exit ${status[$name]}), the end of $build/logs/$name.log:" >&2
    tail -n 60 "$build/logs/$name.log" >&2
  fi
done
(( failed == 0 )) || echo "native: FAILED (unit tests or fuzz targets, see above)" >&2
echo "native: $((SECONDS - start)) s in all"
exit "$failed"
