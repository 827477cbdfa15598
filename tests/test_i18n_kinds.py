"""The kinds' words in Chinese (issue 21.3): lines other code reads back keep working in zh-CN.

engine/drift.py turns a change's range lines around and leaves a kind's "on TOP" lines as they are;
both are made by kinds/wording.py in the run's language, so drift must recognise them in Chinese
too, not only in English. The whole zh-CN demo plan is checked by tests/test_i18n.py; these are the
pieces whose wording something parses, and the seller's terms the plan leans on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from reconciler.engine.drift import on_top
from reconciler.i18n import use_language
from reconciler.kinds.common import which_side_moved
from reconciler.kinds.schedule import describe, schedule_from_spec
from reconciler.kinds.shop_coupon import describe_view
from reconciler.kinds.wording import item_added, item_line, item_removed, items_text
from reconciler.kinds.wording import on_top as on_top_line
from tests.conftest import Sandbox, Workspace
from tests.test_e2e_item_pool import ADD, _sandbox_call, pool


@pytest.fixture
def chinese() -> Iterator[None]:
    use_language("zh-CN")
    try:
        yield
    finally:
        use_language("en")


def test_drift_turns_range_lines_around_in_english() -> None:
    assert on_top(["- item 99", "+ item 7"]) == ["+ item 99 (added on TOP)", "- item 7 (removed on TOP)"]
    assert on_top(["on TOP, not as applied: end: a → b"]) == ["on TOP, not as applied: end: a → b"]


def test_drift_turns_range_lines_around_in_chinese(chinese: None) -> None:
    removed, added = item_removed("99"), item_added("7")
    assert removed == "- 商品 99" and added == "+ 商品 7"
    assert item_line(removed) == ("-", "99") and item_line(added) == ("+", "7")
    assert on_top([removed, added]) == ["+ 商品 99（在 TOP 上被添加）", "- 商品 7（在 TOP 上被移除）"]
    # A kind's own line from TOP's side stays as it is; a field line is turned as in English.
    kept = on_top_line("使用门槛: 210.00元 → 211.00元")
    assert on_top([kept]) == [kept]
    assert on_top(["discount_rate: 8.5折 → 8折"]) == ["discount_rate: 8折 → 8.5折"]


def test_the_seller_terms_in_chinese(chinese: None) -> None:
    coupon = {"denominations": 2000, "condition": 19900, "end_time": "2027-04-30 23:59:59"}
    assert describe_view(coupon) == "满199.00元减20.00元，2027-04-30 23:59:59（GMT+8）结束"
    assert describe_view({**coupon, "condition": 0}).startswith("无门槛减20.00元")
    assert items_text(["1001", "1002"]) == "2 件商品（1001, 1002）"
    assert which_side_moved(True, True) == "配置清单已修改，且 TOP 上的内容与上次应用的不同（在 reconciler 之外被修改）"
    weekend = schedule_from_spec({"weekly": [{"weekdays": ["sat", "sun"], "hours": ["10:00-22:00"]}]})
    assert describe(weekend) == "每周 周六、周日 10:00-22:00（GMT+8）"


def test_the_schedule_words_stay_as_they_were_in_english() -> None:
    spec = {"dates": [["2027-11-01T00:00:00+08:00", "2027-12-01T00:00:00+08:00"]],
            "weekly": [{"weekdays": ["sat", "sun"], "hours": ["10:00-22:00"]}, {"weekdays": ["fri"], "hours": ["20:00-02:00"]}]}
    schedule = schedule_from_spec(spec)
    assert describe(schedule) == str(schedule)
    assert describe(schedule_from_spec({})) == "always" == str(schedule_from_spec({}))


def test_drift_in_chinese_over_real_http(workspace: Workspace, sandbox: Sandbox) -> None:
    """A pool item added in the seller console, read back by `--lang zh-CN drift`: the range line is
    turned into what happened on TOP, in Chinese, and nothing is written."""
    workspace.write("pools.yaml", pool("fresh", skus=["1001", "1002"]))
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    activity_id = int(json.loads(workspace.run("state", "show", "demo-shop/ItemPoolActivity/fresh").output)["remote_id"])
    _sandbox_call(workspace, ADD, {"param0": {"sku_code": "7777"}, "param1": {"activity_id": activity_id}})
    sandbox.clear_calls()

    checked = workspace.run("--lang", "zh-CN", "drift", str(workspace.campaigns))
    assert checked.exit_code == 2, checked.output
    assert "+ 商品 7777（在 TOP 上被添加）" in checked.output, checked.output
    assert "商品池中的商品按增减变更" in checked.output  # the change's reason, in the kind's words
    assert sandbox.writes() == []
