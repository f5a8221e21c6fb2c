"""A zero-downtime blue-green rollout and its rollback, proven under load (issue 14).

Run by scripts/rollout-e2e.sh, which provides:
  PARLEY_BIN_BLUE, PARLEY_BIN_GREEN   the binaries of the two releases (by default the same one)
  PARLEY_DATABASE_URL      a fresh PostgreSQL database of this run
  PARLEY_REDIS_URL         a Redis database of this run (emptied)
  PARLEY_HTTP_DRAIN_SECONDS  how long a replica keeps serving after SIGTERM (http.drainSeconds)
  NGINX_BIN                Debian's nginx (not NGINX: nginx reads that variable as inherited sockets)
  WORK                     a scratch directory (the replicas share it: one development key)

nginx (its own prefix and config in WORK, loopback, upstream keepalive, no buffering) stands in
front of two "blue" replicas. A slow OpenAI-compatible model (this file, `upstream PORT`: a plain
answer after 0.3 s, a streamed one over about 1.6 s) keeps streams in flight across each switch.
Under steady load from several threads (plain chat, streamed chat, task REST: create, list,
patch), two "green" replicas start; once they are ready nginx is switched to them (the upstream
file rewritten, `nginx -s reload`) and the blue ones get SIGTERM at once, as a deploy script or
Kubernetes does: nginx's old workers may still send them new requests for a moment, which is
what http.drainSeconds is for. Then the rollback, the same way: blue again, green terminated.

Printed at the end, and asserted: requests failed 0 (any non-2xx or connection error), acknowledged
messages lost 0 (every acknowledged chat turn is in its conversation's history, read back through
the API; every created task exists, every acknowledged patch holds), streams cut 0 (every stream
that began ended with `event: done`, whose `response` is the deltas joined), the p99 latency in
the switch windows against the steady state. Asserted too: every acknowledged change has its
audit event stored, and no answer came from the fallback agent; and for each terminated replica:
readiness 503 at once, a new request still served halfway through the drain, a stream sent to it
0.5 s before the drain ends still finished with `done`, exit code 0 and how long it took. Printed
to help read a failure: each failure's time from SIGTERM, how long nginx kept sending new requests
to the old replicas, and what nginx logged.

ROLLOUT_STEADY_SECONDS (4) sets the load before, between and after the switches.
"""

import collections
import http.client
import http.server
import json
import os
import random
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from parley_e2e import Parley, Process, check, failures, free_port, parley_token, psql  # noqa: E402


# --- the slow model --------------------------------------------------------------------------

STREAM_PIECES = 8
STREAM_PAUSE = 0.2  # seconds between pieces: a streamed answer takes ~1.6 s
PLAIN_DELAY = 0.3


