"""`parley export` and `parley import`: an installation moved from SQLite to PostgreSQL and back.

Run by scripts/transfer-e2e.sh, which provides:
  PARLEY_BIN            the parley binary
  WORK                  a scratch directory
  PARLEY_DATABASE_URL   a fresh PostgreSQL database of this run: the import target (B)

No Redis: model usage, like everything else, lives in the stores. Every server is on loopback with
dev auth; every token is minted once, from A's development key, whose file is copied into B's and
C's data directories (B keeps only that there: its data is in PostgreSQL).

  1. A, a Parley on SQLite, gets varied data through the API: three tenants (acme, globex and
     initech, provisioned and left empty); tasks made over REST and by the basic agent, one
     completed by each, one edited; alice's highest task deleted (her counter is 4, her highest
     remaining task 3); chat turns in several conversations; feedback up and down, with
     comments; acme's newest conversation, which has feedback, deleted (so the highest
     conversation, message and feedback ids exist in no row); a conversation renamed
     through ChatKit more than a second after its last message (its updated_at is not its last
     message's, which SQLite's message trigger would give it on import); a user who erased his data;
     tenant and global flags; one turn answered by a scripted model (Tests/support/counting_model.py),
     so model_usage has rows; a refused token, a tenant not granted (system log) and a 404
     (tenant log). A is stopped; `parley audit verify` passes on it.
  2. `parley export` of A: manifest.json says parley-export, version 1, source sqlite, the three
     tenants, and rows in every table the data must fill. A second export into the same directory
     is refused.
  3. `parley import` into the empty PostgreSQL database (B): the rows of the manifest;
     `parley audit verify` reports the same events per log as on A. Importing again is refused
     (the store is not empty), as is a directory that is no export, and neither changes a row,
     a schema or a sequence.
  4. Snapshot: A and then B are started (no model; reads only) and read alike, with the same
     tokens: every user's tasks, conversations, histories (per conversation and all), the
     admin's turn-by-turn view of every conversation, the user's own export (without
     exported_at), each tenant's flags, feedback, usage and audit log, the global flags, the
     tenants and the system log. Audit events are compared whole (seq, time, actor, action,
     object, outcome, ip, request_id, detail, prev_hash, hash...), without the events of the
     snapshot's own audited reads (SNAPSHOT_READS); what is left must be exactly as many events as
     `parley audit verify` counted on A. Everything must be equal.
  5. B is exported (DIR2, source postgresql): row for row equal to A's export, except that
     each audit log may go on with the events of B's snapshot reads, chained to the last imported
     event. Then imported into a fresh SQLite data directory (C): `parley audit verify` counts what
     B had; a second import is refused and changes nothing; C's own export equals B's row for
     row (conversations.updated_at included, to the millisecond); C's snapshot equals A's.
  6. Writes continue on A, B and C alike: alice's next task is 5 (her counter came over, not 4,
     the highest remaining task + 1), the agent's task after it is 6; a new conversation's id is
     above every imported one; and conversation, message and feedback ids are those A itself
     gives, which did not reuse the ids of the deleted conversation.

The figures are printed as a summary at the end.
"""

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from counting_model import CountingModel  # noqa: E402
from parley_e2e import Process, check, failures, free_port, parley_token, psql, request  # noqa: E402

BIN = os.environ["PARLEY_BIN"]
WORK = os.environ["WORK"]
DATABASE_URL = os.environ["PARLEY_DATABASE_URL"]

TENANTS = ["acme", "globex", "initech"]
USERS = {"acme": ["alice", "bob", "dave"], "globex": ["carol"], "initech": []}
MODEL = "scripted-model"
KEY_FILE = "dev-issuer-key.pem"
# What reading a snapshot itself adds to the audit logs (admin reads and a user's export are
# audited even when they succeed); left out when logs of different servers are compared.
SNAPSHOT_READS = {"flags.read", "feedback.export", "audit.read", "user.export", "usage.read", "conversation.inspect", "tenant.list"}
# Files the data of step 1 must fill.
FILLED = ["control/feature_flags.jsonl", "control/model_usage.jsonl", "control/audit_log.jsonl"] + [
    f"tenants/{tenant}/{table}.jsonl"
    for tenant in ("acme", "globex")
    for table in ("users", "tasks", "conversations", "messages", "feedback", "audit_log")
]


