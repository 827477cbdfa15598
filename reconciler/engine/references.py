"""References are checked before anything is sent (issue 17.4): the item ids and skus a created or
changed manifest names against the items the shop has on TOP.

What a reference must match, from the evidence:

- An item id (ItemDiscount / FullDiscount `spec.items`) is an item of the shop when
  `taobao.item.seller.get` answers for it: TOP refuses another shop's or an unknown `num_iid`
  (isv.item-not-exist). The price check asks for each named id anyway (engine/list_prices.py).
- A sku (ItemPoolActivity `spec.items[].sku`, sent as additem's `sku_code`, "商品的skuCode":
  top-api/methods/alibaba.wdk.marketing.itempool.additem.json) names an item by its outer_id
  (商家编码) or its item id: the reading the price guardrails rest on (pricing/rules.py `Items`,
  README "An item-pool `sku` names an item by ..."). No method of the pool family lists the codes
  a shop may use: queryitems lists the members of one activity, filtered by `sku_codes`
  (…queryitems.json). The shop's item lists do: `taobao.items.onsale.get` and
  `taobao.items.inventory.get` both return `outer_id` and `num_iid` (their `fields`:
  …items.onsale.get.json, …items.inventory.get.json), 200 items a page. SKU-level codes
  (`Sku.outer_id`, `Sku.barcode`) and the item's `barcode` come only from `taobao.item.seller.get`
  (…item.seller.get.json `skus`, `barcode`), one call per item: they are not read, so a sku must
  be an item's outer_id or id to be known.

Reads: none of its own while every named code was among the rows the price check read (the whole
on-sale list is read whenever a changed pool names skus). Otherwise the rest of the shop is read
once, with the paged list calls (engine/list_prices.py `read_shop_codes`: the warehouse pages,
and the on-sale pages if the price check did not read them), never one call per sku or per item.

An unknown reference is an error at its manifest's file:line naming the field, the value and the
nearest codes the shop has (difflib). Two cases cannot be judged, and are a warning instead: a
block the seller cannot lift would stop every plan of the shop, while an unchecked sku costs at
most a pool item that gives no discount (less discount, never more):
- TOP's list calls stop before the end of the shop (over 20,000 items on sale, or over 101 pages
  in a warehouse banner): a sku not found may be an item the lists never reached;
- none of the skus the plan's pools name in the shop is an item code: the shop's pool codes are
  then not its items' outer_ids (the WDK family keeps its own sku master, `alibaba.wdk.sku.query`
  in the public SDK bububa/opentaobao model/wdk, which no page here documents), and the reading
  above does not hold for it. One matching sku shows it does: the others are then checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from reconciler.engine.list_prices import ListPrices, read_shop_codes
from reconciler.i18n import _
from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller
from reconciler.model import Resource
from reconciler.pricing.rules import PriceRule, promotions, reach

NEAREST = 3  # codes suggested per unknown reference
UNCHECKED_SHOWN = 5  # skus named in the warning of a shop whose skus could not be checked
CLOSENESS = 0.6  # difflib's default cutoff


@dataclass(frozen=True)
class References:
    errors: tuple[str, ...] = ()  # references the shop does not have: the plan must not be applied
    warnings: tuple[str, ...] = ()  # skus that could not be checked (TOP's lists stop early)


@dataclass(frozen=True)
class _Named:
    resource: Resource
    value: str
    field: str  # the manifest path, e.g. spec.items[2].sku


@dataclass
class _Found:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_references(
    shop: str, declared: Iterable[Resource], listed: ListPrices, client: Caller,
    rules_of: Callable[[Resource], Sequence[PriceRule]] | None = None,
) -> References:
    """The item ids and skus `declared` (the created or changed resources of `shop`) name that the
    shop does not have, judged from what `listed` read and, only when something was not among it,
    from the rest of the shop read with the paged list calls. `rules_of` gives a resource's price
    rules (the price check's, worked out once); by default its kind's."""
    resources = list(declared)
    unknown = set(listed.unknown)
    unknown_ids = [named for named in _item_ids(resources) if named.value in unknown]
    named_skus = _skus(resources, rules_of or _kind_rules)
    unseen_skus = [named for named in named_skus if named.value not in listed.codes]
    if not unknown_ids and not unseen_skus:
        return References()
    shop_codes = read_shop_codes(client, on_sale=not listed.on_sale_read)
    known_ids = sorted(shop_codes.ids | listed.items.keys(), key=_numeric)
    known_codes = sorted(shop_codes.codes | listed.codes, key=_numeric)
    found = _Found()
    for named in unknown_ids:
        found.errors.append(_("{where} names item {item} ({field}), which shop {shop} does not have on TOP").format(
            where=_where(named), item=named.value, field=named.field, shop=shop) + _nearest(named.value, known_ids, "ids"))
    unknown_skus = [named for named in unseen_skus if named.value not in shop_codes.codes]
    if not unknown_skus:
        return References(tuple(found.errors))
    if not shop_codes.complete:
        found.warnings.append(_unchecked(shop, unknown_skus, _("TOP's list calls stop before the end of this shop's "
                                                               "items, and none they return has them")))
    elif len(unknown_skus) == len(named_skus):
        found.warnings.append(_unchecked(shop, unknown_skus, _("no sku the plan's pools name is an item code of the "
                                                               "shop (outer_id 商家编码 or item id), so its pool codes are "
                                                               "not its items' codes")))
    else:
        found.errors.extend(
            _("{where} names sku {sku} ({field}), which no item of shop {shop} has on TOP as its outer_id (商家编码) or "
              "item id").format(where=_where(named), sku=named.value, field=named.field, shop=shop)
            + _nearest(named.value, known_codes, "skus")
            for named in unknown_skus
        )
    return References(tuple(found.errors), tuple(found.warnings))


def _unchecked(shop: str, skus: Sequence[_Named], why: str) -> str:
    shown = ", ".join(f"{named.value} ({_where(named)})" for named in skus[:UNCHECKED_SHOWN])
    if len(skus) > UNCHECKED_SHOWN:
        shown = _("{shown} and {count} more").format(shown=shown, count=len(skus) - UNCHECKED_SHOWN)
    return _("{shop}: {count} pool sku(s) could not be checked against the shop's items ({why}): {shown}").format(
        shop=shop, count=len(skus), why=why, shown=shown)


def _item_ids(resources: Sequence[Resource]) -> list[_Named]:
    """Item ids named in `spec.items` as a list (ItemDiscount, FullDiscount; `all` is no list)."""
    named: list[_Named] = []
    for resource in resources:
        items = resource.spec.get("items")
        if isinstance(items, list):
            named.extend(_Named(resource, str(item_id), f"spec.items[{index}]") for index, item_id in enumerate(items))
    return named


def _skus(resources: Sequence[Resource], rules_of: Callable[[Resource], Sequence[PriceRule]]) -> list[_Named]:
    """The merchant codes a resource's promotions reach items by (an item pool's skus), through
    the kind's own price rules: the same reading the price check prices them with."""
    named: list[_Named] = []
    for resource in resources:
        codes = reach(promotions(rules_of(resource))).codes
        if not codes:
            continue
        position = _positions(resource.spec.get("items"))
        for code in sorted(codes, key=lambda c: (position.get(c, len(position)), c)):
            where = f"spec.items[{position[code]}].sku" if code in position else "spec.items"
            named.append(_Named(resource, code, where))
    return named


def _kind_rules(resource: Resource) -> Sequence[PriceRule]:
    return KINDS[resource.key.kind].price_rules(resource)


def _positions(items: Any) -> dict[str, int]:
    """Where each sku sits in the manifest's list: the normalised pool keeps them in its order."""
    if isinstance(items, (Mapping, list)):
        return {str(code): index for index, code in enumerate(items)}
    return {}


def _where(named: _Named) -> str:
    key = named.resource.key
    source = named.resource.source
    return f"{source}: {key.kind}/{key.name}" if source is not None else f"{key.kind}/{key.name}"


def _nearest(value: str, known: Sequence[str], noun: str) -> str:
    nearest = get_close_matches(value, known, n=NEAREST, cutoff=CLOSENESS)
    if not nearest:
        return ""
    if noun == "ids":
        return _("; nearest ids the shop has: {codes}").format(codes=", ".join(nearest))
    return _("; nearest skus the shop has: {codes}").format(codes=", ".join(nearest))


def _numeric(code: str) -> tuple[int, str]:
    return (int(code), code) if code.isdigit() else (0, code)
