"""TaokeCashGift without TOP: the unit traps of tlj.create (yuan strings, GMT+8 times, whole days)
and what the plan does with a gift that changed, stopped, ended or was removed."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from reconciler.errors import ManifestError, PlanError, TopPermanentError
from reconciler.kinds import KINDS
from reconciler.kinds.base import LiveState, NormaliseContext, PlanContext
from reconciler.kinds.taoke_cash_gift import CREATE, STOP, claimed_percent, describe_figures
from reconciler.kinds.units import UnitError, gmt8_day, parse_date, yuan_text
from reconciler.manifest import load_manifest_texts
from reconciler.model import Action, DropLink, Link, Resource, ResourceKey, SetLink, SetRecordEntry

KIND = KINDS["TaokeCashGift"]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
TAOKE = "{env: {app_key: ALIMAMA_APP_KEY, app_secret: ALIMAMA_APP_SECRET}, adzone_id: 110550999999}"
SHOP = f"apiVersion: campaigns/v1\nkind: Shop\nmetadata: {{name: demo-shop}}\nspec:\n  taoke: {TAOKE}\n"


def manifest(**spec: str) -> str:
    fields = {
        "title": "零食礼金5元",
        "item_id": '"220000000123"',
        "adzone_id": "110550123456",
        "per_face": '"5.00"',
        "total": "1000",
        "per_user": "1",
        "send_window": '{start: "2027-06-18T00:00:00+08:00", end: "2027-06-21T00:00:00+08:00"}',
        "use": "{days: 3}",
        **spec,
    }
    body = "\n".join(f"  {key}: {value}" for key, value in fields.items())
    return f"apiVersion: campaigns/v1\nkind: TaokeCashGift\nmetadata: {{name: gift, shop: demo-shop}}\nspec:\n{body}\n"


def normalise(text: str, now: datetime = NOW, shop: str = SHOP) -> Resource:
    manifests = load_manifest_texts([("shops.yaml", shop), ("gift.yaml", text)])
    (doc,) = manifests.documents
    return KIND.normalise(doc, NormaliseContext(now=now, shops=manifests.shops))


def params(**spec: str) -> dict[str, Any]:
    return dict(normalise(manifest(**spec)).spec["params"])


def problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        normalise(text)
    return [str(p) for p in caught.value.problems]


# ---- unit traps ------------------------------------------------------------------------------


def test_unit_helpers_for_tlj() -> None:
    assert yuan_text("5") == "5.00" and yuan_text(Decimal("0.1")) == "0.10"
    with pytest.raises(UnitError):
        yuan_text("5.005")
    assert parse_date("2027-06-18") == date(2027, 6, 18)
    for bad in ("20270618", "2027-W24-5", "2027-6-18", "2027-02-30"):
        with pytest.raises(UnitError):
            parse_date(bad)
    # 16:00 UTC is already the next day in GMT+8.
    assert gmt8_day(datetime(2027, 6, 17, 16, 0, tzinfo=timezone.utc)) == date(2027, 6, 18)
    assert gmt8_day(datetime(2027, 6, 17, 15, 59, tzinfo=timezone.utc)) == date(2027, 6, 17)


@pytest.mark.parametrize(("written", "wire"), [('"5.00"', "5.00"), ('"5"', "5.00"), ('"0.1"', "0.10"), ('"12.34"', "12.34")])
def test_per_face_is_a_yuan_string_with_two_decimals(written: str, wire: str) -> None:
    assert params(per_face=written)["per_face"] == wire  # yuan, not fen: 5.00 stays "5.00", never 500


def test_per_face_of_zero_or_three_decimals_is_refused() -> None:
    assert any("more than 0 yuan" in p for p in problems(manifest(per_face='"0"')))
    assert any("spec.per_face" in p for p in problems(manifest(per_face='"5.005"')))
    assert any("spec.per_face" in p for p in problems(manifest(per_face="5.00")))  # a YAML number, not a string


def test_send_times_are_gmt8_wall_clock_whatever_offset_was_written() -> None:
    wire = params(send_window='{start: "2027-06-17T16:00:00Z", end: "2027-06-20T18:30:00-05:30"}')
    assert wire["send_start_time"] == "2027-06-18 00:00:00"
    assert wire["send_end_time"] == "2027-06-21 08:00:00"


def test_send_window_without_end_sends_no_end() -> None:
    resource = normalise(manifest(send_window='{start: "2027-06-18T00:00:00+08:00"}'))
    assert "send_end_time" not in resource.spec["params"] and resource.spec["send_end_ms"] is None


def test_relative_use_is_days_as_text_and_no_start() -> None:
    wire = params(use="{days: 7}")
    assert (wire["use_end_time_mode"], wire["use_end_time"]) == (1, "7")
    assert "use_start_time" not in wire


def test_absolute_use_is_whole_days() -> None:
    wire = params(use='{from: "2027-06-18", until: "2027-06-25"}')
    assert (wire["use_end_time_mode"], wire["use_start_time"], wire["use_end_time"]) == (2, "2027-06-18", "2027-06-25")


def test_use_days_beyond_seven_are_refused_by_the_schema() -> None:
    (problem,) = problems(manifest(use="{days: 8}"))
    assert "gift.yaml:" in problem and "spec.use" in problem


def test_use_that_ends_before_issuing_starts_is_judged_in_gmt8() -> None:
    # Issuing starts 2027-06-18 01:00 in GMT+8 (still the 17th in UTC): gifts usable until the
    # 17th would be dead on arrival.
    text = manifest(send_window='{start: "2027-06-17T17:00:00Z"}', use='{from: "2027-06-10", until: "2027-06-17"}')
    assert any("before issuing starts on 2027-06-18" in p for p in problems(text))


def test_use_until_before_from_and_per_user_above_total() -> None:
    assert any("before from" in p for p in problems(manifest(use='{from: "2027-06-20", until: "2027-06-19"}')))
    assert any("per_user 5 is more than total 3" in p for p in problems(manifest(total="3", per_user="5")))


def test_title_longer_than_ten_characters_names_file_line_and_field() -> None:
    (problem,) = problems(manifest(title="一二三四五六七八九十一"))
    assert problem.startswith("gift.yaml:") and "spec.title" in problem and "10 characters" in problem


def test_required_switches_are_always_sent() -> None:
    wire = params()
    assert wire["security_switch"] is True and wire["security_level"] == 0


# ---- planning --------------------------------------------------------------------------------------


def ctx(resource: Resource | None, link: Link | None, now: datetime = NOW) -> PlanContext:
    key = ResourceKey("demo-shop", "TaokeCashGift", "gift")
    return PlanContext(
        shop="demo-shop",
        now=now,
        desired={key: resource} if resource else {},
        links={key: link} if link else {},
    )


def linked(resource: Resource, *, stopped: bool = False, **changes: Any) -> Link:
    record = {
        "params": {**resource.spec["params"], **changes},
        "send_end_ms": resource.spec["send_end_ms"],
        "status": {"stopped": True} if stopped else {},
    }
    return Link(resource.key, "tlj-old", record)


def test_an_unchanged_gift_plans_nothing() -> None:
    resource = normalise(manifest())
    link = linked(resource)
    assert KIND.plan_change(resource, link, {"rights_id": "tlj-old"}, ctx(resource, link)) is None


def test_a_changed_gift_is_stopped_then_created_again() -> None:
    resource = normalise(manifest(per_face='"6.00"'))
    link = linked(resource, per_face="5.00")
    change = KIND.plan_change(resource, link, {}, ctx(resource, link))
    assert change is not None and change.action is Action.REPLACE
    assert [call.method for call in change.calls] == [STOP, CREATE]
    assert change.calls[0].params == {"rights_id": "tlj-old", "adzone_id": 110550123456}
    assert "per_face: 5.00 yuan → 6.00 yuan" in change.details
    assert "already claimed stay usable" in change.reason


def test_a_stopped_gift_is_never_stopped_twice() -> None:
    resource = normalise(manifest(per_face='"6.00"'))
    link = linked(resource, stopped=True, per_face="5.00")
    change = KIND.plan_change(resource, link, {}, ctx(resource, link))
    assert change is not None and [call.method for call in change.calls] == [CREATE]
    assert "was stopped" in change.reason


def test_moving_the_end_into_the_past_stops_without_a_new_gift() -> None:
    resource = normalise(manifest(send_window='{start: "2026-11-01T00:00:00+08:00", end: "2026-11-20T00:00:00+08:00"}'))
    link = linked(resource, send_end_time="2026-11-30 00:00:00")
    change = KIND.plan_change(resource, link, {}, ctx(resource, link))
    assert change is not None and change.action is Action.UPDATE
    assert [call.method for call in change.calls] == [STOP]
    assert change.calls[0].effects == (SetRecordEntry("status", "stopped", True),)


def test_a_gift_past_its_send_end_needs_no_call() -> None:
    resource = normalise(manifest(send_window='{start: "2026-11-01T00:00:00+08:00", end: "2026-11-20T00:00:00+08:00"}'))
    link = linked(resource)
    assert KIND.plan_change(resource, link, {}, ctx(resource, link)) is None


def test_a_new_gift_whose_window_is_over_is_a_plan_error() -> None:
    resource = normalise(manifest(send_window='{start: "2026-11-01T00:00:00+08:00", end: "2026-11-20T00:00:00+08:00"}'))
    plan_ctx = ctx(resource, None)
    change = KIND.plan_change(resource, None, None, plan_ctx)
    assert change is not None
    (error,) = KIND.check_plan([change], LiveState(), plan_ctx)
    assert "send_window.end 2026-11-20 00:00:00 (GMT+8) has passed" in error and "gift.yaml" in error


def test_a_removed_gift_is_stopped_and_forgotten() -> None:
    resource = normalise(manifest())
    link = linked(resource)
    change = KIND.plan_change(None, link, {}, ctx(None, link))
    assert change is not None and change.action is Action.DELETE
    (stop,) = change.calls
    assert stop.method == STOP and stop.effects == (DropLink(),)
    stopped = linked(resource, stopped=True)
    change = KIND.plan_change(None, stopped, {}, ctx(None, stopped))
    assert change is not None and change.calls == () and change.effects == (DropLink(),)


def test_create_binds_the_rights_id_and_records_the_send_url() -> None:
    resource = normalise(manifest())
    change = KIND.plan_change(resource, None, None, ctx(resource, None))
    assert change is not None
    (create,) = change.calls
    assert create.binds == {"demo-shop/TaokeCashGift/gift#id": "result.model.rights_id"}
    answer = {"result": {"success": True, "model": {"rights_id": "tlj1", "send_url": "https://u/x", "vegas_code": "V"}}}
    (effect,) = KIND.effects(create, answer)
    assert isinstance(effect, SetLink)
    assert effect.record["send_url"] == "https://u/x" and effect.record["params"]["per_face"] == "5.00"


# ---- answers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        {"result": {"success": False, "msg_info": "资金不足", "msg_code": "E1"}},
        {"result_success": False, "msg_info": "not yours"},
        {"model": {"update_success": False}, "result_success": True},
    ],
)
def test_a_false_flag_in_the_body_is_a_failed_call(answer: dict[str, Any]) -> None:
    with pytest.raises(TopPermanentError):
        KIND.check_response(STOP, answer)


def test_a_lost_create_is_not_guessed_and_the_error_says_how_to_adopt_it() -> None:
    with pytest.raises(PlanError, match="no Taoke method finds a gift without its rights_id") as caught:
        KIND.recover(object(), CREATE, {"name": "零食礼金5元", "item_id": "1"})  # type: ignore[arg-type]
    assert "reconciler import TaokeCashGift NAME RIGHTS_ID" in str(caught.value)


class Report:
    def __init__(self, **extra: Any) -> None:
        self.extra = extra
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((method, params))
        return {"model": {"extra": self.extra}, "result_success": True}


@pytest.mark.parametrize(
    ("extra", "took_effect"),
    [
        ({"remaining_num": 880, "win_pv": 120, "get_rate": "12.00"}, True),  # unclaimed gifts counted: issuing over
        ({"remaining_num": 0, "win_pv": 120, "get_rate": "12.00"}, False),  # still issuing: send the stop again
        ({"remaining_num": 0, "win_pv": 1000, "get_rate": "100.00"}, True),  # all claimed: nothing left to stop
        ({"remaining_num": 0, "win_pv": 990, "get_rate": "99.00"}, False),  # 99 %: still issuing
        ({"remaining_num": 0, "win_pv": 10, "get_rate": "1"}, False),  # 1 %, never "all" as a fraction 1 would be
    ],
)
def test_a_lost_stop_is_settled_by_the_report(extra: dict[str, Any], took_effect: bool) -> None:
    report = Report(**extra)
    answer = KIND.recover(report, STOP, {"rights_id": "tlj1", "adzone_id": 7})  # type: ignore[arg-type]
    assert (answer is not None) == took_effect
    assert report.calls == [("taobao.tbk.dg.vegas.tlj.report", {"rights_id": "tlj1", "adzone_id": 7})]


def test_figures_read_as_one_line_with_exact_amounts() -> None:
    extra = {"win_pv": 120, "win_sum_amt": "600.00", "use_num": 45, "use_sum_amt": "225.00", "refund_num": 2,
             "remaining_num": 0, "alipay_num": 40, "alipay_amt": "3456.70", "get_rate": "12.00"}
    assert describe_figures(extra, 1000) == (
        "figures (tlj.report): claimed 120 of 1000 (12.00 %, 600.00 yuan), used 45 (225.00 yuan), refunded 2, "
        "left unclaimed 0; 40 paid order(s), 3456.70 yuan"
    )
    del extra["get_rate"]
    assert "claimed 120 of 1000 (600.00 yuan)" in describe_figures(extra, 1000)


@pytest.mark.parametrize(("rate", "percent"), [("1.00", "1"), ("1", "1"), ("99.00", "99"), ("100", "100"),
                                               ("100.00%", "100"), ("", None), (None, None), ("n/a", None)])
def test_get_rate_is_read_as_a_percentage(rate: str | None, percent: str | None) -> None:
    value = claimed_percent({"get_rate": rate})
    assert value == (Decimal(percent) if percent is not None else None)


# ---- the Taoke app of the Shop profile -------------------------------------------------------------


def test_a_gift_without_its_own_adzone_takes_the_profiles() -> None:
    text = manifest().replace("  adzone_id: 110550123456\n", "")
    assert normalise(text).spec["params"]["adzone_id"] == 110550999999
    assert params()["adzone_id"] == 110550123456  # its own wins


def test_a_shop_without_a_taoke_app_is_refused_at_the_gifts_shop_field() -> None:
    bare = "apiVersion: campaigns/v1\nkind: Shop\nmetadata: {name: demo-shop}\nspec: {}\n"
    with pytest.raises(ManifestError) as caught:
        normalise(manifest(), shop=bare)
    (problem,) = [str(p) for p in caught.value.problems]
    assert problem.startswith("gift.yaml:3:") and "metadata.shop" in problem
    assert "'demo-shop' (shops.yaml:1) has no spec.taoke" in problem and "ALIMAMA_APP_KEY" in problem


def test_no_adzone_anywhere_is_refused_at_the_gifts_adzone() -> None:
    no_default = SHOP.replace(", adzone_id: 110550999999", "")
    with pytest.raises(ManifestError) as caught:
        normalise(manifest().replace("  adzone_id: 110550123456\n", ""), shop=no_default)
    (problem,) = [str(p) for p in caught.value.problems]
    assert "spec.adzone_id" in problem and "spec.taoke.adzone_id in the Shop profile (shops.yaml:5)" in problem
