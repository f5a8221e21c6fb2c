#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of the parsers that read untrusted bytes. Each target in
# Fuzz/<Target>/ is a Harness.swift built together with the sources it exercises and the shared
# Fuzz/Oracle.swift (check/fail) into one module, with `swiftc -sanitize=fuzzer,address`.
#
# Two modes:
# - replay (the default, CI): the committed seed corpus, a fixed seed and a fixed number of
#   executions per target (FUZZ_RUNS, about a minute each here), so a commit either passes or fails,
#   every time and on every machine;
# - explore (FUZZ_SECONDS=N): a random seed for N seconds, from the seeds plus everything earlier
#   explorations found (kept in ~/.cache/parley/fuzz/<Target>).
# A crash or a failed oracle stops the run; its input is left in Fuzz/<Target>/crash-* and
# printed (base64) with the failure, so a CI log alone is enough to reproduce it. Once fixed,
# commit it to the corpus as regression-<what>. Leak checks are off: the parsers keep their tables
# (compiled patterns, word lists) for the life of the process.
#
#   scripts/fuzz-parsers.sh                          # every target, replay (CI)
#   FUZZ_SECONDS=600 scripts/fuzz-parsers.sh PIIScanner
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="${PARLEY_CACHE:-$HOME/.cache/parley}/fuzz"
# What each harness is built with: dependency-free sources only (no package is built with sanitizers).
declare -A sources=(
  [PIIScanner]="Sources/ParleyPrivacy"
  [CommandParser]="Sources/ParleyAgent/CommandParser.swift Sources/ParleyAgent/CompoundCommands.swift Sources/ParleyAgent/ItemLists.swift"
  [ServerSentEvents]="Sources/ParleyCore/ServerSentEvents.swift"
  [JWTSegments]="Sources/ParleyAuth/Base64URL.swift Sources/ParleyAuth/UnverifiedJWT.swift Sources/ParleyAuth/AuthError.swift Sources/ParleyCore/JSONValue.swift"
  [RESPParser]="Sources/ParleyRedis/RESPParser.swift Sources/ParleyRedis/RESPValue.swift"
)
# Executions per target in replay mode: about a minute each on this machine (2 cores).
declare -A runs=(
  [PIIScanner]=250000
  [CommandParser]=50000
  [ServerSentEvents]=150000
  [JWTSegments]=160000
  [RESPParser]=600000
)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(printf '%s\n' "${!sources[@]}" | sort)
mkdir -p "$cache" "$root/.build/fuzz"
for target in "${targets[@]}"; do
  paths=${sources[$target]:?"fuzz-parsers: no target $target (have: ${!sources[*]})"}
  binary="$root/.build/fuzz/$target"
  files=()
  for path in $paths; do mapfile -t -O ${#files[@]} files < <(find "$root/$path" -name '*.swift' | sort); done
  swiftc -sanitize=fuzzer,address -parse-as-library -swift-version 6 -enable-upcoming-feature ExistentialAny -O \
    -module-name "$target" "${files[@]}" "$root/Fuzz/Oracle.swift" "$root/Fuzz/$target/Harness.swift" -o "$binary" >"$binary.build.log" 2>&1 ||
    { grep -v "Cannot export local symbol" "$binary.build.log" | tail -n 30 >&2; exit 1; }
  work=$(mktemp -d "${TMPDIR:-/tmp}/parley-fuzz-$target.XXXXXX")
  cp "$root/Fuzz/$target/corpus/"* "$work/"
  if [ -n "${FUZZ_SECONDS:-}" ]; then
    mkdir -p "$cache/$target"
    cp -n "$cache/$target/"* "$work/" 2>/dev/null || true
    limit=(-max_total_time="$FUZZ_SECONDS")
    what="$FUZZ_SECONDS s, random seed"
  else
    limit=(-runs="${FUZZ_RUNS:-${runs[$target]}}" -seed=1)
    what="replay, seed 1"
  fi
  log="$root/.build/fuzz/$target.log"
  rm -f "$root/Fuzz/$target/"crash-* "$root/Fuzz/$target/"timeout-* "$root/Fuzz/$target/"oom-*
  # Swift's own backtracer would read the crashed process's memory under ASan and be reported
  # itself; with it off, a failed check prints its message and ASan the stack.
  start=$SECONDS
  if ! (cd "$root/Fuzz/$target" && ASAN_OPTIONS=detect_leaks=0 SWIFT_BACKTRACE=enable=no "$binary" "${limit[@]}" \
        -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$root/Fuzz/$target/" "$work" >"$log" 2>&1); then
    grep -E "oracle failed|Fatal error|ERROR: (AddressSanitizer|libFuzzer)|^ *#[0-9]+ .* in |SUMMARY|Test unit written" "$log" | head -n 40 >&2
    for input in "$root/Fuzz/$target/"crash-* "$root/Fuzz/$target/"timeout-* "$root/Fuzz/$target/"oom-*; do
      [ -e "$input" ] && echo "fuzz-parsers: $target input $(basename "$input") (base64): $(base64 -w0 "$input")" >&2
    done
    echo "fuzz-parsers: $target FAILED (input kept in Fuzz/$target/; whole log in $log)" >&2
    rm -rf "$work"
    exit 1
  fi
  if [ -n "${FUZZ_SECONDS:-}" ]; then cp -n "$work/"* "$cache/$target/" 2>/dev/null || true; fi
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1)
  echo "fuzz-parsers: $target ($what): ${executed:-?} executions in $((SECONDS - start)) s, $cov, corpus $(ls "$work" | wc -l) inputs, no crash"
  rm -rf "$work"
done
