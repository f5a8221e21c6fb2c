"""Backup and restore of a running Parley, with the commands docs/runbook.md gives.

Run by scripts/backup-restore-e2e.sh, which provides:
  PARLEY_BIN                  the parley binary
  WORK                        a scratch directory
  BACKENDS                    "sqlite,postgres" (default) or one of them
  PARLEY_TEST_DATABASE_URL    a PostgreSQL server where this test may create databases (postgres)
  PARLEY_TEST_REDIS_URL       optional: on PostgreSQL, Parley also runs with Redis (database 4)

For each backend:
  1. a Parley on a fresh store gets tenants, tasks (REST and through the agent), conversations,
     feedback, a feature flag and a provisioned tenant; the data directory holds the development
     key and an audit dead-letter file;
  2. the backup is taken ONLINE, while another user keeps creating tasks: on SQLite with
     scripts/backup-sqlite.sh (sqlite3 .backup of every database), on PostgreSQL with
     `pg_dump --format=custom` of the whole database (the shared `parley` schema and every
     `tenant_<id>` schema), plus a copy of the development key;
  3. more is written after the backup (it must not come back), the server is stopped;
  4. the restore: a copy of the backup directory as the data directory, or `pg_restore` into a
     new database (with Redis: the context cache is emptied, as the runbook says);
  5. a new Parley on the restore must show everything that was acknowledged before the backup
     began: the same tasks, conversations, histories with their tool calls, feedback, flags and
     tenants; old tokens still verify; the audit events seen before the backup are there with
     their hashes; numbering continues (task numbers, conversation and message ids) and a
     conversation continues where the backup left it; `parley audit verify` passes.
  6. negative control: the same checks against a Parley on an empty store must fail, so a
     restore that brought nothing back cannot pass.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from parley_e2e import Process, check, create_database, eventually, failures, free_port, parley_token, redis_cli, request  # noqa: E402

BIN = os.environ["PARLEY_BIN"]
WORK = os.environ["WORK"]
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BACKUP_SQLITE = os.path.join(ROOT, "scripts", "backup-sqlite.sh")
BACKENDS = [b for b in os.environ.get("BACKENDS", "sqlite,postgres").split(",") if b]
TEST_DATABASE_URL = os.environ.get("PARLEY_TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("PARLEY_TEST_REDIS_URL", "")


def run(args, **kwargs):
    """A command of the runbook, printed as it runs; fails the test (with its output) if it fails."""
    print("  $ " + re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", " ".join(args)), flush=True)
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(args)}\n{result.stdout}\n{result.stderr}")
    return result


# ---------------------------------------------------------------------------------------------
# The server


class Server(Process):
    """`parley serve` on loopback (dev auth on), on a data directory and maybe PostgreSQL/Redis."""

    def __init__(self, name, data_dir, database_url=None, redis_url=None):
        self.name, self.data_dir = name, data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") or k.startswith("PARLEY_TEST_")}
        env.update(
            {
                "PARLEY_RATELIMIT_IP": "off",
                "PARLEY_RATELIMIT_USER": "off",
                "PARLEY_RATELIMIT_TENANT": "off",
            }
        )
        if database_url:
            env["PARLEY_DATABASE_URL"] = database_url
        if redis_url:
            env["PARLEY_REDIS_URL"] = redis_url
        self.env = env
        os.makedirs(data_dir, exist_ok=True)
        super().__init__(name, [BIN, "serve", "--data-dir", data_dir, "--port", str(self.port)], env)
        if self.became_ready(lambda: request("GET", self.url + "/api/v1/readyz")[0] == 200, 60):
            return
        self.stop()
        raise SystemExit(f"{name} did not become ready; see {self.log.name}:\n" + open(self.log.name).read()[-3000:])

    def parley(self, *args):
        """Runs `parley ARGS --data-dir DIR` against this server's store."""
        return run([BIN, *args, "--data-dir", self.data_dir], cwd=WORK, env=self.env)

    def token(self, user, *tenants, admin=False):
        return parley_token(BIN, user, tenants, admin=admin, data_dir=self.data_dir, env=self.env)

    def call(self, method, path, token, body=None, tenant=None):
        return request(method, self.url + path, token, body, tenant=tenant)

    def metric(self, name):
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        return float(match.group(1)) if match else None

    def stop(self):
        super().stop(timeout=60, strict=True)
        self.log.close()


