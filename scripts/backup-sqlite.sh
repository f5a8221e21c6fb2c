#!/usr/bin/env bash
# Backs up an embedded (SQLite) Parley's data directory while Parley runs:
#
#   scripts/backup-sqlite.sh DATA_DIR DEST_DIR
#
# DEST_DIR (new, or empty) becomes a data directory of its own that Parley can start on as it is
# (`parley serve --data-dir DEST_DIR`):
#   - the control database parley.sqlite and every tenants/<id>.sqlite, each copied with SQLite's
#     online backup (`sqlite3 SRC ".backup DEST"`: a consistent snapshot of that file, taken while
#     Parley keeps reading and writing it), then checked with `PRAGMA integrity_check`;
#   - dev-issuer-key.pem (the development issuer's key: without it, every development token is
#     refused and a new key is made) and audit-dead-letter.jsonl (audit events that could not be
#     stored), copied with their modes, when present.
# Each database is a snapshot of its own moment; they need no common one (no table refers to
# another file). A tenant created while the backup runs may be missing from it.
# Needs the sqlite3 shell (Debian: apt-get install sqlite3). Exits non-zero on any failure.
# Its test is scripts/backup-restore-e2e.sh; docs/runbook.md says how to restore.
set -euo pipefail
usage() { echo "usage: $0 DATA_DIR DEST_DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
src=$1 dest=$2
log() { echo "backup-sqlite: $*" >&2; }
fail() { log "$*"; exit 1; }

command -v sqlite3 >/dev/null || fail "the sqlite3 shell is missing (apt-get install sqlite3)"
# sqlite3 would create a missing database: make sure this is a Parley data directory first.
[ -f "$src/parley.sqlite" ] || fail "$src/parley.sqlite not found: $src is not a Parley data directory (data.dir)"
if [ -e "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then
  fail "$dest exists and is not empty: back up into a new directory"
fi
umask 077
mkdir -p "$dest/tenants"

backup() { # backup SRC DEST
  # The shell's dot-command arguments are quoted like this; a path must not hold a double quote.
  case "$1$2" in *'"'*) fail "paths with a double quote are not supported: $1 $2" ;; esac
  sqlite3 -bail "$1" ".timeout 10000" ".backup \"$2\"" || fail "sqlite3 .backup of $1 failed"
  local check
  check=$(sqlite3 -bail "$2" "PRAGMA integrity_check" 2>&1) || fail "cannot read the copy $2: $check"
  [ "$check" = ok ] || fail "integrity check of the copy $2 failed: $check"
  log "$1 -> $2 ($(wc -c <"$2") bytes, integrity ok)"
}

backup "$src/parley.sqlite" "$dest/parley.sqlite"
count=0
shopt -s nullglob
for file in "$src"/tenants/*.sqlite; do
  backup "$file" "$dest/tenants/$(basename "$file")"
  count=$((count + 1))
done
for name in dev-issuer-key.pem audit-dead-letter.jsonl; do
  if [ -f "$src/$name" ]; then
    cp -p "$src/$name" "$dest/$name"
    log "$src/$name -> $dest/$name"
  fi
done
log "done: the control database and $count tenant database(s) in $dest"
