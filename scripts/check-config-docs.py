#!/usr/bin/env python3
"""Keeps docs/configuration.md's key tables true to the code.

Every configuration key the Swift code in Sources/ reads must be in a key table of
docs/configuration.md, and every key documented there must be read. The environment
column must name each row's keys as the environment provider spells them.

How keys are found (stdlib only, no Swift toolchain):
- every `ConfigReader` accessor call with `forKey:` (`reader.string(forKey: …)`, `.int`,
  `.bool`, `.stringArray`, …) and every `ConfigKey("…")` with a string literal, in Sources/**.swift;
- a key built from pieces is resolved the way the code forms it: string interpolations
  (`"\\(prefix).issuer"`), `let` constants (`let prefix = "model.provider.\\(name)"`), parameters
  (followed to every call of their function: `issuer(named:prefix:)`, `policy("user", …)`,
  `milliseconds("audit.claimIdleMilliseconds", …)`), and small key-making helpers such as
  `func key(_ suffix: String) -> ConfigKey { ConfigKey("\\(prefix).\\(suffix)") }`;
- a name taken from a configured list (`for name in reader.stringArray(forKey: "auth.issuers")`,
  `.map { name in … }`) becomes the placeholder `<name>`: `auth.issuer.<name>.issuer`;
- keys the command line sets (`overrides["http.host"] = …`, Sources/Parley/Parley.swift) must be
  keys the configuration reads; `PARLEY_*` variables read straight from the environment
  (`PARLEY_CONFIG`) must be named somewhere in docs/configuration.md.
A `forKey:` call or key expression the check cannot follow is an error, never skipped.

Exit status 0 when code and documentation agree, 1 otherwise (each difference is listed).
"""

import itertools
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SOURCES = os.path.join(ROOT, "Sources")
DOC = os.path.join(ROOT, "docs", "configuration.md")
ENV_PREFIX = "PARLEY"
PLACEHOLDER = "<name>"

# ConfigReader's accessors (swift-configuration): string, int, double, bool, bytes,
# byteChunkArray, the *Array forms, and their required/fetch/watch variants.
ACCESSOR = re.compile(
    r"^(?:fetch|watch)?(?:[Rr]equired)?(?:[Ss]tring|[Ii]nt|[Dd]ouble|[Bb]ool|[Bb]ytes|[Bb]yteChunk)(?:Array)?$")
# `forKey:` calls that are not configuration reads (dictionaries, Codable, UserDefaults…).
NOT_CONFIG = {
    "removeValue", "updateValue", "index", "encode", "encodeIfPresent", "encodeNil", "decode",
    "decodeIfPresent", "decodeNil", "nestedContainer", "nestedUnkeyedContainer", "superEncoder",
    "superDecoder", "contains", "value", "setValue", "object", "removeObject", "set", "url", "data",
    "array", "dictionary", "float",
}
KEY_PATTERN = re.compile(r"^[a-z][A-Za-z0-9]*(?:\.(?:<[a-z]+>|[A-Za-z][A-Za-z0-9]*))+$")
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
MAX_DEPTH = 24


