#!/usr/bin/env bash
# End-to-end checks of the real binary, as a newcomer would use it: start with embedded defaults,
# mint a token, chat with curl, restart, continue the conversation; then the natural-language
# evaluation (the public dev set must pass 16/16).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary=${PARLEY_BIN:-$root/.build/debug/parley}
cases=${NL_CASES:-$root/../shared/nl/dev.jsonl}
work=$(mktemp -d)
stop() { [ -f "$work/parley.pid" ] && kill "$(cat "$work/parley.pid")" 2>/dev/null && wait "$(cat "$work/parley.pid")" 2>/dev/null || true; }
trap 'stop; rm -rf "$work"' EXIT

fail() { echo "e2e: $*" >&2; [ -f "$work/parley.log" ] && tail -20 "$work/parley.log" >&2; exit 1; }
chat() { # chat TOKEN JSON
  curl -sS -X POST "$url/api/v1/chat" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d "$2"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

url=$("$root/scripts/serve-test-instance.sh" "$work")
token=$(cd "$work" && "$binary" token --user alice --tenant acme)
[ -f "$work/data/dev-issuer-key.pem" ] || fail "no development key under ./data"

reply=$(chat "$token" '{"message": "add a task to buy milk"}')
[ "$(echo "$reply" | field response)" = "Added task 1: Buy milk." ] || fail "add: $reply"
conversation=$(echo "$reply" | field conversation_id)
reply=$(chat "$token" "{\"message\": \"what's on my list?\", \"conversation_id\": $conversation}")
echo "$reply" | field response | grep -q "1. Buy milk (pending)" || fail "list: $reply"
[ -f "$work/data/tenants/acme.sqlite" ] || fail "no tenant database under ./data/tenants"
grep -q '"route":"/api/v1/chat"' "$work/parley.log" || fail "no JSON access log line"
echo "e2e: newcomer story ok ($url)"

# A real restart: the conversation and the task survive.
stop
url=$("$root/scripts/serve-test-instance.sh" "$work")
reply=$(chat "$token" "{\"message\": \"mark it as done\", \"conversation_id\": $conversation}")
[ "$(echo "$reply" | field response)" = "Marked task 1 as complete: Buy milk." ] || fail "after restart: $reply"
echo "e2e: conversation continued after restart"

echo "e2e: natural-language evaluation of $cases"
python3 "$root/eval/nl_eval.py" --url "$url" --cases "$cases" --parley "$binary" --data-dir "$work/data"
echo "e2e: our own wider set of phrasings (eval/paraphrases.jsonl)"
python3 "$root/eval/nl_eval.py" --url "$url" --cases "$root/eval/paraphrases.jsonl" --parley "$binary" --data-dir "$work/data"
