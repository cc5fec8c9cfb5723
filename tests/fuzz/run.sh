#!/usr/bin/env bash
# Build the libFuzzer targets with clang, AddressSanitizer and UBSan in build-fuzz/ (repository
# root), replay every saved regression input, then run each target for SECONDS (default 30) on
# its seed corpus (tests/fuzz/corpus/<target>, never written to: new inputs go to
# build-fuzz/corpus/<target>, which grows from run to run). Prints the executions per target;
# exits non-zero if any target crashed, leaked, hit a sanitizer report or a FUZZ CHECK, or
# timed out (crash inputs are left in build-fuzz/artifacts/; minimise one with
#   build-fuzz/tests/fuzz/<target> -minimize_crash=1 -runs=10000 <crash-file>
# and add it to tests/fuzz/regressions/<target>/ once reported).
# Environment: CC (default clang), FUZZ_TARGETS (default all three), FUZZ_JOBS for the build,
# FUZZ_SEED: a fixed seed and a fixed number of runs per target (scaled from SECONDS by each
# target's usual speed) instead of a time limit, so that a CI run is reproducible.
set -euo pipefail
seconds=${1:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-fuzz
targets=${FUZZ_TARGETS:-"fuzz_ecdc fuzz_weights fuzz_stream"}
cc=${CC:-clang}
command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (apt-get install clang)" >&2; exit 1; }

echo "fuzz: building in $build with $cc"
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DENCODEC_FUZZ=ON -DENCODEC_SANITIZE=ON -DENCODEC_OPENMP=OFF -DENCODEC_BUILD_CLI=OFF \
  -DENCODEC_BUILD_TESTS=OFF >"$build/build.log" 2>&1 || { cat "$build/build.log"; exit 1; }
# shellcheck disable=SC2086
cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target $targets >>"$build/build.log" 2>&1 ||
  { tail -40 "$build/build.log"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/artifacts"
failed=0
total=0
for t in $targets; do
  bin=$build/tests/fuzz/$t
  opts=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "-artifact_prefix=$build/artifacts/$t-")
  case $t in
    fuzz_ecdc) opts+=(-max_len=4096 "-dict=$root/tests/fuzz/ecdc.dict") ;;
    fuzz_weights) opts+=("-dict=$root/tests/fuzz/weights.dict") ;;
    fuzz_stream) opts+=(-max_len=256 -len_control=0) ;;
  esac

  # regressions: every saved input must now run cleanly
  reg=$root/tests/fuzz/regressions/$t
  if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
    if "$bin" "${opts[@]}" -runs=1 "$reg"/* >"$build/$t.regressions.log" 2>&1; then
      echo "fuzz: $t: $(ls "$reg" | wc -l) regression inputs pass"
    else
      echo "fuzz: $t: REGRESSION input fails (see $build/$t.regressions.log):"
      grep -E "ERROR|FUZZ CHECK|Running:" "$build/$t.regressions.log" | tail -5
      failed=1
    fi
  fi

  mkdir -p "$build/corpus/$t"
  log=$build/$t.log
  rc=0
  if [ -n "${FUZZ_SEED:-}" ]; then
    case $t in # executions per second on a 2-core machine of this project
      fuzz_ecdc) rate=60 ;; fuzz_weights) rate=600 ;; *) rate=20 ;;
    esac
    limit=(-seed="$FUZZ_SEED" -runs=$((seconds * rate)))
  else
    limit=(-max_total_time="$seconds")
  fi
  "$bin" "${opts[@]}" "${limit[@]}" "$build/corpus/$t" "$root/tests/fuzz/corpus/$t" \
    >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=${execs:-0}
  total=$((total + execs))
  units=$(find "$build/corpus/$t" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    echo "fuzz: $t: $execs executions, no crash (corpus $units inputs)"
  else
    echo "fuzz: $t: CRASH after $execs executions (exit $rc); log $log"
    grep -E "^==[0-9]+==ERROR|FUZZ CHECK|runtime error|ALARM|Test unit written" "$log" | head -5
    failed=1
  fi
done
echo "fuzz: total $total executions; $([ $failed -eq 0 ] && echo PASS || echo FAIL)"
exit $failed
