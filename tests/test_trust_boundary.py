"""The pull-request trust boundary, attacked (issue 16, README "Trust model").

A pull request is written by someone who should not learn the shop's secrets. Each test here
builds a real git repository whose `refs/pull/7/merge` holds an attacker's tree, then runs plan.yml's
job as the runner would: its `run:` steps exactly as written in the workflow (same commands,
working directories and environment), and stand-ins for the actions it uses (checkout done with
real git, including cone-mode sparse checkout; the comment and the artifact collected as files).
The job's secrets are canaries. Afterwards no canary may appear in any step's output, the
pull-request comment, the artifact, or a request that left for somewhere other than the sandbox,
and no file of the pull request may have been executed.

The attacks: Python files at the pull request's root and in campaigns/ (json.py, sitecustomize.py,
…) that would run if an interpreter started with the pull request as its working directory;
`nicks_file: /proc/self/environ`; a buyers file that is a symlink to it; a Shop profile whose
env.gateway names another variable the job holds (the webhook URL); templates including
`.git/config`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.server import DEMO_ALIMAMA_APP_SECRET, DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION
from reconciler.sandbox.families.tbk import DEMO_ALIMAMA_APP_KEY
from tests.conftest import REPO, Sandbox
from tests.test_alerts_metrics import Receiver, receiver  # noqa: F401  (fixture)
from tests.test_e2e_item_pool import pool
from tests.workflow_runner import WorkflowRunner

PR_NUMBER = "7"
HEAD_SHA = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2"
GIT_CONFIG_CANARY = "canary-git-config-4QX8"  # stands in for a token a checkout may leave in .git/config
SIGNING_KEY_CANARY = "canary-plan-signing-key-Z7M2"  # the plan job's artifact key (apply.yml checks it)
PYTHON_FILES = ("json.py", "sitecustomize.py", "usercustomize.py", "yaml.py", "click.py")

GRANT = """\
apiVersion: campaigns/v1
kind: ShopCoupon
metadata: {{name: vip-20-off-199, shop: demo-shop}}
spec:
  denomination: "20.00"
  order_at_least: "199.00"
  window: {{start: "2027-02-01T00:00:00+08:00", end: "2027-04-30T23:59:59+08:00"}}
---
apiVersion: campaigns/v1
kind: CouponGrant
metadata: {{name: {name}, shop: demo-shop}}
spec:
  coupon: vip-20-off-199
  buyers:
    nicks_file: {file}
