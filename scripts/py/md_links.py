#!/usr/bin/env python3
"""Every relative link of README.md and docs/*.md resolves: the file exists, and an anchor
(`page.md#section`, `#section`) names a heading of that page, as GitHub makes anchors.

Run by scripts/check_stack.sh. Standard library only.

    python3 scripts/py/md_links.py               checks README.md and docs/*.md (from the repo root)
    python3 scripts/py/md_links.py FILE...       checks those files
    python3 scripts/py/md_links.py --self-test   checks the checker on pages with known faults

Links to other sites (`https://…`, `mailto:`) are not followed. Code (fenced blocks and
`inline` spans) holds no links: `[x](y)` there is text.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import unicodedata

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: the text lower-cased, markup and punctuation dropped
    (letters, digits, `-`, `_` and spaces stay), spaces turned into `-`."""
    text = _INLINE_CODE.sub(lambda m: m.group(0).strip("`"), heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text stays
    out = []
    for ch in text.lower():
        cat = unicodedata.category(ch)
        if ch in "-_ " or cat[0] in "LN":
            out.append("-" if ch == " " else ch)
    return "".join(out)


def prose_lines(text: str):
    """(line number, line) outside fenced code, with inline code blanked out."""
    fence = None
    for n, line in enumerate(text.split("\n"), 1):
        m = _FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif m.group(1) == fence:
                fence = None
            continue
        if fence is None:
            yield n, _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)


def anchors(path: str) -> set[str]:
    """Every anchor of a page: its headings' slugs (a repeated one gets -1, -2, …, as on
    GitHub) and explicit `<a name=…>` / `<a id=…>`."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in prose_lines(text):
        out.update(_HTML_ANCHOR.findall(line))
        m = _HEADING.match(line)
        if not m:
            continue
        s = slug(m.group(2))
        if s in seen:
            seen[s] += 1
            out.add(f"{s}-{seen[s]}")
        else:
            seen[s] = 0
            out.add(s)
    return out


def check(paths: list[str]) -> list[str]:
    """One line per broken link: `FILE:LINE: target: why`."""
    errors = []
    cache: dict[str, set[str]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        base = os.path.dirname(path)
        for n, line in prose_lines(text):
            for m in _LINK.finditer(line):
                target = m.group(1)
                if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                    continue  # https:, mailto: … another site's business
                file_part, _, anchor = target.partition("#")
                dest = os.path.normpath(os.path.join(base, file_part)) if file_part else path
                if not os.path.exists(dest):
                    errors.append(f"{path}:{n}: {target}: {dest} does not exist")
                    continue
                if not anchor:
                    continue
                if not dest.endswith(".md") or os.path.isdir(dest):
                    errors.append(f"{path}:{n}: {target}: an anchor into a file that is not a page")
                    continue
                if dest not in cache:
                    cache[dest] = anchors(dest)
                if anchor not in cache[dest]:
                    errors.append(f"{path}:{n}: {target}: {dest} has no heading with anchor #{anchor}")
    return errors


def default_pages() -> list[str]:
    docs = sorted(os.path.join("docs", p) for p in os.listdir("docs") if p.endswith(".md"))
    return ["README.md"] + docs


def self_test() -> int:
    """A page with every kind of fault, and one with none: the checker must find exactly the
    faults."""
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(os.path.join(d, "docs"))
        with open(os.path.join(d, "docs", "a.md"), "w", encoding="utf-8") as f:
            f.write(
                "# Page A\n\n## Bounds: what no client, config value or peer can exceed\n\n"
                "## Read probes: \"ready\" means \"can answer a query\"\n\n## Twice\n\n## Twice\n"
            )
        good = (
            "# Good\n\n[a](docs/a.md) [b](docs/a.md#bounds-what-no-client-config-value-or-peer-can-exceed)\n"
            "[c](docs/a.md#read-probes-ready-means-can-answer-a-query) [d](docs/a.md#twice-1)\n"
            "[e](#good) [f](https://example.com/x#y) `[g](nowhere.md)`\n\n```\n[h](nowhere.md)\n```\n"
        )
        bad = (
            "# Bad\n\n[a](docs/missing.md)\n[b](docs/a.md#no-such-heading)\n[c](#not-here)\n"
            "[d](docs/a.md#twice-2)\n"
        )
        with open(os.path.join(d, "good.md"), "w", encoding="utf-8") as f:
            f.write(good)
        with open(os.path.join(d, "bad.md"), "w", encoding="utf-8") as f:
            f.write(bad)
        cwd = os.getcwd()
        os.chdir(d)
        try:
            got_good = check(["good.md"])
            got_bad = check(["bad.md"])
        finally:
            os.chdir(cwd)
    failed = 0
    if got_good:
        print("FAIL: a page without faults was reported:\n  " + "\n  ".join(got_good))
        failed += 1
    if len(got_bad) != 4:
        print(f"FAIL: want 4 faults in the faulty page, got {len(got_bad)}:\n  " + "\n  ".join(got_bad))
        failed += 1
    print("ok md_links self-test" if not failed else f"{failed} self-test failures")
    return 1 if failed else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["--self-test"]:
        sys.exit(self_test())
    if self_test() != 0:
        sys.exit(1)
    pages = args or default_pages()
    errors = check(pages)
    for e in errors:
        print(e)
    print(f"{len(pages)} pages, {len(errors)} broken links")
    sys.exit(1 if errors else 0)
