"""The alert rules and the dashboard against a live Parley and a real Prometheus (issue 16).

Run by scripts/observability-e2e.sh (after its promtool checks), which provides:
  PARLEY_BIN            the parley binary
  PARLEY_DATABASE_URL   a fresh PostgreSQL database of this run
  PARLEY_REDIS_URL      a Redis database of this run (emptied)
  PROMETHEUS            Debian's prometheus binary (scripts/install-prometheus.sh)
  WORK                  a scratch directory (logs, Prometheus' TSDB, the pids to kill at exit)

A scripted OpenAI-compatible model (this file, in a thread) serves two providers, `primary` and
`secondary` (POST /<provider>/v1/chat/completions: first a tool call of add_task, then, once the
tool's result comes back, a text answer; plain or streamed as SSE with a usage chunk), and can be
switched to answer HTTP 500 per provider. It also serves the JWKS of a second issuer,
`http://127.0.0.1:<port>/idp`, always with 500, so that `parley_jwks_fetch_failures_total` has an
issuer and a token with an unknown key id makes Parley fetch (and fail) again.

One `parley serve` on PostgreSQL and Redis, and Prometheus on loopback scraping it every second
with a test copy of deploy/prometheus/alerts.yaml whose `for:` durations and range windows are
divided by 30 (test_copy_of_alerts says why both). Before any traffic, the counters the alerts
take increase() of must exist for the labels the configuration names. The phases, each checked
through Prometheus' HTTP API (/api/v1/alerts, polled in the background for the whole run):

  1. healthy traffic: plain and streamed chats, the user-scoped chat, ChatKit, task REST; a token
     for the second issuer with an unknown key id (ParleyJWKSFetchFailing fires); a storm over
     the user rate limit (ParleyRateLimitRejectionsSpiking fires);
  2. `primary` fails: the answers come from `secondary` (ParleyModelFallbackRatioHigh and
     ParleyModelProviderCoolingDown fire, ParleyAllModelProvidersFailing does not);
  3. both fail: the basic agent answers (ParleyAllModelProvidersFailing fires);
  4. chat switched off for the tenant (PATCH /api/v1/admin/flags {"chatbot.enabled": false}):
     chats answer 503 (ParleyErrorRatioHigh fires).

The alerts that nothing provoked (audit dead letters, database and Redis errors, readiness,
latency, the audit queue, the instance down) must never fire, and the stores' error counters stay
0 (the driver empties Redis's script cache first, as on a fresh Redis, so that loading the rate
limiter's script is part of the run). Then the exposition itself: every
metric name in an expression of the dashboard (deploy/grafana/parley.json) and of alerts.yaml is
exposed by the live Parley, the metrics carry the labels the rules and panels group by, the chat
routes' label values are the ones ParleyChatLatencyHigh selects, and every panel's expression
evaluates on Prometheus to some data. Statically: every runbook_url names a heading of
docs/runbook.md.
"""

import base64
import http.client
import http.server
import importlib.util
import json
import os
import re
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests", "support"))
from parley_e2e import Parley, Process, check, failures, free_port, parley_token, request  # noqa: E402

ALERTS = os.path.join(ROOT, "deploy", "prometheus", "alerts.yaml")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "parley.json")
RUNBOOK = os.path.join(ROOT, "docs", "runbook.md")

