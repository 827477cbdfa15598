"""TaokeCashGift (淘礼金): the ``taobao.tbk.dg.vegas.tlj.*`` methods.

What TOP allows, and so what the plan can do:
- ``tlj.create`` answers a ``rights_id``: that is the link. There is no update and no delete, and
  no method lists a promoter's gifts or finds one by name — only ``tlj.report`` (figures, by
  rights_id, for gifts of the last 150 days) and ``tlj.stop`` (pauses issuing; gifts already
  claimed stay usable until their use days end).
- So a changed gift is a *replace*: stop the old one first (two live copies would both hand out
  money), then create the new one. A removed manifest (with --prune) stops the gift. A gift whose
  send window end is moved into the past is stopped, not re-created. A gift that simply reached
  its send_end_time needs no call: TOP stopped issuing by itself.
- Nothing on TOP says whether a gift was stopped, so the state store records it; a stopped gift is
  never stopped twice (TOP refuses that).
- A create whose answer was lost cannot be recognised on TOP (no read finds a gift without its
  rights_id): apply stops and says how to find the gift and adopt it (``reconciler import``). A
  lost stop is settled with tlj.report (see ``recover``).
- ``tlj.report``'s figures are read for every linked gift and shown with its change, or as a plan
  note when it has none. They are not part of the saved plan's fingerprint: claims move them all
  the time without making a plan stale.

Which app: these are Taoke promoter methods. TOP's SDKs call them with an Alimama (Taoke) app's key
and the gift's ``adzone_id`` and no seller session (evidence in reconciler.top.apps, which routes
them). So a gift's shop must name that app in its Shop profile (``spec.taoke``: env var names of
the app key and secret, and optionally the default ``adzone_id``); without it the manifest is
refused at the gift's ``metadata.shop``.

Units: ``per_face`` is a String in yuan with two decimals (not fen); ``send_start_time`` and
``send_end_time`` are ``yyyy-MM-dd HH:mm:ss`` in GMT+8; ``use_start_time`` / ``use_end_time`` are
whole days ``yyyy-MM-dd`` in GMT+8, or with ``use_end_time_mode`` 1 a number of days (1..7) as text.
``tlj.report``'s ``get_rate`` (领取率 = claimed / created) is read as a percentage: see
:func:`claimed_percent`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from reconciler.errors import PlanError, TopError, TopPermanentError
from reconciler.i18n import N_, _, ngettext
from reconciler.kinds.wording import absent, arrow
from reconciler.kinds.base import (
    Caller,
    Kind,
    LiveState,
    NormaliseContext,
    Phase,
    PlanContext,
    ProblemCollector,
    ensure_success,
    forget,
    new_id_ref,
)
from reconciler.kinds.common import phase_at, window_bounds
from reconciler.kinds.units import (
    GMT8,
    UnitError,
    from_epoch_ms,
    gmt8_day,
    parse_date,
    parse_top_datetime,
    to_decimal,
    to_epoch_ms,
    to_top_datetime,
    yuan_text,
    yuan_to_fen,
)
from reconciler.manifest import Document
from reconciler.model import Action, Call, Change, DropLink, Link, Resource, SetLink, SetRecordEntry, StateEffect
from reconciler.pricing.rules import CashGift, PriceRule, When, Window

CREATE = "taobao.tbk.dg.vegas.tlj.create"
STOP = "taobao.tbk.dg.vegas.tlj.stop"
REPORT = "taobao.tbk.dg.vegas.tlj.report"

RELATIVE, ABSOLUTE = 1, 2  # use_end_time_mode
_REPORT_FIELDS = (
    ("win_pv", "claimed"), ("use_num", "used"), ("refund_num", "refunded"), ("remaining_num", "left unclaimed"),
)


class TaokeCashGift(Kind):
    kind = "TaokeCashGift"
    schema = "taoke-cash-gift.schema.json"
    reads_back = False  # tlj.report shows figures, not whether a gift exists: the link is all there is
    read_methods = (REPORT,)
    write_methods = (CREATE, STOP)
    prices_outlive_changes = True  # claimed gifts stay usable after a stop, until their use days end
    not_exportable = N_("TOP lists no gifts, and tlj.report shows a gift's figures, not what it gives")

    # ---- manifest → wire ------------------------------------------------------------------------

    def normalise_spec(self, doc: Document, ctx: NormaliseContext, problems: ProblemCollector) -> dict[str, Any]:
        spec = doc.spec
        params: dict[str, Any] = {
            "adzone_id": _adzone_id(doc, ctx, problems),
            "item_id": spec["item_id"],
            "name": spec["title"],
            "per_face": _per_face(spec["per_face"], problems),
            "total_num": spec["total"],
            "user_total_win_num_limit": spec["per_user"],
            "security_switch": True,  # the page: 必须设置为true
            "security_level": 0,  # the page: 必须传入0
        }
        if spec["per_user"] > spec["total"]:
            problems.add(("spec", "per_user"), _("per_user {per_user} is more than total {total}").format(
                per_user=spec["per_user"], total=spec["total"]))
        start, end = _send_window(spec["send_window"], problems)
        if start is not None:
            params["send_start_time"] = to_top_datetime(start)
        if end is not None:
            params["send_end_time"] = to_top_datetime(end)
        params.update(_use(spec["use"], start, problems))
        return {"params": params, "send_end_ms": to_epoch_ms(end) if end is not None else None}

    def price_rules(self, resource: Resource) -> list[PriceRule]:
        """A cash gift for one item, usable from the first claim (send start) until its use days end."""
        params = resource.spec["params"]
        amount = yuan_to_fen(params["per_face"])
        return [
            CashGift(
                key=resource.key,
                label=f"淘礼金{params['per_face']}元",
                when=When(_usable(params)),
                item_id=str(params["item_id"]),
                amount=amount,
                per_user=int(params["user_total_win_num_limit"]),
            )
        ]

    # ---- live state -----------------------------------------------------------------------------

    def read_live(self, client: Caller, ctx: PlanContext) -> LiveState:
        # No list call exists: only linked gifts can be read, by rights_id.
        live = LiveState()
        links = ctx.links_of(self.kind)
        reports = client.call_many(REPORT, [_report_query(link) for link in links], return_exceptions=True)
        for link, report in zip(links, reports, strict=True):
            live.by_name[link.key.name] = {"rights_id": link.remote_id}
            live.info[link.key.name] = [_figures_line(report, link)]
        return live

    # ---- diff → calls ---------------------------------------------------------------------------

    def plan_create(self, desired: Resource, live: Any | None, ctx: PlanContext) -> Change | None:
        return _plan_create(desired, Action.CREATE, reason="", old=None)

    def plan_existing(self, desired: Resource, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        return _plan_existing(desired, link, ctx)

    def plan_gone(self, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        return _plan_retire(link, ctx)

    def phase(self, resource: Resource, ctx: PlanContext) -> Phase:
        """A gift is issued during its send window; once it is over TOP refuses to create it."""
        params, end_ms = resource.spec["params"], resource.spec["send_end_ms"]
        start = parse_top_datetime(str(params["send_start_time"])) if params.get("send_start_time") else None
        return phase_at(start, from_epoch_ms(end_ms) if end_ms is not None else None, ctx.now)

    def plan_ended(self, desired: Resource, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        """A gift past its send end stops issuing by itself; if its end was moved into the past
        while it still issued, it is stopped (`_plan_existing`)."""
        return self.plan_change(desired, link, live, ctx)

    def check_plan(self, changes: Sequence[Change], live: LiveState, ctx: PlanContext) -> list[str]:
        errors = []
        for change in changes:
            desired = ctx.desired.get(change.key)
            creates = any(call.method == CREATE for call in change.calls)
            if creates and desired is not None and _over(desired.spec["send_end_ms"], ctx.now):
                end = desired.spec["params"]["send_end_time"]
                errors.append(_(
                    "TaokeCashGift/{name} ({source}): send_window.end {end} (GMT+8) has passed; "
                    "TOP refuses a gift that can no longer be issued — move the end or remove the manifest"
                ).format(name=change.key.name, source=desired.source, end=end))
        return errors

    def recover(self, client: Caller, method: str, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """tlj.stop: tlj.report tells. Its remaining_num counts unclaimed gifts only once issuing is
        over (stopped or past send_end_time, 暂停后没有被领取的红包个数), so remaining_num > 0 means
        issuing has stopped; a gift fully claimed (get_rate 100 %) issues nothing either way.
        Otherwise it is still issuing: the stop did not take effect and is planned again.

        tlj.create: cannot be recovered. No tbk method lists a promoter's gifts or finds one by
        name; everything but tlj.create needs the rights_id, which is exactly what was lost. So
        apply stops and says how to find and adopt the gift instead of guessing (a blind re-send
        would reserve the budget twice)."""
        if method == STOP:
            answer = client.call(REPORT, {"rights_id": params["rights_id"], "adzone_id": params["adzone_id"]})
            extra = (answer.get("model") or {}).get("extra") or {}
            return {"model": {"update_success": True}, "result_success": True} if issuing_over(extra) else None
        if method == CREATE:
            raise PlanError(_(
                "{method}: TOP did not say whether it created the cash gift {title!r} for item "
                "{item} (the answer was lost), and no Taoke method finds a gift without its "
                "rights_id. Look for it in the Alimama console (淘礼金): if it is there, adopt it with "
                "`reconciler import TaokeCashGift NAME RIGHTS_ID` (NAME is the manifest's metadata.name), "
                "then plan again; if it is not, apply again"
            ).format(method=CREATE, title=params.get("name"), item=params.get("item_id")))
        return super().recover(client, method, params)

    def import_record(self, client: Caller, remote_id: str, desired: Resource) -> Mapping[str, Any]:
        """Adopt a gift by its rights_id. tlj.report proves it exists for the manifest's ad zone; TOP
        shows none of its settings, so they are assumed to be the manifest's and recorded so."""
        try:
            client.call(REPORT, {"rights_id": remote_id, "adzone_id": desired.spec["params"]["adzone_id"]})
        except TopPermanentError as exc:
            raise PlanError(_("cash gift {id} cannot be read on TOP for this ad zone: {problem}").format(
                id=remote_id, problem=exc)) from exc
        return {
            "params": dict(desired.spec["params"]),
            "send_end_ms": desired.spec["send_end_ms"],
            "status": {},
            "imported": True,
        }

    def check_response(self, method: str, response: Mapping[str, Any]) -> None:
        """tlj.create says success inside result; stop and report say result_success at the top,
        and stop also model.update_success: any of them false is a failed call."""
        ensure_success(method, response)
        model = response.get("model")
        failed = response.get("result_success") is False or (
            isinstance(model, Mapping) and model.get("update_success") is False
        )
        if failed:
            raise TopPermanentError(
                method,
                code=None,
                msg=str(response.get("msg_info") or "TOP answered result_success=false"),
                sub_code=str(response.get("msg_code") or "") or None,
            )

    def effects(self, call: Call, answer: Mapping[str, Any]) -> tuple[StateEffect, ...]:
        """Keep the link buyers need (send_url) with the gift: only the create's answer has it."""
        if call.method != CREATE:
            return call.effects
        model = (answer.get("result") or {}).get("model") or {}
        issued = {key: model[key] for key in ("send_url", "vegas_code") if key in model}
        return tuple(
            SetLink(effect.remote_id, {**effect.record, **issued}) if isinstance(effect, SetLink) else effect
            for effect in call.effects
        )


