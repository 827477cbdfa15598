"""The product as a team installs it: the wheel built from this tree, installed into a fresh virtual
environment, run from a directory outside the repository with nothing but its `reconciler`
command. Every other test imports the source tree, so a file missing from the wheel (the JSON
Schemas once were: every kind was "unknown") is seen only here.

The virtual environment is installed by the workflows' own Install step: the hash-locked
requirements (requirements/workflows.txt) with `--require-hashes`, then the package with
`--no-deps`; so a dependency missing from the lock fails here too. pip's cache makes a repeated
run quick (the first one downloads the locked dependencies).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path  # the venv's scripts directory

    @property
    def reconciler(self) -> str:
        return str(self.bin / "reconciler")


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=600, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def _check(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("installed")
    # A copy of the files git would commit: what a clean clone builds, without the developer's
    # egg-info, caches or .reconciler/ state (and without writing a build/ directory into the tree).
    source = root / "source"
    for name in _source_files():
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)

    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    scripts = env_dir / ("Scripts" if os.name == "nt" else "bin")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{scripts}{os.pathsep}{env.get('PATH', '')}"
    # Installed by the workflows' own Install step: the locked dependencies and build backend,
    # then the reconciler built from the checkout with --no-deps.
    _check(_run(["bash", "-eo", "pipefail", "-c", _install_step()], cwd=source, env=env))
    # The same build once more as a wheel file, to look inside it.
    dist = root / "dist"
    python = [str(scripts / "python"), "-m", "pip", "--disable-pip-version-check"]
    _check(_run([*python, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)], env=env))
    [wheel] = dist.glob("campaign_reconciler-*.whl")
    yield Installed(wheel, scripts)


def _install_step() -> str:
    """The `run:` of the Install step, the same in every workflow that holds credentials."""
    scripts = set()
    for name in ("apply.yml", "plan.yml", "reconcile.yml"):
        workflow = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text(encoding="utf-8"))
        installs = [step for job in workflow["jobs"].values() for step in job["steps"] if step.get("name") == "Install"]
        assert installs, name
        scripts.update(step["run"] for step in installs)
    [script] = scripts
    assert "--require-hashes -r requirements/workflows.txt" in script and "--no-deps" in script
    return script


def test_the_wheel_carries_every_module_and_data_file_of_the_package(installed: Installed) -> None:
    """Modules, schemas, the sandbox's TOP evidence, init's starter files, py.typed: everything in
    reconciler/ that git holds, but for notes to maintainers (*.md); and the licence."""
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    package_files = [
        name
        for name in _source_files()
        if name.startswith("reconciler/") and not name.endswith(".md") and (REPO / name).is_file()
    ]
    assert "reconciler/schemas/manifest.schema.json" in package_files and "reconciler/py.typed" in package_files
    assert sorted(set(package_files) - names) == []
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), sorted(names)


def _source_files() -> list[str]:
    """The files a commit of the working tree would hold (tracked, or new and not ignored)."""
    listed = _check(_run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO)).stdout
    return [name for name in listed.split("\0") if name]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the repository holding a copy of the demo campaigns, and nothing else."""
    work = tmp_path / "my-shop"
    shutil.copytree(REPO / "campaigns", work / "campaigns")
    assert REPO not in work.parents
    return work


def _demo_credentials() -> dict[str, str]:
    """The sandbox's fixed demo credentials, as the README's demo (scripts/demo.sh) exports them."""
    exported = re.findall(r"^export (\w+)=([^$\s]+)$", (REPO / "scripts" / "demo.sh").read_text(), re.MULTILINE)
    credentials = dict(exported)
    assert {"TOP_APP_KEY", "TOP_APP_SECRET", "TOP_SESSION"} <= set(credentials), credentials
    return credentials


