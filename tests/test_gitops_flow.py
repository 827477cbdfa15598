"""The GitOps flow as CI runs it: the workflows' own `run:` steps, in order, against the sandbox
and a shared state store (SQLite and a real PostgreSQL). A pull request is planned (read-only,
markdown comment, checksum kept); after the merge, apply applies exactly the reviewed plan, or
refuses and alerts when the merged result plans differently; the scheduled reconcile reports
drift, applies everything else, and leaves the drifted object for a person."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.state import open_store
from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION
from tests.conftest import REPO, Sandbox, Workspace
from tests.test_alerts_metrics import Receiver, receiver  # noqa: F401  (fixture)
from tests.test_e2e_item_pool import ADD, CREATE, REMOVE, _sandbox_call, methods, pool
from tests.test_e2e_plan_apply import _many
from tests.test_trust_boundary import _git
from tests.workflow_runner import WorkflowRunner

SIGNING_KEY = "plan-signing-key-of-both-environments"
HEAD_SHA = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2"
MERGE_SHA = "f0e1d2c3b4a5f0e1d2c3b4a5f0e1d2c3b4a5f0e1"

Runner = Callable[..., WorkflowRunner]


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "shared-state.db")


# The slower scenarios run with the store a team's CI uses.
team_store = pytest.mark.parametrize("state_url", ["postgresql"], indirect=True)


@pytest.fixture
def runner(workspace: Workspace, state_url: str, receiver: Receiver) -> Runner:  # noqa: F811
    """A runner for one workflow in one checkout, with the repository's secrets set. The
    workspace shares its state store, for setting the scene in-process."""
    workspace.env["RECONCILER_STATE"] = state_url

    def make(workflow: str, checkout: Path, job: str | None = None) -> WorkflowRunner:
        contexts = {
            "secrets.TOP_APP_KEY": DEMO_APP_KEY,
            "secrets.TOP_APP_SECRET": DEMO_APP_SECRET,
            "secrets.TOP_SESSION": DEMO_SESSION,
            "secrets.RECONCILER_STATE": state_url,
            "secrets.RECONCILER_WEBHOOK_URL": receiver.url,
            "secrets.RECONCILER_PLAN_SIGNING_KEY": SIGNING_KEY,
            "github.server_url": "https://github.com",
            "github.repository": "shop/campaigns",
            "github.event.pull_request.head.sha": HEAD_SHA,
            "github.sha": MERGE_SHA,
            "github.run_id": "7",
            "runner.temp": str(checkout.parent),
        }
        base_env = {"TOP_GATEWAY": workspace.env["TOP_GATEWAY"], "GITHUB_SERVER_URL": "https://github.com",
                    "GITHUB_REPOSITORY": "shop/campaigns", "GITHUB_RUN_ID": "7", "GITHUB_SHA": MERGE_SHA}
        return WorkflowRunner(workflow, checkout, contexts, base_env, job)

    return make


def _checkout(root: Path, name: str, manifests: dict[str, str]) -> Path:
    """A working copy of main at some commit: the workflows' scripts and campaigns/."""
    checkout = root / name
    (checkout / "campaigns").mkdir(parents=True)
    shutil.copytree(REPO / ".github", checkout / ".github")
    _write_manifests(checkout / "campaigns", manifests)
    return checkout


def _pull_request(root: Path, manifests: dict[str, str]) -> Path:
    """What plan.yml works in: main's code, with the pull request's campaigns/ (merged) extracted
    over main's (tests/test_trust_boundary.py runs that extraction from a real git repository)."""
    checkout = root / "pr-run"
    shutil.copytree(REPO / ".github", checkout / ".github")
    (checkout / "campaigns").mkdir(parents=True)
    _write_manifests(checkout / "campaigns", manifests)
    return checkout


def _write_manifests(campaigns: Path, manifests: dict[str, str]) -> None:
    shutil.copy(REPO / "campaigns" / "shops.yaml", campaigns / "shops.yaml")
    for file, text in manifests.items():
        (campaigns / file).write_text(text, encoding="utf-8")


def _plan_pull_request(runner: Runner, checkout: Path) -> WorkflowRunner:
    plan = runner("plan.yml", checkout)
    for step in ("Validate", "Plan", "Explain a run that made no plan"):
        result = plan.run(step)
        assert result.returncode == 0, f"{step}:\n{result.output}"
    return plan


def _download_reviewed_plan(pr_checkout: Path, main_checkout: Path) -> None:
    """What apply's `gh run download` of the artifact plan-<head sha> leaves behind."""
    reviewed = main_checkout / "reviewed"
    reviewed.mkdir()
    for name in ("plan.json", "checksum.txt"):
        shutil.copy(pr_checkout / name, reviewed / name)