# ---- normalisation helpers --------------------------------------------------------------------


def _adzone_id(doc: Document, ctx: NormaliseContext, problems: ProblemCollector) -> int:
    """The gift's ad zone: its own, else its Shop profile's default. The profile must name the
    Taoke app the gift is sent with (reconciler.top.apps), or nothing could be sent at all."""
    profile = ctx.shops.get(doc.shop or "")
    app = profile.taoke if profile is not None else None
    if app is None:
        where = f" ({profile.source.file}:{profile.source.line})" if profile is not None else ""
        problems.add(
            ("metadata", "shop"),
            _("the Shop profile {shop!r}{where} has no spec.taoke: a Taoke cash gift is created, stopped and "
              "reported with the shop's Alimama (Taoke) app and no seller session; add to that profile "
              "spec.taoke: {{env: {{app_key: ALIMAMA_APP_KEY, app_secret: ALIMAMA_APP_SECRET}}, adzone_id: <ad zone>}} "
              "(environment variable names, never the values)").format(shop=doc.shop, where=where),
        )
    adzone_id = doc.spec.get("adzone_id", app.adzone_id if app is not None else None)
    if adzone_id is None and app is not None:
        problems.add(
            ("spec", "adzone_id"),
            _("no ad zone: set spec.adzone_id here, or spec.taoke.adzone_id in the Shop profile ({where})").format(
                where=app.where),
        )
    return int(adzone_id or 0)


