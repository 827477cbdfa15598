"""CouponGrant: which buyers get which shop coupon, via `taobao.promotion.coupon.send` (shop
members) or `taobao.promotion.coupon.sns.send` (微淘 fans).

The manifest:

    kind: CouponGrant
    metadata: {name: vip-welcome, shop: demo-shop}
    spec:
      coupon: welcome-10                # metadata.name of a ShopCoupon of the same shop
      audience: members                 # members → coupon.send (default); fans → coupon.sns.send
      buyers:
        nicks: [alice, bob]
        open_uids: [AAHk5d-…]
        nicks_file: buyers/vip-nicks.txt   # relative to this manifest's file

A buyers file holds one buyer per line; blank lines and lines starting with '#' are skipped. Files
are read and checked when the manifest is loaded (validate, plan, apply), and a bad line is
reported at the file's own line. A buyer listed twice (anywhere) is an error; nicks and ids may not
contain a comma, since TOP's String[] parameters are comma-joined.

What TOP allows, and so what the plan can do:
- A send reaches at most 100 buyers (每次只能发送100张), so buyers go out in batches of 100; nicks
  and open uids of one batch share one call (open uids go in `buyer_ids` for coupon.send and in
  `open_uids` for sns.send; coupon.send's `ouid_data` is not used).
- `is_success` is true even when every buyer failed. The truth is in `failure_buyers` (with a
  reason) and `coupon_results` (with the coupon number); when everyone got the coupon the answer
  is empty. A buyer not named in `failure_buyers` got the coupon.
- TOP cannot list who holds a shop coupon, so the state store keeps a ledger in the grant's state
  record: `granted` (buyer → coupon number) and `failed` (buyer → TOP's reason), both written by
  `effects` from each answer, in the same transaction as the journal entry. The link's remote id
  is the coupon id the ledger belongs to. A plan sends only to listed buyers not yet `granted`:
  new ones and the ones that failed last time (shown with their reason). A buyer is never sent the
  same coupon twice by the reconciler; a buyer that keeps failing keeps the plan from converging
  until they are removed from the list, which is deliberate (the plan says why).
- The coupon is referred to by name and resolved with `PlanContext.remote_id`, so a coupon created
  in the same plan is a plan-wide Ref (ShopCoupon is planned and applied first). If the coupon is
  replaced (a changed ShopCoupon is a new TOP coupon), the grant belongs to the new coupon: the
  ledger starts afresh and every listed buyer is sent the new coupon; the plan says so, and that
  the buyers of the old coupon keep it.
- Coupons cannot be taken back: a buyer removed from the list keeps the coupon, and a removed
  grant manifest (with prune) only forgets its ledger, with no TOP call.
- A lost send answer cannot be recovered: no TOP method tells who holds a coupon, so `recover`
  says so instead of guessing (a blind re-send could give buyers a second coupon).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.errors import PlanError, Problem
from reconciler.i18n import N_, _, ngettext
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
from reconciler.kinds.shop_coupon import declared_coupon_phase, describe_view, list_view
from reconciler.manifest import Document, format_path
from reconciler.manifest.confine import ConfinementError, confined
from reconciler.redaction import excerpt
from reconciler.top.answers import top_list, top_rows
from reconciler.model import (
    Action,
    Call,
    Change,
    Link,
    Ref,
    Resource,
    ResourceKey,
    SetLink,
    SetRecordEntry,
    StateEffect,
)

log = logging.getLogger(__name__)

KIND = "CouponGrant"
COUPON_KIND = "ShopCoupon"
SEND = "taobao.promotion.coupon.send"
SNS_SEND = "taobao.promotion.coupon.sns.send"
MAX_BUYERS_PER_CALL = 100  # 每次只能发送100张
SHOWN_FAILURES = 10  # failure reasons listed in a plan before "… and N more"

# audience → (method, parameter for open uids)
_AUDIENCES = {"members": (SEND, "buyer_ids"), "fans": (SNS_SEND, "open_uids")}
# buyer kind → (parameter for inline lists, file field, ledger prefix)
_BUYER_SOURCES = (("nicks", "nicks_file", "nick"), ("open_uids", "open_uids_file", "open_uid"))
# answer field naming a buyer → ledger prefix
_ANSWER_FIELDS = {"buyer_nick": "nick", "open_uid": "open_uid"}


class CouponGrant(Kind):
    kind = KIND
    schema = "coupon-grant.schema.json"
    reads_back = False  # no TOP method lists who holds a coupon: the ledger is all there is
    guarded = False  # a removed grant only forgets its ledger; coupons cannot be taken back
    depends_on = (COUPON_KIND,)
    write_methods = (SEND, SNS_SEND)
    not_exportable = N_("TOP keeps no list of the coupons a shop sent (a grant is the state store's ledger)")

    # ---- manifest → wire -------------------------------------------------------------------

    def normalise_spec(self, doc: Document, ctx: NormaliseContext, problems: ProblemCollector) -> dict[str, Any]:
        buyers = _buyers(doc, problems)
        if not buyers and not problems.problems:
            problems.add(("spec", "buyers"), _("names no buyer; list nicks or open uids (inline or in a file)"))
        return {"coupon": doc.spec["coupon"], "audience": doc.spec.get("audience", "members"), "buyers": buyers}

    # ---- live state ------------------------------------------------------------------------

    def read_live(self, client: Caller, ctx: PlanContext) -> LiveState:
        # TOP has no method that lists who holds a coupon: the ledger in the state store is all there is.
        return LiveState()

    # ---- diff → calls ----------------------------------------------------------------------

    def phase(self, resource: Resource, ctx: PlanContext) -> Phase:
        """A grant lives as long as its coupon: once the coupon has ended (or can no longer be
        made, see declared_coupon_phase) nothing can be sent."""
        coupon = ctx.desired.get(coupon_key(resource))
        return declared_coupon_phase(coupon, ctx) if coupon is not None else Phase.LIVE

    def plan_create(self, desired: Resource, live: Any | None, ctx: PlanContext) -> Change | None:
        return self.plan_existing(desired, None, live, ctx)

    def plan_existing(self, desired: Resource, link: Link | None, live: Any | None, ctx: PlanContext) -> Change | None:
        """A first grant and a later one are planned alike: send to every listed buyer the ledger
        does not show as granted (all of them for a first grant or a new coupon)."""
        coupon_id = ctx.remote_id(coupon_key(desired))
        if coupon_id is None:
            return None  # check_plan reports it: nothing can be sent without a coupon
        coupon = ctx.desired.get(coupon_key(desired))
        # What buyers get, in yuan and GMT+8 as the coupon's manifest says it (issue 17.3).
        offer = describe_view(list_view(coupon.spec["add"])) if coupon is not None else None
        return _plan_sends(desired, link, coupon_id, offer)

    def plan_gone(self, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        return _plan_forget(link)

    def check_plan(self, changes: Sequence[Change], live: LiveState, ctx: PlanContext) -> list[str]:
        return [
            _("{name}: spec.coupon names ShopCoupon '{coupon}', which is neither "
              "declared in shop {shop} nor managed in the state store; declare the coupon or fix the name").format(
                name=resource.key.name, coupon=resource.spec["coupon"], shop=ctx.shop)
            for resource in ctx.desired_of(self.kind)
            # An ended grant's coupon is not made, rightly: the plan skipped both with a note.
            if ctx.remote_id(coupon_key(resource)) is None and self.phase(resource, ctx) is not Phase.ENDED
        ]

    def effects(self, call: Call, answer: Mapping[str, Any]) -> tuple[StateEffect, ...]:
        """The ledger: who got the coupon (with its number) and who did not (with TOP's reason)."""
        outcome = send_outcome(call.params, answer)
        entries: list[StateEffect] = list(call.effects)
        for buyer, number in outcome.granted.items():
            entries.append(SetRecordEntry("granted", buyer, {"coupon_number": number}))
            entries.append(SetRecordEntry("failed", buyer, None))
        for buyer, reason in outcome.failed.items():
            entries.append(SetRecordEntry("failed", buyer, reason))
        if outcome.failed:
            log.warning(
                "%s: %d of %d buyer(s) did not get the coupon although TOP answered success: %s",
                call.method,
                len(outcome.failed),
                len(outcome.failed) + len(outcome.granted),
                "; ".join(f"{_shown(b)}: {r}" for b, r in list(outcome.failed.items())[:SHOWN_FAILURES]),
            )
        return tuple(entries)

    def recover(self, client: Caller, method: str, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        count = len(buyers_of_call(params))
        raise PlanError(ngettext(
            "{method}: the answer for {count} buyer(s) of coupon {coupon} was lost, and TOP has "
            "no method that tells who holds a shop coupon, so whether they got it cannot be checked. "
            "Sending again could give them a second coupon: check the coupon's send records in the seller "
            "console and remove from spec.buyers the ones who have it before applying again",
            "{method}: the answer for {count} buyer(s) of coupon {coupon} was lost, and TOP has "
            "no method that tells who holds a shop coupon, so whether they got it cannot be checked. "
            "Sending again could give them a second coupon: check the coupon's send records in the seller "
            "console and remove from spec.buyers the ones who have it before applying again",
            count,
        ).format(method=method, count=count, coupon=params.get("coupon_id")))


# ---- normalisation ---------------------------------------------------------------------------


def _buyers(doc: Document, problems: ProblemCollector) -> list[str]:
    """Ledger keys ("nick:alice", "open_uid:AAH…") in declared order, inline lists before files."""
    spec_buyers: Mapping[str, Any] = doc.spec.get("buyers") or {}
    first_seen: dict[str, str] = {}
    keys: list[str] = []
    for list_field, file_field, prefix in _BUYER_SOURCES:
        for index, value in enumerate(spec_buyers.get(list_field) or []):
            path = ("spec", "buyers", list_field, index)
            where = f"{doc.file}:{doc.locate(path)[0]}"
            problem = _buyer_problem(str(value), first_seen.get(f"{prefix}:{value}"))
            if problem:
                problems.add(path, problem)
                continue
            first_seen[f"{prefix}:{value}"] = where
            keys.append(f"{prefix}:{value}")
        if file_field in spec_buyers:
            keys.extend(_file_buyers(doc, ("spec", "buyers", file_field), prefix, first_seen, problems))
    return keys


def _file_buyers(
    doc: Document, path: tuple[str, ...], prefix: str, first_seen: dict[str, str], problems: ProblemCollector
) -> Iterator[str]:
    relative = str(doc.spec["buyers"][path[-1]])
    folder = Path(doc.file).parent
    try:
        # Inside the manifests' root only, checked before opening (reconciler/manifest/confine.py).
        file = confined(Path(doc.root) if doc.root else folder, folder, relative)
    except ConfinementError as exc:
        problems.add(path, _("buyers file refused: {problem}").format(problem=exc))
        return
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(path, _("cannot read buyers file {file} (relative to {manifest}): {problem}").format(
            file=relative, manifest=doc.file, problem=exc))
        return
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        key = f"{prefix}:{value}"
        problem = _buyer_problem(value, first_seen.get(key))
        if problem:
            problems.problems.append(Problem(str(file), number, 1, format_path(path), problem))
            continue
        first_seen[key] = f"{file}:{number}"
        yield key


def _buyer_problem(value: str, first_at: str | None) -> str | None:
    shown = excerpt(value)  # a short excerpt: the line may not be a buyer at all
    if "," in value:
        return _("{buyer} contains a comma; TOP joins buyers with commas, so it would become two buyers").format(
            buyer=shown)
    if value != value.strip() or not value:
        return _("{buyer} has leading or trailing spaces").format(buyer=shown)
    if any(ord(char) < 32 for char in value):
        return _("{buyer} contains a control character").format(buyer=shown)
    if first_at is not None:
        return _("{buyer} is listed twice (first at {first})").format(buyer=shown, first=first_at)
    return None


# ---- the wire --------------------------------------------------------------------------------


def coupon_key(resource: Resource) -> ResourceKey:
    return ResourceKey(resource.key.shop, COUPON_KIND, str(resource.spec["coupon"]))


def _send_call(audience: str, coupon_id: int | Ref, batch: Sequence[str], effects: tuple[StateEffect, ...]) -> Call:
    method, open_uid_param = _AUDIENCES[audience]
    params: dict[str, Any] = {"coupon_id": coupon_id}
    nicks = [key.split(":", 1)[1] for key in batch if key.startswith("nick:")]
    open_uids = [key.split(":", 1)[1] for key in batch if key.startswith("open_uid:")]
    if nicks:
        params["buyer_nick"] = nicks
    if open_uids:
        params[open_uid_param] = open_uids
    return Call(method, params, effects=effects)


def buyers_of_call(params: Mapping[str, Any]) -> list[str]:
    """The ledger keys a send call names, in the order sent."""
    # A String[] parameter: a list as planned, or comma-joined as TOP takes it (top_list reads both).
    keys = [f"nick:{nick}" for nick in top_list(params.get("buyer_nick"), "string", where="buyer_nick")]
    for param in ("buyer_ids", "open_uids"):
        keys.extend(f"open_uid:{uid}" for uid in top_list(params.get(param), "string", where=param))
    return keys


NO_REASON = N_("no reason given")  # a refusal without TOP's reason (translated where shown)


class SendOutcome:
    def __init__(self) -> None:
        self.granted: dict[str, Any] = {}  # buyer → coupon number (None when TOP did not say)
        self.failed: dict[str, str] = {}  # buyer → TOP's reason


def send_outcome(params: Mapping[str, Any], answer: Mapping[str, Any]) -> SendOutcome:
    """Who got the coupon. `failure_buyers` decides; everyone else sent got it (an all-success answer
    is empty). Coupon numbers come from `coupon_results` when TOP lists them."""
    failed: dict[str, str] = {}
    for entry in top_rows(answer.get("failure_buyers"), "error_message", where="failure_buyers"):
        buyer = _buyer_in_answer(entry)
        if buyer is not None:
            failed[buyer] = str(entry.get("reason") or NO_REASON)  # kept in the ledger as it is
    numbers: dict[str, Any] = {}
    for entry in top_rows(answer.get("coupon_results"), "coupon_result", where="coupon_results"):
        buyer = _buyer_in_answer(entry)
        if buyer is not None:
            numbers[buyer] = entry.get("coupon_number")
    outcome = SendOutcome()
    for buyer in buyers_of_call(params):
        if buyer in failed:
            outcome.failed[buyer] = failed[buyer]
        else:
            outcome.granted[buyer] = numbers.get(buyer)
    return outcome


def _buyer_in_answer(entry: Mapping[str, Any]) -> str | None:
    for field, prefix in _ANSWER_FIELDS.items():
        if entry.get(field):
            return f"{prefix}:{entry[field]}"
    return None


# ---- planning --------------------------------------------------------------------------------


def _plan_sends(desired: Resource, link: Link | None, coupon_id: str | Ref, offer: str | None = None) -> Change | None:
    wire_id: int | Ref = coupon_id if isinstance(coupon_id, Ref) else int(coupon_id)
    same_coupon = link is not None and not isinstance(coupon_id, Ref) and link.remote_id == str(coupon_id)
    granted: Mapping[str, Any] = (link.record.get("granted") or {}) if link and same_coupon else {}
    failed: Mapping[str, str] = (link.record.get("failed") or {}) if link and same_coupon else {}
    buyers: list[str] = list(desired.spec["buyers"])
    pending = [buyer for buyer in buyers if buyer not in granted]
    if not pending:
        return None
    fresh_record = SetLink(coupon_id, {"coupon": desired.spec["coupon"], "granted": {}, "failed": {}})
    batches = [pending[i : i + MAX_BUYERS_PER_CALL] for i in range(0, len(pending), MAX_BUYERS_PER_CALL)]
    calls = tuple(
        _send_call(desired.spec["audience"], wire_id, batch, (fresh_record,) if index == 0 and not same_coupon else ())
        for index, batch in enumerate(batches)
    )
    return Change(
        key=desired.key,
        action=Action.CREATE if link is None else Action.UPDATE,
        calls=calls,
        reason=_reason(desired, link, coupon_id, same_coupon),
        details=tuple(_details(desired, link, coupon_id, offer, granted, failed, pending, len(calls))),
        source=desired.source,
    )


def _reason(desired: Resource, link: Link | None, coupon_id: str | Ref, same_coupon: bool) -> str:
    coupon = desired.spec["coupon"]
    if link is None or same_coupon:
        return ""
    kept = len(link.record.get("granted") or {})
    if isinstance(coupon_id, Ref):
        text = ngettext(
            "ShopCoupon {coupon} is now a different TOP coupon (created in this plan, was coupon {old}); the grant "
            "belongs to the new coupon, so every listed buyer is sent it. The {kept} buyer(s) who got coupon "
            "{old} keep it (TOP cannot take a coupon back)",
            "ShopCoupon {coupon} is now a different TOP coupon (created in this plan, was coupon {old}); the grant "
            "belongs to the new coupon, so every listed buyer is sent it. The {kept} buyer(s) who got coupon "
            "{old} keep it (TOP cannot take a coupon back)", kept)
    else:
        text = ngettext(
            "ShopCoupon {coupon} is now a different TOP coupon (coupon {new}, was coupon {old}); the grant "
            "belongs to the new coupon, so every listed buyer is sent it. The {kept} buyer(s) who got coupon "
            "{old} keep it (TOP cannot take a coupon back)",
            "ShopCoupon {coupon} is now a different TOP coupon (coupon {new}, was coupon {old}); the grant "
            "belongs to the new coupon, so every listed buyer is sent it. The {kept} buyer(s) who got coupon "
            "{old} keep it (TOP cannot take a coupon back)", kept)
    return text.format(coupon=coupon, new=coupon_id, old=link.remote_id, kept=kept)


def _details(
    desired: Resource,
    link: Link | None,
    coupon_id: str | Ref,
    offer: str | None,
    granted: Mapping[str, Any],
    failed: Mapping[str, str],
    pending: Sequence[str],
    call_count: int,
) -> Iterator[str]:
    buyers = desired.spec["buyers"]
    if isinstance(coupon_id, Ref):
        coupon = (_("the coupon created in this plan: {offer}") if offer
                  else _("the coupon created in this plan")).format(offer=offer)
    else:
        coupon = (_("coupon {id}: {offer}") if offer else _("coupon {id}")).format(id=coupon_id, offer=offer)
    via = _("shop members (coupon.send)") if desired.spec["audience"] == "members" else _("微淘 fans (coupon.sns.send)")
    retried = [buyer for buyer in pending if buyer in failed]
    yield _("ShopCoupon {name} ({coupon}) to {audience}").format(name=desired.spec["coupon"], coupon=coupon, audience=via)
    yield ngettext(
        "{count} buyer(s) listed: {have} already have it, {pending} to send "
        "({new} new, {retried} retried) in {calls} call(s) of at most {most}",
        "{count} buyer(s) listed: {have} already have it, {pending} to send "
        "({new} new, {retried} retried) in {calls} call(s) of at most {most}",
        len(buyers),
    ).format(count=len(buyers), have=len(buyers) - len(pending), pending=len(pending),
             new=len(pending) - len(retried), retried=len(retried), calls=call_count, most=MAX_BUYERS_PER_CALL)
    if retried:
        yield _("last time TOP refused {count} of them:").format(count=len(retried))
        for buyer in retried[:SHOWN_FAILURES]:
            reason = failed[buyer]
            yield f"  {_shown(buyer)}: {_(reason) if reason == NO_REASON else reason}"
        if len(retried) > SHOWN_FAILURES:
            yield _("  … and {count} more").format(count=len(retried) - SHOWN_FAILURES)
    unlisted = [buyer for buyer in granted if buyer not in set(buyers)]
    if unlisted:
        yield ngettext(
            "{count} buyer(s) no longer listed keep the coupon they got (TOP cannot take it back)",
            "{count} buyer(s) no longer listed keep the coupon they got (TOP cannot take it back)", len(unlisted),
        ).format(count=len(unlisted))


def _shown(buyer: str) -> str:
    prefix, value = buyer.split(":", 1)
    return value if prefix == "nick" else _("open uid {uid}").format(uid=value)


def _plan_forget(link: Link) -> Change:
    granted = len(link.record.get("granted") or {})
    return forget(link, ngettext(
        "its manifest was removed; the {count} buyer(s) who got coupon {id} keep it (TOP cannot "
        "take a coupon back). No TOP call is made; the ledger of who got it is forgotten, so declaring this "
        "grant again would send to them again",
        "its manifest was removed; the {count} buyer(s) who got coupon {id} keep it (TOP cannot "
        "take a coupon back). No TOP call is made; the ledger of who got it is forgotten, so declaring this "
        "grant again would send to them again", granted,
    ).format(count=granted, id=link.remote_id))
