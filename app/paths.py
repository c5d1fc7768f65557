"""Where the page's files are: beside the package in the repository, inside it when installed.

The repository keeps static/ and templates/ at its top, beside app/ (the design's layout); the
wheel carries them as app/_static and app/_templates (setup.py). The installed layout wins, so
an installed server never reads a stray folder beside site-packages.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _located(name: str) -> Path:
    """app/_{name} when installed from a wheel, else {name}/ beside app/ (a checkout)."""
    installed = PACKAGE / f"_{name}"
    return installed if installed.is_dir() else PACKAGE.parent / name


STATIC_DIR = _located("static")
TEMPLATES_DIR = _located("templates")
VENDOR_DIR = PACKAGE / "web" / "vendor_js"  # in the package in both layouts