# The alerts the phases provoke; every other alert of alerts.yaml must stay silent.
PROVOKED = {
    "ParleyRateLimitRejectionsSpiking", "ParleyJWKSFetchFailing", "ParleyModelFallbackRatioHigh",
    "ParleyModelProviderCoolingDown", "ParleyAllModelProvidersFailing", "ParleyErrorRatioHigh",
}
# Series Prometheus makes itself, which an alert may use although Parley does not expose them.
PROMETHEUS_SERIES = {"up"}
# What the rules and panels rely on: each metric's type and the labels they select or group by
# (a series may carry more).
EXPECTED = {
    "parley_http_requests_total": ("counter", {"method", "route", "status"}),
    "parley_http_request_duration_seconds": ("histogram", {"method", "route"}),
    "parley_tool_calls_total": ("counter", {"tool", "outcome"}),
    "parley_tool_call_duration_seconds": ("histogram", {"tool"}),
    "parley_chat_replies_total": ("counter", {"model", "fallback"}),
    "parley_model_calls_total": ("counter", {"provider", "model", "outcome"}),
    "parley_model_call_duration_seconds": ("histogram", {"provider"}),
    "parley_model_time_to_first_token_seconds": ("histogram", {"provider"}),
    "parley_model_tokens_total": ("counter", {"provider", "model", "type"}),
    "parley_model_fallbacks_total": ("counter", {"provider", "reason"}),
    "parley_model_provider_cooling_down": ("gauge", {"provider"}),
    "parley_ready": ("gauge", set()),
    "parley_build_info": ("gauge", {"version"}),
    "parley_jwks_fetch_failures_total": ("counter", {"issuer"}),
    "parley_database_operations_in_flight": ("gauge", {"backend"}),
    "parley_database_pool_connections_max": ("gauge", {"backend"}),
    "parley_database_errors_total": ("counter", {"backend"}),
    "parley_redis_connections_open": ("gauge", set()),
    "parley_redis_pool_connections": ("gauge", set()),
    "parley_redis_errors_total": ("counter", set()),
    "parley_auth_failures_total": ("counter", set()),
    "parley_rate_limited_total": ("counter", {"policy"}),
    "parley_rate_limiter_failures_total": ("counter", set()),
    "parley_audit_queue_events": ("gauge", set()),
    "parley_audit_events_written_total": ("counter", set()),
    "parley_audit_dead_letters_total": ("counter", set()),
}
CHAT_ROUTES = {"/api/v1/chat", "/api/{user_id}/chat", "/chatkit"}


# --- the scripted model (and the second issuer's failing JWKS) ----------------------------------

class Script:
    lock = threading.Lock()
    failing = set()  # provider names answering 500
    calls = {}  # provider -> number of chat completion requests


class ScriptedModel(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/idp/"):
            self.reply(500, {"error": "the identity provider is down (scripted)"})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        match = re.fullmatch(r"/(\w+)/v1/chat/completions", self.path)
        if not match:
            return self.reply(404, {"error": "not found"})
        provider = match.group(1)
        with Script.lock:
            Script.calls[provider] = Script.calls.get(provider, 0) + 1
            failing = provider in Script.failing
        if failing:
            return self.reply(500, {"error": {"message": f"{provider} is down (scripted)", "type": "server_error"}})
        model = body.get("model", provider)
        messages = body.get("messages", [])
        usage = {"prompt_tokens": 40 + len(messages), "completion_tokens": 9, "total_tokens": 49 + len(messages)}
        if messages and messages[-1].get("role") == "tool":
            text = f"Done, {provider} added it to your list."
            if not body.get("stream"):
                return self.reply(200, completion(model, {"role": "assistant", "content": text}, "stop", usage))
            chunks = [chunk(model, {"role": "assistant", "content": ""})]
            chunks += [chunk(model, {"content": word + " "}) for word in text.split(" ")]
            return self.stream(chunks + [chunk(model, {}, "stop"), usage_chunk(model, usage)])
        question = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
        title = re.sub(r"^add a task to ", "", question.strip())[:80] or "something"
        arguments = json.dumps({"title": title})
        if not body.get("stream"):
            call = {"id": "call_1", "type": "function", "function": {"name": "add_task", "arguments": arguments}}
            return self.reply(200, completion(model, {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls", usage))
        chunks = [chunk(model, {"role": "assistant", "content": None}),
                  chunk(model, {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "add_task", "arguments": ""}}]})]
        chunks += [chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": arguments[i:i + 8]}}]}) for i in range(0, len(arguments), 8)]
        return self.stream(chunks + [chunk(model, {}, "tool_calls"), usage_chunk(model, usage)])

    def stream(self, chunks):
        """Server-Sent Events, chunked, a few milliseconds apart (a measurable first token)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for payload in chunks + ["[DONE]"]:
            data = b"data: " + (payload if isinstance(payload, str) else json.dumps(payload)).encode() + b"\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            time.sleep(0.01)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def completion(model, message, finish, usage):
    return {"id": "chatcmpl-obs", "object": "chat.completion", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}


def chunk(model, delta, finish=None):
    return {"id": "chatcmpl-obs", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def usage_chunk(model, usage):
    return {"id": "chatcmpl-obs", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
            "choices": [], "usage": usage}


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


# --- PromQL and the exposition ------------------------------------------------------------------

PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                "offset", "bool", "inf", "nan", "atan2"}


def metric_names(expr):
    """The metric names a PromQL expression selects: identifiers that are neither functions nor
    keywords, once strings, label matchers, ranges and grouping clauses are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w$:.])[A-Za-z_:][\w:]*", text):
        name = m.group(0)
        if text[m.end():].lstrip().startswith("(") or name.lower() in PROMQL_WORDS:
            continue  # a function call (or an aggregation), or a keyword
        names.add(name)
    return names