class SlowModel(http.server.BaseHTTPRequestHandler):
    """POST /v1/chat/completions: the answer echoes the last user message, so that each stored
    reply can be matched to its turn. Streamed (`"stream": true`): the role chunk at once, then
    the pieces STREAM_PAUSE apart, the finish chunk, usage and `data: [DONE]`."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        question = next((m.get("content") or "" for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
        words = f"Noted, {question}: this answer comes from the slow rollout model, in eight pieces.".split(" ")
        per_piece = -(-len(words) // STREAM_PIECES)
        pieces = [" ".join(words[i : i + per_piece]) + " " for i in range(0, len(words), per_piece)]
        pieces[-1] = pieces[-1].rstrip()
        usage = {"prompt_tokens": 50, "completion_tokens": len(words), "total_tokens": 50 + len(words)}
        if not body.get("stream"):
            time.sleep(PLAIN_DELAY)
            answer = json.dumps(
                {"id": "chatcmpl-rollout", "object": "chat.completion", "created": 1700000000, "model": "rollout-model",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(pieces)}, "finish_reason": "stop"}],
                 "usage": usage}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(delta, finish=None, usage=None):
            payload = {"id": "chatcmpl-rollout", "object": "chat.completion.chunk", "created": 1700000000, "model": "rollout-model",
                       "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if usage:
                payload["usage"] = usage
            data = b"data: " + json.dumps(payload).encode() + b"\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        send({"role": "assistant", "content": ""})
        for piece in pieces:
            time.sleep(STREAM_PAUSE)
            send({"content": piece})
        send({}, "stop")
        send(None, usage=usage)
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(b"data: [DONE]\n\n"), b"data: [DONE]\n\n"))
        self.wfile.flush()


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 256


def run_upstream(port):
    ThreadingServer(("127.0.0.1", port), SlowModel).serve_forever()


# --- processes ---------------------------------------------------------------------------------

class Replica(Parley):
    def __init__(self, name, binary):
        super().__init__(name, binary, ["serve"], {
            "PARLEY_MODEL_PROVIDERS": "slow",
            "PARLEY_MODEL_PROVIDER_SLOW_KIND": "openai",
            "PARLEY_MODEL_PROVIDER_SLOW_BASE_URL": f"http://127.0.0.1:{UPSTREAM_PORT}/v1",
            "PARLEY_MODEL_PROVIDER_SLOW_MODEL": "rollout-model",
            "PARLEY_MODEL_PROVIDER_SLOW_TOOLS": "yes",
            "PARLEY_MODEL_PROVIDER_SLOW_EXTERNAL": "false",
            "PARLEY_MODEL_PROVIDER_SLOW_TIMEOUT_SECONDS": "30",
            # Events a stopped replica's worker held unacknowledged are claimed by another soon.
            "PARLEY_AUDIT_CLAIM_IDLE_MILLISECONDS": "1000",
            "PARLEY_AUDIT_CLAIM_INTERVAL_MILLISECONDS": "500",
        })
        self.terminated_at = None
        self.exited_at = None

    def wait_ready(self, seconds=60):
        super().wait_ready(lambda: call("GET", "/api/v1/readyz", address=self.address, timeout=2)["status"] == 200, seconds)

    def terminate(self):
        self.terminated_at = time.time()
        self.process.send_signal(signal.SIGTERM)


def start_replicas(colour, binary, generation):
    replicas = [Replica(f"{colour}{generation}-{i}", binary) for i in (1, 2)]
    for r in replicas:
        r.wait_ready()
    return replicas


class Nginx(Process):
    """Debian's nginx from its own prefix, in the foreground (its pid is the master's)."""

    def __init__(self, backends):
        self.prefix = os.path.join(WORK, "nginx")
        os.makedirs(os.path.join(self.prefix, "tmp"), exist_ok=True)
        self.port = NGINX_PORT
        self.config = os.path.join(self.prefix, "nginx.conf")
        p = self.prefix
        with open(self.config, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    log_format rollout '$msec $request_method $uri $status $upstream_addr $upstream_status $request_time';
    access_log {p}/access.log rollout;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    include {p}/upstream.conf;
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://parley;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_read_timeout 60s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
""")
        self.write_upstream(backends)
        subprocess.run([NGINX, "-t", "-q", "-c", self.config, "-p", self.prefix], check=True)
        super().__init__("nginx", [NGINX, "-c", self.config, "-p", self.prefix])
        for _ in range(50):
            if call("GET", "/api/v1/healthz", timeout=2)["status"] == 200:
                return
            time.sleep(0.1)
        raise SystemExit(f"nginx did not start; see {p}/error.log")

    def write_upstream(self, backends):
        servers = "".join(f"    server {r.address};\n" for r in backends)
        with open(os.path.join(self.prefix, "upstream.conf"), "w") as f:
            f.write(f"upstream parley {{\n{servers}    keepalive 16;\n}}\n")

    def switch(self, backends):
        self.write_upstream(backends)
        subprocess.run([NGINX, "-t", "-q", "-c", self.config, "-p", self.prefix], check=True)
        subprocess.run([NGINX, "-c", self.config, "-p", self.prefix, "-s", "reload"], check=True, capture_output=True)


# --- the client ------------------------------------------------------------------------------

