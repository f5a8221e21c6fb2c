#!/usr/bin/env bash
# The backup-and-restore proof (Tests/backup/backup_restore_test.py): a running Parley is backed
# up online with the runbook's commands (docs/runbook.md#back-up-and-restore), restored into a
# fresh store, and the new Parley must show everything acknowledged before the backup, on SQLite
# (scripts/backup-sqlite.sh) and on PostgreSQL (pg_dump / pg_restore; with Redis when
# PARLEY_TEST_REDIS_URL is set). Needs the sqlite3 shell and the PostgreSQL client tools.
#   BACKENDS=sqlite scripts/backup-restore-e2e.sh    SQLite only (no PostgreSQL needed)
# PostgreSQL: databases of this run's own are created on PARLEY_TEST_DATABASE_URL's server and
# dropped at the end; Redis: database 4 of PARLEY_TEST_REDIS_URL (e2e uses 1, replicas and the fuzzer 2, rollout 3), emptied first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PARLEY_BIN=${PARLEY_BIN:-$root/.build/debug/parley}
export BACKENDS=${BACKENDS:-sqlite,postgres}
tools=sqlite3
case ",$BACKENDS," in
  *,postgres,*)
    : "${PARLEY_TEST_DATABASE_URL:?start PostgreSQL first (scripts/test does), or BACKENDS=sqlite}"
    tools="$tools pg_dump pg_restore psql"
    [ -z "${PARLEY_TEST_REDIS_URL:-}" ] || tools="$tools redis-cli" ;;
esac
for tool in $tools; do
  command -v "$tool" >/dev/null || { echo "backup-restore-e2e: $tool is missing (apt-get install sqlite3 postgresql-client)" >&2; exit 1; }
done
. "$root/scripts/lib/e2e-env.sh"
# At exit: every server the test started is killed, the databases it created are dropped.
e2e_work
python3 "$root/Tests/backup/backup_restore_test.py" || { tail -n 20 "$WORK"/*.log >&2; exit 1; }
