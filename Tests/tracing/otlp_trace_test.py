"""The tracing proof (issue 16): a real OTLP/HTTP receiver (ExportTraceServiceRequest decoded with
the `opentelemetry-proto` package) gets the spans of chat turns with two tool calls against a
scripted OpenAI-compatible model server, and the test checks:

1. On PostgreSQL + Redis, tools in process: one trace continuing the caller's `traceparent`; the
   tree server span -> invoke_agent -> chat {model} / pseudonymize / execute_tool {name} ->
   tools/call {name} -> store spans; a failing provider's chat span says why it was passed over;
   the GenAI attributes; PostgreSQL and Redis spans with their system and tenant; the model
   server got the chat span's traceparent; the access log line, the audit events and the turn
   inspector carry the trace id; no personal data anywhere in what was exported.
2. With `mcp.url`: the `parley mcp` service's spans (its HTTP server span and tools/call) join
   the caller's trace, tools/call under the caller's execute_tool (MCP `params._meta`); with
   content capture on, spans carry the text pseudonymized, never the values.

Run by scripts/tracing-e2e.sh with the virtualenv's python (it has opentelemetry-proto).
"""

import gzip
import http.server
import json
import os
import re
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from parley_e2e import Parley, Process, check, create_database, eventually, failures, free_port, parley_token, request  # noqa: E402

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: E402

BINARY = os.environ["PARLEY_BIN"]
EMAIL = "jane.doe@example.com"
PHONE = "+44 20 7946 0958"
MESSAGE = f"add a task to email {EMAIL} about the invoice, and call {PHONE}; then show my list"


# --- the OTLP/HTTP receiver ------------------------------------------------------------------------


class Receiver(http.server.BaseHTTPRequestHandler):
    """POST /v1/traces: decodes each export, keeps its spans and the raw bytes."""

    spans = []
    payloads = []
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = trace_service_pb2.ExportTraceServiceRequest()
        export.ParseFromString(body)
        found = []
        for resource_spans in export.resource_spans:
            service = next((a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"), "")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        {
                            "service": service,
                            "trace": span.trace_id.hex(),
                            "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "name": span.name,
                            "kind": span.kind,
                            "status": span.status.code,
                            "attributes": {a.key: value(a.value) for a in span.attributes},
                        }
                    )
        with Receiver.lock:
            Receiver.spans.extend(found)
            Receiver.payloads.append(body)
        answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def trace_spans(trace_id):
    with Receiver.lock:
        return [s for s in Receiver.spans if s["trace"] == trace_id]


def print_tree(spans):
    """The trace as the receiver got it: each span under its parent, with its service."""
    by_parent = {}
    for span in spans:
        by_parent.setdefault(span["parent"], []).append(span)
    ids = {s["id"] for s in spans}

    def walk(span, depth):
        attributes = span["attributes"]
        notes = [f"{k}={attributes[k]}" for k in ("gen_ai.tool.name", "parley.fallback.reason", "db.namespace", "parley.pii.email")
                 if k in attributes]
        print("  " * depth + f"{span['name']}  [{span['service']}]" + (f"  ({', '.join(notes)})" if notes else ""))
        for child in by_parent.get(span["id"], []):
            walk(child, depth + 1)

    for root in [s for s in spans if s["parent"] not in ids]:
        walk(root, 1)


# --- the scripted model ----------------------------------------------------------------------------


