#!/usr/bin/env bash
# The chat-path benchmark (issue 12): Parley against an instant OpenAI-compatible upstream (nginx),
# on SQLite and on PostgreSQL + Redis, driven by wrk, side by side with nginx answering directly.
# See bench/README.md for what each scenario does and how to read the table.
#
#   bench/run.sh                                      # .build/release/parley, everything (~40 min)
#   PARLEY_BIN_BASE=/tmp/parley-before bench/run.sh   # the same run with a baseline binary, ratios
#   BENCH_SCENARIOS=chat,nginx BENCH_BACKENDS=sqlite BENCH_DURATION=5 BENCH_REPEATS=1 bench/run.sh
#
# Environment (defaults in brackets):
#   PARLEY_BIN            the binary measured [.build/release/parley]; it is not built here
#   PARLEY_BIN_BASE       a baseline binary measured in the same run, interleaved repeat by repeat []
#   BENCH_BACKENDS        sqlite,postgres
#   BENCH_SCENARIOS       nginx,chat,chat-new,basic-chat,tasks-get,tasks-post,stream,mem100,hold (all)
#   BENCH_CONNS           wrk connection counts [1,10,50]
#   BENCH_THREADS         wrk threads, at most the connections [2]
#   BENCH_DURATION        seconds of each measured wrk run [20]
#   BENCH_WARMUP          seconds of the warm-up before the repeats of each row [3]
#   BENCH_REPEATS         measured runs per row; the table shows medians [3]
#   BENCH_STREAM_REQUESTS sequential streams of the time-to-first-delta scenario [200]
#   BENCH_HOLD_STREAMS    streams held open at once in the memory scenario [1000]
#   BENCH_HOLD_SECONDS    how long they are held once open [5]
#   BENCH_PROVIDER_KIND   openai (external: prompts are pseudonymized) or llamacpp (local) [openai]
#   BENCH_NGINX_WORKERS   nginx worker processes [1]
#   BENCH_RESULTS_DIR     where the table and JSON go [bench/results]
#   BENCH_KEEP=1          keep the temp dir (logs of every process, raw wrk output)
#
# Everything it starts listens on 127.0.0.1 only, lives in one temp dir, and is stopped by pid
# when the script exits (trap on EXIT), also after a failure or Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bench=$root/bench

