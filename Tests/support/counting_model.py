"""A scripted OpenAI-compatible model that counts the calls it gets (standard library only).

`CountingModel()` listens on a free loopback port, in a daemon thread of the test's own process
(nothing to kill at exit). Every POST to a path ending in /chat/completions is answered, after
`delay` seconds (so that concurrent callers overlap), with plain text and no tool calls,
`finish_reason` "stop" and a fixed `usage` (PROMPT_TOKENS in, COMPLETION_TOKENS out), so a test
can predict what a provider reports; streamed as Server-Sent Events (the text, then a usage
chunk and `[DONE]`) when the request asks for `stream`. Any other request gets 404 and is not
counted.

- `env(name)`: the PARLEY_MODEL_* variables for a provider `name` pointing here: tools declared
  (`yes`, so no probe request is made at start and counted), not external (no pseudonymization:
  the model sees the message as sent).
- `calls(tag=None)`: how many completions were asked for in all, or those whose last user message
  contains `[tag]` (a test marks each message with the tenant or phase it belongs to).
- `stop()`.
"""

import http.server
import json
import re
import threading
import time

PROMPT_TOKENS = 40
COMPLETION_TOKENS = 9


class CountingModel:
    def __init__(self, model="counting-model", delay=0.05):
        self.model = model
        self.delay = delay
        self.lock = threading.Lock()
        self.total = 0
        self.by_tag = {}
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.server.daemon_threads = True
        self.server.request_queue_size = 256
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self, name="counting"):
        prefix = f"PARLEY_MODEL_PROVIDER_{name.upper()}_"
        return {
            "PARLEY_MODEL_PROVIDERS": name,
            prefix + "KIND": "openai",
            prefix + "BASE_URL": self.base_url,
            prefix + "MODEL": self.model,
            prefix + "TOOLS": "yes",
            prefix + "EXTERNAL": "false",
            prefix + "TIMEOUT_SECONDS": "30",
        }

    def calls(self, tag=None):
        with self.lock:
            return self.total if tag is None else self.by_tag.get(tag, 0)

    def count(self, question):
        with self.lock:
            self.total += 1
            for tag in set(re.findall(r"\[([\w.-]+)\]", question)):
                self.by_tag[tag] = self.by_tag.get(tag, 0) + 1

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def handler(self):
        model = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.reply(404, {"error": {"message": "not found"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self.reply(404, {"error": {"message": "not found"}})
                question = next((m.get("content") or "" for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
                # Counted on arrival: what matters is that the call reached the model.
                model.count(question)
                time.sleep(model.delay)
                text = f"Scripted answer from {model.model}."
                usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                         "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}
                name = body.get("model", model.model)
                if not body.get("stream"):
                    return self.reply(200, {
                        "id": "chatcmpl-counting", "object": "chat.completion", "created": 1700000000, "model": name,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                        "usage": usage})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = {"id": "chatcmpl-counting", "object": "chat.completion.chunk", "created": 1700000000, "model": name}
                events = [dict(chunk, choices=[{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]),
                          dict(chunk, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),
                          dict(chunk, choices=[], usage=usage)]
                for payload in [json.dumps(e) for e in events] + ["[DONE]"]:
                    data = b"data: " + payload.encode() + b"\n\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler
