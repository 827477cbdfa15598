"""The sandbox's taobao.promotionmisc.* methods: the rules of their method pages, as TOP errors.

Contract tests: our TOP client talks to the sandbox over real HTTP on loopback, and each rule
violation must come back as the error_response a caller can act on (code 41 for a malformed
request, code 15 with an isv.* sub_code for a broken business rule).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.errors import TopPermanentError
from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, OTHER_SESSION, SandboxServer
from reconciler.top import Credentials, TopClient
from tests.conftest import Sandbox

ITEM = "taobao.promotionmisc.item.activity"
MJS = "taobao.promotionmisc.mjs.activity"
RANGE = "taobao.promotionmisc.activity.range"
START, END = "2027-11-01 00:00:00", "2027-11-12 00:00:00"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    # One server and one client per shop for the module, the shops emptied before each test:
    # starting servers and TLS-ready HTTP clients per test would dominate the run time.
    with SandboxServer(port=0) as running:
        yield running


@pytest.fixture(scope="module")
def clients(server: SandboxServer) -> Iterator[dict[str, TopClient]]:
    sessions = {"demo": DEMO_SESSION, "other": OTHER_SESSION}
    opened = {name: TopClient(Credentials(DEMO_APP_KEY, DEMO_APP_SECRET, session, server.gateway))
              for name, session in sessions.items()}
    yield opened
    for client in opened.values():
        client.close()


@pytest.fixture(scope="module")
def admin(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as client:
        yield client


@pytest.fixture
def sandbox(server: SandboxServer, admin: httpx.Client) -> Sandbox:
    admin.post("/_sandbox/reset").raise_for_status()
    return Sandbox(server)


@pytest.fixture
def top(sandbox: Sandbox, clients: dict[str, TopClient]) -> TopClient:
    return clients["demo"]


@pytest.fixture
def other_shop(sandbox: Sandbox, clients: dict[str, TopClient]) -> TopClient:
    return clients["other"]


def item_params(**changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": "茶叶85折",
        "participate_range": 1,
        "start_time": START,
        "end_time": END,
        "is_discount": True,
        "discount_rate": 850,
    }
    params.update(changes)
    return {key: value for key, value in params.items() if value is not None}


def mjs_params(**changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": "满199减20",
        "type": 2,
        "participate_range": 0,
        "start_time": START,
        "end_time": END,
        "is_amount_over": True,
        "total_price": 19900,
        "is_decrease_money": True,
        "decrease_amount": 2000,
    }
    params.update(changes)
    return {key: value for key, value in params.items() if value is not None}


def refused(client: TopClient, method: str, params: dict[str, Any]) -> TopPermanentError:
    with pytest.raises(TopPermanentError) as caught:
        client.call(method, params)
    return caught.value


def invalid(client: TopClient, method: str, params: dict[str, Any], field: str) -> None:
    error = refused(client, method, params)
    assert (error.code, error.sub_code) == (41, "isv.invalid-parameter"), error
    assert (error.sub_msg or "").startswith(f"{field}"), error.sub_msg


def missing(client: TopClient, method: str, params: dict[str, Any], field: str) -> None:
    """A required param absent: code 40, as in every family (checked against the page first)."""
    error = refused(client, method, params)
    assert (error.code, error.sub_code) == (40, "isv.missing-parameter"), error
    assert (error.sub_msg or "") == f"{field}: is required", error.sub_msg


def broken_rule(client: TopClient, method: str, params: dict[str, Any], rule: str) -> TopPermanentError:
    error = refused(client, method, params)
    assert (error.code, error.sub_code) == (15, f"isv.{rule}"), error
    return error


NOT_EXIST = "activity-not-exist:activityId"  # TOP's suffix form (the promotionmisc pages)


def add_item_activity(client: TopClient, **changes: Any) -> int:
    return int(client.call(f"{ITEM}.add", item_params(**changes))["activity_id"])


# --------------------------------------------------------------------------- item activities


def test_item_activity_round_trip_keeps_wire_units(top: TopClient) -> None:
    answer = top.call(f"{ITEM}.add", item_params())
    assert answer["is_success"] is True
    got = top.call(f"{ITEM}.get", {"activity_id": answer["activity_id"]})["item_promotion"]
    assert got["discount_rate"] == 850 and got["is_discount"] is True and got["is_decrease_money"] is False
    assert (got["start_time"], got["end_time"]) == (START, END)
    assert got["description"] == "打8.5折"
    assert "decrease_amount" not in got


def test_a_value_without_its_flag_means_nothing_and_is_dropped(top: TopClient) -> None:
    activity_id = add_item_activity(top, decrease_amount=500)  # is_decrease_money not set
    got = top.call(f"{ITEM}.get", {"activity_id": activity_id})["item_promotion"]
    assert "decrease_amount" not in got


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "优" * 33}, "name"),
        ({"participate_range": 2}, "participate_range"),
        ({"start_time": "2027-11-01T00:00:00+08:00"}, "start_time"),  # ISO is not TOP's Date format
        ({"end_time": "1825084800000"}, "end_time"),  # nor epoch ms
        ({"discount_rate": 1000}, "discount_rate"),  # 10折 would be no discount at all
        ({"discount_rate": 0}, "discount_rate"),
        ({"discount_rate": "8.5"}, "discount_rate"),  # 800 = 8折: a yuan-like value is a unit mistake
        ({"is_decrease_money": True, "decrease_amount": 500}, "is_discount"),  # both benefits at once
        ({"is_discount": "yes"}, "is_discount"),
    ],
)
def test_malformed_item_activity_is_code_41_naming_the_field(
    top: TopClient, changes: dict[str, Any], field: str
) -> None:
    invalid(top, f"{ITEM}.add", item_params(**changes), field)


@pytest.mark.parametrize("field", ["name", "participate_range", "start_time", "end_time"])
def test_a_required_item_activity_field_absent_is_code_40(top: TopClient, field: str) -> None:
    missing(top, f"{ITEM}.add", item_params(**{field: None}), field)


def missing_for_flag(client: TopClient, method: str, params: dict[str, Any], field: str, flag: str) -> None:
    """A value its flag needs, absent: code 40 like any missing parameter (issue 18.4: one code)."""
    error = refused(client, method, params)
    assert (error.code, error.sub_code) == (40, "isv.missing-parameter"), error
    assert (error.sub_msg or "") == f"{field}: is required when {flag} is true", error.sub_msg


@pytest.mark.parametrize(
    ("changes", "field", "flag"),
    [
        ({"discount_rate": None}, "discount_rate", "is_discount"),
        ({"is_discount": None, "is_decrease_money": True}, "decrease_amount", "is_decrease_money"),
        ({"is_user_tag": True}, "user_tag", "is_user_tag"),
    ],
)
def test_an_item_activity_value_its_flag_needs_absent_is_code_40(
    top: TopClient, changes: dict[str, Any], field: str, flag: str
) -> None:
    missing_for_flag(top, f"{ITEM}.add", item_params(**changes), field, flag)


def test_a_32_character_name_is_accepted(top: TopClient) -> None:
    assert add_item_activity(top, name="优" * 32) > 0


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"end_time": START}, "invalid-time-range"),
        ({"start_time": "2020-01-01 00:00:00", "end_time": "2020-02-01 00:00:00"}, "invalid-time-range"),
        ({"is_discount": None, "discount_rate": None}, "benefit-missing"),
    ],
)
def test_item_activity_business_rules_are_code_15(top: TopClient, changes: dict[str, Any], rule: str) -> None:
    broken_rule(top, f"{ITEM}.add", item_params(**changes), rule)


def test_update_replaces_every_field(top: TopClient) -> None:
    activity_id = add_item_activity(top, is_user_tag=True, user_tag="vip")
    # The page: unchanged fields must be sent again; one left out is gone.
    top.call(f"{ITEM}.update", {"activity_id": activity_id, **item_params(discount_rate=700)})
    got = top.call(f"{ITEM}.get", {"activity_id": activity_id})["item_promotion"]
    assert got["discount_rate"] == 700
    assert got["is_user_tag"] is False and "user_tag" not in got


def test_update_needs_the_required_fields_too(top: TopClient) -> None:
    activity_id = add_item_activity(top)
    missing(top, f"{ITEM}.update", {"activity_id": activity_id, "discount_rate": 700}, "name")


@pytest.mark.parametrize("method", [f"{ITEM}.get", f"{ITEM}.update", f"{ITEM}.delete", f"{RANGE}.list.get"])
def test_unknown_activity_is_activity_not_exist(top: TopClient, method: str) -> None:
    params = {"activity_id": 999999, **(item_params() if method == f"{ITEM}.update" else {})}
    broken_rule(top, method, params, NOT_EXIST)


def test_another_shops_activity_does_not_exist_for_this_shop(top: TopClient, other_shop: TopClient) -> None:
    activity_id = add_item_activity(top)
    broken_rule(other_shop, f"{ITEM}.get", {"activity_id": activity_id}, NOT_EXIST)
    assert other_shop.call(f"{ITEM}.list.get", {"page_no": 1, "page_size": 50})["total_count"] == 0


def test_an_item_activity_is_not_a_full_discount(top: TopClient) -> None:
    activity_id = add_item_activity(top)
    broken_rule(top, f"{MJS}.get", {"activity_id": activity_id}, NOT_EXIST)


def test_deleted_activity_is_gone(top: TopClient) -> None:
    activity_id = add_item_activity(top)
    assert top.call(f"{ITEM}.delete", {"activity_id": activity_id})["is_success"] is True
    broken_rule(top, f"{ITEM}.get", {"activity_id": activity_id}, NOT_EXIST)
    broken_rule(top, f"{ITEM}.delete", {"activity_id": activity_id}, NOT_EXIST)


def test_list_pages_hold_at_most_50(top: TopClient) -> None:
    ids = [add_item_activity(top, name=f"活动{n}") for n in range(3)]
    first = top.call(f"{ITEM}.list.get", {"page_no": 1, "page_size": 2})
    second = top.call(f"{ITEM}.list.get", {"page_no": 2, "page_size": 2})
    third = top.call(f"{ITEM}.list.get", {"page_no": 3, "page_size": 2})
    assert first["total_count"] == second["total_count"] == 3
    rows = first["item_promotion_list"] + second["item_promotion_list"]  # simplify=true: bare arrays
    assert [row["activity_id"] for row in rows] == ids
    assert set(rows[0]) == {"activity_id", "name", "description", "participate_range", "start_time", "end_time"}
    assert "item_promotion_list" not in third  # an empty list is left out, as TOP does
    invalid(top, f"{ITEM}.list.get", {"page_no": 1, "page_size": 51}, "page_size")
    invalid(top, f"{ITEM}.list.get", {"page_no": 0, "page_size": 10}, "page_no")
    missing(top, f"{ITEM}.list.get", {"page_size": 10}, "page_no")


# --------------------------------------------------------------------------- full discounts (满就送)


def test_full_discount_round_trip(top: TopClient) -> None:
    params = mjs_params(is_free_post=True, exclude_area="650000*540000", is_amount_multiple=True)
    activity_id = top.call(f"{MJS}.add", params)["activity_id"]
    got = top.call(f"{MJS}.get", {"activity_id": activity_id})["mjs_promotion"]
    assert (got["type"], got["total_price"], got["decrease_amount"]) == (2, 19900, 2000)
    assert got["is_amount_multiple"] is True and got["exclude_area"] == "650000*540000"
    assert got["description"] == "满199.00元，上不封顶，减20.00元，包邮"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": 3}, "type"),
        ({"total_price": "199.00"}, "total_price"),  # fen, not yuan
        ({"is_item_count_over": True, "item_count": 3}, "is_item_count_over"),
        ({"is_shop_member": True, "shop_member_level": 5}, "shop_member_level"),
        ({"is_send_gift": True, "gift_name": "赠" * 33}, "gift_name"),
        ({"is_free_post": True, "exclude_area": "650000,540000"}, "exclude_area"),  # joined by *, not ,
        ({"is_discount": True, "discount_rate": 900}, "is_discount"),
    ],
)
def test_malformed_full_discount_is_code_41(top: TopClient, changes: dict[str, Any], field: str) -> None:
    invalid(top, f"{MJS}.add", mjs_params(**changes), field)


@pytest.mark.parametrize(
    ("changes", "field", "flag"),
    [({"total_price": None}, "total_price", "is_amount_over"), ({"is_send_gift": True}, "gift_name", "is_send_gift")],
)
def test_a_full_discount_value_its_flag_needs_absent_is_code_40(
    top: TopClient, changes: dict[str, Any], field: str, flag: str
) -> None:
    missing_for_flag(top, f"{MJS}.add", mjs_params(**changes), field, flag)


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"is_amount_over": None, "total_price": None}, "condition-missing"),
        ({"is_decrease_money": None, "decrease_amount": None}, "benefit-missing"),
        ({"end_time": "2027-10-01 00:00:00"}, "invalid-time-range"),
    ],
)
def test_full_discount_business_rules_are_code_15(top: TopClient, changes: dict[str, Any], rule: str) -> None:
    broken_rule(top, f"{MJS}.add", mjs_params(**changes), rule)


def test_a_gift_alone_is_a_reward(top: TopClient) -> None:
    params = mjs_params(
        is_decrease_money=None, decrease_amount=None, is_send_gift=True, gift_name="茶杯", gift_id=600000000999
    )
    assert top.call(f"{MJS}.add", params)["is_success"] is True


def test_full_discount_add_needs_a_type(top: TopClient) -> None:
    missing(top, f"{MJS}.add", mjs_params(type=None), "type")


def test_full_discount_update_cannot_change_type(top: TopClient) -> None:
    activity_id = top.call(f"{MJS}.add", mjs_params())["activity_id"]
    # update's page has no type: sending one is an unknown parameter, not a silent no-op
    invalid(top, f"{MJS}.update", {"activity_id": activity_id, **mjs_params(type=1)}, "type")
    top.call(f"{MJS}.update", {"activity_id": activity_id, **mjs_params(type=None, decrease_amount=3000)})
    got = top.call(f"{MJS}.get", {"activity_id": activity_id})["mjs_promotion"]
    assert (got["type"], got["decrease_amount"]) == (2, 3000)


def test_full_discount_list_needs_a_type_and_filters_by_it(top: TopClient) -> None:
    shop_level = top.call(f"{MJS}.add", mjs_params())["activity_id"]
    item_level = top.call(f"{MJS}.add", mjs_params(type=1))["activity_id"]
    add_item_activity(top)  # another family: never in the mjs list
    for activity_type, expected in ((1, item_level), (2, shop_level)):
        answer = top.call(f"{MJS}.list.get", {"activity_type": activity_type, "page_no": 1, "page_size": 50})
        assert [row["activity_id"] for row in answer["mjs_promotion_list"]] == [expected]
    missing(top, f"{MJS}.list.get", {"page_no": 1, "page_size": 50}, "activity_type")


# --------------------------------------------------------------------------- ranges


def range_ids(client: TopClient, activity_id: int) -> list[str]:
    answer = client.call(f"{RANGE}.list.get", {"activity_id": activity_id})
    return [str(row["item_id"]) for row in answer.get("promotion_range_list", [])]


def ids(first: int, count: int) -> str:
    return ",".join(str(600000000000 + n) for n in range(first, first + count))


def test_range_add_remove_and_list(top: TopClient) -> None:
    activity_id = add_item_activity(top)
    top.call(f"{RANGE}.add", {"activity_id": activity_id, "ids": ids(1, 4)})
    top.call(f"{RANGE}.remove", {"activity_id": activity_id, "ids": ids(2, 2)})
    assert range_ids(top, activity_id) == ["600000000001", "600000000004"]
    rows = top.call(f"{RANGE}.list.get", {"activity_id": activity_id})["promotion_range_list"]
    assert rows[0] == {"item_id": 600000000001, "activity_id": activity_id, "activity_name": "茶叶85折"}
    top.call(f"{RANGE}.all.remove", {"activity_id": activity_id})
    assert range_ids(top, activity_id) == []


def test_range_takes_at_most_50_ids_per_call(top: TopClient) -> None:
    activity_id = add_item_activity(top)
    top.call(f"{RANGE}.add", {"activity_id": activity_id, "ids": ids(1, 50)})
    invalid(top, f"{RANGE}.add", {"activity_id": activity_id, "ids": ids(100, 51)}, "ids")
    invalid(top, f"{RANGE}.remove", {"activity_id": activity_id, "ids": ids(1, 51)}, "ids")


def test_an_activity_takes_at_most_150_items(top: TopClient) -> None:
    activity_id = add_item_activity(top)
    for first in (1, 51, 101):
        top.call(f"{RANGE}.add", {"activity_id": activity_id, "ids": ids(first, 50)})
    error = broken_rule(top, f"{RANGE}.add", {"activity_id": activity_id, "ids": ids(151, 1)}, "range-limit-exceeded")
    assert "150" in (error.sub_msg or "")


@pytest.mark.parametrize(
    ("given", "field"), [("6000,abc", "ids[1]"), ("6000,6000", "ids"), ("0123", "ids[0]"), ("[6000,6001]", "ids")]
)
def test_malformed_ids_are_code_41(top: TopClient, given: str, field: str) -> None:
    activity_id = add_item_activity(top)
    invalid(top, f"{RANGE}.add", {"activity_id": activity_id, "ids": given}, field)


def test_ids_absent_are_code_40(top: TopClient) -> None:
    missing(top, f"{RANGE}.add", {"activity_id": add_item_activity(top), "ids": ""}, "ids")


def test_range_rules(top: TopClient) -> None:
    activity_id = add_item_activity(top)
    top.call(f"{RANGE}.add", {"activity_id": activity_id, "ids": ids(1, 2)})
    broken_rule(top, f"{RANGE}.add", {"activity_id": activity_id, "ids": ids(2, 2)}, "item-already-in-range")
    broken_rule(top, f"{RANGE}.remove", {"activity_id": activity_id, "ids": ids(2, 2)}, "item-not-in-range")
    assert range_ids(top, activity_id) == ["600000000001", "600000000002"]  # a refused call changes nothing
    whole_shop = add_item_activity(top, participate_range=0)
    broken_rule(top, f"{RANGE}.add", {"activity_id": whole_shop, "ids": ids(1, 1)}, "activity-not-partial")


def test_ranges_work_for_full_discounts_too(top: TopClient) -> None:
    activity_id = top.call(f"{MJS}.add", mjs_params(participate_range=1))["activity_id"]
    top.call(f"{RANGE}.add", {"activity_id": activity_id, "ids": ids(1, 3)})
    assert len(range_ids(top, activity_id)) == 3


def test_update_to_whole_shop_clears_the_range(top: TopClient) -> None:
    activity_id = add_item_activity(top)
    top.call(f"{RANGE}.add", {"activity_id": activity_id, "ids": ids(1, 3)})
    top.call(f"{ITEM}.update", {"activity_id": activity_id, **item_params(participate_range=0)})
    assert range_ids(top, activity_id) == []


# --------------------------------------------------------------------------- the raw envelope


def test_a_broken_rule_is_a_plain_error_response_envelope(sandbox: Sandbox) -> None:
    """What any SDK sees on the wire, signed here with hashlib alone (not our client)."""
    params = {
        "method": f"{ITEM}.get",
        "app_key": DEMO_APP_KEY,
        "session": DEMO_SESSION,
        "timestamp": str(int(time.time() * 1000)),
        "format": "json",
        "v": "2.0",
        "sign_method": "md5",
        "activity_id": "424242",
    }
    text = DEMO_APP_SECRET + "".join(f"{k}{v}" for k, v in sorted(params.items())) + DEMO_APP_SECRET
    params["sign"] = hashlib.md5(text.encode()).hexdigest().upper()
    body = httpx.post(sandbox.gateway, data=params).json()
    error = body["error_response"]
    assert (error["code"], error["msg"], error["sub_code"]) == (15, "Remote service error", f"isv.{NOT_EXIST}")
    assert "424242" in error["sub_msg"] and error["request_id"]


def test_reads_are_logged_as_reads_and_writes_as_writes(top: TopClient, sandbox: Sandbox) -> None:
    activity_id = add_item_activity(top)
    top.call(f"{RANGE}.add", {"activity_id": activity_id, "ids": ids(1, 1)})
    range_ids(top, activity_id)
    top.call(f"{ITEM}.list.get", {"page_no": 1, "page_size": 50})
    assert [call["method"] for call in sandbox.writes()] == [f"{ITEM}.add", f"{RANGE}.add"]
