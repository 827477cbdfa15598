"""ListingWindow: when items are on sale (``taobao.item.update.listing`` / ``delisting``).

What TOP allows, and so what the plan does:
- There is no "schedule" object on TOP: a window is the reconciler's own rule. The desired state
  of each item is computed for the moment of the run (``plan --at`` previews another moment) from
  the window's dates and weekly hours (GMT+8) and its stock rules; the plan lists or delists
  exactly the items that differ. Running the reconciler on a schedule keeps the shop in step.
- Items are read with the paged list calls, never one call per item: ``items.onsale.get`` and
  ``items.inventory.get`` twice, for the default banner (for_shelved) and for ``sold_out``,
  which the default leaves out — an item in the warehouse with no stock is only listed there.
  When every window selects by seller category only, the lists are filtered by ``seller_cids``.
- ``item.update.listing`` takes ``num``, and for an item without SKUs *sets its stock to num*.
  The plan passes the stock it read, so listing never changes stock; a saved plan is refused if
  that stock moved before apply. TOP refuses num 0, so an item with no stock is never listed.
- Listing and delisting are checkable: a call whose answer was lost is settled by reading the
  item's approve_status (``item.seller.get``).
- Two windows may not claim the same item; the plan names both.

State: the link records the items the window managed when it last sent a call, and the items
it delisted for lack of stock while ``relist_on_restock`` is false ("held": they stay delisted
until listed by hand). Removing a window leaves its items as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.kinds.base import (
    Caller,
    Kind,
    LiveState,
    NormaliseContext,
    Phase,
    PlanContext,
    ProblemCollector,
    forget,
)
from reconciler.errors import PlanError
from reconciler.i18n import N_, _, ngettext
from reconciler.kinds.common import phase_at
from reconciler.kinds.exported import Exported
from reconciler.kinds.schedule import (
    Schedule,
    ScheduleError,
    describe,
    is_open,
    next_change,
    parse_date_range,
    parse_span,
    schedule_from_spec,
    show,
)
from reconciler.manifest import Document
from reconciler.model import Action, Call, Change, Link, Resource, SetLink, SetRecordEntry
from reconciler.top.answers import top_rows

ONSALE = "taobao.items.onsale.get"
INVENTORY = "taobao.items.inventory.get"
SELLER_GET = "taobao.item.seller.get"
LISTING = "taobao.item.update.listing"
DELISTING = "taobao.item.update.delisting"

PAGE_SIZE = 200  # the largest page both list calls serve
MAX_SELLER_CIDS = 32  # the most seller_cids one list call takes
LIST_FIELDS = "num_iid,title,approve_status,num,seller_cids"
WAREHOUSE_BANNERS = ("for_shelved", "sold_out")  # for_shelved leaves sold_out items out
REMOTE_ID = "(item set)"  # a window is no object on TOP; its link holds the items it manages


class ListingWindow(Kind):
    kind = "ListingWindow"
    schema = "listing-window.schema.json"
    reads_back = False  # a window is the reconciler's own rule, never an object TOP could lose
    read_methods = (ONSALE, INVENTORY, SELLER_GET)
    write_methods = (LISTING, DELISTING)
    not_exportable = N_("a listing window is the reconciler's own rule, not a TOP object: --listing snapshot writes one")

    # ---- manifest → normalised spec -------------------------------------------------------------

    def normalise_spec(self, doc: Document, ctx: NormaliseContext, problems: ProblemCollector) -> dict[str, Any]:
        spec = doc.spec
        items = sorted({int(i) for i in spec.get("items") or ()})
        categories = sorted({str(c) for c in spec.get("seller_categories") or ()})
        if not items and not categories:
            problems.add(("spec",), _("select items with items (ids) and/or seller_categories (ids); none given"))
        schedule = _schedule(spec.get("on_sale") or {}, problems)
        stock = spec.get("stock") or {}
        return {
            "items": items,
            "seller_categories": categories,
            "schedule": schedule,
            "stock": {
                "delist_when_out_of_stock": bool(stock.get("delist_when_out_of_stock", True)),
                "relist_on_restock": bool(stock.get("relist_on_restock", True)),
            },
        }

    # ---- live state -----------------------------------------------------------------------------

    def read_live(self, client: Caller, ctx: PlanContext) -> LiveState:
        live = LiveState()
        windows = ctx.desired_of(self.kind)
        for link in ctx.links_of(self.kind):
            if link.key not in ctx.desired:
                live.by_name[link.key.name] = {"items": {}}  # removed: nothing to read, items are left alone
        if not windows:
            return live
        shop_items = read_items(client, _server_filter(windows))
        claims: dict[int, list[str]] = {}
        missing: dict[str, list[int]] = {}
        for window in windows:
            selected = select(window.spec, shop_items)
            absent = [i for i in window.spec["items"] if i not in shop_items]
            if absent:
                missing[window.key.name] = absent
            live.by_name[window.key.name] = {"items": {str(i): _fingerprinted(shop_items[i]) for i in selected}}
            for item_id in selected:
                claims.setdefault(item_id, []).append(window.key.name)
        live.extra["missing"] = missing
        live.extra["claims"] = {item_id: names for item_id, names in claims.items() if len(names) > 1}
        return live

    def phase(self, resource: Resource, ctx: PlanContext) -> Phase:
        """Ended once its last date range is over (a window without dates never ends). A window
        that was applied keeps being planned after its end (plan_ended): its items go off sale."""
        dates = schedule_from_spec(resource.spec["schedule"]).dates
        if not dates:
            return Phase.LIVE
        return phase_at(min(r.start for r in dates), max(r.end for r in dates), ctx.now)

    def plan_ended(self, desired: Resource, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        return self.plan_change(desired, link, live, ctx)

    # ---- diff → calls ---------------------------------------------------------------------------

    def plan_create(self, desired: Resource, live: Any | None, ctx: PlanContext) -> Change | None:
        return plan_window(desired, None, _selected(live), ctx)

    def plan_existing(self, desired: Resource, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        return plan_window(desired, link, _selected(live), ctx)

    def plan_gone(self, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        managed = link.record.get("items") or []
        return forget(link, ngettext(
            "its manifest was removed; its {count} item(s) are left as they are (no call)",
            "its manifest was removed; its {count} item(s) are left as they are (no call)", len(managed),
        ).format(count=len(managed)))

    def check_plan(self, changes: Sequence[Change], live: LiveState, ctx: PlanContext) -> list[str]:
        errors = []
        windows = {r.key.name: r for r in ctx.desired_of(self.kind)}
        for name, absent in sorted(live.extra.get("missing", {}).items()):
            absent_ids = ", ".join(str(i) for i in absent)
            errors.append(_(
                "ListingWindow/{name} ({source}): item(s) {ids} are not in the shop "
                "(neither on sale nor in the warehouse); check spec.items"
            ).format(name=name, source=windows[name].source, ids=absent_ids))
        by_pair: dict[tuple[str, ...], list[int]] = {}
        for item_id, names in sorted(live.extra.get("claims", {}).items()):
            by_pair.setdefault(tuple(sorted(names)), []).append(item_id)
        for names, ids in by_pair.items():
            # Translators: joins the windows that select the same items: "A and B".
            who = _(" and ").join(f"ListingWindow/{n} ({windows[n].source})" for n in names)
            shown = ", ".join(str(i) for i in ids[:5])
            if len(ids) > 5:
                shown = _("{items} and {count} more").format(items=shown, count=len(ids) - 5)
            errors.append(ngettext(
                "{windows} both select {count} item(s): {items}; an item can follow one window only",
                "{windows} both select {count} item(s): {items}; an item can follow one window only", len(ids),
            ).format(windows=who, count=len(ids), items=shown))
        return errors

    def import_record(self, client: Caller, remote_id: str, desired: Resource) -> Mapping[str, Any]:
        """Adopt the items a window selects as they are now (`export --listing snapshot --import`):
        the record a window's first plan would make; nothing is listed or delisted."""
        if remote_id != REMOTE_ID:
            raise PlanError(_("a listing window is no object on TOP; import it with the remote id {id!r}").format(
                id=REMOTE_ID))
        return {"items": select(desired.spec, read_items(client, _server_filter([desired]))), "held": {}}

    def export_snapshot(self, client: Caller, name: str) -> Exported:
        """`export --listing snapshot`: a window that pins what is on sale now (issue 19.5). Always
        open, so its items stay on sale; an item selling out stays listed (TOP may still move it to
        the warehouse) and is listed again when restocked. Items in the warehouse are not selected."""
        on_sale = sorted(item_id for item_id, item in read_items(client, {}).items() if item["on_sale"])
        spec = {"items": [str(item_id) for item_id in on_sale],
                "stock": {"delist_when_out_of_stock": False, "relist_on_restock": True}}
        notes = (f"what is on sale now: {len(on_sale)} item(s) (items.onsale.get); items in the warehouse are "
                 "not selected and stay as they are. Replace it with real windows when you write them",)
        lost = ("nothing is on sale now, and a window selects at least one item",) if not on_sale else ()
        return Exported(self.kind, REMOTE_ID, name, spec, notes=notes, lost=lost)

    def recover(self, client: Caller, method: str, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Listing and delisting show in the item's approve_status: read it, never re-send blindly."""
        if method not in (LISTING, DELISTING):
            return super().recover(client, method, params)
        answer = client.call(SELLER_GET, {"fields": "num_iid,approve_status,modified", "num_iid": params["num_iid"]})
        item = answer.get("item") or {}
        wanted = "onsale" if method == LISTING else "instock"
        if item.get("approve_status") != wanted:
            return None
        return {"item": {"num_iid": item.get("num_iid", params["num_iid"]), "modified": item.get("modified")}}


def _selected(live: Any | None) -> Mapping[str, Mapping[str, Any]]:
    """The items read_live found the window selecting, by id."""
    items: Mapping[str, Mapping[str, Any]] = (live or {}).get("items") or {}
    return items


# ---- normalisation helpers -------------------------------------------------------------------


def _schedule(on_sale: Mapping[str, Any], problems: ProblemCollector) -> dict[str, Any]:
    """Checked, and kept in the manifest's own words (plain data, so saved plans carry it)."""
    dates = []
    for index, span in enumerate(on_sale.get("dates") or ()):
        try:
            parse_date_range(span["start"], span["end"])
        except ScheduleError as exc:
            problems.add(("spec", "on_sale", "dates", index), str(exc))
        dates.append([span["start"], span["end"]])
    weekly = []
    for index, rule in enumerate(on_sale.get("weekly") or ()):
        for hour_index, hours in enumerate(rule["hours"]):
            try:
                parse_span(hours)
            except ScheduleError as exc:
                problems.add(("spec", "on_sale", "weekly", index, "hours", hour_index), str(exc))
        weekly.append({"weekdays": list(rule["weekdays"]), "hours": list(rule["hours"])})
    return {"dates": dates, "weekly": weekly}


# ---- reading the shop --------------------------------------------------------------------------


def _server_filter(windows: Sequence[Resource]) -> dict[str, str]:
    """seller_cids for the list calls when every window selects by category only (fewer pages);
    otherwise the whole shop is read, since the list calls cannot filter by item id."""
    categories = sorted({c for w in windows for c in w.spec["seller_categories"]})
    if any(w.spec["items"] for w in windows) or len(categories) > MAX_SELLER_CIDS:
        return {}
    return {"seller_cids": ",".join(categories)}


def read_items(client: Caller, filters: Mapping[str, str]) -> dict[int, dict[str, Any]]:
    """Every item of the shop (or of the filtered categories): on sale, waiting in the warehouse,
    and sold out in the warehouse, by num_iid."""
    items: dict[int, dict[str, Any]] = {}
    queries: list[tuple[str, dict[str, str]]] = [(ONSALE, dict(filters))]
    queries += [(INVENTORY, {**filters, "banner": banner}) for banner in WAREHOUSE_BANNERS]
    for method, query in queries:
        for row in _pages(client, method, query):
            item = _item(row)
            items[item["num_iid"]] = item
    return items


def _pages(client: Caller, method: str, query: Mapping[str, str]) -> list[Mapping[str, Any]]:
    """Page 1 says how many items there are; the other pages are then read concurrently."""
    first = client.call(method, _page(query, 1))
    pages = -(-int(first.get("total_results") or 0) // PAGE_SIZE)
    answers = [first, *client.call_many(method, [_page(query, n) for n in range(2, pages + 1)])]
    return [row for answer in answers for row in _rows(answer.get("items"))]


def _page(query: Mapping[str, str], page_no: int) -> dict[str, Any]:
    return {**query, "fields": LIST_FIELDS, "page_no": page_no, "page_size": PAGE_SIZE}


def _rows(items: Any) -> list[Mapping[str, Any]]:
    """{"item": [...]} without simplify, a bare list with simplify=true, absent when empty."""
    return top_rows(items, "item", where="items")


def _item(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "num_iid": int(row["num_iid"]),
        "title": str(row.get("title") or ""),
        "on_sale": row.get("approve_status") == "onsale",
        "num": int(row.get("num") or 0),
        # ",220000002,220000010," or "220000002,220000010": TOP's answers vary; both read the same.
        "seller_cids": sorted({c.strip() for c in str(row.get("seller_cids") or "").split(",") if c.strip()}),
    }


def select(spec: Mapping[str, Any], shop_items: Mapping[int, Mapping[str, Any]]) -> list[int]:
    """The ids of the shop's items a window selects: its listed ids that exist, and every item in
    one of its seller categories."""
    categories = set(spec["seller_categories"])
    chosen = {i for i in spec["items"] if i in shop_items}
    chosen |= {i for i, item in shop_items.items() if categories & set(item["seller_cids"])}
    return sorted(chosen)


def _fingerprinted(item: Mapping[str, Any]) -> dict[str, Any]:
    """What the plan depends on, and nothing that moves with every sale: for an item on sale only
    whether it has stock; for one in the warehouse its exact stock (a listing sends it as num)."""
    view: dict[str, Any] = {"title": item["title"], "on_sale": item["on_sale"]}
    if item["on_sale"]:
        view["has_stock"] = item["num"] > 0
    else:
        view["num"] = item["num"]
    return view


# ---- planning -----------------------------------------------------------------------------------


def decide(
    *, window_open: bool, on_sale: bool, has_stock: bool, held: bool, stock_rules: Mapping[str, bool]
) -> tuple[str, str] | None:
    """("list" | "delist", why) for one item, or None when it is right as it is."""
    if not window_open:
        return ("delist", N_("outside the window")) if on_sale else None
    if on_sale:
        if not has_stock and stock_rules["delist_when_out_of_stock"]:
            return ("delist", N_("out of stock"))
        return None
    if not has_stock:
        return None  # TOP refuses a listing with 0 stock; it is listed once restocked
    if held and not stock_rules["relist_on_restock"]:
        return None  # delisted for lack of stock; relist_on_restock is off, so a person relists it
    return ("list", N_("restocked") if held else N_("inside the window"))


def plan_window(
    desired: Resource, link: Link | None, items: Mapping[str, Mapping[str, Any]], ctx: PlanContext
) -> Change | None:
    schedule = schedule_from_spec(desired.spec["schedule"])
    window_open = is_open(schedule, ctx.now)
    rules = desired.spec["stock"]
    held_before: Mapping[str, Any] = (link.record.get("held") or {}) if link else {}
    calls: list[Call] = []
    details: list[str] = []
    held_after: dict[str, str] = {}
    for item_id, item in sorted(items.items(), key=lambda pair: int(pair[0])):
        has_stock = item["has_stock"] if item["on_sale"] else item["num"] > 0
        held = item_id in held_before and not item["on_sale"]
        decision = decide(
            window_open=window_open, on_sale=item["on_sale"], has_stock=has_stock, held=held, stock_rules=rules
        )
        if held and decision is None:
            held_after[item_id] = held_before[item_id]
        if decision is None:
            continue
        action, why = decision
        hold = action == "delist" and why == "out of stock" and not rules["relist_on_restock"]
        if hold:
            held_after[item_id] = "delisted when out of stock"
        calls.append(_call(action, int(item_id), item, hold=hold, held=held, linked=link is not None))
        details.append(_detail(action, item_id, item, why))
    record = {"items": sorted(int(i) for i in items), "held": held_after}
    if link is not None and not calls:
        return None
    return Change(
        key=desired.key,
        action=Action.CREATE if link is None else Action.UPDATE,
        calls=_with_link_first(calls, record) if link is None else tuple(calls),
        reason=_reason(schedule, window_open, ctx, len(items)),
        details=tuple(details) or (_("no item needs a call now; the window is recorded in the state store"),),
        source=desired.source,
        effects=(SetLink(REMOTE_ID, record),),
    )


def _call(action: str, item_id: int, item: Mapping[str, Any], *, hold: bool, held: bool, linked: bool) -> Call:
    effects: tuple[SetRecordEntry, ...] = ()
    if linked and (hold or held):  # recorded call by call, so a failed apply still knows what it held
        effects = (SetRecordEntry("held", str(item_id), "delisted when out of stock" if hold else None),)
    if action == "list":
        # num is the stock the plan read: listing sets an item's stock to num, so anything else
        # would change the stock as a side effect.
        return Call(LISTING, {"num_iid": item_id, "num": item["num"]}, effects=effects)
    return Call(DELISTING, {"num_iid": item_id}, effects=effects)


def _with_link_first(calls: list[Call], record: Mapping[str, Any]) -> tuple[Call, ...]:
    """A new window's first call links it, so the calls after it can record into the link."""
    if not calls:
        return ()
    first = calls[0]
    start = {"items": record["items"], "held": {}}
    return (Call(first.method, first.params, first.binds, (SetLink(REMOTE_ID, start), *first.effects)), *calls[1:])


def _detail(action: str, item_id: str, item: Mapping[str, Any], why: str) -> str:
    # `why` is decide's English word (the plan also compares it); shown in the run's language.
    if action == "list":
        return _("+ list {id} {title} (stock {stock}): {why}").format(
            id=item_id, title=item["title"], stock=item["num"], why=_(why))
    return _("- delist {id} {title}: {why}").format(id=item_id, title=item["title"], why=_(why))


def _reason(schedule: Schedule, window_open: bool, ctx: PlanContext, count: int) -> str:
    flip = next_change(schedule, ctx.now)
    if window_open and flip:
        text = ngettext("at {now} the window ({schedule}) is open for its {count} item(s); it closes at {flip}",
                        "at {now} the window ({schedule}) is open for its {count} item(s); it closes at {flip}",
                        count)
    elif window_open:
        text = ngettext("at {now} the window ({schedule}) is open for its {count} item(s)",
                        "at {now} the window ({schedule}) is open for its {count} item(s)", count)
    elif flip:
        text = ngettext("at {now} the window ({schedule}) is closed for its {count} item(s); it opens at {flip}",
                        "at {now} the window ({schedule}) is closed for its {count} item(s); it opens at {flip}",
                        count)
    else:
        text = ngettext("at {now} the window ({schedule}) is closed for its {count} item(s)",
                        "at {now} the window ({schedule}) is closed for its {count} item(s)", count)
    return text.format(now=show(ctx.now), schedule=describe(schedule), count=count,
                       flip=show(flip) if flip else "")
