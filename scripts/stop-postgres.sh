#!/usr/bin/env bash
# Stops the PostgreSQL started by start-postgres.sh (fast shutdown: sessions are ended, every
# committed transaction is kept) and removes its temp dir. Idempotent: nothing recorded, nothing
# to do.
#   --keep   stop only; keep data, port and state, so start-postgres.sh brings the same one back.
set -euo pipefail

keep=
[ "${1:-}" = --keep ] && keep=1
state_dir=${PARLEY_SERVICES_STATE:-${TMPDIR:-/tmp}/parley-services-$(id -u)}
state=$state_dir/postgres.env
log() { echo "stop-postgres: $*" >&2; }

[ -f "$state" ] || { log "nothing recorded in $state: nothing to stop"; exit 0; }
# shellcheck disable=SC1090
source "$state"

owner=
[ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1 && owner=postgres
as_owner() { if [ -n "$owner" ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }

if [ -d "$PG_BASE/data" ] && as_owner "$PG_BIN/pg_ctl" -D "$PG_BASE/data" status >/dev/null 2>&1; then
  as_owner "$PG_BIN/pg_ctl" -D "$PG_BASE/data" -m fast -w -t 60 stop >/dev/null
  log "stopped (port $PG_PORT)"
else
  log "not running"
fi

if [ -z "$keep" ]; then
  case "$PG_BASE" in
    "${TMPDIR:-/tmp}"/parley-pg.*) rm -rf "$PG_BASE" ;;
    *) log "not removing unexpected dir $PG_BASE" ;;
  esac
  rm -f "$state"
  log "removed its data"
fi