def call(method, path, token=None, body=None, address=None, timeout=30, stream=False, request_id=None):
    """One request on a fresh connection (to nginx unless `address`). Returns status (0: no
    HTTP answer), the JSON body or the SSE events, which upstream nginx chose, and any error."""
    host, port = (address or f"127.0.0.1:{NGINX_PORT}").split(":")
    result = {"status": 0, "body": None, "events": [], "upstream": None, "error": None}
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if request_id:
            headers["X-Request-ID"] = request_id
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection.request(method, path, data, headers)
        response = connection.getresponse()
        result["status"] = response.status
        result["upstream"] = response.getheader("X-Upstream")
        if stream and response.status == 200 and "text/event-stream" in (response.getheader("Content-Type") or ""):
            event, lines = None, []
            while True:
                line = response.readline()
                if not line:
                    break
                line = line.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    lines.append(line[5:].strip())
                elif line == "" and event:
                    result["events"].append((event, json.loads("\n".join(lines) or "{}")))
                    event, lines = None, []
        else:
            raw = response.read()
            try:
                result["body"] = json.loads(raw) if raw else {}
            except ValueError:
                result["body"] = {"raw": raw[:200].decode(errors="replace")}
    except (OSError, http.client.HTTPException, ValueError) as error:
        result["error"] = f"{type(error).__name__}: {error}"
    finally:
        connection.close()
    return result


def token(user):
    return parley_token(os.environ["PARLEY_BIN_BLUE"], user, ("acme",), ttl=3600)


class Load:
    """Steady traffic from several threads until stopped; every operation is recorded."""

    def __init__(self):
        self.ops = []  # (kind, started, ended, status, upstream, problem or None)
        self.chats = []  # acknowledged turns: (user, conversation_id, message_id, message, response, fallback_used)
        self.tasks = []  # [user, task id, patched to completed?]
        self.cut = []  # streams that began and did not end with `done`
        self.audited = []  # request ids of acknowledged changes (chat turns, task creates and patches)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []
        self.users = {}

    def record(self, kind, started, result, problem=None):
        """Records one operation; `problem` marks an answer that is 2xx but still a failure."""
        if problem is None and (result["error"] or not 200 <= result["status"] < 300):
            problem = result["error"] or f"HTTP {result['status']} {json.dumps(result['body'])[:160]}"
        with self.lock:
            self.ops.append((kind, started, time.time(), result["status"], result["upstream"], problem))
        return problem is None

    def chat(self, user, streamed, offset):
        # Staggered starts keep the streams out of step, so that some are always in flight.
        time.sleep(offset)
        conversation, k = None, 0
        while not self.stopping.is_set():
            k += 1
            if k % 8 == 1:
                conversation = None  # a new conversation now and then keeps each history short
            message = f"{user} turn {k} {uuid.uuid4().hex[:8]}"
            body = {"message": message, **({"conversation_id": conversation} if conversation else {}), **({"stream": True} if streamed else {})}
            started = time.time()
            request_id = f"rollout-{uuid.uuid4()}"
            result = call("POST", "/api/v1/chat", self.users[user], body, stream=streamed, request_id=request_id)
            time.sleep(random.uniform(0.02, 0.1))
            if not streamed:
                if self.record("chat", started, result):
                    reply = result["body"]
                    conversation = reply["conversation_id"]
                    with self.lock:
                        self.chats.append((user, conversation, reply["message_id"], message, reply["response"], reply.get("fallback_used")))
                        self.audited.append(request_id)
                continue
            events = result["events"]
            if not (result["status"] == 200 and events):
                # No stream began: a failed request (a stream that began and broke is a cut stream).
                self.record("stream", started, result, "200 without any event" if result["status"] == 200 and not result["error"] else None)
                continue
            self.record("stream", started, {**result, "error": None})
            done = [data for name, data in events if name == "done"]
            deltas = "".join(data.get("text", "") for name, data in events if name == "delta")
            if not done or done[-1].get("response") != deltas:
                with self.lock:
                    self.cut.append((user, started, time.time(), result["upstream"], events[-1][0], result["error"], len(events)))
                continue
            reply = done[-1]
            conversation = reply["conversation_id"]
            with self.lock:
                self.chats.append((user, conversation, reply["message_id"], message, reply["response"], reply.get("fallback_used")))
                self.audited.append(request_id)

    def task_rest(self, user):
        t = self.users[user]
        k = 0
        while not self.stopping.is_set():
            k += 1
            started = time.time()
            request_id = f"rollout-{uuid.uuid4()}"
            created = call("POST", "/api/v1/tasks", t, {"title": f"rollout {user} {k}"}, request_id=request_id)
            if self.record("task", started, created):
                entry = [user, created["body"]["id"], False]
                with self.lock:
                    self.tasks.append(entry)
                    self.audited.append(request_id)
                started = time.time()
                request_id = f"rollout-{uuid.uuid4()}"
                patch = call("PATCH", f"/api/v1/tasks/{entry[1]}", t, {"status": "completed"}, request_id=request_id)
                if self.record("task", started, patch):
                    entry[2] = True
                    with self.lock:
                        self.audited.append(request_id)
            started = time.time()
            self.record("task", started, call("GET", "/api/v1/tasks?status=pending", t))
            time.sleep(0.05)

    def start(self):
        work = [(self.chat, f"plain{n}", False, n * 0.1) for n in range(3)]
        work += [(self.chat, f"stream{n}", True, n * STREAM_PIECES * STREAM_PAUSE / 4) for n in range(4)]
        work += [(self.task_rest, f"tasks{n}") for n in range(2)]
        for target, user, *args in work:
            self.users[user] = token(user)
            self.threads.append(threading.Thread(target=target, args=(user, *args), daemon=True))
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join()


