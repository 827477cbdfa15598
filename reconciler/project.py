"""The project a run belongs to, found from the manifests it is given, and where its files live.

The state store, the token file and the locks next to them belong to a project, never to the
current directory: `cd campaigns && reconciler apply .` must use the same store as
`reconciler apply campaigns` from the repository root, or it starts an empty store and creates
duplicates on TOP (issue 15: coupons cannot be deleted, so a duplicate is forever).

The project root is, searching upwards from the manifests (a directory given, or a file's directory):
  1. the nearest directory holding `reconciler.toml` (written by `reconciler init`);
  2. else the nearest directory holding `.git` (a directory, or a file in a worktree / submodule);
  3. else the manifests' own directory, with a warning: there is nothing better to agree on, and
     it is the same directory whichever working directory the command runs from.
Commands given no manifests (state, journal) search from the current directory instead.

Where the files go, first match wins:
  - RECONCILER_STATE / TOP_TOKEN_FILE in the environment: a postgresql:// URL or an absolute path
    as given; a relative path is relative to the project root (not the working directory);
  - `state` / `token_file` in reconciler.toml, relative to the project root;
  - the defaults `.reconciler/state.db` and `.reconciler/token.json` under the project root.

The project's id (`id` in reconciler.toml, written by `reconciler init`) names its rows in the
state store: several repositories may share one store (one PostgreSQL database, or one SQLite
file named by RECONCILER_STATE) and each sees only its own shops, journal and locks. A project
without an id (no reconciler.toml, or one written before ids) is DEFAULT_PROJECT_ID, the
namespace migration 4 moved every earlier row into, so an existing store keeps working as it did.
Changing a project's id later leaves its rows under the old id: keep it once written.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.errors import ReconcilerError
from reconciler.i18n import _

PROJECT_FILE = "reconciler.toml"
STATE_ENV = "RECONCILER_STATE"
TOKEN_FILE_ENV = "TOP_TOKEN_FILE"
# Set by Project.env for the state store (reconciler.state.open_store); never read from the
# operator's environment: the id belongs to the repository, in its committed reconciler.toml.
PROJECT_ID_ENV = "RECONCILER_PROJECT_ID"
DEFAULT_PROJECT_ID = "default"
# Letters, digits, dot, dash, underscore: safe in lock file names, lock keys and messages.
PROJECT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
DEFAULT_STATE = ".reconciler/state.db"
DEFAULT_TOKEN_FILE = ".reconciler/token.json"
DEFAULT_MANIFESTS = "campaigns"  # what the manifest loader reads when no path is given
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_PREFIX = "sqlite:///"
# What reconciler.toml may hold; anything else is a typo the user should hear about.
KNOWN_KEYS = frozenset({"id", "state", "token_file"})


class ProjectError(ReconcilerError):
    """The manifests belong to no single project, or reconciler.toml cannot be read."""


@dataclass(frozen=True)
class Project:
    root: Path
    found_by: str  # "reconciler.toml", "git" or "manifests' directory": said in the header
    state: str  # the store: an absolute SQLite path or a postgresql:// URL
    token_file: Path
    warning: str | None = None  # said once on stderr when the root is only a guess
    id: str = DEFAULT_PROJECT_ID  # its namespace in the state store

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with the store, its namespace and the token file resolved, for the code that
        reads them from the environment (state.open_store, top.settings): the one place their
        location is decided."""
        return {**base, STATE_ENV: self.state, TOKEN_FILE_ENV: str(self.token_file), PROJECT_ID_ENV: self.id}


