"""JavaScript as sent (app.web.slim): comment-only lines emptied, nothing else, never unsure."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from app.main import STATIC_DIR
from app.web.slim import comment_lines, slim_js

JS = sorted((STATIC_DIR / "js").glob("*.js"))
COMMENT_STARTS = ("//", "/*", "*")


def test_comment_lines_are_emptied_and_code_is_kept() -> None:
    source = "\n".join(
        [
            "// a line comment",  # 0: emptied
            "import { a } from './a.js'; // kept: code on the line",  # 1
            "/**",  # 2-4: a block of its own, emptied
            " * JSDoc",
            " */",
            "const s = '// not a comment';",  # 5
            "const t = `",  # 6-9: a template's text is never touched
            "// inside a template",
            "/* also inside */",
            "${a /* in ${} */}`;",
            "const r = /\\/\\/ no ['\"`] /g; // a regex with quotes and a backtick",  # 10
            "const x = 4 / 2 / 1; /* a division, then a comment */",  # 11
            "f(); /* opens on a code line",  # 12-14: kept whole (the opener has code)
            "   its middle",
            "*/",
            "/* closes on",  # 15-16: kept whole (the closer has code)
            "a code line */ g();",
            "    ",  # 17: only spaces: left as it is
            "/* one */ /* two */",  # 18: emptied
        ]
    )
    out = slim_js(source).split("\n")
    lines = source.split("\n")
    assert len(out) == len(lines)  # the same line numbers
    emptied = {k for k, (a, b) in enumerate(zip(lines, out, strict=True)) if a != b}
    assert emptied == {0, 2, 3, 4, 18}
    assert all(out[k] == "" for k in emptied)


@pytest.mark.parametrize(
    "source",
    [
        "const s = 'unclosed\n// x",
        "/* never closed\nf();",
        "const t = `never closed\n// x",
        "f(`${ {a: 1} `);\n// x",
        "a++ / 2;\n// x",  # a division read as a regex: unsure, never wrong
        "}\n// x",
    ],
)
def test_a_file_the_scanner_is_unsure_of_is_sent_as_it_is(source: str) -> None:
    assert comment_lines(source) is None
    assert slim_js(source) == source


@pytest.mark.parametrize("path", JS, ids=lambda p: p.name)
def test_every_module_is_read_for_certain_and_only_comment_lines_go(path: Path) -> None:
    source = path.read_text()
    assert comment_lines(source) is not None, "the scanner is unsure: the file would go whole"
    out = slim_js(source)
    lines, sent = source.split("\n"), out.split("\n")
    assert len(sent) == len(lines)
    for a, b in zip(lines, sent, strict=True):
        assert b == a or (b == "" and a.strip().startswith(COMMENT_STARTS)), a


def test_the_modules_together_are_a_fifth_smaller_gzipped() -> None:
    raw = sum(len(gzip.compress(p.read_bytes(), 9)) for p in JS)
    sent = sum(len(gzip.compress(slim_js(p.read_text()).encode(), 9)) for p in JS)
    assert sent < 0.85 * raw, (raw, sent)


@pytest.mark.skipif(not shutil.which("node"), reason="no node to parse the modules")
def test_node_parses_every_module_as_sent(tmp_path: Path) -> None:
    for path in JS:
        # Workers are classic scripts; the rest are ES modules (.mjs makes node read them so).
        target = tmp_path / (path.stem + (".js" if "worker" in path.stem else ".mjs"))
        target.write_text(slim_js(path.read_text()))
        done = subprocess.run(["node", "--check", str(target)], capture_output=True, text=True)
        assert done.returncode == 0, (path.name, done.stderr)
