"""`plan` reads while it loads (issue 20.6, engine/reads.py): the kinds whose reads follow from the
state store alone (the item pools) are read while the manifests are still being loaded and
validated, and every kind's reads go at once. Same reads, same plan, same errors; nothing is ever
written, and manifests that are refused stop the reads still to come. Real CLI, sandbox over HTTP."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from reconciler.engine import reconcile
from reconciler.manifest import ManifestSet, profiles_ahead
from tests.conftest import Sandbox, Workspace
from tests.test_e2e_item_pool import pool

QUERY = "alibaba.wdk.marketing.itempool.queryactivity"
QUERY_ITEMS = "alibaba.wdk.marketing.itempool.queryitems"

COUPON = """\
apiVersion: campaigns/v1
kind: ShopCoupon
metadata: {name: welcome, shop: demo-shop}
spec:
  denomination: "5.00"
  order_at_least: "49.00"
  window: {start: "2027-01-01T00:00:00+08:00", end: "2027-03-31T23:59:59+08:00"}
"""


def _reads(calls: Sequence[dict[str, Any]]) -> Counter[str]:
    return Counter(call["method"] for call in calls)


@pytest.fixture
def converged(workspace: Workspace, sandbox: Sandbox) -> Workspace:
    workspace.write("pools.yaml", "---\n".join(pool(f"pool{i}", skus=[str(1001 + i)]) for i in range(6)))
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    sandbox.clear_calls()
    return workspace


def test_pool_reads_go_out_while_the_manifests_load(
    converged: Workspace, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen_while_loading: list[int] = []
    load = reconcile.load_manifests

    def slow_load(paths: list[str]) -> ManifestSet:
        # The loading of a big shop takes seconds; wait here (up to 5 s) for the sandbox to see a pool read.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not _reads(sandbox.calls())[QUERY]:
            time.sleep(0.02)
        seen_while_loading.append(_reads(sandbox.calls())[QUERY])
        return load(paths)

    monkeypatch.setattr(reconcile, "load_manifests", slow_load)
    planned = converged.run("plan", str(converged.campaigns), "--detailed-exitcode")
    assert planned.exit_code == 0, planned.output
    assert seen_while_loading and seen_while_loading[0] > 0  # read before the manifests were loaded


def test_reading_ahead_changes_neither_the_reads_nor_the_plan(
    converged: Workspace, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    converged.write("coupons.yaml", COUPON)
    ahead = converged.run("plan", str(converged.campaigns))
    reads_ahead = _reads(sandbox.calls())
    sandbox.clear_calls()

    monkeypatch.setattr(reconcile, "profiles_ahead", lambda paths: {})  # no profile early: nothing read ahead
    after_loading = converged.run("plan", str(converged.campaigns))
    assert after_loading.exit_code == ahead.exit_code == 0, ahead.output
    assert after_loading.output == ahead.output  # the same plan, the same "N read calls"
    assert _reads(sandbox.calls()) == reads_ahead
    assert reads_ahead[QUERY] == 6 and reads_ahead[QUERY_ITEMS] == 6


def test_refused_manifests_send_nothing_and_stop_the_reads_to_come(converged: Workspace, sandbox: Sandbox) -> None:
    converged.write("broken.yaml", pool("broken").replace("terminals: [app, pos]", "terminals: [teleport]"))
    planned = converged.run("plan", str(converged.campaigns))
    assert planned.exit_code != 0
    assert "broken.yaml:" in planned.output and "terminals" in planned.output  # file, line and field
    assert not sandbox.writes()
    assert set(_reads(sandbox.calls())) <= {QUERY, QUERY_ITEMS}  # only what was read ahead


def test_the_profiles_found_ahead_are_those_of_plain_files_without_problems(workspace: Workspace) -> None:
    assert set(profiles_ahead([str(workspace.campaigns)])) == {"demo-shop"}
    # A Shop file that does not load on its own gives nothing early (the full load reports it).
    workspace.write("shops.yaml", (workspace.campaigns / "shops.yaml").read_text(encoding="utf-8") + "\nnot: [yaml")
    assert profiles_ahead([str(workspace.campaigns)]) == {}
