"""References are checked before anything is sent (issue 17.4): an item id a discount names that the
shop does not have fails the plan at its manifest's file:line with the nearest ids the shop has,
read with the paged list calls — never one call per item of the shop."""

from __future__ import annotations

import re
from collections import Counter

from tests.conftest import Sandbox, Workspace
from tests.test_e2e_discounts import full_discount, item_discount

KNOWN = "220000000101"  # in the demo shop's generated catalogue (sandbox/families/items.py)


def test_an_unknown_item_fails_plan_and_apply_at_its_line_with_the_nearest_ids(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    path = workspace.write("discounts.yaml", full_discount() + "---\n" + item_discount(items=[KNOWN, "22000000101"]))
    for command in (("plan",), ("apply", "--auto-approve")):
        result = workspace.run(*command, str(workspace.campaigns))
        assert result.exit_code == 1, result.output
        assert "names items the shop does not have" in result.output, result.output
        assert re.search(rf"{re.escape(str(path))}:\d+: ItemDiscount/tea names item 22000000101", result.output)
        assert f"names item {KNOWN}" not in result.output
        assert "nearest ids the shop has: 2200000" in result.output, result.output
    assert sandbox.writes() == []
    reads = Counter(call["method"] for call in sandbox.calls())
    # A handful of paged reads for the whole catalogue of 2,000 items, not one per item.
    assert reads["taobao.item.seller.get"] <= 2 * 2, reads


def test_known_items_plan_without_a_word(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("discounts.yaml", item_discount(items=[KNOWN, "220000000102"]))
    result = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "does not have" not in result.output
