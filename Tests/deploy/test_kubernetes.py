"""The Kubernetes manifests (deploy/kubernetes/): every overlay is rendered with `kubectl kustomize`,
every rendered object is validated with kubernetes-validate (the schemas of Kubernetes
KUBERNETES_VERSION, strict: unknown fields fail), and the rendered objects are held to what the
issue asks: the security context, probes on real routes and declared ports, real configuration keys,
no inline secret, the migration Job, resources, the HPA, PDB and NetworkPolicy.

Run by scripts/check-manifests.sh; alone: `~/.cache/parley/venv/bin/python -m unittest discover -s Tests/deploy`.
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploykit  # noqa: E402

KUBERNETES_VERSION = "1.32.0"
OVERLAYS_DIR = os.path.join(deploykit.ROOT, "deploy", "kubernetes", "overlays")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
# Measured resident memory of `parley serve` with 1,000 open SSE streams (the highest measured).
MEASURED_PEAK_MIB = 143

RENDERED = {}  # overlay name -> list of objects
SUMMARY = {}


def setUpModule():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise RuntimeError("kubectl is needed to render the overlays (`kubectl kustomize`)")
    for name in overlay_names():
        result = subprocess.run(
            [kubectl, "kustomize", os.path.join(OVERLAYS_DIR, name)], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"kubectl kustomize overlays/{name} failed:\n{result.stderr}")
        RENDERED[name] = [obj for obj in yaml.safe_load_all(result.stdout) if obj]


def tearDownModule():
    if RENDERED:
        parts = [f"{name} {len(objects)}" for name, objects in sorted(RENDERED.items())]
        validated = SUMMARY.get("validated", 0)
        print(f"\nkubernetes: rendered {', '.join(parts)} objects; {validated} validated against Kubernetes "
              f"{SUMMARY.get('version', '?')} (strict)", file=sys.stderr)


def overlay_names():
    return sorted(
        name for name in os.listdir(OVERLAYS_DIR)
        if os.path.isfile(os.path.join(OVERLAYS_DIR, name, "kustomization.yaml")))


# -- reading rendered objects ------------------------------------------------------------------

def pod_spec(obj):
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def pod_labels(obj):
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"].get("metadata", {}).get("labels", {})


def workloads(objects):
    return [obj for obj in objects if obj["kind"] in WORKLOAD_KINDS]


def all_containers(spec):
    return [("init", c) for c in spec.get("initContainers", [])] + [("main", c) for c in spec.get("containers", [])]


def is_parley(container):
    return deploykit.image_repository(container.get("image", "")) == deploykit.PARLEY_IMAGE


def parley_command(container):
    """`serve`, `worker`, `mcp`, `migrate`…: the image's entrypoint is /app/parley, args[0] the command."""
    args = container.get("command", [])[1:] if container.get("command") else container.get("args", [])
    return args[0] if args else "serve"


def by_kind(objects, kind):
    return [obj for obj in objects if obj["kind"] == kind]


def find(objects, kind, name):
    matches = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    return matches[0] if matches else None


def selector_matches(selector, labels):
    if selector is None:
        return False
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def env_view(container, objects):
    """The container's environment as Parley sees it: {name: (value or None, source)}; envFrom
    first, in order, then env (which wins)."""
    view = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            config_map = find(objects, "ConfigMap", source["configMapRef"]["name"])
            for key, value in (config_map or {}).get("data", {}).items():
                view[prefix + key] = (value, "configMap " + source["configMapRef"]["name"])
        if "secretRef" in source:
            secret = find(objects, "Secret", source["secretRef"]["name"])
            for key in list((secret or {}).get("data", {})) + list((secret or {}).get("stringData", {})):
                view[prefix + key] = (None, "secret " + source["secretRef"]["name"])
    for entry in container.get("env", []):
        if "value" in entry:
            view[entry["name"]] = (entry["value"], "value")
        else:
            view[entry["name"]] = (None, "valueFrom " + ",".join(entry.get("valueFrom", {})))
    return view


def resolve_port(port, containers):
    """A probe's or Service's port (a name or a number) → the containerPort it means, or None."""
    for container in containers:
        for declared in container.get("ports", []):
            if isinstance(port, str) and declared.get("name") == port:
                return declared["containerPort"]
            if isinstance(port, int) and declared["containerPort"] == port:
                return port
    return None


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_FACTORS = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(value):
    match = _QUANTITY.match(str(value))
    if not match or match.group(2) not in _FACTORS:
        raise ValueError(f"not a quantity: {value!r}")
    return float(match.group(1)) * _FACTORS[match.group(2)]


