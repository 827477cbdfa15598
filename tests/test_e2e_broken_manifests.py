"""Broken manifests: a clear error naming file, line and field, no traceback, and no call to TOP."""

from __future__ import annotations

import pytest

from tests.conftest import Sandbox, Workspace

GOOD = """\
apiVersion: campaigns/v1
kind: ItemPoolActivity
metadata:
  name: fresh
  shop: demo-shop
spec:
  title: 满30减12
  description: broken-manifest tests
  window: {start: "2027-06-18T00:00:00+08:00", end: "2027-06-21T00:00:00+08:00"}
  shop_ids: ["1001"]
  terminals: [app]
  logic_groups:
    - {number: 1}
  stairs:
    - when: {amount_at_least: "30.00"}
      discount: {decrease: "12.00"}
  items:
    - {sku: "1001", group: 1}
    - {sku: "1002"}
"""

# (name, text replaced, replacement, expected line, words the message must contain)
BROKEN = [
    ("bad yaml", "  shop_ids: [\"1001\"]", "  shop_ids: [\"1001\"", 11, ["YAML syntax error", "flow sequence at line 10"]),
    ("unknown field", "  terminals: [app]", "  terminals: [app]\n  colour: red", 12, ["unknown field 'colour'"]),
    ("missing stairs", "  stairs:\n    - when: {amount_at_least: \"30.00\"}\n      discount: {decrease: \"12.00\"}\n", "", 6, ["stairs"]),
    ("empty stairs", "  stairs:\n    - when: {amount_at_least: \"30.00\"}\n      discount: {decrease: \"12.00\"}\n", "  stairs: []\n", 14, ["at least one stair"]),
    ("negative money", 'decrease: "12.00"', 'decrease: "-1.00"', 16, ["spec.stairs[0].discount.decrease", "yuan"]),
    ("three decimals", 'decrease: "12.00"', 'decrease: "12.345"', 16, ["12.345", "two decimals"]),
    ("end before start", 'end: "2027-06-21T00:00:00+08:00"', 'end: "2027-06-01T00:00:00+08:00"', 9, ["spec.window.end", "after start"]),
    ("rate too precise", 'discount: {decrease: "12.00"}', "discount: {rate: 0.6001}", 16, ["three decimals"]),
    ("rate above 1", 'discount: {decrease: "12.00"}', "discount: {rate: 1.2}", 16, ["rate"]),
    ("unknown weekday", "  terminals: [app]", "  terminals: [app]\n  period: {weekdays: [funday]}", 12, ["funday"]),
    ("duplicate sku", '    - {sku: "1002"}', '    - {sku: "1001"}', 19, ["listed twice"]),
    ("unknown group", '{sku: "1001", group: 1}', '{sku: "1001", group: 7}', 18, ["logic group 7"]),
    ("unknown shop", "  shop: demo-shop", "  shop: nowhere", 5, ["unknown shop 'nowhere'"]),
    ("no offset", '{start: "2027-06-18T00:00:00+08:00"', '{start: "2027-06-18T00:00:00"', 9, ["spec.window.start"]),
]


@pytest.mark.parametrize(("label", "old", "new", "line", "words"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_manifest_names_the_place_and_calls_nothing(
    workspace: Workspace, sandbox: Sandbox, label: str, old: str, new: str, line: int, words: list[str]
) -> None:
    assert old in GOOD, label
    path = workspace.write("pool.yaml", GOOD.replace(old, new))
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        result = workspace.run(*command, str(workspace.campaigns))
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert f"{path}:{line}:" in result.output, result.output
        for word in words:
            assert word in result.output, result.output
    assert sandbox.calls() == []


def test_duplicate_name_across_files_names_both(workspace: Workspace, sandbox: Sandbox) -> None:
    first = workspace.write("a.yaml", GOOD)
    second = workspace.write("b.yaml", GOOD)
    result = workspace.run("plan", str(workspace.campaigns))
    assert result.exit_code == 1
    assert f"{second}:4:" in result.output and f"first declared at {first}:1" in result.output
    assert sandbox.calls() == []


def test_every_problem_is_reported_at_once(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("a.yaml", GOOD.replace('decrease: "12.00"', 'decrease: "1.001"'))
    workspace.write("b.yaml", GOOD.replace("name: fresh", "name: other").replace("[app]", "[app, kiosk]"))
    result = workspace.run("validate", str(workspace.campaigns))
    assert result.exit_code == 1
    assert "2 problem(s)" in result.output
    assert sandbox.calls() == []
