"""`reconciler init`: a new project's reconciler.toml and a starter campaigns/ directory.

The files are templates shipped inside the package (read through importlib.resources, so the
command works from an installed wheel): a Shop profile pointing at the local sandbox and one
commented example per kind, and the JSON Schemas their editor comments point at. Their windows are filled in relative to the moment of `init`
(from tomorrow, for WINDOW_DAYS days), because the kinds refuse windows that are over and a
starter that fails `reconciler validate` on day one teaches the wrong thing. Existing files are
never overwritten: init refuses before writing anything.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import datetime, time, timedelta, timezone
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.schemas import schema_files

GMT8 = timezone(timedelta(hours=8))
# Well inside the shortest limit of the kinds: a new shop coupon must end within 6 months.
WINDOW_DAYS = 90
# Inside .reconciler/, so the state store and token file (secrets) never reach git.
IGNORE_FILE = ".reconciler/.gitignore"


class InitError(ReconcilerError):
    """init would overwrite a file that exists."""


def write_starter(directory: Path, now: datetime) -> list[Path]:
    """Write the starter project into `directory` (created when missing); the paths written."""
    values = {**_window(now), "id": new_project_id(directory)}
    planned = [(directory / relative, _fill(template.read_text(encoding="utf-8"), values))
               for relative, template in _templates()]
    planned.append((directory / IGNORE_FILE, "# the state store and token file: never in git\n*\n"))
    # The manifests' `yaml-language-server: $schema=../schemas/…` comments point here (editors).
    planned += [(directory / "schemas" / relative, source.read_text(encoding="utf-8"))
                for relative, source in schema_files().items()]
    existing = [path for path, _ in planned if path.exists()]
    if existing:
        raise InitError("refusing to overwrite existing files; nothing was written:\n  "
                        + "\n  ".join(str(path) for path in existing))
    for path, text in planned:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return [path for path, _ in planned]


def _templates() -> Iterator[tuple[str, Traversable]]:
    root = files(__package__)
    yield "reconciler.toml", root / "reconciler.toml"
    for template in sorted((root / "campaigns").iterdir(), key=lambda t: t.name):
        if template.name.endswith(".yaml"):
            yield f"campaigns/{template.name}", template


def new_project_id(directory: Path) -> str:
    """The project's id in reconciler.toml: the directory's name (as a project id may spell it) and
    a random suffix, so two repositories both called `campaigns` never share a namespace. Random,
    not derived from the path: written once and committed, it stays the same on every clone."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", directory.resolve().name).strip("-._")[:60] or "project"
    return f"{name}-{secrets.token_hex(4)}"


def _window(now: datetime) -> dict[str, str]:
    """From tomorrow 00:00 to the last second of WINDOW_DAYS days later, GMT+8 (TOP's zone)."""
    tomorrow = now.astimezone(GMT8).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time())
    end = datetime.combine(tomorrow + timedelta(days=WINDOW_DAYS), time(23, 59, 59))
    return {"start": f"{start.isoformat()}+08:00", "end": f"{end.isoformat()}+08:00"}


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    if "{{" in text:
        raise AssertionError(f"a starter template has an unknown placeholder: {text[text.index('{{'):][:40]}")
    return text