def _user_env(installed: Installed, work: Path, gateway: str) -> dict[str, str]:
    """A user's shell: the venv on PATH, the sandbox's demo credentials, and no trace of the
    source tree (no PYTHONPATH, so `reconciler` can only be the installed one)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "RECONCILER_", "TOP_"))}
    env.update(_demo_credentials())
    env.update(
        PATH=f"{installed.bin}{os.pathsep}{env.get('PATH', '')}",
        TOP_GATEWAY=gateway,
        RECONCILER_STATE=str(work / "state.db"),
    )
    return env


def test_installed_command_validates_plans_applies_and_converges_the_demo(installed: Installed, outside: Path) -> None:
    port = _free_port()
    env = _user_env(installed, outside, f"http://127.0.0.1:{port}/router/rest")
    log = (outside / "sandbox.log").open("w")
    server = subprocess.Popen(
        [installed.reconciler, "sandbox", "serve", "--port", str(port), "--data", str(outside / "sandbox.json")],
        cwd=outside, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{port}/_sandbox/calls", server, outside / "sandbox.log")
        run = [installed.reconciler]
        started = time.monotonic()
        assert "valid" in _check(_run([*run, "validate", "campaigns"], cwd=outside, env=env)).stdout
        first = _run([*run, "plan", "campaigns", "--detailed-exitcode"], cwd=outside, env=env)
        assert first.returncode == 2, first.stdout + first.stderr  # changes to make
        _check(_run([*run, "apply", "campaigns", "--auto-approve"], cwd=outside, env=env))
        second = _run([*run, "plan", "campaigns", "--detailed-exitcode"], cwd=outside, env=env)
        assert second.returncode == 0, second.stdout + second.stderr  # converged
        print(f"validate, plan, apply, plan: {time.monotonic() - started:.1f} s")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _wait_for(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(200):
        if server.poll() is not None:
            pytest.fail(f"the installed sandbox exited {server.returncode}:\n{log.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"the installed sandbox did not answer:\n{log.read_text()}")


def test_pre_commit_hook_entry_runs_from_the_installed_package(installed: Installed, outside: Path) -> None:
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["language"] == "python" and not hook["pass_filenames"]
    env = _user_env(installed, outside, "http://127.0.0.1:9/unused")  # the hook never calls TOP
    command = hook["entry"].split() + hook["args"]
    _check(_run(command, cwd=outside, env=env))
    (outside / "campaigns" / "broken.yaml").write_text("apiVersion: campaigns/v1\nkind: ShopCupon\n")
    broken = _run(command, cwd=outside, env=env)
    assert broken.returncode == 1 and "broken.yaml:2" in broken.stdout + broken.stderr


def test_installed_command_answers_version_help_and_exports_schemas(installed: Installed, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    version = _check(_run([installed.reconciler, "--version"], cwd=tmp_path, env=env)).stdout
    assert version.split()[-1] == _project_version()
    assert "Usage:" in _check(_run([installed.reconciler, "-h"], cwd=tmp_path, env=env)).stdout
    _check(_run([installed.reconciler, "schema", "export", "out"], cwd=tmp_path, env=env))
    exported = {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.json")}
    expected = {p.relative_to(REPO / "schemas").as_posix() for p in (REPO / "schemas").rglob("*.json")}
    assert exported == expected
    for name in expected:
        assert (tmp_path / "out" / name).read_bytes() == (REPO / "schemas" / name).read_bytes()


def _project_version() -> str:
    import tomllib

    version: str = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    return version


def test_installed_init_writes_a_starter_project_that_validates(installed: Installed, tmp_path: Path) -> None:
    """`reconciler init` reads its templates from the package (reconciler/starter)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "RECONCILER_"))}
    _check(_run([installed.reconciler, "init", "my-project"], cwd=tmp_path, env=env))
    assert (tmp_path / "my-project" / "reconciler.toml").is_file()
    validated = _check(_run([installed.reconciler, "validate", "campaigns"], cwd=tmp_path / "my-project", env=env))
    assert "valid" in validated.stdout


def test_installed_command_speaks_chinese_from_the_catalogue_in_the_wheel(installed: Installed, tmp_path: Path) -> None:
    """The zh_CN catalogue ships as package data (issue 21.3) and the installed command reads it
    under a Chinese locale; --lang en overrides the locale."""
    catalogue = "reconciler/locale/zh_CN/LC_MESSAGES/reconciler.po"
    assert catalogue in zipfile.ZipFile(installed.wheel).namelist()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "RECONCILER_", "LC_", "LANGUAGE"))}
    saved = tmp_path / "plan.json"
    saved.write_text("{}", encoding="utf-8")
    refused = [installed.reconciler, "apply", "--checksum-file", "x", str(saved)]  # a usage error, before any work
    chinese = _run(refused, cwd=tmp_path, env={**env, "LANG": "zh_CN.UTF-8"})
    assert chinese.returncode == 2 and "--checksum-file 取代 --checksum" in chinese.stderr, chinese.stderr
    english = _run([installed.reconciler, "--lang", "en", *refused[1:]], cwd=tmp_path, env={**env, "LANG": "zh_CN.UTF-8"})
    assert english.returncode == 2 and "--checksum-file replaces --checksum" in english.stderr, english.stderr
