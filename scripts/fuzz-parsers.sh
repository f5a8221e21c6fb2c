#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of the parsers that read untrusted bytes. Each target in
# Fuzz/<Target>/ is a Harness.swift built together with the sources it exercises into one
# module, with `swiftc -sanitize=fuzzer,address`, and run for FUZZ_SECONDS (60) from its committed
# seed corpus (Fuzz/<Target>/corpus, copied: the seeds stay as committed; what the run finds is
# kept in ~/.cache/parley/fuzz/<Target> for the next run). A crash or a failed oracle stops the run
# and leaves its input in Fuzz/<Target>/crash-*: commit it to the corpus once fixed. Leak checks
# are off: the parsers keep their tables (compiled patterns, word lists) for the life of the process.
#
#   scripts/fuzz-parsers.sh                       # every target, 60 s each (CI)
#   FUZZ_SECONDS=600 scripts/fuzz-parsers.sh PIIScanner
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
cache="${PARLEY_CACHE:-$HOME/.cache/parley}/fuzz"
# What each harness is built with: the module's own sources (no package dependencies).
declare -A sources=(
  [PIIScanner]="Sources/ParleyPrivacy"
  [CommandParser]="Sources/ParleyAgent/CommandParser.swift"
)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${!sources[@]}")
mkdir -p "$cache" "$root/.build/fuzz"
for target in "${targets[@]}"; do
  dir=${sources[$target]:?"fuzz-parsers: no target $target (have: ${!sources[*]})"}
  binary="$root/.build/fuzz/$target"
  mapfile -t files < <(find "$root/$dir" -name '*.swift' | sort)
  swiftc -sanitize=fuzzer,address -parse-as-library -swift-version 6 -enable-upcoming-feature ExistentialAny -O \
    -module-name "$target" "${files[@]}" "$root/Fuzz/$target/Harness.swift" -o "$binary" >"$binary.build.log" 2>&1 ||
    { grep -v "Cannot export local symbol" "$binary.build.log" | tail -n 30 >&2; exit 1; }
  work="$cache/$target"
  mkdir -p "$work"
  cp -n "$root/Fuzz/$target/corpus/"* "$work/" 2>/dev/null || true
  log="$root/.build/fuzz/$target.log"
  if ! (cd "$root/Fuzz/$target" && ASAN_OPTIONS=detect_leaks=0 "$binary" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$root/Fuzz/$target/" "$work" >"$log" 2>&1); then
    tail -n 40 "$log" >&2
    echo "fuzz-parsers: $target FAILED (input kept in Fuzz/$target/crash-*)" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1)
  echo "fuzz-parsers: $target: ${runs:-?} executions in ${seconds} s, $cov, corpus $(ls "$work" | wc -l) inputs, no crash"
done