def _per_face(value: Any, problems: ProblemCollector) -> str:
    try:
        text = yuan_text(value)
    except UnitError as exc:
        problems.add(("spec", "per_face"), str(exc))
        return "0.00"
    if to_decimal(text) <= 0:
        problems.add(("spec", "per_face"), _("a gift must be worth more than 0 yuan, got {value}").format(value=value))
    return text


def _send_window(window: Mapping[str, Any], problems: ProblemCollector) -> tuple[datetime | None, datetime | None]:
    return window_bounds(window, "send_window", problems) or (None, None)


def _use(use: Mapping[str, Any], send_start: datetime | None, problems: ProblemCollector) -> dict[str, Any]:
    if "days" in use:
        # Relative: the page wants a whole number of days as text and no use_start_time at all.
        return {"use_end_time_mode": RELATIVE, "use_end_time": str(use["days"])}
    try:
        first, last = parse_date(use["from"]), parse_date(use["until"])
    except UnitError as exc:
        problems.add(("spec", "use"), str(exc))
        return {}
    if last < first:
        problems.add(("spec", "use", "until"), _("until {last} is before from {first}").format(last=last, first=first))
    elif send_start is not None and last < gmt8_day(send_start):
        problems.add(
            ("spec", "use", "until"),
            _("gifts would expire on {last}, before issuing starts on {start} (GMT+8)").format(
                last=last, start=gmt8_day(send_start)),
        )
    return {"use_end_time_mode": ABSOLUTE, "use_start_time": first.isoformat(), "use_end_time": last.isoformat()}