"""


def _python_file(marker: Path, name: str) -> str:
    """A module that, if ever imported, records it and spills the job's secrets where they would
    be published (stdout, which the plan step tees into the log and the checksum file)."""
    return (
        "import os, pathlib\n"
        f"pathlib.Path({str(marker)!r}).joinpath({name!r}).write_text('executed')\n"
        "print(' '.join(f'{k}={v}' for k, v in os.environ.items()))\n"
    )


def _attacks(marker: Path) -> dict[str, dict[str, str | Path]]:
    """Pull-request trees (path → text, or Path = a symlink to it), one per attack, and all at once."""
    code: dict[str, str | Path] = {}
    for name in PYTHON_FILES:
        code[name] = _python_file(marker, name)
        code[f"campaigns/{name}"] = _python_file(marker, f"campaigns/{name}")
    code["reconciler/__init__.py"] = _python_file(marker, "reconciler/__init__.py")
    code["reconciler/__main__.py"] = _python_file(marker, "reconciler/__main__.py")
    code["campaigns/pools.yaml"] = pool("fresh", skus=["1001"])
    shops = (REPO / "campaigns" / "shops.yaml").read_text(encoding="utf-8")
    attacks: dict[str, dict[str, str | Path]] = {
        "code": code,
        "environ-nicks-file": {"campaigns/grant.yaml": GRANT.format(name="environ", file="/proc/self/environ")},
        "symlinked-buyers-file": {
            "campaigns/grant.yaml": GRANT.format(name="linked", file="buyers.txt"),
            "campaigns/buyers.txt": Path("/proc/self/environ"),
        },
        "gateway-variable": {
            "campaigns/shops.yaml": shops.replace("gateway: TOP_GATEWAY", "gateway: RECONCILER_WEBHOOK_URL"),
            "campaigns/pools.yaml": pool("fresh", skus=["1001"]),
        },
        "app-key-variable": {
            # The app key is sent in the clear: naming the signing key's variable would send it.
            "campaigns/shops.yaml": shops.replace("app_key: TOP_APP_KEY", "app_key: RECONCILER_PLAN_SIGNING_KEY"),
            "campaigns/pools.yaml": pool("fresh", skus=["1001"]),
        },
        "campaigns-is-a-link": {"campaigns": Path("/proc/self")},
        "credentials-file": {
            # A provider, never a path: the file is the one the operator names (RECONCILER_CREDENTIALS_FILE),
            # and the plan job names none.
            "campaigns/shops.yaml": shops.replace("spec:\n", "spec:\n  credentials: file\n", 1),
            "campaigns/pools.yaml": pool("fresh", skus=["1001"]),
        },
        "project-file": {
            # A project file of its own (reconciler/project.py) pointing the token file at the
            # environment, and a session variable CI does not set, so the token file is read.
            "campaigns/reconciler.toml": 'token_file = "/proc/self/environ"\nstate = "/tmp/elsewhere.db"\n',
            "campaigns/shops.yaml": shops.replace("session: TOP_SESSION", "session: TOP_NOT_SET_IN_CI"),
            "campaigns/pools.yaml": pool("fresh", skus=["1001"]),
        },
        "template-git-config": {
            "campaigns/leak.yaml.j2": '# {% include ".git/config" %}\n',
            "campaigns/leak2.yaml.j2": '# {% include "../.git/config" %}\n',
            "campaigns/leak3.yaml.j2": '# {% include "link/config" %}\n',
            "campaigns/link": Path("../.git"),
        },
    }
    everything: dict[str, str | Path] = {}
    for attack, files in attacks.items():
        if attack != "campaigns-is-a-link":
            everything.update(files)
    everything["campaigns/shops.yaml"] = attacks["gateway-variable"]["campaigns/shops.yaml"]
    attacks["all-at-once"] = everything
    return attacks


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd)}
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"git {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def _origin(root: Path, pull_request: dict[str, str | Path]) -> Path:
    """A bare repository like GitHub's: main (the trusted tree) and refs/pull/7/merge."""
    work = root / "author"
    (work / "campaigns").mkdir(parents=True)
    shutil.copytree(REPO / ".github", work / ".github")
    shutil.copy(REPO / "campaigns" / "shops.yaml", work / "campaigns" / "shops.yaml")
    (work / "campaigns" / "pools.yaml").write_text(pool("fresh", skus=["1001"]), encoding="utf-8")
    _git("init", "-q", "-b", "main", cwd=work)
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "main", cwd=work)
    for name, content in pull_request.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        if isinstance(content, Path):
            path.symlink_to(content)
        else:
            path.write_text(content, encoding="utf-8")
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "pull request", cwd=work)
    origin = root / "origin.git"
    _git("init", "-q", "--bare", str(origin), cwd=root)
    _git("push", "-q", str(origin), "main~1:refs/heads/main", f"main:refs/pull/{PR_NUMBER}/merge", cwd=work)
    return origin


@dataclass
class JobRun:
    """Everything the plan job published or sent."""

    outputs: list[str] = field(default_factory=list)  # each step's log
    comments: list[str] = field(default_factory=list)
    artifact: dict[str, bytes] = field(default_factory=dict)

    def published(self) -> str:
        artifact = "\n".join(content.decode("utf-8", "replace") for content in self.artifact.values())
        return "\n".join([*self.outputs, *self.comments, artifact])