# ---------------------------------------------------------------------------------------------
# What is written, what is read back


class Tokens:
    def __init__(self, server):
        self.alice = server.token("alice", "acme")
        self.bob = server.token("bob", "acme")
        self.carol = server.token("carol", "globex")
        self.dave = server.token("dave", "acme")
        self.admin = server.token("root", "acme", "globex", "initech", admin=True)


DEAD_LETTER_LINE = json.dumps(
    {"action": "task.create", "actor": "alice", "event_id": str(uuid.uuid4()), "object": "task:99", "outcome": "success",
     "request_id": "backup-test", "tenant": "acme", "time": "2026-01-01T00:00:00Z"},
    sort_keys=True,
) + "\n"


def write_data(server, tokens):
    """Everything the restore must bring back; returns the conversation whose context matters."""
    s, t = server, tokens

    def ok(status, body, what, expected=(200, 201)):
        if status not in expected:
            raise SystemExit(f"{server.name}: {what}: {status} {body}")
        return body

    # alice: a conversation with tool calls (through the agent), and REST task changes.
    first = ok(*s.call("POST", "/api/v1/chat", t.alice, {"message": "add a task to buy milk"}), "chat 1")
    conversation = first["conversation_id"]
    ok(*s.call("POST", "/api/v1/tasks", t.alice, {"title": "Pay rent", "description": "before the 5th"}), "task")
    ok(*s.call("PATCH", "/api/v1/tasks/2", t.alice, {"status": "completed"}), "complete task 2")
    second = ok(*s.call("POST", "/api/v1/chat", t.alice, {"message": "add a task to call the plumber", "conversation_id": conversation}), "chat 2")
    check(second.get("response") == "Added task 3: Call the plumber.", f"{server.name}: the agent added task 3: {second.get('response')}")
    ok(*s.call("POST", "/api/v1/chat/feedback", t.alice, {"message_id": second["message_id"], "rating": "down", "comment": "wrong list"}), "feedback")
    # A second conversation of alice's, and bob's own one with a thumbs-up.
    ok(*s.call("POST", "/api/v1/chat", t.alice, {"message": "what's on my list?"}), "chat 3")
    bob = ok(*s.call("POST", "/api/v1/chat", t.bob, {"message": "remind me to water the plants"}), "bob chat")
    ok(*s.call("POST", "/api/v1/chat/feedback", t.bob, {"message_id": bob["message_id"], "rating": "up"}), "bob feedback")
    # Another tenant; a tenant flag; a tenant provisioned by an admin, still empty.
    ok(*s.call("POST", "/api/v1/tasks", t.carol, {"title": "Book the venue"}), "carol task")
    ok(*s.call("POST", "/api/v1/chat", t.carol, {"message": "add a task to send the invitations"}), "carol chat")
    ok(*s.call("PATCH", "/api/v1/admin/flags", t.admin, {"chatbot.ai": False}, tenant="globex"), "flag")
    ok(*s.call("POST", "/api/v1/admin/tenants", t.admin, {"id": "initech"}), "provision initech")
    return conversation


def snapshot(server, tokens):
    """What a client and an admin can see; failures are returned as text, never raised."""
    s, t = server, tokens
    problems = []
    state = {}

    def read(key, method, path, token, tenant=None):
        status, body = s.call(method, path, token, tenant=tenant)
        if status != 200:
            problems.append(f"{method} {path} ({tenant or 'token tenant'}) -> {status} {body}")
            body = None
        state[key] = body
        return body

    for user in ("alice", "bob", "carol"):
        token = getattr(t, user)
        read(f"{user}.tasks", "GET", "/api/v1/tasks?status=all", token)
        conversations = read(f"{user}.conversations", "GET", "/api/v1/conversations?limit=200", token) or {}
        for conversation in conversations.get("conversations", []):
            read(f"{user}.history.{conversation['id']}", "GET", f"/api/v1/chat/history?conversation_id={conversation['id']}&limit=200", token)
    for tenant in ("acme", "globex"):
        read(f"{tenant}.feedback", "GET", "/api/v1/admin/feedback?limit=1000", t.admin, tenant)
        read(f"{tenant}.flags", "GET", "/api/v1/admin/flags", t.admin, tenant)
    read("tenants", "GET", "/api/v1/admin/tenants", t.admin, "acme")
    return state, problems


