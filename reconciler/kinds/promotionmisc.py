"""What ItemDiscount and FullDiscount share: the `taobao.promotionmisc.*` activity families.

Both families have the same shape on TOP, so reading, diffing, range deltas and recovery live
here once; each kind module only says how its manifest becomes the fields of its add call
(and which family of methods it uses).

What TOP allows, and so what the plan does:
- `*.activity.list.get` lists every activity of the shop (pages of at most 50), so activities
  nobody owns are found and reported as unmanaged; apply never touches them.
- `*.activity.get` returns every field that add takes, so live state is compared with the
  manifest directly. `*.activity.update` takes every field too (its page: send the unchanged
  ones again), so a changed activity is one update call — except a field the update does not
  take (mjs `type`), which forces a replace.
- Participating items are the activity's *range*: `activity.range.add` / `.remove` by id,
  at most 50 ids per call (range.add's page; range.remove's page names no limit, so the same
  50 is used for it), at most 150 items per activity. Membership changes by delta; when every
  item goes and that would take more than one remove call, one `range.all.remove` does it.
- There is no free field to carry our resource name, so the link lives only in the state
  store. A create whose answer was lost is recognised by its content (see `recover`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, ClassVar, cast

from reconciler.errors import PlanError, TopPermanentError, TopShapeError
from reconciler.i18n import N_, _
from reconciler.kinds.base import Caller, LiveState, Phase, PlanContext, ProblemCollector, new_id_ref
from reconciler.kinds.common import activity_window, phase_at, which_side_moved
from reconciler.top.answers import sub_code_is, top_rows
from reconciler.kinds.price_terms import rate_text, yuan
from reconciler.kinds.units import parse_top_datetime, to_top_datetime, whole_as_int
from reconciler.kinds.wording import absent, arrow, item_added, item_removed, items_text
from reconciler.model import Action, Call, Change, DropLink, Link, Ref, Resource, SetLink, SetRecordEntry
from reconciler.pricing.rules import Items, When, Window

RANGE_ADD = "taobao.promotionmisc.activity.range.add"
RANGE_REMOVE = "taobao.promotionmisc.activity.range.remove"
RANGE_ALL_REMOVE = "taobao.promotionmisc.activity.range.all.remove"
RANGE_LIST = "taobao.promotionmisc.activity.range.list.get"

IDS_PER_CALL = 50  # range.add: "一次不超过50个"; range.remove: undocumented, the same 50 is used
MAX_RANGE_ITEMS = 150  # range.add: "部分商品参与的活动，最大支持指定150个商品"
PAGE_SIZE = 50  # list.get: "每页记录数，最大支持50"
ALL_ITEMS = "all"
NOT_EXIST = "isv.activity-not-exist"


@dataclass(frozen=True)
class Family:
    """One promotionmisc activity family: its methods and how its fields behave."""

    label: str  # for messages, e.g. "item discount"
    prefix: str  # "taobao.promotionmisc.item.activity"
    get_key: str  # the object get answers (and list.get's row name), e.g. "item_promotion"
    fields: tuple[str, ...]  # every activity field, in the order of the add page
    value_flags: Mapping[str, str]  # value field -> the flag that gives it meaning
    units: Mapping[str, str] = field(default_factory=dict)  # field -> "fen" | "permille", for details
    # field -> {wire code: the manifest's word}, for details: "type: item → shop", not "type: 1 → 2".
    words: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    fixed: tuple[str, ...] = ()  # fields update does not take: changing one is a replace
    list_filters: tuple[Mapping[str, Any], ...] = ({},)  # one list walk per filter

    @property
    def add(self) -> str:
        return f"{self.prefix}.add"

    @property
    def update(self) -> str:
        return f"{self.prefix}.update"

    @property
    def delete(self) -> str:
        return f"{self.prefix}.delete"

    @property
    def get(self) -> str:
        return f"{self.prefix}.get"

    @property
    def list_get(self) -> str:
        return f"{self.prefix}.list.get"

    @property
    def list_key(self) -> str:
        return f"{self.get_key}_list"

    def read_methods(self) -> tuple[str, ...]:
        return (self.list_get, self.get, RANGE_LIST)

    def write_methods(self) -> tuple[str, ...]:
        return (self.add, self.update, self.delete, RANGE_ADD, RANGE_REMOVE, RANGE_ALL_REMOVE)


# ---- manifest → wire (helpers the kind modules use) --------------------------------------------


def window_params(window: Mapping[str, str], problems: ProblemCollector) -> dict[str, str]:
    """start_time / end_time as TOP's Date: `yyyy-MM-dd HH:mm:ss` in GMT+8, whatever offset was written."""
    bounds = activity_window(window, problems)
    if bounds is None:
        return {}
    start, end = bounds
    return {"start_time": to_top_datetime(start), "end_time": to_top_datetime(end)}


