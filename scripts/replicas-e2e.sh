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
WORK=$(mktemp -d)
export WORK
database=parley_replicas_$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
cleanup() {
  # Every process the test started (replicas, workers), also when it died halfway.
  [ -f "$WORK/pids" ] && xargs kill 2>/dev/null <"$WORK/pids" || true
  [ -n "${KEEP_WORK:-}" ] && echo "replicas-e2e: logs kept in $WORK" >&2 || rm -rf "$WORK"
  psql "$PARLEY_TEST_DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql "$PARLEY_TEST_DATABASE_URL" -qAtc "CREATE DATABASE $database"
PARLEY_DATABASE_URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PARLEY_TEST_DATABASE_URL" "$database")
# A Redis database of this run's own (index 2), emptied first.
PARLEY_REDIS_URL="${PARLEY_TEST_REDIS_URL%/*}/2"
export PARLEY_DATABASE_URL PARLEY_REDIS_URL
redis-cli -u "$PARLEY_REDIS_URL" --no-auth-warning FLUSHDB >/dev/null
# The first replica creates the development key the others share; tenants appear on first use.
python3 "$root/Tests/replicas/replicas_test.py" || { tail -n 30 "$WORK"/*.log >&2; exit 1; }
