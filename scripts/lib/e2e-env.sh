# What the Python proofs' driver scripts share (replicas-e2e.sh, rollout-e2e.sh,
# backup-restore-e2e.sh, observability-e2e.sh); sourced, after `set -euo pipefail`:
#
#   e2e_work             WORK=$(mktemp -d), exported, and an EXIT trap that kills every process
#                        listed in $WORK/pids (also when the test died halfway), drops every
#                        database listed in $WORK/databases and removes WORK (KEEP_WORK=1 keeps it,
#                        with the logs). Tests/support/parley_e2e.py writes both lists.
#   e2e_database PREFIX  PARLEY_DATABASE_URL, exported: a new database PREFIX_<8 hex digits> of this
#                        run's own on PARLEY_TEST_DATABASE_URL's server, dropped at exit.
#   e2e_redis INDEX      PARLEY_REDIS_URL, exported: database INDEX on PARLEY_TEST_REDIS_URL's
#                        server, emptied first. Taken: e2e.sh 1, replicas-e2e.sh and fuzz-api.sh 2,
#                        rollout-e2e.sh 3, backup-restore-e2e.sh 4, observability-e2e.sh 5, tracing-e2e.sh 6,
#                        budget-e2e.sh 10
#                        (the Swift tests: 7, 8, 9, 11, 12).
#
# Messages name the script that sourced this (replicas-e2e, ...).

e2e_name=$(basename "$0" .sh)

e2e_cleanup() {
  local name
  [ -f "$WORK/pids" ] && xargs kill 2>/dev/null <"$WORK/pids" || true
  if [ -f "$WORK/databases" ]; then
    while read -r name; do
      psql "$PARLEY_TEST_DATABASE_URL" -qAtc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
    done <"$WORK/databases"
  fi
  [ -n "${KEEP_WORK:-}" ] && echo "$e2e_name: logs kept in $WORK" >&2 || rm -rf "$WORK"
}

e2e_work() {
  WORK=$(mktemp -d)
  export WORK
  trap e2e_cleanup EXIT
}

e2e_database() {
  local name
  name=$1_$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
  # Listed first: whatever happens from here on, the cleanup drops it.
  echo "$name" >>"$WORK/databases"
  psql "$PARLEY_TEST_DATABASE_URL" -qAtc "CREATE DATABASE $name"
  PARLEY_DATABASE_URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PARLEY_TEST_DATABASE_URL" "$name")
  export PARLEY_DATABASE_URL
}

e2e_redis() {
  PARLEY_REDIS_URL="${PARLEY_TEST_REDIS_URL%/*}/$1"
  export PARLEY_REDIS_URL
  redis-cli -u "$PARLEY_REDIS_URL" --no-auth-warning FLUSHDB >/dev/null
}
