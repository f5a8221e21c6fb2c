#!/usr/bin/env bash
# The observability proof (issue 16): the alert rules, the example Prometheus configuration and
# the Grafana dashboard (deploy/prometheus/, deploy/grafana/) checked with promtool, then fired
# against a live Parley by a real Prometheus (Tests/observability/prometheus_test.py): a model
# provider failing, then all of them, chat switched off, a rate-limit storm, an issuer whose keys
# cannot be fetched; the alerts nothing provoked stay silent; every metric a panel or a rule uses
# is exposed with the labels they use. About 70 s.
# Needs the servers scripts/test starts: PARLEY_TEST_DATABASE_URL, PARLEY_TEST_REDIS_URL.
#
#   PARLEY_BIN     the parley binary [.build/debug/parley]
#   KEEP_WORK=1    keep the logs, Prometheus' TSDB and the last /metrics (metrics.txt)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PARLEY_BIN=${PARLEY_BIN:-$root/.build/debug/parley}
# Debian's prometheus and promtool, unpacked into the cache (scripts/install-deps.sh does it once).
prometheus_env=$("$root/scripts/install-prometheus.sh")   # an assignment, so that its failure stops the script
eval "$prometheus_env"
export PROMETHEUS PROMTOOL

# The files as shipped: syntax, the rules' unit tests (every alert fires and stays silent where it
# should), and the example configuration with the rules it loads.
cd "$root/deploy/prometheus"
"$PROMTOOL" check rules alerts.yaml
"$PROMTOOL" test rules alerts.test.yaml
"$PROMTOOL" check config prometheus.yml
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$root/deploy/grafana/parley.json" \
  || { echo "observability-e2e: deploy/grafana/parley.json is not valid JSON" >&2; exit 1; }
cd "$root"

[ -x "$PARLEY_BIN" ] || { echo "observability-e2e: $PARLEY_BIN is missing (swift build, or set PARLEY_BIN)" >&2; exit 1; }
: "${PARLEY_TEST_DATABASE_URL:?start PostgreSQL first (scripts/test does)}"
: "${PARLEY_TEST_REDIS_URL:?start Redis first (scripts/test does)}"
. "$root/scripts/lib/e2e-env.sh"
# At exit: Parley and Prometheus are killed, the database dropped, WORK removed (KEEP_WORK=1 keeps it).
e2e_work
e2e_database parley_observability
# A Redis database of this run's own (index 5: e2e uses 1, replicas and the fuzzer 2, rollout 3,
# backup-restore 4), emptied first.
e2e_redis 5
# No Lua script cached, as on a Redis just started or restarted (the earlier tests' runs loaded the
# rate limiter's): loading it on first use is normal operation and must count as no Redis error.
redis-cli -u "$PARLEY_REDIS_URL" --no-auth-warning SCRIPT FLUSH >/dev/null
python3 "$root/Tests/observability/prometheus_test.py" || { tail -n 20 "$WORK"/*.log >&2; exit 1; }
