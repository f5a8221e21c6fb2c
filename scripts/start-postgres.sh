#!/usr/bin/env bash
# Starts a throwaway PostgreSQL (15 on this machine kind) on 127.0.0.1, on a free port, with its
# data in a temp dir, and prints how to reach it:
#
#   DATABASE_URL=postgres://parley:<password>@127.0.0.1:<port>/parley?sslmode=disable
#
# Use:  set -a; eval "$(scripts/start-postgres.sh)"; set +a
#
# Idempotent: when the instance recorded in the state file runs, it prints the same URL again;
# when it was stopped with `stop-postgres.sh --keep` (or died), it is started again on the same
# port and data, so a test can stop and start "the same" database.
#
# Environment:
#   PARLEY_SERVICES_STATE  where the state file lives (default ${TMPDIR:-/tmp}/parley-services-<uid>);
#                          give each concurrent test run its own.
#   PARLEY_PG_BIN          directory with initdb/pg_ctl (default: pg_config --bindir, then
#                          /usr/lib/postgresql/*/bin).
#   PARLEY_PG_FAST=1       fsync/synchronous_commit off: faster tests, but a crash
#                          (`restart-postgres.sh immediate`) may then lose acknowledged commits.
#   PARLEY_INSTALL=1 or CI set: install postgresql with apt-get when it is missing (as root).
#
# Runs the server as the `postgres` user when called as root (initdb refuses root).
set -euo pipefail

state_dir=${PARLEY_SERVICES_STATE:-${TMPDIR:-/tmp}/parley-services-$(id -u)}
state=$state_dir/postgres.env
log() { echo "start-postgres: $*" >&2; }

find_bin() {
  local dir
  for dir in "${PARLEY_PG_BIN:-}" "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

if ! bin=$(find_bin); then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null && { [ -n "${CI:-}" ] || [ "${PARLEY_INSTALL:-}" = 1 ]; }; then
    log "PostgreSQL is missing: installing it with apt-get"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
    bin=$(find_bin) || { log "initdb/pg_ctl still not found after the install"; exit 1; }
  else
    log "initdb/pg_ctl not found: apt-get install postgresql (or set PARLEY_PG_BIN, or PARLEY_INSTALL=1)"
    exit 1
  fi
fi

# As root, everything that touches the cluster runs as `postgres`.
owner=
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { log "running as root needs a 'postgres' user (initdb refuses root)"; exit 1; }
  owner=postgres
fi
as_owner() { if [ -n "$owner" ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

print_url() {
  echo "DATABASE_URL=postgres://parley:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/parley?sslmode=disable"
}

write_state() {
  mkdir -p "$state_dir"
  {
    printf 'PG_BASE=%q\n' "$PG_BASE"
    printf 'PG_PORT=%q\n' "$PG_PORT"
    printf 'PG_PASSWORD=%q\n' "$PG_PASSWORD"
    printf 'PG_BIN=%q\n' "$bin"
  } >"$state.tmp"
  mv "$state.tmp" "$state"
}

is_running() { [ -d "$PG_BASE/data" ] && as_owner "$bin/pg_ctl" -D "$PG_BASE/data" status >/dev/null 2>&1; }

start_server() { # start_server PORT → 0 when up
  local options="-c listen_addresses=127.0.0.1 -p $1 -k $PG_BASE/sock"
  if [ "${PARLEY_PG_FAST:-}" = 1 ]; then
    options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  as_owner "$bin/pg_ctl" -D "$PG_BASE/data" -l "$PG_BASE/postgres.log" -w -t 60 -o "$options" start >/dev/null
}

wait_ready() {
  local _
  for _ in $(seq 1 100); do
    PGPASSWORD=$PG_PASSWORD psql -h 127.0.0.1 -p "$PG_PORT" -U parley -d parley -Atqc 'SELECT 1' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# 1. A recorded instance: running → its URL; stopped → start it again on its port and data.
if [ -f "$state" ]; then
  # shellcheck disable=SC1090
  source "$state"
  if [ -d "${PG_BASE:-/nonexistent}/data" ]; then
    if is_running; then
      log "already running on port $PG_PORT (data $PG_BASE/data)"
      print_url
      exit 0
    fi
    log "restarting the stopped instance on port $PG_PORT (data $PG_BASE/data)"
    if ! start_server "$PG_PORT"; then
      # The port may have been taken meanwhile: the same data on another port.
      PG_PORT=$(free_port)
      log "port busy? retrying on $PG_PORT"
      start_server "$PG_PORT" || { tail -20 "$PG_BASE/postgres.log" >&2; exit 1; }
      write_state
    fi
    wait_ready || { log "not ready"; tail -20 "$PG_BASE/postgres.log" >&2; exit 1; }
    print_url
    exit 0
  fi
  log "stale state file (data dir gone): starting a new instance"
  rm -f "$state"
fi

# 2. A new instance in a temp dir.
PG_BASE=$(mktemp -d "${TMPDIR:-/tmp}/parley-pg.XXXXXX")
PG_PASSWORD=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
mkdir -p "$PG_BASE/sock"
printf '%s\n' "$PG_PASSWORD" >"$PG_BASE/pwfile"
chmod 600 "$PG_BASE/pwfile"
[ -n "$owner" ] && chown -R "$owner" "$PG_BASE"

# Password (SCRAM) over TCP, so the client's authentication is exercised; trust on the private socket.
as_owner "$bin/initdb" -D "$PG_BASE/data" -U parley --pwfile="$PG_BASE/pwfile" -E UTF8 --locale=C \
  --auth-local=trust --auth-host=scram-sha-256 >"$PG_BASE/initdb.log" 2>&1 \
  || { cat "$PG_BASE/initdb.log" >&2; exit 1; }
rm -f "$PG_BASE/pwfile"

started=
for _ in 1 2 3; do
  PG_PORT=$(free_port)
  if start_server "$PG_PORT"; then started=1; break; fi
  log "could not start on port $PG_PORT; trying another"
done
[ -n "$started" ] || { tail -20 "$PG_BASE/postgres.log" >&2; exit 1; }
write_state

as_owner "$bin/psql" -h "$PG_BASE/sock" -p "$PG_PORT" -U parley -d postgres -Atqc 'CREATE DATABASE parley' >/dev/null
wait_ready || { log "not ready"; tail -20 "$PG_BASE/postgres.log" >&2; exit 1; }
log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT, data $PG_BASE/data, log $PG_BASE/postgres.log"
print_url
