#!/usr/bin/env python3
"""Helpers of bench/run.sh (Python 3 standard library only).

  bench.py setup    prepare a running Parley: tokens, flags, seeded tasks, conversations
  bench.py wrk      one wrk run of a scenario, with CPU and peak RSS of the processes watched
  bench.py ttfd     time to the first SSE `delta` (Parley) or first byte (nginx), sequential
  bench.py hold     open N streaming chats at once, hold them, measure Parley's memory
  bench.py machine  machine and binary facts for the results
  bench.py report   medians of the recorded runs as one Markdown table (+ JSON)

Each measuring command appends one JSON object per line to --out; `report` reads that file.
"""
import argparse
import asyncio
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
CHAT_MESSAGE = "Tell me something short about planning my week."
BASIC_MESSAGE = "add a task to buy milk"

# --------------------------------------------------------------------------------------------
# HTTP


def request(url, method, path, token=None, body=None, headers=None, tenant=None, timeout=30):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    all_headers = {"Accept": "application/json"}
    if token:
        all_headers["Authorization"] = "Bearer " + token
    if tenant:
        all_headers["X-Tenant-ID"] = tenant
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    all_headers.update(headers or {})
    connection.request(method, path, body=data, headers=all_headers)
    response = connection.getresponse()
    text = response.read()
    connection.close()
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text.decode(errors="replace")
    return response.status, parsed


def must(status, body, what, expected=(200, 201)):
    if status not in expected:
        sys.exit(f"bench: {what}: HTTP {status}: {body}")
    return body


# --------------------------------------------------------------------------------------------
# /proc


def read_stat(pid):
    """(utime+stime, cutime+cstime) in clock ticks, ppid; None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is state (field 3); utime is field 14 → index 11.
    return {"ppid": int(fields[1]), "self": int(fields[11]) + int(fields[12]),
            "children": int(fields[13]) + int(fields[14])}


def tree(root):
    """root and its descendants (pids)."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(int(name))
            if stat:
                parents.setdefault(stat["ppid"], []).append(int(name))
    result, stack = [], [root]
    while stack:
        pid = stack.pop()
        result.append(pid)
        stack.extend(parents.get(pid, []))
    return result


def cpu_ticks(root):
    """CPU ticks of a process tree: every live member's own time, plus what the root's reaped
    children used (so short-lived children are not lost)."""
    total = 0
    for pid in tree(root):
        stat = read_stat(pid)
        if stat:
            total += stat["self"] + (stat["children"] if pid == root else 0)
    return total


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak(pid):
    """Resets VmHWM (Linux ≥ 4.0, needs write access to clear_refs). True when it worked."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Watch:
    """CPU and peak RSS of the watched process trees over a measured interval."""

    def __init__(self, main, others):
        self.main = main  # pid of Parley (or nginx's master)
        self.others = others  # {"pg": pid, "redis": pid}
        self.samples_max = 0
        self._stop = threading.Event()

    def tree_rss(self, kind):
        return sum(status_kib(pid, kind) or 0 for pid in tree(self.main))

    def start(self):
        self.reset = all(reset_peak(pid) for pid in tree(self.main))
        self.t0 = time.monotonic()
        self.cpu0 = cpu_ticks(self.main)
        self.other0 = {name: cpu_ticks(pid) for name, pid in self.others.items()}
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self):
        while not self._stop.wait(0.05):
            self.samples_max = max(self.samples_max, self.tree_rss("VmRSS"))

    def stop(self):
        wall = time.monotonic() - self.t0
        cpu = (cpu_ticks(self.main) - self.cpu0) / CLK_TCK / wall
        others = {name: (cpu_ticks(pid) - self.other0[name]) / CLK_TCK / wall for name, pid in self.others.items()}
        self._stop.set()
        self.thread.join()
        hwm = self.tree_rss("VmHWM")
        peak = hwm if self.reset else max(hwm, self.samples_max)
        return {"wall_s": wall, "cpu_cores": cpu, "server_cpu_cores": others,
                "peak_rss_kib": peak, "peak_rss_method": "VmHWM after clear_refs" if self.reset else "VmHWM since start",
                "sampled_max_rss_kib": self.samples_max}


def parse_pids(text):
    result = {}
    for item in filter(None, (text or "").split(",")):
        name, pid = item.split("=")
        result[name] = int(pid)
    return result


def metrics_counters(url):
    """Fallback and reply counters from Parley's /metrics (best effort)."""
    try:
        status, text = request(url, "GET", "/metrics", headers={"Accept": "text/plain"})
    except OSError:
        return {}
    if status != 200 or not isinstance(text, str):
        return {}
    counts = {"replies": 0.0, "fallback_replies": 0.0, "model_fallbacks": 0.0}
    for line in text.splitlines():
        if line.startswith("parley_model_fallbacks_total{"):
            reason = re.search(r'reason="([^"]*)"', line)
            if reason:
                name = "model_fallbacks_" + reason.group(1)
                counts[name] = counts.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        if line.startswith("parley_chat_replies_total"):
            value = float(line.rsplit(" ", 1)[1])
            counts["replies"] += value
            if 'fallback="true"' in line:
                counts["fallback_replies"] += value
        elif line.startswith("parley_model_fallbacks_total"):
            counts["model_fallbacks"] += float(line.rsplit(" ", 1)[1])
    return counts


