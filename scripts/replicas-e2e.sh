#!/usr/bin/env bash
# The production proofs: two replicas and audit workers on one PostgreSQL and one Redis, a
# killed worker, a Redis outage, a PostgreSQL restart under load (Tests/replicas/replicas_test.py).
# Needs the servers scripts/test starts: PARLEY_TEST_DATABASE_URL, PARLEY_TEST_REDIS_URL and the
# PARLEY_SERVICES_STATE they were started with (Redis and PostgreSQL are stopped and restarted).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
: "${PARLEY_TEST_DATABASE_URL:?start PostgreSQL first (scripts/test does)}"
: "${PARLEY_TEST_REDIS_URL:?start Redis first (scripts/test does)}"
: "${PARLEY_SERVICES_STATE:?the state dir of scripts/start-postgres.sh and start-redis.sh}"
export PARLEY_BIN=${PARLEY_BIN:-$root/.build/debug/parley}
. "$root/scripts/lib/e2e-env.sh"
# At exit: every process the test started (replicas, workers) is killed, the database dropped.
e2e_work
e2e_database parley_replicas
# A Redis database of this run's own (index 2), emptied first.
e2e_redis 2
# The first replica creates the development key the others share; tenants appear on first use.
python3 "$root/Tests/replicas/replicas_test.py" || { tail -n 30 "$WORK"/*.log >&2; exit 1; }