def test_reviewed_plan_is_applied_on_merge(runner: Runner, sandbox: Sandbox, tmp_path: Path, state_url: str) -> None:
    manifests = {"pools.yaml": pool("fresh", skus=["1001", "1002"]) + "---\n" + pool("dairy", skus=["2001"])}
    pr = _pull_request(tmp_path, manifests)

    plan = _plan_pull_request(runner, pr)
    assert plan.step_outputs["plan"]["exit_code"] == "2"  # changes planned
    assert sandbox.writes() == []  # planning wrote nothing
    checksum, signature = (pr / "checksum.txt").read_text().split()
    assert checksum.startswith("sha256:") and checksum == json.loads((pr / "plan.json").read_text())["checksum"]
    assert signature.startswith("hmac-sha256:")
    comment = (pr / "plan-md" / "plan-1.md").read_text()
    assert f"Plan checksum: `{checksum}`" in comment and "2 to create" in comment
    assert f"https://github.com/shop/campaigns/blob/{HEAD_SHA}/" in comment

    main = _checkout(tmp_path, "main", manifests)
    _download_reviewed_plan(pr, main)
    apply = runner("apply.yml", main)
    applied = apply.run("Apply the reviewed plan")
    assert applied.returncode == 0, applied.output
    assert methods(sandbox.writes()) == {CREATE: 2, ADD: 3}
    log = (main / "apply.log").read_text()
    assert log.startswith("project: ") and "\nshop demo-shop:\n" in log  # the header, then the plan
    with open_store({"RECONCILER_STATE": state_url}) as store:  # what the schedule will reconcile
        assert store.last_revision("apply") == MERGE_SHA

    after = _pull_request(tmp_path / "after", manifests)
    replanned = runner("plan.yml", after)
    assert replanned.run("Plan").returncode == 0
    assert replanned.step_outputs["plan"]["exit_code"] == "0"  # nothing left to do


def test_merged_result_that_plans_differently_is_refused_and_alerted(
    runner: Runner, sandbox: Sandbox, tmp_path: Path, receiver: Receiver  # noqa: F811
) -> None:
    pr = _pull_request(tmp_path, {"pools.yaml": pool("fresh", skus=["1001"])})
    _plan_pull_request(runner, pr)

    # Another pull request merged first: main now also declares `other`.
    main = _checkout(tmp_path, "main", {"pools.yaml": pool("fresh", skus=["1001"]) + "---\n" + pool("other")})
    _download_reviewed_plan(pr, main)
    apply = runner("apply.yml", main)
    refused = apply.run("Apply the reviewed plan")

    assert refused.returncode == 1
    assert "the plan now differs from the reviewed one" in refused.output
    assert "+ demo-shop/ItemPoolActivity/other: planned now, was not in the reviewed plan" in refused.output
    assert sandbox.writes() == []
    [alert] = receiver.alerts()
    assert "apply failed" in alert["text"] and "https://github.com/shop/campaigns/actions/runs/7" in alert["text"]
    assert "differs from the reviewed one" in json.dumps(alert, ensure_ascii=False)

    reported = apply.run("Report the failure")
    assert reported.returncode == 0
    assert "## Apply did not finish" in apply.summary and "differs from the reviewed one" in apply.summary


@team_store
def test_guardrail_block_fails_the_check_after_the_comment(
    runner: Runner, sandbox: Sandbox, tmp_path: Path, workspace: Workspace, receiver: Receiver  # noqa: F811
) -> None:
    main = _checkout(tmp_path, "main", {"pools.yaml": _many(10)})
    assert workspace.run("apply", str(main / "campaigns"), "--auto-approve").exit_code == 0

    pr = _pull_request(tmp_path, {"pools.yaml": _many(10, decrease="15.00")})
    plan = _plan_pull_request(runner, pr)
    assert plan.step_outputs["plan"]["exit_code"] == "1"
    assert "above the 30% threshold" in (pr / "plan-md" / "plan-1.md").read_text()
    assert plan.run("Fail when the plan failed or was blocked").returncode == 1
    assert any("guardrail block" in alert["text"] for alert in receiver.alerts())


@team_store
def test_invalid_manifests_get_a_comment_saying_why(runner: Runner, sandbox: Sandbox, tmp_path: Path) -> None:
    pr = _pull_request(tmp_path, {"pools.yaml": pool("fresh").replace("terminals: [app, pos]", "terminals: [fax]")})
    plan = runner("plan.yml", pr)
    assert plan.run("Validate").returncode == 1
    assert plan.run("Explain a run that made no plan").returncode == 0
    comment = (pr / "plan-md" / "plan-1.md").read_text()
    assert "No plan could be made" in comment and "pools.yaml:" in comment and "terminals" in comment