def append(out, record):
    with open(out, "a") as f:
        f.write(json.dumps(record) + "\n")


# --------------------------------------------------------------------------------------------
# setup


def token(binary, data_dir, user, tenants, admin=False):
    command = [binary, "token", "--user", user, "--data-dir", data_dir, "--ttl", "86400"]
    for tenant in tenants:
        command += ["--tenant", tenant]
    if admin:
        command.append("--admin")
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def cmd_setup(args):
    url = args.url
    tokens = {
        "chat": token(args.bin, args.data_dir, "alice", ["bench"]),
        "chat_new": token(args.bin, args.data_dir, "anna", ["bench"]),
        "reader": token(args.bin, args.data_dir, "reader", ["bench"]),
        "writer": token(args.bin, args.data_dir, "writer", ["bench"]),
        "stream": token(args.bin, args.data_dir, "sam", ["bench"]),
        "basic": token(args.bin, args.data_dir, "bob", ["basic"]),
        "hold": token(args.bin, args.data_dir, "carol", ["hold"]),
    }
    admin = token(args.bin, args.data_dir, "admin", ["basic", "hold"], admin=True)
    # Tenant "basic": the basic agent answers (chatbot.ai off). Tenant "hold": the slow upstream.
    must(*request(url, "PATCH", "/api/v1/admin/flags", admin, {"chatbot.ai": False}, tenant="basic"), "flag chatbot.ai")
    must(*request(url, "PATCH", "/api/v1/admin/flags", admin, {"model.route": ["slow"]}, tenant="hold"), "flag model.route")
    # Five tasks to read back in tasks-get.
    for title in ["Buy milk", "Call the plumber", "Book the dentist", "Pay the electricity bill", "Water the plants"]:
        must(*request(url, "POST", "/api/v1/tasks", tokens["reader"], {"title": title}), "seed task")
    conversations = []
    for _ in range(args.conversations):
        body = must(*request(url, "POST", "/api/v1/chat", tokens["chat"], {"message": CHAT_MESSAGE}), "create conversation")
        if body.get("fallback_used") or body.get("model") != "bench-model":
            sys.exit(f"bench: the model agent did not answer through nginx: {body}")
        conversations.append(body["conversation_id"])
    body = must(*request(url, "POST", "/api/v1/chat", tokens["stream"], {"message": CHAT_MESSAGE}), "stream conversation")
    stream_conversation = body["conversation_id"]
    body = must(*request(url, "POST", "/api/v1/chat", tokens["basic"], {"message": BASIC_MESSAGE}), "basic chat")
    if body.get("model") != "basic" or not body.get("tool_calls"):
        sys.exit(f"bench: tenant basic was not answered by the basic agent with a tool call: {body}")
    with open(args.out, "w") as f:
        json.dump({"url": url, "tokens": tokens, "conversations": conversations,
                   "stream_conversation": stream_conversation}, f)


