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
# A user limit the test can reach: each chat turn costs about three requests.
PARLEY_URL=$(PARLEY_TEST_RATELIMIT_USER="40 per minute" "$root/scripts/serve-test-instance.sh" "$work")
export PARLEY_URL PARLEY_WORKDIR=$work
"$python" "$root/Tests/browser/ui_test.py" || { tail -n 20 "$work/parley.log" >&2; exit 1; }
echo "browser-e2e: screenshots in $SCREENSHOTS"