class Unresolved(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Swift source: comments blanked, string literals masked, braces and calls found on the mask.


class SwiftFile:
    def __init__(self, path):
        self.path = path
        self.rel = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8") as handle:
            self.src = handle.read()
        self.code, self.mask, self.strings = self._scan(self.src)
        self.scopes = self._scopes()

    def line(self, pos):
        return self.src.count("\n", 0, pos) + 1

    def where(self, pos):
        return f"{self.rel}:{self.line(pos)}"

    # -- lexing ----------------------------------------------------------------------------

    def _scan(self, src):
        """Returns (code, mask, strings): code has comments replaced by spaces; mask also has
        the text of every string literal replaced by `x` (quotes and the code of interpolations
        kept); strings maps a literal's opening-quote position to its end (after the closing
        quote), nested literals included."""
        code = list(src)
        mask = list(src)
        strings = {}
        i, n = 0, len(src)

        def blank_comment(a, b):
            for k in range(a, b):
                if src[k] != "\n":
                    code[k] = " "
                    mask[k] = " "

        def mask_inside(a, b):
            for k in range(a, b):
                if src[k] != "\n":
                    mask[k] = "x"

        def string_end(j):
            """j at a `"` (not a raw or multi-line literal); returns the index after its closing
            quote. Literal text is masked; the code of interpolations is kept (parentheses
            balanced), nested literals are masked and recorded in turn."""
            k = j + 1
            while k < n:
                c = src[k]
                if c == "\\" and k + 1 < n and src[k + 1] == "(":
                    mask[k] = "x"
                    k = code_end(k + 2)
                    continue
                if c == "\\":
                    mask_inside(k, min(k + 2, n))
                    k += 2
                    continue
                if c == '"':
                    strings[j] = k + 1
                    return k + 1
                if c == "\n":
                    raise Unresolved(f"{self.rel}:{self.line(j)}: unterminated string literal")
                mask[k] = "x"
                k += 1
            raise Unresolved(f"{self.rel}:{self.line(j)}: unterminated string literal")

        def code_end(k):
            """k just after `\\(`; returns the index after the matching `)`."""
            depth = 1
            while k < n:
                c = src[k]
                if c == '"':
                    k = string_end(k)
                    continue
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        return k + 1
                k += 1
            raise Unresolved(f"{self.rel}: unterminated interpolation")

        while i < n:
            c = src[i]
            if src.startswith("//", i):
                j = src.find("\n", i)
                j = n if j < 0 else j
                blank_comment(i, j)
                i = j
            elif src.startswith("/*", i):
                depth, j = 1, i + 2
                while j < n and depth:
                    if src.startswith("/*", j):
                        depth, j = depth + 1, j + 2
                    elif src.startswith("*/", j):
                        depth, j = depth - 1, j + 2
                    else:
                        j += 1
                blank_comment(i, j)
                i = j
            elif c == "#" and re.match(r'#+"', src[i:]):
                hashes = re.match(r"#+", src[i:]).group(0)
                opener = hashes + ('"""' if src.startswith('"""', i + len(hashes)) else '"')
                closer = opener[len(hashes):] + hashes
                j = src.find(closer, i + len(opener))
                j = n if j < 0 else j + len(closer)
                mask_inside(i + len(opener), j - len(closer))
                i = j
            elif src.startswith('"""', i):
                j = src.find('"""', i + 3)
                j = n if j < 0 else j + 3
                mask_inside(i + 3, j - 3)
                i = j
            elif c == '"':
                i = string_end(i)
            else:
                i += 1
        return "".join(code), "".join(mask), strings

    # -- structure -------------------------------------------------------------------------

    def _scopes(self):
        """Every `{ … }` with what opens it: a function (name, parameters), a closure or `for`
        loop (the names it binds), or a plain block."""
        scopes, stack = [], []
        prev = 0
        for i, c in enumerate(self.mask):
            if c == "{":
                scope = {"open": i, "close": None, "parent": stack[-1] if stack else None, "kind": "block",
                         "header_start": prev}
                scopes.append(scope)
                stack.append(scope)
                prev = i + 1
            elif c == "}":
                if stack:
                    stack.pop()["close"] = i
                prev = i + 1
            elif c == ";":
                prev = i + 1
        for scope in scopes:
            if scope["close"] is None:
                scope["close"] = len(self.mask)
            self._classify(scope)
        return scopes

    def _classify(self, scope):
        b = scope["open"]
        after = self.mask[b + 1:b + 200]
        closure = re.match(r"\s*(?:\[[^\]]*\]\s*)?\(?\s*(" + IDENT + r"(?:\s*,\s*" + IDENT + r")*)\s*\)?\s+in\b", after)
        if closure:
            scope.update(kind="closure", binds=[name.strip() for name in closure.group(1).split(",")])
            return
        header = self.mask[scope["header_start"]:b]
        base = scope["header_start"]
        funcs = list(re.finditer(r"\b(?:func\s+(" + IDENT + r")|(init)[?!]?)\s*(?:<[^>{]*>)?\s*\(", header))
        if funcs:
            match = funcs[-1]
            open_paren = base + match.end() - 1
            close_paren = self.matching(open_paren)
            rest = self.mask[close_paren + 1:b]
            if "=" not in rest.replace("->", "") and ";" not in rest:
                scope.update(kind="func", name=match.group(1) or "init", params=self._params(open_paren, close_paren),
                             decl=base + match.start())
                return
        loop = list(re.finditer(r"\bfor\s+(?:case\s+)?(?:let\s+|var\s+)?(" + IDENT + r")\s+in\s+", header))
        if loop:
            match = loop[-1]
            sequence = header[match.end():]
            sequence = re.split(r"\swhere\s", sequence)[0]
            start = base + match.end()
            scope.update(kind="for", binds=[match.group(1)], sequence=(start, start + len(sequence.rstrip())))

    def matching(self, open_pos):
        pairs = {"(": ")", "[": "]", "{": "}"}
        opener = self.mask[open_pos]
        closer, depth = pairs[opener], 0
        for k in range(open_pos, len(self.mask)):
            ch = self.mask[k]
            if ch == opener:
                depth += 1
            elif ch == closer:
                depth -= 1
                if depth == 0:
                    return k
        raise Unresolved(f"{self.where(open_pos)}: unbalanced {opener}")

    def split_args(self, start, end):
        """Splits mask[start:end] at depth-0 commas; returns (a, b) spans, whitespace trimmed."""
        spans, depth, piece = [], 0, start
        for k in range(start, end):
            ch = self.mask[k]
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            elif ch == "," and depth == 0:
                spans.append((piece, k))
                piece = k + 1
        spans.append((piece, end))
        trimmed = []
        for a, b in spans:
            while a < b and self.mask[a].isspace():
                a += 1
            while b > a and self.mask[b - 1].isspace():
                b -= 1
            if a < b:
                trimmed.append((a, b))
        return trimmed

    def _params(self, open_paren, close_paren):
        params = []
        for a, b in self.split_args(open_paren + 1, close_paren):
            piece = self.mask[a:b]
            match = re.match(r"\s*(?:@\w+\s+)*(" + IDENT + r")(?:\s+(" + IDENT + r"))?\s*:", piece)
            if match:
                external, internal = match.group(1), match.group(2) or match.group(1)
                params.append((external, internal))
        return params

    def chain(self, pos):
        """The scopes around pos, innermost first."""
        inside = [s for s in self.scopes if s["open"] < pos <= s["close"]]
        return sorted(inside, key=lambda s: s["open"], reverse=True)

    def innermost(self, pos):
        chain = self.chain(pos)
        return chain[0] if chain else None

    def is_local(self, scope):
        """A function declared inside another function's body (visible only there)."""
        parent = scope["parent"]
        while parent is not None:
            if parent["kind"] in ("func", "closure", "for"):
                return True
            parent = parent["parent"]
        return False


# --------------------------------------------------------------------------------------------
# Resolving key expressions to the set of keys they can be.


class Resolver:
    def __init__(self, files):
        self.files = files

    def expression(self, f, a, b, bindings, depth):
        """The keys the Swift expression code[a:b] can be."""
        if depth > MAX_DEPTH:
            raise Unresolved(f"{f.where(a)}: key expression nests too deeply")
        while a < b and f.mask[a].isspace():
            a += 1
        while b > a and f.mask[b - 1].isspace():
            b -= 1
        text = f.mask[a:b]
        if f.strings.get(a) == b:
            return self.template(f, a, b, bindings, depth)
        wrapped = re.fullmatch(r"(?:ConfigKey|AbsoluteConfigKey|String)\s*\((.*)\)", text, re.S)
        if wrapped and f.matching(a + text.index("(")) == b - 1:
            inner = a + text.index("(") + 1
            args = f.split_args(inner, b - 1)
            if len(args) == 1:
                return self.expression(f, args[0][0], args[0][1], bindings, depth + 1)
        if re.fullmatch(IDENT, text):
            return self.identifier(f, text, a, bindings, depth)
        call = re.fullmatch(r"(?:(?:Self|self)\s*\.\s*)?(" + IDENT + r")\s*\(.*\)", text, re.S)
        if call and f.matching(a + text.index("(")) == b - 1:
            return self.helper_call(f, call.group(1), a, b, depth)
        raise Unresolved(f"{f.where(a)}: cannot follow the key expression `{f.code[a:b].strip()}`")

    def template(self, f, a, b, bindings, depth):
        """A string literal at code[a:b], interpolations resolved."""
        pieces = []  # lists of alternatives
        k, literal = a + 1, ""
        end = b - 1
        while k < end:
            ch = f.code[k]
            if ch == "\\" and f.code[k + 1] == "(":
                close = self._interpolation_end(f, k + 2)
                if literal:
                    pieces.append([literal])
                    literal = ""
                pieces.append(sorted(self.expression(f, k + 2, close, bindings, depth + 1)))
                k = close + 1
                continue
            if ch == "\\":
                literal += f.code[k + 1]
                k += 2
                continue
            literal += ch
            k += 1
        if literal:
            pieces.append([literal])
        return {"".join(parts) for parts in itertools.product(*pieces)} if pieces else {""}

    @staticmethod
    def _interpolation_end(f, k):
        depth = 1
        while k < len(f.code):
            if f.code[k] == '"' and k in f.strings:
                k = f.strings[k]
                continue
            if f.code[k] == "(":
                depth += 1
            elif f.code[k] == ")":
                depth -= 1
                if depth == 0:
                    return k
            k += 1
        raise Unresolved(f"{f.where(k)}: unterminated interpolation")

    def identifier(self, f, name, pos, bindings, depth):
        if name in bindings:
            return bindings[name]
        for scope in f.chain(pos):
            if scope["kind"] == "func":
                for index, (external, internal) in enumerate(scope["params"]):
                    if internal == name:
                        return self.parameter(f, scope, index, depth)
            elif scope["kind"] in ("closure", "for") and name in scope["binds"]:
                if scope["kind"] == "for":
                    values = self.literal_list(f, *scope["sequence"])
                    if values is not None:
                        return values
                return {PLACEHOLDER}  # a name from a configured list
            found = self.declaration(f, scope, name, pos, bindings, depth)
            if found is not None:
                return found
        raise Unresolved(f"{f.where(pos)}: cannot tell where `{name}` comes from")

    def literal_list(self, f, a, b):
        text = f.mask[a:b].strip()
        if not (text.startswith("[") and text.endswith("]")):
            return None
        start = a + f.mask[a:b].index("[")
        values = set()
        for x, y in f.split_args(start + 1, f.matching(start)):
            if f.strings.get(x) != y:
                return None
            values |= self.template(f, x, y, {}, 0)
        return values

    def declaration(self, f, scope, name, pos, bindings, depth):
        """`let name = …` (or var, if/guard let) in scope before pos, at the scope's own level."""
        body = f.mask[scope["open"] + 1:pos]
        found = None
        for match in re.finditer(r"\b(?:let|var)\s+" + re.escape(name) + r"\s*(?::[^=\n]+)?=(?!=)", body):
            start = scope["open"] + 1 + match.start()
            if f.innermost(start) is scope:
                found = scope["open"] + 1 + match.end()
        if found is None:
            return None
        end = found
        depth_count = 0
        while end < len(f.mask):
            ch = f.mask[end]
            if ch in "([{":
                depth_count += 1
            elif ch in ")]}":
                if depth_count == 0:
                    break
                depth_count -= 1
            elif ch in ",\n;" and depth_count == 0:
                break
            end += 1
        return self.expression(f, found, end, bindings, depth + 1)

    def calls(self, f, scope):
        """Every call of the function `scope` declares: within its parent for a local function,
        else anywhere in Sources."""
        name = scope["name"]
        pattern = re.compile(r"(?:(?<![\w.])|(?<=Self\.)|(?<=self\.)|(?<=[A-Z][A-Za-z0-9_]\.))" + re.escape(name) + r"\s*\(")
        if f.is_local(scope):
            regions = [(f, scope["parent"]["open"], scope["parent"]["close"])]
        else:
            regions = [(g, 0, len(g.mask)) for g in self.files]
        found = []
        for g, lo, hi in regions:
            for match in pattern.finditer(g.mask, lo, hi):
                before = g.mask[max(0, match.start() - 40):match.start()]
                if re.search(r"\bfunc\s*$", before) or g is f and match.start() == scope["decl"]:
                    continue
                if name == "init":
                    continue
                open_paren = match.end() - 1
                found.append((g, open_paren, g.matching(open_paren)))
        return found

    def parameter(self, f, scope, index, depth):
        """The values parameter `index` of function `scope` gets at its calls."""
        external, internal = scope["params"][index]
        values = set()
        calls = self.calls(f, scope)
        if not calls:
            raise Unresolved(f"{f.where(scope['open'])}: `{internal}` is a parameter of {scope['name']}, which nothing calls")
        for g, open_paren, close_paren in calls:
            span = self.argument(g, open_paren, close_paren, scope["params"], index)
            if span is None:
                continue  # a default value is used
            values |= self.expression(g, span[0], span[1], {}, depth + 1)
        return values

    @staticmethod
    def argument(g, open_paren, close_paren, params, index):
        """The span of the argument for params[index] in the call (labels matched as Swift does)."""
        pi = 0
        for a, b in g.split_args(open_paren + 1, close_paren):
            label = re.match(r"(" + IDENT + r")\s*:(?!:)", g.mask[a:b])
            if label:
                while pi < len(params) and params[pi][0] != label.group(1):
                    pi += 1
                value = (a + label.end(), b)
            else:
                while pi < len(params) and params[pi][0] != "_":
                    pi += 1
                value = (a, b)
            if pi >= len(params):
                return None
            if pi == index:
                return value
            pi += 1
        return None

    def helper_call(self, f, name, a, b, depth):
        """A key-making helper: `key("kind")` where `func key(_ suffix: String) -> ConfigKey { … }`:
        its one expression, with the parameters bound to this call's arguments."""
        visible = [t for t in f.scopes if t["kind"] == "func" and t["name"] == name
                   and (not f.is_local(t) or t["parent"]["open"] < a <= t["parent"]["close"])]
        if not visible:
            raise Unresolved(f"{f.where(a)}: `{name}(…)` makes a key, but its definition is not in this file")
        definition = max(visible, key=lambda t: t["parent"]["open"] if t["parent"] else -1)
        body_start, body_end = definition["open"] + 1, definition["close"]
        body = f.mask[body_start:body_end].strip()
        if body.startswith("return "):
            body_start = f.mask.index("return ", body_start) + len("return ")
            body = body[len("return "):]
        if "\n" in body or ";" in body:
            raise Unresolved(f"{f.where(a)}: `{name}(…)` is not a one-expression helper the check can follow")
        open_paren = a + f.mask[a:b].index("(")
        bindings = {}
        params = definition["params"]
        for index, (external, internal) in enumerate(params):
            span = self.argument(f, open_paren, f.matching(open_paren), params, index)
            if span is None:
                raise Unresolved(f"{f.where(a)}: `{name}(…)` uses a default argument the check cannot see")
            bindings[internal] = self.expression(f, span[0], span[1], {}, depth + 1)
        return self.expression(f, body_start, body_end, bindings, depth + 1)


# --------------------------------------------------------------------------------------------


def swift_files():
    for directory, _, names in os.walk(SOURCES):
        for name in sorted(names):
            if name.endswith(".swift"):
                yield os.path.join(directory, name)


def keys_in_code():
    """(read keys {key: [places]}, command-line keys {key: [places]}, env vars {name: [places]}, errors)."""
    files = []
    errors = []
    for path in sorted(swift_files()):
        try:
            files.append(SwiftFile(path))
        except Unresolved as error:
            errors.append(str(error))
    resolver = Resolver(files)
    read, command_line, environment = {}, {}, {}

    def note(table, key, place):
        key = re.sub(r"<[^>]*>", PLACEHOLDER, key)
        table.setdefault(key, []).append(place)

    for f in files:
        if re.search(r"\.\s*scoped\s*\(\s*to\s*:", f.mask):
            errors.append(f"{f.rel}: reads configuration through a scoped ConfigReader, which this check does not follow")
        for match in re.finditer(r"(?:\.\s*)?(" + IDENT + r")\s*\(\s*forKey\s*:", f.mask):
            method = match.group(1)
            if method in NOT_CONFIG:
                continue
            if not ACCESSOR.match(method):
                errors.append(f"{f.where(match.start())}: `{method}(forKey:)` is not a ConfigReader accessor this check knows")
                continue
            open_paren = match.start() + match.group(0).index("(")
            args = f.split_args(open_paren + 1, f.matching(open_paren))
            a, b = args[0]
            a += re.match(r"forKey\s*:\s*", f.mask[a:b]).end()
            try:
                for key in resolver.expression(f, a, b, {}, 0):
                    note(read, key, f.where(a))
            except Unresolved as error:
                errors.append(str(error))
        for match in re.finditer(r"(?<![\w.])ConfigKey\s*\(", f.mask):
            open_paren = match.end() - 1
            args = f.split_args(open_paren + 1, f.matching(open_paren))
            if len(args) == 1 and f.strings.get(args[0][0]) == args[0][1]:
                try:
                    for key in resolver.expression(f, args[0][0], args[0][1], {}, 0):
                        note(read, key, f.where(match.start()))
                except Unresolved as error:
                    errors.append(str(error))
        # Dictionaries of configuration values (`[String: ConfigContent]`, and copies of them):
        # what the command line puts in them are keys.
        holders = set(re.findall(r"(" + IDENT + r")\s*:\s*\[\s*String\s*:\s*ConfigContent\s*\]", f.code))
        for alias, source in re.findall(r"\b(?:var|let)\s+(" + IDENT + r")\s*=\s*(" + IDENT + r")\s*$", f.code, re.M):
            if source in holders:
                holders.add(alias)
        for match in re.finditer(r"(?<![\w.])(" + IDENT + r')\s*\[\s*"([^"\\\n]*)"\s*\]\s*=(?!=)', f.code):
            if match.group(1) in holders:
                note(command_line, match.group(2), f.where(match.start()))
        for match in re.finditer(r'environment\s*\[\s*"(' + ENV_PREFIX + r'_[A-Z0-9_]+)"\s*\]', f.code):
            environment.setdefault(match.group(1), []).append(f.where(match.start()))
    return read, command_line, environment, errors


def environment_name(key):
    parts = []
    for component in key.split("."):
        if component == PLACEHOLDER:
            parts.append("<NAME>")
            continue
        component = re.sub(r"([a-z])([A-Z])", r"\1_\2", component).upper()
        parts.append(re.sub(r"[^A-Z0-9]", "_", component))
    return "_".join([ENV_PREFIX] + parts)


def split_row(line):
    cells, cell, k = [], "", 0
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    while k < len(line):
        if line[k] == "\\" and k + 1 < len(line) and line[k + 1] == "|":
            cell += "|"
            k += 2
            continue
        if line[k] == "|":
            cells.append(cell.strip())
            cell = ""
        else:
            cell += line[k]
        k += 1
    cells.append(cell.strip())
    return cells


def keys_in_doc():
    """({key: line}, doc text, errors): the keys in every table whose first column is `key`."""
    errors, documented = [], {}
    rel = os.path.relpath(DOC, ROOT)
    try:
        with open(DOC, encoding="utf-8") as handle:
            lines = handle.read().split("\n")
    except OSError as error:
        return {}, "", [f"{rel}: cannot read it ({error.strerror})"]
    k, tables = 0, 0
    while k < len(lines):
        header = split_row(lines[k]) if lines[k].lstrip().startswith("|") else None
        if not header or header[0].lower() != "key" or k + 1 >= len(lines) or not re.match(r"^\s*\|[\s:|-]+\|?\s*$", lines[k + 1]):
            k += 1
            continue
        tables += 1
        env_column = next((i for i, name in enumerate(header) if name.lower() == "environment"), None)
        k += 2
        while k < len(lines) and lines[k].lstrip().startswith("|"):
            cells = split_row(lines[k])
            place = f"{rel}:{k + 1}"
            keys = re.findall(r"`([^`]+)`", cells[0])
            if not keys or re.sub(r"`[^`]+`|[,\s]|<br>|/", "", cells[0]):
                errors.append(f"{place}: the key cell must hold only `key`s, comma-separated: {cells[0]!r}")
            for key in keys:
                if not KEY_PATTERN.match(key):
                    errors.append(f"{place}: `{key}` does not look like a configuration key")
                    continue
                key = re.sub(r"<[^>]*>", PLACEHOLDER, key)
                if key in documented:
                    errors.append(f"{place}: `{key}` is documented twice (also line {documented[key].split(':')[-1]})")
                documented[key] = place
            if env_column is not None:
                named = re.findall(r"`([^`]+)`", cells[env_column] if env_column < len(cells) else "")
                expected = [environment_name(re.sub(r"<[^>]*>", PLACEHOLDER, key)) for key in keys if KEY_PATTERN.match(key)]
                if sorted(named) != sorted(expected):
                    errors.append(f"{place}: the environment column should say {', '.join(f'`{e}`' for e in expected)}"
                                  f" (it says {', '.join(f'`{n}`' for n in named) or 'nothing'})")
            k += 1
    if not tables:
        errors.append(f"{rel}: no table with a `key` column")
    return documented, "\n".join(lines), errors


def main():
    read, command_line, environment, errors = keys_in_code()
    documented, doc_text, doc_errors = keys_in_doc()
    errors += doc_errors
    rel = os.path.relpath(DOC, ROOT)
    undocumented = sorted(set(read) - set(documented))
    unread = sorted(set(documented) - set(read))
    set_not_read = sorted(set(command_line) - set(read))
    env_undocumented = sorted(name for name in environment if f"`{name}`" not in doc_text)
    if undocumented:
        errors.append(f"read by the code but not in {rel}'s key table:\n" +
                      "\n".join(f"    {key}    ({', '.join(sorted(set(read[key])))})" for key in undocumented))
    if unread:
        errors.append(f"in {rel}'s key table but read nowhere in Sources/:\n" +
                      "\n".join(f"    {key}    ({documented[key]})" for key in unread))
    if set_not_read:
        errors.append("set from the command line but read by no configuration code:\n" +
                      "\n".join(f"    {key}    ({', '.join(command_line[key])})" for key in set_not_read))
    if env_undocumented:
        errors.append(f"environment variables read directly but not named in {rel}:\n" +
                      "\n".join(f"    {name}    ({', '.join(environment[name])})" for name in env_undocumented))
    if errors:
        print("check-config-docs: FAILED", file=sys.stderr)
        for error in errors:
            print("  " + error, file=sys.stderr)
        return 1
    print(f"check-config-docs: {len(read)} configuration keys read in Sources/, all documented in {rel}, "
          f"every documented key read ({len(command_line)} set from the command line, "
          f"{len(environment)} environment variable{'s' if len(environment) != 1 else ''} read directly)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
