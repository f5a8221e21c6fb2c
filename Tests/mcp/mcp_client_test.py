"""Parley's MCP server, checked with the official Python `mcp` SDK as the client.

Against a running Parley:

    PARLEY_URL=http://127.0.0.1:8080 \
    TOKEN_A="$(parley token --user alice --tenant acme)" \
    TOKEN_B_OTHER_TENANT="$(parley token --user bob --tenant globex)" \
    venv/bin/python -m pytest -q mcp_client_test.py      # or: venv/bin/python mcp_client_test.py

Environment:
    PARLEY_URL            base URL of Parley's REST API (GET /api/v1/tasks is used to see effects)
    PARLEY_MCP_URL        the MCP endpoint (default: $PARLEY_URL/mcp)
    TOKEN_A               bearer token of user A in tenant A
    TOKEN_B_OTHER_TENANT  bearer token of a user in another tenant
    TENANT_A, TENANT_B    optional X-Tenant-ID values (needed only if a token grants several tenants)
    PARLEY_MCP_REQUIRED=1 fail instead of skip when the variables above are missing
    PARLEY_MCP_LEGACY_CLIENT=1  use mcp 1.x's `streamablehttp_client(url, headers=...)` where it exists

Works with mcp 2.x (`streamable_http_client` + an `httpx2.AsyncClient` carrying the headers) and
with mcp 1.x (`streamablehttp_client(url, headers=...)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from typing import Any, AsyncIterator

try:  # mcp 2.x depends on httpx2 (the httpx API under another name); mcp 1.x on httpx
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

from mcp.client import streamable_http as _streamable_http
from mcp.client.session import ClientSession

try:
    import pytest
except ImportError:  # pragma: no cover - plain script mode
    pytest = None  # type: ignore[assignment]

EXPECTED_TOOLS = {"add_task", "list_tasks", "complete_task", "delete_task", "update_task", "restore_task"}
PROTOCOL_VERSION = "2025-06-18"  # any of Swift SDK 0.12.1's: 2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25


# --------------------------------------------------------------------------- configuration


def _settings() -> dict[str, str | None]:
    base = os.environ.get("PARLEY_URL", "").rstrip("/")
    return {
        "base": base,
        "mcp": (os.environ.get("PARLEY_MCP_URL") or (base + "/mcp" if base else "")).rstrip("/"),
        "token_a": os.environ.get("TOKEN_A"),
        "token_b": os.environ.get("TOKEN_B_OTHER_TENANT"),
        "tenant_a": os.environ.get("TENANT_A"),
        "tenant_b": os.environ.get("TENANT_B"),
    }


def _missing(settings: dict[str, str | None]) -> list[str]:
    names = {"base": "PARLEY_URL", "token_a": "TOKEN_A", "token_b": "TOKEN_B_OTHER_TENANT"}
    return [env for key, env in names.items() if not settings[key]]


SETTINGS = _settings()
if pytest is not None and _missing(SETTINGS) and os.environ.get("PARLEY_MCP_REQUIRED") != "1":
    pytestmark = pytest.mark.skip(reason="set " + ", ".join(_missing(SETTINGS)) + " to run the MCP client tests")


def _headers(token: str | None, tenant: str | None = None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if tenant:
        headers["X-Tenant-ID"] = tenant
    return headers


# --------------------------------------------------------------------------- helpers


@contextlib.asynccontextmanager
async def mcp_session(token: str, tenant: str | None = None) -> AsyncIterator[ClientSession]:
    """An initialized MCP client session over Streamable HTTP with the given bearer token."""
    headers = _headers(token, tenant)
    legacy = os.environ.get("PARLEY_MCP_LEGACY_CLIENT") == "1" and hasattr(_streamable_http, "streamablehttp_client")
    if hasattr(_streamable_http, "streamable_http_client") and not legacy:  # mcp >= 1.2x and 2.x
        timeout = httpx.Timeout(30.0, read=60.0)
        async with httpx.AsyncClient(headers=headers, timeout=timeout) as http_client:
            async with _streamable_http.streamable_http_client(SETTINGS["mcp"], http_client=http_client) as streams:
                read, write = streams[0], streams[1]  # 1.x yields a third item (get_session_id)
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    yield session
    else:  # older mcp 1.x
        async with _streamable_http.streamablehttp_client(SETTINGS["mcp"], headers=headers) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def _field(obj: Any, snake: str, camel: str) -> Any:
    """mcp 2.x models use snake_case attributes, mcp 1.x camelCase ones."""
    return getattr(obj, snake) if hasattr(obj, snake) else getattr(obj, camel, None)


async def call(session: ClientSession, name: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Calls a tool; returns (result JSON, is_error). Parley puts the result JSON in a text content."""
    result = await session.call_tool(name, arguments)
    is_error = bool(_field(result, "is_error", "isError"))
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    assert texts, f"{name}: no text content in {result!r}"
    payload = json.loads(texts[0])
    structured = _field(result, "structured_content", "structuredContent")
    if structured is not None:
        assert structured == payload, f"{name}: structuredContent differs from the text content"
    return payload, is_error