def find_project(paths: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> Project:
    """The project of the manifests at `paths` (files or directories; none = the default
    `campaigns` directory, or the current directory when there is none)."""
    cwd = (cwd or Path.cwd()).resolve()
    starts = _starting_directories(paths, cwd)
    root, found_by = _root_of(starts)
    warning = None
    if root is None:
        root, found_by = _common_directory(starts), "manifests' directory"
        warning = _(
            "no {project_file} or .git at or above {root}: using it as the project root, so the state "
            "store is {state}; run `reconciler init` in your repository to fix the root"
        ).format(project_file=PROJECT_FILE, root=root, state=root / DEFAULT_STATE)
    settings = _read_project_file(root / PROJECT_FILE) if found_by == PROJECT_FILE else {}
    state = _resolve_state(env.get(STATE_ENV) or str(settings.get("state") or DEFAULT_STATE), root)
    token_file = root / (env.get(TOKEN_FILE_ENV) or str(settings.get("token_file") or DEFAULT_TOKEN_FILE))
    project_id = str(settings.get("id") or DEFAULT_PROJECT_ID)
    return Project(root, found_by, state, token_file, warning, project_id)


def _starting_directories(paths: Sequence[str], cwd: Path) -> list[Path]:
    if not paths:
        default = cwd / DEFAULT_MANIFESTS
        return [default if default.is_dir() else cwd]
    starts = []
    for given in paths:
        path = (cwd / given).resolve()
        starts.append(path if path.is_dir() else path.parent)  # a missing path is the loader's error to report
    return starts


def _root_of(starts: Sequence[Path]) -> tuple[Path | None, str]:
    """The nearest project file above every start, else the nearest git root; they must agree."""
    for marker, found_by in ((PROJECT_FILE, PROJECT_FILE), (".git", "git")):
        roots = {_nearest_holding(start, marker) for start in starts}
        roots.discard(None)
        if len(roots) > 1:
            listed = ", ".join(sorted(str(root) for root in roots if root))
            raise ProjectError(
                f"the manifests given belong to different projects ({listed}); run one project at a time"
            )
        if roots:
            return roots.pop(), found_by
    return None, ""


def _nearest_holding(start: Path, marker: str) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / marker).exists():
            return directory
    return None


def _common_directory(starts: Sequence[Path]) -> Path:
    return Path(os.path.commonpath([str(start) for start in starts]))


def _read_project_file(path: Path) -> dict[str, object]:
    try:
        settings = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProjectError(f"{path}: {exc}") from exc
    unknown = sorted(set(settings) - KNOWN_KEYS)
    if unknown:
        raise ProjectError(_("{path}: unknown setting(s) {unknown}; known: {known}").format(
            path=path, unknown=", ".join(unknown), known=", ".join(sorted(KNOWN_KEYS))))
    project_id = settings.get("id")
    if project_id is not None and not (isinstance(project_id, str) and PROJECT_ID_PATTERN.fullmatch(project_id)):
        raise ProjectError(
            f"{path}: id {project_id!r} is not a project id: 1 to 100 letters, digits, '.', '-' or '_', "
            "starting with a letter or digit"
        )
    state = str(settings.get("state") or "")
    if state.startswith(POSTGRES_SCHEMES) and _has_password(state):
        raise ProjectError(
            f"{path}: the state URL holds a password, and this file is committed; set the URL with its "
            f"password in {STATE_ENV} instead (or the password alone in PGPASSWORD)"
        )
    return settings


def _has_password(url: str) -> bool:
    return urlsplit(url).password is not None


def _resolve_state(location: str, root: Path) -> str:
    """A postgresql:// URL as given; a SQLite path (plain or sqlite:///…) made absolute from the root."""
    if location.startswith(POSTGRES_SCHEMES):
        return location
    if location.startswith(SQLITE_PREFIX):
        location = location[len(SQLITE_PREFIX):]
    return str(root / location)  # an absolute location stays itself: root / "/x" == "/x"


def describe_state(location: str) -> str:
    """The store as the header names it: the SQLite path, or PostgreSQL's host and database,
    never the user, password or query of the URL."""
    if not location.startswith(POSTGRES_SCHEMES):
        return f"sqlite {location}"
    parts = urlsplit(location)
    host = parts.hostname or "local socket"
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql {host}{port}/{parts.path.lstrip('/') or '(default database)'}"
