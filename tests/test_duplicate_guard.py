"""The duplicate guard (engine/duplicates.py): a create the state store does not know of is blocked
while TOP holds an unmanaged object with exactly its content — the store of another directory,
or a lost one — and the import commands that adopt them are printed and work."""

from __future__ import annotations

import re
import shlex
from collections import Counter

from tests.conftest import Sandbox, Workspace
from tests.test_e2e_coupons import coupon
from tests.test_e2e_discounts import known_items  # noqa: F401  (an autouse fixture)
from tests.test_e2e_discounts import full_discount, item_discount

IMPORT_COMMAND = re.compile(r"`(reconciler import [^`]+)`")


def _applied_then_store_lost(workspace: Workspace, sandbox: Sandbox) -> None:
    """Apply with one store, then point at an empty one: what TOP holds is now unmanaged."""
    workspace.write("coupons.yaml", coupon("welcome-10"))
    workspace.write("discounts.yaml", item_discount("tea") + "---\n" + full_discount("d11"))
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    workspace.env["RECONCILER_STATE"] = str(workspace.root / "empty-state.db")
    sandbox.clear_calls()


def test_creates_identical_to_unmanaged_objects_are_blocked_and_the_imports_work(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    _applied_then_store_lost(workspace, sandbox)
    for command in ("plan", "apply"):
        blocked = workspace.run(command, str(workspace.campaigns), "--auto-approve" if command == "apply" else "--json")
        assert blocked.exit_code == 1, blocked.output
        assert sandbox.writes() == []
    commands = IMPORT_COMMAND.findall(blocked.stderr)
    assert sorted(shlex.split(c)[2] for c in commands) == ["FullDiscount", "ItemDiscount", "ShopCoupon"]
    assert all(shlex.split(c)[-1] == str(workspace.campaigns) for c in commands)
    assert "--allow-duplicates" in blocked.stderr

    for command in commands:
        imported = workspace.run(*shlex.split(command)[1:])
        assert imported.exit_code == 0, imported.output
    planned = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert planned.exit_code == 0, planned.output
    assert sandbox.writes() == []


def test_allow_duplicates_creates_them_anyway(workspace: Workspace, sandbox: Sandbox) -> None:
    _applied_then_store_lost(workspace, sandbox)
    planned = workspace.run("plan", str(workspace.campaigns), "--allow-duplicates", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--allow-duplicates")
    assert applied.exit_code == 0, applied.output
    sent = Counter(call["method"] for call in sandbox.writes())
    assert sent["taobao.promotion.coupon.add"] == 1
    assert sent["taobao.promotionmisc.item.activity.add"] == 1
    assert sent["taobao.promotionmisc.mjs.activity.add"] == 1


def test_a_create_that_differs_is_not_blocked(workspace: Workspace, sandbox: Sandbox) -> None:
    _applied_then_store_lost(workspace, sandbox)
    workspace.write("coupons.yaml", coupon("welcome-10", denomination="20.00"))
    workspace.write("discounts.yaml", item_discount("tea", rate="0.8") + "---\n" + full_discount("d11", decrease="30.00"))
    planned = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "reconciler import" not in planned.stderr
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output


def test_an_item_discount_on_other_items_is_not_a_duplicate(workspace: Workspace, sandbox: Sandbox) -> None:
    _applied_then_store_lost(workspace, sandbox)
    workspace.write("discounts.yaml", item_discount("tea", items=["1001", "1002"]) + "---\n" + full_discount("d11"))
    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 1, planned.output
    blocked = {shlex.split(c)[2] for c in IMPORT_COMMAND.findall(planned.stderr)}
    assert blocked == {"ShopCoupon", "FullDiscount"}  # same title, window and rate, but other items


def test_a_saved_plan_is_guarded_again_when_applied(workspace: Workspace, sandbox: Sandbox) -> None:
    _applied_then_store_lost(workspace, sandbox)
    saved = str(workspace.root / "plan.json")
    planned = workspace.run("plan", str(workspace.campaigns), "--out", saved)
    assert planned.exit_code == 1 and len(IMPORT_COMMAND.findall(planned.stderr)) == 3, planned.output
    refused = workspace.run("apply", saved, "--auto-approve")
    assert refused.exit_code == 1 and "--allow-duplicates" in refused.stderr, refused.output
    assert sandbox.writes() == []
    applied = workspace.run("apply", saved, "--auto-approve", "--allow-duplicates")
    assert applied.exit_code == 0, applied.output
    assert len(sandbox.writes()) > 0