def redact(text):
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def base_env(database_url=None, extra=None):
    """The environment without this run's PARLEY_* (PARLEY_DATABASE_URL is B's only), limits off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") or k.startswith("PARLEY_TEST_")}
    env.update(
        {
            "PARLEY_RATELIMIT_IP": "off",
            "PARLEY_RATELIMIT_USER": "off",
            "PARLEY_RATELIMIT_TENANT": "off",
            "PARLEY_LOG_LEVEL": "warning",
        }
    )
    if database_url:
        env["PARLEY_DATABASE_URL"] = database_url
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------------------------
# Installations and their servers


class Server(Process):
    """`parley serve` on loopback (dev auth on) for an installation, until stop()."""

    def __init__(self, name, installation, extra_env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = base_env(installation.database_url, extra_env)
        super().__init__(name, [BIN, "serve", "--data-dir", installation.data_dir, "--port", str(self.port)], env)
        if self.became_ready(lambda: request("GET", self.url + "/api/v1/readyz")[0] == 200, 60):
            return
        self.stop()
        raise SystemExit(f"{name} did not become ready; see {self.log.name}:\n" + open(self.log.name).read()[-3000:])

    def call(self, method, path, token, body=None, tenant=None):
        return request(method, self.url + path, token, body, tenant=tenant)

    def stop(self):
        super().stop(timeout=60, strict=True)
        self.log.close()


class Installation:
    """A data directory, and for B the PostgreSQL database: the CLI commands and servers on it."""

    def __init__(self, name, database_url=None):
        self.name = name
        self.data_dir = os.path.join(WORK, f"{name}-data")
        self.database_url = database_url
        self.runs = 0
        os.makedirs(self.data_dir, exist_ok=True)

    def parley(self, *args, expect_ok=True):
        """`parley ARGS --data-dir DIR` (with B's database); fails the test if it fails, unless not `expect_ok`."""
        argv = [BIN, *args, "--data-dir", self.data_dir]
        print(f"  {self.name}$ parley " + redact(" ".join(args)), flush=True)
        result = subprocess.run(argv, cwd=WORK, env=base_env(self.database_url), capture_output=True, text=True, timeout=600)
        if expect_ok and result.returncode != 0:
            raise SystemExit(f"command failed ({result.returncode}): parley {' '.join(args)} on {self.name}\n{result.stdout}\n{result.stderr}")
        return result

    def verify(self):
        """`parley audit verify`: exit 0, every log intact; {log: events}."""
        result = self.parley("audit", "verify", expect_ok=False)
        print("    " + result.stdout.strip().replace("\n", "\n    "), flush=True)
        counts = {name: int(n) for name, n in re.findall(r"^(\w+): intact, (\d+) events", result.stdout, re.M)}
        broken = re.findall(r"^\w+: BROKEN.*$", result.stdout, re.M)
        check(
            result.returncode == 0 and not broken and set(TENANTS + ["system"]) <= set(counts),
            f"{self.name}: parley audit verify exits 0, every log intact ({result.returncode}; {broken or 'none broken'}; logs {sorted(counts)})",
        )
        return counts

    def serve(self, extra_env=None):
        self.runs += 1
        return Server(f"{self.name}-serve-{self.runs}", self, extra_env)


class Tokens:
    """Every token of the proof, minted once with A's development key."""

    def __init__(self, data_dir):
        def mint(user, *tenants, admin=False):
            return parley_token(BIN, user, tenants, admin=admin, data_dir=data_dir, env=base_env())

        self.users = {user: mint(user, tenant) for tenant, users in USERS.items() for user in users}
        self.admin = mint("root", *TENANTS, admin=True)


def copy_key(source, target):
    shutil.copy2(os.path.join(source.data_dir, KEY_FILE), os.path.join(target.data_dir, KEY_FILE))


def ok(result, what, expected=(200, 201, 204)):
    status, body = result
    if status not in expected:
        raise SystemExit(f"{what}: {status} {body}")
    return body


def answered(reply, start, what):
    check((reply.get("response") or "").startswith(start), f"{what}: the agent answered {reply.get('response')!r} (expected {start!r}...)")


# ---------------------------------------------------------------------------------------------
# Step 1: the data, on A


def make_data(a, t):
    """Writes everything the move must carry; returns what the later checks need to know."""
    facts = {}
    s = a.serve()
    try:
        admin = t.admin
        ok(s.call("PATCH", "/api/v1/admin/flags", admin, {"retention.days": 90, "budget.completions": 500}, tenant="acme"), "acme flags")
        ok(s.call("PATCH", "/api/v1/admin/flags", admin, {"budget.tokens": 100000, "budget.onExhausted": "refuse"}, tenant="globex"), "globex flags")
        ok(s.call("PATCH", "/api/v1/admin/flags/global", admin, {"budget.onExhausted": "basic"}, tenant="acme"), "global flags")
        ok(s.call("POST", "/api/v1/admin/tenants", admin, {"id": "initech"}, tenant="acme"), "provision initech", (201,))

        # dave: a task and a chat, then he erases his data (the audit keeps the pseudonym).
        dave = t.users["dave"]
        ok(s.call("POST", "/api/v1/tasks", dave, {"title": "Shred the old files"}), "dave's task")
        ok(s.call("POST", "/api/v1/chat", dave, {"message": "add a task to call the bank"}), "dave's chat")
        erased = ok(s.call("DELETE", "/api/v1/me", dave), "dave erases his data")
        print(f"  dave erased: {json.dumps(erased, sort_keys=True)}", flush=True)

        # carol (globex): a completed REST task, a task through the agent.
        carol = t.users["carol"]
        ok(s.call("POST", "/api/v1/tasks", carol, {"title": "Book the venue", "description": "for 80 people"}), "carol's task")
        ok(s.call("PATCH", "/api/v1/tasks/1", carol, {"status": "completed"}), "carol completes task 1")
        answered(ok(s.call("POST", "/api/v1/chat", carol, {"message": "add a task to send the invitations"}), "carol's chat"), "Added task 2:", "carol")

        # bob: a REST task, a task through the agent with a thumbs-up; his conversation is renamed below.
        bob = t.users["bob"]
        ok(s.call("POST", "/api/v1/tasks", bob, {"title": "Water the plants"}), "bob's task")
        stamps = ok(s.call("POST", "/api/v1/chat", bob, {"message": "add a task to buy stamps"}), "bob's chat")
        answered(stamps, "Added task 2:", "bob")
        ok(s.call("POST", "/api/v1/chat/feedback", bob, {"message_id": stamps["message_id"], "rating": "up"}), "bob's feedback")
        facts["renamed"] = stamps["conversation_id"]

        # alice: tasks through the agent and REST, one completed, one edited; two conversations;
        # a thumbs-down with a comment; then her highest task deleted.
        alice = t.users["alice"]
        milk = ok(s.call("POST", "/api/v1/chat", alice, {"message": "add a task to buy milk"}), "alice chat 1")
        answered(milk, "Added task 1: Buy milk.", "alice")
        conversation = milk["conversation_id"]
        rent = ok(s.call("POST", "/api/v1/tasks", alice, {"title": "Pay rent", "description": "before the 5th"}), "alice's task")
        check(rent.get("id") == 2, f"alice's REST task is task 2 ({rent.get('id')})")
        plumber = ok(s.call("POST", "/api/v1/chat", alice, {"message": "add a task to call the plumber", "conversation_id": conversation}), "alice chat 2")
        answered(plumber, "Added task 3: Call the plumber.", "alice")
        done = ok(s.call("POST", "/api/v1/chat", alice, {"message": "mark task 1 as done", "conversation_id": conversation}), "alice chat 3")
        answered(done, "Marked task 1 as complete: Buy milk.", "alice")
        ok(s.call("PATCH", "/api/v1/tasks/2", alice, {"description": "before the 5th, by bank transfer"}), "alice edits task 2")
        ok(
            s.call("POST", "/api/v1/chat/feedback", alice, {"message_id": plumber["message_id"], "rating": "down", "comment": "I meant the electrician"}),
            "alice's feedback",
        )
        answered(ok(s.call("POST", "/api/v1/chat", alice, {"message": "list my tasks"}), "alice chat 4"), "Here are your tasks", "alice")
        temporary = ok(s.call("POST", "/api/v1/tasks", alice, {"title": "Temporary"}), "alice's temporary task")
        ok(s.call("DELETE", f"/api/v1/tasks/{temporary['id']}", alice), "alice deletes her highest task", (204,))
        facts["alice_counter"] = temporary["id"]

        # Refused: no valid token, a tenant the token does not grant (both: the system log), and a
        # task that does not exist (acme's log).
        status, _ = s.call("GET", "/api/v1/tasks", "not-a-token")
        check(status == 401, f"a malformed token is refused ({status})")
        status, _ = s.call("GET", "/api/v1/tasks", alice, tenant="globex")
        check(status == 403, f"a tenant the token does not grant is refused ({status})")
        status, _ = s.call("GET", "/api/v1/tasks/99", alice)
        check(status == 404, f"a task that does not exist is not found ({status})")

        # More than a second after bob's last message (the API shows seconds): his conversation
        # renamed through ChatKit, so its updated_at is no message's time.
        time.sleep(1.1)
        renamed = ok(
            s.call("POST", "/chatkit", bob, {"type": "threads.update", "params": {"thread_id": f"thr_{facts['renamed']}", "title": "Errands"}}),
            "ChatKit rename",
        )
        check(renamed.get("title") == "Errands", f"bob's conversation is renamed through ChatKit ({renamed.get('title')})")

        # Last: acme's newest conversation, with a thumbs-up, deleted. The highest conversation,
        # message and feedback ids of acme are now in no row.
        last = ok(s.call("POST", "/api/v1/chat", alice, {"message": "what's on my list?"}), "alice chat 5")
        liked = ok(s.call("POST", "/api/v1/chat/feedback", alice, {"message_id": last["message_id"], "rating": "up"}), "alice's second feedback")
        ok(s.call("DELETE", f"/api/v1/conversations/{last['conversation_id']}", alice), "alice deletes her newest conversation", (204,))
        facts.update(deleted_conversation=last["conversation_id"], deleted_message=last["message_id"], deleted_feedback=liked.get("id"))
    finally:
        s.stop()

    # One turn answered by a model (a scripted one, in this process), so model usage is stored.
    model = CountingModel(model=MODEL, delay=0)
    s = a.serve(model.env("scripted"))
    try:
        carol = t.users["carol"]
        reply = ok(s.call("POST", "/api/v1/chat", carol, {"message": "[globex] any advice for the launch?"}), "carol's model turn")
        check(reply.get("model") == MODEL and model.calls("globex") == 1, f"carol's turn is answered by the model ({reply.get('model')}, {model.calls('globex')} call)")
        ok(s.call("POST", "/api/v1/chat/feedback", carol, {"message_id": reply["message_id"], "rating": "down", "comment": "too vague"}), "carol's feedback")
        facts["month"] = time.strftime("%Y-%m", time.gmtime())
        # The usage meter adds to the ledger every second (and on shutdown).
        time.sleep(1.5)
    finally:
        s.stop()
        model.stop()
    return facts


# ---------------------------------------------------------------------------------------------
# Step 2 and 5: export directories


def read_export(directory):
    """(manifest, {path: [rows]}) of an export directory."""
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    files = {}
    for path in manifest.get("rows", {}):
        with open(os.path.join(directory, path)) as f:
            files[path] = [json.loads(line) for line in f if line.strip()]
    return manifest, files


def check_export(name, directory, source, output):
    """The manifest of an export `parley export` just wrote; its (manifest, files)."""
    manifest, files = read_export(directory)
    rows = manifest.get("rows", {})
    check(
        manifest.get("format") == "parley-export" and manifest.get("version") == 1 and manifest.get("source") == source,
        f"{name}: manifest.json: format {manifest.get('format')}, version {manifest.get('version')}, source {manifest.get('source')} (expected {source})",
    )
    check(manifest.get("tenants") == TENANTS, f"{name}: the manifest names every tenant: {manifest.get('tenants')}")
    check(bool(manifest.get("exported_at")) and manifest.get("tenant_schema", 0) > 0 and manifest.get("control_schema", 0) > 0,
          f"{name}: the manifest has exported_at and the schema versions ({manifest.get('tenant_schema')}, {manifest.get('control_schema')})")
    empty = [path for path in FILLED if rows.get(path, 0) <= 0]
    check(not empty, f"{name}: the manifest counts rows in every table the data filled (empty: {empty or 'none'})")
    mismatched = [path for path, count in rows.items() if len(files[path]) != count]
    check(not mismatched, f"{name}: every file has as many rows as the manifest says (differ: {mismatched or 'none'})")
    widths = [path for path, lines in files.items() for row in lines if len(row) != len(manifest["columns"][os.path.basename(path)[: -len(".jsonl")]])]
    check(not widths, f"{name}: every row has the manifest's columns (not: {sorted(set(widths)) or 'none'})")
    said = re.search(r"exported (\d+) tenants, (\d+) rows", output)
    check(
        said is not None and int(said[1]) == len(TENANTS) and int(said[2]) == sum(rows.values()),
        f"{name}: parley export says {said[0] if said else output.strip()!r}; the manifest has {sum(rows.values())} rows",
    )
    return manifest, files


def audit_columns(manifest):
    columns = manifest["columns"]["audit_log"]
    return {name: columns.index(name) for name in ("seq", "action", "prev_hash", "hash")}


def compare_exports(name, first, second, appended):
    """Row for row: `second` has every row of `first`, in order. With `appended`, an audit log may
    go on after them with the events of snapshot reads, chained to the last of `first`. Returns
    (problems, rows compared, events appended)."""
    (m1, f1), (m2, f2) = first, second
    problems = []
    for key in ("tenants", "columns", "tenant_schema", "control_schema"):
        if m1.get(key) != m2.get(key):
            problems.append(f"manifest {key}: {m1.get(key)} vs {m2.get(key)}")
    if set(f1) != set(f2):
        problems.append(f"files: {sorted(set(f1) ^ set(f2))} in only one")
    at = audit_columns(m1)
    compared = added = 0
    for path in sorted(set(f1) & set(f2)):
        rows1, rows2 = f1[path], f2[path]
        compared += len(rows1)
        if appended and path.endswith("/audit_log.jsonl"):
            extra = rows2[len(rows1):]
            added += len(extra)
            if rows2[: len(rows1)] != rows1:
                problems.append(f"{path}: the exported events are not the first ones: {first_difference(rows1, rows2[: len(rows1)])}")
            others = sorted({row[at["action"]] for row in extra} - SNAPSHOT_READS)
            if others:
                problems.append(f"{path}: events other than the snapshot's reads were added: {others}")
            if extra:
                last_seq = rows1[-1][at["seq"]] if rows1 else 0
                last_hash = rows1[-1][at["hash"]] if rows1 else "0" * 64
                if extra[0][at["prev_hash"]] != last_hash or min(row[at["seq"]] for row in extra) <= last_seq:
                    problems.append(f"{path}: the events added after the import do not continue the chain after seq {last_seq}")
        elif rows1 != rows2:
            ordered = lambda rows: sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))
            if ordered(rows1) == ordered(rows2):
                # The same rows in another order: text keys collate differently (PostgreSQL's
                # database collation, SQLite's bytes); the test server is initdb'd with C.
                print(f"  NOTE {name}: {path}: the same rows in another order", flush=True)
            else:
                problems.append(f"{path}: {len(rows1)} vs {len(rows2)} rows: {first_difference(rows1, rows2)}")
    return problems, compared, added


