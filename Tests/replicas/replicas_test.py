"""Parley as it runs in production: several replicas on one PostgreSQL and one Redis.

Run by scripts/replicas-e2e.sh, which provides:
  PARLEY_BIN               the parley binary
  PARLEY_DATABASE_URL      a fresh PostgreSQL database of this run
  PARLEY_REDIS_URL         a Redis database of this run (emptied)
  PARLEY_SERVICES_STATE    where scripts/start-redis.sh & co. keep their state (to stop/restart them)
  WORK                     a scratch directory (the replicas share it: one development key)

Each scenario asserts what the production setup promises and prints the figure it measured:
  1. two replicas: a conversation moves between them; one user limit holds exactly across both;
     an audit event written through either replica is stored once;
  2. a worker killed mid-batch loses no audit event (another worker claims it);
  3. Redis stopped: limits fail open or closed as configured, chat keeps working, readiness says
     so; Redis back: everything resumes, no restart;
  4. PostgreSQL restarted under load: only 503s (retried by the client), no acknowledged message lost.

SCENARIOS=two_replicas,postgres_restart (for example) runs only those.
"""

import concurrent.futures
import os
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from parley_e2e import Parley, check, eventually, failures, parley_token, psql, redis_cli, request  # noqa: E402

BIN = os.environ["PARLEY_BIN"]
DATABASE_URL = os.environ["PARLEY_DATABASE_URL"]
REDIS_URL = os.environ["PARLEY_REDIS_URL"]
SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts")


class Process(Parley):
    """A parley process (a replica or a worker) with its own log."""

    def __init__(self, name, args, env):
        super().__init__(name, BIN, args, env)

    def wait_ready(self, accept_degraded=False):
        def ready():
            status, body = get(self.url + "/api/v1/readyz")
            return status == 200 or (accept_degraded and status == 503 and body.get("checks", {}).get("database") == "ok")

        super().wait_ready(ready, seconds=30)

    def stop(self):
        super().stop(strict=True)


def replica(name, **env):
    r = Process(name, ["serve"], {"PARLEY_" + k.upper(): v for k, v in env.items()})
    r.wait_ready(accept_degraded=True)
    return r


def get(url, token=None):
    return request("GET", url, token)


def token(user, tenant="acme", admin=False):
    return parley_token(BIN, user, (tenant,), admin=admin)


def redis(*args):
    return redis_cli(REDIS_URL, *args)


def audit_rows(request_ids):
    ids = ",".join("'" + r + "'" for r in request_ids)
    rows = psql(DATABASE_URL, f"SELECT request_id, count(*) FROM tenant_acme.audit_log WHERE request_id IN ({ids}) GROUP BY 1")
    return {line.split("|")[0]: int(line.split("|")[1]) for line in rows.splitlines() if line}


