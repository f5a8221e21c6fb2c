"""Holds real responses to Parley's OpenAPI document (Sources/ParleyServer/OpenAPI/openapi.yaml).

`Contract(path).check(method, path, status, content_type, body)` returns the problems with one
response: an operation the document does not name, a status it does not list for that operation,
another content type, or a JSON body that breaks the response's schema (OpenAPI 3.1 = JSON Schema
2020-12, `$ref`s resolved within the document). The evaluation client runs every response of the
end-to-end flows through it, so the document is held to what real traffic gets, not only to what
the fuzzer generates.
"""
import re

import yaml
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


class Contract:
    def __init__(self, path):
        with open(path) as handle:
            self.document = yaml.safe_load(handle)
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource("urn:parley:openapi", resource)
        self.routes = []
        for template, item in self.document["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            self.routes.append((re.compile(pattern), template, item))
        self.checked = 0

    def resolve(self, node, location):
        """The node a local `$ref` chain leads to, and where it is in the document."""
        while isinstance(node, dict) and "$ref" in node:
            location = [part.replace("~1", "/").replace("~0", "~") for part in node["$ref"].lstrip("#/").split("/")]
            node = self.document
            for part in location:
                node = node[part]
        return node, location

    def check(self, method, path, status, content_type, body):
        path = path.split("?", 1)[0]
        matches = [(template, item) for pattern, template, item in self.routes if pattern.match(path)]
        # A literal segment beats a parameter ("/api/v1/chat" before "/api/{user_id}/chat").
        matches.sort(key=lambda match: match[0].count("{"))
        if not matches:
            return [f"{method} {path}: no such path in the document"]
        template, item = matches[0]
        operation = item.get(method.lower())
        if operation is None:
            return [f"{method} {template}: no such operation in the document"]
        responses = operation.get("responses", {})
        key = next((k for k in (str(status), f"{str(status)[0]}XX", "default") if k in responses), None)
        if key is None:
            return [f"{method} {template}: status {status} is not documented (documented: {sorted(responses)})"]
        response, location = self.resolve(responses[key], ["paths", template, method.lower(), "responses", key])
        self.checked += 1
        content = response.get("content")
        if not content:
            return [] if not body else [f"{method} {template} {status}: a body where the document has none"]
        media = (content_type or "").split(";")[0].strip()
        if media not in content:
            return [f"{method} {template} {status}: content type {media!r}, documented {sorted(content)}"]
        if "schema" not in content[media] or not (media == "application/json" or media.endswith("+json")):
            return []
        # Validated from its place in the document, so the `#/components/…` references inside resolve.
        where = "/".join(part.replace("~", "~0").replace("/", "~1") for part in location + ["content", media, "schema"])
        validator = OAS31Validator({"$ref": f"urn:parley:openapi#/{where}"}, registry=self.registry)
        return [f"{method} {template} {status}: {error.message} at /{'/'.join(map(str, error.absolute_path))}"
                for error in validator.iter_errors(body)]
