"""Output paths checked before a run does its work: `plan --out F` to a missing directory or
`--markdown D` onto an existing file would otherwise fail with a traceback after the whole plan
(every read call) was made."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.i18n import _


def file_problem(option: str, path: str) -> str | None:
    """Why a file cannot be written at `path`, or None when it can."""
    target = Path(path)
    if target.is_dir():
        return _("{option} {path}: is a directory; name a file").format(option=option, path=path)
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        return _("{option} {path}: {parent} is a file, not a directory").format(option=option, path=path, parent=parent)
    if not parent.is_dir():
        return _("{option} {path}: directory {parent} does not exist; create it first").format(
            option=option, path=path, parent=parent)
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        return _("{option} {path}: not writable").format(option=option, path=path)
    return None


def directory_problem(option: str, path: str) -> str | None:
    """Why `path` cannot be (made and) written as a directory, or None when it can."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        return _("{option} {path}: is a file, not a directory").format(option=option, path=path)
    existing = next((p for p in (target, *target.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return _("{option} {path}: {parent} is a file, not a directory").format(option=option, path=path, parent=existing)
    if existing is not None and not os.access(existing, os.W_OK):
        return _("{option} {path}: {parent} is not writable").format(option=option, path=path, parent=existing)
    return None


def output_problems(files: dict[str, str | None], directories: dict[str, str | None]) -> list[str]:
    """Every problem of the given options' paths (option → path, None when not given)."""
    found = [file_problem(option, path) for option, path in files.items() if path]
    found += [directory_problem(option, path) for option, path in directories.items() if path]
    return [problem for problem in found if problem]
