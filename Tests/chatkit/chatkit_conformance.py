#!/usr/bin/env python3
"""ChatKit self-hosted backend conformance checker: Parley's POST /chatkit against the openai-chatkit package.

Sends every ChatKit request type to POST {url}/chatkit with a bearer token and validates every
SSE event and every JSON body with the `openai-chatkit` package's OWN pydantic types
(chatkit.types: ThreadStreamEvent, Thread, Page[Thread], Page[ThreadItem]), then checks
behaviour (event order, persistence, pagination, feedback, retry, rename, delete, isolation).

Stricter than pydantic alone, because pydantic is lenient:
  * unknown keys are silently ignored by the models -> reported here (a misspelled optional
    field would otherwise pass unnoticed);
  * `Page` has defaults for every field, so `{}` validates -> `data` and `has_more` required;
  * `created_at` accepts ints, dates, naive times -> must be an RFC 3339 string with a zone
    (`--allow-naive-datetime` relaxes the zone for the package's own server, which emits
    naive local times from datetime.now());
  * SSE: only `data:` lines (and `:` comments) are allowed; an `event:` field would make
    EventSource-style parsers dispatch under another name.

Usage:
  python chatkit_conformance.py --url http://127.0.0.1:8080 --token "$TOKEN" \
      [--token2 "$OTHER_TENANT_TOKEN"] [--message "add a task to buy milk"] \
      [--expect-text "Added task"] [--allow-naive-datetime] [--no-http-status-checks] [-v]
Prints one line per check and a last line "N passed, M failed"; exits 1 on any failure.
Requires: pip install openai-chatkit   (written against 1.6.5)
"""
from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from chatkit.types import Page, Thread, ThreadItem, ThreadStreamEvent

EVENT_TA = TypeAdapter(ThreadStreamEvent)
THREAD_TA = TypeAdapter(Thread)
THREAD_PAGE_TA = TypeAdapter(Page[Thread])
ITEM_PAGE_TA = TypeAdapter(Page[ThreadItem])

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
RFC3339_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$")


class CheckFailed(Exception):
    pass


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes = b""
    events: list[dict] = field(default_factory=list)  # parsed JSON of each SSE event
    raw_events: list[str] = field(default_factory=list)
    sse_problems: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    first_event_after: float | None = None