def parse_exposition(text):
    """{name: type} from the TYPE lines, and [(sample name, labels)] of every sample."""
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
        elif line and not line.startswith("#"):
            m = re.match(r"([A-Za-z_:][\w:]*)(\{(.*)\})?\s+(\S+)", line)
            if m:
                labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
                samples.append((m.group(1), labels, m.group(4)))
    return types, samples


def exposed_names(types, samples):
    """Every name a query can select: the samples' names, and a histogram's (summary's) series."""
    names = {name for name, _, _ in samples}
    for name, kind in types.items():
        if kind == "histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
        elif kind == "summary":
            names |= {name, name + "_sum", name + "_count"}
        else:
            names.add(name)
    return names


def alert_rules():
    """(alert name, expr, runbook_url) of alerts.yaml, read without a YAML library: each rule's
    `expr:` is one line or a `|` block, as the file writes them."""
    rules, current, block = [], None, None
    for line in open(ALERTS, encoding="utf-8"):
        stripped = line.rstrip("\n")
        if block is not None:
            if stripped.strip() and (len(stripped) - len(stripped.lstrip())) > block[0]:
                current["expr"] += stripped.strip() + "\n"
                continue
            block = None
        m = re.match(r"\s*- alert:\s*(\S+)", stripped)
        if m:
            current = {"alert": m.group(1), "expr": "", "runbook_url": None}
            rules.append(current)
            continue
        m = re.match(r"(\s*)expr:\s*(.*)$", stripped)
        if m and current is not None:
            if m.group(2).strip() in ("|", ">", "|-", ">-"):
                block = (len(m.group(1)),)
            else:
                current["expr"] = m.group(2).strip()
            continue
        m = re.match(r'\s*runbook_url:\s*"?([^"]+)"?\s*$', stripped)
        if m and current is not None:
            current["runbook_url"] = m.group(1)
    return rules


def dashboard_exprs():
    """(panel title, expr) of every target in the dashboard, rows' nested panels included."""
    found = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((panel.get("title", "?"), target["expr"]))
            walk(panel.get("panels", []))

    with open(DASHBOARD, encoding="utf-8") as f:
        dashboard = json.load(f)
    walk(dashboard["panels"])
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        m = re.match(r"label_values\((\w+)", query or "")
        if m:
            found.append((f"variable {variable['name']}", m.group(1)))
    return found


TIME_SCALE = 30  # a minute of the shipped rules is 2 s in the test copy


def scaled(duration):
    """`5m` -> `10s`: a duration of alerts.yaml divided by TIME_SCALE (at least 4 s for a range
    window, so that it holds several of the 1-second scrapes)."""
    value, unit = int(duration[:-1]), duration[-1]
    seconds = value * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit] // TIME_SCALE
    return f"{seconds}s"


def test_copy_of_alerts(path):
    """alerts.yaml with every `for:` and every range window divided by TIME_SCALE, so that the
    alerts fire within the test: the rules' logic and thresholds are the shipped ones, only their
    patience is cut (Prometheus scrapes and evaluates every second here). Both shrink by the same
    factor on purpose: where a rule's window is shorter than its `for` (so that one burst never
    fires), it still is, and a single event the shipped rule ignores is ignored here too. The
    short windows also let one phase's traffic leave the rules' view before the next phase."""
    text = open(ALERTS, encoding="utf-8").read()
    text = (f"# TEST COPY of deploy/prometheus/alerts.yaml made by Tests/observability/prometheus_test.py:\n"
            f"# every `for:` and range window divided by {TIME_SCALE}.\n") + text
    text = re.sub(r"(?m)^(\s*for:\s*)(\d+[smhd])", lambda m: m.group(1) + scaled(m.group(2)), text)
    text = re.sub(r"\[(\d+[smhd])\]", lambda m: f"[{max(4, int(scaled(m.group(1))[:-1]))}s]", text)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# --- Prometheus -----------------------------------------------------------------------------------