# ---------------------------------------------------------------------------------------------
# Step 3 and 5: a refused import changes nothing


def postgres_fingerprint(url):
    """The shared and the tenant schemas, every table of them (rows and a digest of the contents) and every sequence."""
    fingerprint = {
        "schemas": psql(url, "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname = 'parley' OR nspname LIKE 'tenant\\_%'"),
        "sequences": psql(
            url,
            "SELECT coalesce(string_agg(schemaname || '.' || sequencename || '=' || coalesce(last_value::text, '-'), ','"
            " ORDER BY schemaname, sequencename), '') FROM pg_sequences",
        ),
    }
    tables = psql(
        url,
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables"
        " WHERE (table_schema = 'parley' OR table_schema LIKE 'tenant\\_%') AND table_type = 'BASE TABLE' ORDER BY 1",
    ).split("\n")
    digests = psql(
        url,
        " UNION ALL ".join(
            f"SELECT '{table}' || ' ' || (SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '') FROM {table} x)"
            for table in tables
            if table
        ),
    )
    for line in digests.split("\n"):
        if line:
            table, digest = line.split(" ", 1)
            fingerprint["table " + table] = digest
    return fingerprint


def sqlite_fingerprint(data_dir):
    """Every table of every SQLite file of a data directory (sqlite_sequence included): rows and a digest."""
    tenants = os.path.join(data_dir, "tenants")
    files = ["parley.sqlite"] + sorted(os.path.join("tenants", n) for n in os.listdir(tenants) if n.endswith(".sqlite"))
    fingerprint = {"files": files}
    for name in files:
        connection = sqlite3.connect(os.path.join(data_dir, name))
        try:
            for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall():
                rows = sorted(repr(row) for row in connection.execute(f'SELECT * FROM "{table}"'))
                fingerprint[f"{name}:{table}"] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        finally:
            connection.close()
    return fingerprint


