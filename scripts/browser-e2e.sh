#!/usr/bin/env bash
# The web chat in headless Chromium (Tests/browser/ui_test.py): sign in, chat, tasks, feedback,
# history, conversations, the rate-limit message, a phone-sized window, the dark theme.
# Screenshots of every step land in $SCREENSHOTS (default .build/screenshots).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PARLEY_BIN=${PARLEY_BIN:-$root/.build/debug/parley}
export SCREENSHOTS=${SCREENSHOTS:-$root/.build/screenshots}
python=${PARLEY_PYTHON:-${PARLEY_CACHE:-$HOME/.cache/parley}/venv/bin/python}
"$python" -c 'import selenium' 2>/dev/null || { echo "browser-e2e: selenium is missing: run scripts/install-deps.sh" >&2; exit 1; }
work=$(mktemp -d)
stop() { [ -f "$work/parley.pid" ] && kill "$(cat "$work/parley.pid")" 2>/dev/null || true; }
trap 'stop; rm -rf "$work"' EXIT
rm -rf "$SCREENSHOTS"
# A user limit the test can reach (each chat turn costs about three requests) and alice, with
# every step before the 429 test, stays under even on a fast machine.
PARLEY_URL=$(PARLEY_TEST_RATELIMIT_USER="60 per minute" "$root/scripts/serve-test-instance.sh" "$work")
export PARLEY_URL PARLEY_WORKDIR=$work
"$python" "$root/Tests/browser/ui_test.py" || { tail -n 20 "$work/parley.log" >&2; exit 1; }
stop

# The same page with an identity provider instead of dev auth: the Authorization Code flow with PKCE.
idp_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
work2=$work/oidc
# The provider first: Parley fetches its keys when it starts.
"$python" "$root/Tests/browser/test_idp.py" "$idp_port" >"$work/idp.log" 2>&1 &
idp_pid=$!
trap 'kill $idp_pid 2>/dev/null; [ -f "$work2/parley.pid" ] && kill "$(cat "$work2/parley.pid")" 2>/dev/null; stop; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$idp_port/jwks" >/dev/null 2>&1 && break; sleep 0.1; done
PARLEY_URL=$(PARLEY_AUTH_DEV=false PARLEY_TENANTS_AUTO_PROVISION=true PARLEY_AUTH_OIDC_ISSUER="http://127.0.0.1:$idp_port" \
  PARLEY_AUTH_OIDC_AUDIENCE=parley PARLEY_AUTH_OIDC_ALGORITHMS=EdDSA PARLEY_WEB_OIDC_CLIENT_ID=parley-web \
  "$root/scripts/serve-test-instance.sh" "$work2")
PARLEY_URL=$PARLEY_URL IDP_URL="http://127.0.0.1:$idp_port" "$python" "$root/Tests/browser/ui_test.py" \
  || { tail -n 20 "$work2/parley.log" "$work/idp.log" >&2; exit 1; }
echo "browser-e2e: screenshots in $SCREENSHOTS"