def _stand_in_checkout(runner: WorkflowRunner, step: dict[str, Any], origin: Path) -> None:
    """actions/checkout with its inputs, done with git: ref, path, sparse-checkout (cone mode by
    default, as the action does), persist-credentials."""
    inputs = step.get("with", {})
    target = runner.checkout / inputs.get("path", ".")
    target.mkdir(parents=True, exist_ok=True)
    ref = runner.substitute(str(inputs.get("ref", "refs/heads/main")))
    _git("init", "-q", cwd=target)
    _git("remote", "add", "origin", str(origin), cwd=target)
    _git("config", "reconciler-test.token", GIT_CONFIG_CANARY, cwd=target)
    _git("fetch", "-q", "--depth=1", "origin", ref, cwd=target)
    if "sparse-checkout" in inputs:
        cone = inputs.get("sparse-checkout-cone-mode", True) is not False
        patterns = str(inputs["sparse-checkout"]).split()
        _git("sparse-checkout", "set", "--cone" if cone else "--no-cone", *patterns, cwd=target)
    _git("checkout", "-q", "-f", "FETCH_HEAD", cwd=target)
    if inputs.get("persist-credentials", True) is not False:
        _git("config", "http.extraheader", f"AUTHORIZATION: basic {GIT_CONFIG_CANARY}", cwd=target)


def _stand_in_upload(runner: WorkflowRunner, step: dict[str, Any], run: JobRun) -> None:
    for line in str(step["with"]["path"]).split():
        path = runner.checkout / line
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.is_file() else []
        for file in files:
            run.artifact[str(file.relative_to(runner.checkout))] = file.read_bytes()


def _stand_in_comment(runner: WorkflowRunner, run: JobRun) -> None:
    """actions/github-script posting plan-md/plan-N.md as the sticky comment."""
    directory = runner.checkout / "plan-md"
    if directory.is_dir():
        run.comments += [file.read_text(encoding="utf-8") for file in sorted(directory.glob("plan-*.md"))]


def run_plan_job(runner: WorkflowRunner, origin: Path) -> JobRun:
    run = JobRun()
    for step in runner.job["steps"]:
        uses = str(step.get("uses", ""))
        if uses.startswith("actions/checkout@"):
            _stand_in_checkout(runner, step, origin)
        elif uses.startswith("actions/upload-artifact@"):
            _stand_in_upload(runner, step, run)
        elif uses.startswith("actions/github-script@"):
            _stand_in_comment(runner, run)
        elif uses:
            continue  # setup-python: the test's interpreter stands in
        elif "pip install" in step["run"]:
            continue  # installing main's code: the runner's `reconciler` shim stands in
        else:
            result = runner.run_step(step)
            run.outputs.append(f"--- {step.get('name')} (exit {result.returncode})\n{result.output}")
    return run


ATTACKS = ["code", "environ-nicks-file", "symlinked-buyers-file", "gateway-variable", "app-key-variable",
           "campaigns-is-a-link", "credentials-file", "project-file", "template-git-config", "all-at-once"]


# What the job says instead: each attack reached the check meant for it.
EXPECTED = {
    "code": ["Plan: 1 to create", "Wrote the plan checksum to checksum.txt (signed)"],
    "environ-nicks-file": ["buyers file refused: '/proc/self/environ' is an absolute path"],
    "symlinked-buyers-file": ["buyers file refused: 'buyers.txt' is a link to a place outside"],
    "gateway-variable": ["spec.env.gateway names the environment variable RECONCILER_WEBHOOK_URL, which does not start"],
    "app-key-variable": ["spec.env.app_key names the environment variable RECONCILER_PLAN_SIGNING_KEY"],
    "campaigns-is-a-link": ["campaigns/ of the pull request is not a directory"],
    "credentials-file": ["RECONCILER_CREDENTIALS_FILE (the path of the credentials file) is not set"],
    "project-file": ["code 26 no session for shop 'demo-shop'"],  # the token file of CI's choosing: none
    "template-git-config": ["'.git/config' is a hidden file", "'../.git/config' goes up with '..'",
                            "'link/config' is a link to a place outside"],
    "all-at-once": ["'.git/config' is a hidden file"],  # template problems stop the load first
}