@team_store
def test_scheduled_reconcile_applies_only_what_is_due_for_the_revision_last_applied(
    runner: Runner, sandbox: Sandbox, tmp_path: Path, workspace: Workspace, receiver: Receiver  # noqa: F811
) -> None:
    """The schedule never applies what nobody reviewed: it reconciles the revision apply.yml applied
    last (`apply --revision`), alerts when main holds more, reports drift and leaves it for a person."""
    main = _checkout(tmp_path, "main", {"pools.yaml": pool("fresh", skus=["1001"]) + "---\n" + pool("dairy", skus=["2001"])})
    _git("init", "-q", "-b", "main", cwd=main)
    _git("add", "-A", cwd=main)
    _git("commit", "-q", "-m", "r1", cwd=main)
    r1 = _git("rev-parse", "HEAD", cwd=main).strip()
    # apply.yml applied r1, but only part of it (`fresh`) before it stopped: `dairy` is still due for r1.
    applied = workspace.run("apply", str(main / "campaigns"), "--auto-approve", "--target", "ItemPoolActivity/fresh",
                            "--revision", r1)
    assert applied.exit_code == 0, applied.output
    assert workspace.run("state", "revision").output.strip() == r1
    # Someone adds an item to `fresh` in the seller console; a later merge to main adds an item to
    # `dairy` whose apply never ran (refused, cancelled, or pushed directly).
    shown = workspace.run("state", "show", "demo-shop/ItemPoolActivity/fresh")
    fresh_id = int(json.loads(shown.output)["remote_id"])
    _sandbox_call(workspace, ADD, {"param0": {"sku_code": "7777"}, "param1": {"activity_id": fresh_id}})
    later = pool("fresh", skus=["1001"]) + "---\n" + pool("dairy", skus=["2001", "2002"])
    (main / "campaigns" / "pools.yaml").write_text(later, encoding="utf-8")
    _git("commit", "-q", "-am", "r2", cwd=main)
    sandbox.clear_calls()

    revision = runner("reconcile.yml", main, "revision")
    found = revision.run("Find the revision apply.yml applied last")
    assert found.returncode == 0, found.output
    assert revision.step_outputs["revision"] == {"sha": r1, "unapplied": "true"}
    assert "main holds reviewed changes that apply.yml has not applied" in found.output
    assert revision.run("Alert that main holds changes apply.yml did not apply").returncode == 0
    assert any("holds changes apply.yml has not applied" in alert["text"] for alert in receiver.alerts())

    _git("checkout", "-q", r1, cwd=main)  # the reconcile job checks out needs.revision.outputs.sha
    reconcile = runner("reconcile.yml", main, "reconcile")
    drift = reconcile.run("Report drift made outside git")
    assert drift.returncode == 0, drift.output
    assert reconcile.step_outputs["drift"]["exit_code"] == "2"
    assert [d["address"] for d in json.loads((main / "drift.json").read_text())["drift"]] == [
        "demo-shop/ItemPoolActivity/fresh"
    ]
    rest = reconcile.run("Apply what time changed")
    assert rest.returncode == 0, rest.output
    # dairy as r1 has it (its create and 2001); not r2's 2002, and not the console's 7777.
    assert methods(sandbox.writes()) == {CREATE: 1, ADD: 1}
    assert "2002" not in json.dumps(sandbox.writes())
    assert reconcile.run("Fail while drift is unresolved").returncode == 1

    # A person decides to undo the console change: run by hand with revert_drift.
    sandbox.clear_calls()
    revert = runner("reconcile.yml", main, "reconcile")
    revert.contexts["inputs.revert_drift"] = "true"
    assert revert.run("Report drift made outside git").returncode == 0
    assert revert.run("Apply what time changed").returncode == 0
    assert methods(sandbox.writes()) == {REMOVE: 1}
    assert runner("reconcile.yml", main, "reconcile").run("Report drift made outside git").returncode == 0

    # Once apply.yml applies main, the schedule follows it and stops alerting.
    _git("checkout", "-q", "main", cwd=main)
    head = _git("rev-parse", "HEAD", cwd=main).strip()
    assert workspace.run("apply", str(main / "campaigns"), "--auto-approve", "--revision", head).exit_code == 0
    again = runner("reconcile.yml", main, "revision")
    assert again.run("Find the revision apply.yml applied last").returncode == 0
    assert again.step_outputs["revision"] == {"sha": head}


def test_apply_refuses_a_checksum_file_the_plan_job_did_not_sign(runner: Runner, sandbox: Sandbox, tmp_path: Path) -> None:
    manifests = {"pools.yaml": pool("fresh", skus=["1001"])}
    pr = _pull_request(tmp_path, manifests)
    _plan_pull_request(runner, pr)
    main = _checkout(tmp_path, "main", manifests)
    _download_reviewed_plan(pr, main)
    checksum, _ = (main / "reviewed" / "checksum.txt").read_text().split()
    for forged in (f"{checksum}\n", f"{checksum}\nhmac-sha256:{'0' * 64}\n"):
        (main / "reviewed" / "checksum.txt").write_text(forged)
        refused = runner("apply.yml", main).run("Apply the reviewed plan")
        assert refused.returncode == 1
        assert "not a signed checksum file" in refused.output or "does not verify" in refused.output
    assert sandbox.writes() == []