# --------------------------------------------------------------------------------------------
# wrk

def scenario_request(scenario, instance, conns, tmp):
    """(url, environment for bench.lua) of a scenario."""
    env = {}
    if scenario == "nginx":
        env.update(BENCH_METHOD="POST", BENCH_PATH="/v1/chat/completions",
                   BENCH_BODY_FILE=os.path.join(HERE, "upstream-request.json"))
        return instance["url"], env
    tokens = instance["tokens"]

    def body_file(body, name):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(body)
        return path

    if scenario in ("chat", "mem100"):
        ids = instance["conversations"][:max(conns, 1)]
        if len(ids) < conns:
            sys.exit(f"bench: {conns} connections but only {len(ids)} conversations prepared")
        ids_file = os.path.join(tmp, "ids")
        with open(ids_file, "w") as f:
            f.write("\n".join(str(i) for i in ids) + "\n")
        template = json.dumps({"message": CHAT_MESSAGE, "conversation_id": 0}).replace('"conversation_id": 0', '"conversation_id": @ID@')
        env.update(BENCH_METHOD="POST", BENCH_PATH="/api/v1/chat", BENCH_TOKEN=tokens["chat"],
                   BENCH_IDS_FILE=ids_file, BENCH_BODY_FILE=body_file(template, "chat.json"))
    elif scenario == "chat-new":
        env.update(BENCH_METHOD="POST", BENCH_PATH="/api/v1/chat", BENCH_TOKEN=tokens["chat_new"],
                   BENCH_BODY_FILE=body_file(json.dumps({"message": CHAT_MESSAGE}), "chat-new.json"))
    elif scenario == "basic-chat":
        env.update(BENCH_METHOD="POST", BENCH_PATH="/api/v1/chat", BENCH_TOKEN=tokens["basic"],
                   BENCH_BODY_FILE=body_file(json.dumps({"message": BASIC_MESSAGE}), "basic.json"))
    elif scenario == "tasks-get":
        env.update(BENCH_METHOD="GET", BENCH_PATH="/api/v1/tasks", BENCH_TOKEN=tokens["reader"])
    elif scenario == "tasks-post":
        env.update(BENCH_METHOD="POST", BENCH_PATH="/api/v1/tasks", BENCH_TOKEN=tokens["writer"],
                   BENCH_BODY_FILE=body_file(json.dumps({"title": "Buy milk"}), "task.json"))
    else:
        sys.exit(f"bench: unknown wrk scenario {scenario}")
    return instance["url"], env


def cmd_wrk(args):
    if args.instance:
        with open(args.instance) as f:
            instance = json.load(f)
    else:
        instance = {"url": args.url}
    threads = max(1, min(args.threads, args.conns))
    with tempfile.TemporaryDirectory(prefix="bench-wrk.") as tmp:
        url, env = scenario_request(args.scenario, instance, args.conns, tmp)
        env["BENCH_THREADS"] = str(threads)
        command = ["wrk", "-t", str(threads), "-c", str(args.conns), "-d", f"{args.duration}s", "--timeout", f"{args.timeout}s",
                   "--latency", "-s", os.path.join(HERE, "wrk", "bench.lua"), url]
        watch = Watch(args.pid, parse_pids(args.server_pids))
        before = metrics_counters(url) if args.scenario != "nginx" else {}
        watch.start()
        run = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
        usage = watch.stop()
        after = metrics_counters(url) if args.scenario != "nginx" else {}
    if args.log:
        with open(args.log, "a") as f:
            f.write(f"### {args.meta} {' '.join(command)}\n{run.stdout}{run.stderr}\n")
    line = next((l for l in run.stdout.splitlines() if l.startswith("BENCH_JSON ")), None)
    if run.returncode != 0 or line is None:
        sys.exit(f"bench: wrk failed ({run.returncode}): {run.stderr.strip() or run.stdout.strip()}")
    result = json.loads(line[len("BENCH_JSON "):])
    if args.warmup:
        return
    record = dict(json.loads(args.meta))
    record.update(kind="wrk", scenario=args.scenario, conns=args.conns, threads=threads, wrk=result, usage=usage,
                  counters={k: after.get(k, 0) - before.get(k, 0) for k in after})
    append(args.out, record)