def refused_imports(installation, export_dir, fingerprint):
    """A second import, and one from a directory that is no export: refused, nothing changed."""
    name = installation.name
    before = fingerprint()
    again = installation.parley("import", "--from", export_dir, expect_ok=False)
    said = (again.stdout + again.stderr).strip()
    check(
        again.returncode != 0 and re.search(r"already has .*import into an empty store", said) is not None,
        f"{name}: importing into the non-empty store is refused ({again.returncode}): {said.splitlines()[0] if said else ''}",
    )
    missing = installation.parley("import", "--from", os.path.join(WORK, "no-such-export"), expect_ok=False)
    said = (missing.stdout + missing.stderr).strip()
    check(missing.returncode != 0 and "not a parley export" in said, f"{name}: a directory that is no export is refused ({missing.returncode}): {said.splitlines()[0] if said else ''}")
    after = fingerprint()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    check(not changed, f"{name}: the refused imports changed nothing ({len(before)} tables, schemas, sequences compared; changed: {changed or 'none'})")


# ---------------------------------------------------------------------------------------------
# Step 4: the snapshot


def normalized_usage(body):
    """The usage report with its lists in one order (the ledgers may list models and users differently)."""
    body = dict(body)
    for key, sort_key in (("models", lambda m: (m.get("provider", ""), m.get("model", ""))), ("users", lambda u: u.get("user_id", ""))):
        if isinstance(body.get(key), list):
            body[key] = sorted(body[key], key=sort_key)
    return body


