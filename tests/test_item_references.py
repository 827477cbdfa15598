"""References are checked before anything is sent (issue 17.4): an item id a discount names, or a sku
a pool names, that the shop does not have fails the plan at its manifest's file:line with the
nearest ids or skus the shop has, read with the paged list calls — never one call per item or sku
(reconciler/engine/references.py)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from reconciler.engine.list_prices import ONSALE, ListPrices
from reconciler.engine.references import check_references
from reconciler.kinds.base import NormaliseContext
from reconciler.kinds.item_pool import ItemPoolActivity
from reconciler.manifest import load_manifests
from reconciler.sandbox.families.items import generate_catalogue

from tests.conftest import Sandbox, Workspace
from tests.test_e2e_discounts import full_discount, item_discount
from tests.test_e2e_item_pool import pool

KNOWN = "220000000101"  # in the demo shop's generated catalogue (sandbox/families/items.py)


def test_an_unknown_item_fails_plan_and_apply_at_its_line_with_the_nearest_ids(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    path = workspace.write("discounts.yaml", full_discount() + "---\n" + item_discount(items=[KNOWN, "22000000101"]))
    for command in (("plan",), ("apply", "--auto-approve")):
        result = workspace.run(*command, str(workspace.campaigns))
        assert result.exit_code == 1, result.output
        assert "names items the shop does not have" in result.output, result.output
        assert re.search(rf"{re.escape(str(path))}:\d+: ItemDiscount/tea names item 22000000101", result.output)
        assert f"names item {KNOWN}" not in result.output
        assert "nearest ids the shop has: 2200000" in result.output, result.output
    assert sandbox.writes() == []
    reads = Counter(call["method"] for call in sandbox.calls())
    # A handful of paged reads for the whole catalogue of 2,000 items, not one per item.
    assert reads["taobao.item.seller.get"] <= 2 * 2, reads


def test_known_items_plan_without_a_word(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("discounts.yaml", item_discount(items=[KNOWN, "220000000102"]))
    result = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "does not have" not in result.output


# ---- item-pool skus: a sku names an item by its outer_id (商家编码) or item id -------------------

ON_SALE_SKU = "6901234000011"  # the outer_id of an item on sale in the demo shop (sandbox/families/items.py POOL_CODES)
IN_WAREHOUSE_SKU = "6903000000030"  # the outer_id of an item in the demo shop's warehouse


def test_an_unknown_sku_fails_plan_and_apply_at_its_line_with_the_nearest_skus(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    path = workspace.write("pools.yaml", pool("fresh", skus=[ON_SALE_SKU, "6901234000019", IN_WAREHOUSE_SKU]))
    for command in (("plan",), ("apply", "--auto-approve")):
        result = workspace.run(*command, str(workspace.campaigns))
        assert result.exit_code == 1, result.output
        assert "names items the shop does not have" in result.output, result.output
        assert re.search(rf"{re.escape(str(path))}:\d+: ItemPoolActivity/fresh names sku 6901234000019 "
                         r"\(spec\.items\[1\]\.sku\)", result.output), result.output
        assert "nearest skus the shop has: 6901234000011" in result.output, result.output
        assert f"names sku {ON_SALE_SKU}" not in result.output and f"names sku {IN_WAREHOUSE_SKU}" not in result.output
    assert sandbox.writes() == []


def test_skus_of_items_on_sale_and_in_the_warehouse_plan_without_a_word(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=[ON_SALE_SKU, IN_WAREHOUSE_SKU]))
    result = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "does not have" not in result.output and "could not be checked" not in result.output, result.output


def test_the_shop_is_read_with_paged_list_calls_never_one_call_per_sku(workspace: Workspace, sandbox: Sandbox) -> None:
    """450 items on sale and 450 in the warehouse: 3 pages each (200 a page), sold_out 1, and no
    item.seller.get, whatever the number of skus named."""
    items = [{"num_iid": 1000 + n, "outer_id": f"SKU{n:05d}", "approve_status": "onsale" if n % 2 else "instock"}
             for n in range(900)]
    httpx.post(f"{sandbox.server.url}/_sandbox/items", json={"shop": "demo-shop", "replace": True, "items": items}
               ).raise_for_status()
    skus = [f"SKU{n:05d}" for n in range(0, 900, 45)] + ["SKU09999"]  # 20 known (on sale or not), 1 unknown
    workspace.write("pools.yaml", pool("fresh", skus=skus))
    sandbox.clear_calls()
    result = workspace.run("plan", str(workspace.campaigns))
    assert result.exit_code == 1, result.output
    assert "names sku SKU09999 (spec.items[20].sku)" in result.output, result.output
    assert result.output.count("names sku") == 1, result.output
    assert "nearest skus the shop has: SKU00899" in result.output, result.output
    pages = Counter((call["method"], call["params"].get("banner")) for call in sandbox.calls()
                    if call["method"].startswith("taobao.item"))
    assert pages == {("taobao.items.onsale.get", None): 3, ("taobao.items.inventory.get", "for_shelved"): 3,
                     ("taobao.items.inventory.get", "sold_out"): 1}, pages


def test_a_shop_whose_pool_codes_are_no_item_codes_gets_a_warning_not_a_block(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    """No sku named is an item code of the shop: its pool codes are another catalogue's (WDK's own
    sku master), which the item lists cannot show. The plan says so and goes on."""
    workspace.write("pools.yaml", pool("fresh", skus=["1001", "1002"]))
    result = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "demo-shop: 2 pool sku(s) could not be checked against the shop's items" in result.output, result.output
    assert "does not have" not in result.output


class _ShopBeyondTheLists:
    """A plain stand-in for the client: a shop with more items on sale than TOP's list calls
    return (onsale.get stops at 20,000 rows), one of them with outer_id KNOWN."""

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if method == ONSALE:
            first = params is not None and params.get("page_no") == 1
            return {"total_results": 20_001, **({"items": [{"num_iid": 1, "outer_id": "KNOWN"}]} if first else {})}
        return {"total_results": 0}

    def call_many(self, method: str, params_list: Sequence[Mapping[str, Any] | None], *,
                  return_exceptions: bool = False, each: Callable[[dict[str, Any]], Any] | None = None) -> list[Any]:
        return [(each or (lambda answer: answer))(self.call(method, params)) for params in params_list]


def test_a_sku_beyond_what_the_lists_can_show_is_a_warning_not_a_block(tmp_path: Path) -> None:
    path = tmp_path / "pools.yaml"
    path.write_text(pool("fresh", skus=["KNOWN", "MISSING"]), encoding="utf-8")
    shops = str(Path(__file__).resolve().parents[1] / "campaigns" / "shops.yaml")
    document = next(d for d in load_manifests([str(path), shops]).documents if d.kind == "ItemPoolActivity")
    resource = ItemPoolActivity().normalise(document, NormaliseContext(now=datetime(2027, 6, 1, tzinfo=timezone.utc)))
    found = check_references("demo-shop", [resource], ListPrices(), _ShopBeyondTheLists())
    assert found.errors == ()
    assert len(found.warnings) == 1 and "MISSING" in found.warnings[0] and "KNOWN" not in found.warnings[0]
    assert "TOP's list calls stop before the end" in found.warnings[0]


def test_every_sku_the_demo_and_the_starter_pools_name_is_an_item_of_the_sandbox_demo_shop() -> None:
    """The repository's demo (campaigns/) and the starter of `reconciler init` plan against the
    sandbox's demo shop: each pool sku is an item's outer_id there (sandbox/families/items.py)."""
    repo = Path(__file__).resolve().parents[1]
    documents = load_manifests([str(repo / "campaigns")]).documents
    skus = {str(item["sku"]) for d in documents if d.kind == "ItemPoolActivity" for item in d.spec["items"]}
    starter = (repo / "reconciler" / "starter" / "campaigns" / "item-pools.yaml").read_text(encoding="utf-8")
    skus |= set(re.findall(r'sku: "([^"]+)"', starter))  # its dates are placeholders `init` fills in
    catalogue = generate_catalogue("demo-shop").values()
    codes = {str(item["outer_id"]) for item in catalogue} | {str(item["num_iid"]) for item in catalogue}
    assert len(skus) >= 19 and skus <= codes, sorted(skus - codes)
