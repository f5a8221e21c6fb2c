"""Model budgets hold exactly across replicas: a tenant allowed N completions a month gets N model
calls, however many replicas ask at once, and every later turn is answered as configured.

Run by scripts/budget-e2e.sh, which provides:
  PARLEY_BIN               the parley binary
  PARLEY_DATABASE_URL      a fresh PostgreSQL database of this run
  PARLEY_REDIS_URL         a Redis database of this run (emptied)
  WORK                     a scratch directory (the replicas share it: one development key)
  BUDGET_N, BUDGET_M       the two tenants' budgets [30, 10]; BUDGET_THREADS the clients [16]

Two `parley serve` replicas on the one PostgreSQL and Redis, both with one provider, `counting`,
pointing at a scripted model (Tests/support/counting_model.py: plain text, no tool calls, a fixed
`usage`) that counts the completions it gets, by the `[tenant]` tag each message carries. The
model agent is on (default flags), so every turn that is let through is exactly one model call.
Budgets are set per tenant with the admin flags API (PATCH /api/v1/admin/flags).

  1. basic: tenant acme, budget.completions = N, onExhausted basic (the default); 3N turns from
     several users, concurrently, alternating between the replicas. Exactly N reach the model and
     are answered by it; the other 2N by the basic agent, with the budget notice. The usage report
     (either replica) says N used, 0 remaining; one budget.warning audit event; the exhausted
     metric, summed over the replicas, counts 2N for action basic.
  2. refuse: tenant globex, budget.completions = M, onExhausted refuse; 3M turns. Exactly M reach
     the model; the other 2M get 429 problem+json naming the budget, with Retry-After, and store
     nothing (M conversations, 2M messages).
  3. breakdown: acme's report by model (one, N completions) and by user (summing to N); its
     tokens as the model reported them; a malformed month is 400 naming `month`.

The figures are printed as a summary at the end.
"""

import collections
import concurrent.futures
import datetime
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from counting_model import COMPLETION_TOKENS, PROMPT_TOKENS, CountingModel  # noqa: E402
from parley_e2e import Parley, check, eventually, failures, parley_token, redis_cli, request  # noqa: E402

BIN = os.environ["PARLEY_BIN"]
REDIS_URL = os.environ["PARLEY_REDIS_URL"]
N = int(os.environ.get("BUDGET_N", "30"))
M = int(os.environ.get("BUDGET_M", "10"))
THREADS = int(os.environ.get("BUDGET_THREADS", "16"))

MODEL = "budget-model"
PROVIDER = "counting"
NOTICE = "This month's AI budget is used up, so I handled this with basic commands."
WARN_PERCENT = 80  # budget.warnPercent's default: the replicas leave it unset


class Replica(Parley):
    def __init__(self, name, model):
        super().__init__(name, BIN, ["serve"], model.env(PROVIDER))
        self.wait_ready(lambda: request("GET", self.url + "/api/v1/readyz")[0] == 200, seconds=30)


def token(user, tenant, admin=False):
    return parley_token(BIN, user, (tenant,), admin=admin)


def chat(replica, token, message):
    """POST /api/v1/chat in a new conversation: (status, headers with lower-case names, body).
    parley_e2e.request() drops the headers, and a refusal's Retry-After is part of the proof."""
    req = urllib.request.Request(replica.url + "/api/v1/chat", data=json.dumps({"message": message}).encode(), method="POST")
    req.add_header("Authorization", "Bearer " + token)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return 0, {}, {"error": str(error)}
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {"raw": raw.decode(errors="replace")}
    return status, {k.lower(): v for k, v in headers.items()}, body


