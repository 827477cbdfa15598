"""Crash safety: `reconciler apply` is killed with SIGKILL (a separate process) at many points of
an apply; the next runs settle the journal, follow the advice the tool prints, and converge with
no duplicate object on the sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import httpx
import pytest

from tests.conftest import Sandbox, Workspace
from tests.pinned_clock import python_command
from tests.fault_tools import activities_on_top, pool, set_faults

NAMES = ["crash-a", "crash-b", "crash-c"]
SKUS = {name: [f"{index}{n:03d}" for n in range(4)] for index, name in enumerate(NAMES, start=1)}
TOTAL_WRITES = len(NAMES) * (1 + 4)


def _writes_received(sandbox: Sandbox) -> int:
    return sum(1 for call in sandbox.calls() if not call["method"].endswith(("queryactivity", "queryitems")))


def _apply_and_kill(workspace: Workspace, sandbox: Sandbox, after_writes: int) -> None:
    env = {**os.environ, **workspace.env}
    process = subprocess.Popen(
        python_command("-m", "reconciler", "apply", str(workspace.campaigns), "--auto-approve", "--parallelism", "1"),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while _writes_received(sandbox) < after_writes and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # A request already on the wire is still handled by the sandbox after the client died (as on
    # TOP). Look at the shop only once that has settled, like an operator checking the console.
    time.sleep(0.5)


def _converge(workspace: Workspace, sandbox: Sandbox) -> None:
    """Run apply like an operator would: when it stops on a write TOP cannot tell about, look on
    the sandbox (the seller console) and import or resolve, as the message says."""
    for _ in range(6):
        result = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
        plan = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
        if result.exit_code == 0 and plan.exit_code == 0:
            return
        assert "journal resolve" in result.output or "import ItemPoolActivity" in result.output, (
            result.output + "\n--- plan after it:\n" + plan.output + "\n--- journal:\n" + workspace.run("journal", "list").output
        )
        for line in workspace.run("journal", "list", "--open").output.strip().splitlines():
            entry_id, _, address, method = line.split("\t")[:4]
            name = address.rsplit("/", 1)[1]
            on_top = activities_on_top(sandbox).get(name)
            if method.endswith("activity.create") and on_top:
                imported = workspace.run("import", "ItemPoolActivity", name, str(on_top["id"]), str(workspace.campaigns))
                assert imported.exit_code == 0, imported.output
            else:
                resolved = workspace.run("journal", "resolve", entry_id, "--not-applied")
                assert resolved.exit_code == 0, resolved.output
    pytest.fail("apply did not converge after the crash")


@pytest.mark.parametrize("after_writes", [1, 2, 3, 5, 6, 8, 11, 13, TOTAL_WRITES])
def test_apply_killed_at_any_point_converges_without_duplicates(
    workspace: Workspace, sandbox: Sandbox, after_writes: int
) -> None:
    set_faults(sandbox, latency=0.02)  # calls take a moment, so the kill lands mid-apply
    workspace.write("pools.yaml", "---\n".join(pool(name, skus=SKUS[name]) for name in NAMES))

    _apply_and_kill(workspace, sandbox, after_writes)
    _converge(workspace, sandbox)

    live = activities_on_top(sandbox)  # raises if two live activities carry one out_act_id
    assert set(live) == set(NAMES)
    for name in NAMES:
        assert live[name]["skus"] == sorted(SKUS[name])
    assert workspace.run("journal", "list", "--open").output.strip() == ""


def test_killed_during_an_item_change_converges(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", pool("crash-a", skus=SKUS["crash-a"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    target = [f"9{n:03d}" for n in range(10)]
    workspace.write("pools.yaml", pool("crash-a", skus=target))
    set_faults(sandbox, latency=0.02)
    httpx.post(f"{sandbox.server.url}/_sandbox/calls/clear").raise_for_status()

    _apply_and_kill(workspace, sandbox, after_writes=7)
    _converge(workspace, sandbox)
    assert activities_on_top(sandbox)["crash-a"]["skus"] == sorted(target)
    removes = [json.loads(c["params"]["param0"])["sku_code"] for c in sandbox.calls()
               if c["method"].endswith("removeitem") and c["ok"]]
    assert sorted(removes) == sorted(SKUS["crash-a"])  # each removed exactly once