class Checker:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        u = urllib.parse.urlsplit(args.url.rstrip("/"))
        if u.scheme not in ("http", "https"):
            raise SystemExit("--url must be http(s)://host:port")
        self.scheme, self.netloc, self.base_path = u.scheme, u.netloc, u.path
        self.passed = 0
        self.failed = 0
        self.datetime_re = RFC3339_NAIVE if args.allow_naive_datetime else RFC3339

    # ---------------------------------------------------------------- reporting
    def ok(self, name: str) -> None:
        self.passed += 1
        print(f"ok   {name}")

    def fail(self, name: str, detail: str) -> None:
        self.failed += 1
        print(f"FAIL {name}: {detail}")

    def check(self, name: str, cond: bool, detail: str = "") -> bool:
        (self.ok(name) if cond else self.fail(name, detail or "condition false"))
        return cond

    def step(self, name: str, fn, *a, **kw):
        """Run one check function; CheckFailed/any exception counts as one failure."""
        try:
            r = fn(*a, **kw)
            self.ok(name)
            return r
        except CheckFailed as e:
            self.fail(name, str(e))
        except Exception as e:  # noqa: BLE001
            self.fail(name, f"{type(e).__name__}: {e}" + ("\n" + traceback.format_exc() if self.args.verbose else ""))
        return None

    # ---------------------------------------------------------------- HTTP
    def post(self, payload: Any, token: str | None = "default", raw: bytes | None = None) -> Response:
        tok = self.args.token if token == "default" else token
        body = raw if raw is not None else json.dumps(payload).encode()
        conn_cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(self.netloc, timeout=self.args.timeout)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream, application/json"}
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        t0 = time.monotonic()
        conn.request("POST", self.base_path + "/chatkit", body=body, headers=headers)
        resp = conn.getresponse()
        ctype = resp.getheader("Content-Type", "") or ""
        r = Response(status=resp.status, content_type=ctype)
        if ctype.split(";")[0].strip().lower() == "text/event-stream":
            self._read_sse(resp, r, t0)
        else:
            r.body = resp.read()
        r.elapsed = time.monotonic() - t0
        conn.close()
        if self.args.verbose:
            kind = f"{len(r.events)} events" if r.events else f"{len(r.body)} bytes"
            t = payload.get("type") if isinstance(payload, dict) else "raw"
            print(f"     -> {t}: HTTP {r.status} {ctype} {kind} in {r.elapsed:.3f}s")
        return r

    @staticmethod
    def _read_sse(resp: http.client.HTTPResponse, r: Response, t0: float) -> None:
        """WHATWG SSE parsing, recording anything ChatKit's own server would never send."""
        data_lines: list[str] = []
        while True:
            line_b = resp.readline()
            if not line_b:
                break
            line = line_b.decode("utf-8").rstrip("\n").rstrip("\r")
            if line == "":
                if data_lines:
                    data = "\n".join(data_lines)
                    r.raw_events.append(data)
                    if r.first_event_after is None:
                        r.first_event_after = time.monotonic() - t0
                    try:
                        r.events.append(json.loads(data))
                    except json.JSONDecodeError as e:
                        r.sse_problems.append(f"event data is not JSON ({e}): {data[:120]!r}")
                        r.events.append({"__invalid__": data})
                    data_lines = []
                continue
            if line.startswith(":"):
                continue  # comment / keep-alive: allowed
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                data_lines.append(value)
            else:
                r.sse_problems.append(f"unexpected SSE field {name!r} (ChatKit sends data-only events): {line[:80]!r}")
        if data_lines:
            r.sse_problems.append("stream ended without the blank line that terminates the last event")

    # ---------------------------------------------------------------- validation helpers
    def _unknown_keys(self, got: Any, dumped: Any, path: str, out: list[str]) -> None:
        if isinstance(got, dict) and isinstance(dumped, dict):
            for k, v in got.items():
                if k not in dumped:
                    out.append(f"{path}.{k}")
                else:
                    self._unknown_keys(v, dumped[k], f"{path}.{k}", out)
        elif isinstance(got, list) and isinstance(dumped, list):
            for i, (a, b) in enumerate(zip(got, dumped)):
                self._unknown_keys(a, b, f"{path}[{i}]", out)

    def _datetimes(self, got: Any, path: str, out: list[str]) -> None:
        if isinstance(got, dict):
            for k, v in got.items():
                if k == "created_at" and (not isinstance(v, str) or not self.datetime_re.match(v)):
                    out.append(f"{path}.{k}={v!r}")
                elif k not in ("metadata", "arguments", "data", "output", "payload"):
                    self._datetimes(v, f"{path}.{k}", out)
        elif isinstance(got, list):
            for i, v in enumerate(got):
                self._datetimes(v, f"{path}[{i}]", out)

    def validate(self, ta: TypeAdapter, obj: Any, what: str) -> Any:
        try:
            model = ta.validate_python(obj)
        except ValidationError as e:
            raise CheckFailed(f"{what} does not parse with chatkit.types: {e}\n  json: {json.dumps(obj)[:400]}")
        dumped = ta.dump_python(model, mode="json", by_alias=True)
        unknown: list[str] = []
        self._unknown_keys(obj, dumped, "$", unknown)
        if unknown:
            raise CheckFailed(f"{what} has keys that chatkit.types does not define (silently dropped by the "
                              f"client): {unknown}\n  json: {json.dumps(obj)[:400]}")
        bad_dt: list[str] = []
        self._datetimes(obj, "$", bad_dt)
        if bad_dt:
            raise CheckFailed(f"{what}: created_at must be an RFC 3339 string"
                              f"{'' if self.args.allow_naive_datetime else ' with Z or an offset'}: {bad_dt}")
        return model

    def json_response(self, r: Response, what: str, ta: TypeAdapter | None = None,
                      required_keys: tuple[str, ...] = ()) -> Any:
        if r.status != 200:
            raise CheckFailed(f"{what}: HTTP {r.status}, want 200: {r.body[:300]!r}")
        if r.content_type.split(";")[0].strip().lower() != "application/json":
            raise CheckFailed(f"{what}: Content-Type {r.content_type!r}, want application/json")
        try:
            obj = json.loads(r.body)
        except json.JSONDecodeError as e:
            raise CheckFailed(f"{what}: body is not JSON ({e}): {r.body[:200]!r}")
        if not isinstance(obj, dict):
            raise CheckFailed(f"{what}: body must be a JSON object, got {type(obj).__name__}")
        missing = [k for k in required_keys if k not in obj]
        if missing:
            raise CheckFailed(f"{what}: missing keys {missing} in {json.dumps(obj)[:300]}")
        if ta is not None:
            return obj, self.validate(ta, obj, what)
        return obj, None

    def stream_response(self, r: Response, what: str) -> list[dict]:
        if r.status != 200:
            raise CheckFailed(f"{what}: HTTP {r.status}, want 200: {r.body[:300]!r}")
        if r.content_type.split(";")[0].strip().lower() != "text/event-stream":
            raise CheckFailed(f"{what}: Content-Type {r.content_type!r}, want text/event-stream")
        if r.sse_problems:
            raise CheckFailed(f"{what}: SSE framing: {r.sse_problems}")
        if not r.events:
            raise CheckFailed(f"{what}: no events")
        for i, ev in enumerate(r.events):
            self.validate(EVENT_TA, ev, f"{what} event #{i} ({ev.get('type')})")
            if isinstance(ev.get("thread"), dict) and "items" in ev["thread"]:
                self._page_keys(ev["thread"]["items"], f"{what} event #{i} thread.items")
        errors = [e for e in r.events if e.get("type") == "error"]
        if errors:
            raise CheckFailed(f"{what}: server sent error event(s): {errors}")
        return r.events

    @staticmethod
    def _page_keys(page: Any, what: str) -> None:
        if not isinstance(page, dict) or "data" not in page or "has_more" not in page:
            raise CheckFailed(f"{what}: a Page needs 'data' and 'has_more' (and 'after' when has_more): {page!r}")
        if page["has_more"] and not page.get("after"):
            raise CheckFailed(f"{what}: has_more is true but no 'after' cursor")

    # ---------------------------------------------------------------- behaviour helpers
    @staticmethod
    def user_input(text: str) -> dict:
        return {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}

    def check_turn(self, events: list[dict], thread_id: str | None, user_text: str | None, what: str,
                   expect_created: bool) -> dict:
        """Check the ChatKit order for one turn; returns ids and text of what was streamed."""
        types = [e["type"] for e in events]
        pos = 0
        result: dict[str, Any] = {"done_items": []}
        if expect_created:
            if types[0] != "thread.created":
                raise CheckFailed(f"{what}: first event must be thread.created, got {types}")
            thread_id = events[0]["thread"]["id"]
            if not isinstance(thread_id, str) or not thread_id:
                raise CheckFailed(f"{what}: thread.created has no thread id")
            pos = 1
        elif "thread.created" in types:
            raise CheckFailed(f"{what}: unexpected thread.created in {types}")
        result["thread_id"] = thread_id

        if user_text is not None:
            ev = events[pos] if pos < len(events) else {}
            item = ev.get("item", {})
            if ev.get("type") != "thread.item.done" or item.get("type") != "user_message":
                raise CheckFailed(f"{what}: event #{pos} must be thread.item.done with the user_message; types={types}")
            texts = [c.get("text") for c in item.get("content", []) if c.get("type") == "input_text"]
            if user_text not in texts:
                raise CheckFailed(f"{what}: user_message content {item.get('content')} lacks {user_text!r}")
            result["user_item_id"] = item["id"]
            pos += 1
        elif any(e.get("type") == "thread.item.done" and e["item"].get("type") == "user_message" for e in events):
            raise CheckFailed(f"{what}: no user_message item expected (retry re-uses the stored one): {types}")

        open_items: dict[str, dict] = {}
        seen_done: set[str] = set()
        assistant: dict[str, Any] | None = None
        phase = None  # for the assistant message: added -> part_added -> deltas -> part_done -> done
        for i, ev in enumerate(events[pos:], start=pos):
            t = ev["type"]
            if t in ("thread.item.added", "thread.item.done", "thread.item.replaced"):
                item = ev["item"]
                if item["thread_id"] != thread_id:
                    raise CheckFailed(f"{what}: event #{i} item.thread_id {item['thread_id']!r} != {thread_id!r}")
                if item["id"] in seen_done:
                    raise CheckFailed(f"{what}: event #{i} reuses the id of a finished item {item['id']!r}")
            if t == "thread.item.added":
                item = ev["item"]
                if item["id"] in open_items:
                    raise CheckFailed(f"{what}: event #{i} adds {item['id']!r} twice")
                open_items[item["id"]] = item
                if item["type"] == "assistant_message" and assistant is None:
                    assistant = {"id": item["id"], "deltas": [], "part_done": None}
                    phase = "added"
            elif t == "thread.item.updated":
                iid = ev["item_id"]
                if iid not in open_items:
                    raise CheckFailed(f"{what}: event #{i} updates {iid!r} which is not an open (added, not done) item")
                u = ev["update"]
                if assistant and iid == assistant["id"]:
                    ut = u["type"]
                    if ut == "assistant_message.content_part.added":
                        if phase != "added" or u["content_index"] != 0:
                            raise CheckFailed(f"{what}: event #{i} content_part.added out of order (phase {phase})")
                        phase = "part_added"
                    elif ut == "assistant_message.content_part.text_delta":
                        if phase not in ("part_added", "deltas") or u["content_index"] != 0:
                            raise CheckFailed(f"{what}: event #{i} text_delta before content_part.added (phase {phase})")
                        assistant["deltas"].append(u["delta"])
                        phase = "deltas"
                    elif ut == "assistant_message.content_part.done":
                        if phase not in ("part_added", "deltas"):
                            raise CheckFailed(f"{what}: event #{i} content_part.done out of order (phase {phase})")
                        assistant["part_done"] = u["content"]["text"]
                        phase = "part_done"
            elif t == "thread.item.done":
                item = ev["item"]
                open_items.pop(item["id"], None)
                seen_done.add(item["id"])
                result["done_items"].append((item["id"], item["type"]))
                if assistant and item["id"] == assistant["id"]:
                    if phase != "part_done":
                        raise CheckFailed(f"{what}: event #{i} assistant thread.item.done before content_part.done")
                    assistant["final"] = "".join(c["text"] for c in item["content"])
                    phase = "done"
        if open_items:
            raise CheckFailed(f"{what}: items added but never done: {list(open_items)}")
        if assistant is None:
            raise CheckFailed(f"{what}: no assistant_message thread.item.added (the text must stream); types={types}")
        if phase != "done":
            raise CheckFailed(f"{what}: assistant message never finished (phase {phase}); types={types}")
        joined = "".join(assistant["deltas"])
        if not assistant["deltas"]:
            raise CheckFailed(f"{what}: no text_delta events")
        if not (joined == assistant["part_done"] == assistant["final"]):
            raise CheckFailed(f"{what}: deltas {joined!r}, content_part.done {assistant['part_done']!r} and "
                              f"item.done {assistant['final']!r} disagree")
        if not joined.strip():
            raise CheckFailed(f"{what}: empty assistant text")
        if "stream_options" not in types:
            print(f"     note: {what}: no stream_options event (ChatKitServer always sends "
                  f"{{\"allow_cancel\": true}} right after the user item; without it the client may not offer Stop)")
        result["assistant_id"] = assistant["id"]
        result["assistant_text"] = joined
        result["types"] = types
        return result

    def list_items(self, thread_id: str, order: str = "asc", limit: int = 100, after: str | None = None,
                   token: str | None = "default") -> dict:
        params: dict[str, Any] = {"thread_id": thread_id, "order": order, "limit": limit}
        if after:
            params["after"] = after
        r = self.post({"type": "items.list", "params": params, "metadata": {}}, token=token)
        obj, _ = self.json_response(r, "items.list", ITEM_PAGE_TA, ("data", "has_more"))
        self._page_keys(obj, "items.list")
        return obj

    def list_threads(self, order: str = "desc", limit: int = 100, after: str | None = None) -> dict:
        params: dict[str, Any] = {"order": order, "limit": limit}
        if after:
            params["after"] = after
        r = self.post({"type": "threads.list", "params": params, "metadata": {}})
        obj, _ = self.json_response(r, "threads.list", THREAD_PAGE_TA, ("data", "has_more"))
        self._page_keys(obj, "threads.list")
        for t in obj["data"]:
            self._page_keys(t.get("items"), f"threads.list thread {t.get('id')} .items")
        return obj

    def get_thread(self, thread_id: str, token: str | None = "default") -> Response:
        return self.post({"type": "threads.get_by_id", "params": {"thread_id": thread_id}, "metadata": {}}, token=token)

    def walk(self, fetch, limit: int = 1) -> list[str]:
        ids: list[str] = []
        after = None
        for _ in range(200):
            page = fetch(limit=limit, after=after)
            if len(page["data"]) > limit:
                raise CheckFailed(f"page has {len(page['data'])} entries, limit was {limit}")
            ids += [x["id"] for x in page["data"]]
            if not page["has_more"]:
                return ids
            after = page["after"]
        raise CheckFailed("pagination did not end within 200 pages")

    # ---------------------------------------------------------------- the scenario
    def run(self) -> int:
        a = self.args
        st: dict[str, Any] = {}

        # 1. threads.create
        def t_create():
            r = self.post({"type": "threads.create", "params": {"input": self.user_input(a.message)}, "metadata": {}})
            ev = self.stream_response(r, "threads.create")
            turn = self.check_turn(ev, None, a.message, "threads.create", expect_created=True)
            if a.expect_text and a.expect_text not in turn["assistant_text"]:
                raise CheckFailed(f"assistant said {turn['assistant_text']!r}, expected it to contain {a.expect_text!r}")
            st["t1"] = turn
            print(f"     events: {' '.join(turn['types'])}")
            print(f"     assistant: {turn['assistant_text']!r}; first event after {r.first_event_after:.3f}s, all in {r.elapsed:.3f}s")
        self.step("threads.create streams ChatKit events in order (created, user item, assistant item, part, deltas, part done, item done)", t_create)
        if "t1" not in st:
            print("cannot continue without a thread")
            return self.summary()
        tid = st["t1"]["thread_id"]

        # 2. threads.get_by_id
        def t_get():
            obj, th = self.json_response(self.get_thread(tid), "threads.get_by_id", THREAD_TA, ("id", "created_at", "items"))
            self._page_keys(obj["items"], "threads.get_by_id .items")
            if obj["id"] != tid:
                raise CheckFailed(f"id {obj['id']!r} != {tid!r}")
            ids = [i["id"] for i in obj["items"]["data"]]
            want = [st["t1"]["user_item_id"]] + [i for i, _ in st["t1"]["done_items"]]
            if ids[: len(want)] != want:
                raise CheckFailed(f"items {ids} should start with the streamed items in order {want}")
            last = obj["items"]["data"][len(want) - 1]
            if last["type"] != "assistant_message" or "".join(c["text"] for c in last["content"]) != st["t1"]["assistant_text"]:
                raise CheckFailed(f"stored assistant message differs from the streamed one: {last}")
        self.step("threads.get_by_id returns the Thread with its items oldest first", t_get)

        # 3. threads.add_user_message
        def t_add():
            r = self.post({"type": "threads.add_user_message",
                           "params": {"thread_id": tid, "input": self.user_input(a.followup)}, "metadata": {}})
            ev = self.stream_response(r, "threads.add_user_message")
            st["t2"] = self.check_turn(ev, tid, a.followup, "threads.add_user_message", expect_created=False)
            print(f"     assistant: {st['t2']['assistant_text']!r}")
        self.step("threads.add_user_message streams the user item then the assistant message (no thread.created)", t_add)

        expected_ids: list[str] = []
        for k in ("t1", "t2"):
            if k in st:
                expected_ids += [st[k]["user_item_id"]] + [i for i, _ in st[k]["done_items"]]

        # 4. items.list
        def t_items():
            asc = self.list_items(tid, "asc")
            ids = [i["id"] for i in asc["data"]]
            if ids != expected_ids:
                raise CheckFailed(f"asc ids {ids} != streamed order {expected_ids}")
            stamps = [i["created_at"] for i in asc["data"]]
            desc = self.list_items(tid, "desc")
            if [i["id"] for i in desc["data"]] != list(reversed(ids)):
                raise CheckFailed(f"desc {[i['id'] for i in desc['data']]} is not asc reversed")
            walked = self.walk(lambda limit, after: self.list_items(tid, "asc", limit, after), limit=2)
            if walked != ids:
                raise CheckFailed(f"paging with limit=2 via 'after' gave {walked}, want {ids}")
            walked = self.walk(lambda limit, after: self.list_items(tid, "desc", limit, after), limit=1)
            if walked != list(reversed(ids)):
                raise CheckFailed(f"paging desc with limit=1 gave {walked}")
            if self.args.verbose:
                print(f"     created_at: {stamps}")
        self.step("items.list pages the items (asc, desc, limit/after cursor) in the streamed order", t_items)

        # 5. items.feedback
        def t_feedback():
            for kind in ("positive", "negative"):
                r = self.post({"type": "items.feedback", "params": {"thread_id": tid, "item_ids": [st["t1"]["assistant_id"]],
                                                                    "kind": kind}, "metadata": {}})
                self.json_response(r, f"items.feedback {kind}")
        self.step("items.feedback (positive, negative) answers 200 with a JSON object", t_feedback)

        # 6. threads.retry_after_item
        def t_retry():
            user2 = st["t2"]["user_item_id"]
            old = [i for i, _ in st["t2"]["done_items"]]
            r = self.post({"type": "threads.retry_after_item", "params": {"thread_id": tid, "item_id": user2}, "metadata": {}})
            ev = self.stream_response(r, "threads.retry_after_item")
            turn = self.check_turn(ev, tid, None, "threads.retry_after_item", expect_created=False)
            ids = [i["id"] for i in self.list_items(tid, "asc")["data"]]
            new = [i for i, _ in turn["done_items"]]
            if any(o in ids for o in old):
                raise CheckFailed(f"items after the retried message were not removed: {old} still in {ids}")
            if ids[ids.index(user2) + 1:] != new:
                raise CheckFailed(f"after retry the items following {user2} are {ids[ids.index(user2)+1:]}, want {new}")
            st["t2_retry"] = turn
        self.step("threads.retry_after_item drops the items after the user message and streams a new answer", t_retry)

        # 7. threads.update
        def t_update():
            r = self.post({"type": "threads.update", "params": {"thread_id": tid, "title": "Groceries"}, "metadata": {}})
            obj, _ = self.json_response(r, "threads.update", THREAD_TA, ("id", "created_at", "items"))
            if obj.get("title") != "Groceries" or obj["id"] != tid:
                raise CheckFailed(f"threads.update returned {obj}")
            got, _ = self.json_response(self.get_thread(tid), "threads.get_by_id", THREAD_TA)
            if got.get("title") != "Groceries":
                raise CheckFailed(f"title not persisted: {got.get('title')!r}")
        self.step("threads.update sets the title and returns the Thread", t_update)

        # 8. threads.list (with a second thread for ordering and paging)
        def t_list():
            r = self.post({"type": "threads.create", "params": {"input": self.user_input("hello")}, "metadata": {}})
            ev = self.stream_response(r, "threads.create (second)")
            t2 = self.check_turn(ev, None, "hello", "threads.create (second)", expect_created=True)["thread_id"]
            st["tid2"] = t2
            desc = [t["id"] for t in self.list_threads("desc")["data"]]
            asc = [t["id"] for t in self.list_threads("asc")["data"]]
            if tid not in desc or t2 not in desc:
                raise CheckFailed(f"threads.list {desc} lacks {tid} or {t2}")
            if desc.index(t2) > desc.index(tid):
                raise CheckFailed(f"order=desc must list the newer thread first: {desc}")
            if asc.index(t2) < asc.index(tid):
                raise CheckFailed(f"order=asc must list the older thread first: {asc}")
            titled = [t for t in self.list_threads("desc")["data"] if t["id"] == tid][0]
            if titled.get("title") != "Groceries":
                raise CheckFailed(f"threads.list shows title {titled.get('title')!r}")
            walked = self.walk(lambda limit, after: self.list_threads("desc", limit, after), limit=1)
            if walked != desc:
                raise CheckFailed(f"paging threads with limit=1 gave {walked}, want {desc}")
            r = self.post({"type": "threads.list", "params": {}})  # no metadata, no limit/order: defaults
            self.json_response(r, "threads.list (defaults, no metadata)", THREAD_PAGE_TA, ("data", "has_more"))
        self.step("threads.list pages threads newest first by default, with titles; params/metadata optional", t_list)

        # 9. threads.delete
        def t_delete():
            t2 = st["tid2"]
            r = self.post({"type": "threads.delete", "params": {"thread_id": t2}, "metadata": {}})
            self.json_response(r, "threads.delete")
            g = self.get_thread(t2)
            if g.status == 200:
                raise CheckFailed("threads.get_by_id of a deleted thread still answers 200")
            if not a.no_http_status_checks and g.status != 404:
                raise CheckFailed(f"threads.get_by_id of a deleted thread: HTTP {g.status}, want 404")
            if t2 in [t["id"] for t in self.list_threads("desc")["data"]]:
                raise CheckFailed("deleted thread still listed")
        if "tid2" in st:
            self.step("threads.delete removes the thread (get_by_id then fails, list omits it)", t_delete)

        # 10. HTTP-level behaviour expected of Parley (not defined by the Python package)
        if not a.no_http_status_checks:
            def status_is(name: str, r: Response, want: int) -> None:
                self.check(name, r.status == want, f"HTTP {r.status}, want {want}: {r.body[:200]!r}")
            status_is("no bearer token -> 401", self.post({"type": "threads.list", "params": {}}, token=None), 401)
            status_is("bad bearer token -> 401", self.post({"type": "threads.list", "params": {}}, token="not-a-token"), 401)
            status_is("body is not JSON -> 400", self.post(None, raw=b"{not json"), 400)
            status_is("unknown request type -> 400", self.post({"type": "threads.frobnicate", "params": {}}), 400)
            status_is("user input without content -> 400",
                      self.post({"type": "threads.create", "params": {"input": {"attachments": [], "inference_options": {}}}}), 400)
            status_is("threads.get_by_id unknown thread -> 404", self.get_thread("thr_doesnotexist"), 404)
            status_is("threads.add_user_message to unknown thread -> 404",
                      self.post({"type": "threads.add_user_message",
                                 "params": {"thread_id": "thr_doesnotexist", "input": self.user_input("hi")}}), 404)
            status_is("items.list unknown thread -> 404",
                      self.post({"type": "items.list", "params": {"thread_id": "thr_doesnotexist"}}), 404)
            if a.token2:
                status_is("other principal cannot read the thread -> 404", self.get_thread(tid, token=a.token2), 404)
                r = self.post({"type": "threads.list", "params": {"limit": 100}}, token=a.token2)
                try:
                    obj, _ = self.json_response(r, "threads.list (token2)", THREAD_PAGE_TA)
                    self.check("other principal does not see the thread in threads.list",
                               tid not in [t["id"] for t in obj["data"]], "thread leaked across principals")
                except CheckFailed as e:
                    self.fail("other principal threads.list", str(e))

        # cleanup
        if not a.keep:
            r = self.post({"type": "threads.delete", "params": {"thread_id": tid}, "metadata": {}})
            self.check("cleanup: threads.delete of the first thread", r.status == 200, f"HTTP {r.status}")
        return self.summary()

    def summary(self) -> int:
        print(f"{self.passed} passed, {self.failed} failed")
        return 0 if self.failed == 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="base URL; the checker posts to {url}/chatkit")
    ap.add_argument("--token", required=True, help="bearer token")
    ap.add_argument("--token2", help="token of another user/tenant, for isolation checks")
    ap.add_argument("--message", default="add a task to buy milk")
    ap.add_argument("--followup", default="what's on my list?")
    ap.add_argument("--expect-text", help="text the first assistant answer must contain, e.g. 'Buy milk'")
    ap.add_argument("--allow-naive-datetime", action="store_true",
                    help="accept created_at without a zone (the Python package's own server emits those)")
    ap.add_argument("--no-http-status-checks", action="store_true",
                    help="skip the 400/401/404 checks, which the Python package leaves to the web framework")
    ap.add_argument("--keep", action="store_true", help="do not delete the first thread at the end")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("-v", "--verbose", action="store_true")
    return Checker(ap.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
