#!/usr/bin/env python3
"""Runs natural-language task cases against a running Parley, as ../shared/nl/README.md describes.

Every case gets a fresh user with the same five seeded tasks (ids 1-5, task 4 completed), sends its
message once in a new conversation (then each message of `then`, if any, in the same
conversation), reads the tasks back and checks `expect`. Prints one line per
failure and, last, `N passed, M failed`. Exits non-zero if any case failed.

Tokens come from `parley token` (the development issuer), so run it against a Parley that has dev
auth on and shares --data-dir with the one given here.
"""
import argparse
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

SEED = [
    ("Buy groceries", "pending"),
    ("Call mom", "pending"),
    ("Team meeting at 3pm", "pending"),
    ("Pay electricity bill", "completed"),
    ("Dentist appointment", "pending"),
]


class Client:
    def __init__(self, url, token, tenant, contract=None):
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}", "X-Tenant-ID": tenant, "Content-Type": "application/json"}
        self.contract = contract

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, content_type, raw = response.status, response.getheader("Content-Type"), response.read()
        except urllib.error.HTTPError as error:
            status, content_type, raw = error.code, error.headers.get("Content-Type"), error.read()
        parsed = json.loads(raw) if raw else None
        if self.contract is not None:
            CONTRACT_PROBLEMS.extend(self.contract.check(method, path, status, content_type, parsed))
        return status, parsed


# Responses that break the OpenAPI document (with --openapi), over the whole run.
CONTRACT_PROBLEMS = []


def token_for(parley, data_dir, user, tenant):
    command = [parley, "token", "--user", user, "--tenant", tenant]
    if data_dir:
        command += ["--data-dir", data_dir]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def seed(client):
    for title, status in SEED:
        code, task = client.call("POST", "/api/v1/tasks", {"title": title})
        if code != 201:
            raise RuntimeError(f"seeding {title!r} answered {code}: {task}")
        if status == "completed":
            code, task = client.call("PATCH", f"/api/v1/tasks/{task['id']}", {"status": "completed"})
            if code != 200:
                raise RuntimeError(f"completing {title!r} answered {code}: {task}")
    code, body = client.call("GET", "/api/v1/tasks")
    ids = [task["id"] for task in body["tasks"]]
    if ids != [1, 2, 3, 4, 5]:
        raise RuntimeError(f"seeded tasks have ids {ids}, expected 1-5")
    return {task["id"]: task for task in body["tasks"]}


def check(case, before, reply, after):
    """Returns the list of problems with this case's outcome."""
    expect = case["expect"]
    problems = []
    after_by_id = {task["id"]: task for task in after}
    named = set()

    added = [task for task in after if task["id"] not in before]
    wanted = expect.get("added", [])
    for want in wanted:
        needle = want["title_contains"].lower()
        if not any(needle in task["title"].lower() for task in added):
            problems.append(f"no added task with title containing {want['title_contains']!r} (added: {[t['title'] for t in added]})")
    if len(added) > len(wanted):
        problems.append(f"unexpected new tasks: {[t['title'] for t in added]}")

    for task_id in expect.get("deleted", []):
        named.add(task_id)
        if task_id in after_by_id:
            problems.append(f"task {task_id} was not deleted")
    for task_id in expect.get("completed", []):
        named.add(task_id)
        if after_by_id.get(task_id, {}).get("status") != "completed":
            problems.append(f"task {task_id} is not completed")
    for update in expect.get("updated", []):
        task_id = update["id"]
        named.add(task_id)
        task = after_by_id.get(task_id)
        if task is None:
            problems.append(f"task {task_id} is gone")
        elif "title" in update and task["title"].lower() != update["title"].lower():
            problems.append(f"task {task_id} title is {task['title']!r}, expected {update['title']!r}")
        elif "description_contains" in update and update["description_contains"].lower() not in (task.get("description") or "").lower():
            problems.append(f"task {task_id} description is {task.get('description')!r}, expected it to contain {update['description_contains']!r}")

    for task_id, original in before.items():
        if task_id in named:
            continue
        now = after_by_id.get(task_id)
        if now is None:
            problems.append(f"task {task_id} disappeared")
        elif any(now.get(key) != original.get(key) for key in ("title", "description", "status")):
            problems.append(f"task {task_id} changed: {original} -> {now}")

    text = (reply.get("response") or "").lower()
    for needle in expect.get("reply_mentions", []):
        if needle.lower() not in text:
            problems.append(f"reply does not mention {needle!r}")
    called = {call["name"] for call in reply.get("tool_calls", [])}
    for tool in expect.get("tools", []):
        if tool not in called:
            problems.append(f"tool {tool} was not called (called: {sorted(called)})")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--cases", default="../shared/nl/dev.jsonl")
    parser.add_argument("--parley", default=".build/debug/parley", help="the parley binary, to mint tokens")
    parser.add_argument("--data-dir", default=None, help="the server's data directory (for its dev key)")
    parser.add_argument("--tenant", default="nl_eval")
    parser.add_argument("--verbose", action="store_true", help="print every reply")
    parser.add_argument("--openapi", help="also hold every response to this OpenAPI document (needs PyYAML and openapi-schema-validator)")
    args = parser.parse_args()
    contract = None
    if args.openapi:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "support"))
        from openapi_responses import Contract
        contract = Contract(args.openapi)

    with open(args.cases) as handle:
        cases = [json.loads(line) for line in handle if line.strip()]
    passed = failed = 0
    run = uuid.uuid4().hex[:8]
    for case in cases:
        user = f"eval-{run}-{case['id']}"
        client = Client(args.url, token_for(args.parley, args.data_dir, user, args.tenant), args.tenant, contract)
        before = seed(client)
        code, reply = client.call("POST", "/api/v1/chat", {"message": case["message"]})
        # Follow-up turns of the same conversation ("yes" to a question); expect holds after the last.
        for follow_up in case.get("then", []):
            if code != 200:
                break
            code, reply = client.call("POST", "/api/v1/chat", {"message": follow_up, "conversation_id": reply["conversation_id"]})
        if code != 200:
            problems = [f"chat answered {code}: {reply}"]
        else:
            _, tasks = client.call("GET", "/api/v1/tasks")
            problems = check(case, before, reply, tasks["tasks"])
        if args.verbose:
            print(f"{case['id']}: {case['message']!r} -> {(reply or {}).get('response')!r}")
        if problems:
            failed += 1
            print(f"FAIL {case['id']}: {case['message']!r}: {'; '.join(problems)} | reply: {(reply or {}).get('response')!r}")
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    if contract is not None:
        for problem in sorted(set(CONTRACT_PROBLEMS))[:20]:
            print(f"CONTRACT {problem}")
        print(f"contract: {contract.checked} responses held to {args.openapi}, {len(CONTRACT_PROBLEMS)} broke it")
    return 0 if failed == 0 and not CONTRACT_PROBLEMS else 1


if __name__ == "__main__":
    sys.exit(main())
