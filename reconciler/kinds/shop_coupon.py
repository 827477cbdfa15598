"""ShopCoupon: a shop coupon (店铺优惠券) via `taobao.promotion.coupon.add` and `coupons.get`.

The manifest:

    kind: ShopCoupon
    metadata: {name: welcome-10, shop: demo-shop}
    spec:
      denomination: "10.00"                 # yuan: 3, 5, 10, 20, 50 or 100
      order_at_least: "99.00"               # 满99元可用; "0.00" = no threshold
      window: {start: "2027-01-01T00:00:00+08:00", end: "2027-03-31T23:59:59+08:00"}  # start optional

Units (each converted once, in `units.py`): YAML money is a quoted yuan string. coupon.add takes
*whole yuan* as Longs (10, 99), so "9.90" is refused at load; coupons.get answers in *fen*
(1000, 9900). Times are ISO 8601 with an offset in YAML and `yyyy-MM-dd HH:mm:ss` in GMT+8 on the
wire. TOP's default threshold (denomination + 1 yuan) is a surprise, so `order_at_least` is
required and always sent: the plan shows exactly what TOP will hold.

What TOP allows, and so what the plan can do:
- No update, no delete. A changed spec is a *replace* in the sense that the name moves to a new
  coupon: the plan creates a new coupon and says in words that the old one stays valid until its
  end (buyers who hold it can still use it). The old id is kept in the new state record
  ("retired") so the plan can name it while it is still valid.
- A removed manifest plans no TOP call (none exists). With prune, the state entry is forgotten
  and the plan says the coupon stays valid until its end; from then on it is listed as unmanaged.
- Identity: coupons have no free text field and coupons.get returns no start time, so a coupon is
  identified by its state link (name → coupon id) and, without one, by content: denomination,
  threshold and end time. Two declared coupons of one shop with the same content are refused,
  since TOP could not tell them apart.
- A lost coupon.add answer is recovered by content the same way (see `recover`). Known limit: an
  unmanaged coupon with exactly that content could be adopted in its place; the plan warns when
  such a lookalike exists.
- At most 50 valid coupons per shop. coupons.get lists every coupon (pages of 20), so reading is
  one paged list and `always_read` is on: unmanaged coupons are reported even when none are
  declared. `check_plan` counts live valid coupons (managed, retired and unmanaged alike) plus the
  coupons the plan creates, and fails before any call if that passes 50.
- Create-time rules checked in the plan, not at load (an existing coupon is not re-checked): the
  end must be at least today 23:59:59 (GMT+8) and at most 6 months ahead. A coupon not made yet
  that ends later today can never be made, so the plan skips it with a note instead (issue 17.1).
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from reconciler.errors import PlanError
from reconciler.i18n import N_, _
from reconciler.kinds.base import (
    Caller,
    Kind,
    LiveState,
    NormaliseContext,
    Phase,
    PlanContext,
    ProblemCollector,
    forget,
    new_id_ref,
)
from reconciler.kinds.common import end_after_start, phase_at, which_side_moved
from reconciler.kinds.exported import ExportError, Exported
from reconciler.kinds.shop_coupon_export import coupon_exported, coupons_exported
from reconciler.top.answers import top_rows
from reconciler.kinds.wording import arrow, on_top
from reconciler.kinds.units import (
    GMT8,
    UnitError,
    fen_to_yuan,
    parse_iso,
    parse_top_datetime,
    to_top_datetime,
    whole_yuan,
    yuan_to_fen,
)
from reconciler.manifest import Document
from reconciler.model import Action, Call, Change, Link, Resource, ResourceKey, SetLink
from reconciler.pricing.rules import Coupon, PriceRule, When, Window

log = logging.getLogger(__name__)

KIND = "ShopCoupon"
ADD = "taobao.promotion.coupon.add"
LIST = "taobao.promotion.coupons.get"

DENOMINATIONS = (3, 5, 10, 20, 50, 100)  # whole yuan, the only values coupon.add accepts
MAX_VALID_COUPONS = 50
MAX_END_MONTHS = 6
PAGE_SIZE = 20  # coupons.get serves at most 20 per page


class ShopCoupon(Kind):
    kind = KIND
    schema = "shop-coupon.schema.json"
    noun = N_("coupon")
    read_methods = (LIST,)
    write_methods = (ADD,)
    always_read = True  # one paged list shows every coupon, so unmanaged ones are cheap to report
    prices_outlive_changes = True  # a changed or forgotten coupon stays valid until its end

    # ---- manifest → wire -------------------------------------------------------------------

    def normalise_spec(self, doc: Document, ctx: NormaliseContext, problems: ProblemCollector) -> dict[str, Any]:
        return {"add": _add_params(doc.spec, problems, ctx)}

    def phase(self, resource: Resource, ctx: PlanContext) -> Phase:
        """A coupon is valid through its end second (coupons.get's rule, `_is_valid`); an ended
        coupon that exists is left alone: TOP can neither change nor delete it. A coupon not made
        yet that ends later today counts as ended (`declared_coupon_phase`)."""
        return declared_coupon_phase(resource, ctx)

    def price_rules(self, resource: Resource) -> list[PriceRule]:
        """A shop coupon: any item, one coupon an order, once the order reaches its threshold."""
        add = resource.spec["add"]
        start = parse_top_datetime(str(add["start_time"])) if add.get("start_time") else None
        end = parse_top_datetime(str(add["end_time"])) + timedelta(seconds=1)  # its end second still counts
        denomination, threshold = yuan_to_fen(add["denominations"]), yuan_to_fen(add["condition"])
        return [
            Coupon(
                key=resource.key,
                label=f"{fen_to_yuan(denomination)}元券" + (f"，满{fen_to_yuan(threshold)}元可用" if threshold else ""),
                when=When(Window(start, end)),
                threshold=threshold,
                denomination=denomination,
            )
        ]

    # ---- live state ------------------------------------------------------------------------

    def read_live(self, client: Caller, ctx: PlanContext) -> LiveState:
        """by_name: a linked coupon's coupons.get row (None when gone); for a declared coupon without a
        link, {"lookalikes": [ids]} when unmanaged valid coupons already have its content."""
        rows = list_coupons(client)
        valid = [row for row in rows if _is_valid(row, ctx.now)]
        live = LiveState(extra={"valid_coupons": len(valid)})
        by_id = {str(row["coupon_id"]): row for row in rows}
        links = ctx.links_of(self.kind)
        linked = {link.remote_id for link in links}
        retired_by = {str(old): str(link.key) for link in links for old in (link.record.get("retired") or {})}
        for link in links:
            live.by_name[link.key.name] = by_id.get(link.remote_id)
        unlinked_rows = [row for row in valid if str(row["coupon_id"]) not in linked]
        for resource in ctx.desired_of(self.kind):
            if resource.key not in ctx.links:
                if _cannot_be_made_today(resource, ctx):
                    live.info[resource.key.name] = [_too_soon_note(resource.spec["add"], ctx.now)]
                wanted = list_view(resource.spec["add"])
                ids = [str(row["coupon_id"]) for row in unlinked_rows if content_of(row) == wanted]
                if ids:
                    live.by_name[resource.key.name] = {"lookalikes": ids}
        for row in unlinked_rows:
            coupon_id = str(row["coupon_id"])
            if coupon_id in retired_by:
                text = _("coupon {id}: {coupon}; replaced by {address}, still valid").format(
                    id=coupon_id, coupon=describe_view(row), address=retired_by[coupon_id])
            else:
                text = _("coupon {id}: {coupon}").format(id=coupon_id, coupon=describe_view(row))
            live.unmanaged.append(text)
        return live

    # ---- diff → calls ----------------------------------------------------------------------

    def plan_create(self, desired: Resource, live: Any | None, ctx: PlanContext) -> Change | None:
        lookalikes = list(live["lookalikes"]) if live else []
        return _plan_create(desired, Action.CREATE, "", lookalikes, retired={})

    def plan_existing(self, desired: Resource, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        if live is None:
            reason = _(
                "coupon {id} is no longer on TOP (removed outside the reconciler); a new coupon is created"
            ).format(id=link.remote_id)
            return _plan_create(desired, Action.CREATE, reason, [], retired={})
        return _plan_existing(desired, link, live, ctx.now)

    def plan_gone(self, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        assert live is not None  # a coupon gone on TOP was forgotten by Kind.plan_change
        return _plan_forget(link, live, ctx.now)

    def same_as_create(self, client: Caller, desired: Resource, live: LiveState) -> list[str]:
        """The lookalikes read_live found: valid coupons no link owns with this denomination,
        threshold and end time (all coupons.get shows; its start time is not shown)."""
        found = live.by_name.get(desired.key.name)
        return list(found["lookalikes"]) if found else []

    def check_plan(self, changes: Sequence[Change], live: LiveState, ctx: PlanContext) -> list[str]:
        errors = list(_same_content_errors(ctx.desired_of(self.kind)))
        creates = [c for c in changes if c.action in (Action.CREATE, Action.REPLACE) and c.calls]
        for change in creates:
            errors.extend(_create_time_errors(change.key, ctx.desired[change.key], ctx.now))
        valid_now = int(live.extra.get("valid_coupons", 0))
        if creates and valid_now + len(creates) > MAX_VALID_COUPONS:
            errors.append(_(
                "TOP allows at most {limit} valid shop coupons; {valid} are valid now "
                "(managed or not) and this plan creates {count} more "
                "({names}), {total} in all. "
                "Coupons cannot be deleted: wait until some end, or declare fewer"
            ).format(limit=MAX_VALID_COUPONS, valid=valid_now, count=len(creates),
                     names=", ".join(c.key.name for c in creates), total=valid_now + len(creates)))
        return errors

    def import_record(self, client: Caller, remote_id: str, desired: Resource) -> Mapping[str, Any]:
        """Adopt a coupon made elsewhere. No "add" is recorded (TOP does not show the start time it was
        made with), so plans compare the manifest with what coupons.get shows."""
        if not remote_id.isdigit():
            raise PlanError(_("{id!r} is not a coupon id (coupon ids are numbers)").format(id=remote_id))
        answer = client.call(LIST, {"coupon_id": int(remote_id)})
        listed = top_rows(answer.get("coupons"), "coupon", where=LIST)
        if not any(str(row.get("coupon_id")) == remote_id for row in listed):
            raise PlanError(_("shop {shop} has no coupon {id} on TOP").format(shop=desired.key.shop, id=remote_id))
        return {}

    def export_listed(self, client: Caller) -> list[Exported] | None:
        return coupons_exported(list_coupons(client), DENOMINATIONS)

    def export_one(self, client: Caller, remote_id: str) -> Exported:
        found = [row for row in list_coupons(client) if str(row["coupon_id"]) == remote_id]
        if not found:
            raise ExportError(_("the shop has no coupon {id} on TOP").format(id=remote_id))
        return coupon_exported(found[0], DENOMINATIONS)

    def recover(self, client: Caller, method: str, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """coupon.add has no idempotency key: look for a coupon with the same content instead."""
        if method != ADD:
            return super().recover(client, method, params)
        wanted = list_view(params)
        matches = [row for row in list_coupons(client) if content_of(row) == wanted]
        if not matches:
            return None
        if len(matches) > 1:
            ids = ", ".join(str(row["coupon_id"]) for row in matches)
            raise PlanError(_(
                "{method}: coupons {ids} all have this denomination, threshold and end time, and TOP shows "
                "no name or start time to tell which one this apply created; link the right one with "
                "`reconciler import` before applying again"
            ).format(method=method, ids=ids))
        log.info("%s: the lost create took effect as coupon %s", method, matches[0]["coupon_id"])
        return {"coupon_id": matches[0]["coupon_id"]}


# ---- normalisation ---------------------------------------------------------------------------


def _add_params(spec: Mapping[str, Any], problems: ProblemCollector, ctx: NormaliseContext) -> dict[str, Any]:
    add: dict[str, Any] = {}
    denomination = _whole_yuan(spec["denomination"], ("spec", "denomination"), problems)
    if denomination is not None and denomination not in DENOMINATIONS:
        problems.add(
            ("spec", "denomination"),
            _("{amount} yuan is not a shop coupon denomination; TOP allows 3, 5, 10, 20, 50 or 100").format(
                amount=spec["denomination"]),
        )
    threshold = _whole_yuan(spec["order_at_least"], ("spec", "order_at_least"), problems)
    if denomination is not None and threshold not in (None, 0) and threshold < denomination:
        problems.add(
            ("spec", "order_at_least"),
            _('a {denomination}-yuan coupon needs an order of at least {denomination}.00 yuan, '
              'or "0.00" for no threshold (TOP refuses a threshold below the denomination)').format(
                denomination=denomination),
        )
    if denomination is not None:
        add["denominations"] = denomination
    if threshold is not None:
        add["condition"] = threshold
    add.update(_window(spec["window"], problems, ctx))
    return add


def _whole_yuan(value: Any, path: tuple[Any, ...], problems: ProblemCollector) -> int | None:
    try:
        return whole_yuan(value)
    except UnitError as exc:
        problems.add(path, _('{problem}; shop coupons take whole yuan, e.g. "10.00"').format(problem=exc))
        return None


def _window(window: Mapping[str, str], problems: ProblemCollector, ctx: NormaliseContext) -> dict[str, str]:
    try:
        end = parse_iso(window["end"])
        start = parse_iso(window["start"]) if "start" in window else None
    except UnitError as exc:
        problems.add(("spec", "window"), str(exc))
        return {}
    if start is not None and end <= start:
        problems.add(("spec", "window", "end"), end_after_start(window["end"], window["start"]))
    times = {"end_time": to_top_datetime(end)}
    if start is not None:
        times["start_time"] = to_top_datetime(start)
    return times


# ---- reading ---------------------------------------------------------------------------------


def list_coupons(client: Caller) -> list[dict[str, Any]]:
    """Every coupon of the shop, all pages of coupons.get."""
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = client.call(LIST, {"page_no": page, "page_size": PAGE_SIZE})
        batch = [dict(row) for row in top_rows(answer.get("coupons"), "coupon", where=LIST)]
        rows.extend(batch)
        total = int(answer.get("total_results") or 0)
        if not batch or len(rows) >= total:
            return rows
        page += 1


def list_view(add: Mapping[str, Any]) -> dict[str, Any]:
    """What coupons.get shows of a coupon added with `add`: yuan become fen, the start is not shown."""
    return {
        "denominations": yuan_to_fen(add["denominations"]),
        "condition": yuan_to_fen(add["condition"]),
        "end_time": str(add["end_time"]),
    }


def content_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """A coupons.get row in the same form as list_view (numbers may arrive as int, Decimal or str)."""
    return {
        "denominations": yuan_to_fen(fen_to_yuan(int(row["denominations"]))),
        "condition": yuan_to_fen(fen_to_yuan(int(row["condition"]))),
        "end_time": str(row["end_time"]),
    }


def describe_view(view: Mapping[str, Any]) -> str:
    """A coupon as a person reads it: '10.00 yuan off orders from 99.00 yuan, ends 2027-03-31 23:59:59 (GMT+8)'."""
    return _("{offer}, ends {end} (GMT+8)").format(offer=_offer(view), end=content_of(view)["end_time"])


def _offer(view: Mapping[str, Any]) -> str:
    content = content_of(view)
    condition = int(content["condition"])
    denomination = fen_to_yuan(int(content["denominations"]))
    if condition:
        return _("{denomination} yuan off orders from {threshold} yuan").format(
            denomination=denomination, threshold=fen_to_yuan(condition))
    return _("{denomination} yuan off any order").format(denomination=denomination)


def coupon_phase(add: Mapping[str, Any], now: datetime) -> Phase:
    """Where a coupon added with `add` is at `now` (its end second still counts)."""
    start = parse_top_datetime(str(add["start_time"])) if add.get("start_time") else None
    return phase_at(start, parse_top_datetime(str(add["end_time"])) + timedelta(seconds=1), now)


def declared_coupon_phase(coupon: Resource, ctx: PlanContext) -> Phase:
    """coupon_phase, except that a coupon not made yet (no link) whose end is before 23:59:59 of
    today (GMT+8) is ENDED too: TOP makes no coupon ending before the last second of the day it
    is made (coupon.add, `_create_time_errors`), and by tomorrow it is over. So it is skipped with
    a note instead of failing the plan; a grant of it (CouponGrant.phase) is skipped alike."""
    return Phase.ENDED if _cannot_be_made_today(coupon, ctx) else coupon_phase(coupon.spec["add"], ctx.now)


def _end_of_today(now: datetime) -> datetime:
    """The earliest end TOP gives a coupon made at `now`: 23:59:59 of that day in GMT+8."""
    return now.astimezone(GMT8).replace(hour=23, minute=59, second=59, microsecond=0)


def _cannot_be_made_today(coupon: Resource, ctx: PlanContext) -> bool:
    """Not made yet, not over yet, but ending before the earliest end TOP gives a coupon made now."""
    add = coupon.spec["add"]
    return (coupon.key not in ctx.links and coupon_phase(add, ctx.now) is not Phase.ENDED
            and parse_top_datetime(str(add["end_time"])) < _end_of_today(ctx.now))


def _too_soon_note(add: Mapping[str, Any], now: datetime) -> str:
    return _("ends {end} (GMT+8), before {earliest}, the earliest end TOP "
             "gives a coupon made today: it cannot be created").format(
        end=add["end_time"], earliest=to_top_datetime(_end_of_today(now)))


def _is_valid(row: Mapping[str, Any], now: datetime) -> bool:
    return parse_top_datetime(str(row["end_time"])) >= now


# ---- planning --------------------------------------------------------------------------------


def _add_call(desired: Resource, retired: Mapping[str, str]) -> Call:
    add = dict(desired.spec["add"])
    new_id = new_id_ref(desired.key)
    return Call(
        ADD,
        add,
        binds={new_id.name: "coupon_id"},
        effects=(SetLink(new_id, {"add": add, "retired": dict(retired)}),),
    )


def _plan_create(
    desired: Resource, action: Action, reason: str, lookalikes: list[str], retired: Mapping[str, str]
) -> Change:
    details = [_("new coupon: {coupon}").format(coupon=describe_add(desired.spec["add"]))]
    details.extend(
        _("note: unmanaged coupon {id} already has this content; if this create's answer is lost, "
          "it cannot be told apart from the new one").format(id=coupon_id)
        for coupon_id in lookalikes
    )
    return Change(
        key=desired.key,
        action=action,
        calls=(_add_call(desired, retired),),
        reason=reason,
        details=tuple(details),
        source=desired.source,
    )


def describe_add(add: Mapping[str, Any]) -> str:
    """'… yuan off …, 2027-01-01 00:00:00 → 2027-03-31 23:59:59 (GMT+8)' (or 'ends …, starts when created')."""
    if "start_time" in add:
        return _("{offer}, {start} → {end} (GMT+8)").format(
            offer=_offer(list_view(add)), start=add["start_time"], end=add["end_time"])
    return _("{coupon}, starts when created").format(coupon=describe_view(list_view(add)))


def _plan_existing(desired: Resource, link: Link, live: Mapping[str, Any], now: datetime) -> Change | None:
    add = desired.spec["add"]
    applied = link.record.get("add")
    if applied is not None:
        changed = _differences(applied, add, " (yuan)")
        drifted = _differences(list_view(applied), content_of(live), " (fen)")
        wire = _wire_changes(applied, add) + _wire_changes(list_view(applied), content_of(live), on_top=True)
    else:  # adopted without a record of what was sent: TOP's view is all there is to compare
        changed = _differences(content_of(live), list_view(add), " (fen)")
        drifted = []
        wire = _wire_changes(content_of(live), list_view(add))
    if not changed and not drifted:
        return None
    old_end = str(live["end_time"])
    retired = _still_valid(link.record.get("retired") or {}, now)
    if parse_top_datetime(old_end) >= now:
        retired[link.remote_id] = old_end
        reason_text = _("{why}; immutable: TOP cannot update or delete a shop coupon, so a new coupon is "
                        "created and the old coupon {id} stays valid until {end} and buyers who hold it can "
                        "still use it")
    else:
        reason_text = _("{why}; immutable: TOP cannot update or delete a shop coupon, so a new coupon is "
                        "created and the old coupon {id} ended at {end}")
    why = which_side_moved(bool(changed), bool(drifted))
    reason = reason_text.format(why=why, id=link.remote_id, end=old_end)
    change = _plan_create(desired, Action.REPLACE, reason, [], retired)
    details = [_("was: {coupon}").format(coupon=describe_view(live))] + changed + [on_top(line) for line in drifted]
    return Change(
        key=change.key,
        action=change.action,
        calls=change.calls,
        reason=change.reason,
        details=tuple(details) + change.details,
        source=change.source,
        wire_changes=tuple(wire),
    )


def _plan_forget(link: Link, live: Mapping[str, Any], now: datetime) -> Change:
    """The manifest was removed and the coupon is still listed (Kind.plan_change forgets a gone one)."""
    if parse_top_datetime(str(live["end_time"])) < now:
        reason = _("its manifest was removed and coupon {id} ended at {end}; the state entry is forgotten").format(
            id=link.remote_id, end=live["end_time"])
    else:
        reason = _(
            "its manifest was removed, but TOP cannot delete a shop coupon: coupon {id} stays valid "
            "until {end} and buyers who hold it can still use it. No TOP call is made; only the "
            "state entry is forgotten (the coupon is listed as unmanaged from then on)"
        ).format(id=link.remote_id, end=live["end_time"])
    return forget(link, reason)


def _still_valid(retired: Mapping[str, Any], now: datetime) -> dict[str, str]:
    return {str(k): str(end) for k, end in retired.items() if parse_top_datetime(str(end)) >= now}


_LABELS = {
    "denominations": N_("denomination"),
    "condition": N_("order threshold"),
    "start_time": N_("start"),
    "end_time": N_("end"),
}


def _differences(before: Mapping[str, Any], after: Mapping[str, Any], unit: str) -> list[str]:
    """'denomination: 20.00 yuan → 10.00 yuan' for each field that differs, whichever unit the
    values come in (`unit`: " (yuan)" for coupon.add's whole yuan, " (fen)" for coupons.get's fen);
    start and end in GMT+8."""
    lines = []
    for key in sorted(set(before) | set(after)):
        old, new = _comparable(before.get(key)), _comparable(after.get(key))
        if old != new:
            lines.append(arrow(_(_LABELS[key]) if key in _LABELS else key, _field_text(key, old, unit), _field_text(key, new, unit)))
    return lines


def _wire_changes(before: Mapping[str, Any], after: Mapping[str, Any], *, on_top: bool = False) -> list[dict[str, Any]]:
    """_differences' fields with their values as sent or listed (coupon.add whole yuan, coupons.get fen)."""
    return [{"field": key, "before": before.get(key), "after": after.get(key), **({"on_top": True} if on_top else {})}
            for key in sorted(set(before) | set(after))
            if _comparable(before.get(key)) != _comparable(after.get(key))]


def _field_text(key: str, value: str | None, unit: str) -> str:
    if value is None or value == "":
        return _("(not set)")
    if key in ("denominations", "condition") and value.lstrip("-").isdigit():
        fen = int(value) * (100 if unit == " (yuan)" else 1)
        return _("{amount} yuan").format(amount=fen_to_yuan(fen))
    if key.endswith("_time"):
        return f"{value} (GMT+8)"
    return value


def _comparable(value: Any) -> str | None:
    return str(value) if value is not None else None


# ---- shop-wide rules -------------------------------------------------------------------------


def _same_content_errors(resources: Sequence[Resource]) -> Iterator[str]:
    first_by_content: dict[tuple[Any, ...], ResourceKey] = {}
    for resource in resources:
        content = tuple(sorted(list_view(resource.spec["add"]).items()))
        first = first_by_content.setdefault(content, resource.key)
        if first != resource.key:
            yield _(
                "{first} and {second} have the same denomination, threshold and end time; "
                "TOP shows coupons without a name or start time, so they could not be told apart "
                "(change one end time by a second if both are really wanted)"
            ).format(first=first.name, second=resource.key.name)


def _create_time_errors(key: ResourceKey, resource: Resource, now: datetime) -> Iterator[str]:
    end = parse_top_datetime(resource.spec["add"]["end_time"])
    wall_now = now.astimezone(GMT8)
    end_of_today = _end_of_today(now)
    latest = add_months(wall_now, MAX_END_MONTHS)
    if end < end_of_today:
        yield _("{name}: a new coupon must end at {earliest} (GMT+8) or later; it ends {end}").format(
            name=key.name, earliest=to_top_datetime(end_of_today), end=to_top_datetime(end))
    if end > latest:
        yield _("{name}: a new coupon may end at most {months} months ahead, by {latest} "
                "(GMT+8); it ends {end}").format(
            name=key.name, months=MAX_END_MONTHS, latest=to_top_datetime(latest), end=to_top_datetime(end))


def add_months(moment: datetime, months: int) -> datetime:
    """The same wall time `months` calendar months later (31 Aug + 6 months = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
