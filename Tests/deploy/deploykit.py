"""What the deployment checks share: the repository's facts they hold the files to.

- `ConfigNames`: the environment names of Parley's configuration, read from docs/configuration.md
  (the tables' environment column, `<NAME>` placeholders as `[A-Z0-9_]+`, and the PARLEY_* names
  the page mentions outside the tables, such as PARLEY_CONFIG).
- `get_routes()`: every GET path of the OpenAPI document (which a Swift test keeps equal to the
  router), and `mcp_surface_get_routes()`: those `parley mcp` answers on its own port, read from
  the router's source.
- `looks_secret()` / `url_password()`: what counts as a secret value that must never be inline.
"""

import json
import os
import re

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CONFIG_DOC = os.path.join(ROOT, "docs", "configuration.md")
OPENAPI_JSON = os.path.join(ROOT, "Sources", "ParleyServer", "OpenAPI", "openapi.json")
BUILD_SWIFT = os.path.join(ROOT, "Sources", "ParleyServer", "Application+build.swift")
OPERATIONS_SWIFT = os.path.join(ROOT, "Sources", "ParleyServer", "Routes", "OperationsController.swift")

# The Parley image's repository name (kustomize `images:` may put a registry before it).
PARLEY_IMAGE = "parley"
PARLEY_UID = 10001

_NAME = re.compile(r"PARLEY_[A-Z0-9_<>]*[A-Z0-9>]")
_PLACEHOLDER = re.compile(r"<[A-Z]+>")


class ConfigNames:
    """The PARLEY_* environment names docs/configuration.md documents."""

    def __init__(self, path=CONFIG_DOC):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        self.table_names = set()
        self.other_names = set()
        header = None
        for line in text.splitlines():
            if line.startswith("|"):
                cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
                if header is None:
                    header = [cell.lower() for cell in cells]
                    continue
                if set("".join(cells)) <= set("-: "):
                    continue
                if "environment" in header and len(cells) == len(header):
                    column = cells[header.index("environment")]
                    self.table_names.update(re.findall(r"`(PARLEY_[A-Z0-9_<>]+)`", column))
            else:
                header = None
                self.other_names.update(_NAME.findall(line))
        names = self.table_names | self.other_names
        self.exact = {name for name in names if "<" not in name}
        self.patterns = [
            re.compile("^" + "".join(
                "[A-Z0-9_]+" if _PLACEHOLDER.fullmatch(part) else re.escape(part)
                for part in re.split(r"(<[A-Z]+>)", name)) + "$")
            for name in names if "<" in name]
        if len(self.table_names) < 50:
            raise AssertionError(f"read only {len(self.table_names)} names from the tables of {path}: has its layout changed?")

    def is_key(self, name):
        return name in self.exact or any(pattern.match(name) for pattern in self.patterns)

    def unknown(self, names):
        return sorted(name for name in set(names) if name.startswith("PARLEY_") and not self.is_key(name))


def openapi_get_routes():
    with open(OPENAPI_JSON, encoding="utf-8") as handle:
        document = json.load(handle)
    return {path for path, item in document["paths"].items() if "get" in item}


def mcp_surface_get_routes():
    """GET paths `parley mcp` serves: the routes buildRouter adds before it returns for the MCP
    surface (`guard surface == .api else { return router }`). Of those, only the
    OperationsController's are plain GETs a probe can use; they are read from its source."""
    with open(BUILD_SWIFT, encoding="utf-8") as handle:
        build = handle.read()
    start = build.index("func buildRouter(")
    guard = build.index("guard surface == .api else { return router }", start)
    before_guard = build[start:guard]
    routes = set()
    if re.search(r"OperationsController\s*\(", before_guard) and ".addRoutes(to: router)" in before_guard:
        with open(OPERATIONS_SWIFT, encoding="utf-8") as handle:
            operations = handle.read()
        routes.update("/" + path for path in re.findall(r'router\.get\("([^"]+)"', operations))
    return routes


_SECRET_WORDS = {"PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS", "PASSPHRASE"}


def looks_secret(name):
    """A variable whose value is a secret by its name: …PASSWORD, …SECRET…, …TOKEN, …_KEY. Names
    ending in _ENV hold the name of another variable (model.provider.<name>.apiKeyEnv), not a secret."""
    upper = name.upper()
    if upper.endswith("_ENV"):
        return False
    words = set(upper.split("_"))
    return bool(words & _SECRET_WORDS) or upper.endswith("KEY") or upper in {"PARLEY_DATABASE_URL", "PARLEY_REDIS_URL"}


_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/@:\s]*:([^@/\s]*)@", re.IGNORECASE)


def url_passwords(value):
    """The password parts of the URLs in a string (`postgres://user:PASSWORD@host`)."""
    return _URL_PASSWORD.findall(value or "")


def image_repository(image):
    """`registry.example.com/parley:0.1.0` → `parley`."""
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]