def scenario_two_replicas():
    a = replica("a", ratelimit_user="30 per hour")
    b = replica("b", ratelimit_user="30 per hour")
    try:
        alice = token("alice")
        status, first = request("POST", a.url + "/api/v1/chat", alice, {"message": "add a task to buy milk"})
        check(status == 200 and first.get("response") == "Added task 1: Buy milk.", f"chat on replica A: {status} {first}")
        conversation = first.get("conversation_id")
        status, second = request(
            "POST", b.url + "/api/v1/chat", alice, {"message": "what's on my list?", "conversation_id": conversation}
        )
        check(status == 200 and "1. Buy milk (pending)" in second.get("response", ""), f"the conversation continues on B: {second}")
        status, history = get(f"{b.url}/api/v1/chat/history?conversation_id={conversation}", alice)
        check(status == 200 and len(history.get("messages", [])) == 4, f"B shows the whole conversation: {len(history.get('messages', []))} messages")

        # One user limit across both replicas, under concurrent load.
        limited = token("limited")
        urls = [a.url, b.url]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda i: get(urls[i % 2] + "/api/v1/tasks", limited)[0], range(90)))
        admitted = statuses.count(200)
        check(admitted == 30 and statuses.count(429) == 60, f"limiter: admitted {admitted} of 90 concurrent requests across 2 replicas (limit 30 per hour), refused {statuses.count(429)}")

        # Audit events through either replica are stored once.
        bob = token("bob")
        request_ids = [f"replicas-{uuid.uuid4()}" for _ in range(20)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            created = list(
                pool.map(
                    lambda i: request("POST", urls[i % 2] + "/api/v1/tasks", bob, {"title": f"t{i}"}, {"X-Request-ID": request_ids[i]})[0],
                    range(20),
                )
            )
        check(created.count(201) == 20, f"20 tasks created through both replicas: {created}")
        stored = {}
        eventually(lambda: len(stored.update(audit_rows(request_ids)) or stored) == 20)
        check(len(stored) == 20 and set(stored.values()) == {1}, f"audit: {len(stored)} of 20 events stored, each once ({sorted(set(stored.values()))})")
    finally:
        a.stop()
        b.stop()


def scenario_killed_worker():
    # The replica leaves the queue to workers; W1 holds each batch 300 ms before storing it.
    a = replica("a2", audit_worker="off")
    w1 = Process("w1", ["worker"], {"PARLEY_AUDIT_TEST_WRITE_DELAY_MILLISECONDS": "300", "PARLEY_AUDIT_CLAIM_IDLE_MILLISECONDS": "1000"})
    w2 = None
    try:
        carol = token("carol")
        request_ids = [f"worker-{uuid.uuid4()}" for _ in range(200)]
        results = {}

        def create(i):
            results[i] = request("POST", a.url + "/api/v1/tasks", carol, {"title": f"w{i}"}, {"X-Request-ID": request_ids[i]})[0]

        load = concurrent.futures.ThreadPoolExecutor(4)
        futures = [load.submit(create, i) for i in range(100)]
        held = eventually(lambda: redis("XPENDING", "parley:audit", "writers").split("\n")[0] not in ("", "0"), 20)
        check(held, "worker 1 holds audit events it has not stored yet")
        w1.kill()
        w2 = Process(
            "w2", ["worker"], {"PARLEY_AUDIT_CLAIM_IDLE_MILLISECONDS": "1000", "PARLEY_AUDIT_CLAIM_INTERVAL_MILLISECONDS": "500"}
        )
        futures += [load.submit(create, i) for i in range(100, 200)]
        concurrent.futures.wait(futures)
        load.shutdown()
        acknowledged = [request_ids[i] for i, status in results.items() if status == 201]
        check(len(acknowledged) == 200, f"200 tasks created while a worker died: {len(acknowledged)}")
        drained = eventually(lambda: redis("XLEN", "parley:audit") == "0" and redis("XPENDING", "parley:audit", "writers").split("\n")[0] == "0", 30)
        check(drained, "the queue drained after the other worker claimed the dead one's events")
        stored = audit_rows(acknowledged)
        lost = len(acknowledged) - len(stored)
        duplicates = sum(count - 1 for count in stored.values())
        check(lost == 0 and duplicates == 0, f"killed worker: events lost: {lost}, duplicates: {duplicates} (of {len(acknowledged)})")
    finally:
        a.stop()
        for worker in (w1, w2):
            if worker:
                worker.stop()


def scenario_redis_outage():
    a = replica("open", ratelimit_user="5 per hour", ratelimit_fail_open="true")
    b = replica("closed", ratelimit_user="5 per hour", ratelimit_fail_open="false")
    env = dict(os.environ)
    try:
        dave = token("dave")
        subprocess.run([os.path.join(SCRIPTS, "stop-redis.sh"), "--keep"], check=True, env=env)
        request_ids = [f"outage-{uuid.uuid4()}" for _ in range(8)]
        statuses = [request("POST", a.url + "/api/v1/tasks", dave, {"title": f"o{i}"}, {"X-Request-ID": request_ids[i]})[0] for i in range(8)]
        check(statuses == [201] * 8, f"Redis down, fail-open replica: 8 requests over a limit of 5 all served: {statuses}")
        status, chat = request("POST", a.url + "/api/v1/chat", dave, {"message": "what's on my list?"})
        check(status == 200 and "o7" in chat.get("response", ""), f"Redis down: chat keeps working ({status})")
        status, ready = get(a.url + "/api/v1/readyz")
        check(status == 200 and ready.get("status") == "degraded" and ready["checks"]["redis"] != "ok", f"fail-open readiness: {status} {ready.get('status')}")
        status, problem = get(b.url + "/api/v1/tasks", dave)
        check(status == 503 and problem.get("status") == 503, f"Redis down, fail-closed replica refuses limited requests: {status}")
        status, ready = get(b.url + "/api/v1/readyz")
        check(status == 503 and ready["checks"]["redis"] != "ok", f"fail-closed readiness: {status} {ready.get('status')}")

        started = time.time()
        subprocess.run([os.path.join(SCRIPTS, "start-redis.sh")], check=True, env=env, capture_output=True)
        back = eventually(lambda: get(a.url + "/api/v1/readyz")[1].get("status") == "ready" and get(b.url + "/api/v1/readyz")[0] == 200, 20)
        check(back, f"Redis back: both replicas ready again after {time.time() - started:.1f} s, without a restart")
        erin = token("erin")
        statuses = [get(b.url + "/api/v1/tasks", erin)[0] for _ in range(6)]
        check(statuses == [200] * 5 + [429], f"limits apply again: {statuses}")
        stored = {}
        eventually(lambda: len(stored.update(audit_rows(request_ids)) or stored) == 8, 20)
        check(len(stored) == 8 and set(stored.values()) == {1}, f"events made while Redis was down are stored once: {len(stored)} of 8")
    finally:
        subprocess.run([os.path.join(SCRIPTS, "start-redis.sh")], env=env, capture_output=True)
        a.stop()
        b.stop()


def scenario_postgres_restart():
    replicas = [replica("pg-a"), replica("pg-b")]
    try:
        tokens = [token(f"load{i}") for i in range(8)]
        acknowledged = []
        outcomes = {"retried_503": 0, "failed": 0, "unexpected": [], "slowest": 0.0}
        lock = threading.Lock()
        stop_at = time.time() + 12

        def client(n):
            k = 0
            while time.time() < stop_at:
                k += 1
                body = {"message": f"add a task to t{n}-{k}"}
                for attempt in range(6):
                    started = time.time()
                    status, reply = request("POST", replicas[(n + k) % 2].url + "/api/v1/chat", tokens[n], body)
                    with lock:
                        outcomes["slowest"] = max(outcomes["slowest"], time.time() - started)
                    if status == 200:
                        with lock:
                            acknowledged.append((n, reply["message_id"]))
                        break
                    with lock:
                        if status == 503:
                            outcomes["retried_503"] += 1
                        else:
                            outcomes["unexpected"].append((status, reply))
                    time.sleep(0.1 * 2**attempt)
                else:
                    with lock:
                        outcomes["failed"] += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(4)
        subprocess.run([os.path.join(SCRIPTS, "restart-postgres.sh"), "fast"], check=True)
        for thread in threads:
            thread.join()
        # Every acknowledged answer is stored: the assistant messages the clients were given.
        ids = ",".join(str(message_id) for _, message_id in acknowledged)
        stored = int(psql(DATABASE_URL, f"SELECT count(*) FROM tenant_acme.messages WHERE role = 'assistant' AND id IN ({ids})"))
        lost = len(acknowledged) - stored
        print(f"postgres restart: {len(acknowledged)} chat turns acknowledged, {outcomes['retried_503']} answered 503 and retried, "
              f"{outcomes['failed']} failed after 6 tries, other errors: {outcomes['unexpected'][:3]}, "
              f"slowest answer {outcomes['slowest']:.2f} s", flush=True)
        check(not outcomes["unexpected"], f"a PostgreSQL restart costs only 503s (other statuses: {len(outcomes['unexpected'])})")
        check(lost == 0, f"postgres restart: acknowledged messages lost: {lost} of {len(acknowledged)}")
        check(outcomes["failed"] == 0, f"every request succeeded within its retries ({outcomes['failed']} did not)")
        status, _ = request("POST", replicas[0].url + "/api/v1/chat", tokens[0], {"message": "add a task to after the restart"})
        check(status == 200, "the pool reconnected by itself: requests after the restart succeed")
    finally:
        for r in replicas:
            r.stop()


if __name__ == "__main__":
    chosen = os.environ.get("SCENARIOS", "").split(",")
    for scenario in (scenario_two_replicas, scenario_killed_worker, scenario_redis_outage, scenario_postgres_restart):
        if chosen != [""] and scenario.__name__.removeprefix("scenario_") not in chosen:
            continue
        print(f"-- {scenario.__name__}", flush=True)
        scenario()
    print(f"{'all passed' if not failures else str(len(failures)) + ' failed'}", flush=True)
    sys.exit(1 if failures else 0)
