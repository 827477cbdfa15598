"""ItemDiscount: manifest → wire units (the unit traps), problems with file:line, planning, recovery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import ManifestError, PlanError
from reconciler.kinds import KINDS
from reconciler.kinds.base import NormaliseContext, Phase, PlanContext
from reconciler.kinds.promotionmisc import RANGE_ADD, RANGE_ALL_REMOVE, RANGE_REMOVE
from reconciler.manifest import load_manifests
from reconciler.model import Action, Link, Ref, Resource
from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION
from reconciler.top import Credentials, TopClient
from tests.conftest import REPO, Sandbox

NOW = datetime(2027, 1, 1, tzinfo=timezone.utc)
KIND = KINDS["ItemDiscount"]
ADD = "taobao.promotionmisc.item.activity.add"
UPDATE = "taobao.promotionmisc.item.activity.update"
DELETE = "taobao.promotionmisc.item.activity.delete"


def manifest(
    discount: str = "{rate: 0.85}",
    items: str = '["600000000101", "600000000102"]',
    window: str = '{start: "2027-11-01T00:00:00+08:00", end: "2027-11-12T00:00:00+08:00"}',
    extra: str = "",
) -> str:
    return f"""\
apiVersion: campaigns/v1
kind: ItemDiscount
metadata:
  name: tea
  shop: demo-shop
