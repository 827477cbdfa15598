"""List prices from TOP, for the price guardrails and `reconciler price`. Reads only.

Items on sale come from the paged `taobao.items.onsale.get` (200 a page, the pages after the
first read concurrently). Items a promotion or a floor names by id that the listing did not show
(in the warehouse, or when only named items are needed) come from the warehouse's pages,
`taobao.items.inventory.get` (the default banner, then sold_out), when more than
WAREHOUSE_PAGES_FROM of them are wanted and its pages are fewer than the items still missing;
the rest from `taobao.item.seller.get`, one call each. Only the named items are taken from the
warehouse's pages (an item it lists that nothing names is not priced, as before). An item TOP
does not know is reported, not fatal: a promotion may name an item the shop deleted.

Prices: `price` is the item's price in yuan as TOP lists it (for an item with SKUs, the price TOP
shows for the item); it is what every promotion starts from.

Codes: every row any of these reads returns leaves its num_iid and its outer_id (商家编码) in
`ListPrices.codes`, so the reference check (engine/references.py) finds the items the manifests
name without reading them again; `read_shop_codes` reads the rest of the shop's codes with the
same paged calls, on the path where a named code was not among them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import TopPermanentError
from reconciler.kinds.base import Caller
from reconciler.kinds.units import UnitError, yuan_to_fen
from reconciler.pricing.rules import ListedItem
from reconciler.top.answers import is_business_refusal, top_rows

ONSALE = "taobao.items.onsale.get"
INVENTORY = "taobao.items.inventory.get"
SELLER_GET = "taobao.item.seller.get"
PAGE_SIZE = 200  # the largest page onsale.get and inventory.get serve
MAX_ROWS = 20_000  # onsale.get refuses page_no * page_size above this
INVENTORY_MAX_PAGE_NO = 101  # inventory.get refuses a page_no above this
WAREHOUSE_BANNERS = ("for_shelved", "sold_out")  # the default banner leaves out items with no stock
WAREHOUSE_PAGES_FROM = 20  # fewer items wanted: one item.seller.get each, no page read on the chance
FIELDS = "num_iid,title,price,outer_id"


@dataclass
class ListPrices:
    items: dict[str, ListedItem] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # ids TOP says the shop does not have
    codes: set[str] = field(default_factory=set)  # num_iid and outer_id of every row read, priced or not
    on_sale_read: bool = False  # every item on sale was listed (no row left out by MAX_ROWS)


def read_list_prices(client: Caller, item_ids: Iterable[str], *, whole_shop: bool) -> ListPrices:
    """The listed items: every item on sale when `whole_shop`, and each of `item_ids`."""
    found = ListPrices()
    if whole_shop:
        for row in _on_sale(client, found):
            _add(found, row)
    wanted = sorted(set(item_ids) - found.items.keys(), key=_numeric)
    in_warehouse = _in_warehouse(client, set(wanted), found.codes) if len(wanted) > WAREHOUSE_PAGES_FROM else {}
    missing = [item_id for item_id in wanted if item_id not in in_warehouse]
    answers = client.call_many(
        SELLER_GET, [{"fields": FIELDS, "num_iid": item_id} for item_id in missing], return_exceptions=True
    )
    asked = dict(zip(missing, answers, strict=True))
    for item_id in wanted:  # in id order, wherever each came from
        if item_id in in_warehouse:
            _add(found, in_warehouse[item_id])
            continue
        answer = asked[item_id]
        if isinstance(answer, TopPermanentError) and is_business_refusal(answer):
            found.unknown.append(item_id)
            found.notes.append(f"item {item_id}: TOP does not know it ({answer.sub_msg or answer.msg}); not priced")
        elif isinstance(answer, Exception):
            raise answer
        else:
            _add(found, answer.get("item") or {})
    return found


@dataclass(frozen=True)
class ShopCodes:
    """The codes the shop's items have, from the paged list calls: item ids and outer_ids."""

    ids: frozenset[str]
    outer_ids: frozenset[str]
    complete: bool  # False: TOP's list calls stop before the end of the shop (MAX_ROWS, INVENTORY_MAX_PAGE_NO)

    @property
    def codes(self) -> frozenset[str]:
        return self.ids | self.outer_ids


