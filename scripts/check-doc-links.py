#!/usr/bin/env python3
"""Checks the relative links of README.md and docs/*.md (stdlib only).

Every link that is not a URL (`docs/api.md`, `../README.md#quick-start`, `#audit`) must point at
a file or directory inside the repository, and a `#fragment` on a Markdown page must name one of
its headings (GitHub's anchors: lower case, punctuation dropped, spaces to hyphens, `-1`, `-2`…
for repeats) or an explicit `id`/`name` attribute. Links inside code (fenced blocks and `spans`)
are not links and are skipped. Exit status 0 when every link resolves, 1 otherwise.
"""

import glob
import os
import re
import sys
import urllib.parse

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PAGES = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))

INLINE = re.compile(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[([^\]]+)\]:\s*(<[^>]*>|\S+)")
HTML = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def outside_fences(text):
    """(line number, line) of the lines outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.split("\n"), 1):
        marker = re.match(r"(`{3,}|~{3,})", line.lstrip())
        if fence:
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = None
            continue
        if marker:
            fence = marker.group(1)
            continue
        yield number, line


def prose_lines(text):
    """(line number, line) outside fenced code blocks, inline code spans blanked."""
    for number, line in outside_fences(text):
        yield number, re.sub(r"(`+)(.+?)\1", lambda m: " " * len(m.group(0)), line)


def anchors(path, cache={}):
    """The fragments a Markdown page answers to."""
    if path in cache:
        return cache[path]
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    found, seen = set(), {}
    for _, line in outside_fences(text):
        heading = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            title = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1))  # links: their text
            title = re.sub(r"<[^>]+>", "", title)
            slug = re.sub(r"[^\w\- ]", "", title.lower().replace("`", "")).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
        for attribute in re.findall(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""", line):
            found.add(attribute)
    cache[path] = found
    return found


def check(page):
    problems, count = [], 0
    path = os.path.join(ROOT, page)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    for number, line in prose_lines(text):
        targets = [(m.group(0), m.group(2)) for m in INLINE.finditer(line)]
        targets += [(m.group(0).strip(), m.group(2)) for m in REFERENCE.finditer(line)]
        targets += [(m.group(0), m.group(1)) for m in HTML.finditer(line)]
        for shown, target in targets:
            target = target[1:-1] if target.startswith("<") and target.endswith(">") else target
            if SCHEME.match(target) or target.startswith("//"):
                continue  # a URL: not checked here
            count += 1
            where = f"{page}:{number}: {shown}"
            file_part, _, fragment = target.partition("#")
            file_part = urllib.parse.unquote(file_part)
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            if os.path.relpath(resolved, ROOT).startswith(".."):
                problems.append(f"{where}: points outside the repository")
                continue
            if not os.path.exists(resolved):
                problems.append(f"{where}: {os.path.relpath(resolved, ROOT)} does not exist")
                continue
            if fragment:
                if not resolved.endswith(".md") or os.path.isdir(resolved):
                    problems.append(f"{where}: #{fragment} on a file that is not a Markdown page")
                elif urllib.parse.unquote(fragment) not in anchors(resolved):
                    problems.append(f"{where}: {os.path.relpath(resolved, ROOT)} has no heading #{fragment}")
    return problems, count


def main():
    problems, count = [], 0
    for page in PAGES:
        found, checked = check(page)
        problems += found
        count += checked
    if problems:
        print("check-doc-links: FAILED", file=sys.stderr)
        for problem in problems:
            print("  " + problem, file=sys.stderr)
        return 1
    print(f"check-doc-links: {count} relative links in {len(PAGES)} pages ({', '.join(PAGES)}), all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
