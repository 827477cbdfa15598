"""Two applies on one shop never interleave: the second waits for the first's lock, then plans
against what the first did (so it has nothing left to send); with too short a --lock-timeout it
gives up naming the shop, having sent nothing. With SQLite and with a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import httpx
import pytest

from reconciler.state import open_store
from tests.conftest import REPO, Sandbox, Workspace
from tests.pinned_clock import python_command
from tests.test_e2e_item_pool import ADD, CREATE, methods, pool

# Each gateway call waits this long in the sandbox, so the first apply is still running when the
# second one starts.
LATENCY_SECONDS = 0.05


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_workspace(request: pytest.FixtureRequest, workspace: Workspace) -> Workspace:
    if request.param == "postgresql":
        workspace.env["RECONCILER_STATE"] = request.getfixturevalue("postgres_url")
    return workspace


def _start_apply(workspace: Workspace, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, **workspace.env, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        python_command("-m", "reconciler", "apply", str(workspace.campaigns), "--auto-approve", *extra),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=workspace.root,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout + stderr


def _pools(count: int, items: int) -> str:
    return "---\n".join(pool(f"pool-{i}", skus=[f"{i}{n:03d}" for n in range(items)]) for i in range(count))


def test_second_apply_waits_and_nothing_interleaves(shared_workspace: Workspace, sandbox: Sandbox) -> None:
    workspace = shared_workspace
    workspace.write("pools.yaml", _pools(count=3, items=6))
    httpx.post(f"{sandbox.server.url}/_sandbox/faults", json={"latency": LATENCY_SECONDS}).raise_for_status()

    # Both start at once; whichever takes the lock first applies, the other waits for it.
    processes = [_start_apply(workspace), _start_apply(workspace)]
    results = [_finish(process) for process in processes]

    assert [code for code, _ in results] == [0, 0], results
    waited = [out for _, out in results if "waiting up to 60 s for shop demo-shop: another apply holds its lock" in out]
    assert len(waited) == 1, results
    assert "No changes" in waited[0]  # it planned after the first had finished
    assert methods(sandbox.writes()) == {CREATE: 3, ADD: 18}  # each write sent exactly once

    with open_store(workspace.env) as store:
        runs = [entry.run_id for entry in store.journal()]
    assert len(set(runs)) == 1 and len(runs) == 21  # one run wrote; the other had nothing left


def test_apply_gives_up_after_the_lock_timeout_naming_the_shop(shared_workspace: Workspace, sandbox: Sandbox) -> None:
    workspace = shared_workspace
    workspace.write("pools.yaml", pool("fresh"))
    with open_store(workspace.env) as holder, holder.lock("demo-shop", timeout=5):
        started = time.monotonic()
        refused = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--lock-timeout", "0.5")
        waited = time.monotonic() - started
    assert refused.exit_code == 1
    assert "error: shop demo-shop is locked by another apply (reconciler pid" in refused.output
    assert "--lock-timeout" in refused.output
    assert waited >= 0.5
    assert sandbox.writes() == []

    after = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--lock-timeout", "0.5")
    assert after.exit_code == 0, after.output  # released with its holder


def test_plan_takes_no_lock(shared_workspace: Workspace, sandbox: Sandbox) -> None:
    workspace = shared_workspace
    workspace.write("pools.yaml", pool("fresh"))
    with open_store(workspace.env) as holder, holder.lock("demo-shop", timeout=5):
        planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 0, planned.output


@pytest.mark.parametrize("command", ["state rm", "journal resolve", "import"])
def test_state_edits_wait_for_an_apply_of_the_shop(shared_workspace: Workspace, sandbox: Sandbox, command: str) -> None:
    """import, journal resolve and state rm change the rows an apply of the shop reads and writes:
    they wait for its lock instead of editing under it."""
    workspace = shared_workspace
    workspace.write("pools.yaml", pool("fresh"))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    with open_store(workspace.env) as store:
        link = store.links()[0]
        if command == "state rm":
            arguments = ["state", "rm", str(link.key)]
        elif command == "journal resolve":  # an open write of that shop, as a killed apply leaves
            entry_id = store.journal_sent("run-x", link.key, CREATE, {}, {})
            arguments = ["journal", "resolve", str(entry_id), "--not-applied"]
        else:
            store.remove(link.key)
            arguments = ["import", "ItemPoolActivity", "fresh", link.remote_id, str(workspace.campaigns)]

    holding = threading.Event()

    def hold_for_a_second() -> None:
        with open_store(workspace.env) as holder, holder.lock("demo-shop", timeout=5):
            holding.set()
            time.sleep(1.0)

    holder_thread = threading.Thread(target=hold_for_a_second)
    holder_thread.start()
    holding.wait(5)
    started = time.monotonic()
    result = workspace.run(*arguments)
    waited = time.monotonic() - started
    holder_thread.join()
    assert result.exit_code == 0, result.output
    assert "waiting up to 60 s for shop demo-shop" in result.output
    assert waited >= 0.9
