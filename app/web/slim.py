"""JavaScript as sent: its comment-only lines left blank (issue 21: a slow link pays per byte).

The modules are written to be read, and a quarter of their gzipped bytes are comments. The
server sends each module with every line that holds nothing but comment emptied, nothing else
changed: the same lines, so a stack trace's line numbers are the file's. A comment that shares
a line with code stays, and so does a block comment whose first or last line has code (blanking
its inside would leave an opener or a closer alone). A small scanner finds them (strings,
template literals and their `${}`, regular expressions); a file it cannot read to its end
cleanly (an unclosed string or comment, a literal it was unsure of) is sent as it is.
"""

from __future__ import annotations

import re

# After these, `/` starts a regular expression; after a name, a number, `)` or `]`, a division.
REGEX_AFTER = set("(,=:[!&|?{};+-*%<>~^")
KEYWORDS = {
    "return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case",
    "do", "else", "yield", "await",
}  # fmt: skip
WORD = re.compile(r"[\w$\u0080-\uffff]+")
SPACE = " \t\r\f\v\ufeff\u00a0"


class UnsureError(Exception):
    """The scanner met something it does not read for certain: send the file as it is."""


class Scan:
    """One pass over a source: the lines that hold code, and each block comment's lines."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.i = 0
        self.line = 0
        self.code: set[int] = set()
        self.blocks: list[tuple[int, int]] = []
        # The last token's kind, for the regex-or-division question (at the start: as after `(`).
        self.prev = "("

    def run(self) -> None:
        """Scan the whole source as code; it must end outside every literal."""
        if self.code_until(closing=False):
            raise UnsureError("a stray `}`")

    def advance_to(self, j: int) -> None:
        """Move to index j, counting the lines passed (and marking them as code)."""
        for _ in range(self.src.count("\n", self.i, j)):
            self.line += 1
            self.code.add(self.line)
        self.i = j

    def code_until(self, closing: bool) -> bool:
        """Code up to the `}` that closes a template's `${` (closing) or the end; True at `}`."""
        src, n = self.src, len(self.src)
        depth = 0
        while self.i < n:
            c = src[self.i]
            if c == "\n":
                self.line += 1
                self.i += 1
            elif c in SPACE:
                self.i += 1
            elif src.startswith("//", self.i):
                j = src.find("\n", self.i)
                self.i = n if j < 0 else j
            elif src.startswith("/*", self.i):
                j = src.find("*/", self.i + 2)
                if j < 0:
                    raise UnsureError("an unclosed comment")
                start = self.line
                self.line += src.count("\n", self.i, j)
                self.blocks.append((start, self.line))
                self.i = j + 2
            else:
                self.code.add(self.line)
                if c in "'\"":
                    self.string(c)
                elif c == "`":
                    self.template()
                elif c == "/" and (self.prev in REGEX_AFTER or self.prev in KEYWORDS):
                    self.regex()
                elif c == "}" and depth == 0 and closing:
                    self.i += 1
                    return True
                else:
                    word = WORD.match(src, self.i)
                    if word:
                        self.prev = word.group() if word.group() in KEYWORDS else "x"
                        self.i = word.end()
                        continue
                    depth += {"{": 1, "}": -1}.get(c, 0)
                    if depth < 0:
                        raise UnsureError("a stray `}`")
                    self.prev = "x" if c in ")]" else c
                    self.i += 1
        if closing:
            raise UnsureError("an unclosed `${`")
        return False

    def string(self, quote: str) -> None:
        """A '…' or "…" string (one line, or lines joined by a backslash)."""
        src, j = self.src, self.i + 1
        while j < len(src) and src[j] != quote:
            if src[j] == "\n":
                raise UnsureError("a string across lines")
            j += 2 if src[j] == "\\" else 1
        if j >= len(src):
            raise UnsureError("an unclosed string")
        self.advance_to(j + 1)
        self.prev = "x"

    def template(self) -> None:
        """A `…` template literal, its text code on every line, each `${…}` scanned as code."""
        src, n = self.src, len(self.src)
        self.i += 1
        while True:
            j = self.i
            while j < n and src[j] != "`" and not src.startswith("${", j):
                j += 2 if src[j] == "\\" else 1
            if j >= n:
                raise UnsureError("an unclosed template")
            self.advance_to(j)
            if src[j] == "`":
                self.i = j + 1
                self.prev = "x"
                return
            self.i = j + 2
            self.prev = "("
            self.code_until(closing=True)

    def regex(self) -> None:
        """A /…/flags literal on one line (a `/` inside […] does not end it)."""
        src, j, in_class = self.src, self.i + 1, False
        while j < len(src):
            c = src[j]
            if c == "\n":
                raise UnsureError("a regular expression across lines (or a division read as one)")
            if c == "\\":
                j += 2
                continue
            if c == "[":
                in_class = True
            elif c == "]":
                in_class = False
            elif c == "/" and not in_class:
                break
            j += 1
        else:
            raise UnsureError("an unclosed regular expression")
        flags = WORD.match(src, j + 1)
        self.i = flags.end() if flags else j + 1
        self.prev = "x"


def comment_lines(source: str) -> set[int] | None:
    """The (0-based) lines that may be emptied; None when the scanner is unsure of the file."""
    scan = Scan(source)
    try:
        scan.run()
    except (UnsureError, IndexError):
        return None
    keep = set(scan.code)
    changed = True
    while changed:  # a block touching a kept line is kept whole (and may touch another)
        changed = False
        for a, b in scan.blocks:
            if (a in keep or b in keep) and not keep.issuperset(range(a, b + 1)):
                keep.update(range(a, b + 1))
                changed = True
    lines = source.split("\n")
    return {k for k, text in enumerate(lines) if text.strip() and k not in keep}


def slim_js(source: str) -> str:
    """The source with its comment-only lines emptied (as many lines); as it is when unsure."""
    blank = comment_lines(source)
    if not blank:
        return source
    return "\n".join("" if k in blank else t for k, t in enumerate(source.split("\n")))