def _usable(params: Mapping[str, Any]) -> Window:
    """When a buyer can spend a gift: not before issuing starts; until the use days end (relative:
    that many days after the last possible claim; absolute: the end of the last day, GMT+8)."""
    start = parse_top_datetime(str(params["send_start_time"]))
    if int(params["use_end_time_mode"]) == RELATIVE:
        send_end = params.get("send_end_time")
        end = parse_top_datetime(str(send_end)) + timedelta(days=int(params["use_end_time"])) if send_end else None
        return Window(start, end)
    first = datetime.combine(parse_date(str(params["use_start_time"])), time(0), tzinfo=GMT8)
    last = datetime.combine(parse_date(str(params["use_end_time"])), time(0), tzinfo=GMT8) + timedelta(days=1)
    return Window(max(first, start), last)


# ---- reading figures -------------------------------------------------------------------------------


def claimed_percent(extra: Mapping[str, Any]) -> Decimal | None:
    """tlj.report's get_rate (领取率, 领取淘礼金个数/创建淘礼金个数) as a percentage: "1.00" is 1 %,
    "100" all claimed. The page gives no unit; the issue's evidence saw a public caller compare it
    with 100, and a percentage is also the safe reading: taken as a fraction, a real 1 % would look
    like "all claimed", and a lost stop would be taken for done while the gift keeps issuing; read
    as a percentage, a real fraction 1.0 only looks like 1 % and the stop is sent again (which TOP
    refuses as already stopped: an error to look at, not money). A trailing "%" is accepted.
    None when absent or unreadable."""
    raw = extra.get("get_rate")
    if raw is None or str(raw).strip() in ("", "%"):
        return None
    try:
        return to_decimal(str(raw).strip().removesuffix("%"))
    except UnitError:
        return None


def issuing_over(extra: Mapping[str, Any]) -> bool:
    """Whether a gift no longer issues, by its report: unclaimed gifts counted (they count only once
    issuing is over), or every gift claimed (get_rate 100 %)."""
    percent = claimed_percent(extra)
    return int(extra.get("remaining_num") or 0) > 0 or (percent is not None and percent >= 100)


def _report_query(link: Link) -> dict[str, Any]:
    return {"rights_id": link.remote_id, "adzone_id": (link.record.get("params") or {}).get("adzone_id")}


def _figures_line(report: Any, link: Link) -> str:
    if isinstance(report, TopError):
        if not isinstance(report, TopPermanentError) or report.code != 15:
            raise report  # only a business refusal (too old, unknown gift) is not worth failing the plan
        return _("figures unavailable (tlj.report: {message})").format(message=report.sub_msg or report.msg)
    extra = (report.get("model") or {}).get("extra") or {}
    return describe_figures(extra, (link.record.get("params") or {}).get("total_num"))


