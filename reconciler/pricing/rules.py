"""What a promotion does to an item's price, as plain values: the input of the price guardrails.

Each kind translates its normalised spec into these (`Kind.price_rules`); `stacking.py` computes
worst cases from them and `floors.py` reads the floors. Units: money in integer fen, rates in
permille (800 = 8折, the buyer pays 80 %), times as timezone-aware datetimes; weekly periods are
in GMT+8, TOP's zone, whatever the machine's zone is.

The rule types, by the level they act at (see `stacking.py` for how they stack):

- `SpecialPrice`   item level: an unconditional item discount (ItemDiscount, 单品优惠).
- `PoolActivity`   item level (its items' own prices) and basket level (its stairs): an
                   item-pool activity, with its combination flags (priority, exclude_single,
                   is_multi_mix, enable_multiple, ceiling_amount) and per-buyer limit.
- `OrderDiscount`  basket level: a full-discount activity (FullDiscount, 满减 / 满折).
- `Coupon`         order level: a shop coupon, usable once the order reaches its threshold.
- `CashGift`       last: a Taoke cash gift (淘礼金) for one item.
- `Floor`          not a promotion: the lowest price items may reach (PriceFloor).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property

from reconciler.model import ResourceKey

GMT8 = timezone(timedelta(hours=8))
SECONDS_PER_DAY = 24 * 60 * 60
PERMILLE = 1000


# ---- when a rule applies ----------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """From `start` (inclusive) to `end` (exclusive); None is open on that side."""

    start: datetime | None = None
    end: datetime | None = None

    def contains(self, moment: datetime) -> bool:
        return (self.start is None or self.start <= moment) and (self.end is None or moment < self.end)

    def edges(self) -> tuple[datetime, ...]:
        return tuple(edge for edge in (self.start, self.end) if edge is not None)


@dataclass(frozen=True)
class Period:
    """Weekly hours in GMT+8 (an item-pool activity's period_config). Both parts must hold."""

    weekdays: frozenset[int] = frozenset()  # ISO weekdays, 1 = Monday; empty = every day
    spans: tuple[tuple[int, int], ...] = ()  # [start, end) in seconds after midnight; empty = all day

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(GMT8)
        if self.weekdays and local.isoweekday() not in self.weekdays:
            return False
        if not self.spans:
            return True
        second = local.hour * 3600 + local.minute * 60 + local.second
        return any(start <= second < end for start, end in self.spans)

    def edges(self, since: datetime, days: int = 7) -> list[datetime]:
        """Every moment in [since, since + days) at which the period may open or close; the
        period repeats weekly, so one week after any moment shows every state it can be in."""
        first = since.astimezone(GMT8).date()
        cuts = sorted({0, *(s for span in self.spans for s in span)})
        moments = []
        for offset in range(days + 1):
            day = first + timedelta(days=offset)
            for second in cuts:
                moment = _at(day, second)
                if since <= moment < since + timedelta(days=days):
                    moments.append(moment)
        return moments


def _at(day: date, second: int) -> datetime:
    midnight = datetime.combine(day, time(0), tzinfo=GMT8)
    return midnight + timedelta(seconds=second)


@dataclass(frozen=True)
class When:
    """When a rule is in effect: its window and, optionally, its weekly period."""

    window: Window = Window()
    period: Period | None = None

    def active(self, moment: datetime) -> bool:
        return self.window.contains(moment) and (self.period is None or self.period.contains(moment))


# ---- which items a rule covers ----------------------------------------------------------------


@dataclass(frozen=True)
class ListedItem:
    """An item as TOP lists it: the list price every promotion starts from."""

    item_id: str  # num_iid
    title: str
    list_price: int  # fen
    outer_id: str | None = None  # 商家编码: how item-pool sku codes name an item

    def codes(self) -> frozenset[str]:
        return frozenset(code for code in (self.item_id, self.outer_id) if code)


@dataclass(frozen=True)
class Items:
    """Every item of the shop, or the items with these ids, or with these merchant codes (an
    item-pool's sku_code names an item by its outer_id (商家编码) or its num_iid)."""

    every: bool = False
    ids: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()

    def covers(self, item: ListedItem) -> bool:
        return self.every or item.item_id in self.ids or bool(self.codes & item.codes())


# ---- what a rule does -------------------------------------------------------------------------


class Form(enum.Enum):
    DECREASE = "decrease"  # an amount off (fen)
    RATE = "rate"  # pay this share (permille)
    FIX_PRICE = "fix_price"  # each unit costs this (fen)
    FIX_TOTAL = "fix_total"  # the units the reward covers cost this together (fen)


class Scope(enum.Enum):
    """Which units of a basket a reward covers."""

    BASKET = "basket"  # every unit in the basket
    THRESHOLD_UNITS = "threshold_units"  # the units that meet the threshold (指定件数)
    NTH = "nth"  # the Nth unit, N being the stair's count (第N件)


@dataclass(frozen=True)
class UnitPrice:
    """An item-level price change on every unit: FIX_PRICE, RATE or DECREASE."""

    form: Form
    value: int
    label: str = ""  # how the manifest says it, e.g. "8.5折" or "fix price 9.90"


@dataclass(frozen=True)
class Threshold:
    """A basket condition: its subtotal at least `amount` fen, or at least `count` units."""

    amount: int | None = None
    count: int | None = None


NO_THRESHOLD = Threshold()


@dataclass(frozen=True)
class Reward:
    form: Form
    value: int  # fen, or permille for RATE
    scope: Scope = Scope.BASKET


@dataclass(frozen=True)
class Stair:
    """A threshold and what reaching it takes off; `codes` limits it to some of a pool's items
    (a logic group's own discount)."""

    threshold: Threshold
    reward: Reward
    label: str
    codes: frozenset[str] | None = None

    def covers(self, item: ListedItem) -> bool:
        return self.codes is None or bool(self.codes & item.codes())


# ---- the rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecialPrice:
    """An item discount (单品优惠): TOP lets one apply to an item at a time, so the lowest wins."""

    key: ResourceKey
    label: str
    when: When
    items: Items
    price: UnitPrice
    for_some_buyers: bool = False  # limited to a user tag: other buyers do not get it


@dataclass(frozen=True)
class PoolActivity:
    key: ResourceKey
    label: str
    when: When
    items: Items  # by merchant code
    stairs: tuple[Stair, ...]
    item_prices: tuple[tuple[str, UnitPrice], ...] = ()  # code → the item's own price in the pool
    stack_stairs: bool = False  # is_multi_mix: every reached stair applies, not only the best
    repeat: bool = False  # enable_multiple (上不封顶): a stair repeats per multiple of its threshold
    ceiling: int | None = None  # ceiling_amount: the most the activity takes off one basket (fen)
    priority: int = 0  # priority_value: the highest applies where several cover an item
    exclude_special_price: bool = False  # exclude_single: not for items with a SpecialPrice
    per_user_limit: int | None = None  # the most units one buyer may buy in it
    for_some_buyers: bool = False  # members only / non-members / a crowd: not every buyer
    reach: frozenset[str] = frozenset()  # terminals and stores it runs in

    def item_price(self, item: ListedItem) -> UnitPrice | None:
        """The item's own price: the first of `item_prices` naming one of its codes."""
        found = [self._item_prices_by_code[code] for code in item.codes() if code in self._item_prices_by_code]
        return min(found, key=lambda entry: entry[0])[1] if found else None

    @cached_property
    def _item_prices_by_code(self) -> dict[str, tuple[int, UnitPrice]]:
        """Each code's first entry in `item_prices` (its position, its price): a pool names thousands."""
        by_code: dict[str, tuple[int, UnitPrice]] = {}
        for position, (code, price) in enumerate(self.item_prices):
            by_code.setdefault(code, (position, price))
        return by_code

    def outranks(self, other: PoolActivity) -> bool:
        """Whether this activity keeps `other` from applying for every buyer `other` reaches:
        a higher priority, for every buyer, in every terminal and store `other` runs in."""
        return self.priority > other.priority and not self.for_some_buyers and self.reach >= other.reach


@dataclass(frozen=True)
class OrderDiscount:
    """A full-discount activity (满减 / 满折); several may stack."""

    key: ResourceKey
    label: str
    when: When
    items: Items
    threshold: Threshold
    rewards: tuple[Reward, ...]
    repeat: bool = False  # 上不封顶: the decrease repeats per multiple of the threshold


@dataclass(frozen=True)
class Coupon:
    """A shop coupon: one per order, usable when the order reaches `threshold` fen (0 = any)."""

    key: ResourceKey
    label: str
    when: When
    threshold: int
    denomination: int


@dataclass(frozen=True)
class CashGift:
    """A Taoke cash gift (淘礼金) for one item: `amount` fen off, up to `per_user` gifts a buyer."""

    key: ResourceKey
    label: str
    when: When
    item_id: str
    amount: int
    per_user: int = 1


@dataclass(frozen=True)
class Floor:
    """The lowest worst-case price items may reach: per item, and/or a share of the list price."""

    key: ResourceKey
    items: tuple[tuple[str, int], ...] = ()  # item id → floor in fen
    min_share: int | None = None  # permille of the list price

    def item_floor(self, item_id: str) -> int | None:
        return self._floors_by_item.get(item_id)

    @cached_property
    def _floors_by_item(self) -> dict[str, int]:
        return dict(self.items)  # as a dict reads it: an item named twice has its last floor


Promotion = SpecialPrice | PoolActivity | OrderDiscount | Coupon | CashGift
PriceRule = Promotion | Floor


def promotions(rules: Iterable[PriceRule]) -> list[Promotion]:
    return [rule for rule in rules if not isinstance(rule, Floor)]


def floors(rules: Iterable[PriceRule]) -> list[Floor]:
    return [rule for rule in rules if isinstance(rule, Floor)]


_EVERY_ITEM = Items(every=True)


def reach_of(rule: Promotion) -> Items:
    """The items `rule` can touch at all (its time aside)."""
    if isinstance(rule, (SpecialPrice, PoolActivity, OrderDiscount)):
        return rule.items
    if isinstance(rule, CashGift):
        return Items(ids=frozenset({rule.item_id}))
    return _EVERY_ITEM  # a shop coupon: every item of the shop


def covers(rule: Promotion, item: ListedItem) -> bool:
    """Whether `rule` can touch `item` at all (its time aside)."""
    return reach_of(rule).covers(item)


def reach(rules: Iterable[Promotion]) -> Items:
    """The items any of `rules` can touch, as one Items: its `covers` is `covers` for one of them,
    without asking each rule (a plan's changed rules against a shop's thousands of items)."""
    every, ids, codes = False, set[str](), set[str]()
    for rule in rules:
        items = reach_of(rule)
        every = every or items.every
        ids |= items.ids
        codes |= items.codes
    return Items(every, frozenset(ids), frozenset(codes))


def named_items(rules: Iterable[PriceRule]) -> tuple[set[str], bool]:
    """The item ids the rules name, and whether any of them needs the whole shop listed (a rule
    for every item, or one naming items by merchant code, which only the listing shows)."""
    ids: set[str] = set()
    whole_shop = False
    for rule in rules:
        if isinstance(rule, Floor):
            ids |= {item_id for item_id, _ in rule.items}
            whole_shop = whole_shop or rule.min_share is not None
        else:
            items = reach_of(rule)
            ids |= items.ids
            whole_shop = whole_shop or items.every or bool(items.codes)
    return ids, whole_shop
