#!/usr/bin/env bash
# Holds a live Parley to its OpenAPI document with schemathesis: every operation, with generated
# valid and invalid requests, and the checks not_a_server_error, status_code_conformance,
# content_type_conformance, response_schema_conformance and response_headers_conformance, plus
# the document's stateful links (a task created, then read, patched and deleted; a chat turn,
# then its history, its feedback and the conversation deleted).
#
# Runs once on SQLite and, when PARLEY_TEST_DATABASE_URL is set (scripts/test sets it), once on
# PostgreSQL, with Redis too when PARLEY_TEST_REDIS_URL is set; each backend gets a fresh data
# directory and database. Prints per backend the operations, generated cases and failures, and
# exits non-zero on any failure or error.
#
# Two passes per backend, sequential: first as the user `alice` over every route but the admin
# ones, then as an admin over `/api/v1/admin/`. Two passes rather than per-operation auth in one
# run because the admin routes legitimately change what the user routes answer: a generated
# `PATCH /api/v1/admin/flags/global {"chatbot.enabled": false}` makes chat answer 503, which
# not_a_server_error would report in a run where both are interleaved.
#
# Environment:
#   PARLEY_BIN            the binary (default .build/debug/parley)
#   PARLEY_PYTHON         a python with schemathesis (default the venv of scripts/install-deps.sh)
#   FUZZ_MAX_EXAMPLES     cases per operation and phase (default 200: about 2 minutes a backend on 2 cores)
#   FUZZ_SEED             schemathesis seed (default random; printed, to replay a run)
#   FUZZ_BACKENDS         "sqlite postgres" (default: both where possible)
#   FUZZ_SCHEMA           the document to hold Parley to (default: the one Parley serves at
#                         /openapi.yaml, else Sources/ParleyServer/OpenAPI/openapi.yaml)
#   FUZZ_KEEP             1: keep the work directories (reports, logs) under $TMPDIR
#   FUZZ_ARGS             more schemathesis options, e.g. "--continue-on-failure" to see every
#                         failure of an operation rather than the first
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary=${PARLEY_BIN:-$root/.build/debug/parley}
python=${PARLEY_PYTHON:-${PARLEY_CACHE:-$HOME/.cache/parley}/venv/bin/python}
max_examples=${FUZZ_MAX_EXAMPLES:-200}
seed=${FUZZ_SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
document=$root/Sources/ParleyServer/OpenAPI/openapi.yaml
if [ -z "${FUZZ_BACKENDS:-}" ]; then
  FUZZ_BACKENDS=sqlite
  [ -n "${PARLEY_TEST_DATABASE_URL:-}" ] && FUZZ_BACKENDS="sqlite postgres"
fi

[ -x "$binary" ] || { echo "fuzz-api: no parley binary at $binary (build it, or set PARLEY_BIN)" >&2; exit 1; }
"$python" -c 'import schemathesis, openapi_spec_validator' 2>/dev/null \
  || { echo "fuzz-api: schemathesis is missing from $python: run scripts/install-deps.sh" >&2; exit 1; }
"$python" -m openapi_spec_validator "$document" >/dev/null \
  || { "$python" -m openapi_spec_validator "$document" >&2; echo "fuzz-api: $document is not a valid OpenAPI document" >&2; exit 1; }

work_dirs=()
current_pid=
database=
# Stops this backend's parley and drops its database.
stop_backend() {
  if [ -n "$current_pid" ]; then kill "$current_pid" 2>/dev/null && wait "$current_pid" 2>/dev/null || true; fi
  current_pid=
  if [ -n "$database" ]; then psql "$PARLEY_TEST_DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true; fi
  database=
}
cleanup() {
  stop_backend
  if [ "${FUZZ_KEEP:-0}" = 1 ]; then
    [ ${#work_dirs[@]} -gt 0 ] && echo "fuzz-api: kept ${work_dirs[*]}"
  else
    for dir in "${work_dirs[@]}"; do rm -rf "$dir"; done
  fi
}
trap cleanup EXIT

# One schemathesis pass: fuzz PASS_NAME TOKEN SCHEMA URL WORK [filter options…]; appends its counts
# to $work/counts (operations, cases, failures, errors).
fuzz() {
  local name=$1 token=$2 schema=$3 url=$4 work=$5
  shift 5
  local report=$work/$name.json
  # The bearer token goes through the document's own security scheme (bearerAuth).
  cat >"$work/$name.toml" <<'TOML'
[auth.openapi.bearerAuth]
bearer = "${PARLEY_FUZZ_TOKEN}"

# An MCP client accepts both answers (the specification says it must); schemathesis sends no
# Accept of its own, and `/mcp` would then only ever answer 406.
[[operations]]
include-path-regex = "^/mcp$"
headers = { Accept = "application/json, text/event-stream" }
TOML
  local status=0
  (cd "$work" && PARLEY_FUZZ_TOKEN=$token SCHEMATHESIS_HOOKS="$root/scripts/fuzz_hooks.py" "$python" -m schemathesis.cli --config-file "$work/$name.toml" run "$schema" \
    --url "$url" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$max_examples" --seed "$seed" --workers 1 --request-timeout 20 \
    --generation-database none --no-color --warnings off \
    --report json --report-json-path "$report" ${FUZZ_ARGS:-} "$@") || status=$?
  [ -f "$report" ] || { echo "fuzz-api: $name: schemathesis wrote no report (exit $status)" >&2; return 1; }
  "$python" - "$report" "$name" "$status" >>"$work/counts" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
operations = report["operations"]
failures = sum(group["count"] for group in report["failures"])
errors = sum(group["count"] for group in report["errors"])
# A run that schemathesis ended with an error exit but no failure counted is a failure too.
if int(sys.argv[3]) != 0 and failures == 0 and errors == 0:
    errors = 1
print(sys.argv[2], operations["tested"], operations["selected"], report["test_cases"]["generated"], failures, errors)
PY
}

run_backend() {
  local backend=$1 work redis_url=
  work=$(mktemp -d "${TMPDIR:-/tmp}/parley-fuzz-$backend.XXXXXX")
  work_dirs+=("$work")
  : >"$work/counts"
  local -a environment=(
    # Refused tokens are part of the fuzzing; their per-IP limit would turn everything after the
    # 20th into 429. The per-user limit is on, and high, so that every authenticated answer
    # carries RateLimit-Policy and RateLimit for response_headers_conformance to check.
    PARLEY_RATELIMIT_AUTH_FAILURES=off PARLEY_TEST_RATELIMIT_USER="1000000 per minute"
    PARLEY_WEB_DIR="$root/Sources/ParleyServer/Web"
  )
  if [ "$backend" = postgres ]; then
    [ -n "${PARLEY_TEST_DATABASE_URL:-}" ] || { echo "fuzz-api: PARLEY_TEST_DATABASE_URL is not set" >&2; return 1; }
    database=parley_fuzz_$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
    psql "$PARLEY_TEST_DATABASE_URL" -qAtc "CREATE DATABASE $database" || return 1
    environment+=(PARLEY_DATABASE_URL="$("$python" -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PARLEY_TEST_DATABASE_URL" "$database")")
    if [ -n "${PARLEY_TEST_REDIS_URL:-}" ]; then
      # A Redis database of this script's own (e2e uses 1), emptied first.
      redis_url="${PARLEY_TEST_REDIS_URL%/*}/2"
      redis-cli -u "$redis_url" --no-auth-warning FLUSHDB >/dev/null || return 1
      environment+=(PARLEY_REDIS_URL="$redis_url")
    fi
  fi
  # (This function runs under `||`, where `set -e` does not act: every step checks itself.)
  local url
  url=$(env "${environment[@]}" PARLEY_BIN="$binary" "$root/scripts/serve-test-instance.sh" "$work") || {
    [ -f "$work/parley.pid" ] && current_pid=$(cat "$work/parley.pid")
    echo "fuzz-api: $backend: parley did not start" >&2
    return 1
  }
  current_pid=$(cat "$work/parley.pid")
  local user admin
  user=$(cd "$work" && "$binary" token --user alice --tenant acme) || return 1
  admin=$(cd "$work" && "$binary" token --user root --tenant acme --admin) || return 1

  # The document Parley serves, once it does; else the one in the repo (whose two routes for
  # the document itself are then left out).
  local schema=${FUZZ_SCHEMA:-}
  local -a skip_document=()
  if [ -z "$schema" ]; then
    if curl -fsS -o /dev/null "$url/openapi.yaml" && curl -fsS -o /dev/null "$url/openapi.json"; then
      schema=$url/openapi.yaml
    else
      schema=$document
      skip_document=(--exclude-path /openapi.yaml --exclude-path /openapi.json)
      echo "fuzz-api: this parley does not serve /openapi.yaml yet: fuzzing with $document, without its two routes"
    fi
  fi
  echo "fuzz-api: $backend${redis_url:+ with Redis}: $url, seed $seed, $max_examples examples per operation and phase"

  local status=0
  fuzz user "$user" "$schema" "$url" "$work" --exclude-path-regex '^/api/v1/admin/' "${skip_document[@]}" || status=1
  fuzz admin "$admin" "$schema" "$url" "$work" --include-path-regex '^/api/v1/admin/' || status=1

  stop_backend

  local total
  total=$(awk '{ tested += $2; selected += $3; cases += $4; failures += $5; errors += $6 }
    END { printf "%d of %d operations, %d generated cases, %d failures, %d errors", tested, selected, cases, failures, errors }' "$work/counts")
  while read -r name tested selected cases failures errors; do
    echo "fuzz-api: $backend/$name: $tested of $selected operations, $cases generated cases, $failures failures, $errors errors"
  done <"$work/counts"
  echo "fuzz-api: $backend: $total"
  if grep -q '"level":"error"' "$work/parley.log"; then
    echo "fuzz-api: $backend: parley logged errors (the last 10):"
    grep '"level":"error"' "$work/parley.log" | tail -10 | cut -c1-600
  fi
  awk '{ bad += $5 + $6 } END { exit bad > 0 }' "$work/counts" || status=1
  return $status
}

failed=()
for backend in $FUZZ_BACKENDS; do
  run_backend "$backend" || failed+=("$backend")
  stop_backend
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-api: failures on ${failed[*]} (seed $seed; FUZZ_SEED=$seed replays it)" >&2
  exit 1
fi
echo "fuzz-api: no failures on $FUZZ_BACKENDS"