def read_shop_codes(client: Caller, *, on_sale: bool = True) -> ShopCodes:
    """The ids and outer_ids of every item of the shop, with the paged list calls only: on sale
    (unless `on_sale` is False because the caller has read them already) and in the warehouse,
    under the default banner and sold_out (taobao.items.inventory.get leaves items without stock
    out of its default banner: methods/taobao.items.inventory.get.json, `banner`)."""
    rows: list[Mapping[str, Any]] = []
    complete = True
    if on_sale:
        listed = ListPrices()
        rows.extend(_on_sale(client, listed))
        complete = listed.on_sale_read
    for banner in WAREHOUSE_BANNERS:
        first = client.call(INVENTORY, _warehouse_page(banner, 1))
        all_pages = -(-int(first.get("total_results") or 0) // PAGE_SIZE)
        pages = min(all_pages, INVENTORY_MAX_PAGE_NO)
        complete = complete and pages == all_pages
        answers = [first, *client.call_many(INVENTORY, [_warehouse_page(banner, n) for n in range(2, pages + 1)])]
        rows.extend(row for answer in answers for row in _rows(answer))
    ids = {str(row.get("num_iid") or "") for row in rows}
    outer_ids = {str(row.get("outer_id") or "") for row in rows}
    return ShopCodes(frozenset(ids - {""}), frozenset(outer_ids - {""}), complete)


def _on_sale(client: Caller, found: ListPrices) -> list[Mapping[str, Any]]:
    first = client.call(ONSALE, _page(1))
    rows = _rows(first)
    total = int(first.get("total_results") or 0)
    pages = -(-min(total, MAX_ROWS) // PAGE_SIZE)
    for answer in client.call_many(ONSALE, [_page(page) for page in range(2, pages + 1)]):
        rows.extend(_rows(answer))
    found.on_sale_read = total <= MAX_ROWS
    if total > MAX_ROWS:
        found.notes.append(f"the shop has {total} items on sale; TOP lists the first {MAX_ROWS}, the rest are not priced")
    return rows


def _in_warehouse(client: Caller, wanted: set[str], codes: set[str]) -> dict[str, Mapping[str, Any]]:
    """The rows of the wanted items the warehouse lists, by id: each banner's first page, and its
    other pages when they are fewer than the items still missing (else those are asked one by one).
    The codes of every row read go to `codes`."""
    rows: dict[str, Mapping[str, Any]] = {}
    for banner in WAREHOUSE_BANNERS:
        if len(wanted - rows.keys()) <= WAREHOUSE_PAGES_FROM:
            break
        first = client.call(INVENTORY, _warehouse_page(banner, 1))
        _keep(rows, [first], wanted, codes)
        pages = min(-(-int(first.get("total_results") or 0) // PAGE_SIZE), INVENTORY_MAX_PAGE_NO)
        if pages - 1 < len(wanted - rows.keys()):
            answers = client.call_many(INVENTORY, [_warehouse_page(banner, n) for n in range(2, pages + 1)])
            _keep(rows, answers, wanted, codes)
    return rows


def _keep(rows: dict[str, Mapping[str, Any]], answers: list[Mapping[str, Any]], wanted: set[str], codes: set[str]) -> None:
    for answer in answers:
        for row in _rows(answer):
            codes.update(_codes(row))
            item_id = str(row.get("num_iid") or "")
            if item_id in wanted:
                rows.setdefault(item_id, row)


def _codes(row: Mapping[str, Any]) -> set[str]:
    return {str(code) for code in (row.get("num_iid"), row.get("outer_id")) if code}


def _warehouse_page(banner: str, page_no: int) -> dict[str, Any]:
    return {"fields": FIELDS, "page_no": page_no, "page_size": PAGE_SIZE, "banner": banner, "order_by": "list_time:desc"}


def _page(page_no: int) -> dict[str, Any]:
    return {"fields": FIELDS, "page_no": page_no, "page_size": PAGE_SIZE, "order_by": "list_time:desc"}


def _rows(answer: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return top_rows(answer.get("items"), "item", where="items")


def _add(found: ListPrices, row: Mapping[str, Any]) -> None:
    found.codes.update(_codes(row))
    item_id = str(row.get("num_iid") or "")
    if not item_id:
        return
    try:
        price = yuan_to_fen(row.get("price"))
    except UnitError:
        found.notes.append(f"item {item_id}: TOP lists the price {row.get('price')!r}, which is not a yuan amount; not priced")
        return
    outer_id = row.get("outer_id")
    found.items[item_id] = ListedItem(item_id, str(row.get("title") or ""), price, str(outer_id) if outer_id else None)


def _numeric(item_id: str) -> tuple[int, str]:
    return (int(item_id), item_id) if item_id.isdigit() else (0, item_id)
