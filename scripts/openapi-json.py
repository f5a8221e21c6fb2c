#!/usr/bin/env python3
"""Writes Sources/ParleyServer/OpenAPI/openapi.json from openapi.yaml next to it.

The YAML is the document people edit; the JSON is generated from it and committed beside it, and
the server serves both as files. `--check` writes nothing and exits 1 when the committed JSON is
not what the YAML gives (CI runs it so the two cannot drift).

Needs PyYAML: run it with the project's virtualenv (scripts/install-deps.sh installs it),
`${PARLEY_CACHE:-$HOME/.cache/parley}/venv/bin/python scripts/openapi-json.py [--check]`.
"""
import argparse
import json
import pathlib
import sys

try:
    import yaml
except ImportError:
    sys.exit("openapi-json: PyYAML is missing; run scripts/install-deps.sh and use its virtualenv's python")

ROOT = pathlib.Path(__file__).resolve().parent.parent
FOLDER = ROOT / "Sources" / "ParleyServer" / "OpenAPI"


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def no_timestamps(loader):
    # YAML 1.1 reads an unquoted 2026-01-01 as a date, which JSON cannot hold: keep it a string.
    loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in loader.yaml_implicit_resolvers.items()
    }


no_timestamps(UniqueKeyLoader)


def render(yaml_path: pathlib.Path) -> str:
    with yaml_path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=UniqueKeyLoader)
    if not isinstance(document, dict) or "openapi" not in document:
        raise SystemExit(f"openapi-json: {yaml_path} is not an OpenAPI document")
    # Key order as written (the YAML's order is the reading order); two-space indent; UTF-8.
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON differs from the YAML")
    parser.add_argument("--yaml", type=pathlib.Path, default=FOLDER / "openapi.yaml")
    parser.add_argument("--json", type=pathlib.Path, default=FOLDER / "openapi.json")
    args = parser.parse_args()

    expected = render(args.yaml)
    if args.check:
        actual = args.json.read_text(encoding="utf-8") if args.json.exists() else None
        if actual != expected:
            print(f"openapi-json: {args.json} is not generated from {args.yaml}; run scripts/openapi-json.py",
                  file=sys.stderr)
            return 1
        print(f"openapi-json: {args.json.name} matches {args.yaml.name}")
        return 0
    args.json.write_text(expected, encoding="utf-8")
    print(f"openapi-json: wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
