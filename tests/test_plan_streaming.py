"""A big plan is hashed and printed piece by piece, never as one string: the checksum and the text
are exactly those of the whole plan at once."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import click
import pytest

from reconciler.cli import _echo_lines, _echo_pieces
from reconciler.engine.codec import change_to_data, dumps
from reconciler.engine.render import json_pieces, render_json, render_text, text_lines
from reconciler.engine.saved import plan_checksum
from reconciler.model import (
    Action,
    Call,
    Change,
    Plan,
    Ref,
    ResourceKey,
    SetLink,
    SetRecordEntry,
    SourceRef,
)


def _change(name: str, items: int) -> Change:
    new_id = Ref(f"{name}.id")
    activity = {"activity_id": new_id}
    calls = [Call("create", {"param": {"name": name, "rate": Decimal("0.6")}}, binds={new_id.name: "data"},
                  effects=(SetLink(new_id, {"items": {}}),))]
    for index in range(items):
        item = {"sku_code": f"69{index:011d}", "fix_price": 4490}
        calls.append(Call("additem", {"param0": item, "param1": activity},
                          effects=(SetRecordEntry("items", item["sku_code"], item),)))
    key = ResourceKey("demo-shop", "ItemPoolActivity", name)
    return Change(key, Action.CREATE, tuple(calls), reason="新 pool", source=SourceRef("pools.yaml", 3))


PLANS = [
    Plan(changes=()),
    Plan(changes=(_change("a", 0),)),
    Plan(changes=(_change("a", 3), _change("b", 250), _change("c", 1)), warnings=("w",), notes=("n",)),
]


@pytest.mark.parametrize("plan", PLANS)
def test_checksum_is_the_digest_of_the_whole_plan_as_json(plan: Plan) -> None:
    """Of the changes as JSON without their words (reason, details: the reader's language)."""
    whole = dumps([{name: value for name, value in change_to_data(change).items() if name not in ("reason", "details")}
                   for change in plan.changes])
    assert plan_checksum(plan) == "sha256:" + hashlib.sha256(whole.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("plan", PLANS)
def test_the_plan_printed_line_by_line_is_the_plan_text(plan: Plan, capsys: pytest.CaptureFixture[str]) -> None:
    click.echo(render_text(plan))
    whole = capsys.readouterr().out
    _echo_lines(text_lines(plan))
    assert capsys.readouterr().out == whole
    assert whole.count("additem") == sum(len(change.calls) - 1 for change in plan.changes)


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("batch", [1, 2, 70, 1 << 16])
def test_the_json_plan_printed_in_pieces_is_the_json_plan(
    plan: Plan, batch: int, capsys: pytest.CaptureFixture[str]
) -> None:
    _echo_pieces(json_pieces(plan), batch=batch)
    assert capsys.readouterr().out == render_json(plan)
    _echo_pieces((line + "\n" for line in text_lines(plan)), batch=batch)
    assert capsys.readouterr().out == render_text(plan) + "\n"