def snapshot(installation, t, facts):
    """Starts the installation's server, reads everything a client and an admin can see, stops it.
    Returns ({read: answer}, {log: audit events without the snapshot's reads, oldest first}, problems)."""
    server = installation.serve()
    state, audit, problems = {}, {}, []

    def read(key, path, token, tenant=None, transform=None):
        status, body = server.call("GET", path, token, tenant=tenant)
        if status != 200:
            problems.append(f"GET {path} ({tenant or 'the token tenant'}) -> {status} {body}")
            body = None
        elif transform:
            body = transform(body)
        state[key] = body
        return body

    try:
        admin = t.admin
        for tenant in TENANTS:
            for user in USERS[tenant]:
                token = t.users[user]
                read(f"{tenant}/{user}/tasks", "/api/v1/tasks?status=all", token)
                read(f"{tenant}/{user}/history", "/api/v1/chat/history?limit=200", token)
                listing = read(f"{tenant}/{user}/conversations", "/api/v1/conversations?limit=200", token) or {}
                for conversation in listing.get("conversations", []):
                    cid = conversation["id"]
                    read(f"{tenant}/{user}/history/{cid}", f"/api/v1/chat/history?conversation_id={cid}&limit=200", token)
                    read(f"{tenant}/{user}/inspect/{cid}", f"/api/v1/admin/users/{user}/conversations/{cid}?limit=500", admin, tenant)
                read(f"{tenant}/{user}/export", "/api/v1/me/export", token, transform=lambda b: {k: v for k, v in b.items() if k != "exported_at"})
            read(f"{tenant}/flags", "/api/v1/admin/flags", admin, tenant)
            read(f"{tenant}/feedback", "/api/v1/admin/feedback?limit=1000", admin, tenant)
            read(f"{tenant}/usage", f"/api/v1/admin/usage?month={facts['month']}", admin, tenant, transform=normalized_usage)
        read("global/flags", "/api/v1/admin/flags/global", admin, "acme")
        read("tenants", "/api/v1/admin/tenants", admin, "acme")
        for log in TENANTS + ["system"]:
            query = "/api/v1/admin/audit?limit=1000" + ("&log=system" if log == "system" else "")
            status, page = server.call("GET", query, admin, tenant="acme" if log == "system" else log)
            if status != 200 or page.get("has_more"):
                problems.append(f"GET {query} ({log}) -> {status}, has_more {page.get('has_more')}")
            audit[log] = [e for e in reversed(page.get("events", [])) if e.get("action") not in SNAPSHOT_READS]
    finally:
        server.stop()
    return state, audit, problems


