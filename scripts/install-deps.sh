#!/usr/bin/env bash
# Installs the system tools the tests use: curl, python3, PostgreSQL and Redis (the tests start
# their own servers on loopback with scripts/start-postgres.sh and scripts/start-redis.sh), and
# Prometheus with promtool in the cache (scripts/install-prometheus.sh).
# Idempotent: does nothing when they are present.
set -euo pipefail
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
command -v psql >/dev/null || missing+=(postgresql-client)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then missing+=(postgresql); fi
command -v redis-server >/dev/null || missing+=(redis-server)
# The web chat's browser tests: Chromium and its driver, from Debian (same source, same version).
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
# The shipping proofs: the image is built with buildah on a debootstrap base (podman imports it),
# and nginx fronts the blue/green replicas of the rollout proof.
command -v buildah >/dev/null || missing+=(buildah)
command -v podman >/dev/null || missing+=(podman)
command -v debootstrap >/dev/null || missing+=(debootstrap)
# The static release build links Foundation's URLSession support, which needs libcurl (as the Swift images have it).
[ -e /usr/lib/x86_64-linux-gnu/libcurl.so ] || [ -e /usr/lib/aarch64-linux-gnu/libcurl.so ] || missing+=(libcurl4-openssl-dev)
# The backup and restore proof (docs/runbook.md): SQLite online backup with the sqlite3 shell.
command -v sqlite3 >/dev/null || missing+=(sqlite3)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  # Debian's packages would start system-wide servers where services may start; the tests do not use them.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Prometheus and promtool (the alert rules' checks and scripts/observability-e2e.sh): Debian's
# package unpacked into ${PARLEY_CACHE:-$HOME/.cache/parley}/prometheus, not installed, so no
# service is set up or started. Scripts find them with `eval "$(scripts/install-prometheus.sh)"`
# (PROMETHEUS=…, PROMTOOL=…; a no-op once cached).
"$(dirname "$0")/install-prometheus.sh" >/dev/null

# The official MCP Python SDK (the client the MCP tests drive Parley with), Selenium (the
# browser tests), OpenAI's ChatKit package (whose types check /chatkit), PyYAML
# (scripts/openapi-json.py), openapi-spec-validator (the OpenAPI document) and schemathesis
# (scripts/fuzz-api.sh), kubernetes-validate (the Kubernetes manifests) and opentelemetry-proto (the
# OTLP receiver of scripts/tracing-e2e.sh): in a virtualenv outside the repo, created once and reused.
venv="${PARLEY_CACHE:-$HOME/.cache/parley}/venv"
if ! "$venv/bin/python" -c 'import mcp, selenium, chatkit.types, jwt, cryptography, yaml, openapi_spec_validator, schemathesis, kubernetes_validate, opentelemetry.proto.collector.trace.v1.trace_service_pb2' 2>/dev/null; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "mcp==2.3.0" "selenium==4.51.0" "openai-chatkit==1.6.5" "PyJWT[crypto]==2.15.1" \
    "PyYAML==6.0.4" "openapi-spec-validator==0.9.0" "schemathesis==4.32.5" \
    "kubernetes-validate==1.37.0" "opentelemetry-proto==1.45.2"
fi
