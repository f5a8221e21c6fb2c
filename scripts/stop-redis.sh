#!/usr/bin/env bash
# Stops the Redis started by start-redis.sh (SIGTERM: Redis fsyncs its append-only file and
# exits) and removes its temp dir. Idempotent: nothing recorded, nothing to do.
#   --keep   stop only; keep data, port and state, so start-redis.sh brings the same one back
#            (the "Redis stopped, Redis back" test).
set -euo pipefail

keep=
[ "${1:-}" = --keep ] && keep=1
state_dir=${PARLEY_SERVICES_STATE:-${TMPDIR:-/tmp}/parley-services-$(id -u)}
state=$state_dir/redis.env
log() { echo "stop-redis: $*" >&2; }

[ -f "$state" ] || { log "nothing recorded in $state: nothing to stop"; exit 0; }
# shellcheck disable=SC1090
source "$state"

# Alive, and not a zombie waiting for an init that reaps slowly (as in some containers).
alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

pid=
[ -f "$REDIS_BASE/redis.pid" ] && pid=$(cat "$REDIS_BASE/redis.pid")
# Only the process recorded in our own pid file, and only if it is a redis-server.
if [ -n "$pid" ] && alive "$pid" && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
  kill -TERM "$pid"
  for _ in $(seq 1 200); do alive "$pid" || break; sleep 0.05; done
  if alive "$pid"; then
    log "still running after 10 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  log "stopped (port $REDIS_PORT)"
else
  log "not running"
fi
rm -f "$REDIS_BASE/redis.pid"

if [ -z "$keep" ]; then
  case "$REDIS_BASE" in
    "${TMPDIR:-/tmp}"/parley-redis.*) rm -rf "$REDIS_BASE" ;;
    *) log "not removing unexpected dir $REDIS_BASE" ;;
  esac
  rm -f "$state"
  log "removed its data"
fi