def audit_events(server, tokens, tenant, action):
    query = f"action={action}&limit=1000" if action else "limit=1000"
    status, body = server.call("GET", f"/api/v1/admin/audit?{query}", tokens.admin, tenant=tenant)
    return body.get("events", []) if status == 200 else None


def compare(name, expected, restored, restored_problems):
    """Everything in `expected` is in `restored`, equal; returns the differences."""
    problems = list(restored_problems)
    for key, value in expected.items():
        if key not in restored:
            problems.append(f"{key}: missing")
        elif restored[key] != value:
            problems.append(f"{key}: differs:\n    before: {json.dumps(value, sort_keys=True)[:400]}\n    after:  {json.dumps(restored[key], sort_keys=True)[:400]}")
    return problems


def verify_restore(server, tokens, expected, expected_audit, acked_before_backup, conversation):
    """The checks a restore must pass; returns the list of what is wrong (empty: all good)."""
    restored, problems = snapshot(server, tokens)
    problems = compare(server.name, expected, restored, problems)
    # dave wrote while the backup ran: everything acknowledged before it began is there, and
    # what is there is a gap-free prefix (a snapshot of one moment).
    status, body = server.call("GET", "/api/v1/tasks?status=all", tokens.dave)
    numbers = sorted(task["id"] for task in body.get("tasks", [])) if status == 200 else []
    if status != 200:
        problems.append(f"dave's tasks: {status} {body}")
    if not set(acked_before_backup) <= set(numbers):
        problems.append(f"dave: {len(set(acked_before_backup) - set(numbers))} tasks acknowledged before the backup began are missing")
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"dave's task numbers are not 1..n: {numbers[:10]}…")
    # Audit: every event seen before the backup, with the same place in the chain.
    for tenant, events in expected_audit.items():
        now = audit_events(server, tokens, tenant, "") or []
        have = {(e["seq"], e["hash"]) for e in now}
        missing = [e for e in events if (e["seq"], e["hash"]) not in have]
        if missing or not events:
            problems.append(f"audit {tenant}: {len(missing)} of {len(events)} events seen before the backup are missing")
    # The post-backup writes must not be there (the restore is the backup, not the live store).
    tasks = restored.get("alice.tasks") or {}
    if any(task["title"] == "Call mom" for task in tasks.get("tasks", [])):
        problems.append("a task created after the backup is in the restore")
    return problems, numbers


def continue_after_restore(server, tokens, expected, conversation):
    """Writes go on where the backup left off: numbering and conversation context."""
    problems = []
    status, body = server.call("POST", "/api/v1/chat", tokens.alice, {"message": "mark it as done", "conversation_id": conversation})
    if status != 200 or body.get("response") != "Marked task 3 as complete: Call the plumber.":
        problems.append(f"the conversation does not continue from the backup's context: {status} {body.get('response', body)}")
    old_tasks = (expected.get("alice.tasks") or {}).get("tasks", [])
    status, task = server.call("POST", "/api/v1/tasks", tokens.alice, {"title": "After the restore"})
    if status != 201 or task.get("id") != max((t["id"] for t in old_tasks), default=0) + 1:
        problems.append(f"alice's task numbering does not continue: {status} {task}")
    old_conversations = [c["id"] for u in ("alice", "bob") for c in (expected.get(f"{u}.conversations") or {}).get("conversations", [])]
    old_messages = [m["id"] for k, v in expected.items() if ".history." in k and k.split(".")[0] in ("alice", "bob") for m in (v or {}).get("messages", [])]
    status, chat = server.call("POST", "/api/v1/chat", tokens.bob, {"message": "add a task to buy stamps"})
    if status != 200 or chat.get("conversation_id", 0) <= max(old_conversations, default=0) or chat.get("message_id", 0) <= max(old_messages, default=0):
        problems.append(f"new conversation/message ids do not continue after the restored ones: {status} {chat}")
    return problems


# ---------------------------------------------------------------------------------------------
# The scenario, per backend


def writer(server, token, stop, acks):
    """dave creates tasks as fast as one client can, recording (time acknowledged, number)."""
    while not stop.is_set():
        status, body = server.call("POST", "/api/v1/tasks", token, {"title": f"load {len(acks) + 1}"})
        if status == 201:
            acks.append((time.time(), body["id"]))
        else:
            acks.append((time.time(), None))
            time.sleep(0.05)