_RANGE_WORDS = {"participate_range": {0: N_("all items"), 1: N_("listed items")}}  # as range_params reads spec.items


def range_params(items: Any) -> tuple[int, list[str]]:
    """`items: all` → whole shop (participate_range 0); a list → those items (1), sorted by id."""
    if items == ALL_ITEMS:
        return 0, []
    return 1, sorted({str(item) for item in items}, key=int)


# ---- reading -----------------------------------------------------------------------------------


def rows(answer: Mapping[str, Any], list_key: str, row_key: str) -> list[Mapping[str, Any]]:
    """A list field in TOP's wrapped shape ({list_key: {row_key: [...]}}) or bare (simplify=true)."""
    return top_rows(answer.get(list_key), row_key, where=list_key)


def is_not_exist(error: TopPermanentError) -> bool:
    """TOP's "no such activity", also with its detail suffix (isv.activity-not-exist:activityId)."""
    return sub_code_is(error.sub_code, NOT_EXIST)


def list_activities(client: Caller, family: Family) -> dict[str, Mapping[str, Any]]:
    """Every activity of the family on the shop: id → list row (a bounded number of paged calls)."""
    listed: dict[str, Mapping[str, Any]] = {}
    for filters in family.list_filters:
        page_no = 1
        while True:
            answer = client.call(family.list_get, {**filters, "page_no": page_no, "page_size": PAGE_SIZE})
            page = rows(answer, family.list_key, family.get_key)
            listed.update((str(row["activity_id"]), row) for row in page)
            if not page or page_no * PAGE_SIZE >= int(answer.get("total_count") or 0):
                break
            page_no += 1
    return listed


def get_activity(client: Caller, family: Family, activity_id: int) -> Mapping[str, Any] | None:
    try:
        answer = client.call(family.get, {"activity_id": activity_id})
    except TopPermanentError as exc:
        if is_not_exist(exc):
            return None
        raise
    return _activity_of(answer, family)


def _activity_of(answer: Mapping[str, Any], family: Family) -> Mapping[str, Any]:
    activity = answer.get(family.get_key)
    if not isinstance(activity, Mapping):
        raise TopShapeError(family.get, msg=f"the answer has no {family.get_key} object")
    return activity


def read_activities(
    client: Caller, family: Family, activity_ids: Sequence[int]
) -> dict[int, dict[str, Any] | None]:
    """Each activity with its participating items (None when gone): one round of concurrent
    gets, then one of range reads for the partial ones — not one activity after another."""
    answers = client.call_many(family.get, [{"activity_id": i} for i in activity_ids], return_exceptions=True)
    found: dict[int, dict[str, Any] | None] = {}
    for activity_id, answer in zip(activity_ids, answers, strict=True):
        if isinstance(answer, TopPermanentError) and is_not_exist(answer):
            found[activity_id] = None
        elif isinstance(answer, Exception):
            raise answer
        else:
            found[activity_id] = {"activity": _activity_of(answer, family), "items": []}
    partial = [i for i, entry in found.items() if entry is not None and _is_partial(entry["activity"])]
    ranges = client.call_many(RANGE_LIST, [{"activity_id": i} for i in partial])
    for activity_id, answer in zip(partial, ranges, strict=True):
        entry = found[activity_id]
        assert entry is not None
        entry["items"] = _range_ids(answer)
    return found


def read_range(client: Caller, activity_id: int) -> list[str]:
    return _range_ids(client.call(RANGE_LIST, {"activity_id": activity_id}))


def _is_partial(activity: Mapping[str, Any]) -> bool:
    return bool(whole_as_int(activity.get("participate_range")) == 1)