spec:
  title: 茶叶85折
  window: {window}
  discount: {discount}
  items: {items}
{extra}"""


def normalise(tmp_path: Path, text: str, now: datetime = NOW) -> Resource:
    (tmp_path / "shops.yaml").write_text((REPO / "campaigns" / "shops.yaml").read_text(encoding="utf-8"))
    (tmp_path / "tea.yaml").write_text(text, encoding="utf-8")
    (document,) = load_manifests([str(tmp_path)]).documents
    return KIND.normalise(document, NormaliseContext(now=now))


def problems(tmp_path: Path, text: str, now: datetime = NOW) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        normalise(tmp_path, text, now)
    return [str(problem) for problem in caught.value.problems]


# ---- unit traps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "wire"), [("0.85", 850), ("0.8", 800), ("0.1", 100), ("0.955", 955)])
def test_rate_is_sent_as_800_for_8_zhe(tmp_path: Path, rate: str, wire: int) -> None:
    activity = normalise(tmp_path, manifest(discount=f"{{rate: {rate}}}")).spec["activity"]
    assert activity["discount_rate"] == wire and activity["is_discount"] is True
    assert "decrease_amount" not in activity


@pytest.mark.parametrize(("yuan", "fen"), [('"5.00"', 500), ('"0.29"', 29), ('"12.5"', 1250), ('"19.99"', 1999)])
def test_decrease_is_sent_in_fen(tmp_path: Path, yuan: str, fen: int) -> None:
    activity = normalise(tmp_path, manifest(discount=f"{{decrease: {yuan}}}")).spec["activity"]
    assert activity["decrease_amount"] == fen and activity["is_decrease_money"] is True
    assert type(activity["decrease_amount"]) is int


@pytest.mark.parametrize(
    ("start", "wire"),
    [
        ("2027-11-01T00:00:00+08:00", "2027-11-01 00:00:00"),
        ("2027-10-31T16:00:00Z", "2027-11-01 00:00:00"),  # UTC midnight-8h is GMT+8 midnight
        ("2027-11-01T00:00:00+09:00", "2027-10-31 23:00:00"),  # Tokyo midnight is 23:00 in Hangzhou
        ("2027-11-01T00:00+08:00", "2027-11-01 00:00:00"),  # seconds may be left out
    ],
)
def test_times_are_top_dates_in_gmt8(tmp_path: Path, start: str, wire: str) -> None:
    window = f'{{start: "{start}", end: "2027-11-12T00:00:00+08:00"}}'
    activity = normalise(tmp_path, manifest(window=window)).spec["activity"]
    assert activity["start_time"] == wire
    assert activity["end_time"] == "2027-11-12 00:00:00"


def test_items_all_is_the_whole_shop(tmp_path: Path) -> None:
    spec = normalise(tmp_path, manifest(items="all")).spec
    assert spec["activity"]["participate_range"] == 0 and spec["items"] == []


def test_item_ids_are_sorted_numerically(tmp_path: Path) -> None:
    spec = normalise(tmp_path, manifest(items='["900", "1000", "95"]')).spec
    assert spec["activity"]["participate_range"] == 1 and spec["items"] == ["95", "900", "1000"]


def test_user_tag(tmp_path: Path) -> None:
    activity = normalise(tmp_path, manifest(extra="  user_tag: 新客\n")).spec["activity"]
    assert (activity["is_user_tag"], activity["user_tag"]) == (True, "新客")


# ---- problems name file, line and field --------------------------------------------------------


def test_too_precise_amounts_and_rates_are_refused_not_rounded(tmp_path: Path) -> None:
    too_precise = problems(tmp_path, manifest(discount="{rate: 0.8555}"))
    assert any("tea.yaml:9" in p and "spec.discount.rate" in p for p in too_precise)
    assert any("spec.discount.decrease" in p for p in problems(tmp_path, manifest(discount='{decrease: "5.001"}')))
    assert any("more than 0.00" in p for p in problems(tmp_path, manifest(discount='{decrease: "0.00"}')))


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (manifest(discount='{rate: 0.8, decrease: "5.00"}'), "spec.discount"),
        (manifest(discount="{rate: 8}"), "spec.discount.rate"),  # 8折 is 0.8, not 8
        (manifest(discount='{decrease: 5}'), "spec.discount.decrease"),  # yuan as a quoted string
        (manifest().replace("茶叶85折", "茶" * 33), "spec.title"),
        (manifest().replace("茶叶85折", '" 茶叶"'), "spec.title"),  # TOP would trim it: never converges
        (manifest(items="[]"), "spec.items"),
        (manifest(items='["6000", "6000"]'), "spec.items"),
        (manifest(items="[600000000101]"), "spec.items[0]"),  # ids are quoted strings
        (manifest(items="some"), "spec.items"),
        (manifest(items="[" + ", ".join(f'"{600000000000 + n}"' for n in range(151)) + "]"), "spec.items"),
        (manifest(window='{start: "2027-11-01T00:00:00", end: "2027-11-12T00:00:00+08:00"}'), "spec.window.start"),
    ],
)
def test_schema_refuses(tmp_path: Path, text: str, where: str) -> None:
    assert any(f" {where}:" in p for p in problems(tmp_path, text)), problems(tmp_path, text)


def test_a_backwards_window_is_refused_and_one_that_is_over_is_only_ended(tmp_path: Path) -> None:
    backwards = '{start: "2027-11-12T00:00:00+08:00", end: "2027-11-01T00:00:00+08:00"}'
    assert any("must be after start" in p for p in problems(tmp_path, manifest(window=backwards)))
    # Time moves while the file stays: a window that is over is the plan's business (Kind.phase).
    late = datetime(2028, 1, 1, tzinfo=timezone.utc)
    resource = normalise(tmp_path, manifest(), now=late)
    moments = {late: Phase.ENDED, datetime(2027, 11, 5, tzinfo=timezone.utc): Phase.LIVE,
               datetime(2027, 1, 1, tzinfo=timezone.utc): Phase.NOT_STARTED}
    for moment, phase in moments.items():
        context = PlanContext(shop="demo-shop", now=moment, desired={resource.key: resource}, links={})
        assert KIND.phase(resource, context) is phase, moment


# ---- planning (pure) ----------------------------------------------------------------------------


def ctx() -> PlanContext:
    return PlanContext(shop="demo-shop", now=NOW, desired={}, links={})


def link_for(resource: Resource, record: dict[str, Any] | None = None) -> Link:
    return Link(resource.key, "20001", record if record is not None else {"activity": dict(resource.spec["activity"])})


def live_of(resource: Resource, items: list[str] | None = None, **changes: Any) -> dict[str, Any]:
    activity = {"activity_id": 20001, "description": "打8.5折", "is_user_tag": False, "is_decrease_money": False}
    activity.update(resource.spec["activity"])
    activity.update(changes)
    return {"activity": activity, "items": list(resource.spec["items"]) if items is None else items}


def ids(first: int, count: int) -> list[str]:
    return [str(600000000000 + n) for n in range(first, first + count)]


def test_create_is_add_then_range_batches_of_50(tmp_path: Path) -> None:
    items = "[" + ", ".join(f'"{i}"' for i in ids(1, 120)) + "]"
    desired = normalise(tmp_path, manifest(items=items))
    change = KIND.plan_change(desired, None, None, ctx())
    assert change is not None and change.action is Action.CREATE
    assert [call.method for call in change.calls] == [ADD, RANGE_ADD, RANGE_ADD, RANGE_ADD]
    assert [len(call.params["ids"].split(",")) for call in change.calls[1:]] == [50, 50, 20]
    assert all(isinstance(call.params["activity_id"], Ref) for call in change.calls[1:])
    assert change.calls[0].binds == {"demo-shop/ItemDiscount/tea#id": "activity_id"}


def test_unchanged_is_no_change(tmp_path: Path) -> None:
    desired = normalise(tmp_path, manifest())
    # TOP answers numbers as it likes (ints or Decimals) and adds fields of its own: still equal.
    assert KIND.plan_change(desired, link_for(desired), live_of(desired), ctx()) is None


def test_changed_rate_is_one_update_with_every_field(tmp_path: Path) -> None:
    desired = normalise(tmp_path, manifest(discount="{rate: 0.7}"))
    before = normalise(tmp_path, manifest())
    change = KIND.plan_change(desired, link_for(before), live_of(before), ctx())
    assert change is not None and change.action is Action.UPDATE
    (call,) = change.calls
    assert call.method == UPDATE
    assert call.params == {"activity_id": 20001, **desired.spec["activity"]}
    assert change.details == ("discount_rate: 8.5折 → 7折",)
    assert "the manifest changed" in change.reason and "in place" in change.reason


def test_a_change_made_on_top_is_reported_as_drift(tmp_path: Path) -> None:
    desired = normalise(tmp_path, manifest())
    change = KIND.plan_change(desired, link_for(desired), live_of(desired, discount_rate=900), ctx())
    assert change is not None and "changed outside the reconciler" in change.reason


def test_switching_rate_to_decrease_turns_the_old_value_off(tmp_path: Path) -> None:
    desired = normalise(tmp_path, manifest(discount='{decrease: "5.00"}'))
    before = normalise(tmp_path, manifest())
    change = KIND.plan_change(desired, link_for(before), live_of(before), ctx())
    assert change is not None
    assert set(change.details) == {
        "is_decrease_money: False → True",
        "decrease_amount: (absent) → 5.00元",
        "is_discount: True → False",
        "discount_rate: 8.5折 → (absent)",
    }


def test_range_delta_plus_3_minus_2_is_one_remove_and_one_add(tmp_path: Path) -> None:
    desired = normalise(tmp_path, manifest(items='["1", "3", "5", "6", "7"]'))
    change = KIND.plan_change(desired, link_for(desired), live_of(desired, items=["1", "2", "3", "4"]), ctx())
    assert change is not None and change.action is Action.UPDATE
    assert [(call.method, call.params["ids"]) for call in change.calls] == [(RANGE_REMOVE, "2,4"), (RANGE_ADD, "5,6,7")]
    assert change.details == ("- item 2", "- item 4", "+ item 5", "+ item 6", "+ item 7")


def test_removing_everything_beyond_one_batch_is_one_all_remove(tmp_path: Path) -> None:
    desired = normalise(tmp_path, manifest(items="all"))
    before = normalise(tmp_path, manifest())
    change = KIND.plan_change(desired, link_for(before), live_of(before, items=ids(1, 120)), ctx())
    assert change is not None
    # Remove while the activity is still partial, then make it whole-shop.
    assert [call.method for call in change.calls] == [RANGE_ALL_REMOVE, UPDATE]


def test_removing_a_few_names_them(tmp_path: Path) -> None:
    desired = normalise(tmp_path, manifest(items="all"))
    before = normalise(tmp_path, manifest())
    change = KIND.plan_change(desired, link_for(before), live_of(before, items=ids(1, 2)), ctx())
    assert change is not None
    assert [call.method for call in change.calls] == [RANGE_REMOVE, UPDATE]


def test_whole_shop_to_items_updates_before_adding(tmp_path: Path) -> None:
    desired = normalise(tmp_path, manifest())
    before = normalise(tmp_path, manifest(items="all"))
    change = KIND.plan_change(desired, link_for(before), live_of(before), ctx())
    assert change is not None
    assert [call.method for call in change.calls] == [UPDATE, RANGE_ADD]


def test_gone_on_top_is_created_again_and_removed_manifest_is_deleted(tmp_path: Path) -> None:
    desired = normalise(tmp_path, manifest())
    again = KIND.plan_change(desired, link_for(desired), None, ctx())
    assert again is not None and again.action is Action.CREATE and "gone on TOP" in again.reason
    delete = KIND.plan_change(None, link_for(desired), live_of(desired), ctx())
    assert delete is not None and [call.method for call in delete.calls] == [DELETE]
    forget = KIND.plan_change(None, link_for(desired), None, ctx())
    assert forget is not None and forget.calls == () and forget.effects


# ---- recovering a write whose answer was lost (against the sandbox over HTTP) ----------------------


@pytest.fixture
def top(sandbox: Sandbox) -> Iterator[TopClient]:
    with TopClient(Credentials(DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, sandbox.gateway)) as client:
        yield client


def test_recover_finds_a_lost_add_by_its_content(tmp_path: Path, top: TopClient) -> None:
    params = dict(normalise(tmp_path, manifest()).spec["activity"])
    assert KIND.recover(top, ADD, params) is None  # nothing on TOP: it certainly did not happen
    top.call(ADD, {**params, "name": "别的活动"})  # a different activity is not mistaken for it
    assert KIND.recover(top, ADD, params) is None
    activity_id = top.call(ADD, params)["activity_id"]
    assert KIND.recover(top, ADD, params) == {"is_success": True, "activity_id": activity_id}
    top.call(ADD, params)  # two identical ones: TOP cannot tell which, so neither is guessed
    with pytest.raises(PlanError, match="import"):
        KIND.recover(top, ADD, params)


def test_recover_update_delete_and_ranges(tmp_path: Path, top: TopClient) -> None:
    params = dict(normalise(tmp_path, manifest()).spec["activity"])
    activity_id = top.call(ADD, params)["activity_id"]
    changed = {"activity_id": activity_id, **params, "discount_rate": 700}
    assert KIND.recover(top, UPDATE, changed) is None
    top.call(UPDATE, changed)
    assert KIND.recover(top, UPDATE, changed) == {"is_success": True}

    batch = {"activity_id": activity_id, "ids": "6001,6002"}
    assert KIND.recover(top, RANGE_ADD, batch) is None
    assert KIND.recover(top, RANGE_REMOVE, batch) == {"is_success": True}
    top.call(RANGE_ADD, batch)
    assert KIND.recover(top, RANGE_ADD, batch) == {"is_success": True}
    assert KIND.recover(top, RANGE_REMOVE, batch) is None
    assert KIND.recover(top, RANGE_ALL_REMOVE, {"activity_id": activity_id}) is None
    with pytest.raises(PlanError, match="only some"):
        KIND.recover(top, RANGE_ADD, {"activity_id": activity_id, "ids": "6002,6003"})

    assert KIND.recover(top, DELETE, {"activity_id": activity_id}) is None
    top.call(DELETE, {"activity_id": activity_id})
    assert KIND.recover(top, DELETE, {"activity_id": activity_id}) == {"is_success": True}


def test_kind_is_registered_with_its_methods() -> None:
    assert KIND.always_read is True
    assert ADD in KIND.write_methods and RANGE_ALL_REMOVE in KIND.write_methods
    assert "taobao.promotionmisc.item.activity.list.get" in KIND.read_methods