abs() { case "$1" in /*) echo "$1" ;; *) echo "$root/$1" ;; esac; }
binary=$(abs "${PARLEY_BIN:-.build/release/parley}")
base_binary=${PARLEY_BIN_BASE:+$(abs "$PARLEY_BIN_BASE")}
backends=${BENCH_BACKENDS:-sqlite,postgres}
all_scenarios=nginx,chat,chat-new,basic-chat,tasks-get,tasks-post,stream,mem100,hold
scenarios=${BENCH_SCENARIOS:-$all_scenarios}
conns_list=${BENCH_CONNS:-1,10,50}
threads=${BENCH_THREADS:-2}
duration=${BENCH_DURATION:-20}
warmup=${BENCH_WARMUP:-3}
repeats=${BENCH_REPEATS:-3}
stream_requests=${BENCH_STREAM_REQUESTS:-200}
hold_streams=${BENCH_HOLD_STREAMS:-1000}
hold_seconds=${BENCH_HOLD_SECONDS:-5}
provider_kind=${BENCH_PROVIDER_KIND:-openai}
nginx_workers=${BENCH_NGINX_WORKERS:-1}
results_dir=$(abs "${BENCH_RESULTS_DIR:-bench/results}")

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }
has() { [[ ",$1," == *",$2,"* ]]; }

for name in ${scenarios//,/ }; do has "$all_scenarios" "$name" || die "unknown scenario $name (known: $all_scenarios)"; done
for name in ${backends//,/ }; do has sqlite,postgres "$name" || die "unknown backend $name (sqlite, postgres)"; done
[ -x "$binary" ] || die "no binary at $binary: build one (swift build -c release) or set PARLEY_BIN"
[ -z "$base_binary" ] || [ -x "$base_binary" ] || die "no baseline binary at $base_binary"
case "$binary$base_binary" in *"/debug/"*) log "WARNING: a debug build: the figures will mean nothing" ;; esac

# --- tools ------------------------------------------------------------------------------------
need_packages=()
command -v wrk >/dev/null || need_packages+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_packages+=(nginx-light)
command -v python3 >/dev/null || die "python3 is needed"
command -v curl >/dev/null || need_packages+=(curl)
if [ ${#need_packages[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null || die "missing: ${need_packages[*]} (apt-get install them)"
  log "installing ${need_packages[*]} with apt-get"
  apt-get update -qq >&2
  # Debian's nginx package would start the system service; policy-rc.d in containers stops that,
  # and we never use it: our nginx runs from its own config in the temp dir.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_packages[@]}" >&2
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

# --- bookkeeping and cleanup ------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/parley-bench.XXXXXX")
export PARLEY_SERVICES_STATE=$work/services
started_pids=()
pg_started= redis_started=
alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
stop_pid() { # stop_pid PID [SECONDS]: TERM, wait, KILL
  local pid=$1 limit=${2:-30} _
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 $((limit * 10))); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then log "pid $pid still running after ${limit}s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local status=$? k
  trap - EXIT INT TERM
  for ((k = ${#started_pids[@]} - 1; k >= 0; k--)); do stop_pid "${started_pids[k]}"; done
  [ -n "$redis_started" ] && "$root/scripts/stop-redis.sh" >/dev/null 2>&1 || true
  [ -n "$pg_started" ] && "$root/scripts/stop-postgres.sh" >/dev/null 2>&1 || true
  if [ "${BENCH_KEEP:-}" = 1 ] || [ $status -ne 0 ]; then
    log "logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { # wait_http URL SECONDS [PID]
  local _
  for _ in $(seq 1 $(($2 * 10))); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    [ -n "${3:-}" ] && ! alive "$3" && return 1
    sleep 0.1
  done
  return 1
}
results=$work/results.jsonl
wrklog=$work/wrk.log
: >"$results"
meta() { printf '{"setup":"%s","variant":"%s","repeat":%s}' "$1" "$2" "${3:-0}"; }

# --- the instant upstream: nginx --------------------------------------------------------------
nginx_port=$(free_port)
nginx_dir=$work/nginx
mkdir -p "$nginx_dir/tmp"
sed -e "s#@PREFIX@#$nginx_dir#g" -e "s#@PORT@#$nginx_port#g" -e "s#@WORKERS@#$nginx_workers#g" \
  "$bench/nginx.conf.template" >"$nginx_dir/nginx.conf"
"$nginx_bin" -t -q -c "$nginx_dir/nginx.conf" -p "$nginx_dir" || die "nginx refused the config"
"$nginx_bin" -c "$nginx_dir/nginx.conf" -p "$nginx_dir" >"$nginx_dir/stdout.log" 2>&1 &
nginx_pid=$!
started_pids+=("$nginx_pid")
nginx_url=http://127.0.0.1:$nginx_port
for _ in $(seq 1 50); do
  curl -fsS -o /dev/null -X POST "$nginx_url/v1/chat/completions" 2>/dev/null && break
  alive "$nginx_pid" || die "nginx did not start: $(cat "$nginx_dir/error.log" "$nginx_dir/stdout.log" 2>/dev/null)"
  sleep 0.1
done
log "nginx (pid $nginx_pid, $nginx_workers worker) on $nginx_url"

# --- the slow upstream of the held-streams scenario -------------------------------------------
slow_port=$(free_port)
slow_url=http://127.0.0.1:$slow_port
if has "$scenarios" hold; then
  python3 "$bench/slow_upstream.py" "$slow_port" >"$work/slow-upstream.log" 2>&1 &
  started_pids+=($!)
  wait_http "$slow_url/stats" 10 $! || die "the slow upstream did not start: $(cat "$work/slow-upstream.log")"
  log "slow upstream (pid ${started_pids[-1]}) on $slow_url"
fi

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
python3 "$bench/bench.py" machine --root "$root" --commit "$commit" --bin "$binary" ${base_binary:+--bin-base "$base_binary"} \
  >"$work/machine.json"

# --- nginx directly ---------------------------------------------------------------------------
run_wrk() { # run_wrk SCENARIO CONNS PID META [instance-or-url args...] ; warm-up when META is "warmup"
  local scenario=$1 conns=$2 pid=$3 meta=$4; shift 4
  if [ "$meta" = warmup ]; then
    python3 "$bench/bench.py" wrk --scenario "$scenario" --conns "$conns" --threads "$threads" --duration "$warmup" \
      --pid "$pid" --warmup --log "$wrklog" "$@"
  else
    python3 "$bench/bench.py" wrk --scenario "$scenario" --conns "$conns" --threads "$threads" --duration "$duration" \
      --pid "$pid" --meta "$meta" --out "$results" --log "$wrklog" "$@"
  fi
}

if has "$scenarios" nginx; then
  for conns in ${conns_list//,/ }; do
    log "nginx directly, $conns connections"
    run_wrk nginx "$conns" "$nginx_pid" warmup --url "$nginx_url"
    for r in $(seq 1 "$repeats"); do run_wrk nginx "$conns" "$nginx_pid" "$(meta nginx new "$r")" --url "$nginx_url"; done
  done
fi
if has "$scenarios" stream; then
  log "nginx directly, time to first byte of a stream"
  python3 "$bench/bench.py" ttfd --kind nginx --url "$nginx_url" --n "$stream_requests" --meta "$(meta nginx new)" --out "$results"
fi

# --- Parley -----------------------------------------------------------------------------------
variants=(new)
[ -n "$base_binary" ] && variants=(base new)
declare -A parley_pid parley_url instance_file
max_conns=1
for c in ${conns_list//,/ }; do [ "$c" -gt "$max_conns" ] && max_conns=$c; done
has "$scenarios" mem100 && [ "$max_conns" -lt 100 ] && max_conns=100
pg_url= redis_url=

start_parley() { # start_parley BACKEND VARIANT
  local backend=$1 variant=$2 bin dir port pid key url
  bin=$binary
  [ "$variant" = base ] && bin=$base_binary
  dir=$work/$backend-$variant
  mkdir -p "$dir/data"
  port=$(free_port)
  local -a env_args=()
  # Nothing of the caller's PARLEY_* configuration leaks in; cwd is the temp dir (no .env).
  for key in $(compgen -e | grep '^PARLEY_' || true); do env_args+=(-u "$key"); done
  env_args+=(
    PARLEY_HTTP_HOST=127.0.0.1 PARLEY_HTTP_PORT="$port" PARLEY_DATA_DIR="$dir/data" PARLEY_LOG_LEVEL=error
    PARLEY_AUTH_DEV=true
    "PARLEY_RATELIMIT_USER=1000000 per second" "PARLEY_RATELIMIT_IP=1000000 per second"
    "PARLEY_RATELIMIT_TENANT=1000000 per second"
    # The hold scenario opens its streams as one user of one tenant: the per-user and per-tenant
    # stream limits (5 and 500 by default) would refuse all but the first few.
    PARLEY_CHAT_MAX_STREAMS_PER_USER=1000 PARLEY_CHAT_MAX_STREAMS_PER_TENANT=100000
    PARLEY_MODEL_PROVIDERS=nginx,slow PARLEY_MODEL_ROUTE=nginx
    PARLEY_MODEL_PROVIDER_NGINX_KIND="$provider_kind" PARLEY_MODEL_PROVIDER_NGINX_BASE_URL="$nginx_url/v1"
    PARLEY_MODEL_PROVIDER_NGINX_MODEL=bench-model PARLEY_MODEL_PROVIDER_NGINX_TOOLS=yes
    PARLEY_MODEL_PROVIDER_SLOW_KIND="$provider_kind" PARLEY_MODEL_PROVIDER_SLOW_BASE_URL="$slow_url/v1"
    PARLEY_MODEL_PROVIDER_SLOW_MODEL=slow-model PARLEY_MODEL_PROVIDER_SLOW_TOOLS=yes
    PARLEY_MODEL_PROVIDER_SLOW_TIMEOUT_SECONDS=300
  )
  if [ "$backend" = postgres ]; then
    local database=parley
    [ "$variant" = base ] && database=parley_base
    local dbindex=0
    [ "$variant" = base ] && dbindex=1
    env_args+=(PARLEY_DATABASE_URL="${pg_url/\/parley\?//$database?}" PARLEY_REDIS_URL="${redis_url%/*}/$dbindex")
  fi
  (cd "$dir" && exec env "${env_args[@]}" "$bin" serve >>"$dir/parley.log" 2>&1) &
  pid=$!
  started_pids+=("$pid")
  url=http://127.0.0.1:$port
  wait_http "$url/api/v1/readyz" 120 "$pid" || { tail -20 "$dir/parley.log" >&2; die "Parley ($backend, $variant) did not become ready"; }
  parley_pid[$variant]=$pid
  parley_url[$variant]=$url
  instance_file[$variant]=$dir/instance.json
  python3 "$bench/bench.py" setup --url "$url" --bin "$bin" --data-dir "$dir/data" --conversations "$max_conns" \
    --out "$dir/instance.json" || { tail -20 "$dir/parley.log" >&2; die "preparing Parley ($backend, $variant) failed"; }
  log "Parley $variant ($backend, pid $pid) on $url: $max_conns conversations ready"
}

stop_parleys() {
  local variant
  for variant in "${variants[@]}"; do stop_pid "${parley_pid[$variant]}" 60; done
}

server_pids() { # pg=PID,redis=PID of the running servers (PostgreSQL backend)
  [ -n "$pg_url" ] || return 0
  # shellcheck disable=SC1091
  local pg redis
  pg=$(source "$PARLEY_SERVICES_STATE/postgres.env" && head -1 "$PG_BASE/data/postmaster.pid")
  redis=$(source "$PARLEY_SERVICES_STATE/redis.env" && cat "$REDIS_BASE/redis.pid")
  echo "pg=$pg,redis=$redis"
}

parley_scenarios=
for name in chat chat-new basic-chat tasks-get tasks-post stream mem100 hold; do has "$scenarios" "$name" && parley_scenarios=1; done
[ -n "$parley_scenarios" ] || backends=

for backend in ${backends//,/ }; do
  if [ "$backend" = postgres ] && [ -z "$pg_url" ]; then
    # Durable as in production: no PARLEY_PG_FAST (fsync and synchronous commit stay on).
    pg_started=1
    DATABASE_URL=$(PARLEY_INSTALL=1 "$root/scripts/start-postgres.sh" | sed -n 's/^DATABASE_URL=//p')
    redis_started=1
    REDIS_URL=$(PARLEY_INSTALL=1 "$root/scripts/start-redis.sh" | sed -n 's/^REDIS_URL=//p')
    [ -n "$DATABASE_URL" ] && [ -n "$REDIS_URL" ] || die "PostgreSQL or Redis did not start"
    pg_url=$DATABASE_URL redis_url=$REDIS_URL
    [ -n "$base_binary" ] && psql "$pg_url" -qAtc 'CREATE DATABASE parley_base' >/dev/null
  fi
  for variant in "${variants[@]}"; do start_parley "$backend" "$variant"; done
  servers=$(server_pids)

  for scenario in chat chat-new basic-chat tasks-get tasks-post; do
    has "$scenarios" "$scenario" || continue
    for conns in ${conns_list//,/ }; do
      log "$backend: $scenario, $conns connections"
      for variant in "${variants[@]}"; do
        run_wrk "$scenario" "$conns" "${parley_pid[$variant]}" warmup --instance "${instance_file[$variant]}"
      done
      for r in $(seq 1 "$repeats"); do
        for variant in "${variants[@]}"; do
          run_wrk "$scenario" "$conns" "${parley_pid[$variant]}" "$(meta "$backend" "$variant" "$r")" \
            --instance "${instance_file[$variant]}" --server-pids "$servers"
        done
      done
    done
  done

  if has "$scenarios" stream; then
    for variant in "${variants[@]}"; do
      log "$backend: time to first delta ($variant)"
      python3 "$bench/bench.py" ttfd --kind parley --url "${parley_url[$variant]}" --instance "${instance_file[$variant]}" \
        --n "$stream_requests" --meta "$(meta "$backend" "$variant")" --out "$results"
    done
  fi

  if has "$scenarios" mem100; then
    log "$backend: 100 clients chatting (memory)"
    for variant in "${variants[@]}"; do
      run_wrk mem100 100 "${parley_pid[$variant]}" warmup --instance "${instance_file[$variant]}"
    done
    for r in $(seq 1 "$repeats"); do
      for variant in "${variants[@]}"; do
        run_wrk mem100 100 "${parley_pid[$variant]}" "$(meta "$backend" "$variant" "$r")" \
          --instance "${instance_file[$variant]}" --server-pids "$servers"
      done
    done
  fi

  if has "$scenarios" hold; then
    for variant in "${variants[@]}"; do
      log "$backend: $hold_streams SSE streams held open ($variant)"
      python3 "$bench/bench.py" hold --url "${parley_url[$variant]}" --instance "${instance_file[$variant]}" \
        --upstream "$slow_url" --pid "${parley_pid[$variant]}" --n "$hold_streams" --hold-seconds "$hold_seconds" \
        --meta "$(meta "$backend" "$variant")" --out "$results"
    done
  fi

  stop_parleys
done

# --- the table --------------------------------------------------------------------------------
mkdir -p "$results_dir"
stem=$results_dir/$(date +%Y-%m-%d)-$commit
n=1
while [ -e "$stem.md" ]; do n=$((n + 1)); stem=$results_dir/$(date +%Y-%m-%d)-$commit-$n; done
python3 "$bench/bench.py" report --input "$results" --machine "$work/machine.json" --md "$stem.md" --json "$stem.json"
log "results: $stem.md and $stem.json"