def _range_ids(answer: Mapping[str, Any]) -> list[str]:
    return sorted({str(row["item_id"]) for row in rows(answer, "promotion_range_list", "promotion_range")}, key=int)


def _truthy(value: Any) -> bool:
    return value is True or value == "true"


def canonical(family: Family, fields: Mapping[str, Any], *, skip: Sequence[str] = ()) -> dict[str, Any]:
    """The fields that mean something, in one form: every flag as a bool, values only under a set flag."""
    view: dict[str, Any] = {}
    for name in family.fields:
        if name in skip:
            continue
        flag = family.value_flags.get(name)
        if name.startswith("is_"):
            view[name] = _truthy(fields.get(name))
        elif flag is not None and not _truthy(fields.get(flag)):
            continue
        elif fields.get(name) is not None:
            view[name] = whole_as_int(fields[name])
    return view


# ---- the shared kind behaviour -----------------------------------------------------------------


class PromotionMiscActivity:
    """Reading, planning and recovery for a promotionmisc family. Mixed into a Kind that sets
    `kind`, `family` and implements `normalise_spec` (its spec: {"activity": add params, "items": ids})."""

    kind: ClassVar[str]
    family: ClassVar[Family]
    noun: ClassVar[str] = N_("activity")
    # The list call reads the whole shop in a few paged calls, so unmanaged activities are
    # reported even when no manifest of this kind exists.
    always_read: ClassVar[bool] = True

    # ---- live state --------------------------------------------------------------------------

    def read_live(self, client: Caller, ctx: PlanContext) -> LiveState:
        listed = list_activities(client, self.family)
        links = ctx.links_of(self.kind)
        present = [int(link.remote_id) for link in links if link.remote_id in listed]
        details = read_activities(client, self.family, present)
        live = LiveState()
        for link in links:
            live.by_name[link.key.name] = details.get(int(link.remote_id)) if link.remote_id in listed else None
        linked = {link.remote_id for link in links}
        unowned = sorted((int(remote_id), row) for remote_id, row in listed.items() if remote_id not in linked)
        live.unmanaged.extend(self._describe_unowned(row, ctx) for _, row in unowned)
        live.unmanaged_rows.update((str(remote_id), row) for remote_id, row in unowned)
        return live

    def same_as_create(self, client: Caller, desired: Resource, live: LiveState) -> list[str]:
        """Unmanaged activities whose every field and participating items are what creating
        `desired` would make. The list rows narrow it down (title, range, window), then a get and
        a range read of each candidate compare the rest: a few reads, and only for such a create."""
        family = self.family
        want = canonical(family, desired.spec["activity"])
        summary_fields = ("name", "participate_range", "start_time", "end_time")
        candidates = [
            int(remote_id)
            for remote_id, row in live.unmanaged_rows.items()
            if all(whole_as_int(row.get(name)) == want.get(name) for name in summary_fields)
        ]
        found = read_activities(client, family, candidates)
        return [
            str(activity_id)
            for activity_id, entry in found.items()
            if entry is not None
            and canonical(family, entry["activity"]) == want
            and entry["items"] == list(desired.spec["items"])
        ]

    def _describe_unowned(self, row: Mapping[str, Any], ctx: PlanContext) -> str:
        """The row in words, with a hint when a not-yet-created manifest has its title: the
        activity may be that manifest's, made before the state store knew of it."""
        text = _describe_row(self.family, row)
        for desired in ctx.desired_of(self.kind):
            if desired.key not in ctx.links and desired.spec["activity"].get("name") == row.get("name"):
                text += _(
                    "; it has the title of {kind}/{name}: if it is that one, "
                    "`reconciler import {kind} {name} {id}` instead of creating another"
                ).format(kind=desired.key.kind, name=desired.key.name, id=row.get("activity_id"))
        return text

    def import_record(self, client: Caller, remote_id: str, desired: Resource) -> Mapping[str, Any]:
        """Adopt an activity made elsewhere (`reconciler import`). Nothing is recorded as applied:
        get shows every field, so the next plan compares the manifest with TOP directly."""
        if not remote_id.isdigit():
            raise PlanError(_("{id!r} is not an activity id (activity ids are numbers)").format(id=remote_id))
        found = read_activities(client, self.family, [int(remote_id)])[int(remote_id)]
        if found is None:
            raise PlanError(_("shop {shop} has no {label} {id} on TOP").format(
                shop=desired.key.shop, label=_(self.family.label), id=remote_id))
        return {"activity": None, "items": {item: True for item in found["items"]}, "imported": True}

    def phase(self, resource: Resource, ctx: PlanContext) -> Phase:
        """TOP refuses to add an activity that is over; one that exists is left alone."""
        activity = resource.spec["activity"]
        start, end = (parse_top_datetime(str(activity[name])) for name in ("start_time", "end_time"))
        return phase_at(start, end, ctx.now)

    # ---- diff → calls ------------------------------------------------------------------------

    def plan_create(self, desired: Resource, live: Any | None, ctx: PlanContext) -> Change | None:
        return self._plan_create(desired, reason="")

    def plan_existing(self, desired: Resource, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        if live is None:
            return self._plan_create(
                desired,
                reason=_("activity {id} is gone on TOP (deleted outside the reconciler); "
                         "it will be created again").format(id=link.remote_id),
            )
        change = self._plan_existing(desired, link, live)
        if change is None:
            return None
        # The fields its details word in yuan and 折, with their wire values (plan --json).
        want, have = canonical(self.family, desired.spec["activity"]), canonical(self.family, live["activity"])
        return replace(change, wire_changes=tuple(_wire_changes(self.family, have, want)))

    def _create_calls(self, desired: Resource) -> list[Call]:
        activity = dict(desired.spec["activity"])
        new_id = new_id_ref(desired.key)
        add = Call(
            self.family.add,
            activity,
            binds={new_id.name: "activity_id"},
            effects=(SetLink(new_id, {"activity": activity, "items": {}}),),
        )
        return [add, *range_add_calls(new_id, desired.spec["items"])]

    def _create_summary(self, desired: Resource) -> str:
        """'1折 on 3 item(s): 1001, 1002, 1003, 2027-11-10 20:00:00 → 2027-11-12 00:00:00 (GMT+8)'."""
        rules = cast(Any, self).price_rules(desired)  # the family's Kind (a subclass) prices its activities
        labels = [str(getattr(rule, "label", "")) for rule in rules]
        words = "；".join(label for label in labels if label) or _(self.family.label)
        activity = desired.spec["activity"]
        return _("{terms} on {scope}, {start} → {end} (GMT+8)").format(
            terms=words, scope=_scope(desired.spec), start=activity.get("start_time"), end=activity.get("end_time"))

    def _plan_create(self, desired: Resource, reason: str) -> Change:
        return Change(
            key=desired.key,
            action=Action.CREATE,
            calls=tuple(self._create_calls(desired)),
            reason=reason,
            details=(self._create_summary(desired),),
            source=desired.source,
        )

    def plan_gone(self, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        return Change(
            key=link.key,
            action=Action.DELETE,
            calls=(Call(self.family.delete, {"activity_id": int(link.remote_id)}, effects=(DropLink(),)),),
            reason=_("its manifest was removed"),
        )

    def _plan_existing(self, desired: Resource, link: Link, live: Mapping[str, Any]) -> Change | None:
        family = self.family
        want = canonical(family, desired.spec["activity"])
        have = canonical(family, live["activity"])
        differences = _differences(family, have, want)
        why = self._why(link, want, have)
        fixed = [name for name in family.fixed if have.get(name) != want.get(name)]
        if fixed:
            return self._plan_replace(desired, link, fixed, differences, why)
        activity_id = int(link.remote_id)
        removes, adds, item_details = range_delta_calls(activity_id, live["items"], desired.spec["items"])
        update = [self._update_call(activity_id, desired.spec["activity"])] if differences else []
        calls = [*removes, *update, *adds]
        if not calls:
            return None
        reasons = []
        if update:
            reasons.append(_(
                "{why}; {method} changes the activity in place "
                "(it takes every field, so unchanged ones are sent again)"
            ).format(why=why, method=family.update))
        if item_details:
            reasons.append(_("participating items change by delta, at most {count} ids per call").format(
                count=IDS_PER_CALL))
        return Change(
            key=desired.key,
            action=Action.UPDATE,
            calls=tuple(calls),
            # Both: the update's reason, then the range's ("{reason}; {items}", as item pools say it).
            reason=_("{reason}; {items}").format(reason=reasons[0], items=reasons[1]) if len(reasons) == 2
            else reasons[0],
            details=tuple(differences + item_details),
            source=desired.source,
        )

    def _why(self, link: Link, want: Mapping[str, Any], have: Mapping[str, Any]) -> str:
        """Which side moved since the last apply: the manifest, TOP (drift), or both."""
        applied = link.record.get("activity")
        if link.record.get("imported") and not applied:
            return _("the imported activity differs from the manifest")
        was = canonical(self.family, applied) if applied else None
        return which_side_moved(was is None or was != want, was is not None and was != have)

    def _update_call(self, activity_id: int, activity: Mapping[str, Any]) -> Call:
        params = {"activity_id": activity_id}
        params.update({k: v for k, v in activity.items() if k not in self.family.fixed})
        effects = tuple(SetRecordEntry("activity", name, activity.get(name)) for name in self.family.fields)
        return Call(self.family.update, params, effects=effects)

    def _plan_replace(
        self, desired: Resource, link: Link, fixed: list[str], differences: list[str], why: str
    ) -> Change:
        old_id = int(link.remote_id)
        calls = [Call(self.family.delete, {"activity_id": old_id}, effects=(DropLink(),)), *self._create_calls(desired)]
        return Change(
            key=desired.key,
            action=Action.REPLACE,
            calls=tuple(calls),
            reason=_(
                "{why}; {method} cannot change {fields}, so activity {id} is deleted "
                "first (two copies would stack for buyers) and created again with its participating items"
            ).format(why=why, method=self.family.update, fields=", ".join(fixed), id=old_id),
            details=tuple(differences),
            source=desired.source,
        )

    # ---- a write whose answer was lost -------------------------------------------------------

    def recover(self, client: Caller, method: str, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        family = self.family
        done = {"is_success": True}
        if method == family.add:
            return self._recover_add(client, params)
        if method == family.update:
            activity = get_activity(client, family, int(params["activity_id"]))
            same = activity is not None and canonical(family, activity, skip=family.fixed) == canonical(
                family, params, skip=family.fixed
            )
            return done if same else None
        if method == family.delete:
            return done if get_activity(client, family, int(params["activity_id"])) is None else None
        if method in (RANGE_ADD, RANGE_REMOVE, RANGE_ALL_REMOVE):
            return recover_range(client, method, params)
        raise PlanError(_("{method}: not a method of {kind}; cannot tell whether it took effect").format(
            method=method, kind=self.kind))

    def _recover_add(self, client: Caller, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """No field carries our name, so the new activity is the one whose every field matches."""
        family = self.family
        want = canonical(family, params)
        summary_fields = ("name", "participate_range", "start_time", "end_time")
        candidates = [
            remote_id
            for remote_id, row in list_activities(client, family).items()
            if all(whole_as_int(row.get(name)) == want.get(name) for name in summary_fields)
        ]
        matches = [
            remote_id
            for remote_id in candidates
            if (activity := get_activity(client, family, int(remote_id))) is not None
            and canonical(family, activity) == want
        ]
        if len(matches) > 1:
            raise PlanError(_(
                "{method}: activities {ids} all match the lost create, so TOP cannot tell "
                "which one it made; `reconciler import` the right one before applying again"
            ).format(method=family.add, ids=", ".join(matches)))
        return {"is_success": True, "activity_id": int(matches[0])} if matches else None


def recover_range(client: Caller, method: str, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
    present = set(read_range(client, int(params["activity_id"])))
    if method == RANGE_ALL_REMOVE:
        return None if present else {"is_success": True}
    ids = {item.strip() for item in str(params["ids"]).split(",")}
    took = ids <= present if method == RANGE_ADD else not (ids & present)
    untouched = not (ids & present) if method == RANGE_ADD else ids <= present
    if took:
        return {"is_success": True}
    if untouched:
        return None
    raise PlanError(_("{method}: only some of the ids took effect on activity {id}; plan again").format(
        method=method, id=params["activity_id"]))


# ---- range deltas ------------------------------------------------------------------------------


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), IDS_PER_CALL):
        yield list(ids[start : start + IDS_PER_CALL])


def range_add_calls(activity_id: int | Ref, ids: Sequence[str]) -> list[Call]:
    return [
        Call(
            RANGE_ADD,
            {"activity_id": activity_id, "ids": ",".join(chunk)},
            effects=tuple(SetRecordEntry("items", item, True) for item in chunk),
        )
        for chunk in _chunks(ids)
    ]


def range_delta_calls(
    activity_id: int, live_ids: Sequence[str], desired_ids: Sequence[str]
) -> tuple[list[Call], list[Call], list[str]]:
    """(remove calls, add calls, readable lines) turning the live range into the desired one."""
    live_set, desired_set = set(live_ids), set(desired_ids)
    gone = sorted(live_set - desired_set, key=int)
    new = sorted(desired_set - live_set, key=int)
    forget = tuple(SetRecordEntry("items", item, None) for item in gone)
    if gone and len(gone) == len(live_set) and len(gone) > IDS_PER_CALL:
        removes = [Call(RANGE_ALL_REMOVE, {"activity_id": activity_id}, effects=forget)]
    else:
        removes = [
            Call(
                RANGE_REMOVE,
                {"activity_id": activity_id, "ids": ",".join(chunk)},
                effects=tuple(SetRecordEntry("items", item, None) for item in chunk),
            )
            for chunk in _chunks(gone)
        ]
    details = [item_removed(item) for item in gone] + [item_added(item) for item in new]
    return removes, range_add_calls(activity_id, new), details


# ---- wording -----------------------------------------------------------------------------------


def _scope(spec: Mapping[str, Any]) -> str:
    if spec["activity"].get("participate_range") == 0:
        return _("the whole shop")
    return items_text([str(item) for item in spec["items"]])


def _describe_row(family: Family, row: Mapping[str, Any]) -> str:
    text = (_("{label} {id} {title!r} ({start} – {end}, selected items)") if _is_partial(row)
            else _("{label} {id} {title!r} ({start} – {end}, whole shop)"))
    return text.format(label=_(family.label), id=row.get("activity_id"), title=row.get("name"),
                       start=row.get("start_time"), end=row.get("end_time"))


def _show(family: Family, name: str, value: Any) -> str:
    """A field in the manifest's units: 5.00元, 8.5折, TOP's GMT+8 times; the wire values are in the calls."""
    if value is None:
        return absent()
    unit = family.units.get(name)
    range_words = _RANGE_WORDS.get(name)
    if range_words is not None and isinstance(value, int) and value in range_words:
        return _(range_words[value])
    words = family.words.get(name)  # the manifest's own words (level: shop), as written
    if words is not None and isinstance(value, int) and value in words:
        return words[value]
    if unit == "fen" and isinstance(value, int):
        return yuan(value)
    if unit == "permille" and isinstance(value, int):
        return rate_text(value)
    if name.endswith("_time") and isinstance(value, str):
        return f"{value} (GMT+8)"
    return repr(value) if isinstance(value, str) else str(value)


def _wire_changes(family: Family, have: Mapping[str, Any], want: Mapping[str, Any]) -> list[dict[str, Any]]:
    """_differences' fields with their wire values: {"field": "discount_rate", "before": 850, "after": 800}."""
    return [{"field": name, "before": have.get(name), "after": want.get(name)}
            for name in family.fields if have.get(name) != want.get(name)]


def _differences(family: Family, have: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    """One readable line per field that differs, e.g. "discount_rate: 8.5折 → 8折"."""
    return [
        arrow(name, _show(family, name, have.get(name)), _show(family, name, want.get(name)))
        for name in family.fields
        if have.get(name) != want.get(name)
    ]


# ---- prices (the price guardrails) -------------------------------------------------------------


def price_when(activity: Mapping[str, Any]) -> When:
    """The activity's window; its end second still counts (TOP's end_time is the last second)."""
    start = parse_top_datetime(str(activity["start_time"]))
    end = parse_top_datetime(str(activity["end_time"])) + timedelta(seconds=1)
    return When(Window(start, end))


def price_items(spec: Mapping[str, Any]) -> Items:
    if whole_as_int(spec["activity"].get("participate_range")) == 0:
        return Items(every=True)
    return Items(ids=frozenset(str(item) for item in spec["items"]))
