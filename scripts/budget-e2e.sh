#!/usr/bin/env bash
# The model-budget proof (Tests/budget/budget_test.py): two replicas on one PostgreSQL and one
# Redis, both with one provider pointing at a scripted model that counts the calls it gets
# (Tests/support/counting_model.py). A tenant with a budget of N completions gets exactly N model
# calls under concurrent load through both replicas; the other turns are answered by the basic
# agent (onExhausted basic) or refused with 429 and nothing stored (refuse); the usage report,
# the budget.warning audit event and the metrics agree. Prints the figures. About 20 s.
# Needs the servers scripts/test starts: PARLEY_TEST_DATABASE_URL, PARLEY_TEST_REDIS_URL.
#
#   PARLEY_BIN          the parley binary [.build/debug/parley]
#   BUDGET_N, BUDGET_M  the budgets of the basic and the refusing tenant [30, 10]; 3x as many turns are sent
#   BUDGET_THREADS      concurrent clients [16]
#   KEEP_WORK=1         keep the logs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PARLEY_BIN=${PARLEY_BIN:-$root/.build/debug/parley}
[ -x "$PARLEY_BIN" ] || { echo "budget-e2e: $PARLEY_BIN is missing (swift build, or set PARLEY_BIN)" >&2; exit 1; }
: "${PARLEY_TEST_DATABASE_URL:?start PostgreSQL first (scripts/test does)}"
: "${PARLEY_TEST_REDIS_URL:?start Redis first (scripts/test does)}"
. "$root/scripts/lib/e2e-env.sh"
# At exit: both replicas are killed, the database dropped, WORK removed (KEEP_WORK=1 keeps it).
# The scripted model is a thread of the test itself.
e2e_work
e2e_database parley_budget
# A Redis database of this run's own (index 10; e2e-env.sh lists who has which), emptied first.
e2e_redis 10
# No Lua script cached, as on a Redis just started: the first concurrent reservations load the
# budget script themselves, and must still let exactly N calls through.
redis-cli -u "$PARLEY_REDIS_URL" --no-auth-warning SCRIPT FLUSH >/dev/null
python3 "$root/Tests/budget/budget_test.py" || { tail -n 20 "$WORK"/*.log >&2; exit 1; }
