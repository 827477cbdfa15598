"""FullDiscount (满就送): manifest → wire units (the unit traps), problems, update vs replace, recovery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import ManifestError
from reconciler.kinds import KINDS
from reconciler.kinds.base import NormaliseContext, PlanContext
from reconciler.kinds.promotionmisc import RANGE_ADD
from reconciler.manifest import load_manifests
from reconciler.model import Action, Link, Resource
from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION
from reconciler.top import Credentials, TopClient
from tests.conftest import REPO, Sandbox

NOW = datetime(2027, 1, 1, tzinfo=timezone.utc)
KIND = KINDS["FullDiscount"]
ADD = "taobao.promotionmisc.mjs.activity.add"
UPDATE = "taobao.promotionmisc.mjs.activity.update"
DELETE = "taobao.promotionmisc.mjs.activity.delete"


def manifest(
    when: str = '{amount_at_least: "199.00"}',
    reward: str = '{decrease: "20.00"}',
    level: str = "shop",
    items: str = "all",
    extra: str = "",
) -> str:
    return f"""\
apiVersion: campaigns/v1
kind: FullDiscount
metadata:
  name: d11
  shop: demo-shop
spec:
  title: 满199减20
  level: {level}
  window: {{start: "2027-11-01T00:00:00+08:00", end: "2027-11-12T00:00:00+08:00"}}
  when: {when}
  reward: {reward}
  items: {items}
{extra}"""


def normalise(tmp_path: Path, text: str) -> Resource:
    (tmp_path / "shops.yaml").write_text((REPO / "campaigns" / "shops.yaml").read_text(encoding="utf-8"))
    (tmp_path / "d11.yaml").write_text(text, encoding="utf-8")
    (document,) = load_manifests([str(tmp_path)]).documents
    return KIND.normalise(document, NormaliseContext(now=NOW))


def activity(tmp_path: Path, text: str) -> dict[str, Any]:
    return dict(normalise(tmp_path, text).spec["activity"])


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        normalise(tmp_path, text)
    return [str(problem) for problem in caught.value.problems]


# ---- unit traps ---------------------------------------------------------------------------------


def test_threshold_and_decrease_are_fen(tmp_path: Path) -> None:
    wire = activity(tmp_path, manifest(when='{amount_at_least: "199.90"}', reward='{decrease: "0.29"}'))
    assert (wire["is_amount_over"], wire["total_price"]) == (True, 19990)  # 10000 = 100 yuan, says the page
    assert (wire["is_decrease_money"], wire["decrease_amount"]) == (True, 29)  # not 28: no float anywhere
    assert "item_count" not in wire and "is_item_count_over" not in wire


def test_rate_is_800_for_8_zhe(tmp_path: Path) -> None:
    wire = activity(tmp_path, manifest(reward="{rate: 0.95}"))
    assert (wire["is_discount"], wire["discount_rate"]) == (True, 950)


def test_count_threshold_is_a_plain_count(tmp_path: Path) -> None:
    wire = activity(tmp_path, manifest(when="{count_at_least: 3}", extra="  no_ceiling: true\n"))
    assert (wire["is_item_count_over"], wire["item_count"], wire["is_item_multiple"]) == (True, 3, True)
    assert "is_amount_multiple" not in wire


def test_no_ceiling_on_an_amount(tmp_path: Path) -> None:
    assert activity(tmp_path, manifest(extra="  no_ceiling: true\n"))["is_amount_multiple"] is True


def test_times_are_top_dates_in_gmt8(tmp_path: Path) -> None:
    wire = activity(tmp_path, manifest())
    assert (wire["start_time"], wire["end_time"]) == ("2027-11-01 00:00:00", "2027-11-12 00:00:00")


@pytest.mark.parametrize(("level", "wire"), [("item", 1), ("shop", 2)])
def test_level_is_type(tmp_path: Path, level: str, wire: int) -> None:
    assert activity(tmp_path, manifest(level=level))["type"] == wire


@pytest.mark.parametrize(
    ("members", "wire"), [("customer", 0), ("normal", 1), ("advanced", 2), ("vip", 3), ("supreme_vip", 4)]
)
def test_member_levels(tmp_path: Path, members: str, wire: int) -> None:
    wire_activity = activity(tmp_path, manifest(extra=f"  members: {members}\n"))
    assert (wire_activity["is_shop_member"], wire_activity["shop_member_level"]) == (True, wire)


def test_gift_and_free_shipping_with_excluded_areas(tmp_path: Path) -> None:
    reward = '{gift: {name: 茶杯, item_id: "600000000999"}, free_shipping: {except_areas: ["650000", "540000"]}}'
    wire = activity(tmp_path, manifest(reward=reward))
    assert (wire["is_send_gift"], wire["gift_name"], wire["gift_id"]) == (True, "茶杯", 600000000999)
    assert (wire["is_free_post"], wire["exclude_area"]) == (True, "650000*540000")  # '*'-joined, says the page


def test_free_shipping_everywhere(tmp_path: Path) -> None:
    wire = activity(tmp_path, manifest(reward="{free_shipping: true}"))
    assert wire["is_free_post"] is True and "exclude_area" not in wire


# ---- problems -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (manifest(reward='{decrease: "20.00", rate: 0.9}'), "spec.reward"),
        (manifest(reward="{}"), "spec.reward"),
        (manifest(when='{amount_at_least: "199.00", count_at_least: 2}'), "spec.when"),
        (manifest(when='{amount_at_least: 199}'), "spec.when.amount_at_least"),
        (manifest(level="order"), "spec.level"),
        (manifest(extra="  members: gold\n"), "spec.members"),
        (manifest(reward='{free_shipping: {except_areas: ["65"]}}'), "spec.reward.free_shipping.except_areas[0]"),
        (manifest(reward="{gift: {item_id: \"6000\"}}"), "spec.reward.gift.name"),
    ],
)
def test_schema_refuses(tmp_path: Path, text: str, where: str) -> None:
    found = problems(tmp_path, text)
    assert any(f" {where}:" in p for p in found), found


def test_a_decrease_as_large_as_the_threshold_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, manifest(when='{amount_at_least: "20.00"}', reward='{decrease: "20.00"}'))
    assert any("d11.yaml:11" in p and "spec.reward.decrease" in p and "free" in p for p in found), found


def test_no_ceiling_with_a_rate_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, manifest(reward="{rate: 0.9}", extra="  no_ceiling: true\n"))
    assert any("spec.no_ceiling" in p for p in found), found


# ---- update in place, replace only for type -------------------------------------------------------


def ctx() -> PlanContext:
    return PlanContext(shop="demo-shop", now=NOW, desired={}, links={})


def live_of(resource: Resource, **changes: Any) -> dict[str, Any]:
    fields = {"activity_id": 20001, "description": "满199.00元，减20.00元"}
    fields.update(resource.spec["activity"])
    fields.update(changes)
    return {"activity": fields, "items": list(resource.spec["items"])}


def link_for(resource: Resource) -> Link:
    return Link(resource.key, "20001", {"activity": dict(resource.spec["activity"])})


def test_unchanged_is_no_change(tmp_path: Path) -> None:
    desired = normalise(tmp_path, manifest())
    assert KIND.plan_change(desired, link_for(desired), live_of(desired, is_send_gift=False), ctx()) is None


def test_a_changed_reward_is_one_update_without_type(tmp_path: Path) -> None:
    before = normalise(tmp_path, manifest())
    desired = normalise(tmp_path, manifest(reward='{decrease: "30.00", free_shipping: true}'))
    change = KIND.plan_change(desired, link_for(before), live_of(before), ctx())
    assert change is not None and change.action is Action.UPDATE
    (call,) = change.calls
    assert call.method == UPDATE and "type" not in call.params  # update has no type parameter
    assert call.params["decrease_amount"] == 3000 and call.params["is_free_post"] is True
    assert "decrease_amount: 20.00元 → 30.00元" in change.details


def test_a_changed_level_is_a_replace_that_says_why(tmp_path: Path) -> None:
    before = normalise(tmp_path, manifest(items='["6001", "6002"]'))
    desired = normalise(tmp_path, manifest(level="item", items='["6001", "6002"]'))
    change = KIND.plan_change(desired, link_for(before), live_of(before), ctx())
    assert change is not None and change.action is Action.REPLACE
    assert [call.method for call in change.calls] == [DELETE, ADD, RANGE_ADD]
    assert "cannot change type" in change.reason and "deleted first" in change.reason


# ---- recovery (against the sandbox) ---------------------------------------------------------------


@pytest.fixture
def top(sandbox: Sandbox) -> Iterator[TopClient]:
    with TopClient(Credentials(DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, sandbox.gateway)) as client:
        yield client


def test_recover_a_lost_add_and_update(tmp_path: Path, top: TopClient) -> None:
    params = activity(tmp_path, manifest(extra="  no_ceiling: true\n"))
    assert KIND.recover(top, ADD, params) is None
    top.call(ADD, {**params, "type": 1})  # same fields, other level: not the lost one
    activity_id = top.call(ADD, params)["activity_id"]
    assert KIND.recover(top, ADD, params) == {"is_success": True, "activity_id": activity_id}

    update = {"activity_id": activity_id, **{k: v for k, v in params.items() if k != "type"}, "decrease_amount": 2500}
    assert KIND.recover(top, UPDATE, update) is None
    top.call(UPDATE, update)
    assert KIND.recover(top, UPDATE, update) == {"is_success": True}
