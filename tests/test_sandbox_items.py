"""The sandbox's item methods keep the rules of their pages: paging limits, banners, stock, listing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.sandbox.families.items import CATALOGUE_SIZE, category_ids, generate_catalogue, shop_prefix
from reconciler.sandbox.server import SandboxServer
from tests.sandbox_calls import OTHER_SESSION, RawTop

ONSALE = "taobao.items.onsale.get"
INVENTORY = "taobao.items.inventory.get"
LISTING = "taobao.item.update.listing"
DELISTING = "taobao.item.update.delisting"
SELLER_GET = "taobao.item.seller.get"
QUANTITY = "taobao.item.quantity.update"
FIELDS = "num_iid,title,approve_status,num,seller_cids"


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def top(http: httpx.Client) -> Iterator[RawTop]:
    with SandboxServer() as server:
        yield RawTop(server, http)


def shop_items(top: RawTop, items: list[dict[str, Any]]) -> None:
    top.setup("/_sandbox/items", {"shop": "demo-shop", "replace": True, "items": items})


def all_pages(top: RawTop, method: str, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page_no = 1
    while True:
        answer = top.ok(method, {"fields": FIELDS, "page_no": page_no, "page_size": 200, **query})
        items.extend(answer.get("items", {}).get("item", []))
        if page_no * 200 >= answer["total_results"]:
            return items
        page_no += 1


# ---- the generated catalogue ------------------------------------------------------------------


def test_catalogue_is_the_same_on_every_run_and_differs_per_shop() -> None:
    assert generate_catalogue("demo-shop") == generate_catalogue("demo-shop")
    assert shop_prefix("demo-shop") == 220
    demo_ids = set(generate_catalogue("demo-shop"))
    assert len(demo_ids) == CATALOGUE_SIZE
    assert not demo_ids & set(generate_catalogue("other-shop"))
    assert category_ids("demo-shop")["生鲜"] == "220000002"


def test_onsale_plus_both_warehouse_banners_is_the_whole_shop(top: RawTop) -> None:
    onsale = all_pages(top, ONSALE)
    waiting = all_pages(top, INVENTORY)  # the default banner: for_shelved
    sold_out = all_pages(top, INVENTORY, banner="sold_out")
    ids = [item["num_iid"] for item in onsale + waiting + sold_out]
    assert len(ids) == len(set(ids)) == CATALOGUE_SIZE
    assert {item["approve_status"] for item in onsale} == {"onsale"}
    assert {item["approve_status"] for item in waiting + sold_out} == {"instock"}
    # The trap: items in the warehouse with no stock are not in the default banner.
    assert all(item["num"] > 0 for item in waiting) and all(item["num"] == 0 for item in sold_out)
    assert any(item["num"] == 0 for item in onsale)  # sold out but still on sale: the seller's trouble


def test_pages_do_not_overlap_and_an_empty_page_has_no_items(top: RawTop) -> None:
    first = top.ok(ONSALE, {"fields": "num_iid", "page_no": 1, "page_size": 40})
    second = top.ok(ONSALE, {"fields": "num_iid", "page_no": 2, "page_size": 40})
    assert len(first["items"]["item"]) == 40
    assert not {i["num_iid"] for i in first["items"]["item"]} & {i["num_iid"] for i in second["items"]["item"]}
    beyond = top.ok(ONSALE, {"fields": "num_iid", "page_no": 100, "page_size": 200})
    assert "items" not in beyond and beyond["total_results"] == first["total_results"]


def test_only_the_requested_fields_come_back(top: RawTop) -> None:
    answer = top.ok(ONSALE, {"fields": "num_iid,list_time", "page_size": 1})
    (item,) = answer["items"]["item"]
    assert set(item) == {"num_iid", "list_time"}
    assert len(item["list_time"]) == len("2026-01-01 00:07:00")


def test_seller_category_filter_and_answer_format(top: RawTop) -> None:
    fresh = category_ids("demo-shop")["生鲜"]
    items = all_pages(top, ONSALE, seller_cids=fresh)
    assert items and all(f",{fresh}," in item["seller_cids"] for item in items)
    assert all(item["seller_cids"].startswith(",") and item["seller_cids"].endswith(",") for item in items)


@pytest.mark.parametrize(
    ("method", "query", "code", "says"),
    [
        (ONSALE, {}, 40, "fields: is required"),
        (ONSALE, {"fields": "num_iid,desc"}, 41, "desc"),
        (INVENTORY, {"fields": "num_iid,sold_quantity"}, 41, "sold_quantity"),
        (ONSALE, {"fields": "num_iid", "page_size": 201}, 41, "page_size: must be at most 200"),
        (ONSALE, {"fields": "num_iid", "page_size": 0}, 41, "page_size"),
        (ONSALE, {"fields": "num_iid", "page_size": 200, "page_no": 101}, 41, "at most 20000"),
        (INVENTORY, {"fields": "num_iid", "page_no": 102}, 41, "page_no: must be at most 101"),
        (INVENTORY, {"fields": "num_iid", "banner": "everything"}, 41, "banner"),
        (ONSALE, {"fields": "num_iid", "seller_cids": ",".join(str(n) for n in range(33))}, 41, "at most 32"),
        (ONSALE, {"fields": "num_iid", "order_by": "price:asc"}, 41, "order_by"),
    ],
)
def test_list_rules(top: RawTop, method: str, query: dict[str, Any], code: int, says: str) -> None:
    error = top.error(method, query)
    assert error["code"] == code and says in error["sub_msg"], error


# ---- listing and delisting -----------------------------------------------------------------------


def test_listing_sets_stock_and_puts_the_item_on_sale(top: RawTop) -> None:
    shop_items(top, [{"num_iid": 1001, "approve_status": "instock", "num": 0}])
    answer = top.ok(LISTING, {"num_iid": 1001, "num": 7})
    assert answer["item"]["num_iid"] == 1001 and answer["item"]["modified"]
    item = top.ok(SELLER_GET, {"fields": "approve_status,num", "num_iid": 1001})["item"]
    assert item == {"approve_status": "onsale", "num": 7}


@pytest.mark.parametrize(
    ("query", "code", "sub_code"),
    [
        ({"num": 5}, 40, "isv.missing-parameter"),
        ({"num_iid": 1001}, 40, "isv.missing-parameter"),
        ({"num_iid": 1001, "num": 0}, 41, "isv.invalid-parameter"),  # 大于零的整数: no listing at 0 stock
        ({"num_iid": 1001, "num": -3}, 41, "isv.invalid-parameter"),
        ({"num_iid": "abc", "num": 1}, 41, "isv.invalid-parameter"),
        ({"num_iid": 999999, "num": 1}, 15, "isv.item-not-exist"),
    ],
)
def test_listing_rules(top: RawTop, query: dict[str, Any], code: int, sub_code: str) -> None:
    shop_items(top, [{"num_iid": 1001, "approve_status": "instock", "num": 3}])
    error = top.error(LISTING, query)
    assert (error["code"], error["sub_code"]) == (code, sub_code), error


def test_an_item_whose_skus_hold_nothing_cannot_be_listed(top: RawTop) -> None:
    shop_items(top, [{"num_iid": 1002, "approve_status": "instock", "skus": [{"sku_id": 1, "quantity": 0}]}])
    error = top.error(LISTING, {"num_iid": 1002, "num": 5})
    assert error["sub_code"] == "isv.item-out-of-stock"
    top.ok(QUANTITY, {"num_iid": 1002, "sku_id": 1, "quantity": 4})
    top.ok(LISTING, {"num_iid": 1002, "num": 99})  # num is ignored for SKU items
    assert top.ok(SELLER_GET, {"fields": "num,approve_status", "num_iid": 1002})["item"]["num"] == 4


def test_another_shops_item_does_not_exist(top: RawTop) -> None:
    shop_items(top, [{"num_iid": 1001}])
    assert top.error(DELISTING, {"num_iid": 1001}, session=OTHER_SESSION)["sub_code"] == "isv.item-not-exist"


def test_delisting_an_item_in_the_warehouse_works_and_changes_nothing(top: RawTop) -> None:
    shop_items(top, [{"num_iid": 1001, "approve_status": "instock", "num": 2}, {"num_iid": 1002, "num": 0}])
    top.ok(DELISTING, {"num_iid": 1001})
    assert top.ok(SELLER_GET, {"fields": "approve_status", "num_iid": 1001})["item"]["approve_status"] == "instock"
    top.ok(DELISTING, {"num_iid": 1002})
    sold_out = top.ok(INVENTORY, {"fields": "num_iid", "banner": "sold_out"})
    assert [i["num_iid"] for i in sold_out["items"]["item"]] == [1002]


# ---- stock --------------------------------------------------------------------------------------


def test_stock_changes_never_move_an_item_on_or_off_sale(top: RawTop) -> None:
    shop_items(top, [{"num_iid": 1001, "num": 2}])
    assert top.ok(QUANTITY, {"num_iid": 1001, "quantity": -2, "type": 2})["item"]["num"] == 0
    assert top.ok(SELLER_GET, {"fields": "approve_status", "num_iid": 1001})["item"]["approve_status"] == "onsale"
    assert top.error(QUANTITY, {"num_iid": 1001, "quantity": -1, "type": 2})["sub_code"] == "isv.quantity-below-zero"
    assert top.error(QUANTITY, {"num_iid": 1001, "quantity": -1})["code"] == 41  # full update below 0
    assert top.error(QUANTITY, {"num_iid": 1001})["code"] == 40


def test_an_item_with_skus_needs_a_sku_id(top: RawTop) -> None:
    shop_items(top, [{"num_iid": 1003, "skus": [{"sku_id": 31, "quantity": 1}, {"sku_id": 32, "quantity": 2}]}])
    assert top.error(QUANTITY, {"num_iid": 1003, "quantity": 5})["sub_code"] == "isv.item-has-skus"
    assert top.error(QUANTITY, {"num_iid": 1003, "sku_id": 9, "quantity": 5})["sub_code"] == "isv.sku-not-exist"
    answer = top.ok(QUANTITY, {"num_iid": 1003, "sku_id": 32, "quantity": 5})
    assert answer["item"]["num"] == 6
    item = top.ok(SELLER_GET, {"fields": "num,sku", "num_iid": 1003})["item"]
    assert item["skus"]["sku"] == [{"sku_id": 31, "quantity": 1}, {"sku_id": 32, "quantity": 5}]


# ---- set-up endpoint, reset, data file ------------------------------------------------------------------


def test_reset_brings_the_generated_catalogue_back(top: RawTop) -> None:
    shop_items(top, [{"num_iid": 1001}])
    assert top.ok(ONSALE, {"fields": "num_iid"})["total_results"] == 1
    top.http.post(f"{top.server.url}/_sandbox/reset").raise_for_status()
    assert top.ok(ONSALE, {"fields": "num_iid"})["total_results"] > 1000


def test_setup_refuses_a_bad_body(top: RawTop) -> None:
    response = top.http.post(f"{top.server.url}/_sandbox/items", json={"shop": "demo-shop", "items": [{"num": 1}]})
    assert response.status_code == 400 and "num_iid" in response.json()["error"]


def test_the_data_file_keeps_only_changed_items(tmp_path: Path, http: httpx.Client) -> None:
    data = tmp_path / "sandbox.json"
    with SandboxServer(data_file=str(data)) as server:
        top = RawTop(server, http)
        first = top.ok(ONSALE, {"fields": "num_iid", "page_size": 1})["items"]["item"][0]["num_iid"]
        top.ok(DELISTING, {"num_iid": first})
    assert data.stat().st_size < 5_000  # not the 2,000-item catalogue on every write
    with SandboxServer(data_file=str(data)) as server:  # a restarted sandbox remembers the change
        item = RawTop(server, http).ok(SELLER_GET, {"fields": "approve_status", "num_iid": first})["item"]
        assert item["approve_status"] == "instock"