async def rest_tasks(token: str, tenant: str | None = None) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        response = await client.get(f"{SETTINGS['base']}/api/v1/tasks", headers=_headers(token, tenant))
    assert response.status_code == 200, f"GET /api/v1/tasks: {response.status_code} {response.text[:300]}"
    return response.json()["tasks"]


def _by_id(tasks: list[dict[str, Any]], task_id: int) -> dict[str, Any] | None:
    return next((t for t in tasks if t["id"] == task_id), None)


async def raw_post(client: Any, token: str | None, body: dict[str, Any], session_id: str | None = None,
                   tenant: str | None = None) -> Any:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": PROTOCOL_VERSION,
        **_headers(token, tenant),
    }
    if session_id:
        headers["Mcp-Session-Id"] = session_id
    return await client.post(SETTINGS["mcp"], headers=headers, content=json.dumps(body))


def _initialize_body(request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0", "id": request_id, "method": "initialize",
        "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                   "clientInfo": {"name": "parley-raw-test", "version": "0"}},
    }


def _jsonrpc_messages(response: Any) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a JSON or SSE answer."""
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        return [response.json()]
    messages, data = [], []
    for line in response.text.splitlines() + [""]:
        if line == "":
            if data and "".join(data):
                messages.append(json.loads("\n".join(data)))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    return messages


# --------------------------------------------------------------------------- scenarios


async def scenario_tools_and_effects() -> None:
    token_a, tenant_a = SETTINGS["token_a"], SETTINGS["tenant_a"]
    title = f"mcp test {uuid.uuid4().hex[:8]}"
    async with mcp_session(token_a, tenant_a) as session:
        listed = await session.list_tools()
        names = {tool.name for tool in listed.tools}
        assert names == EXPECTED_TOOLS, f"tools/list: {sorted(names)}"
        for tool in listed.tools:
            schema = _field(tool, "input_schema", "inputSchema")
            assert schema.get("type") == "object", f"{tool.name}: inputSchema {schema}"
            assert tool.description, f"{tool.name}: no description"

        # add_task
        added, is_error = await call(session, "add_task", {"title": title, "description": "from the MCP test"})
        assert not is_error, added
        task_id = added["task"]["id"]
        assert isinstance(task_id, int) and task_id >= 1, added
        rest = _by_id(await rest_tasks(token_a, tenant_a), task_id)
        assert rest and rest["title"] == title and rest["status"] == "pending", rest

        # list_tasks
        listed_tasks, is_error = await call(session, "list_tasks", {"status": "pending"})
        assert not is_error, listed_tasks
        assert any(t["id"] == task_id and t["title"] == title for t in listed_tasks["tasks"]), listed_tasks

        # update_task
        new_title = title + " (renamed)"
        updated, is_error = await call(session, "update_task", {"task_id": task_id, "title": new_title})
        assert not is_error and updated["task"]["title"] == new_title, updated
        assert _by_id(await rest_tasks(token_a, tenant_a), task_id)["title"] == new_title

        # complete_task
        completed, is_error = await call(session, "complete_task", {"task_id": task_id})
        assert not is_error and completed["task"]["status"] == "completed", completed
        assert _by_id(await rest_tasks(token_a, tenant_a), task_id)["status"] == "completed"

        # a tool error is a result with isError, not a protocol error
        missing, is_error = await call(session, "complete_task", {"task_id": 987654321})
        assert is_error and missing["error"]["code"] == "not_found", missing
        invalid, is_error = await call(session, "add_task", {"title": ""})
        assert is_error and "error" in invalid, invalid

        # delete_task
        deleted, is_error = await call(session, "delete_task", {"task_id": task_id})
        assert not is_error and deleted.get("deleted") is True, deleted
        assert _by_id(await rest_tasks(token_a, tenant_a), task_id) is None


async def scenario_other_tenant_isolated() -> None:
    token_a, tenant_a = SETTINGS["token_a"], SETTINGS["tenant_a"]
    token_b, tenant_b = SETTINGS["token_b"], SETTINGS["tenant_b"]
    title = f"tenant A only {uuid.uuid4().hex[:8]}"
    async with mcp_session(token_a, tenant_a) as session_a:
        added, is_error = await call(session_a, "add_task", {"title": title})
        assert not is_error, added
        task_id = added["task"]["id"]
        try:
            b_ids_before = {t["id"] for t in await rest_tasks(token_b, tenant_b)}
            async with mcp_session(token_b, tenant_b) as session_b:
                seen, is_error = await call(session_b, "list_tasks", {})
                assert not is_error, seen
                assert all(t["title"] != title for t in seen["tasks"]), "tenant B sees tenant A's task"
                # Task numbers are per user: B may have a task with the same number. Only try to
                # touch A's number when B has none with it (so B's own data is never changed).
                if task_id not in b_ids_before:
                    for name, arguments in [
                        ("update_task", {"task_id": task_id, "title": "hijacked"}),
                        ("complete_task", {"task_id": task_id}),
                        ("delete_task", {"task_id": task_id}),
                    ]:
                        answer, is_error = await call(session_b, name, arguments)
                        assert is_error and answer["error"]["code"] == "not_found", (name, answer)
            assert all(t["title"] != title for t in await rest_tasks(token_b, tenant_b))
            after = _by_id(await rest_tasks(token_a, tenant_a), task_id)
            assert after and after["title"] == title and after["status"] == "pending", after
        finally:
            await call(session_a, "delete_task", {"task_id": task_id})


async def scenario_session_bound_to_its_creator() -> None:
    """Stateful servers only: another principal cannot use or end A's session."""
    token_a, tenant_a = SETTINGS["token_a"], SETTINGS["tenant_a"]
    token_b, tenant_b = SETTINGS["token_b"], SETTINGS["tenant_b"]
    list_body = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    async with httpx.AsyncClient(timeout=30.0) as client:
        opened = await raw_post(client, token_a, _initialize_body(), tenant=tenant_a)
        assert opened.status_code == 200, (opened.status_code, opened.text[:300])
        answers = _jsonrpc_messages(opened)
        assert answers and "result" in answers[0], answers
        assert answers[0]["result"]["serverInfo"]["name"] == "parley", answers[0]
        session_id = opened.headers.get("mcp-session-id")
        if not session_id:
            # A stateless endpoint has no session to hijack; CI runs the stateful one and says so.
            assert os.environ.get("PARLEY_MCP_STATEFUL") != "1", "no Mcp-Session-Id from a stateful endpoint"
            return
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await raw_post(client, token_a, initialized, session_id, tenant_a)).status_code == 202

        stolen = await raw_post(client, token_b, list_body, session_id, tenant_b)
        assert stolen.status_code in (403, 404), ("B used A's session", stolen.status_code, stolen.text[:200])
        own = await raw_post(client, token_a, list_body, session_id, tenant_a)
        assert own.status_code == 200, (own.status_code, own.text[:200])
        tools = {t["name"] for t in _jsonrpc_messages(own)[0]["result"]["tools"]}
        assert tools == EXPECTED_TOOLS, tools

        ended_by_b = await client.delete(SETTINGS["mcp"], headers={**_headers(token_b, tenant_b), "Mcp-Session-Id": session_id})
        assert ended_by_b.status_code in (403, 404), ("B ended A's session", ended_by_b.status_code)
        ended = await client.delete(SETTINGS["mcp"], headers={**_headers(token_a, tenant_a), "Mcp-Session-Id": session_id})
        assert ended.status_code in (200, 204), ended.status_code
        gone = await raw_post(client, token_a, list_body, session_id, tenant_a)
        assert gone.status_code == 404, gone.status_code


