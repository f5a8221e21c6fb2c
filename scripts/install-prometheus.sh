#!/usr/bin/env bash
# Provides Prometheus and promtool for the alert-rule checks and the observability proof
# (scripts/observability-e2e.sh): Debian's `prometheus` package is downloaded with
# `apt-get download` and unpacked with `dpkg -x` into ${PARLEY_CACHE:-$HOME/.cache/parley}/prometheus,
# never installed, so no system service, user or data directory is set up and nothing is started.
# Both binaries are static Go programs; the package's other dependencies (the web console's
# JavaScript) are not needed for the HTTP API.
#
# Stdout carries exactly two lines, PROMETHEUS=<abs path> and PROMTOOL=<abs path>, so callers can
# `eval "$(scripts/install-prometheus.sh)"`; progress goes to stderr. Idempotent: a cache hit
# needs no root and no network. PROMETHEUS and PROMTOOL already set (to executables) win.
set -euo pipefail

exec 3>&1 1>&2                   # keep stdout clean for the two result lines
log() { echo "install-prometheus: $*"; }

if [ -n "${PROMETHEUS:-}" ] && [ -x "${PROMETHEUS}" ] && [ -n "${PROMTOOL:-}" ] && [ -x "${PROMTOOL}" ]; then
  printf 'PROMETHEUS=%s\nPROMTOOL=%s\n' "$PROMETHEUS" "$PROMTOOL" >&3
  exit 0
fi

CACHE="${PARLEY_CACHE:-$HOME/.cache/parley}"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"    # absolute, even if PARLEY_CACHE was relative
DIR="$CACHE/prometheus"
BIN="$DIR/usr/bin"

works() { [ -x "$BIN/prometheus" ] && [ -x "$BIN/promtool" ] && "$BIN/promtool" --version >/dev/null 2>&1; }

if works; then
  log "reused $("$BIN/prometheus" --version 2>&1 | head -1) in $DIR"
else
  command -v apt-get >/dev/null && command -v dpkg >/dev/null \
    || { log "error: needs apt-get and dpkg (Debian); or set PROMETHEUS and PROMTOOL"; exit 1; }
  sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  # apt's sandbox user must be able to write the download directory (else apt warns and downloads as root).
  chmod 0755 "$TMP"
  mkdir "$TMP/dl" && chmod 0777 "$TMP/dl"
  # On a fresh machine apt has no package lists yet: update once and try again.
  if ! (cd "$TMP/dl" && apt-get download -qq prometheus) 2>"$TMP/apt.err"; then
    log "apt-get download failed ($(tail -1 "$TMP/apt.err")); running apt-get update first"
    $sudo apt-get update -qq
    (cd "$TMP/dl" && apt-get download -qq prometheus)
  fi
  deb="$(ls "$TMP"/dl/prometheus_*.deb 2>/dev/null | head -1)"
  [ -n "$deb" ] || { log "error: apt-get download left no prometheus_*.deb"; exit 1; }
  # Unpacked beside the cache entry and moved into place, so an interrupted run leaves no half.
  rm -rf "$DIR.new"
  dpkg -x "$deb" "$DIR.new"
  [ -x "$DIR.new/usr/bin/prometheus" ] && [ -x "$DIR.new/usr/bin/promtool" ] \
    || { log "error: $(basename "$deb") holds no usr/bin/prometheus and usr/bin/promtool"; exit 1; }
  rm -rf "$DIR"
  mv "$DIR.new" "$DIR"
  works || { log "error: $BIN/promtool does not run"; exit 1; }
  log "unpacked $(basename "$deb") into $DIR"
fi
printf 'PROMETHEUS=%s\nPROMTOOL=%s\n' "$BIN/prometheus" "$BIN/promtool" >&3
