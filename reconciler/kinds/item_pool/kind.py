"""ItemPoolActivity, the Kind: ties the parts together (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Mapping
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
)
from reconciler.kinds.common import phase_at
from reconciler.kinds.exported import ExportError, Exported
from reconciler.kinds.item_pool.export import pool_exported
from reconciler.kinds.item_pool.plan import ADOPTED, create_change, delete_change, existing_change
from reconciler.kinds.item_pool.views import expected_view, live_view
from reconciler.kinds.item_pool.prices import price_rule
from reconciler.kinds.item_pool.read import read_activities, read_one, sku_in_pool
from reconciler.kinds.item_pool.wire import (
    ADD_ITEM,
    CREATE,
    DELETE,
    QUERY,
    QUERY_ITEMS,
    REMOVE_ITEM,
    activity_params,
    item_params,
)
from reconciler.kinds.units import from_epoch_ms
from reconciler.manifest import Document
from reconciler.model import Change, Link, Resource
from reconciler.pricing.rules import PriceRule


class ItemPoolActivity(Kind):
    kind = "ItemPoolActivity"
    schema = "item-pool-activity.schema.json"
    noun = N_("activity")  # "activity 42 is already gone on TOP" (Kind.plan_change)
    read_methods = (QUERY, QUERY_ITEMS)
    write_methods = (CREATE, DELETE, ADD_ITEM, REMOVE_ITEM)
    reads_links_only = True  # read_live reads the linked activities by id, nothing else

    # ---- manifest → wire -------------------------------------------------------------------

    def normalise_spec(self, doc: Document, ctx: NormaliseContext, problems: ProblemCollector) -> dict[str, Any]:
        activity = activity_params(doc, problems, ctx)
        return {"activity": activity, "items": item_params(doc, problems, activity)}

    # ---- live state ------------------------------------------------------------------------

    def read_live(self, client: Caller, ctx: PlanContext) -> LiveState:
        # No list call exists, so only linked activities can be read, by id; the reads of
        # different activities run concurrently (within the app's QPS budget).
        live = LiveState()
        links = ctx.links_of(self.kind)
        activities = read_activities(client, [int(link.remote_id) for link in links])
        for link in links:
            live.by_name[link.key.name] = activities[int(link.remote_id)]
        return live

    def recover(self, client: Caller, method: str, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Look on TOP whether a write whose answer was lost took effect (see Kind.recover).

        - additem / removeitem: queryitems filtered to the sku says whether it is in the pool.
        - deleteactivity: queryactivity answering activity-not-exist means it is done.
        - activity.create: cannot be recovered. TOP has no list method and queryactivity needs
          the activity id, which is exactly what was lost; out_act_id cannot be searched. A
          re-send would rely on TOP refusing a second activity with the same out_act_id, which
          the method's page does not promise (only our sandbox does), so apply stops and says
          how to find and adopt the activity instead of guessing.
        """
        if method in (ADD_ITEM, REMOVE_ITEM):
            activity_id = int(params["param1"]["activity_id"])
            sku = str(params["param0"]["sku_code"])
            in_pool = sku_in_pool(client, activity_id, sku)
            if method == ADD_ITEM:
                return {"result": {"success": True, "data": {"sku_code": sku}}} if in_pool else None
            return None if in_pool else {"result": {"success": True, "data": True}}
        if method == DELETE:
            activity_id = int(params["param"]["activity_id"])
            gone = read_activities(client, [activity_id], with_items=False)[activity_id] is None
            return {"result": {"success": True, "data": True}} if gone else None
        if method == CREATE:
            activity = params["param"]
            out_act_id = activity.get("out_act_id", "?")
            raise PlanError(_(
                "{method}: TOP did not say whether it created activity {name!r} (the answer was lost or "
                "was a platform error), and TOP offers no way to find an item-pool activity without its id. "
                "Look in the seller console "
                "for {title!r}: if it is there, adopt it with "
                "`reconciler import ItemPoolActivity {name} ACTIVITY_ID`, then plan again; if it is not, "
                "record that with `reconciler journal resolve ENTRY --not-applied` (`reconciler journal list --open` "
                "shows the entry)"
            ).format(method=CREATE, name=out_act_id, title=activity.get("activity_name", out_act_id)))
        return super().recover(client, method, params)

    # ---- diff → calls ----------------------------------------------------------------------

    def plan_create(self, desired: Resource, live: Any | None, ctx: PlanContext) -> Change | None:
        return create_change(desired, reason="")

    def plan_existing(self, desired: Resource, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        if live is None:
            return create_change(
                desired,
                reason=_("activity {id} is gone on TOP (deleted outside the reconciler); "
                         "it will be created again").format(id=link.remote_id),
            )
        return existing_change(desired, link, live)

    def plan_gone(self, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        # TOP still has it (the base forgets one that is already gone): delete it.
        return delete_change(link)

    def phase(self, resource: Resource, ctx: PlanContext) -> Phase:
        """TOP refuses to create an activity that is over; one that exists is left alone."""
        activity = resource.spec["activity"]
        return phase_at(from_epoch_ms(activity["start_time"]), from_epoch_ms(activity["end_time"]), ctx.now)

    def import_record(self, client: Caller, remote_id: str, desired: Resource) -> Mapping[str, Any]:
        if not remote_id.isdigit():
            raise PlanError(_("an item-pool activity id is a number, not {id!r}").format(id=remote_id))
        live = read_one(client, int(remote_id))
        if live is None:
            raise PlanError(_("item-pool activity {id} does not exist on TOP (or was deleted)").format(id=remote_id))
        out_act_id = live["activity"].get("out_act_id")
        if out_act_id and out_act_id != desired.key.name:
            raise PlanError(_(
                "activity {id} carries out_act_id {found!r}, not {name!r}: it belongs to another manifest or tool"
            ).format(id=remote_id, found=out_act_id, name=desired.key.name))
        # TOP returns neither the activity's rules nor item prices, so nothing is recorded as applied
        # for them: the next plan compares what TOP does return and says what it must assume.
        return {"activity": None, "items": {sku: {"sku_code": sku} for sku in live["skus"]}, "imported": True}

    def export_one(self, client: Caller, remote_id: str) -> Exported:
        """`export --id ItemPoolActivity:ID` (TOP has no list call, so export_listed stays None)."""
        if not remote_id.isdigit():
            raise ExportError(_("an item-pool activity id is a number, not {id!r}").format(id=remote_id))
        live = read_one(client, int(remote_id))
        if live is None:
            raise ExportError(_("item-pool activity {id} does not exist on TOP (or was deleted)").format(id=remote_id))
        return pool_exported(remote_id, live)

    def import_exported(self, client: Caller, remote_id: str, desired: Resource) -> Mapping[str, Any]:
        """The export wrote the manifest from what TOP returns and said in it what TOP does not: the
        manifest is recorded as applied when TOP still shows exactly it, as plan's adoption would, and
        marked adopted (plan.ADOPTED): a later replace warns that the activity it creates has only
        what the manifest says of the fields TOP never showed."""
        record = self.import_record(client, remote_id, desired)
        live = read_one(client, int(remote_id))
        if live is None:
            return record
        shown = live_view(live["activity"])
        if expected_view(desired.spec["activity"], shown) != shown or sorted(desired.spec["items"]) != sorted(live["skus"]):
            return record
        return {"activity": dict(desired.spec["activity"]), "items": dict(desired.spec["items"]), ADOPTED: True}

    def price_rules(self, resource: Resource) -> list[PriceRule]:
        """The activity as a price rule: its items' own prices, its stairs and logic-group
        discounts, and the flags that decide how it combines (see reconciler.pricing.stacking)."""
        return [price_rule(resource)]