# --------------------------------------------------------------------------------------------
# streaming: time to first delta

def timed_stream(host, port, raw, marker):
    """Sends one request on a fresh connection; returns (seconds to marker, seconds to end, ok)."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        t0 = time.perf_counter()
        sock.sendall(raw)
        data = b""
        first = None
        header_end = -1
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
            if header_end < 0:
                header_end = data.find(b"\r\n\r\n")
            if header_end >= 0 and first is None:
                body = data[header_end + 4:]
                if (marker is None and body) or (marker is not None and marker in body):
                    first = time.perf_counter() - t0
            if first is not None:
                if marker is None:
                    length = re.search(rb"(?i)content-length:\s*(\d+)", data[:header_end])
                    if length and len(data) - header_end - 4 >= int(length.group(1)):
                        break
                elif b"event: done" in data and data.endswith(b"0\r\n\r\n"):
                    break  # the last chunk of a chunked body (when the server keeps the connection)
        total = time.perf_counter() - t0
        ok = data.startswith(b"HTTP/1.1 200") and first is not None
        return first, total, ok, data
    finally:
        sock.close()


def cmd_ttfd(args):
    parts = urllib.parse.urlsplit(args.url)
    host, port = parts.hostname, parts.port
    if args.kind == "parley":
        with open(args.instance) as f:
            instance = json.load(f)
        body = json.dumps({"message": CHAT_MESSAGE, "conversation_id": instance["stream_conversation"], "stream": True}).encode()
        headers = f"Authorization: Bearer {instance['tokens']['stream']}\r\n"
        path, marker = "/api/v1/chat", b"event: delta"
    else:
        with open(os.path.join(HERE, "upstream-request.json"), "rb") as f:
            body = f.read().replace(b'"stream":false', b'"stream":true')
        headers = ""
        path, marker = "/v1/chat/completions", None
    raw = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\n"
           f"{headers}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    firsts, totals, failures, sample = [], [], 0, None
    for k in range(args.warmup + args.n):
        first, total, ok, data = timed_stream(host, port, raw, marker)
        if k < args.warmup:
            continue
        if ok:
            firsts.append(first)
            totals.append(total)
        else:
            failures += 1
            sample = data[:300].decode(errors="replace")
    if not firsts:
        sys.exit(f"bench: no stream answered: {sample}")
    firsts.sort()
    record = dict(json.loads(args.meta))
    record.update(kind="ttfd", scenario="stream", conns=1, requests=len(firsts), failures=failures,
                  first_ms={"p50": percentile(firsts, 50) * 1e3, "p90": percentile(firsts, 90) * 1e3,
                            "p99": percentile(firsts, 99) * 1e3, "max": firsts[-1] * 1e3},
                  total_ms_mean=statistics.mean(totals) * 1e3, rate=len(totals) / sum(totals),
                  failure_sample=sample)
    append(args.out, record)


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


# --------------------------------------------------------------------------------------------
# 1,000 open streams

async def open_stream(host, port, raw, result, opened):
    released = False
    try:
        t0 = time.perf_counter()
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(raw)
        await writer.drain()
        data = b""
        while b"\r\n\r\n" not in data:
            piece = await reader.read(65536)
            if not piece:
                raise ConnectionError("closed before the headers")
            data += piece
        result["headers_s"] = time.perf_counter() - t0
        result["status"] = int(data.split(b" ", 2)[1])
        released = True
        opened.release()
        while b"event: delta" not in data:
            piece = await reader.read(65536)
            if not piece:
                break
            data += piece
        if b"event: delta" in data:
            result["delta_s"] = time.perf_counter() - t0
            result["from_model"] = b"from the slow benchmark upstream" in data or b"Sure. Here is a short answer" in data
        result["writer"] = writer
        await asyncio.sleep(3600)  # held until cancelled
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 (any failure of one stream is counted)
        result["error"] = repr(error)[:200]
        if not released:
            opened.release()


async def hold(args, instance):
    parts = urllib.parse.urlsplit(args.url)
    host, port = parts.hostname, parts.port
    body = json.dumps({"message": CHAT_MESSAGE, "stream": True}).encode()
    raw = (f"POST /api/v1/chat HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
           f"Content-Type: application/json\r\nAuthorization: Bearer {instance['tokens']['hold']}\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    results = [{} for _ in range(args.n)]
    opened = asyncio.Semaphore(0)
    tasks = []
    idle_rss = status_kib(args.pid, "VmRSS")
    reset = reset_peak(args.pid)
    t0 = time.monotonic()
    for k in range(args.n):
        tasks.append(asyncio.create_task(open_stream(host, port, raw, results[k], opened)))
        if k % 50 == 49:
            await asyncio.sleep(0.02)  # do not overflow the listen backlog
    # Wait until every stream has its headers (or failed), then hold.
    deadline = time.monotonic() + args.open_timeout
    count = 0
    while count < args.n and time.monotonic() < deadline:
        try:
            await asyncio.wait_for(opened.acquire(), timeout=max(0.01, deadline - time.monotonic()))
            count += 1
        except asyncio.TimeoutError:
            break
    open_s = time.monotonic() - t0
    max_rss = 0
    hold_end = time.monotonic() + args.hold_seconds
    while time.monotonic() < hold_end:
        max_rss = max(max_rss, status_kib(args.pid, "VmRSS") or 0)
        await asyncio.sleep(0.1)
    hwm = status_kib(args.pid, "VmHWM")
    upstream = json.loads(urlopen_text(args.upstream + "/stats"))
    held = sum(1 for r in results if r.get("status") == 200 and "error" not in r)
    deltas = sorted(r["delta_s"] for r in results if "delta_s" in r)
    from_model = sum(1 for r in results if r.get("from_model"))
    headers = sorted(r["headers_s"] for r in results if "headers_s" in r)
    statuses = {}
    for r in results:
        if "status" in r:
            statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    errors = [r["error"] for r in results if "error" in r]
    # Let the upstream finish every stream, then close the clients.
    urlopen_text(args.upstream + "/release", method="POST")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for r in results:
        if "writer" in r:
            r["writer"].close()
    return {
        "streams": args.n, "held": held, "with_delta": len(deltas), "delta_from_model": from_model, "statuses": statuses, "errors": len(errors),
        "error_sample": errors[:3], "open_s": open_s, "hold_s": args.hold_seconds,
        "headers_ms": {"p50": ms(percentile(headers, 50)), "p99": ms(percentile(headers, 99))},
        "delta_ms": {"p50": ms(percentile(deltas, 50)), "p99": ms(percentile(deltas, 99))},
        "idle_rss_kib": idle_rss, "peak_rss_kib": hwm if reset else max(hwm or 0, max_rss),
        "sampled_max_rss_kib": max_rss, "peak_rss_method": "VmHWM after clear_refs" if reset else "sampled VmRSS",
        "upstream_max_concurrent": upstream["max_active"], "upstream_requests": upstream["requests"],
    }


def ms(value):
    return None if value is None else value * 1e3


def urlopen_text(url, method="GET"):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request(method, parts.path or "/")
    text = connection.getresponse().read().decode()
    connection.close()
    return text


def cmd_hold(args):
    with open(args.instance) as f:
        instance = json.load(f)
    urlopen_text(args.upstream + "/hold", method="POST")
    urlopen_text(args.upstream + "/reset", method="POST")
    before = metrics_counters(args.url)
    result = asyncio.run(hold(args, instance))
    # Parley finishes turns whose client left: wait until every turn has its reply (the metrics
    # count them) and the upstream has no stream left, so the next scenario starts quiet.
    deadline = time.monotonic() + args.drain_timeout
    while time.monotonic() < deadline:
        stats = json.loads(urlopen_text(args.upstream + "/stats"))
        replies = metrics_counters(args.url).get("replies", 0) - before.get("replies", 0)
        if stats["active"] == 0 and replies >= result["held"]:
            break
        time.sleep(0.2)
    result["drain_s"] = args.drain_timeout - max(0.0, deadline - time.monotonic())
    result["drained_upstream_requests"] = json.loads(urlopen_text(args.upstream + "/stats"))["requests"]
    after = metrics_counters(args.url)
    result["counters"] = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    urlopen_text(args.upstream + "/hold", method="POST")
    record = dict(json.loads(args.meta))
    record.update(kind="hold", scenario="hold", conns=args.n, hold=result)
    append(args.out, record)


# --------------------------------------------------------------------------------------------
# machine


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cmd_machine(args):
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def git(*command):
        try:
            return subprocess.run(["git", "-C", args.root, *command], check=True, capture_output=True, text=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    binaries = {}
    for name, path in (("new", args.bin), ("base", args.bin_base)):
        if path:
            binaries[name] = {"path": path, "sha256": sha256(path)[:16],
                              "mtime": datetime.datetime.fromtimestamp(os.path.getmtime(path)).isoformat(timespec="seconds"),
                              "debug": "/debug/" in path}
    total_mem = ""
    try:
        with open("/proc/meminfo") as f:
            total_mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    info = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "nproc": os.cpu_count(), "cpu": model,
        "memory": total_mem, "kernel": platform.release(), "commit": args.commit or git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")), "binaries": binaries,
        "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[0:1],
        "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
        "settings": {k: v for k, v in os.environ.items() if k.startswith("BENCH_") and k != "BENCH_TOKEN"},
    }
    json.dump(info, sys.stdout, indent=1)


# --------------------------------------------------------------------------------------------
# report

SETUPS = {"nginx": "nginx directly (the limit)", "sqlite": "Parley, SQLite", "postgres": "Parley, PostgreSQL + Redis"}
SCENARIOS = {
    "nginx": "upstream chat completion",
    "chat": "chat, model agent, continue a conversation",
    "chat-new": "chat, model agent, new conversation",
    "basic-chat": "chat, basic agent, \"add a task to buy milk\"",
    "tasks-get": "GET /api/v1/tasks",
    "tasks-post": "POST /api/v1/tasks",
    "mem100": "chat, 100 clients (memory)",
    "stream": "stream: time to first delta",
    "stream-nginx": "stream: time to first byte",
    "hold": "SSE streams held open (memory)",
}
ORDER = ["nginx", "stream-nginx", "chat", "chat-new", "basic-chat", "tasks-get", "tasks-post", "stream", "mem100", "hold"]
UPSTREAM_SCENARIOS = {"chat", "chat-new", "stream"}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def aggregate(runs):
    """One row's figures from its repeats: medians, errors summed, peak RSS the largest."""
    first = runs[0]
    if first["kind"] == "wrk":
        errors = {}
        for run in runs:
            for name, value in run["wrk"]["errors"].items():
                errors[name] = errors.get(name, 0) + value
        fallbacks = sum(run.get("counters", {}).get("fallback_replies", 0) for run in runs)
        return {
            "rps": median(run["wrk"]["requests"] / (run["wrk"]["duration_us"] / 1e6) for run in runs),
            "p50": median(run["wrk"]["latency_us"]["p50"] / 1e3 for run in runs),
            "p90": median(run["wrk"]["latency_us"]["p90"] / 1e3 for run in runs),
            "p99": median(run["wrk"]["latency_us"]["p99"] / 1e3 for run in runs),
            "max": max(run["wrk"]["latency_us"]["max"] / 1e3 for run in runs),
            "errors": sum(errors.values()), "error_kinds": errors,
            "requests": sum(run["wrk"]["requests"] for run in runs),
            "cpu": median(run["usage"]["cpu_cores"] for run in runs),
            "server_cpu": median(sum(run["usage"]["server_cpu_cores"].values()) for run in runs)
            if first["usage"]["server_cpu_cores"] else None,
            "server_cpu_detail": {name: median(run["usage"]["server_cpu_cores"][name] for run in runs)
                                  for name in first["usage"]["server_cpu_cores"]},
            "rss": max(run["usage"]["peak_rss_kib"] for run in runs) / 1024,
            "fallbacks": fallbacks, "repeats": len(runs),
        }
    if first["kind"] == "ttfd":
        return {
            "rps": median(run["rate"] for run in runs),
            "p50": median(run["first_ms"]["p50"] for run in runs),
            "p90": median(run["first_ms"]["p90"] for run in runs),
            "p99": median(run["first_ms"]["p99"] for run in runs),
            "errors": sum(run["failures"] for run in runs), "requests": sum(run["requests"] for run in runs),
            "repeats": len(runs),
        }
    hold = first["hold"]
    return {
        "rps": None, "p50": hold["delta_ms"]["p50"], "p90": None, "p99": hold["delta_ms"]["p99"],
        "errors": hold["streams"] - hold["held"], "rss": hold["peak_rss_kib"] / 1024,
        "idle_rss": (hold["idle_rss_kib"] or 0) / 1024, "hold": hold, "repeats": len(runs),
    }


