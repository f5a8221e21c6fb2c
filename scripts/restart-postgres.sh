#!/usr/bin/env bash
# Restarts the PostgreSQL started by start-postgres.sh on the same port and data, for the
# connection-loss test. Mode: fast (default: sessions get FATAL 57P01, committed work is kept)
# or immediate (a crash: no shutdown checkpoint, recovery on start; with PARLEY_PG_FAST=1 this can
# lose acknowledged commits, so the restart test must not combine the two).
set -euo pipefail
mode=${1:-fast}
case "$mode" in fast | immediate) ;; *) echo "usage: $0 [fast|immediate]" >&2; exit 2 ;; esac
state_dir=${PARLEY_SERVICES_STATE:-${TMPDIR:-/tmp}/parley-services-$(id -u)}
state=$state_dir/postgres.env
[ -f "$state" ] || { echo "restart-postgres: nothing recorded in $state" >&2; exit 1; }
# shellcheck disable=SC1090
source "$state"
owner=
[ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1 && owner=postgres
as_owner() { if [ -n "$owner" ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }
# pg_ctl restart reuses the options the server was started with (postmaster.opts).
as_owner "$PG_BIN/pg_ctl" -D "$PG_BASE/data" -l "$PG_BASE/postgres.log" -m "$mode" -w -t 60 restart >/dev/null
echo "restart-postgres: restarted ($mode) on port $PG_PORT" >&2
