"""What /healthz checks beyond "the process answers": that the pages can be served.

Every template readable (the pages and what they extend or include), every static file a
template names readable, the static folder present, and the vendored Plotly bundle readable
and the pinned build. A server installed without its files (a wheel missing its data) answers
503 here instead of 200 while every page fails.
"""

from __future__ import annotations

import re
from pathlib import Path

from app.paths import STATIC_DIR, TEMPLATES_DIR
from app.web.vendor import plotly_raw

PAGES = ("index.html", "join.html", "room.html", "present.html")
NAMED = re.compile(r"\{\{\s*static_prefix\s*\}\}/([\w./-]+\.\w+)")


def _readable(path: Path) -> str | None:
    """The text of a file, or None when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def problems() -> list[str]:
    """What stops a page from being served; empty when every page can be."""
    found: list[str] = []
    if not TEMPLATES_DIR.is_dir():
        found.append(f"templates folder {TEMPLATES_DIR} missing")
        texts: list[str] = []
    else:
        texts = []
        names = sorted(p.relative_to(TEMPLATES_DIR).as_posix() for p in TEMPLATES_DIR.rglob("*"))
        for page in PAGES:
            if page not in names:
                found.append(f"template {page} missing")
        for name in names:
            path = TEMPLATES_DIR / name
            if path.is_dir():
                continue
            text = _readable(path)
            if text is None:
                found.append(f"template {name} unreadable")
            else:
                texts.append(text)
    if not STATIC_DIR.is_dir():
        found.append(f"static folder {STATIC_DIR} missing")
    else:
        for rel in sorted({m for text in texts for m in NAMED.findall(text)}):
            try:
                with (STATIC_DIR / rel).open("rb") as f:
                    f.read(1)
            except OSError:
                found.append(f"static file {rel} unreadable")
    try:
        plotly_raw()  # read and checked once, then kept in memory: cheap after the first time
    except (OSError, RuntimeError) as exc:
        found.append(f"vendored Plotly: {exc}")
    return found
