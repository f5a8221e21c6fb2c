#!/usr/bin/env python3
"""Runs the built image's root filesystem the way a container runtime would, and checks it.

Started by scripts/image-e2e.sh inside a private mount and network namespace (as root), with
the image mounted by buildah. The root filesystem is bind-mounted read-only; /data (a fresh
directory owned by 10001) and /tmp (a tmpfs) are the only writable places, as in the Kubernetes
manifests. The server runs as the image's user with the image's entrypoint, command and
environment, on the image's 0.0.0.0:8080 — reachable only inside this network namespace.

Checks: the image's configuration (user, port, health check, entrypoint); file ownership; with
no configuration, the log says why nobody can sign in and how to change it, and the API refuses;
with PARLEY_AUTH_DEV=true, a token from `parley token` gets a chat turn that adds a task, the web
page is served, readiness is ready; SIGTERM ends it with status 0; writes landed in /data only.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

BASE = "http://127.0.0.1:8080"


def check(condition, message):
    if not condition:
        print(f"image-e2e: FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def sh(*args, **kwargs):
    return subprocess.run(args, check=True, **kwargs)


def request(method, path, token=None, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
        req.add_header("X-Tenant-ID", "acme")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


class Image:
    def __init__(self, rootfs, config, work):
        self.config = config
        self.work = work
        self.root = os.path.join(work, "root")
        self.data = os.path.join(work, "data")
        os.makedirs(self.root)
        os.makedirs(self.data)
        os.chown(self.data, 10001, 10001)
        os.chmod(self.data, 0o700)
        # A read-only view of the image; writable /data and /tmp on top, /proc and /dev as a runtime gives them.
        sh("mount", "--bind", rootfs, self.root)
        sh("mount", "-o", "remount,bind,ro", self.root)
        sh("mount", "-t", "tmpfs", "-o", "mode=1777,size=64m", "tmpfs", os.path.join(self.root, "tmp"))
        sh("mount", "--bind", self.data, os.path.join(self.root, "data"))
        sh("mount", "-t", "proc", "proc", os.path.join(self.root, "proc"))
        sh("mount", "--rbind", "/dev", os.path.join(self.root, "dev"))
        sh("ip", "link", "set", "lo", "up")

    def command(self, argv, env=None):
        """argv run as the image's user, in its working directory, with its environment (plus env)."""
        environment = list(self.config["Env"]) + [f"{k}={v}" for k, v in (env or {}).items()]
        user = self.config["User"]
        return ["chroot", f"--userspec={user}", self.root, "/usr/bin/env", "-i", f"--chdir={self.config['WorkingDir']}",
                *environment, *argv]

    def start(self, env=None, name="run"):
        log = open(os.path.join(self.work, f"{name}.log"), "wb")
        argv = self.config["Entrypoint"] + self.config["Cmd"]
        process = subprocess.Popen(self.command(argv, env), stdout=log, stderr=subprocess.STDOUT)
        process.log_path = log.name
        return process

    def healthy(self):
        """The image's own HEALTHCHECK command, run as a runtime would."""
        test = self.config["Healthcheck"]["Test"]
        check(test[0] == "CMD", f"health check form {test[0]}")
        return subprocess.run(self.command(test[1:]), capture_output=True).returncode == 0

    def wait_healthy(self, process, seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            check(process.poll() is None, f"the server exited with {process.returncode}: {open(process.log_path).read()[-2000:]}")
            if self.healthy():
                return
            time.sleep(0.3)
        check(False, "the image's health check never passed")

    def stop(self, process, limit):
        started = time.time()
        process.terminate()
        try:
            status = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            process.kill()
            check(False, f"SIGTERM did not end the server within {limit} s")
        check(status == 0, f"the server exited with {status} after SIGTERM")
        return time.time() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rootfs", required=True)
    parser.add_argument("--image-json", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--base-size", type=int, required=True)
    args = parser.parse_args()
    inspected = json.load(open(args.image_json))
    config = inspected["Docker"]["config"]

    # The image's configuration, as Kubernetes and a container runtime read it.
    check(config["User"] == "10001:10001", f"user {config['User']!r}: must be numeric, for runAsNonRoot")
    check("8080/tcp" in (config.get("ExposedPorts") or {}), f"exposed ports {config.get('ExposedPorts')}")
    check(config["Entrypoint"] == ["/app/parley"] and config["Cmd"] == ["serve"], f"entrypoint {config['Entrypoint']} {config['Cmd']}")
    health = config.get("Healthcheck") or {}
    check(health.get("Test", [])[-1:] == ["http://127.0.0.1:8080/api/v1/healthz"], f"health check {health}")
    env = dict(item.split("=", 1) for item in config["Env"])
    check(env.get("PARLEY_HTTP_HOST") == "0.0.0.0" and env.get("PARLEY_DATA_DIR") == "/data", f"environment {env}")
    check("/data" in (config.get("Volumes") or {}), f"volumes {config.get('Volumes')}")

    # Root owns the application; the server's user can write nothing there.
    for path in ["app", "app/parley"] + [f"app/{n}" for n in os.listdir(os.path.join(args.rootfs, "app"))]:
        info = os.stat(os.path.join(args.rootfs, path))
        check(info.st_uid == 0 and not info.st_mode & 0o022, f"/{path} is owned by {info.st_uid} with mode {oct(info.st_mode)}")
    data = os.stat(os.path.join(args.rootfs, "data"))
    check(data.st_uid == 10001 and data.st_mode & 0o777 == 0o700, f"/data owned by {data.st_uid}, mode {oct(data.st_mode)}")

    image = Image(args.rootfs, config, args.work)
    # Read-only root: neither the server's user nor root can change the image.
    for user in ["10001:10001", "0:0"]:
        probe = subprocess.run(["chroot", f"--userspec={user}", image.root, "/bin/sh", "-c", "echo x > /app/x || echo x > /etc/x"],
                               capture_output=True)
        check(probe.returncode != 0, f"user {user} could write into the image")

    # 1. No configuration at all: the server starts, says why nobody can sign in, and refuses.
    server = image.start(name="unconfigured")
    image.wait_healthy(server)
    status, _, body = request("GET", "/api/v1/tasks", token="not-a-token")
    check(status == 401, f"an unconfigured server answered {status} to a token: {body[:200]!r}")
    status, headers, body = request("GET", "/")
    check(status == 200 and b"<html" in body.lower(), f"the web page: {status}")
    drain = image.stop(server, limit=20)
    log = open(server.log_path).read()
    check("nobody can sign in" in log and "not on loopback" in log, f"no clear sign-in message in the log:\n{log[-1500:]}")
    check("PARLEY_AUTH_DEV=true" in log and "PARLEY_AUTH_OIDC_ISSUER" in log, "the log does not say how to enable sign-in")
    check(drain >= 4.5, f"off loopback the default drain is 5 s; the server stopped after {drain:.1f} s")

    # 2. A trial with dev auth: a token, a chat turn, the web page, readiness.
    trial = {"PARLEY_AUTH_DEV": "true", "PARLEY_HTTP_DRAIN_SECONDS": "1"}
    server = image.start(trial, name="trial")
    image.wait_healthy(server)
    minted = subprocess.run(image.command(["/app/parley", "token", "--user", "alice", "--tenant", "acme"], trial),
                            capture_output=True, text=True)
    check(minted.returncode == 0, f"parley token: {minted.stderr}")
    token = minted.stdout.strip()
    status, _, body = request("POST", "/api/v1/chat", token, {"message": "add a task to buy milk"})
    check(status == 200, f"chat: {status} {body[:300]!r}")
    reply = json.loads(body)
    check([call["name"] for call in reply["tool_calls"]] == ["add_task"], f"chat tool calls {reply['tool_calls']}")
    status, _, body = request("GET", "/api/v1/tasks", token)
    check(status == 200 and [t["title"] for t in json.loads(body)["tasks"]] == ["Buy milk"], f"tasks: {status} {body[:300]!r}")
    status, _, body = request("GET", "/api/v1/readyz")
    check(status == 200 and json.loads(body)["status"] == "ready", f"readiness {status} {body!r}")
    status, headers, body = request("GET", "/")
    check(status == 200 and "text/html" in headers.get("Content-Type", ""), f"web page {status}")
    image.stop(server, limit=15)
    log = open(server.log_path).read()
    check("read-only" not in log.lower(), f"the server tried to write outside /data and /tmp:\n{log[-1500:]}")
    # The image's binary has a static Swift runtime, whose enqueue hook dlsym cannot find: the
    # tasks must still have been moved onto the event loops (runtime.eventLoopExecutor).
    check('"event_loop_executor":"true"' in log, f"tasks did not run on the event loops:\n{log[-1500:]}")

    # Everything it wrote is in /data: the databases and the development key.
    written = sorted(os.path.relpath(os.path.join(d, f), image.data) for d, _, files in os.walk(image.data) for f in files)
    check("parley.sqlite" in written and "tenants/acme.sqlite" in written, f"/data holds {written}")

    print(f"image-e2e: ok — image {args.size / 2**20:.0f} MiB (base {args.base_size / 2**20:.0f} MiB), "
          f"user 10001, read-only root; unconfigured: sign-in message and 401, drained {drain:.1f} s; "
          f"dev-auth trial: chat added a task, web page and readiness ok; /data holds {', '.join(written)}")


if __name__ == "__main__":
    main()