def p99(durations):
    if not durations:
        return float("nan")
    ordered = sorted(durations)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


# --- the rollout -------------------------------------------------------------------------------

def switch(nginx, old, new, label, windows, drain, probe_token):
    """Point nginx at `new`, SIGTERM `old` at once, and watch them drain and exit."""
    started = time.time()
    nginx.switch(new)
    for r in old:
        r.terminate()
    # A streamed chat sent straight to each old replica 0.5 s before its drain ends: it must
    # run to its `done` although the replica stops accepting while it streams.
    late = {}

    def late_stream(r):
        time.sleep(max(0.0, r.terminated_at + drain - 0.5 - time.time()))
        sent = time.time()
        result = call("POST", "/api/v1/chat", probe_token, {"message": f"late stream to {r.name}", "stream": True}, address=r.address, stream=True)
        names = [name for name, _ in result["events"]]
        late[r.name] = (round(sent - r.terminated_at, 2), round(time.time() - r.terminated_at, 2), result["status"],
                        names[-1] if names else result["error"])

    streams = [threading.Thread(target=late_stream, args=(r,)) for r in old] if drain >= 1 else []
    for thread in streams:
        thread.start()
    # Readiness first (how a balancer notices), then an ordinary request during the drain.
    not_ready = {}
    deadline = time.time() + 1
    while time.time() < deadline and len(not_ready) < len(old):
        for r in old:
            if r.name not in not_ready:
                result = call("GET", "/api/v1/readyz", address=r.address, timeout=2)
                if result["status"] != 200:
                    not_ready[r.name] = (round(time.time() - r.terminated_at, 3), result["status"], result["error"])
        time.sleep(0.02)
    served = {}
    if drain >= 1:
        time.sleep(max(0.0, old[-1].terminated_at + drain / 2 - time.time()))
        for r in old:
            health = call("GET", "/api/v1/healthz", address=r.address, timeout=2)
            served[r.name] = (round(time.time() - r.terminated_at, 3), health["status"], health["error"])
    deadline = time.time() + drain + 20
    while any(r.exited_at is None for r in old) and time.time() < deadline:
        for r in old:
            if r.exited_at is None and r.process.poll() is not None:
                r.exited_at = time.time()
        time.sleep(0.02)
    for r in old:
        if r.exited_at is None:
            r.process.kill()
            r.process.wait()
            r.exited_at = time.time()
    for thread in streams:
        thread.join()
    windows.append((label, started, max(r.exited_at for r in old), {r.address for r in old}, min(r.terminated_at for r in old)))
    for r in old:
        first_not_ready, health = not_ready.get(r.name), served.get(r.name)
        took = r.exited_at - r.terminated_at
        print(f"{label}: {r.name} SIGTERM -> exit {r.process.returncode} after {took:.2f} s; readyz after SIGTERM "
              f"(s, status, error): {first_not_ready or 'still 200 after 1 s'}; healthz mid-drain: {health}; "
              f"late stream (sent, ended, status, last event): {late.get(r.name)}", flush=True)
        check(r.process.returncode == 0, f"{label}: {r.name} exits 0 ({r.process.returncode})")
        check(first_not_ready is not None and first_not_ready[1] == 503,
              f"{label}: {r.name} readiness answers 503 at once after SIGTERM ({first_not_ready})")
        if drain >= 1:
            check(health and health[1] == 200, f"{label}: {r.name} still serves new requests {drain / 2:.1f} s into its drain ({health})")
            check(late[r.name][2:] == (200, "done"),
                  f"{label}: {r.name} finishes a stream begun {late[r.name][0]} s after SIGTERM, at {late[r.name][1]} s ({late[r.name]})")
        check(took < drain + 15, f"{label}: {r.name} exits within the drain plus the longest stream ({took:.2f} s)")


