"""ListingWindow without TOP: manifest checks, the per-item decision, and the calls the plan makes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from reconciler.errors import ManifestError, PlanError
from reconciler.kinds import KINDS
from reconciler.kinds.base import LiveState, NormaliseContext, PlanContext
from reconciler.kinds.listing_window import DELISTING, LISTING, SELLER_GET, _item, decide, select
from reconciler.manifest import load_manifest_texts
from reconciler.model import Action, Link, Resource, ResourceKey, SetLink, SetRecordEntry

KIND = KINDS["ListingWindow"]
SHOP = "apiVersion: campaigns/v1\nkind: Shop\nmetadata: {name: demo-shop}\nspec: {}\n"
RULES = {"delist_when_out_of_stock": True, "relist_on_restock": True}
SATURDAY_NOON = datetime.fromisoformat("2026-11-21T12:00:00+08:00")
MONDAY_NOON = datetime.fromisoformat("2026-11-23T12:00:00+08:00")


def window(name: str = "weekend", body: str = "items: [\"1\", \"2\"]\n  on_sale: {weekly: [{weekdays: [sat, sun], hours: [\"10:00-22:00\"]}]}") -> str:
    return f"apiVersion: campaigns/v1\nkind: ListingWindow\nmetadata: {{name: {name}, shop: demo-shop}}\nspec:\n  {body}\n"


def normalise_all(*texts: str) -> list[Resource]:
    manifests = load_manifest_texts([("shops.yaml", SHOP)] + [(f"w{i}.yaml", t) for i, t in enumerate(texts)])
    return [KIND.normalise(doc, NormaliseContext(now=MONDAY_NOON)) for doc in manifests.documents]


def problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        normalise_all(text)
    return [str(p) for p in caught.value.problems]


def ctx(resources: list[Resource], now: datetime, links: list[Link] = ()) -> PlanContext:  # type: ignore[assignment]
    return PlanContext(
        shop="demo-shop", now=now, desired={r.key: r for r in resources}, links={link.key: link for link in links}
    )


def on_sale(has_stock: bool = True, title: str = "t") -> dict[str, Any]:
    return {"title": title, "on_sale": True, "has_stock": has_stock}


def in_warehouse(num: int, title: str = "t") -> dict[str, Any]:
    return {"title": title, "on_sale": False, "num": num}


# ---- manifest --------------------------------------------------------------------------------------


def test_a_window_must_select_something() -> None:
    (problem,) = problems(window(body="on_sale: {dates: [{start: \"2027-01-01T00:00:00+08:00\", end: \"2027-01-02T00:00:00+08:00\"}]}"))
    assert "w0.yaml:" in problem and "select items" in problem


@pytest.mark.parametrize(
    ("on_sale", "says", "path"),
    [
        ('{weekly: [{weekdays: [sat], hours: ["22:00-22:00"]}]}', "empty", "spec.on_sale.weekly[0].hours[0]"),
        ('{weekly: [{weekdays: [sat], hours: ["24:00-02:00"]}]}', "starts at 24:00", "spec.on_sale.weekly[0].hours[0]"),
        ('{weekly: [{weekdays: [sat], hours: ["10-22"]}]}', "HH:MM-HH:MM", "spec.on_sale.weekly[0].hours[0]"),
        ('{dates: [{start: "2027-01-02T00:00:00+08:00", end: "2027-01-01T00:00:00+08:00"}]}', "must be after start",
         "spec.on_sale.dates[0]"),
        ('{dates: [{start: "2027-01-01T00:00:00", end: "2027-01-02T00:00:00+08:00"}]}', "offset", "spec.on_sale.dates[0].start"),
        ('{weekly: [{weekdays: [saturday], hours: ["10:00-12:00"]}]}', "saturday", "spec.on_sale.weekly[0].weekdays[0]"),
    ],
)
def test_bad_schedules_name_the_field(on_sale: str, says: str, path: str) -> None:
    found = problems(window(body=f'items: ["1"]\n  on_sale: {on_sale}'))
    assert any(path in p and says in p for p in found), found


def test_ids_must_be_quoted_digits() -> None:
    assert any("spec.items[0]" in p for p in problems(window(body="items: [12ab]")))


def test_normalised_form_is_plain_data_with_default_stock_rules() -> None:
    (resource,) = normalise_all(window())
    assert resource.spec["items"] == [1, 2]
    assert resource.spec["schedule"] == {"dates": [], "weekly": [{"weekdays": ["sat", "sun"], "hours": ["10:00-22:00"]}]}
    assert resource.spec["stock"] == RULES


# ---- reading -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("written", [",11,22,", "11,22", "22,11", " 11 , 22 "])
def test_seller_cids_read_the_same_in_every_form(written: str) -> None:
    item = _item({"num_iid": 5, "approve_status": "instock", "num": 3, "seller_cids": written})
    assert item["seller_cids"] == ["11", "22"] and item["on_sale"] is False


def test_selection_is_ids_plus_categories() -> None:
    shop = {1: {"seller_cids": []}, 2: {"seller_cids": ["7"]}, 3: {"seller_cids": ["8", "7"]}, 4: {"seller_cids": ["9"]}}
    assert select({"items": [1, 99], "seller_categories": ["7"]}, shop) == [1, 2, 3]


# ---- the decision per item --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window_open", "is_on_sale", "has_stock", "held", "rules", "expected"),
    [
        (False, True, True, False, RULES, ("delist", "outside the window")),
        (False, False, True, False, RULES, None),
        (True, False, True, False, RULES, ("list", "inside the window")),
        (True, True, True, False, RULES, None),
        (True, True, False, False, RULES, ("delist", "out of stock")),
        (True, True, False, False, {**RULES, "delist_when_out_of_stock": False}, None),
        (True, False, False, False, RULES, None),  # TOP refuses to list with 0 stock
        (True, False, True, True, RULES, ("list", "restocked")),
        (True, False, True, True, {**RULES, "relist_on_restock": False}, None),
        (False, True, False, False, RULES, ("delist", "outside the window")),
    ],
)
def test_decide(
    window_open: bool, is_on_sale: bool, has_stock: bool, held: bool, rules: dict[str, bool], expected: Any
) -> None:
    assert decide(window_open=window_open, on_sale=is_on_sale, has_stock=has_stock, held=held, stock_rules=rules) == expected


# ---- planning -----------------------------------------------------------------------------------------------


def test_listing_sends_the_stock_it_read_so_stock_never_changes() -> None:
    (resource,) = normalise_all(window())
    live = {"items": {"1": in_warehouse(37), "2": on_sale()}}
    change = KIND.plan_change(resource, None, live, ctx([resource], SATURDAY_NOON))
    assert change is not None and change.action is Action.CREATE
    (listing,) = change.calls
    assert (listing.method, dict(listing.params)) == (LISTING, {"num_iid": 1, "num": 37})
    assert "2026-11-21 12:00 GMT+8" in change.reason and "closes at 2026-11-21 22:00 GMT+8" in change.reason


def test_closed_window_delists_and_a_new_window_is_linked_by_its_first_call() -> None:
    (resource,) = normalise_all(window())
    live = {"items": {"1": on_sale(), "2": on_sale(has_stock=False)}}
    change = KIND.plan_change(resource, None, live, ctx([resource], MONDAY_NOON))
    assert change is not None
    assert [(c.method, c.params["num_iid"]) for c in change.calls] == [(DELISTING, 1), (DELISTING, 2)]
    assert isinstance(change.calls[0].effects[0], SetLink)
    assert change.effects == (SetLink("(item set)", {"items": [1, 2], "held": {}}),)


def test_a_new_window_with_nothing_to_do_is_still_recorded() -> None:
    (resource,) = normalise_all(window())
    change = KIND.plan_change(resource, None, {"items": {"1": in_warehouse(3)}}, ctx([resource], MONDAY_NOON))
    assert change is not None and change.calls == () and change.action is Action.CREATE


def test_a_linked_window_with_nothing_to_do_plans_nothing() -> None:
    (resource,) = normalise_all(window())
    link = Link(resource.key, "(item set)", {"items": [1], "held": {}})
    assert KIND.plan_change(resource, link, {"items": {"1": in_warehouse(3)}}, ctx([resource], MONDAY_NOON, [link])) is None


def test_out_of_stock_without_relist_is_held_until_listed_by_hand() -> None:
    body = 'items: ["1"]\n  stock: {relist_on_restock: false}'
    (resource,) = normalise_all(window(body=body))
    link = Link(resource.key, "(item set)", {"items": [1], "held": {}})
    change = KIND.plan_change(resource, link, {"items": {"1": on_sale(has_stock=False)}}, ctx([resource], MONDAY_NOON, [link]))
    assert change is not None
    (delist,) = change.calls
    assert delist.effects == (SetRecordEntry("held", "1", "delisted when out of stock"),)
    held = Link(resource.key, "(item set)", {"items": [1], "held": {"1": "delisted when out of stock"}})
    restocked = {"items": {"1": in_warehouse(50)}}
    assert KIND.plan_change(resource, held, restocked, ctx([resource], MONDAY_NOON, [held])) is None


def test_a_removed_window_leaves_its_items_alone() -> None:
    link = Link(ResourceKey("demo-shop", "ListingWindow", "old"), "(item set)", {"items": [1, 2, 3], "held": {}})
    change = KIND.plan_change(None, link, {"items": {}}, ctx([], MONDAY_NOON, [link]))
    assert change is not None and change.calls == () and change.action is Action.DELETE
    assert "3 item(s) are left as they are" in change.reason


def test_two_windows_claiming_an_item_are_named_with_their_files() -> None:
    first, second = normalise_all(window("a"), window("b", body='items: ["2", "3"]'))
    live = LiveState(extra={"missing": {}, "claims": {2: ["a", "b"]}})
    (error,) = KIND.check_plan([], live, ctx([first, second], MONDAY_NOON))
    assert "ListingWindow/a (w0.yaml:" in error and "ListingWindow/b (w1.yaml:" in error and ": 2;" in error


def test_an_unknown_item_id_is_a_plan_error() -> None:
    (resource,) = normalise_all(window())
    live = LiveState(extra={"missing": {"weekend": [2]}, "claims": {}})
    (error,) = KIND.check_plan([], live, ctx([resource], MONDAY_NOON))
    assert "item(s) 2 are not in the shop" in error


# ---- recovering a lost answer -----------------------------------------------------------------------------


class OneItem:
    def __init__(self, status: str) -> None:
        self.status = status
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((method, params))
        return {"item": {"num_iid": params["num_iid"], "approve_status": self.status, "modified": "2026-11-23 12:00:00"}}


def test_a_lost_listing_is_settled_by_the_items_status() -> None:
    took = OneItem("onsale")
    assert KIND.recover(took, LISTING, {"num_iid": 5, "num": 3}) == {"item": {"num_iid": 5, "modified": "2026-11-23 12:00:00"}}
    assert took.calls == [(SELLER_GET, {"fields": "num_iid,approve_status,modified", "num_iid": 5})]
    assert KIND.recover(OneItem("instock"), LISTING, {"num_iid": 5, "num": 3}) is None
    assert KIND.recover(OneItem("instock"), DELISTING, {"num_iid": 5}) is not None
    with pytest.raises(PlanError):
        KIND.recover(OneItem("instock"), "taobao.item.quantity.update", {"num_iid": 5})
