#!/usr/bin/env python3
"""A slow OpenAI-compatible upstream for the "1,000 open SSE streams" scenario of bench/run.sh.

nginx (the instant upstream) cannot hold a stream open for a while after its first token without
modules Debian's nginx-light lacks, so this small asyncio server does it (stdlib only, loopback):

  POST /v1/chat/completions   "stream": true: SSE headers and the first chunks (role, the first
                              text piece) at once, then nothing until released, then the rest and
                              `data: [DONE]`. A plain request is answered after the release.
                              Once released, every new request is answered at once.
  POST /hold                  arm again: new streams are held (the default at start)
  POST /release               finish every held stream now, and answer new ones at once
  GET  /stats                 {"active", "max_active", "requests", "held"}: how many streams the
                              upstream saw at the same time tells how many Parley ran concurrently
  POST /reset                 zero the counters

Keep-alive HTTP/1.1, chunked responses. Usage: slow_upstream.py PORT
"""
import asyncio
import json
import sys

ANSWER = ["Sure. Here is a short answer", " from the slow benchmark upstream,", " after a long pause."]


def chunk(delta, finish=None, usage=None):
    body = {
        "id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 1700000000, "model": "slow-model",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


USAGE = {"prompt_tokens": 420, "completion_tokens": 12, "total_tokens": 432}
HEAD = chunk({"role": "assistant", "content": ""}) + chunk({"content": ANSWER[0]})
TAIL = b"".join(chunk({"content": piece}) for piece in ANSWER[1:]) + chunk({}, "stop") + chunk(None, usage=USAGE) \
    + b"data: [DONE]\n\n"
COMPLETION = json.dumps({
    "id": "chatcmpl-slow", "object": "chat.completion", "created": 1700000000, "model": "slow-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(ANSWER)}, "finish_reason": "stop"}],
    "usage": USAGE,
}, separators=(",", ":")).encode()


class State:
    def __init__(self):
        self.release = asyncio.Event()
        self.active = 0
        self.max_active = 0
        self.requests = 0

    def stats(self):
        return {"active": self.active, "max_active": self.max_active, "requests": self.requests,
                "held": not self.release.is_set()}


state: State


def encode_chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


async def respond_plain(writer, status, body, content_type=b"application/json"):
    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type + b"\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)
    await writer.drain()


async def completion(writer, stream):
    state.requests += 1
    state.active += 1
    state.max_active = max(state.max_active, state.active)
    try:
        if stream:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" + encode_chunk(HEAD))
            await writer.drain()
            await state.release.wait()
            writer.write(encode_chunk(TAIL) + b"0\r\n\r\n")
            await writer.drain()
        else:
            await state.release.wait()
            await respond_plain(writer, b"200 OK", COMPLETION)
    finally:
        state.active -= 1


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            body = await reader.readexactly(length) if length else b""
            if method == "POST" and path.endswith("/chat/completions"):
                try:
                    stream = bool(json.loads(body or b"{}").get("stream"))
                except ValueError:
                    stream = "text/event-stream" in headers.get("accept", "")
                await completion(writer, stream)
            elif path == "/stats":
                await respond_plain(writer, b"200 OK", json.dumps(state.stats()).encode())
            elif method == "POST" and path == "/release":
                state.release.set()
                await respond_plain(writer, b"200 OK", json.dumps(state.stats()).encode())
            elif method == "POST" and path == "/hold":
                state.release.clear()
                await respond_plain(writer, b"200 OK", json.dumps(state.stats()).encode())
            elif method == "POST" and path == "/reset":
                state.max_active = state.active
                state.requests = 0
                await respond_plain(writer, b"200 OK", json.dumps(state.stats()).encode())
            else:
                await respond_plain(writer, b"404 Not Found", b'{"error":"not found"}')
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main(port):
    global state
    state = State()
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096, limit=1 << 20)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