def describe_figures(extra: Mapping[str, Any], total: Any) -> str:
    """tlj.report's counts and yuan amounts as one line; amounts are kept exactly as TOP wrote them."""
    counts = {label: int(extra.get(field) or 0) for field, label in _REPORT_FIELDS}
    percent = claimed_percent(extra)
    if total and percent is not None:
        claimed = _("claimed {count} of {total} ({percent} %, {amount} yuan)")
    elif total:
        claimed = _("claimed {count} of {total} ({amount} yuan)")
    elif percent is not None:
        claimed = _("claimed {count} ({percent} %, {amount} yuan)")
    else:
        claimed = _("claimed {count} ({amount} yuan)")
    paid = int(extra.get("alipay_num") or 0)
    return ngettext(
        "figures (tlj.report): {claimed}, used {used} ({used_amount} yuan), refunded {refunded}, "
        "left unclaimed {left}; {paid} paid order(s), {paid_amount} yuan",
        "figures (tlj.report): {claimed}, used {used} ({used_amount} yuan), refunded {refunded}, "
        "left unclaimed {left}; {paid} paid order(s), {paid_amount} yuan",
        paid,
    ).format(
        claimed=claimed.format(count=counts["claimed"], total=total, percent=percent,
                               amount=_yuan(extra.get("win_sum_amt"))),
        used=counts["used"], used_amount=_yuan(extra.get("use_sum_amt")), refunded=counts["refunded"],
        left=counts["left unclaimed"], paid=paid, paid_amount=_yuan(extra.get("alipay_amt")),
    )


def _yuan(value: Any) -> str:
    try:
        return str(to_decimal(value if value not in (None, "") else "0"))
    except UnitError:
        return "?"


# ---- planning ------------------------------------------------------------------------------------


def _over(send_end_ms: int | None, now: datetime) -> bool:
    return send_end_ms is not None and to_epoch_ms(now) >= send_end_ms


def _stopped(link: Link) -> bool:
    return bool((link.record.get("status") or {}).get("stopped"))


def _stop_call(link: Link, *effects: StateEffect) -> Call:
    adzone_id = (link.record.get("params") or {}).get("adzone_id")
    return Call(STOP, {"rights_id": link.remote_id, "adzone_id": adzone_id}, effects=effects)


def _create_call(desired: Resource) -> Call:
    params = dict(desired.spec["params"])
    new_id = new_id_ref(desired.key)
    record = {"params": params, "send_end_ms": desired.spec["send_end_ms"], "status": {}}
    return Call(CREATE, params, binds={new_id.name: "result.model.rights_id"}, effects=(SetLink(new_id, record),))


def _plan_create(desired: Resource, action: Action, reason: str, old: Link | None, changed: tuple[str, ...] = ()) -> Change:
    calls: list[Call] = []
    if old is not None and not _stopped(old):
        calls.append(_stop_call(old, SetRecordEntry("status", "stopped", True)))
    calls.append(_create_call(desired))
    return Change(
        key=desired.key,
        action=action,
        calls=tuple(calls),
        reason=reason,
        details=changed + _describe(desired.spec["params"]),
        source=desired.source,
    )


def _describe(params: Mapping[str, Any]) -> tuple[str, ...]:
    budget = (Decimal(params["per_face"]) * params["total_num"]).quantize(Decimal("0.01"))
    if "send_end_time" in params:
        issuing = _("issued from {start} to {end} (GMT+8)").format(
            start=params["send_start_time"], end=params["send_end_time"])
    else:
        issuing = _("issued from {start} (GMT+8) until stopped or used up").format(start=params["send_start_time"])
    if params["use_end_time_mode"] == RELATIVE:
        usable = ngettext("usable for {days} day(s) after a buyer claims it",
                          "usable for {days} day(s) after a buyer claims it",
                          int(params["use_end_time"])).format(days=params["use_end_time"])
    else:
        usable = _("usable from {start} 00:00:00 to {end} 23:59:59 (GMT+8)").format(
            start=params["use_start_time"], end=params["use_end_time"])
    return (
        _("{title!r} for item {item} through ad zone {adzone}").format(
            title=params["name"], item=params["item_id"], adzone=params["adzone_id"]),
        _("{count} × {per_face} yuan = {budget} yuan of budget; at most {per_user} per buyer").format(
            count=params["total_num"], per_face=params["per_face"], budget=budget,
            per_user=params["user_total_win_num_limit"]),
        _("{issuing}; {usable}").format(issuing=issuing, usable=usable),
    )


def _plan_existing(desired: Resource, link: Link, ctx: PlanContext) -> Change | None:
    applied = link.record.get("params") or {}
    changed = _differences(applied, desired.spec["params"])
    if not changed:
        return None  # running, stopped, or past its send end: nothing to send either way
    change = _plan_changed(desired, link, ctx, changed)
    return replace(change, wire_changes=_wire_changes(applied, desired.spec["params"])) if change else None