def first_difference(a, b, path=""):
    """Where two JSON values first differ, and how."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key, "<absent>") != b.get(key, "<absent>"):
                return first_difference(a.get(key, "<absent>"), b.get(key, "<absent>"), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
        if len(a) != len(b):
            return f"{path or '.'}: {len(a)} vs {len(b)} items"
    dump = lambda v: json.dumps(v, sort_keys=True)[:300]
    return f"{path or '.'}: {dump(a)} vs {dump(b)}"


def compare_snapshots(name, expected, actual):
    """Each read of `expected` equal in `actual`, each audit log equal; the differences."""
    (state1, audit1, _), (state2, audit2, problems2) = expected, actual
    problems = list(problems2)
    for label, one, two in (("read", state1, state2), ("audit", audit1, audit2)):
        for key in sorted(set(one) | set(two)):
            if key not in two:
                problems.append(f"{label} {key}: missing on {name}")
            elif key not in one:
                problems.append(f"{label} {key}: only on {name}")
            elif one[key] != two[key]:
                problems.append(f"{label} {key}: {first_difference(one[key], two[key])}")
    return problems


def check_snapshot(name, snap, counts, facts):
    """What a snapshot itself must show: every event verify counted, the data's special cases."""
    state, audit, problems = snap
    check(not problems, f"{name}: every snapshot read answers 200:" + "".join("\n    " + p for p in problems))
    short = {log: (len(audit.get(log, [])), counts.get(log)) for log in TENANTS + ["system"] if len(audit.get(log, [])) != counts.get(log)}
    check(not short, f"{name}: each log holds exactly the events parley audit verify counted on A, besides the snapshot's reads (differ: {short or 'none'})")
    if name != "A":
        return
    # The special cases of the data are really there (on A, the original).
    acme = [c["id"] for u in USERS["acme"] for c in (state.get(f"acme/{u}/conversations") or {}).get("conversations", [])]
    check(acme and max(acme) < facts["deleted_conversation"], f"A: the deleted conversation {facts['deleted_conversation']} was acme's highest (left: {sorted(acme)})")
    tasks = [task["id"] for task in (state.get("acme/alice/tasks") or {}).get("tasks", [])]
    check(tasks and max(tasks) < facts["alice_counter"], f"A: alice's highest task {facts['alice_counter']} was deleted (left: {tasks})")
    renamed = next((c for c in (state.get("acme/bob/conversations") or {}).get("conversations", []) if c["id"] == facts["renamed"]), {})
    messages = (state.get(f"acme/bob/history/{facts['renamed']}") or {}).get("messages", [])
    last = max((m["created_at"] for m in messages), default="")
    check(renamed.get("title") == "Errands" and renamed.get("updated_at", "") > last,
          f"A: bob's renamed conversation was updated after its last message ({renamed.get('updated_at')} > {last})")
    usage = state.get("globex/usage") or {}
    check(usage.get("completions") == 1, f"A: globex's usage shows the model's one completion ({usage.get('completions')})")