def scenario(backend):
    print(f"== {backend}", flush=True)
    started = time.time()
    base = os.path.join(WORK, backend)
    os.makedirs(base)
    data = os.path.join(base, "data")
    os.makedirs(data)
    with open(os.path.join(data, "audit-dead-letter.jsonl"), "w") as f:
        f.write(DEAD_LETTER_LINE)
    os.chmod(os.path.join(data, "audit-dead-letter.jsonl"), 0o600)

    source_url = restored_url = empty_url = redis_url = None
    if backend == "postgres":
        suffix = uuid.uuid4().hex[:8]
        source_url, restored_url, empty_url = (
            create_database(TEST_DATABASE_URL, f"parley_backup_{k}_{suffix}") for k in ("source", "restored", "empty")
        )
        if TEST_REDIS_URL:
            redis_url = TEST_REDIS_URL.rsplit("/", 1)[0] + "/4"
            redis_cli(redis_url, "FLUSHDB")

    source = Server(f"{backend}-source", data, source_url, redis_url)
    tokens = Tokens(source)
    conversation = write_data(source, tokens)
    # The audit events of what was written, stored (they are queued, then written in batches).
    chat_events = lambda: len(audit_events(source, tokens, "acme", "chat") or [])
    check(eventually(lambda: chat_events() >= 4, 20), f"{backend}: the chat turns' audit events are stored ({chat_events()})")
    expected, problems = snapshot(source, tokens)
    check(not problems, f"{backend}: the source answers every read: {problems}")
    expected_audit = {tenant: audit_events(source, tokens, tenant, "") for tenant in ("acme", "globex")}

    # Online backup while dave writes.
    stop, acks = threading.Event(), []
    load = threading.Thread(target=writer, args=(source, tokens.dave, stop, acks))
    load.start()
    eventually(lambda: len(acks) >= 20, 20)
    backup_began = time.time()
    acked_before = [n for at, n in acks if n is not None and at < backup_began]
    backup = os.path.join(base, "backup")
    if backend == "sqlite":
        run([BACKUP_SQLITE, data, backup])
    else:
        os.makedirs(backup)
        dump = os.path.join(backup, "parley.dump")
        run(["pg_dump", "--format=custom", "--dbname=" + source_url, "--file=" + dump])
        for name in ("dev-issuer-key.pem", "audit-dead-letter.jsonl"):
            run(["cp", "-p", os.path.join(data, name), os.path.join(backup, name)])
    backup_ended = time.time()
    time.sleep(0.3)
    stop.set()
    load.join()
    during = [n for at, n in acks if n is not None and backup_began <= at <= backup_ended]
    refused = [at for at, n in acks if n is None]
    check(not refused, f"{backend}: no write refused during the online backup ({len(refused)} refused)")
    print(f"  backup took {backup_ended - backup_began:.2f} s; dave's writes: {len(acked_before)} before it, {len(during)} during it, {len(acks)} in all", flush=True)

    if backend == "postgres":
        listing = run(["pg_restore", "--list", dump]).stdout
        schemas = set(re.findall(r"SCHEMA - (\S+)", listing))
        check({"parley", "tenant_acme", "tenant_globex", "tenant_initech"} <= schemas, f"postgres: the dump holds the shared and every tenant schema: {sorted(schemas)}")

    # Written after the backup: must not come back. The conversation moves on too (with Redis,
    # its cached context then holds a message the restore does not have).
    status, body = source.call("POST", "/api/v1/chat", tokens.alice, {"message": "add a task to call mom", "conversation_id": conversation})
    check(status == 200, f"{backend}: a write after the backup: {status} {body.get('response')}")
    source.stop()

    # The restore, as the runbook says.
    if backend == "sqlite":
        restored_data = os.path.join(base, "restored-data")
        run(["cp", "-a", backup, restored_data])
    else:
        restored_data = os.path.join(base, "restored-data")
        os.makedirs(restored_data)
        run(["pg_restore", "--exit-on-error", "--no-owner", "--dbname=" + restored_url, dump])
        for name in ("dev-issuer-key.pem", "audit-dead-letter.jsonl"):
            run(["cp", "-p", os.path.join(backup, name), os.path.join(restored_data, name)])
        if redis_url:
            run(["bash", "-c", "redis-cli -u \"$1\" --no-auth-warning --scan --pattern 'parley:ctx*' | xargs -r -d '\\n' redis-cli -u \"$1\" --no-auth-warning DEL", "-", redis_url])

    restored = Server(f"{backend}-restored", restored_data, restored_url, redis_url)
    try:
        problems, numbers = verify_restore(restored, tokens, expected, expected_audit, acked_before, conversation)
        check(not problems, f"{backend}: the restore holds everything acknowledged before the backup:" + "".join("\n    " + p for p in problems))
        print(f"  restored: dave has {len(numbers)} tasks (acknowledged before the backup: {len(acked_before)})", flush=True)
        dead_letters = os.path.join(restored_data, "audit-dead-letter.jsonl")
        check(os.path.exists(dead_letters) and open(dead_letters).read() == DEAD_LETTER_LINE, f"{backend}: the audit dead-letter file is restored as it was")
        key = os.path.join(restored_data, "dev-issuer-key.pem")
        check(os.path.exists(key) and os.stat(key).st_mode & 0o077 == 0, f"{backend}: the development key is restored, still private (0600)")
        problems = continue_after_restore(restored, tokens, expected, conversation)
        check(not problems, f"{backend}: writes continue on the restore:" + "".join("\n    " + p for p in problems))
    finally:
        restored.stop()
    verify = restored.parley("audit", "verify").stdout
    print("  " + verify.strip().replace("\n", "\n  "), flush=True)
    intact = dict(re.findall(r"^(\w+): intact, (\d+) events$", verify, re.M))
    check(
        {"system", "acme", "globex", "initech"} <= set(intact) and int(intact["acme"]) >= len(expected_audit["acme"]) > 0,
        f"{backend}: parley audit verify passes on the restore, every tenant's chain intact",
    )

    # Negative control: the same checks on an empty store must fail.
    # The development key of the backup, so that tokens verify and the data checks themselves run.
    empty_data = os.path.join(base, "empty-data")
    os.makedirs(empty_data)
    if os.path.exists(os.path.join(backup, "dev-issuer-key.pem")):
        shutil.copy2(os.path.join(backup, "dev-issuer-key.pem"), os.path.join(empty_data, "dev-issuer-key.pem"))
    empty = Server(f"{backend}-empty", empty_data, empty_url, redis_url)
    try:
        problems, _ = verify_restore(empty, tokens, expected, expected_audit, acked_before, conversation)
        check(len(problems) >= 5, f"{backend}: negative control: a Parley on an empty store fails the restore checks ({len(problems)} problems found)")
    finally:
        empty.stop()
    print(f"  {backend}: {time.time() - started:.1f} s", flush=True)