def verify(load, via):
    """Every acknowledged turn is in its conversation's history; every created task exists."""
    lost = []
    histories = {}
    for user, conversation, message_id, message, response, _ in load.chats:
        key = (user, conversation)
        if key not in histories:
            result = call("GET", f"/api/v1/chat/history?conversation_id={conversation}&limit=200", load.users[user], address=via)
            histories[key] = result["body"].get("messages", []) if result["status"] == 200 else None
        messages = histories[key] or []
        stored = {m.get("id"): m for m in messages}
        answer = stored.get(message_id)
        asked = any(m.get("role") == "user" and m.get("content") == message for m in messages)
        if not (answer and answer.get("role") == "assistant" and answer.get("content") == response and asked):
            lost.append(("chat", user, conversation, message_id))
    by_user = collections.defaultdict(list)
    for user, task_id, patched in load.tasks:
        by_user[user].append((task_id, patched))
    for user, created in by_user.items():
        result = call("GET", "/api/v1/tasks?status=all", load.users[user], address=via)
        stored = {t["id"]: t for t in (result["body"] or {}).get("tasks", [])} if result["status"] == 200 else {}
        for task_id, patched in created:
            task = stored.get(task_id)
            if task is None or (patched and task.get("status") != "completed"):
                lost.append(("task", user, task_id, patched))
    return lost


def audit_missing(request_ids, seconds=15):
    """The acknowledged changes whose audit event is not stored (waiting for the workers)."""
    deadline = time.time() + seconds
    while True:
        rows = psql(os.environ["PARLEY_DATABASE_URL"], "SELECT request_id FROM tenant_acme.audit_log WHERE request_id LIKE 'rollout-%'").split()
        missing = set(request_ids) - set(rows)
        if not missing or time.time() > deadline:
            return missing
        time.sleep(0.5)