class Prometheus(Process):
    def __init__(self, binary, parley_address, rules):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        work = os.environ["WORK"]
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: parley
    metrics_path: /metrics
    static_configs:
      - targets: ["{parley_address}"]
""")
        super().__init__("prometheus", [binary, f"--config.file={config}", f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
                                        f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"])

    def api(self, path, **params):
        status, body = request("GET", self.url + path + ("?" + urllib.parse.urlencode(params) if params else ""), timeout=10)
        return body if status == 200 and body.get("status") == "success" else None

    def query(self, expr):
        body = self.api("/api/v1/query", query=expr)
        return None if body is None else body["data"]["result"]


class AlertWatch:
    """Polls /api/v1/alerts every 0.5 s; keeps, per alert name, the first firing instance seen."""

    def __init__(self, prometheus):
        self.prometheus = prometheus
        self.firing = {}  # name -> (seconds since start, labels, annotations)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.began = time.time()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.is_set():
            body = self.prometheus.api("/api/v1/alerts")
            for alert in (body or {}).get("data", {}).get("alerts", []):
                if alert.get("state") == "firing":
                    name = alert["labels"].get("alertname")
                    with self.lock:
                        if name not in self.firing:
                            self.firing[name] = (time.time() - self.began, alert["labels"], alert.get("annotations", {}))
                            print(f"  ... {name} firing {alert['labels']}", flush=True)
            self.stopping.wait(0.5)

    def wait_for(self, name, seconds, keep_going=None):
        """Waits until `name` has fired (calling `keep_going()` meanwhile, e.g. more traffic)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            with self.lock:
                if name in self.firing:
                    return self.firing[name]
            if keep_going:
                keep_going()
            time.sleep(0.3)
        with self.lock:
            return self.firing.get(name)

    def seen(self):
        with self.lock:
            return dict(self.firing)


# --- the client ---------------------------------------------------------------------------------