def _attacked_run(workflow: str, attack: str, sandbox: Sandbox, tmp_path: Path, receiver: Receiver) -> tuple[JobRun, Path]:  # noqa: F811
    """Run `workflow`'s plan job on the pull request of `attack`: what it published, and where
    executed files of the pull request would have left their mark."""
    marker = tmp_path / "executed"
    marker.mkdir()
    origin = _origin(tmp_path, _attacks(marker)[attack])
    workspace = tmp_path / "runner" / "work"
    workspace.mkdir(parents=True)
    canaries = {
        "secrets.TOP_APP_KEY": DEMO_APP_KEY,
        "secrets.TOP_APP_SECRET": DEMO_APP_SECRET,
        "secrets.TOP_SESSION": DEMO_SESSION,
        "secrets.ALIMAMA_APP_KEY": DEMO_ALIMAMA_APP_KEY,
        "secrets.ALIMAMA_APP_SECRET": DEMO_ALIMAMA_APP_SECRET,
        "secrets.RECONCILER_WEBHOOK_URL": receiver.url,
        "secrets.RECONCILER_PLAN_SIGNING_KEY": SIGNING_KEY_CANARY,
    }
    contexts = {
        **canaries,
        "secrets.RECONCILER_STATE": str(tmp_path / "state.db"),
        "github.server_url": "https://github.com",
        "github.repository": "shop/campaigns",
        "github.event.pull_request.number": PR_NUMBER,
        "github.event.pull_request.head.sha": HEAD_SHA,
        "github.token": "canary-github-token-unused",
        "runner.temp": str(tmp_path / "runner"),
    }
    base_env = {"TOP_GATEWAY": sandbox.gateway, "TOP_QPS": "1000", "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_REPOSITORY": "shop/campaigns", "GITHUB_RUN_ID": "7", "RUNNER_TEMP": str(tmp_path / "runner")}
    runner = WorkflowRunner(workflow, workspace, contexts, base_env)
    return run_plan_job(runner, origin), marker


SECRETS = [DEMO_APP_SECRET, DEMO_SESSION, DEMO_ALIMAMA_APP_SECRET, SIGNING_KEY_CANARY, GIT_CONFIG_CANARY]


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_pull_request_reaches_no_secret_and_runs_no_code(
    attack: str, sandbox: Sandbox, tmp_path: Path, receiver: Receiver  # noqa: F811
) -> None:
    run, marker = _attacked_run("plan.yml", attack, sandbox, tmp_path, receiver)

    published = run.published()
    for words in EXPECTED[attack]:
        assert words in published, f"{words!r} not in:\n{published[:6000]}"
    secrets = [DEMO_APP_SECRET, DEMO_SESSION, DEMO_ALIMAMA_APP_SECRET, receiver.url.rsplit("/", 1)[1],
               SIGNING_KEY_CANARY, GIT_CONFIG_CANARY]
    leaked = [secret for secret in secrets if secret in published]
    assert not leaked, f"{leaked} published:\n{published[:6000]}"
    assert sorted(os.listdir(marker)) == [], "a file of the pull request was executed"
    assert "/proc/self/environ is not valid JSON" not in published  # never even opened
    # Nothing left for a host the pull request chose; the webhook got at most an alert.
    for _, target, body in receiver.requests:
        sent = f"{target} {body.decode('utf-8', 'replace')}"
        assert not any(secret in sent for secret in secrets[:3]), sent[:500]
        assert "method=" not in sent and "sign=" not in sent, sent[:500]
    # A variable the manifest chose was not sent as a credential to TOP either.
    assert SIGNING_KEY_CANARY not in str(sandbox.calls())
    assert all(call["method"] for call in sandbox.calls())  # the sandbox stayed readable
    assert sandbox.writes() == []


def test_the_attack_succeeds_against_the_plan_job_before_issue_16(
    sandbox: Sandbox, tmp_path: Path, receiver: Receiver  # noqa: F811
) -> None:
    """The test has teeth: on the old plan.yml (sparse checkout in cone mode, `python3 -c` run
    inside the pull request's files) the root json.py ran and the secrets reached the artifact."""
    old = REPO / "tests" / "fixtures" / "workflows" / "plan-before-issue-16.yml"
    run, marker = _attacked_run(str(old), "code", sandbox, tmp_path, receiver)
    assert "json.py" in os.listdir(marker)
    assert any(secret in run.artifact.get("checksum.txt", b"").decode() for secret in SECRETS)
