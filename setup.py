"""What the wheel carries: app's packages, the vendored Plotly, and static/ and templates/.

The repository keeps static/ and templates/ at its top, beside app/; the wheel carries them
inside the package, as app/_static and app/_templates, so an installed server needs nothing
beside it (app/paths.py finds either layout). Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
MAPPED = {"app._static": "static", "app._templates": "templates"}


def folders(package: str, folder: str) -> list[str]:
    """The package a top-level folder becomes, and one per subfolder (no dot folders)."""
    base = ROOT / folder
    subs = [
        p.relative_to(base).parts
        for p in sorted(base.rglob("*"))
        if p.is_dir() and not any(part.startswith(".") for part in p.relative_to(base).parts)
    ]
    return [package, *(".".join((package, *parts)) for parts in subs)]


DATA = [name for package, folder in MAPPED.items() for name in folders(package, folder)]

setup(
    packages=[*find_packages(include=["app", "app.*"]), "app.web.vendor_js", *DATA],
    package_dir=MAPPED,
    package_data={
        "app.web.vendor_js": ["*"],  # the pinned Plotly bundle and its licence
        **{name: ["*"] for name in DATA},  # every file of static/ and templates/
    },
)
