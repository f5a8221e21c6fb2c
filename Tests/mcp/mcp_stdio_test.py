"""`parley mcp --stdio` with the official Python `mcp` client, as a desktop MCP client runs it.

    PARLEY_BIN=.build/debug/parley PARLEY_DATA_DIR=./data PARLEY_URL=http://127.0.0.1:8080 \
    TOKEN_A="$(parley token --user alice --tenant acme)" python mcp_stdio_test.py

The stdio server acts for the user and tenant on its command line; the task it adds must show up
through the REST API of a Parley on the same data directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.request
import uuid

from mcp import StdioServerParameters
from mcp.client.session import ClientSession
from mcp.client.stdio import stdio_client


def rest_tasks() -> list[dict]:
    request = urllib.request.Request(
        os.environ["PARLEY_URL"].rstrip("/") + "/api/v1/tasks?status=all",
        headers={"Authorization": "Bearer " + os.environ["TOKEN_A"]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["tasks"]


async def main() -> None:
    server = StdioServerParameters(
        command=os.environ["PARLEY_BIN"],
        args=["mcp", "--stdio", "--user", "alice", "--tenant", "acme", "--data-dir", os.environ["PARLEY_DATA_DIR"]],
        # The SDK passes only a few safe variables by default; Parley's configuration
        # (PARLEY_DATABASE_URL on PostgreSQL) must reach the server, as in a desktop client's config.
        env=dict(os.environ),
    )
    title = f"from stdio {uuid.uuid4().hex[:8]}"
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            initialized = await session.initialize()
            assert initialized.server_info.name == "parley", initialized
            names = {tool.name for tool in (await session.list_tools()).tools}
            assert names == {"add_task", "list_tasks", "complete_task", "delete_task", "update_task", "restore_task"}, names
            result = await session.call_tool("add_task", {"title": title})
            assert not result.is_error, result
            added = json.loads(result.content[0].text)
            assert added["task"]["title"] == title, added
    assert any(task["title"] == title for task in rest_tasks()), "the task added over stdio is not in the REST API"
    print("stdio: initialize, tools/list, add_task ok; the task is visible through the REST API")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except AssertionError as failure:
        print(f"FAIL {failure}", file=sys.stderr)
        sys.exit(1)