def script_refusals():
    """scripts/backup-sqlite.sh refuses what would make a useless or a mixed-up backup."""
    bad = subprocess.run([BACKUP_SQLITE, os.path.join(WORK, "no-such-dir"), os.path.join(WORK, "b1")], capture_output=True, text=True)
    check(bad.returncode != 0 and "not a Parley data directory" in bad.stderr, f"backup-sqlite.sh refuses a directory that is no data directory: {bad.stderr.strip()}")
    existing = os.path.join(WORK, "not-empty")
    os.makedirs(existing)
    open(os.path.join(existing, "parley.sqlite"), "w").close()
    bad = subprocess.run([BACKUP_SQLITE, os.path.join(WORK, "sqlite", "data"), existing], capture_output=True, text=True)
    check(bad.returncode != 0 and "not empty" in bad.stderr, f"backup-sqlite.sh refuses a destination that is not empty: {bad.stderr.strip()}")


def main():
    for backend in BACKENDS:
        if backend == "postgres" and not TEST_DATABASE_URL:
            raise SystemExit("postgres: PARLEY_TEST_DATABASE_URL is not set (scripts/test sets it; BACKENDS=sqlite skips PostgreSQL)")
        scenario(backend)
        if backend == "sqlite":
            script_refusals()
    if failures:
        print(f"backup-restore: {len(failures)} check(s) failed", flush=True)
        sys.exit(1)
    print("backup-restore: all passed on " + ", ".join(BACKENDS), flush=True)


if __name__ == "__main__":
    main()
