#!/usr/bin/env bash
# Starts the built `parley` on a free loopback port with its working directory in $1 (so its data
# lands in $1/data, the embedded default), waits until it is ready, and prints its base URL.
# The process id is written to $1/parley.pid. Used by scripts/test; not for production.
set -euo pipefail
workdir=$1
binary=${PARLEY_BIN:-$(cd "$(dirname "$0")/.." && pwd)/.build/debug/parley}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
mkdir -p "$workdir"
# The port comes from the environment to exercise the configuration layering. The evaluation
# replays hundreds of requests from one address within seconds, so the rate limits are off here
# (they have their own tests).
(cd "$workdir" && PARLEY_HTTP_PORT=$port PARLEY_RATELIMIT_IP=off PARLEY_RATELIMIT_USER=${PARLEY_TEST_RATELIMIT_USER:-off} PARLEY_RATELIMIT_TENANT=off \
  exec "$binary" serve >>"$workdir/parley.log" 2>&1) &
echo $! >"$workdir/parley.pid"
# Ready means the database answers and any local model server Parley runs has loaded its model.
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$port/api/v1/readyz" >/dev/null 2>&1; then
    echo "http://127.0.0.1:$port"
    exit 0
  fi
  sleep 0.1
done
echo "parley did not become ready; log:" >&2
cat "$workdir/parley.log" >&2
exit 1
