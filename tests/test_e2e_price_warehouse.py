"""End to end: list prices of many named items in the warehouse come from the warehouse's pages
(`taobao.items.inventory.get`, 200 a page) instead of one `taobao.item.seller.get` each, and the
prices shown are the same either way. Against the sandbox over real HTTP."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from reconciler.engine import list_prices
from tests.conftest import Sandbox, Workspace

INVENTORY = "taobao.items.inventory.get"
SELLER_GET = "taobao.item.seller.get"
IN_STOCK = [{"num_iid": 100 + n, "title": f"库存{n}", "price": f"{10 + n}.{n:02d}", "approve_status": "instock"}
            for n in range(30)]
SOLD_OUT = [{"num_iid": 200 + n, "title": f"售罄{n}", "price": f"{20 + n}.90", "approve_status": "instock", "num": 0}
            for n in range(25)]
ON_SALE = [{"num_iid": 300, "title": "在售", "price": "59.00", "outer_id": "6901"}]
UNKNOWN = "999"  # named by the discount, deleted from the shop


def discount(items: list[str]) -> str:
    ids = ", ".join(f'"{item}"' for item in items)
    return f"""\
apiVersion: campaigns/v1
kind: ItemDiscount
metadata: {{name: clearance, shop: demo-shop}}
spec:
  title: 清仓8折
  window: {{start: "2027-11-01T00:00:00+08:00", end: "2027-11-12T00:00:00+08:00"}}
  discount: {{rate: 0.8}}
  items: [{ids}]
"""


@pytest.fixture
def warehouse_shop(workspace: Workspace, sandbox: Sandbox) -> Workspace:
    body = {"shop": "demo-shop", "replace": True, "items": IN_STOCK + SOLD_OUT + ON_SALE}
    httpx.post(f"{sandbox.server.url}/_sandbox/items", json=body).raise_for_status()
    named = [str(item["num_iid"]) for item in IN_STOCK + SOLD_OUT + ON_SALE] + [UNKNOWN]
    workspace.write("clearance.yaml", discount(named))
    return workspace


def price_output(workspace: Workspace, sandbox: Sandbox) -> tuple[str, Counter[str]]:
    sandbox.clear_calls()
    result = workspace.run("price", str(workspace.campaigns), "--at", "2027-11-05T10:00:00+08:00")
    assert result.exit_code == 0, result.output
    return result.output, Counter(call["method"] for call in sandbox.calls())


def test_many_warehouse_items_are_read_a_page_at_a_time(warehouse_shop: Workspace, sandbox: Sandbox) -> None:
    output, calls = price_output(warehouse_shop, sandbox)
    # 30 items with stock (the default banner, one page), 25 sold out (banner sold_out, one page);
    # the item on sale and the unknown one are asked one by one
    assert calls == {INVENTORY: 2, SELLER_GET: 2}
    # 10.00 at 8折 = 8.00; 48.90 → 39.12; 59.00 → 47.20
    assert "  item 100 库存0: list 10.00 → worst case 8.00 a unit" in output
    assert "  item 224 售罄24: list 44.90 → worst case 35.92 a unit" in output
    assert "  item 300 在售: list 59.00 → worst case 47.20 a unit" in output
    assert "item 999: TOP does not know it" in output


def test_pages_and_single_reads_give_the_same_prices(
    warehouse_shop: Workspace, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    paged, _ = price_output(warehouse_shop, sandbox)
    monkeypatch.setattr(list_prices, "WAREHOUSE_PAGES_FROM", 10_000)  # never page: one read per item
    one_by_one, calls = price_output(warehouse_shop, sandbox)
    assert calls == {SELLER_GET: len(IN_STOCK + SOLD_OUT + ON_SALE) + 1}
    assert paged == one_by_one
