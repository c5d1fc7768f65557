"""The pages' ES-module graph, read from static/js, for `<link rel="modulepreload">`.

A page's entry module imports others, which import more: without a hint the browser finds each
level only after the one above has arrived, a chain five deep (a round trip each on a slow
link). The server reads every static `import … from './x.js'` (and `export … from`) once per
static version and lists each entry's whole graph, so the page asks for every module at once.
Dynamic `import('./x.js')` is left out on purpose: those load only when asked for.

An early module (EARLY: first-run.js, which imports nothing and asks for the first session) is
also loaded by its page as an async script of its own, to run before the rest have arrived.
Where a page has one, its other preloads say `fetchpriority="low"`: over HTTP/1.1's six
connections per host, the early module's requests then go ahead of the modules still queued.
"""

from __future__ import annotations

import posixpath
import re
import threading

from app.web.static import STATIC, StaticAssets

# `import x from './a.js'`, `import { a,\n b } from "./a.js"`, `import './a.js'`,
# `export { a } from './a.js'`, `export * from './a.js'`: a relative specifier after the word.
# `import(` (dynamic) has no space or clause before its parenthesis, so it does not match.
STATIC_IMPORT = re.compile(
    r"""(?:^|[;\s])(?:import|export)\s+(?:[\w$*{}\s,]+?\s+from\s*)?["'](\.{1,2}/[^"'\s]+)["']"""
)
LINE_COMMENT = re.compile(r"^\s*//.*$", re.MULTILINE)
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def static_imports(source: str) -> list[str]:
    """The relative specifiers a module imports statically, in order (comments skipped)."""
    text = BLOCK_COMMENT.sub(" ", LINE_COMMENT.sub("", source))
    return [m.group(1) for m in STATIC_IMPORT.finditer(text)]


class ModuleGraph:
    """Each entry module's static imports, transitively, cached per static version."""

    def __init__(self, assets: StaticAssets, folder: str = "js") -> None:
        self.assets = assets
        self.folder = folder
        self._cache: dict[tuple[str, str], tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def imports_of(self, rel: str) -> list[str]:
        """The paths (under static/) that one module imports statically."""
        asset = self.assets.get(rel)
        if asset is None:
            return []
        here = posixpath.dirname(rel)
        source = asset.raw.decode("utf-8", "replace")
        return [posixpath.normpath(posixpath.join(here, s)) for s in static_imports(source)]

    def closure(self, *entries: str) -> tuple[str, ...]:
        """Every module the entries import, directly or not (entries excluded), breadth first."""
        key = (self.assets.version, "\0".join(entries))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        roots = [f"{self.folder}/{e}" for e in entries]
        seen = set(roots)
        order: list[str] = []
        queue = list(roots)
        while queue:
            for dep in self.imports_of(queue.pop(0)):
                if dep not in seen and not dep.startswith(".."):
                    seen.add(dep)
                    order.append(dep)
                    queue.append(dep)
        found = tuple(order)
        with self._lock:
            if len(self._cache) > 64:  # old versions (development edits) are not kept forever
                self._cache.clear()
            self._cache[key] = found
        return found


GRAPH = ModuleGraph(STATIC)


EARLY = ("js/first-run.js",)


def module_preloads(*entries: str) -> tuple[str, ...]:
    """What a page whose entry modules are `entries` (names under static/js) should preload."""
    return GRAPH.closure(*(e.strip() for e in entries if e.strip()))


def early_modules(preloads: tuple[str, ...]) -> tuple[str, ...]:
    """The early modules among a page's preloads (its others are then fetched at low priority)."""
    return tuple(m for m in preloads if m in EARLY)
