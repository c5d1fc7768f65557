"""The engine is pure NumPy: it imports nothing but NumPy, the standard library and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "app" / "engine"
ALLOWED = set(sys.stdlib_module_names) | {"numpy", "__future__"}


def imported_roots(source: str) -> list[tuple[int, str]]:
    """(line, top-level module) for every absolute import; relative imports stay inside."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            assert node.module is not None
            out.append((node.lineno, node.module.split(".")[0]))
    return out


def test_engine_imports_only_numpy_and_the_standard_library():
    files = sorted(ENGINE.glob("*.py"))
    assert {f.name for f in files} >= {
        "activations.py", "losses.py", "network.py", "optimizers.py",
        "datasets.py", "chain.py", "gradcheck.py",
    }  # fmt: skip
    bad = [
        f"{f.name}:{line} imports {mod}"
        for f in files
        for line, mod in imported_roots(f.read_text(encoding="utf-8"))
        if mod not in ALLOWED
    ]
    assert not bad, bad


def test_the_import_check_is_not_vacuous():
    source = "import numpy as np\nimport json\nfrom .network import N\n"
    source += "def f():\n    from fastapi import FastAPI\n    import app.protocol\n"
    bad = [(line, m) for line, m in imported_roots(source) if m not in ALLOWED]
    assert bad == [(5, "fastapi"), (6, "app")]
