"""Price guardrails: what a plan does to the prices buyers can reach, checked before anything is sent.

For each shop whose promotions the plan changes, every item a changed promotion covers is priced
twice (reconciler.pricing.stacking: the worst-case unit price, every promotion that can apply
stacking, at every moment from the plan's moment on):

- before: the promotions as TOP runs them now. A resource the plan does not change counts as
  declared; one it changes counts as last applied (the state store's applied spec), or as absent
  when it is new or nothing was recorded for it (the safe side: the change is then checked whole).
- after: the promotions as they will be once the plan is applied: the declared ones, without the
  ones it deletes. For kinds whose old objects keep lowering prices after a change (a shop coupon
  stays valid until its end, a claimed cash gift stays usable) the old rules count too.

An item whose worst case changes is a row of the price-impact table. An item whose worst case
after the plan is below its floor (PriceFloor, or the default floor of 30 % of the list price
for items no PriceFloor covers: pricing/floors.py) and lower than before blocks the plan, naming the
item, the stack and the floor — unless each manifest in that stack the plan changes carries
`metadata.allow_below_floor: "reason"` (when the plan changes none of them, e.g. a deletion lets a
lower-priority activity apply, each manifest in the stack must); then the reason is a plan warning.
An item that was below its floor before and is not lowered further is a warning, not a block.

Reads: only for shops whose promotions change (list prices: reconciler.engine.list_prices). Only
promotions declared in the manifests (or last applied) are counted; promotions made elsewhere,
listed by plan as unmanaged, are not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from reconciler.engine.codec import resource_from_data
from reconciler.engine.list_prices import read_list_prices
from reconciler.engine.price_report import floor_text, item_text, stack_text, yuan
from reconciler.engine.references import check_references
from reconciler.i18n import _
from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller
from reconciler.model import Action, Plan, Resource, ResourceKey
from reconciler.pricing.floors import DEFAULT_SHARE, FloorPrice, default_floor, floor_of, is_default
from reconciler.pricing.impact import PriceImpact
from reconciler.pricing.quote import Quote
from reconciler.pricing.rules import (
    Floor,
    PriceRule,
    Promotion,
    floors,
    named_items,
    promotions,
    reach,
)
from reconciler.pricing.stacking import Pricer
from reconciler.settings import EVERYTHING, Scope
from reconciler.state import StateStore

BLOCKED_SHOWN = 10  # items named per cause when a plan is blocked; a shop-wide typo would name thousands


@dataclass(frozen=True)
class PriceCheck:
    impacts: tuple[PriceImpact, ...] = ()  # deepest cuts first
    blocked: tuple[str, ...] = ()  # drops below a floor nobody allowed: the plan must not be applied
    warnings: tuple[str, ...] = ()  # allowed drops, with their reasons; items already below a floor
    notes: tuple[str, ...] = ()
    read_calls: int = 0
    # Item ids a changed promotion names that the shop does not have: the plan must not be applied.
    unknown_items: tuple[str, ...] = ()


def check_prices(
    plan: Plan,
    desired: Sequence[Resource],
    store: StateStore,
    client_for: Callable[[str], Caller],
    now: datetime,
    scope: Scope = EVERYTHING,
) -> PriceCheck:
    """What `plan` does to worst-case prices from `now` on, and the floors it breaks (see above)."""
    desired_by_key = {resource.key: resource for resource in desired}
    changes = {change.key: change.action for change in plan.changes}
    shops = sorted({key.shop for key in changes})
    # The store's records only when something changes: a big shop's are ~1 s and ~200 MB decoded,
    # and a plan without changes lowers no price (issue 20.6).
    applied = _Decoded(store.applied_specs() if shops else {})
    linked = {link.key for link in store.links()} if shops else set()
    result = _Result()
    for shop in shops:
        sides = _Sides.of(shop, desired_by_key, applied, linked, changes, scope)
        changed = sides.changed_keys()
        if not changed:
            continue  # the plan touches no promotion of this shop: no read, nothing to check
        _check_shop(shop, sides, changed, client_for(shop), now, result)
    result.impacts.sort(key=lambda i: (i.depth, i.after.unit_price - i.before.unit_price, i.shop, i.item.item_id))
    return PriceCheck(
        impacts=tuple(result.impacts),
        blocked=tuple(result.blocked),
        warnings=tuple(result.warnings),
        notes=tuple(result.notes),
        read_calls=result.read_calls,
        unknown_items=tuple(result.unknown_items),
    )


@dataclass
class _Result:
    impacts: list[PriceImpact] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    read_calls: int = 0
    unknown_items: list[str] = field(default_factory=list)


@dataclass
class _Sides:
    """The resources of one shop as TOP runs them now (before) and once the plan is applied (after)."""

    before: dict[ResourceKey, Resource]
    after: dict[ResourceKey, list[Resource]]
    floors: list[Floor]
    notes: list[str]
    # Each resource's rules, worked out once (a pool activity's take milliseconds; every check
    # below asks again): by id, the resource kept alongside so the id stays its own.
    _rules: dict[int, tuple[Resource, list[PriceRule]]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        shop: str,
        desired: Mapping[ResourceKey, Resource],
        applied: Mapping[ResourceKey, Resource],
        linked: set[ResourceKey],
        changes: Mapping[ResourceKey, Action],
        scope: Scope,
    ) -> _Sides:
        sides = cls(before={}, after={}, floors=[], notes=[])
        keys = {key for key in desired if key.shop == shop} | {key for key in linked if key.shop == shop}
        for key in sorted(keys):
            kind = KINDS[key.kind]
            wanted = desired.get(key)
            if key in changes:
                action = changes[key]
                last = applied.get(key) if key in linked and action is not Action.CREATE else None
                if key in linked and last is None and action is not Action.CREATE:
                    sides.notes.append(_("{key}: nothing was recorded of how it was last applied; its prices before "
                                         "this plan are counted as if it did not exist").format(key=key))
                old = None if action is Action.CREATE else last  # a create: nothing of it runs on TOP now
                new = wanted if action is not Action.DELETE else None
                after = [r for r in (new, old if kind.prices_outlive_changes else None) if r is not None]
            elif wanted is not None and scope.covers(key):
                old, after = wanted, [wanted]  # unchanged: TOP runs what is declared
            else:  # not planned this run (removed with prune off, or outside --target): as it is on TOP
                last = applied.get(key) if key in linked else None
                old = last if last is not None else (wanted if key in linked else None)
                after = [old] if old is not None else []
            if old is not None:
                sides.before[key] = old
            sides.after[key] = after
        sides.floors = [rule for r in desired.values() if r.key.shop == shop for rule in floors(sides.rules_of(r))]
        return sides

    def rules_of(self, resource: Resource) -> list[PriceRule]:
        known = self._rules.get(id(resource))
        if known is None:
            known = self._rules[id(resource)] = (resource, _rules(resource))
        return list(known[1])

    def rules_before(self, key: ResourceKey) -> list[PriceRule]:
        resource = self.before.get(key)
        if resource is None:
            return []
        try:
            return self.rules_of(resource)
        except (KeyError, TypeError, ValueError):  # recorded by an older version in another shape
            return []

    def rules_after(self, key: ResourceKey) -> list[PriceRule]:
        rules: list[PriceRule] = []
        for index, resource in enumerate(self.after.get(key, [])):
            try:
                found = self.rules_of(resource)
            except (KeyError, TypeError, ValueError):
                if index == 0:
                    raise  # the declared resource: its kind must be able to price it
                continue  # the old, lingering one, recorded in another shape
            rules.extend(rule for rule in found if rule not in rules)
        return rules

    def changed_keys(self) -> set[ResourceKey]:
        keys = set(self.before) | set(self.after)
        return {key for key in keys if promotions(self.rules_before(key)) != promotions(self.rules_after(key))}

    def promotions_before(self) -> list[Promotion]:
        return [rule for key in sorted(self.before) for rule in promotions(self.rules_before(key))]

    def promotions_after(self) -> list[Promotion]:
        return [rule for key in sorted(self.after) for rule in promotions(self.rules_after(key))]

    def allowance(self, key: ResourceKey) -> str | None:
        return next((r.allow_below_floor for r in self.after.get(key, []) if r.allow_below_floor), None)


class _Decoded(Mapping[ResourceKey, Resource]):
    """The applied specs, each decoded the first time it is asked for: only the changed resources'
    (and the ones outside this run's targets) are."""

    def __init__(self, specs: Mapping[ResourceKey, Mapping[str, Any]]) -> None:
        self._specs = specs
        self._decoded: dict[ResourceKey, Resource] = {}

    def __getitem__(self, key: ResourceKey) -> Resource:
        if key not in self._decoded:
            self._decoded[key] = resource_from_data(self._specs[key])
        return self._decoded[key]

    def __iter__(self) -> Iterator[ResourceKey]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def _rules(resource: Resource) -> list[PriceRule]:
    return KINDS[resource.key.kind].price_rules(resource)


def _check_shop(
    shop: str, sides: _Sides, changed: set[ResourceKey], client: Caller, now: datetime, result: _Result
) -> None:
    touched = [rule for key in changed for rule in promotions(sides.rules_before(key) + sides.rules_after(key))]
    ids, whole_shop = named_items(touched)
    reads_before = _reads(client)
    listed = read_list_prices(client, ids, whole_shop=whole_shop)
    declared = [resource for key in sorted(changed) for resource in sides.after.get(key, [])[:1]]  # not an old one
    references = check_references(shop, declared, listed, client, sides.rules_of)  # engine/references.py
    result.unknown_items.extend(references.errors)
    result.warnings.extend(references.warnings)
    result.read_calls += _reads(client) - reads_before
    result.notes.extend(f"{shop}: {note}" for note in sides.notes + listed.notes)
    before, after = Pricer(tuple(sides.promotions_before())), Pricer(tuple(sides.promotions_after()))
    reached = reach(touched)  # the items a changed promotion can touch: the only ones it can reprice
    default = default_floor(shop)  # for items no PriceFloor covers (pricing/floors.py)
    priced = [
        PriceImpact(shop, before.worst_from(item, now), after.worst_from(item, now), floor_of(item, sides.floors, default))
        for item in sorted(listed.items.values(), key=lambda i: i.item_id)
        if reached.covers(item)
    ]
    result.impacts.extend(impact for impact in priced if impact.after.unit_price != impact.before.unit_price)
    defaulted = sum(1 for impact in priced if impact.floor is not None and is_default(impact.floor))
    if defaulted:
        result.notes.append(_("{shop}: {count} item(s) checked against the default floor, {share}% of list (no PriceFloor "
                              "covers them; declare one to set another)").format(
                                  shop=shop, count=defaulted, share=DEFAULT_SHARE // 10))
    _check_floors(shop, priced, sides, changed, result)


def _reads(client: Caller) -> int:
    return int(getattr(getattr(client, "stats", None), "reads", 0))


@dataclass(frozen=True)
class _Drop:
    """An item the plan takes below its floor, and the manifests that cause it."""

    impact: PriceImpact
    causing: tuple[ResourceKey, ...]


def _check_floors(shop: str, impacts: Sequence[PriceImpact], sides: _Sides, changed: set[ResourceKey], result: _Result) -> None:
    drops: dict[tuple[ResourceKey, ...], list[_Drop]] = {}
    for impact in impacts:
        floor, after, before = impact.floor, impact.after, impact.before
        if floor is None or after.unit_price >= floor.price:
            continue
        if after.unit_price >= before.unit_price:
            result.warnings.append(
                _("{shop} {item} stays below its floor {floor} at {price} (this plan does not lower it): {stack}").format(
                    shop=shop, item=item_text(after), floor=floor_text(floor), price=yuan(after.unit_price),
                    stack=stack_text(after))
            )
            continue
        stack = list(after.keys)
        causing = tuple(key for key in stack if key in changed) or tuple(stack)
        drops.setdefault(causing, []).append(_Drop(impact, causing))
    for causing, group in sorted(drops.items()):
        group.sort(key=_deepest_below)
        missing = [key for key in causing if not sides.allowance(key)]
        if missing:
            _blocked(shop, group, missing, sides, result)
        else:
            _allowed(shop, group, sides, result)


def _deepest_below(drop: _Drop) -> tuple[Fraction, str]:
    """Furthest below its floor first: the worst case as a share of the floor."""
    floor = drop.impact.floor.price if drop.impact.floor is not None else 1
    return Fraction(drop.impact.after.unit_price, max(floor, 1)), drop.impact.item.item_id


def _drop_text(shop: str, drop: _Drop) -> str:
    impact = drop.impact
    assert impact.floor is not None
    return _("{shop} {item}: the worst-case price would drop to {price}, below its floor {floor} ({before} before "
             "this plan): {stack}").format(
        shop=shop, item=item_text(impact.after), price=yuan(impact.after.unit_price), floor=floor_text(impact.floor),
        before=yuan(impact.before.unit_price), stack=stack_text(impact.after))


def _blocked(shop: str, group: Sequence[_Drop], missing: Sequence[ResourceKey], sides: _Sides, result: _Result) -> None:
    fix = ", ".join(_where(key, sides) for key in missing)
    for drop in group[:BLOCKED_SHOWN]:
        result.blocked.append(_("{drop}. If that is intended, add metadata.allow_below_floor: \"<reason>\" to {fix}").format(
            drop=_drop_text(shop, drop), fix=fix))
    if len(group) > BLOCKED_SHOWN:
        result.blocked.append(_("{shop}: and {count} more item(s) below their floor because of {fix}").format(
            shop=shop, count=len(group) - BLOCKED_SHOWN, fix=fix))


def _allowed(shop: str, group: Sequence[_Drop], sides: _Sides, result: _Result) -> None:
    reasons = "; ".join(f"{key.kind}/{key.name}: {sides.allowance(key)}" for key in group[0].causing)
    result.warnings.append(
        _("{shop}: {count} item(s) go below their price floor, allowed by metadata.allow_below_floor ({reasons}); "
          "the deepest: {drop}").format(shop=shop, count=len(group), reasons=reasons, drop=_drop_text(shop, group[0]))
    )


def _where(key: ResourceKey, sides: _Sides) -> str:
    source = next((r.source for r in sides.after.get(key, []) if r.source is not None), None)
    return f"{key.kind}/{key.name}" + (f" ({source})" if source else "")


# ---- `reconciler price`: the declared promotions at one moment -------------------------------------


@dataclass(frozen=True)
class ShopPrices:
    shop: str
    quotes: tuple[tuple[Quote, FloorPrice | None], ...]  # deepest cut first
    at_list_price: int  # items read whose worst case is their list price (not shown)
    notes: tuple[str, ...] = ()
    read_calls: int = 0


def price_shops(
    resources: Sequence[Resource], client_for: Callable[[str], Caller], moment: datetime, item_ids: Sequence[str] = ()
) -> list[ShopPrices]:
    """Each shop's items priced at `moment` with every declared promotion that can apply then.
    With `item_ids`, exactly those items (item.seller.get each); otherwise every item on sale that
    a promotion can reach, and items named by a promotion or floor."""
    shops = sorted({resource.key.shop for resource in resources})
    return [_price_shop(shop, resources, client_for, moment, item_ids) for shop in shops]


def _price_shop(
    shop: str, resources: Sequence[Resource], client_for: Callable[[str], Caller], moment: datetime,
    item_ids: Sequence[str],
) -> ShopPrices:
    rules = [rule for resource in resources if resource.key.shop == shop for rule in _rules(resource)]
    offers, shop_floors = promotions(rules), floors(rules)
    if not offers and not item_ids:
        return ShopPrices(shop, (), 0, (_("no promotion is declared for this shop"),))
    client = client_for(shop)
    reads_before = _reads(client)
    if item_ids:
        listed = read_list_prices(client, item_ids, whole_shop=False)
    else:
        ids, whole_shop = named_items(rules)
        listed = read_list_prices(client, ids, whole_shop=whole_shop)
    pricer = Pricer(tuple(offers))
    quotes = [(pricer.at(item, moment), floor_of(item, shop_floors, default_floor(shop))) for item in listed.items.values()]
    shown = [(quote, floor) for quote, floor in quotes if item_ids or quote.steps or _below(quote, floor)]
    shown.sort(key=lambda pair: (Fraction(pair[0].unit_price, max(pair[0].item.list_price, 1)), pair[0].item.item_id))
    return ShopPrices(shop, tuple(shown), len(quotes) - len(shown), tuple(listed.notes), _reads(client) - reads_before)


def _below(quote: Quote, floor: FloorPrice | None) -> bool:
    return floor is not None and quote.unit_price < floor.price