class Model(http.server.BaseHTTPRequestHandler):
    """POST /v1/chat/completions. `broken-model` answers 500. Otherwise: after a tool result, a
    text answer; else two tool calls (add_task with the placeholder the prompt carried, and
    list_tasks). Streamed when asked. Keeps every request's headers and body."""

    protocol_version = "HTTP/1.1"
    seen = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        Model.seen.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        model = body.get("model")
        if model == "broken-model":
            self.reply(500, {"error": {"message": "scripted failure"}})
            return
        messages = body.get("messages", [])
        usage = {"prompt_tokens": 41, "completion_tokens": 9, "total_tokens": 50}
        if messages and messages[-1].get("role") == "tool":
            message, finish = {"role": "assistant", "content": "Added it; you have your list."}, "stop"
        else:
            question = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
            placeholder = (re.findall(r"<EMAIL_\d+>", question) or ["someone"])[0]
            calls = [
                {"id": "call_1", "type": "function",
                 "function": {"name": "add_task", "arguments": json.dumps({"title": f"Email {placeholder} about the invoice"})}},
                {"id": "call_2", "type": "function", "function": {"name": "list_tasks", "arguments": "{}"}},
            ]
            message, finish = {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
        completion = {"id": "chatcmpl-trace", "object": "chat.completion", "created": 1700000000, "model": model + "-2026",
                      "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}
        if not body.get("stream"):
            self.reply(200, completion)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        delta = dict(message)
        if "tool_calls" in delta:
            delta["tool_calls"] = [dict(c, index=i) for i, c in enumerate(delta["tool_calls"])]
        chunks = [{"id": "c", "object": "chat.completion.chunk", "model": completion["model"],
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]},
                  {"id": "c", "object": "chat.completion.chunk", "model": completion["model"], "choices": [], "usage": usage}]
        for chunk in chunks:
            data = b"data: " + json.dumps(chunk).encode() + b"\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        done = b"data: [DONE]\n\n"
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


receiver_port = serve(Receiver)
model_port = serve(Model)
work = os.environ["WORK"]


def tracing_env(service, capture=False):
    return {
        "PARLEY_OTEL_ENDPOINT": f"http://127.0.0.1:{receiver_port}",
        "PARLEY_OTEL_SERVICE_NAME": service,
        "PARLEY_OTEL_CAPTURE_CONTENT": "true" if capture else "false",
        # Export within a fraction of a second instead of the default 5 s batches.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "PARLEY_LOG_LEVEL": "info",
        "PARLEY_MODEL_PROVIDERS": "broken,main",
        "PARLEY_MODEL_PROVIDER_BROKEN_BASE_URL": f"http://127.0.0.1:{model_port}/v1",
        "PARLEY_MODEL_PROVIDER_BROKEN_MODEL": "broken-model",
        "PARLEY_MODEL_PROVIDER_BROKEN_TOOLS": "yes",
        "PARLEY_MODEL_PROVIDER_MAIN_BASE_URL": f"http://127.0.0.1:{model_port}/v1",
        "PARLEY_MODEL_PROVIDER_MAIN_MODEL": "test-model",
        "PARLEY_MODEL_PROVIDER_MAIN_TOOLS": "yes",
    }


def healthy(parley):
    return lambda: request("GET", parley.url + "/api/v1/healthz")[0] == 200


def chat(parley, token, trace_id, stream=False, conversation=None):
    """One turn under a caller's trace; returns (status, reply, request id, the caller's span id)."""
    caller_span = uuid.uuid4().hex[:16]
    request_id = "trace-" + uuid.uuid4().hex[:12]
    body = {"message": MESSAGE, "stream": stream}
    if conversation:
        body["conversation_id"] = conversation
    headers = {"traceparent": f"00-{trace_id}-{caller_span}-01", "X-Request-ID": request_id}
    if not stream:
        status, reply = request("POST", parley.url + "/api/v1/chat", token=token, body=body, headers=headers)
        return status, reply, request_id, caller_span
    import urllib.request

    req = urllib.request.Request(parley.url + "/api/v1/chat", data=json.dumps(body).encode(), method="POST")
    for key, val in {**headers, "Authorization": "Bearer " + token, "Content-Type": "application/json"}.items():
        req.add_header(key, val)
    with urllib.request.urlopen(req, timeout=30) as response:
        text = response.read().decode()
    done = [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: ") and '"conversation_id"' in line]
    return 200, (done[-1] if done else {}), request_id, caller_span


def named(spans, prefix):
    return [s for s in spans if s["name"].startswith(prefix)]


def the(spans, name):
    found = [s for s in spans if s["name"] == name]
    return found[0] if len(found) == 1 else None


# --- 1. PostgreSQL + Redis, tools in process ---------------------------------------------------------

database = create_database(os.environ["PARLEY_TEST_DATABASE_URL"], "parley_tracing_" + uuid.uuid4().hex[:8])
env = tracing_env("parley")
env.update({"PARLEY_DATABASE_URL": database, "PARLEY_REDIS_URL": os.environ["PARLEY_REDIS_URL"]})
api = Parley("parley-traced", BINARY, ["serve"], env=env)
api.wait_ready(healthy(api))
alice = parley_token(BINARY, "alice")
admin = parley_token(BINARY, "root", admin=True)

trace_id = uuid.uuid4().hex
status, reply, request_id, caller_span = chat(api, alice, trace_id)
check(status == 200 and [c["name"] for c in reply.get("tool_calls", [])] == ["add_task", "list_tasks"],
      f"a turn with two tool calls answered: {status} {[c.get('name') for c in reply.get('tool_calls', [])]}")
check(EMAIL in json.dumps(reply), "the answer's tool calls carry the real address (restored from its placeholder)")
expected = ["invoke_agent parley", "chat broken-model", "chat test-model", "execute_tool add_task", "execute_tool list_tasks",
            "tools/call add_task", "tools/call list_tasks", "/api/v1/chat"]
eventually(lambda: all(named(trace_spans(trace_id), name) for name in expected), 20)
spans = trace_spans(trace_id)
print("  the exported trace (PostgreSQL + Redis, tools in process):")
print_tree(spans)

server = the(spans, "/api/v1/chat")
agent = the(spans, "invoke_agent parley")
check(server is not None and server["parent"] == caller_span and server["kind"] == 2,
      "the server span continues the caller's traceparent (same trace, the caller's span as parent)")
check(agent is not None and server is not None and agent["parent"] == server["id"], "invoke_agent is a child of the server span")
chats = named(spans, "chat ")
check(len(chats) == 4 and all(agent and c["parent"] == agent["id"] for c in chats),
      f"four chat spans (two rounds, each a failing provider then the answering one) under invoke_agent: {[c['name'] for c in chats]}")
broken = [c for c in chats if c["name"] == "chat broken-model"]
good = [c for c in chats if c["name"] == "chat test-model"]
check(broken and all(c["status"] == 2 and c["attributes"].get("parley.fallback.reason") == "server_error"
                     and c["attributes"].get("error.type") == "server_error" for c in broken),
      "the failing provider's chat spans are errors that say why it was passed over (server_error)")
first = good[0]["attributes"] if good else {}
check(first.get("gen_ai.operation.name") == "chat" and first.get("gen_ai.provider.name") == "openai"
      and first.get("gen_ai.request.model") == "test-model" and first.get("gen_ai.response.model") == "test-model-2026"
      and first.get("gen_ai.usage.input_tokens") == 41 and first.get("gen_ai.usage.output_tokens") == 9
      and first.get("parley.model.provider") == "main",
      f"chat spans carry the GenAI attributes: {first}")
check(sorted(str(c["attributes"].get("gen_ai.response.finish_reasons")) for c in good) == ["['stop']", "['tool_calls']"],
      "finish reasons: tool_calls, then stop")
tools = {name: the(spans, f"execute_tool {name}") for name in ("add_task", "list_tasks")}
check(all(t and t["parent"] == agent["id"] and t["attributes"].get("gen_ai.tool.name") == name
          and t["attributes"].get("parley.tool.outcome") == "ok" for name, t in tools.items()),
      "execute_tool spans for both tools, under invoke_agent, with their outcome")
calls = {name: the(spans, f"tools/call {name}") for name in ("add_task", "list_tasks")}
check(all(calls[name] and tools[name] and calls[name]["parent"] == tools[name]["id"] for name in calls),
      "the MCP server's tools/call spans under their execute_tool")
pseudonymize = named(spans, "pseudonymize")
check(pseudonymize and all(p["parent"] == agent["id"] and p["attributes"].get("parley.pii.email") == 1
                           and p["attributes"].get("parley.pii.phone") == 1 for p in pseudonymize),
      "pseudonymize spans count the placeholders per kind (one email, one phone)")
stores = [s for s in spans if s["attributes"].get("db.system.name") == "postgresql"]
under_tool = [s for s in stores if calls["add_task"] and s["parent"] == calls["add_task"]["id"]]
check(under_tool and all(s["attributes"].get("db.namespace") == "tenant_acme" and s["attributes"].get("db.system") == "postgresql"
                         for s in under_tool),
      f"the task's store calls are PostgreSQL spans under tools/call add_task, in tenant_acme: {[s['name'] for s in under_tool]}")
check(any(s["attributes"].get("db.system.name") == "redis" for s in spans), "Redis calls are spans of the trace too")
chat_ids = {c["id"] for c in chats}
# AsyncHTTPClient makes a client span (POST) under each chat span and sends its traceparent.
http_ids = {s["id"] for s in spans if s["name"] == "POST" and s["parent"] in chat_ids}
model_parents = [r["headers"].get("traceparent", "") for r in Model.seen if r["headers"].get("traceparent", "").split("-")[1:2] == [trace_id]]
check(len(model_parents) == 4 and len(http_ids) == 4 and {p.split("-")[2] for p in model_parents} == http_ids,
      "every request to the model carried the trace: its HTTP client span, under its chat span")

logs = [json.loads(line) for line in open(os.path.join(work, "parley-traced.log")) if line.startswith("{")]
access = [line for line in logs if line.get("request_id") == request_id and line.get("msg") == "request"]
check(access and access[0].get("trace_id") == trace_id and len(access[0].get("span_id", "")) == 16,
      "the access log line carries the trace id and span id")
_, audit = request("GET", f"{api.url}/api/v1/admin/audit?request_id={request_id}", token=admin)
events = audit.get("events", [])
eventually(lambda: len(request("GET", f"{api.url}/api/v1/admin/audit?request_id={request_id}", token=admin)[1].get("events", [])) >= 2)
_, audit = request("GET", f"{api.url}/api/v1/admin/audit?request_id={request_id}", token=admin)
events = audit.get("events", [])
check(len(events) >= 2 and all(e.get("trace_id") == trace_id for e in events),
      f"the turn's audit events carry the trace id: {[(e.get('action'), e.get('trace_id')) for e in events]}")
conversation = reply.get("conversation_id")
_, inspected = request("GET", f"{api.url}/api/v1/admin/users/alice/conversations/{conversation}", token=admin)
check(inspected.get("turns", [{}])[-1].get("trace_id") == trace_id, "the turn inspector names the turn's trace")

stream_trace = uuid.uuid4().hex
status, streamed, _, stream_caller = chat(api, alice, stream_trace, stream=True, conversation=conversation)
eventually(lambda: named(trace_spans(stream_trace), "tools/call list_tasks") and named(trace_spans(stream_trace), "/api/v1/chat"), 20)
streamed_spans = trace_spans(stream_trace)
stream_agent = the(streamed_spans, "invoke_agent parley")
stream_server = the(streamed_spans, "/api/v1/chat")
check(stream_agent and stream_server and stream_agent["parent"] == stream_server["id"] and stream_server["parent"] == stream_caller,
      "a streamed turn's spans are in the caller's trace too, under its server span")
api.stop()

# --- 2. mcp.url: the MCP service joins the trace; content captured, pseudonymized ----------------------

mcp_port = free_port()
mcp_env = tracing_env("parley-mcp")
mcp_env.update({"PARLEY_MCP_PORT": str(mcp_port)})
remote_env = tracing_env("parley", capture=True)
remote_env.update({"PARLEY_MCP_URL": f"http://127.0.0.1:{mcp_port}/mcp"})
remote = Parley("parley-remote-tools", BINARY, ["serve"], env=remote_env)
# One after the other, as an operator starts them: ready means the shared SQLite files exist and are
# migrated. (Two processes opening one new file at the same instant: SQLiteHandleTests.)
remote.wait_ready(healthy(remote))
mcp = Process("parley-mcp", [BINARY, "mcp"], env={**os.environ, **mcp_env})
mcp.wait_ready(lambda: request("POST", f"http://127.0.0.1:{mcp_port}/mcp")[0] in (400, 401, 406))
bob = parley_token(BINARY, "bob")
remote_trace = uuid.uuid4().hex
status, reply, _, _ = chat(remote, bob, remote_trace)
check(status == 200 and len(reply.get("tool_calls", [])) == 2, f"with mcp.url the turn answered with two tool calls: {status}")
eventually(lambda: len(named(trace_spans(remote_trace), "tools/call ")) == 2 and named(trace_spans(remote_trace), "invoke_agent"), 20)
remote_spans = trace_spans(remote_trace)
print("  the exported trace (tools at a parley mcp service):")
print_tree(remote_spans)
services = {s["service"] for s in remote_spans}
check(services == {"parley", "parley-mcp"}, f"both services export into the one trace: {services}")
for name in ("add_task", "list_tasks"):
    caller = the(remote_spans, f"execute_tool {name}")
    served = the(remote_spans, f"tools/call {name}")
    check(caller and served and served["service"] == "parley-mcp" and served["parent"] == caller["id"] and served["kind"] == 2,
          f"tools/call {name} at the MCP service is a child of the caller's execute_tool (params._meta)")
mcp_http = [s for s in remote_spans if s["service"] == "parley-mcp" and s["name"] == "/mcp"]
# Each MCP request is an HTTP client span of the caller (AsyncHTTPClient's), under execute_tool
# (or, closing the session, under invoke_agent); the service's server span continues from it.
tool_ids = {s["id"] for s in named(remote_spans, "execute_tool") + named(remote_spans, "invoke_agent")}
client_ids = {s["id"] for s in remote_spans if s["service"] == "parley" and s["kind"] == 3 and s["parent"] in tool_ids}
check(len(mcp_http) >= 2 and all(s["parent"] in client_ids and s["kind"] == 2 for s in mcp_http),
      "the MCP service's HTTP server spans continue the trace from the request headers")
remote_agent = the(remote_spans, "invoke_agent parley")
captured = (remote_agent or {}).get("attributes", {})
add = (the(remote_spans, "execute_tool add_task") or {}).get("attributes", {})
check("<EMAIL_1>" in captured.get("gen_ai.input.messages", "") and "<PHONE_1>" in captured.get("gen_ai.input.messages", "")
      and captured.get("gen_ai.output.messages") and "<EMAIL_1>" in add.get("gen_ai.tool.call.arguments", ""),
      "with otel.captureContent the spans carry the text and tool arguments, pseudonymized")
remote.stop()
mcp.stop()

# --- no personal data in anything exported -------------------------------------------------------------

with Receiver.lock:
    exported = b"".join(Receiver.payloads)
    count = len(Receiver.spans)
check(count > 40 and EMAIL.encode() not in exported and b"7946" not in exported and b"jane" not in exported.lower(),
      f"no email address or phone number in the {count} exported spans, with or without content capture")
plain = [s for s in trace_spans(trace_id) if any(k.startswith("gen_ai.input") or k.startswith("gen_ai.tool.call.") for k in s["attributes"])]
check(not plain, "without content capture no span carries message text or tool arguments")

if failures:
    print(f"tracing: {len(failures)} check(s) failed")
    sys.exit(1)
print("tracing: all checks passed")
