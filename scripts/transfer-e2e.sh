#!/usr/bin/env bash
# The export/import proof (Tests/transfer/transfer_test.py): an installation made through the API
# on SQLite (A) is moved with `parley export` / `parley import` into an empty PostgreSQL database
# (B) and from there into a new SQLite data directory (C). `parley audit verify` passes on each with
# the same events per log; a second import is refused and changes nothing; A, B and C answer every
# read alike (tasks, conversations, histories, feedback, flags, usage, the users' exports, the audit
# logs with their hashes); the exports of B and C hold A's rows; task numbers and ids go on as on A.
# Prints the figures. No Redis.
# Needs the PostgreSQL server scripts/test starts (PARLEY_TEST_DATABASE_URL) and psql.
#
#   PARLEY_BIN   the parley binary [.build/debug/parley]
#   KEEP_WORK=1  keep the logs and the export directories
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PARLEY_BIN=${PARLEY_BIN:-$root/.build/debug/parley}
[ -x "$PARLEY_BIN" ] || { echo "transfer-e2e: $PARLEY_BIN is missing (swift build, or set PARLEY_BIN)" >&2; exit 1; }
: "${PARLEY_TEST_DATABASE_URL:?start PostgreSQL first (scripts/test does)}"
command -v psql >/dev/null || { echo "transfer-e2e: psql is missing (apt-get install postgresql-client)" >&2; exit 1; }
. "$root/scripts/lib/e2e-env.sh"
# At exit: every server the test started is killed, the database dropped, WORK removed.
# The scripted model is a thread of the test itself.
e2e_work
# The import target B: a database of this run's own, empty.
e2e_database parley_transfer
python3 "$root/Tests/transfer/transfer_test.py" || { tail -n 20 "$WORK"/*.log >&2; exit 1; }