def fire(replicas, tokens, tag, turns):
    """`turns` chat turns from THREADS clients at once, turn i on replica i % 2 and from user
    (i // 2) % len(tokens), each message tagged `[tag]` for the model's count."""
    def turn(i):
        return chat(replicas[i % 2], tokens[(i // 2) % len(tokens)], f"[{tag}] hello, this is turn {i}")

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(turn, range(turns)))


def outcome(status, body):
    """How a turn was answered: "model" (by the provider's model), "basic" (by the basic agent,
    saying the budget is spent), "refused" (429) or "other"."""
    response = body.get("response") or ""
    if status == 200 and body.get("model") == MODEL and body.get("fallback_used") is False and not response.startswith(NOTICE):
        return "model"
    if status == 200 and body.get("model") == "basic" and body.get("fallback_used") is True and response.startswith(NOTICE):
        return "basic"
    return "refused" if status == 429 else "other"


def set_budget(replicas, admin, tenant, flags):
    """PATCHes the tenant's flags through the first replica, then waits until both replicas see
    them (a replica caches flags for up to 2 s)."""
    status, view = request("PATCH", replicas[0].url + "/api/v1/admin/flags", admin, flags)
    check(status == 200 and all(view.get("set", {}).get(k) == v for k, v in flags.items()),
          f"{tenant}: flags set {json.dumps(flags)} ({status} {json.dumps(view)[:200]})")
    seen = eventually(lambda: all(
        all(request("GET", r.url + "/api/v1/admin/flags", admin)[1].get("effective", {}).get(k) == v for k, v in flags.items())
        for r in replicas), 10)
    check(seen, f"{tenant}: both replicas see the budget flags")


def usage(replica, admin, month=None):
    return request("GET", replica.url + "/api/v1/admin/usage" + (f"?month={month}" if month else ""), admin)


def warnings(replica, admin):
    status, page = request("GET", replica.url + "/api/v1/admin/audit?action=budget.warning&limit=100", admin)
    return [e for e in page.get("events", []) if e.get("action") == "budget.warning"] if status == 200 else []


def audit_drained():
    """The Redis audit queue is empty and nothing in it is held unacknowledged: every event
    enqueued so far is stored. (Not yet, should redis-cli fail: the stream or group is missing.)"""
    try:
        return (redis_cli(REDIS_URL, "XLEN", "parley:audit") == "0"
                and redis_cli(REDIS_URL, "XPENDING", "parley:audit", "writers").split("\n")[0] in ("", "0"))
    except subprocess.CalledProcessError:
        return False


def one_warning(replicas, admin, tenant, limit):
    """Exactly one budget.warning event, once the audit queue has drained (a second one would have
    been stored by then)."""
    eventually(lambda: len(warnings(replicas[0], admin)) >= 1, 15)
    time.sleep(1)
    eventually(audit_drained, 15)
    found = warnings(replicas[1], admin)
    check(len(found) == 1, f"{tenant}: budget.warning written once at {WARN_PERCENT} % of {limit} "
                           f"({len(found)}: {[(e.get('object'), e.get('detail')) for e in found]})")
    return len(found)


def metric(replicas, name, **labels):
    """The sum over both replicas of `name`'s series that carry `labels`."""
    total = 0.0
    for r in replicas:
        with urllib.request.urlopen(r.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        for line in text.splitlines():
            m = re.match(r"([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)", line)
            if not m or line.startswith("#") or m.group(1) != name:
                continue
            series = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            if all(series.get(k) == v for k, v in labels.items()):
                total += float(m.group(3))
    return int(total)


def next_month():
    """The first instant of next month, UTC, and this month as YYYY-MM."""
    now = datetime.datetime.now(datetime.timezone.utc)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime.datetime(year, month, 1, tzinfo=datetime.timezone.utc), now.strftime("%Y-%m")


def check_report(tenant, report, used, limit, action):
    """A usage report of the current month for a tenant with only a completions budget."""
    resets, month = next_month()
    budget = report.get("budget", {})
    check(report.get("tenant") == tenant and report.get("month") == month and report.get("completions") == used
          and budget.get("completions") == limit and budget.get("remaining_completions") == limit - used
          and budget.get("tokens") is None and budget.get("remaining_tokens") is None
          and budget.get("on_exhausted") == action and budget.get("resets_at") == resets.strftime("%Y-%m-%dT%H:%M:%SZ"),
          f"{tenant}: usage report: {used} of {limit} completions used, {limit - used} remaining, {action}, "
          f"resets {resets:%Y-%m-%d} ({json.dumps(report)[:300]})")


# --- 1. onExhausted basic ------------------------------------------------------------------------


def phase_basic(replicas, model, summary):
    admin = token("root", "acme", admin=True)
    users = [token(f"user{i}", "acme") for i in range(4)]
    status, report = usage(replicas[0], admin)
    check(status == 200 and report.get("completions") == 0 and report.get("budget", {}).get("completions") is None
          and report.get("budget", {}).get("remaining_completions") is None,
          f"acme before any budget: nothing used, no limit ({status} {json.dumps(report)[:200]})")
    set_budget(replicas, admin, "acme", {"budget.completions": N})
    check_report("acme", usage(replicas[1], admin)[1], 0, N, "basic")

    before = model.calls("acme")
    started = time.time()
    results = fire(replicas, users, "acme", 3 * N)
    took = time.time() - started
    reached = model.calls("acme") - before
    outcomes = collections.Counter(outcome(s, b) for s, _, b in results)
    other = [(s, json.dumps(b)[:160]) for s, _, b in results if outcome(s, b) not in ("model", "basic")]
    check(reached == N, f"acme: {reached} of {3 * N} concurrent turns reached the model across 2 replicas (budget {N})")
    check(outcomes["model"] == N, f"acme: {outcomes['model']} turns answered by the model ({MODEL})")
    check(outcomes["basic"] == 2 * N and not other,
          f"acme: {outcomes['basic']} turns answered by the basic agent with the budget notice; other answers: {len(other)} {other[:3]}")
    for r in replicas:
        check_report("acme", usage(r, admin)[1], N, N, "basic")
    warned = one_warning(replicas, admin, "acme", N)
    exhausted = metric(replicas, "parley_budget_exhausted_total", budget="completions", action="basic")
    check(exhausted == 2 * N, f"acme: parley_budget_exhausted_total{{budget=completions,action=basic}} over both replicas: {exhausted} (expected {2 * N})")
    summary.append(f"acme (budget.completions {N}, onExhausted basic): {3 * N} concurrent turns through 2 replicas in {took:.1f} s; "
                   f"{reached} reached the model, {outcomes['model']} answered by it, {outcomes['basic']} by the basic agent with the notice, "
                   f"{len(other)} otherwise; usage {N} used, 0 remaining; {warned} budget.warning; exhausted metric (basic) {exhausted}")
    return admin


# --- 2. onExhausted refuse -----------------------------------------------------------------------


def phase_refuse(replicas, model, summary):
    admin = token("root", "globex", admin=True)
    bob = token("bob", "globex")
    set_budget(replicas, admin, "globex", {"budget.completions": M, "budget.onExhausted": "refuse"})

    before = model.calls("globex")
    results = fire(replicas, [bob], "globex", 3 * M)
    reached = model.calls("globex") - before
    outcomes = collections.Counter(outcome(s, b) for s, _, b in results)
    refused = [(h, b) for s, h, b in results if outcome(s, b) == "refused"]
    other = [(s, json.dumps(b)[:160]) for s, _, b in results if outcome(s, b) not in ("model", "refused")]
    check(reached == M, f"globex: {reached} of {3 * M} concurrent turns reached the model across 2 replicas (budget {M})")
    check(outcomes["model"] == M and len(refused) == 2 * M and not other,
          f"globex: {outcomes['model']} answered 200 by the model, {len(refused)} refused with 429; other: {len(other)} {other[:3]}")

    resets, _ = next_month()
    resets_at = resets.strftime("%Y-%m-%dT%H:%M:%SZ")
    seconds_left = (resets - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    wrong = []
    for headers, problem in refused:
        retry_after = headers.get("retry-after", "")
        if not (headers.get("content-type", "").startswith("application/problem+json") and problem.get("status") == 429
                and problem.get("budget") == "completions" and problem.get("scope") == "tenant" and problem.get("limit") == M
                and problem.get("resets_at") == resets_at and retry_after.isdigit() and 0 < int(retry_after) <= seconds_left + 60):
            wrong.append((headers.get("content-type"), retry_after, json.dumps(problem)[:240]))
    example = refused[0] if refused else ({}, {})
    check(refused and not wrong,
          f"globex: every 429 is problem+json with budget completions, scope tenant, limit {M}, resets_at {resets_at} "
          f"and a Retry-After within it (wrong: {len(wrong)} {wrong[:2]}; e.g. Retry-After {example[0].get('retry-after')})")

    # Refused turns store nothing: bob's conversations and messages are those of the answered turns.
    _, conversations = request("GET", replicas[0].url + "/api/v1/conversations?limit=200", bob)
    _, history = request("GET", replicas[1].url + "/api/v1/chat/history?limit=200", bob)
    stored = (len(conversations.get("conversations", [])), len(history.get("messages", [])))
    check(stored == (M, 2 * M), f"globex: stored {stored[0]} conversations and {stored[1]} messages (expected {M} and {2 * M}): refused turns left nothing")
    check_report("globex", usage(replicas[1], admin)[1], M, M, "refuse")
    warned = one_warning(replicas, admin, "globex", M)
    refusals = metric(replicas, "parley_budget_exhausted_total", budget="completions", action="refuse")
    check(refusals == 2 * M, f"globex: parley_budget_exhausted_total{{budget=completions,action=refuse}} over both replicas: {refusals} (expected {2 * M})")
    summary.append(f"globex (budget.completions {M}, onExhausted refuse): {3 * M} concurrent turns; {reached} reached the model, "
                   f"{outcomes['model']} answered 200, {len(refused)} refused 429 (Retry-After {example[0].get('retry-after')} s, "
                   f"resets_at {resets_at}); stored {stored[0]} conversations / {stored[1]} messages; {warned} budget.warning; "
                   f"exhausted metric (refuse) {refusals}")


# --- 3. the breakdown ----------------------------------------------------------------------------


def phase_breakdown(replicas, acme_admin, summary):
    # Calls by model and tokens are added in batches (about a second); the totals are exact at once.
    def report():
        return usage(replicas[0], acme_admin)[1]

    settled = eventually(lambda: report().get("tokens") == N * (PROMPT_TOKENS + COMPLETION_TOKENS)
                         and sum(m.get("completions", 0) for m in report().get("models", [])) == N, 10)
    body = report()
    check(settled and body.get("input_tokens") == N * PROMPT_TOKENS and body.get("output_tokens") == N * COMPLETION_TOKENS,
          f"acme: tokens as the model reported them: {body.get('input_tokens')} in + {body.get('output_tokens')} out = {body.get('tokens')} "
          f"(expected {N} x ({PROMPT_TOKENS} + {COMPLETION_TOKENS}))")
    models = body.get("models", [])
    check(len(models) == 1 and models[0].get("provider") == PROVIDER and models[0].get("model") == MODEL
          and models[0].get("completions") == N and models[0].get("input_tokens") == N * PROMPT_TOKENS
          and models[0].get("output_tokens") == N * COMPLETION_TOKENS,
          f"acme: by model: one entry, {PROVIDER}/{MODEL} with {N} completions ({models})")
    users = body.get("users", [])
    by_user = {u.get("user_id"): u.get("completions", 0) for u in users}
    check(sum(by_user.values()) == N and set(by_user) <= {f"user{i}" for i in range(4)},
          f"acme: by user: {by_user}, summing to {sum(by_user.values())} (expected {N})")
    _, month = next_month()
    status, named = usage(replicas[1], acme_admin, month)
    check(status == 200 and named.get("month") == month and named.get("completions") == N,
          f"acme: ?month={month} is the current month's report ({status} {named.get('completions')})")
    status, problem = usage(replicas[1], acme_admin, "2026-13")
    check(status == 400 and problem.get("field") == "month", f"?month=2026-13 is 400 naming month ({status} {json.dumps(problem)[:160]})")
    summary.append(f"acme breakdown: models {[(m.get('provider'), m.get('model'), m.get('completions')) for m in models]}, "
                   f"users {by_user}, tokens {body.get('tokens')}")


if __name__ == "__main__":
    model = CountingModel(MODEL)
    replicas = []
    summary = []
    try:
        replicas = [Replica("a", model), Replica("b", model)]
        calls_at_start = model.calls()
        print("-- basic", flush=True)
        acme_admin = phase_basic(replicas, model, summary)
        print("-- refuse", flush=True)
        phase_refuse(replicas, model, summary)
        print("-- breakdown", flush=True)
        phase_breakdown(replicas, acme_admin, summary)
        warnings_total = metric(replicas, "parley_budget_warnings_total", budget="completions")
        check(warnings_total == 2, f"parley_budget_warnings_total{{budget=completions}} over both replicas: {warnings_total} (one per tenant)")
        untagged = model.calls() - calls_at_start - model.calls("acme") - model.calls("globex")
        check(untagged == 0, f"no other calls reached the model ({untagged})")
    finally:
        for r in replicas:
            r.stop()
        model.stop()
    print("budget summary:\n  " + "\n  ".join(summary), flush=True)
    print(f"{'all passed' if not failures else str(len(failures)) + ' failed'}", flush=True)
    sys.exit(1 if failures else 0)