async def scenario_unauthenticated() -> None:
    async with httpx.AsyncClient(timeout=30.0) as client:
        for token in (None, "not-a-jwt", SETTINGS["token_a"][:-4] + "AAAA"):
            response = await raw_post(client, token, _initialize_body())
            assert response.status_code == 401, (token and token[:10], response.status_code, response.text[:200])
            challenge = response.headers.get("www-authenticate", "")
            assert challenge.lower().startswith("bearer"), challenge
            assert "resource_metadata=" in challenge, f"no resource_metadata in WWW-Authenticate: {challenge!r}"

        # RFC 9728: the metadata the challenge points at, served without a token.
        url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
        metadata = await client.get(url)
        assert metadata.status_code == 200, (url, metadata.status_code)
        document = metadata.json()
        # `resource` is Parley's public URL of /mcp (configured, or derived from the Host header).
        assert document["resource"].rstrip("/").endswith("/mcp"), document
        assert isinstance(document.get("authorization_servers", []), list), document

        # GET and DELETE without a token are refused too.
        assert (await client.get(SETTINGS["mcp"], headers={"Accept": "text/event-stream"})).status_code == 401
        assert (await client.delete(SETTINGS["mcp"])).status_code == 401


SCENARIOS = [
    scenario_tools_and_effects,
    scenario_other_tenant_isolated,
    scenario_session_bound_to_its_creator,
    scenario_unauthenticated,
]


# --------------------------------------------------------------------------- pytest entry points
# Plain functions running the coroutines (no pytest-asyncio/anyio plugin configuration needed).


def test_tools_and_effects() -> None:
    asyncio.run(scenario_tools_and_effects())


def test_other_tenant_isolated() -> None:
    asyncio.run(scenario_other_tenant_isolated())


def test_session_bound_to_its_creator() -> None:
    asyncio.run(scenario_session_bound_to_its_creator())


def test_unauthenticated() -> None:
    asyncio.run(scenario_unauthenticated())


# --------------------------------------------------------------------------- script entry point


def main() -> int:
    missing = _missing(SETTINGS)
    if missing:
        print("set " + ", ".join(missing), file=sys.stderr)
        return 2
    passed = failed = 0
    for scenario in SCENARIOS:
        try:
            asyncio.run(scenario())
            passed += 1
            print(f"PASS {scenario.__name__}")
        except Exception as error:  # noqa: BLE001 - report every failure, go on
            failed += 1
            print(f"FAIL {scenario.__name__}: {error!r}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