def main():
    drain = float(os.environ.get("PARLEY_HTTP_DRAIN_SECONDS", "0") or 0)
    steady = float(os.environ.get("ROLLOUT_STEADY_SECONDS", "4"))
    began = time.time()
    upstream = Process("upstream", [sys.executable, os.path.abspath(__file__), "upstream", str(UPSTREAM_PORT)])
    replicas = []
    nginx = load = None
    try:
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", UPSTREAM_PORT)) == 0:
                    break
            time.sleep(0.1)
        blue = start_replicas("blue", os.environ["PARLEY_BIN_BLUE"], 1)
        replicas += blue
        nginx = Nginx(blue)
        print(f"nginx on 127.0.0.1:{NGINX_PORT} in front of {', '.join(r.address for r in blue)} (blue); "
              f"http.drainSeconds {drain:g}; ready after {time.time() - began:.1f} s", flush=True)
        probe = token("probe")
        load = Load()
        load.start()
        windows = []
        time.sleep(steady)

        green = start_replicas("green", os.environ["PARLEY_BIN_GREEN"], 1)
        replicas += green
        switch(nginx, blue, green, "blue -> green", windows, drain, probe)
        time.sleep(steady)

        blue = start_replicas("blue", os.environ["PARLEY_BIN_BLUE"], 2)
        replicas += blue
        switch(nginx, green, blue, "rollback green -> blue", windows, drain, probe)
        time.sleep(steady)
        load.stop()
        lost = verify(load, None)
        unaudited = audit_missing(load.audited)
    finally:
        if load:
            load.stopping.set()  # should the test have failed halfway
        for r in replicas:
            r.stop()
        if nginx:
            nginx.stop(signal.SIGQUIT)
        upstream.stop()

    # --- figures ---
    failed = [op for op in load.ops if op[5] is not None]
    in_window = lambda op: any(op[1] < end and op[2] > start for _, start, end, _, _ in windows)
    for label, start, end, addresses, terminated in windows:
        # How long nginx kept sending new requests to the replicas it had been switched away from.
        # ("parley": nginx found no live server in the group, which only its old workers still use.)
        late = [op[1] - terminated for op in load.ops if op[1] > terminated and op[4]
                and (set(op[4].split(", ")) & addresses or (op[1] < end and "parley" in op[4]))]
        print(f"{label}: switch window {end - start:.2f} s; requests begun after SIGTERM that nginx still sent to the old "
              f"replicas: {len(late)}" + (f", the last {max(late):.2f} s after it" if late else ""), flush=True)
    for kinds, name in ((("chat", "task"), "plain chat + task REST"), (("stream",), "streamed chat (whole stream)")):
        steady_d = [op[2] - op[1] for op in load.ops if op[0] in kinds and op[5] is None and not in_window(op)]
        switch_d = [op[2] - op[1] for op in load.ops if op[0] in kinds and op[5] is None and in_window(op)]
        print(f"p99 {name}: steady {p99(steady_d) * 1000:.0f} ms ({len(steady_d)}), "
              f"switch windows {p99(switch_d) * 1000:.0f} ms ({len(switch_d)})", flush=True)
    by_kind = collections.Counter(op[0] for op in load.ops)
    print(f"requests sent: {len(load.ops)} ({', '.join(f'{k} {v}' for k, v in sorted(by_kind.items()))}); "
          f"acknowledged chat turns {len(load.chats)}, tasks created {len(load.tasks)}", flush=True)
    if failed:
        reasons = collections.Counter((op[0], op[5][:90]) for op in failed)
        for (kind, reason), count in reasons.most_common(8):
            print(f"  failed {count} x {kind}: {reason}", flush=True)
        marks = [(r.name, r.terminated_at) for r in replicas if r.terminated_at]
        for op in failed[:6]:
            rel = min(((op[1] - t, name) for name, t in marks), key=lambda x: abs(x[0]))
            print(f"  e.g. {op[0]} started {rel[0]:+.2f} s from SIGTERM of {rel[1]}, took {op[2] - op[1]:.2f} s, "
                  f"upstream {op[4]}: {op[5][:120]}", flush=True)
    for user, started, ended, upstream_addr, last, error, count in load.cut[:6]:
        print(f"  cut stream of {user}: {count} events, the last '{last}', after {ended - started:.2f} s, "
              f"upstream {upstream_addr}, {error}", flush=True)
    for kind, *rest in lost[:6]:
        print(f"  lost {kind}: {rest}", flush=True)
    fallbacks = sum(1 for chat in load.chats if chat[5])
    check(not failed, f"requests failed: {len(failed)} of {len(load.ops)}")
    check(not lost, f"acknowledged messages lost: {len(lost)} of {len(load.chats)} chat turns and {len(load.tasks)} tasks")
    check(not load.cut, f"streams cut: {len(load.cut)} of {by_kind['stream']}")
    check(not unaudited, f"audit events lost: {len(unaudited)} of {len(load.audited)} acknowledged changes")
    check(fallbacks == 0, f"answers from the model, none from the fallback: {fallbacks} fallbacks")
    errors = collections.Counter()
    with open(os.path.join(nginx.prefix, "error.log")) as f:
        for line in f:
            if "[error]" in line or "[warn]" in line:
                errors[re.sub(r"^.*?\[(error|warn)\] \d+#\d+: \*\d+ ", "", line).split(" while ")[0].strip()[:80]] += 1
    for message, count in errors.most_common(5):
        print(f"  nginx error.log: {count} x {message}", flush=True)
    print(f"rollout took {time.time() - began:.1f} s; {'all passed' if not failures else str(len(failures)) + ' failed'}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["upstream"]:
        run_upstream(int(sys.argv[2]))
        sys.exit(0)
    WORK = os.environ["WORK"]
    NGINX = os.environ.get("NGINX_BIN", "/usr/sbin/nginx")
    UPSTREAM_PORT = free_port()
    NGINX_PORT = free_port()
    sys.exit(main())
