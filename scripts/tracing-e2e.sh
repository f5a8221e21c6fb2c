#!/usr/bin/env bash
# The tracing proof (issue 16, Tests/tracing/otlp_trace_test.py): Parley exports the spans of chat
# turns over OTLP/HTTP to a real receiver (opentelemetry-proto decodes them), on PostgreSQL + Redis
# with the tools in process, then with a `parley mcp` service (mcp.url) whose spans join the
# caller's trace; the tree, the GenAI attributes, the trace id in logs, audit events and the turn
# inspector, and no personal data in anything exported. Prints the trees it received. About 20 s.
# Needs the servers scripts/test starts: PARLEY_TEST_DATABASE_URL, PARLEY_TEST_REDIS_URL.
#
#   PARLEY_BIN     the parley binary [.build/debug/parley]
#   KEEP_WORK=1    keep the logs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PARLEY_BIN=${PARLEY_BIN:-$root/.build/debug/parley}
[ -x "$PARLEY_BIN" ] || { echo "tracing-e2e: $PARLEY_BIN is missing (swift build, or set PARLEY_BIN)" >&2; exit 1; }
: "${PARLEY_TEST_DATABASE_URL:?start PostgreSQL first (scripts/test does)}"
: "${PARLEY_TEST_REDIS_URL:?start Redis first (scripts/test does)}"
# The virtualenv scripts/install-deps.sh made has opentelemetry-proto.
python="${PARLEY_CACHE:-$HOME/.cache/parley}/venv/bin/python"
. "$root/scripts/lib/e2e-env.sh"
e2e_work
# Redis database 6 of this run's own (e2e-env.sh lists who has which).
e2e_redis 6
"$python" "$root/Tests/tracing/otlp_trace_test.py" || { tail -n 20 "$WORK"/*.log >&2; exit 1; }
