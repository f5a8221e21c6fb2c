#!/usr/bin/env bash
# The zero-downtime rollout proof (issue 14): nginx in front of two "blue" replicas on one
# PostgreSQL and one Redis, under steady load (plain and streamed chat, task REST); two "green"
# replicas start, nginx switches to them, the blue ones get SIGTERM; then the rollback the same
# way (Tests/rollout/rollout_test.py). Prints requests failed, acknowledged messages lost, streams
# cut (all must be 0) and the p99 during the switches. About a minute.
# Needs the servers scripts/test starts: PARLEY_TEST_DATABASE_URL, PARLEY_TEST_REDIS_URL.
#
#   PARLEY_BIN_BLUE, PARLEY_BIN_GREEN   the two releases [both .build/debug/parley]
#   PARLEY_HTTP_DRAIN_SECONDS           the replicas' http.drainSeconds [2]
#   ROLLOUT_STEADY_SECONDS              load before, between and after the switches [4]
#   KEEP_WORK=1                         keep the logs (replicas, nginx's access and error log)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
: "${PARLEY_TEST_DATABASE_URL:?start PostgreSQL first (scripts/test does)}"
: "${PARLEY_TEST_REDIS_URL:?start Redis first (scripts/test does)}"
export PARLEY_BIN_BLUE=${PARLEY_BIN_BLUE:-$root/.build/debug/parley}
export PARLEY_BIN_GREEN=${PARLEY_BIN_GREEN:-$PARLEY_BIN_BLUE}
export PARLEY_HTTP_DRAIN_SECONDS=${PARLEY_HTTP_DRAIN_SECONDS:-2}
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX_BIN" ] || { echo "rollout-e2e: nginx is needed (Debian: nginx-light)" >&2; exit 1; }
export NGINX_BIN
. "$root/scripts/lib/e2e-env.sh"
# At exit: every process the test started (replicas, nginx, the model) is killed, the database dropped.
e2e_work
e2e_database parley_rollout
# A Redis database of this run's own (index 3: e2e uses 1, replicas and the fuzzer 2), emptied first.
e2e_redis 3
python3 "$root/Tests/rollout/rollout_test.py" || { tail -n 20 "$WORK"/*.log "$WORK"/nginx/error.log >&2; exit 1; }