def _plan_changed(desired: Resource, link: Link, ctx: PlanContext, changed: tuple[str, ...]) -> Change | None:
    over = _over(desired.spec["send_end_ms"], ctx.now)
    if _stopped(link):
        if over:
            return None
        return _plan_create(
            desired,
            Action.CREATE,
            reason=_("gift {id} was stopped and TOP cannot restart or edit a gift; a new one is created").format(
                id=link.remote_id),
            old=link,
            changed=changed,
        )
    if over:
        return Change(
            key=desired.key,
            action=Action.UPDATE,
            calls=(_stop_call(link, SetRecordEntry("status", "stopped", True)),),
            reason=_(
                "send_window.end moved to {end} (GMT+8), which has passed: "
                "gift {id} stops issuing now and is not created again"
            ).format(end=desired.spec["params"]["send_end_time"], id=link.remote_id),
            details=changed,
            source=desired.source,
        )
    return _plan_create(
        desired,
        Action.REPLACE,
        reason=_(
            "the manifest changed; TOP has no update for a cash gift, so gift {id} stops issuing "
            "first (gifts already claimed stay usable until they expire) and a new gift is created"
        ).format(id=link.remote_id),
        old=link,
        changed=changed,
    )


def _plan_retire(link: Link, ctx: PlanContext) -> Change:
    if _stopped(link) or _over(link.record.get("send_end_ms"), ctx.now):
        return forget(link, _("gift {id} no longer issues (stopped or past its send end); "
                              "only the state entry is removed").format(id=link.remote_id))
    return Change(
        key=link.key,
        action=Action.DELETE,
        calls=(_stop_call(link, DropLink()),),
        reason=_(
            "its manifest was removed: gift {id} stops issuing (TOP has no delete for a cash gift; "
            "gifts already claimed stay usable until they expire)"
        ).format(id=link.remote_id),
    )


# Each tlj.create parameter by its manifest name (the schema's spec fields): a reviewer reads
# "per_user: 1 → 2", not "user_total_win_num_limit"; the wire names and values are in wire_changes.
_NAMES = {
    "name": "title",
    "item_id": "item_id",
    "adzone_id": "adzone_id",
    "per_face": "per_face",
    "total_num": "total",
    "user_total_win_num_limit": "per_user",
    "send_start_time": "send_window.start",
    "send_end_time": "send_window.end",
}
_USE_FIELDS = ("use_end_time_mode", "use_start_time", "use_end_time")  # together they are spec.use


def _differences(applied: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[str, ...]:
    """'per_face: 5.00 yuan → 8.00 yuan', 'send_window.end: … → … (GMT+8)', 'use: for 3 day(s) after
    a claim → 2027-11-11 – 2027-11-12 (GMT+8)': the manifest's names and units."""
    lines = [
        arrow(_NAMES.get(key, key), _show(key, applied.get(key)), _show(key, desired.get(key)))
        for key in sorted(set(applied) | set(desired))
        if key not in _USE_FIELDS and applied.get(key) != desired.get(key)
    ]
    if any(applied.get(key) != desired.get(key) for key in _USE_FIELDS):
        lines.append(f"use: {_use_text(applied)} → {_use_text(desired)}")
    return tuple(lines)


def _wire_changes(applied: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """_differences' fields as tlj.create takes them (plan --json)."""
    return tuple({"field": key, "before": applied.get(key), "after": desired.get(key)}
                 for key in sorted(set(applied) | set(desired)) if applied.get(key) != desired.get(key))


def _show(key: str, value: Any) -> str:
    if value is None:
        return absent()
    if key == "per_face":
        return _("{amount} yuan").format(amount=value)
    if key.endswith("_time") and isinstance(value, str) and ":" in value:
        return f"{value} (GMT+8)"
    if key == "name":
        return repr(value)
    return str(value)


def _use_text(params: Mapping[str, Any]) -> str:
    """spec.use in words: relative days, or the whole GMT+8 days a gift can be spent."""
    if "use_end_time_mode" not in params:
        return absent()
    if int(params["use_end_time_mode"]) == RELATIVE:
        days = params.get("use_end_time")
        return ngettext("for {days} day(s) after a claim", "for {days} day(s) after a claim",
                        int(str(days)) if str(days).isdigit() else 2).format(days=days)
    return f"{params.get('use_start_time')} – {params.get('use_end_time')} (GMT+8)"