def post_stream(address, path, token, body, headers=None):
    """A streamed POST; (status, [(event name, data)]) (the SSE `event:` names, or ChatKit's `type`)."""
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("POST", path, json.dumps(body).encode(),
                           {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        if response.status != 200 or "text/event-stream" not in (response.getheader("Content-Type") or ""):
            return response.status, [("body", response.read()[:300].decode(errors="replace"))]
        events, event, lines = [], None, []
        for raw in response:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                lines.append(line[5:].strip())
            elif line == "" and lines:
                data = json.loads("\n".join(lines))
                events.append((event or data.get("type"), data))
                event, lines = None, []
        return response.status, events
    finally:
        connection.close()


def metrics_text(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        return response.read().decode()


def forged_token(issuer, kid):
    """A token that names `issuer` and a key id nobody published (its signature is never checked:
    Parley first needs the key, and fetching it fails)."""
    def b64(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    now = int(time.time())
    return ".".join([b64({"alg": "RS256", "typ": "JWT", "kid": kid}),
                     b64({"iss": issuer, "sub": "mallory", "aud": "parley", "iat": now, "exp": now + 300, "tenant": "acme"}),
                     base64.urlsafe_b64encode(b"\x00" * 256).rstrip(b"=").decode()])


def main():
    began = time.time()
    binary = os.environ["PARLEY_BIN"]

    # --- static: the runbook links -------------------------------------------------------------
    spec = importlib.util.spec_from_file_location("check_doc_links", os.path.join(ROOT, "scripts", "check-doc-links.py"))
    doc_links = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(doc_links)
    headings = doc_links.anchors(RUNBOOK)
    rules = alert_rules()
    bad = [(r["alert"], r["runbook_url"]) for r in rules
           if not r["runbook_url"] or not re.fullmatch(r"https://\S+/docs/runbook\.md#[\w-]+", r["runbook_url"])
           or r["runbook_url"].split("#", 1)[1] not in headings]
    check(rules and not bad, f"every alert's runbook_url names a heading of docs/runbook.md ({len(rules)} alerts; wrong: {bad})")
    bases = {r["runbook_url"].split("#", 1)[0] for r in rules if r["runbook_url"]}
    check(len(bases) == 1, f"one base URL for every runbook_url ({sorted(bases)})")

    # --- the processes ---------------------------------------------------------------------------
    model_port = free_port()
    model = ThreadingServer(("127.0.0.1", model_port), ScriptedModel)
    threading.Thread(target=model.serve_forever, daemon=True).start()
    issuer = f"http://127.0.0.1:{model_port}/idp"
    env = {"PARLEY_MODEL_PROVIDERS": "primary,secondary", "PARLEY_MODEL_FAILURE_THRESHOLD": "3",
           "PARLEY_MODEL_FAILURE_WINDOW_SECONDS": "30", "PARLEY_MODEL_COOL_DOWN_SECONDS": "30",
           "PARLEY_RATELIMIT_USER": "120 per minute", "PARLEY_AUTH_DEV": "true",
           "PARLEY_AUTH_OIDC_ISSUER": issuer, "PARLEY_AUTH_OIDC_JWKS_URL": issuer + "/jwks",
           "PARLEY_AUTH_OIDC_AUDIENCE": "parley",
           # A budget far above the test's calls: parley_budget_remaining{tenant} is exposed (the
           # rules use it) and ParleyModelBudgetSpent stays silent.
           "PARLEY_BUDGET_COMPLETIONS": "1000000"}
    for name in ("primary", "secondary"):
        key = "PARLEY_MODEL_PROVIDER_" + name.upper()
        env.update({key + "_KIND": "openai", key + "_BASE_URL": f"http://127.0.0.1:{model_port}/{name}/v1",
                    key + "_MODEL": f"obs-{name}", key + "_TOOLS": "yes", key + "_EXTERNAL": "false",
                    key + "_TIMEOUT_SECONDS": "10"})
    parley = Parley("parley", binary, ["serve"], env)
    parley.wait_ready(lambda: request("GET", parley.url + "/api/v1/readyz", timeout=2)[0] == 200, 90)

    # Before any traffic: the counters the alerts take increase() or rate() of exist at zero where
    # their labels are known from the configuration, or the first increment of a series (a burst
    # of refusals, the first failed call) would be invisible to the rules.
    types, samples = parse_exposition(metrics_text(parley.url))
    present = {(name, tuple(sorted(labels.items()))) for name, labels, _ in samples}
    wanted = [("parley_model_calls_total", {"provider": p, "model": f"obs-{p}", "outcome": "ok"}) for p in ("primary", "secondary")]
    wanted += [("parley_rate_limited_total", {"policy": p}) for p in ("user", "auth-failure")]
    wanted += [("parley_jwks_fetch_failures_total", {"issuer": issuer}), ("parley_database_errors_total", {"backend": "postgresql"})]
    wanted += [(name, {}) for name in ("parley_redis_errors_total", "parley_rate_limiter_failures_total", "parley_audit_dead_letters_total",
                                       "parley_auth_failures_total", "parley_audit_events_written_total")]
    absent = [f"{name}{json.dumps(labels) if labels else ''}" for name, labels in wanted if (name, tuple(sorted(labels.items()))) not in present]
    check(not absent, f"at start, the counters the alerts use exist for the labels the configuration names (the rate limits "
                      f"user and auth-failure are on, ip and tenant off; absent: {absent})")

    rules_copy = os.path.join(os.environ["WORK"], "alerts.yaml")
    test_copy_of_alerts(rules_copy)
    prometheus = Prometheus(os.environ["PROMETHEUS"], parley.address, rules_copy)
    prometheus.wait_ready(lambda: (prometheus.query('up{job="parley"} == 1') or []) != [], 60)
    groups = prometheus.api("/api/v1/rules")
    loaded = [r["name"] for g in groups["data"]["groups"] for r in g["rules"]] if groups else []
    check(len(loaded) == len(rules), f"Prometheus loaded the test copy of alerts.yaml: {len(loaded)} rules, scraping {parley.address}")
    print(f"parley on {parley.address}, prometheus on 127.0.0.1:{prometheus.port}, model on 127.0.0.1:{model_port}; "
          f"ready after {time.time() - began:.1f} s", flush=True)
    watch = AlertWatch(prometheus)

    tokens = {user: parley_token(binary, user, ("acme",), ttl=3600) for user in ("alice", "burst", "bob", "carol", "dave")}
    admin = parley_token(binary, "ops", ("acme",), admin=True, ttl=3600)

    def chat(user, message, stream=False):
        """One turn; (status, the reply or the `done` event, the event names)."""
        if stream:
            status, events = post_stream(parley.address, "/api/v1/chat", tokens[user], {"message": message, "stream": True})
            done = [data for name, data in events if name == "done"]
            return status, (done[-1] if done else {"events": events}), [name for name, _ in events]
        status, body = request("POST", parley.url + "/api/v1/chat", tokens[user], {"message": message})
        return status, body, []

    try:
        # --- 1. healthy traffic ------------------------------------------------------------------
        replies = []
        for k in range(6):
            status, reply, names = chat("alice", f"add a task to buy milk {k}", stream=k % 2 == 1)
            replies.append((status, reply, names))
            time.sleep(0.3)
        ok = [r for r in replies if r[0] == 200 and r[1].get("fallback_used") is False
              and any(call.get("name") == "add_task" for call in r[1].get("tool_calls", []))]
        check(len(ok) == 6, f"healthy: 6 chats (3 streamed) answered by the model with an add_task call "
                            f"({len(ok)}; e.g. {replies[0][0]} {json.dumps(replies[0][1])[:200]})")
        streamed = [r for r in replies if r[2]]
        check(all("delta" in r[2] and "tool_call" in r[2] for r in streamed),
              f"healthy: the streamed turns sent tool_call and delta events ({[r[2][:6] for r in streamed][:1]})")
        status, body = request("POST", parley.url + "/api/alice/chat", tokens["alice"], {"message": "add a task to call mum"})
        check(status == 200 and body.get("response"), f"healthy: the user-scoped chat answers ({status})")
        status, events = post_stream(parley.address, "/chatkit", tokens["alice"], {
            "type": "threads.create", "metadata": {},
            "params": {"input": {"content": [{"type": "input_text", "text": "add a task to water the plants"}],
                                 "attachments": [], "inference_options": {}}}})
        check(status == 200 and any(name == "thread.item.done" for name, _ in events),
              f"healthy: a ChatKit turn streams to its end ({status}, {[name for name, _ in events][-3:]})")
        status, body = request("GET", parley.url + "/api/v1/tasks", tokens["alice"])
        check(status == 200 and len(body.get("tasks", [])) >= 8, f"healthy: the tasks the tools added are listed ({len(body.get('tasks', []))})")

        # The second issuer: a token with an unknown key id makes Parley fetch its JWKS, which fails.
        # First Prometheus must hold the counter as it is (the failed fetch at start), or the
        # increase has no earlier sample to count from.
        deadline = time.time() + 10
        while time.time() < deadline and not prometheus.query("parley_jwks_fetch_failures_total"):
            time.sleep(0.5)
        status, _ = request("GET", parley.url + "/api/v1/tasks", forged_token(issuer, "rotated-key-2"))
        check(status == 401, f"a token of the second issuer with an unknown key id is refused ({status})")
        fired = watch.wait_for("ParleyJWKSFetchFailing", 20)
        check(fired and fired[1].get("issuer") == issuer,
              f"ParleyJWKSFetchFailing fires for the issuer whose JWKS answers 500 ({fired and fired[1]})")

        # Over the user limit (120 per minute): task reads until they are refused, then a storm of
        # about 10 a second (most refused) for as long as the alert's `for` needs: a single burst
        # does not fire it, by design.
        statuses = []
        while len(statuses) < 300 and 429 not in statuses:
            statuses.append(request("GET", parley.url + "/api/v1/tasks", tokens["burst"])[0])

        def storm():
            statuses.extend(request("GET", parley.url + "/api/v1/tasks", tokens["burst"])[0] for _ in range(3))

        fired = watch.wait_for("ParleyRateLimitRejectionsSpiking", 40, storm)
        check(statuses.count(429) >= 20, f"{len(statuses)} task reads of one user, {statuses.count(429)} refused with 429 by the user limit")
        check(fired and fired[1].get("policy") == "user", f"ParleyRateLimitRejectionsSpiking fires for policy user ({fired and fired[1]})")

        # --- 2. the primary provider fails --------------------------------------------------------
        with Script.lock:
            Script.failing = {"primary"}
        fallback_replies = []

        def bob_chats():
            status, reply, _ = chat("bob", f"add a task to phone the bank {len(fallback_replies)}", stream=len(fallback_replies) % 2 == 1)
            fallback_replies.append((status, reply.get("fallback_used"), reply.get("model")))
            time.sleep(0.2)

        fired = watch.wait_for("ParleyModelFallbackRatioHigh", 45, bob_chats)
        check(fired is not None, f"primary down: ParleyModelFallbackRatioHigh fires ({fired and fired[1]})")
        check(fallback_replies and all(s == 200 and f is True and m != "basic" for s, f, m in fallback_replies),
              f"primary down: {len(fallback_replies)} turns answered through the fallback by the secondary ({fallback_replies[:3]})")
        fired = watch.wait_for("ParleyModelProviderCoolingDown", 30, bob_chats)
        check(fired and fired[1].get("provider") == "primary",
              f"primary down: ParleyModelProviderCoolingDown fires for provider primary ({fired and fired[1]})")
        check("ParleyAllModelProvidersFailing" not in watch.seen(),
              "primary down: ParleyAllModelProvidersFailing does not fire (the secondary answers)")

        # --- 3. every provider fails ------------------------------------------------------------------
        with Script.lock:
            Script.failing = {"primary", "secondary"}
        basic_replies = []

        def carol_chats():
            status, reply, _ = chat("carol", f"add a task to fix the bike {len(basic_replies)}", stream=len(basic_replies) % 2 == 1)
            basic_replies.append((status, reply.get("fallback_used"), reply.get("model"), (reply.get("response") or "")[:60]))
            time.sleep(0.4)

        fired = watch.wait_for("ParleyAllModelProvidersFailing", 45, carol_chats)
        check(fired is not None, f"all providers down: ParleyAllModelProvidersFailing fires ({fired and fired[1]})")
        check(basic_replies and all(s == 200 and f is True and m == "basic" for s, f, m, _ in basic_replies),
              f"all providers down: {len(basic_replies)} turns answered by the basic agent as fallback ({basic_replies[:2]})")

        # --- 4. chat switched off for the tenant ------------------------------------------------------
        status, body = request("PATCH", parley.url + "/api/v1/admin/flags", admin, {"chatbot.enabled": False}, tenant="acme")
        check(status == 200, f"chatbot.enabled switched off for acme ({status} {json.dumps(body)[:120]})")
        refused = []

        def dave_chats():
            refused.append(chat("dave", "add a task to read a book")[0])
            time.sleep(0.2)

        fired = watch.wait_for("ParleyErrorRatioHigh", 40, dave_chats)
        check(refused and set(refused) == {503}, f"chat off: {len(refused)} chats answered 503 ({sorted(set(refused))})")
        check(fired is not None, f"chat off: ParleyErrorRatioHigh fires ({fired and fired[1]})")
        request("PATCH", parley.url + "/api/v1/admin/flags", admin, {"chatbot.enabled": None}, tenant="acme")

        # --- what fired, and what must not have -------------------------------------------------------
        seen = watch.seen()
        unexpected = sorted(set(seen) - PROVOKED)
        check(not unexpected, f"no other alert fired (fired: {sorted(seen)}; unexpected: "
                              f"{[(name, seen[name][1]) for name in unexpected]})")
        check("ParleyAuditDeadLetters" not in seen, "ParleyAuditDeadLetters did not fire (every audit event was stored)")
        incomplete = [(name, labels, annotations) for name, (_, labels, annotations) in seen.items()
                      if not labels.get("severity") or not all(annotations.get(k) for k in ("summary", "description", "runbook_url"))
                      or "{{" in json.dumps(annotations)]
        check(not incomplete, f"every firing alert has a severity and a rendered summary, description and runbook_url ({incomplete})")

        # --- the exposition -------------------------------------------------------------------------
        exposition = metrics_text(parley.url)
        with open(os.path.join(os.environ["WORK"], "metrics.txt"), "w") as f:
            f.write(exposition)
        types, samples = parse_exposition(exposition)
        exposed = exposed_names(types, samples)
        referenced = {}
        for title, expr in dashboard_exprs():
            for name in metric_names(expr):
                referenced.setdefault(name, set()).add(f"dashboard: {title}")
        for rule in rules:
            for name in metric_names(rule["expr"]):
                referenced.setdefault(name, set()).add(f"alert: {rule['alert']}")
        missing = {name: sorted(where) for name, where in referenced.items() if name not in exposed and name not in PROMETHEUS_SERIES}
        check(not missing, f"every metric the dashboard and the alerts use is exposed by Parley ({len(referenced)} names; missing: "
                           + ("; ".join(f"{name} (in {', '.join(where)})" for name, where in sorted(missing.items())) or "none") + ")")
        unused = sorted(name for name in types if name.startswith("parley_") and not any(
            ref == name or ref.rsplit("_", 1)[0] == name for ref in referenced))
        if unused:
            print(f"  (exposed but on no panel and in no alert: {', '.join(unused)})", flush=True)

        wrong = []
        for name, (kind, labels) in sorted(EXPECTED.items()):
            if name not in types:
                wrong.append(f"{name}: not exposed (expected a {kind} with labels {sorted(labels)})")
                continue
            if types[name] != kind:
                wrong.append(f"{name}: a {types[name]}, expected a {kind}")
            series = [l for n, l, _ in samples if n in (name, name + "_bucket", name + "_count")]
            if not series:
                wrong.append(f"{name}: no series (expected labels {sorted(labels)})")
            for l in series:
                lacking = labels - set(l)
                if lacking:
                    wrong.append(f"{name}: series {l} lacks {sorted(lacking)}")
                    break
        def values(name, label):
            return {l.get(label) for n, l, _ in samples if n == name}
        checks_of_values = [
            ("parley_model_tokens_total", "type", {"input", "output"}),
            ("parley_model_calls_total", "provider", {"primary", "secondary"}),
            ("parley_model_provider_cooling_down", "provider", {"primary", "secondary"}),
            ("parley_database_errors_total", "backend", {"postgresql"}),
            ("parley_jwks_fetch_failures_total", "issuer", {issuer}),
        ]
        for name, label, expected in checks_of_values:
            if name in types and not expected <= values(name, label):
                wrong.append(f"{name}: {label} values {sorted(v for v in values(name, label) if v)}, expected {sorted(expected)}")
        if "parley_model_calls_total" in types and "ok" not in values("parley_model_calls_total", "outcome"):
            wrong.append(f"parley_model_calls_total: no outcome=\"ok\" ({sorted(v for v in values('parley_model_calls_total', 'outcome') if v)})")
        if "parley_build_info" in types and not all(v in ("1", "1.0") for n, _, v in samples if n == "parley_build_info"):
            wrong.append("parley_build_info: not 1")
        check(not wrong, "the metrics have the types, labels and label values the rules and panels use"
                         + ("" if not wrong else ":\n    " + "\n    ".join(wrong)))

        # Nothing failed in PostgreSQL or Redis during the run: their error counters stay at 0.
        counted = {name: sum(float(v) for n, _, v in samples if n == name) for name in (
            "parley_database_errors_total", "parley_redis_errors_total", "parley_rate_limiter_failures_total",
            "parley_audit_dead_letters_total")}
        check(all(v == 0 for v in counted.values()),
              f"healthy PostgreSQL and Redis: no store errors, failed limiter checks or dead letters counted ({counted})")

        chat_routes = {l.get("route") for n, l, _ in samples
                       if n == "parley_http_request_duration_seconds_count" and l.get("method") == "POST" and "chat" in l.get("route", "")}
        latency = next((r["expr"] for r in rules if r["alert"] == "ParleyChatLatencyHigh"), "")
        selector = re.search(r'route=~"([^"]*)"', latency)
        pattern = selector.group(1).replace("\\\\", "\\") if selector else "(?!)"
        unmatched = sorted(r for r in chat_routes if not re.fullmatch(pattern, r))
        check(chat_routes >= CHAT_ROUTES and not unmatched,
              f"the chat routes' labels are {sorted(chat_routes)}, all selected by ParleyChatLatencyHigh's route=~\"{pattern}\" "
              f"(expected {sorted(CHAT_ROUTES)}; not selected: {unmatched})")

        # --- the dashboard's expressions, evaluated ------------------------------------------------
        empty, errors = [], []
        for title, expr in dashboard_exprs():
            if title.startswith("variable"):
                continue
            concrete = expr.replace("$instance", ".*").replace("$__rate_interval", "1m")
            result = prometheus.api("/api/v1/query", query=concrete)
            if result is None:
                errors.append(f"{title}: {expr}")
            elif not result["data"]["result"]:
                empty.append(f"{title}: {expr}")
        check(not errors, f"every panel's expression evaluates on Prometheus ({len(dashboard_exprs())} expressions; errors: {errors})")
        check(not empty, f"every panel shows data after the traffic (empty: {empty})")
    finally:
        watch.stopping.set()
        prometheus.stop()
        parley.stop()
        model.shutdown()

    took = time.time() - began
    print(f"observability: {'all passed' if not failures else str(len(failures)) + ' check(s) failed'} in {took:.1f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
