"""Conventions of an installable package, checked from the source tree (the installed wheel is
tests/test_installed_wheel.py): --version and -h, the optional PostgreSQL extra with a clear
error without it, and a CLI that loads on an OS without fcntl (a portable shop lock)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from tests.fault_tools import pool

REPO = Path(__file__).resolve().parents[1]


def _project() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project


def test_version_and_short_help() -> None:
    version = CliRunner().invoke(cli, ["--version"])
    assert version.exit_code == 0 and version.output == f"reconciler, version {_project()['version']}\n"
    for flag in ("-h", "--help"):
        shown = CliRunner().invoke(cli, [flag])
        assert shown.exit_code == 0 and "Usage: " in shown.output and "schema" in shown.output
    assert "Usage: " in CliRunner().invoke(cli, ["plan", "-h"]).output  # subcommands too


def test_licence_and_postgres_extra_are_declared() -> None:
    project = _project()
    assert project["license"] == "MIT" and (REPO / "LICENSE").read_text().startswith("MIT License")
    assert (REPO / "reconciler" / "py.typed").is_file()
    dependencies = project["dependencies"]
    assert isinstance(dependencies, list) and not any(dep.startswith("psycopg") for dep in dependencies)
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict)
    # cryptography seals seller tokens in that store (Shop spec.credentials: store): not a core dependency
    assert extras["postgres"] == ["psycopg[binary]>=3.1", "cryptography>=42"]
    assert not any(dep.startswith("cryptography") for dep in dependencies)
    assert "campaign-reconciler[postgres]" in extras["test"]  # so the suite's PostgreSQL tests run


def _without(modules: list[str], args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter where importing `modules` fails, as where they are absent."""
    code = (
        "import sys\n"
        f"for name in {modules!r}: sys.modules[name] = None\n"
        "from reconciler.cli import main\n"
        f"main({args!r})\n"
    )
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=120, check=False)


def test_a_postgresql_store_without_the_extra_says_how_to_install_it(tmp_path: Path) -> None:
    env = {"RECONCILER_STATE": "postgresql://reconciler:s3cret-pw@127.0.0.1:1/campaigns"}
    result = _without(["psycopg"], ["state", "list"], env, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pip install 'campaign-reconciler[postgres]'" in result.stderr
    assert "Traceback" not in result.stderr and "s3cret-pw" not in result.stderr + result.stdout


def test_sealed_tokens_without_the_extra_say_how_to_install_it(tmp_path: Path) -> None:
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    (campaigns / "shops.yaml").write_text(
        "apiVersion: campaigns/v1\nkind: Shop\nmetadata: {name: demo-shop}\nspec: {credentials: store}\n", encoding="utf-8")
    (campaigns / "pools.yaml").write_text(pool("fresh"), encoding="utf-8")  # something to read, so a client opens
    env = {"TOP_APP_KEY": "app-key-1", "TOP_APP_SECRET": "app-secret-1", "TOP_GATEWAY": "http://127.0.0.1:1/router/rest",
           "RECONCILER_STATE": str(tmp_path / "state.db")}
    result = _without(["cryptography"], ["plan", str(campaigns)], env, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pip install 'campaign-reconciler[postgres]'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_validate_needs_neither_psycopg_nor_fcntl(tmp_path: Path) -> None:
    # fcntl is POSIX-only: a module-level import of it would break every command on Windows.
    result = _without(["psycopg", "fcntl"], ["validate", str(REPO / "campaigns")], {}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_the_shop_lock_works_without_fcntl(tmp_path: Path) -> None:
    """filelock's portable lock stands in: two holders of one shop still exclude each other."""
    code = (
        "import sys\n"
        "sys.modules['fcntl'] = None\n"
        "from reconciler.state import SqliteStateStore, LockTimeoutError\n"
        f"store = SqliteStateStore({str(tmp_path / 'state.db')!r})\n"
        "with store.lock('demo-shop', timeout=1):\n"
        "    other = SqliteStateStore(store.path)\n"
        "    try:\n"
        "        with other.lock('demo-shop', timeout=0.2):\n"
        "            sys.exit('taken twice')\n"
        "    except LockTimeoutError as exc:\n"
        "        assert 'reconciler pid' in str(exc), exc\n"
        "with store.lock('demo-shop', timeout=1):\n"
        "    print('released and taken again')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0 and "taken again" in result.stdout, result.stdout + result.stderr
