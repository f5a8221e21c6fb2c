#!/usr/bin/env bash
# Starts a throwaway Redis (7.0 from Debian) on 127.0.0.1, on a free port, with its data in a temp
# dir, and prints how to reach it:
#
#   REDIS_URL=redis://parley:<password>@127.0.0.1:<port>/0
#
# Use:  set -a; eval "$(scripts/start-redis.sh)"; set +a
#
# The default user is switched off and an ACL user `parley` with a password is made, so the
# client's AUTH (user and password from the URL) is exercised. Append-only file on (fsync every
# second): a `stop-redis.sh --keep` + `start-redis.sh` keeps the streams, as a real Redis restart would.
#
# Idempotent: when the instance recorded in the state file runs, it prints the same URL again;
# when it was stopped with `stop-redis.sh --keep` (or died), it is started again on the same
# port and data.
#
# Environment:
#   PARLEY_SERVICES_STATE  where the state file lives (default ${TMPDIR:-/tmp}/parley-services-<uid>).
#   PARLEY_INSTALL=1 or CI set: install redis-server with apt-get when it is missing (as root).
set -euo pipefail

state_dir=${PARLEY_SERVICES_STATE:-${TMPDIR:-/tmp}/parley-services-$(id -u)}
state=$state_dir/redis.env
log() { echo "start-redis: $*" >&2; }

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null && { [ -n "${CI:-}" ] || [ "${PARLEY_INSTALL:-}" = 1 ]; }; then
    log "redis-server is missing: installing it with apt-get"
    apt-get update -qq >&2
    # Debian's package would start a system-wide Redis on 6379 where services may start; ours
    # does not need it (and under policy-rc.d it is not started).
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >&2
  else
    log "redis-server not found: apt-get install redis-server (or PARLEY_INSTALL=1)"
    exit 1
  fi
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

print_url() { echo "REDIS_URL=redis://parley:${REDIS_PASSWORD}@127.0.0.1:${REDIS_PORT}/0"; }

write_state() {
  mkdir -p "$state_dir"
  {
    printf 'REDIS_BASE=%q\n' "$REDIS_BASE"
    printf 'REDIS_PORT=%q\n' "$REDIS_PORT"
    printf 'REDIS_PASSWORD=%q\n' "$REDIS_PASSWORD"
  } >"$state.tmp"
  mv "$state.tmp" "$state"
}

cli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --user parley --pass "$REDIS_PASSWORD" --no-auth-warning "$@"; }

is_running() { [ -f "$REDIS_BASE/redis.pid" ] && [ "$(cli PING 2>/dev/null)" = PONG ]; }

write_config() { # the port goes on the command line, so a restart can move it
  cat >"$REDIS_BASE/redis.conf" <<EOF
bind 127.0.0.1
protected-mode yes
daemonize yes
pidfile $REDIS_BASE/redis.pid
logfile $REDIS_BASE/redis.log
dir $REDIS_BASE
save ""
appendonly yes
appendfsync everysec
user default off
user parley on >$REDIS_PASSWORD ~* &* +@all
EOF
  chmod 600 "$REDIS_BASE/redis.conf"
}

start_server() { # start_server PORT → 0 when it answers PING
  rm -f "$REDIS_BASE/redis.pid"
  redis-server "$REDIS_BASE/redis.conf" --port "$1" >/dev/null || return 1
  local _
  for _ in $(seq 1 100); do
    [ "$(cli PING 2>/dev/null)" = PONG ] && return 0
    sleep 0.05
  done
  return 1
}

if [ -f "$state" ]; then
  # shellcheck disable=SC1090
  source "$state"
  if [ -f "${REDIS_BASE:-/nonexistent}/redis.conf" ]; then
    if is_running; then
      log "already running on port $REDIS_PORT (dir $REDIS_BASE)"
      print_url
      exit 0
    fi
    log "restarting the stopped instance on port $REDIS_PORT (dir $REDIS_BASE)"
    if ! start_server "$REDIS_PORT"; then
      REDIS_PORT=$(free_port)
      log "port busy? retrying on $REDIS_PORT"
      start_server "$REDIS_PORT" || { tail -20 "$REDIS_BASE/redis.log" >&2; exit 1; }
      write_state
    fi
    print_url
    exit 0
  fi
  log "stale state file (dir gone): starting a new instance"
  rm -f "$state"
fi

REDIS_BASE=$(mktemp -d "${TMPDIR:-/tmp}/parley-redis.XXXXXX")
REDIS_PASSWORD=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
write_config
started=
for _ in 1 2 3; do
  REDIS_PORT=$(free_port)
  if start_server "$REDIS_PORT"; then started=1; break; fi
  log "could not start on port $REDIS_PORT; trying another"
done
[ -n "$started" ] || { tail -20 "$REDIS_BASE/redis.log" >&2; exit 1; }
write_state
log "Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2) on 127.0.0.1:$REDIS_PORT, dir $REDIS_BASE, log $REDIS_BASE/redis.log"
print_url
