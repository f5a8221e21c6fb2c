"""What the Python end-to-end proofs share (standard library only).

Used by Tests/replicas/replicas_test.py, Tests/rollout/rollout_test.py and
Tests/backup/backup_restore_test.py, which their scripts run as `python3 Tests/x/y_test.py`; each
puts this directory on sys.path from its own location. Their driver scripts (scripts/lib/e2e-env.sh)
give them WORK, a scratch directory whose `pids` file lists what to kill at exit, also when a test
dies halfway, and whose `databases` file lists the PostgreSQL databases to drop.

- `check()` / `failures`: PASS/FAIL lines; the failures, for the summary and the exit status.
- `free_port()`, `eventually()`.
- `request()`: one JSON request (bearer token, X-Tenant-ID, extra headers) -> (status, body);
  status 0 when no HTTP answer came.
- `parley_token()`: `parley token`, the development key's tokens.
- `Process`: a started process with its log in WORK and its pid in WORK/pids; `Parley`: a parley
  command (`serve`, `worker`) on a free port, rate limits off, warnings only.
- `psql()`, `redis_cli()`, `database_url()`, `create_database()`.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

failures = []


def check(condition, message):
    print(("PASS " if condition else "FAIL ") + message, flush=True)
    if not condition:
        failures.append(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(condition, seconds=15):
    """Polls `condition` every 0.1 s for `seconds`; its last answer."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


# --- HTTP ----------------------------------------------------------------------------------------


def request(method, url, token=None, body=None, headers=None, timeout=30, tenant=None):
    """One request; returns (status, the JSON body or {}). A body that is no JSON comes back as
    {"raw": text}; no HTTP answer at all (refused, reset, timed out) as (0, {"error": text})."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if tenant:
        req.add_header("X-Tenant-ID", tenant)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw) if raw else {}
        except ValueError:
            return error.code, {"raw": raw.decode(errors="replace")}
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return 0, {"error": str(error)}


def parley_token(binary, user, tenants=("acme",), admin=False, ttl=None, data_dir=None, cwd=None, env=None):
    """`parley token` for `user` in `tenants`, signed with the development key of `data_dir`
    (default: data/ below `cwd`, which defaults to WORK)."""
    args = [binary, "token", "--user", user] + [a for t in tenants for a in ("--tenant", t)]
    args += (["--admin"] if admin else []) + (["--ttl", str(ttl)] if ttl is not None else [])
    args += ["--data-dir", data_dir] if data_dir else []
    return subprocess.run(args, cwd=cwd or os.environ["WORK"], env=env, check=True, capture_output=True, text=True).stdout.strip()


# --- processes -----------------------------------------------------------------------------------


class Process:
    """A process a test started: its output in WORK/NAME.log, its pid in WORK/pids (for the
    driver script's cleanup, should the test die before stopping it)."""

    def __init__(self, name, argv, env=None, cwd=None):
        work = os.environ["WORK"]
        self.name = name
        self.log = open(os.path.join(work, f"{name}.log"), "ab")
        self.process = subprocess.Popen(argv, cwd=cwd or work, env=env or dict(os.environ), stdout=self.log, stderr=self.log)
        with open(os.path.join(work, "pids"), "a") as pids:
            pids.write(f"{self.process.pid}\n")

    def became_ready(self, ready, seconds=60):
        """Polls `ready()` every 0.1 s until it is true (True), the process exits or time runs out (False)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if ready():
                return True
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        return False

    def wait_ready(self, ready, seconds=60):
        if not self.became_ready(ready, seconds):
            raise SystemExit(f"{self.name} did not become ready; see {self.log.name}")

    def stop(self, sig=signal.SIGTERM, timeout=30, strict=False):
        """Sends `sig` and waits; one that has not ended after `timeout` s is killed, and with
        `strict` that ends the test."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                if strict:
                    raise SystemExit(f"{self.name} did not stop within {timeout:g} s of {signal.Signals(sig).name}")

    def kill(self):
        self.process.kill()
        self.process.wait()


class Parley(Process):
    """`BINARY ARGS` (serve, worker) with PARLEY_HTTP_PORT a free port, the rate limits off and
    warnings only, `env` on top of the environment; `url` and `address` reach it."""

    def __init__(self, name, binary, args, env=None):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        full_env = dict(os.environ)
        full_env.update(
            {
                "PARLEY_HTTP_PORT": str(self.port),
                "PARLEY_RATELIMIT_IP": "off",
                "PARLEY_RATELIMIT_TENANT": "off",
                "PARLEY_RATELIMIT_USER": "off",
                "PARLEY_LOG_LEVEL": "warning",
            }
        )
        full_env.update(env or {})
        super().__init__(name, [binary, *args], full_env)


# --- PostgreSQL and Redis ------------------------------------------------------------------------


def psql(url, sql):
    return subprocess.run(["psql", url, "-qAtc", sql], check=True, capture_output=True, text=True).stdout.strip()


def redis_cli(url, *args):
    return subprocess.run(["redis-cli", "-u", url, "--no-auth-warning", *args], check=True, capture_output=True, text=True).stdout.strip()


def database_url(server_url, name):
    """`server_url` (user, password, host, options) with database `name`."""
    parts = urllib.parse.urlsplit(server_url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def create_database(server_url, name):
    """A new database `name` on `server_url`'s server, listed in WORK/databases for the driver
    script to drop at exit; its URL."""
    psql(server_url, f"CREATE DATABASE {name}")
    with open(os.path.join(os.environ["WORK"], "databases"), "a") as f:
        f.write(name + "\n")
    return database_url(server_url, name)
