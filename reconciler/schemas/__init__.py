"""The JSON Schemas, shipped inside the package: what a manifest may contain (one file per kind,
and `manifest.schema.json`, which dispatches on `kind`, for editors) and what machine output looks
like (`output/plan.schema.json`, the shape of `plan --json`).

They are read through importlib.resources, so they are found wherever the package is installed
(a wheel in a virtual environment, a zip), never next to a source checkout. `schemas/` at the
repository root holds byte-identical copies for editors that open the repository; they are
written by `reconciler schema export schemas`, and tests/test_schema_files.py checks they match.

Each schema's `$id` is `ID_BASE` + its path here. Relative `$ref`s between them (the editor schema
names `shop.schema.json`) therefore resolve to the same file whether a tool goes by the `$id` or
by where the file lies, in the package, in `schemas/`, or in any directory they are exported to.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

ID_BASE = "https://campaign-reconciler.local/schemas/"
SUFFIX = ".schema.json"


def schema_dir() -> Traversable:
    return files(__name__)


def schema_files() -> dict[str, Traversable]:
    """Every schema, by its path relative to the schema directory (`output/plan.schema.json`)."""
    found: dict[str, Traversable] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir() and entry.name != "__pycache__":
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.is_file() and entry.name.endswith(SUFFIX):
                found[prefix + entry.name] = entry

    walk(schema_dir(), "")
    return dict(sorted(found.items()))


def export(directory: Path) -> list[Path]:
    """Write every schema under `directory`, byte for byte, keeping the layout; the paths written."""
    written: list[Path] = []
    for relative, source in schema_files().items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        written.append(target)
    return written