def fmt(value, digits=2, thousands=False):
    if value is None:
        return ""
    if thousands:
        return f"{value:,.0f}"
    if digits == 0:
        return f"{value:.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def cell(new, base, **options):
    """The figure, or `base → new (×ratio)` when a baseline was measured."""
    if base is None:
        return fmt(new, **options)
    text = f"{fmt(base, **options)} → {fmt(new, **options)}"
    if new is not None and base:
        text += f" (×{new / base:.2f})"
    return text


def cmd_report(args):
    with open(args.machine) as f:
        machine = json.load(f)
    runs = []
    with open(args.input) as f:
        for line in f:
            if line.strip():
                runs.append(json.loads(line))
    groups = {}
    for run in runs:
        scenario = run["scenario"]
        if run["setup"] == "nginx" and scenario == "stream":
            scenario = "stream-nginx"
        key = (run["setup"], scenario, run["conns"], run.get("variant", "new"))
        groups.setdefault(key, []).append(run)
    rows = {key: aggregate(value) for key, value in groups.items()}
    nginx_p50 = rows.get(("nginx", "nginx", 1, "new"), {}).get("p50")
    nginx_first = rows.get(("nginx", "stream-nginx", 1, "new"), {}).get("p50")
    compare = any(key[3] == "base" for key in rows)

    def sort_key(key):
        setup, scenario, conns, _ = key
        return (list(SETUPS).index(setup), ORDER.index(scenario), conns)

    header = ["setup", "scenario", "conns", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "CPU cores",
              "DB CPU cores", "peak RSS MiB", "added p50 ms", "notes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", "---", "---:"] + ["---:"] * 9 + ["---"]) + "|"]
    table_rows = []
    for key in sorted({k[:3] for k in rows}, key=lambda k: sort_key(k + ("new",))):
        setup, scenario, conns = key
        new = rows.get(key + ("new",))
        base = rows.get(key + ("base",))
        if new is None:
            continue

        def pick(name, row):
            return None if row is None else row.get(name)

        added_new = added_base = None
        reference = nginx_first if scenario == "stream" else nginx_p50
        if setup != "nginx" and scenario in UPSTREAM_SCENARIOS and conns == 1 and reference is not None:
            added_new = new["p50"] - reference
            added_base = base["p50"] - reference if base else None
        notes = []
        if new.get("fallbacks"):
            notes.append(f"{new['fallbacks']:.0f} basic-agent fallbacks")
        if new.get("error_kinds") and new["errors"]:
            notes.append(", ".join(f"{k} {v}" for k, v in new["error_kinds"].items() if v))
        if scenario == "hold":
            h = new["hold"]
            notes.append(f"{h['held']}/{h['streams']} open, {h.get('delta_from_model', 0)} streaming from the model "
                         f"({h['with_delta']} with a first delta, the rest from the basic agent after a fallback), "
                         f"upstream saw at most {h['upstream_max_concurrent']} at once; idle RSS {new['idle_rss']:.0f} MiB; "
                         f"p50/p99 = first delta")
            if base:
                hb = base["hold"]
                notes.append(f"base: {hb.get('delta_from_model', 0)} from the model, upstream max {hb['upstream_max_concurrent']}")
        if scenario in ("stream", "stream-nginx"):
            notes.append("sequential; req/s = streams per second")
        b = base if compare else None
        values = [
            SETUPS[setup], SCENARIOS[scenario], str(conns),
            cell(pick("rps", new), pick("rps", b), thousands=True),
            cell(new["p50"], pick("p50", b)), cell(new.get("p90"), pick("p90", b)), cell(new["p99"], pick("p99", b)),
            cell(new.get("errors"), pick("errors", b), digits=0) if not b else f"{fmt(b.get('errors'), 0)} → {fmt(new.get('errors'), 0)}",
            cell(new.get("cpu"), pick("cpu", b)), cell(new.get("server_cpu"), pick("server_cpu", b)),
            cell(new.get("rss"), pick("rss", b), digits=0), cell(added_new, added_base if b else None), "; ".join(notes),
        ]
        lines.append("| " + " | ".join(values) + " |")
        table_rows.append({"setup": setup, "scenario": scenario, "conns": conns, "new": new, "base": base,
                           "added_p50_ms": added_new, "added_p50_ms_base": added_base})
    table = "\n".join(lines)
    binaries = machine.get("binaries", {})
    head = [f"# Parley benchmark, {machine['date']}", "",
            f"- commit `{machine['commit']}`{' (work tree had changes)' if machine.get('dirty') else ''}; "
            f"{machine['nproc']} cores, {machine['cpu']}, {machine['memory']}, Linux {machine['kernel']}"]
    for name, info in binaries.items():
        label = "binary" if name == "new" else "baseline binary"
        head.append(f"- {label} `{info['path']}` (sha256 {info['sha256']}…, built {info['mtime']})"
                    + (" **debug build: the figures mean nothing**" if info["debug"] else ""))
    settings = machine.get("settings", {})
    head.append("- settings: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())) if settings else "- settings: defaults")
    if compare:
        head.append("- cells read `baseline → this binary (×ratio)`")
    head.append("- medians of the repeats; errors summed over them; peak RSS the largest; "
                "added p50 = Parley's p50 at one connection minus nginx's (stream: minus nginx's time to first byte)")
    document = "\n".join(head) + "\n\n" + table + "\n"
    print(table)
    with open(args.md, "w") as f:
        f.write(document)
    with open(args.json, "w") as f:
        json.dump({"machine": machine, "rows": table_rows, "runs": runs}, f, indent=1)


# --------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("setup")
    p.add_argument("--url", required=True)
    p.add_argument("--bin", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--conversations", type=int, default=50)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("wrk")
    p.add_argument("--scenario", required=True)
    p.add_argument("--instance")
    p.add_argument("--url")
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--duration", type=int, required=True)
    p.add_argument("--timeout", type=int, default=10)
    p.add_argument("--pid", type=int, required=True, help="the process (tree) whose CPU and RSS are measured")
    p.add_argument("--server-pids", default="", help="pg=PID,redis=PID: their CPU too")
    p.add_argument("--warmup", action="store_true", help="run, record nothing")
    p.add_argument("--meta", default="{}", help="JSON merged into the record")
    p.add_argument("--out")
    p.add_argument("--log")
    p.set_defaults(func=cmd_wrk)

    p = sub.add_parser("ttfd")
    p.add_argument("--kind", choices=["parley", "nginx"], required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--instance")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--meta", default="{}")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_ttfd)

    p = sub.add_parser("hold")
    p.add_argument("--url", required=True)
    p.add_argument("--instance", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--hold-seconds", type=float, default=5)
    p.add_argument("--open-timeout", type=float, default=30)
    p.add_argument("--drain-timeout", type=float, default=60)
    p.add_argument("--meta", default="{}")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_hold)

    p = sub.add_parser("machine")
    p.add_argument("--root", required=True)
    p.add_argument("--bin", required=True)
    p.add_argument("--bin-base")
    p.add_argument("--commit")
    p.set_defaults(func=cmd_machine)

    p = sub.add_parser("report")
    p.add_argument("--input", required=True)
    p.add_argument("--machine", required=True)
    p.add_argument("--md", required=True)
    p.add_argument("--json", required=True)
    p.set_defaults(func=cmd_report)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