# ---------------------------------------------------------------------------------------------
# Step 6: writes continue


def continue_writes(installation, t):
    """The same writes on any installation: alice's new task, a new conversation with a task, feedback on it."""
    server = installation.serve()
    try:
        alice = t.users["alice"]
        status, task = server.call("POST", "/api/v1/tasks", alice, {"title": "After the move"})
        status2, chat = server.call("POST", "/api/v1/chat", alice, {"message": "add a task to feed the cat"})
        status3, feedback = server.call("POST", "/api/v1/chat/feedback", alice, {"message_id": chat.get("message_id"), "rating": "up"})
    finally:
        server.stop()
    if (status, status2, status3) != (201, 200, 201):
        check(False, f"{installation.name}: the writes after the move are answered ({status}, {status2}, {status3}: {task} {chat} {feedback})")
    added = re.match(r"Added task (\d+):", chat.get("response") or "")
    return {
        "task": task.get("id"),
        "agent_task": int(added[1]) if added else None,
        "conversation": chat.get("conversation_id"),
        "message": chat.get("message_id"),
        "feedback": feedback.get("id"),
    }


# ---------------------------------------------------------------------------------------------


def main():
    started = time.time()
    a = Installation("A")
    b = Installation("B", DATABASE_URL)
    c = Installation("C")
    t = Tokens(a.data_dir)
    copy_key(a, b)
    copy_key(a, c)

    print("== 1. A (SQLite): the data", flush=True)
    facts = make_data(a, t)
    counts_a = a.verify()

    print("== 2. export A", flush=True)
    dir1 = os.path.join(WORK, "export-a")
    export_a = check_export("export of A", dir1, "sqlite", a.parley("export", "--out", dir1).stdout)
    again = a.parley("export", "--out", dir1, expect_ok=False)
    check(again.returncode != 0 and "not empty" in again.stdout + again.stderr and read_export(dir1)[0] == export_a[0],
          f"a second export into the same directory is refused and leaves it as it was ({again.returncode})")
    rows_a = sum(export_a[0]["rows"].values())

    print("== 3. import into PostgreSQL (B)", flush=True)
    said = b.parley("import", "--from", dir1).stdout
    imported = re.search(r"imported (\d+) tenants, (\d+) rows", said)
    check(imported is not None and int(imported[1]) == len(TENANTS) and int(imported[2]) == rows_a,
          f"B: parley import says {imported[0] if imported else said.strip()!r}; the export has {rows_a} rows")
    counts_b = b.verify()
    check(counts_b == counts_a, f"B: the same events per log as A ({counts_b} vs {counts_a})")
    refused_imports(b, dir1, lambda: postgres_fingerprint(DATABASE_URL))

    print("== 4. snapshots of A and B", flush=True)
    snap_a = snapshot(a, t, facts)
    check_snapshot("A", snap_a, counts_a, facts)
    snap_b = snapshot(b, t, facts)
    check_snapshot("B", snap_b, counts_a, facts)
    problems = compare_snapshots("B", snap_a, snap_b)
    check(not problems, "B (PostgreSQL) shows exactly what A (SQLite) shows:" + "".join("\n    " + p for p in problems[:30]))
    reads = len(snap_a[0]) + len(snap_a[1])

    print("== 5. export B, import into SQLite (C)", flush=True)
    counts_b2 = b.verify()
    check(counts_b2.get("system") == counts_a.get("system") and all(counts_b2.get(log, -1) >= counts_a.get(log, 0) for log in TENANTS),
          f"B: after its snapshot, its logs went on from the imported events ({counts_b2})")
    dir2 = os.path.join(WORK, "export-b")
    export_b = check_export("export of B", dir2, "postgresql", b.parley("export", "--out", dir2).stdout)
    problems, compared_ab, appended = compare_exports("A→B", export_a, export_b, appended=True)
    check(not problems, f"B's export holds A's rows exactly ({compared_ab} rows; then {appended} events of B's snapshot reads, chained on):"
          + "".join("\n    " + p for p in problems[:30]))
    rows_b = sum(export_b[0]["rows"].values())
    said = c.parley("import", "--from", dir2).stdout
    imported = re.search(r"imported (\d+) tenants, (\d+) rows", said)
    check(imported is not None and int(imported[1]) == len(TENANTS) and int(imported[2]) == rows_b,
          f"C: parley import says {imported[0] if imported else said.strip()!r}; the export has {rows_b} rows")
    counts_c = c.verify()
    check(counts_c == counts_b2, f"C: the same events per log as B had when exported ({counts_c} vs {counts_b2})")
    refused_imports(c, dir2, lambda: sqlite_fingerprint(c.data_dir))
    dir3 = os.path.join(WORK, "export-c")
    export_c = check_export("export of C", dir3, "sqlite", c.parley("export", "--out", dir3).stdout)
    problems, compared_bc, _ = compare_exports("B→C", export_b, export_c, appended=False)
    check(not problems, f"C's export equals B's row for row ({compared_bc} rows; conversations.updated_at to the ms):" + "".join("\n    " + p for p in problems[:30]))
    snap_c = snapshot(c, t, facts)
    check_snapshot("C", snap_c, counts_a, facts)
    problems = compare_snapshots("C", snap_a, snap_c)
    check(not problems, "C (SQLite, from PostgreSQL) shows exactly what A shows:" + "".join("\n    " + p for p in problems[:30]))

    print("== 6. writes continue on A, B and C", flush=True)
    state = snap_a[0]
    imported_conversations = [c_["id"] for u in USERS["acme"] for c_ in (state.get(f"acme/{u}/conversations") or {}).get("conversations", [])]
    imported_messages = [m["id"] for u in USERS["acme"] for m in (state.get(f"acme/{u}/history") or {}).get("messages", [])]
    after = {inst.name: continue_writes(inst, t) for inst in (a, b, c)}
    source = after["A"]
    check(source["conversation"] == facts["deleted_conversation"] + 1 and (source["message"] or 0) > facts["deleted_message"]
          and (source["feedback"] or 0) > (facts["deleted_feedback"] or 0),
          f"A (the source) does not reuse the deleted conversation's ids: {json.dumps(source, sort_keys=True)}")
    for name in ("A", "B", "C"):
        got = after[name]
        check(got["task"] == facts["alice_counter"] + 1 and got["agent_task"] == facts["alice_counter"] + 2,
              f"{name}: alice's numbering goes on from her counter: task {got['task']}, the agent's {got['agent_task']}"
              f" (expected {facts['alice_counter'] + 1} and {facts['alice_counter'] + 2}; highest remaining + 1 would be {facts['alice_counter']})")
        highest = (max(imported_conversations, default=0), max(imported_messages, default=0))
        check((got["conversation"] or 0) > highest[0] and (got["message"] or 0) > highest[1],
              f"{name}: a new conversation {got['conversation']} and message {got['message']} come after every imported one {highest}")
        if name == "A":
            continue
        check(got == after["A"],
              f"{name}: the same ids as A gives, which does not reuse the deleted conversation's {facts['deleted_conversation']},"
              f" message {facts['deleted_message']} and feedback {facts['deleted_feedback']}: {name} {got} vs A {after['A']}")

    print("== summary", flush=True)
    rows = export_a[0]["rows"]
    print(f"  tenants: {len(TENANTS)} ({', '.join(TENANTS)}); rows exported from A: {rows_a} in {len(rows)} files"
          f" ({sum(1 for n in rows.values() if n == 0)} empty); from B: {rows_b}", flush=True)
    print("  rows per table (acme): " + ", ".join(f"{p.split('/')[-1][:-6]} {n}" for p, n in rows.items() if p.startswith("tenants/acme/")), flush=True)
    print("  control: " + ", ".join(f"{p.split('/')[-1][:-6]} {n}" for p, n in rows.items() if p.startswith("control/")), flush=True)
    print(f"  audit events verified per log: A {counts_a}, B {counts_b}; B after its snapshot {counts_b2}, C {counts_c}", flush=True)
    print(f"  reads compared: {reads} per snapshot, A=B and A=C ({2 * reads}); rows compared: A→B {compared_ab}"
          f" (+{appended} appended events), B→C {compared_bc}", flush=True)
    print("  ids after the move: " + "; ".join(f"{name} {json.dumps(v, sort_keys=True)}" for name, v in after.items()), flush=True)
    print(f"  {time.time() - started:.1f} s", flush=True)
    if failures:
        print(f"transfer: {len(failures)} check(s) failed", flush=True)
        sys.exit(1)
    print("transfer: all passed (SQLite → PostgreSQL → SQLite)", flush=True)


if __name__ == "__main__":
    main()