def as_int(value, default):
    return default if value is None else int(value)


# -- the checks --------------------------------------------------------------------------------

class KubernetesManifests(unittest.TestCase):
    config = deploykit.ConfigNames()
    get_routes = deploykit.openapi_get_routes()
    mcp_routes = deploykit.mcp_surface_get_routes()

    def overlays(self):
        self.assertTrue(RENDERED, "no overlay rendered")
        return RENDERED.items()

    def containers_of(self, objects):
        """(workload, pod spec, kind of container, container) for every container rendered."""
        for obj in workloads(objects):
            spec = pod_spec(obj)
            for kind, container in all_containers(spec):
                yield obj, spec, kind, container

    def parley_workload(self, objects, command):
        found = [(obj, container) for obj, _, kind, container in self.containers_of(objects)
                 if kind == "main" and is_parley(container) and parley_command(container) == command]
        return found

    def test_overlays_render(self):
        names = overlay_names()
        self.assertIn("production", names)
        for name, objects in self.overlays():
            kinds = {obj["kind"] for obj in objects}
            for kind in ("Deployment", "Service", "Job", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"):
                self.assertIn(kind, kinds, f"overlays/{name} renders no {kind}")
        self.assertIn("Ingress", {obj["kind"] for obj in RENDERED["production"]}, "production has no Ingress example")

    def test_kubernetes_validate_accepts_every_object(self):
        import kubernetes_validate
        count = 0
        for name, objects in self.overlays():
            for obj in objects:
                label = f"overlays/{name}: {obj['kind']}/{obj['metadata']['name']}"
                try:
                    version = kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
                except kubernetes_validate.ValidationError as error:
                    self.fail(f"{label}: {error.message} at {list(error.caught.absolute_path)}")
                except kubernetes_validate.SchemaNotFoundError as error:
                    self.fail(f"{label}: {error.message}")
                self.assertEqual(version, KUBERNETES_VERSION.rsplit(".", 1)[0], label)
                count += 1
        SUMMARY["validated"] = count
        SUMMARY["version"] = KUBERNETES_VERSION.rsplit(".", 1)[0]

    def test_the_three_parley_deployments_and_the_job(self):
        for name, objects in self.overlays():
            for command in ("serve", "worker", "mcp"):
                found = [obj for obj, _ in self.parley_workload(objects, command) if obj["kind"] == "Deployment"]
                self.assertEqual(len(found), 1, f"overlays/{name}: one Deployment running `parley {command}`")
            jobs = [obj for obj, _ in self.parley_workload(objects, "migrate")]
            self.assertEqual([obj["kind"] for obj in jobs], ["Job"], f"overlays/{name}: one Job running `parley migrate`")
        serve = [obj for obj, _ in self.parley_workload(RENDERED["production"], "serve")][0]
        self.assertEqual(serve["spec"].get("replicas"), 3, "production runs three `parley serve` replicas")

    def test_pod_security(self):
        for name, objects in self.overlays():
            accounts = {obj["metadata"]["name"]: obj for obj in by_kind(objects, "ServiceAccount")}
            for obj in workloads(objects):
                label = f"overlays/{name}: {obj['kind']}/{obj['metadata']['name']}"
                spec = pod_spec(obj)
                self.assertIs(spec.get("automountServiceAccountToken"), False, f"{label}: automountServiceAccountToken")
                self.assertIs(spec.get("enableServiceLinks"), False,
                              f"{label}: enableServiceLinks must be false (service-link variables like PARLEY_MCP_PORT=tcp://… collide with Parley's keys)")
                for flag in ("hostNetwork", "hostPID", "hostIPC"):
                    self.assertFalse(spec.get(flag, False), f"{label}: {flag}")
                account = spec.get("serviceAccountName")
                if account:
                    self.assertIn(account, accounts, f"{label}: ServiceAccount {account} is not rendered")
                    self.assertIs(accounts[account].get("automountServiceAccountToken"), False, f"ServiceAccount {account}")
                pod = spec.get("securityContext", {})
                self.assertIs(pod.get("runAsNonRoot"), True, f"{label}: pod runAsNonRoot")
                self.assertEqual(pod.get("seccompProfile", {}).get("type"), "RuntimeDefault", f"{label}: pod seccompProfile")
                for kind, container in all_containers(spec):
                    where = f"{label} container {container['name']}"
                    context = container.get("securityContext", {})
                    self.assertIs(context.get("runAsNonRoot"), True, f"{where}: runAsNonRoot")
                    self.assertIs(context.get("allowPrivilegeEscalation"), False, f"{where}: allowPrivilegeEscalation")
                    self.assertIs(context.get("readOnlyRootFilesystem"), True, f"{where}: readOnlyRootFilesystem")
                    self.assertFalse(context.get("privileged", False), f"{where}: privileged")
                    self.assertIn("ALL", context.get("capabilities", {}).get("drop", []), f"{where}: capabilities drop ALL")
                    self.assertFalse(context.get("capabilities", {}).get("add"), f"{where}: capabilities added")
                    self.assertEqual(context.get("seccompProfile", {}).get("type"), "RuntimeDefault", f"{where}: seccompProfile")
                    user = context.get("runAsUser", pod.get("runAsUser"))
                    group = context.get("runAsGroup", pod.get("runAsGroup"))
                    if is_parley(container):
                        self.assertEqual((user, group), (deploykit.PARLEY_UID, deploykit.PARLEY_UID), f"{where}: runAsUser/Group")
                        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
                        tmp = [mount for mount in container.get("volumeMounts", []) if mount["mountPath"] == "/tmp"]
                        self.assertTrue(tmp and "emptyDir" in volumes.get(tmp[0]["name"], {}), f"{where}: /tmp from an emptyDir")
                    else:
                        self.assertTrue(user and group, f"{where}: a numeric non-root runAsUser/runAsGroup")

    def test_resources(self):
        for name, objects in self.overlays():
            for obj, _, _, container in self.containers_of(objects):
                where = f"overlays/{name}: {obj['metadata']['name']}/{container['name']}"
                resources = container.get("resources", {})
                for resource in ("cpu", "memory"):
                    request = resources.get("requests", {}).get(resource)
                    limit = resources.get("limits", {}).get(resource)
                    self.assertIsNotNone(request, f"{where}: requests.{resource}")
                    self.assertIsNotNone(limit, f"{where}: limits.{resource}")
                    self.assertLessEqual(quantity(request), quantity(limit), f"{where}: {resource} request above its limit")
            for _, container in self.parley_workload(objects, "serve"):
                memory = quantity(container["resources"]["requests"]["memory"])
                self.assertGreaterEqual(memory, MEASURED_PEAK_MIB * 2**20,
                                        f"overlays/{name}: serve's memory request is below the measured {MEASURED_PEAK_MIB} MiB")

    def test_images(self):
        for name, objects in self.overlays():
            for obj, _, _, container in self.containers_of(objects):
                image = container["image"]
                where = f"overlays/{name}: {obj['metadata']['name']}/{container['name']}"
                self.assertTrue("@sha256:" in image or re.search(r":[^/:]+$", image), f"{where}: {image} has no tag or digest")
                self.assertFalse(image.endswith(":latest"), f"{where}: {image}")

    def test_probes_are_real_routes_on_declared_ports(self):
        self.assertIn("/api/v1/readyz", self.mcp_routes, "parley mcp no longer answers /api/v1/readyz")
        for name, objects in self.overlays():
            for obj, spec, _, container in self.containers_of(objects):
                where = f"overlays/{name}: {obj['metadata']['name']}/{container['name']}"
                if is_parley(container) and container.get("ports"):
                    command = parley_command(container)
                    for probe, path in (("startupProbe", "/api/v1/readyz"), ("readinessProbe", "/api/v1/readyz"),
                                        ("livenessProbe", "/api/v1/healthz")):
                        self.assertEqual(container.get(probe, {}).get("httpGet", {}).get("path"), path, f"{where}: {probe}")
                    env = env_view(container, objects)
                    listens = as_int(env.get("PARLEY_MCP_PORT" if command == "mcp" else "PARLEY_HTTP_PORT", (None,))[0],
                                     8090 if command == "mcp" else 8080)
                    self.assertIn(listens, [port["containerPort"] for port in container["ports"]],
                                  f"{where}: `parley {command}` listens on {listens}, which is not a containerPort")
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    get = container.get(probe, {}).get("httpGet")
                    if not get:
                        continue
                    port = resolve_port(get["port"], [container])
                    self.assertIsNotNone(port, f"{where}: {probe} port {get['port']} is not a containerPort")
                    if is_parley(container):
                        self.assertIn(get["path"], self.get_routes, f"{where}: {probe} path {get['path']} is not a GET route of openapi.json")
                        if parley_command(container) == "mcp":
                            self.assertIn(get["path"], self.mcp_routes, f"{where}: `parley mcp` does not answer {get['path']}")
                            self.assertEqual(port, listens, f"{where}: {probe} asks port {port}, parley mcp listens on {listens}")

    def test_services_and_ingress_reach_declared_ports(self):
        for name, objects in self.overlays():
            pods = [(obj, pod_labels(obj), pod_spec(obj)) for obj in workloads(objects)]
            services = {obj["metadata"]["name"]: obj for obj in by_kind(objects, "Service")}
            for service in services.values():
                label = f"overlays/{name}: Service/{service['metadata']['name']}"
                selected = [spec for _, labels, spec in pods if selector_matches({"matchLabels": service["spec"]["selector"]}, labels)]
                self.assertTrue(selected, f"{label} selects no pod")
                for port in service["spec"]["ports"]:
                    target = port.get("targetPort", port["port"])
                    for spec in selected:
                        self.assertIsNotNone(resolve_port(target, spec["containers"]), f"{label}: targetPort {target} is not a containerPort")
            for ingress in by_kind(objects, "Ingress"):
                for rule in ingress["spec"].get("rules", []):
                    for path in rule.get("http", {}).get("paths", []):
                        backend = path["backend"]["service"]
                        self.assertIn(backend["name"], services, f"Ingress backend {backend['name']} is not rendered")
                        ports = services[backend["name"]]["spec"]["ports"]
                        wanted = backend["port"]
                        self.assertTrue(any(p.get("name") == wanted.get("name") if "name" in wanted else p["port"] == wanted.get("number")
                                            for p in ports), f"Ingress backend port {wanted} is not a port of {backend['name']}")

    def test_hpa_and_pdb(self):
        for name, objects in self.overlays():
            serve = [obj for obj, _ in self.parley_workload(objects, "serve")][0]
            hpas = by_kind(objects, "HorizontalPodAutoscaler")
            self.assertTrue(hpas, f"overlays/{name}: no HPA")
            for hpa in hpas:
                self.assertEqual(hpa["apiVersion"], "autoscaling/v2")
                target = hpa["spec"]["scaleTargetRef"]
                self.assertIsNotNone(find(objects, target["kind"], target["name"]), f"HPA targets {target['name']}, not rendered")
                self.assertLessEqual(hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])
            serve_hpa = [h for h in hpas if h["spec"]["scaleTargetRef"]["name"] == serve["metadata"]["name"]]
            self.assertEqual(len(serve_hpa), 1, f"overlays/{name}: one HPA for parley serve")
            self.assertEqual(serve_hpa[0]["spec"]["minReplicas"], serve["spec"].get("replicas", 1),
                             f"overlays/{name}: the HPA's minReplicas should be the Deployment's replicas")
            pdbs = by_kind(objects, "PodDisruptionBudget")
            covered = [pdb for pdb in pdbs if selector_matches(pdb["spec"]["selector"], pod_labels(serve))]
            self.assertEqual(len(covered), 1, f"overlays/{name}: one PodDisruptionBudget for parley serve")
            for pdb in pdbs:
                self.assertTrue(any(selector_matches(pdb["spec"]["selector"], pod_labels(obj)) for obj in workloads(objects)),
                                f"PDB {pdb['metadata']['name']} selects no pod")

    def test_network_policy(self):
        for name, objects in self.overlays():
            policies = by_kind(objects, "NetworkPolicy")
            deny = [p for p in policies if p["spec"]["podSelector"] == {} and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
                    and not p["spec"].get("ingress") and not p["spec"].get("egress")]
            self.assertTrue(deny, f"overlays/{name}: no default-deny NetworkPolicy (podSelector {{}}, Ingress and Egress, no rules)")

            def allowed_egress_ports(labels):
                ports = set()
                for policy in policies:
                    if not selector_matches(policy["spec"]["podSelector"], labels):  # ({} selects every pod)
                        continue
                    for rule in (policy["spec"].get("egress") or []):
                        ports.update((p.get("protocol", "TCP"), p.get("port")) for p in (rule.get("ports") or []))
                return ports

            def ingress_from(labels):
                sources = []
                for policy in policies:
                    if selector_matches(policy["spec"]["podSelector"], labels):
                        for rule in (policy["spec"].get("ingress") or []):
                            sources.extend((rule.get("from") or []))
                return sources

            for obj in workloads(objects):
                labels = pod_labels(obj)
                ports = allowed_egress_ports(labels)
                where = f"overlays/{name}: {obj['metadata']['name']}"
                self.assertIn(("UDP", 53), ports, f"{where}: DNS egress")
                spec = pod_spec(obj)
                if any(is_parley(c) for _, c in all_containers(spec)):
                    self.assertIn(("TCP", 5432), ports, f"{where}: PostgreSQL egress")
                    command = parley_command(spec["containers"][0])
                    if command != "migrate":
                        self.assertIn(("TCP", 6379), ports, f"{where}: Redis egress")
                    if command in ("serve", "mcp"):
                        self.assertIn(("TCP", 443), ports, f"{where}: identity provider and model egress (HTTPS)")
                    if command == "serve":
                        self.assertTrue(any("namespaceSelector" in source for source in ingress_from(labels)),
                                        f"{where}: nothing lets the ingress controller's namespace in")
                        # PARLEY_MCP_URL=http://parley-mcp:8090/mcp must work without a new policy.
                        self.assertIn(("TCP", 8090), ports, f"{where}: egress to parley mcp")
            for policy in policies:
                selector = policy["spec"]["podSelector"]
                if selector == {}:
                    continue
                selected = [pod_spec(obj) for obj in workloads(objects) if selector_matches(selector, pod_labels(obj))]
                self.assertTrue(selected, f"overlays/{name}: NetworkPolicy {policy['metadata']['name']} selects no pod")
                for rule in (policy["spec"].get("ingress") or []):
                    for port in (rule.get("ports") or []):
                        if isinstance(port.get("port"), str):
                            for spec in selected:
                                self.assertIsNotNone(resolve_port(port["port"], spec["containers"]),
                                                     f"NetworkPolicy {policy['metadata']['name']}: port {port['port']} is not declared")

    def test_env_names_are_configuration_keys(self):
        for name, objects in self.overlays():
            names = set()
            for obj, _, _, container in self.containers_of(objects):
                if is_parley(container):
                    names.update(env_view(container, objects))
            for config_map in by_kind(objects, "ConfigMap"):
                names.update(config_map.get("data", {}))
            unknown = self.config.unknown(names)
            self.assertEqual(unknown, [], f"overlays/{name}: not configuration keys of docs/configuration.md")

    def test_references_resolve(self):
        for name, objects in self.overlays():
            secrets = {obj["metadata"]["name"]: obj for obj in by_kind(objects, "Secret")}
            for obj, _, _, container in self.containers_of(objects):
                where = f"overlays/{name}: {obj['metadata']['name']}/{container['name']}"
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        self.assertIsNotNone(find(objects, "ConfigMap", source["configMapRef"]["name"]),
                                             f"{where}: ConfigMap {source['configMapRef']['name']} is not rendered")
                for entry in container.get("env", []):
                    ref = entry.get("valueFrom", {}).get("secretKeyRef")
                    if ref and secrets:
                        # Where the overlay renders its Secrets (dev), every reference must resolve.
                        self.assertIn(ref["name"], secrets, f"{where}: Secret {ref['name']}")
                        secret = secrets[ref["name"]]
                        keys = set(secret.get("data", {})) | set(secret.get("stringData", {}))
                        self.assertIn(ref["key"], keys, f"{where}: key {ref['key']} of Secret {ref['name']}")

    def test_no_inline_secret(self):
        for name, objects in self.overlays():
            for obj, _, _, container in self.containers_of(objects):
                where = f"overlays/{name}: {obj['metadata']['name']}/{container['name']}"
                for entry in container.get("env", []):
                    value = entry.get("value")
                    if deploykit.looks_secret(entry["name"]):
                        self.assertIsNone(value, f"{where}: {entry['name']} has an inline value")
                        self.assertIn("secretKeyRef", entry.get("valueFrom", {}), f"{where}: {entry['name']} must come from a Secret")
                    self.assertEqual(deploykit.url_passwords(value), [], f"{where}: {entry['name']} has a password in a URL")
            for config_map in by_kind(objects, "ConfigMap"):
                for key, value in config_map.get("data", {}).items():
                    self.assertFalse(deploykit.looks_secret(key), f"overlays/{name}: ConfigMap {config_map['metadata']['name']} holds {key}")
                    self.assertEqual(deploykit.url_passwords(value), [], f"overlays/{name}: ConfigMap key {key} has a password in a URL")
        production = RENDERED["production"]
        inline = [obj["metadata"]["name"] for obj in by_kind(production, "Secret") if obj.get("data") or obj.get("stringData")]
        self.assertEqual(inline, [], "the production overlay renders Secret values; reference Secrets created outside it")

    def test_pods_do_not_migrate_the_job_does(self):
        for name, objects in self.overlays():
            for command in ("serve", "worker", "mcp"):
                for obj, container in self.parley_workload(objects, command):
                    env = env_view(container, objects)
                    self.assertEqual(env.get("PARLEY_DATABASE_MIGRATE", (None,))[0], "off",
                                     f"overlays/{name}: {obj['metadata']['name']} must run with PARLEY_DATABASE_MIGRATE=off")
            (job, container), = self.parley_workload(objects, "migrate")
            spec = job["spec"]
            self.assertIn(pod_spec(job)["restartPolicy"], ("Never", "OnFailure"))
            self.assertIsInstance(spec.get("backoffLimit"), int, f"overlays/{name}: the Job's backoffLimit")
            args = container.get("args", [])
            self.assertIn("--wait-seconds", args, f"overlays/{name}: the Job waits for the database (--wait-seconds)")
            wait = int(args[args.index("--wait-seconds") + 1])
            self.assertGreater(spec.get("activeDeadlineSeconds", 0), wait,
                               f"overlays/{name}: activeDeadlineSeconds must bound the Job beyond its --wait-seconds")
            self.assertIn("PARLEY_DATABASE_URL", env_view(container, objects))

    def test_grace_period_covers_the_longest_turn(self):
        for name, objects in self.overlays():
            for command in ("serve", "mcp"):
                for obj, container in self.parley_workload(objects, command):
                    env = env_view(container, objects)
                    drain = as_int(env.get("PARLEY_HTTP_DRAIN_SECONDS", (None,))[0], 5)
                    if command == "serve":
                        turns = as_int(env.get("PARLEY_AGENT_MAX_TURNS", (None,))[0], 6)
                        timeouts = [int(value) for key, (value, _) in env.items()
                                    if re.fullmatch(r"PARLEY_MODEL_PROVIDER_[A-Z0-9_]+_TIMEOUT_SECONDS", key) and value]
                        longest = turns * max(timeouts + [60])
                    else:
                        longest = as_int(env.get("PARLEY_MCP_TIMEOUT_SECONDS", (None,))[0], 10)
                    grace = pod_spec(obj).get("terminationGracePeriodSeconds", 30)
                    self.assertGreater(grace, drain + longest,
                                       f"overlays/{name}: {obj['metadata']['name']} terminationGracePeriodSeconds {grace} "
                                       f"<= drain {drain} + longest turn {longest}")

    def test_model_providers_are_listed_and_keys_from_secrets(self):
        for name, objects in self.overlays():
            for obj, container in self.parley_workload(objects, "serve"):
                env = env_view(container, objects)
                listed = {provider.strip().upper().replace("-", "_") for provider in
                          (env.get("PARLEY_MODEL_PROVIDERS", ("",))[0] or "").split(",") if provider.strip()}
                for key, (value, _) in env.items():
                    match = re.fullmatch(r"PARLEY_MODEL_PROVIDER_([A-Z0-9_]+?)_(KIND|BASE_URL|MODEL|API_KEY_ENV|TIMEOUT_SECONDS|"
                                         r"CONNECT_TIMEOUT_SECONDS|EXTERNAL|MAX_TOKENS|TOOLS|MODEL_PATH|SERVER_BINARY|THREADS|"
                                         r"CONTEXT_SIZE|PORT|STARTUP_TIMEOUT_SECONDS)", key)
                    if match:
                        self.assertIn(match.group(1), listed, f"overlays/{name}: {key} configures a provider not in PARLEY_MODEL_PROVIDERS")
                    if key.endswith("_API_KEY_ENV") and value:
                        self.assertIn(value, env, f"overlays/{name}: {key} names {value}, which the container does not have")
                        self.assertTrue(env[value][1].startswith("valueFrom secretKeyRef"), f"overlays/{name}: {value} must come from a Secret")


if __name__ == "__main__":
    unittest.main()
