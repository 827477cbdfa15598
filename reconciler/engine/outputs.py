"""The JSON documents of `validate`, `price`, `state list` and `apply` (`--json`), each described
by a versioned schema under reconciler/schemas/output/ (copied to schemas/output/). Like the plan's
(engine/codec.py): a field is only ever added within a format_version. Money is exact: fen as
integers, yuan as decimal text; never floats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from fractions import Fraction
from typing import Any

from reconciler.engine.apply import ApplyReport
from reconciler.engine.price_report import yuan
from reconciler.kinds.units import fen_text
from reconciler.errors import ChecksumMismatch, ManifestError, NotApproved, StalePlan, UnsafePlan
from reconciler.model import Change, Link, Plan, Resource
from reconciler.pricing.floors import FloorPrice, is_default
from reconciler.pricing.quote import Quote

FORMAT_VERSION = 1


def validate_to_data(resources: Sequence[Resource], shops: Sequence[str]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "valid": True,
        "shops": sorted(shops),
        "resources": [
            {"address": str(r.key), "shop": r.key.shop, "kind": r.key.kind, "name": r.key.name,
             "source": str(r.source) if r.source else None}
            for r in sorted(resources, key=lambda r: r.key)
        ],
    }


def state_list_to_data(links: Sequence[Link]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "objects": [
            {"address": str(link.key), "shop": link.key.shop, "kind": link.key.kind, "name": link.key.name,
             "remote_id": str(link.remote_id)}
            for link in sorted(links, key=lambda link: link.key)
        ],
    }


def _change_ref(change: Change) -> dict[str, Any]:
    return {"address": str(change.key), "action": change.action.value, "calls": len(change.calls)}


def apply_to_data(report: ApplyReport, checksum: str, *, empty: bool = False) -> dict[str, Any]:
    """What an apply did: the changes done, failed (with TOP's error, masked by the caller) and not tried."""
    return {
        "format_version": FORMAT_VERSION,
        "outcome": "no_changes" if empty else ("applied" if report.ok else "failed"),
        "run_id": report.run_id,
        "plan_checksum": checksum,
        "ok": report.ok,
        "write_calls_sent": report.calls_sent,
        "done": [_change_ref(change) for change in report.done],
        "failed": [{**_change_ref(change), "error": str(error)} for change, error in report.failed],
        "not_tried": [_change_ref(change) for change in report.not_tried],
    }


# Why an apply stopped before sending anything, by the error that stopped it (most specific first).
STOP_OUTCOMES: tuple[tuple[type[Exception], str], ...] = (
    (UnsafePlan, "blocked"),
    (StalePlan, "stale_plan"),
    (ChecksumMismatch, "checksum_mismatch"),
    (NotApproved, "not_approved"),
    (ManifestError, "invalid_manifests"),
)


def apply_stopped_to_data(error: Exception, message: str, plan: Plan | None, checksum: str = "") -> dict[str, Any]:
    """An apply that stopped before sending anything: why (`outcome`, `message`, masked by the
    caller), and the plan's changes, none of them tried, when a plan was made."""
    outcome = next((name for kind, name in STOP_OUTCOMES if isinstance(error, kind)), "error")
    return {
        "format_version": FORMAT_VERSION,
        "outcome": outcome,
        "message": message,
        "run_id": "",
        "plan_checksum": checksum,
        "ok": False,
        "write_calls_sent": 0,
        "done": [],
        "failed": [],
        "not_tried": [_change_ref(change) for change in plan.changes] if plan is not None else [],
    }


def _fen(amount: Fraction | int) -> dict[str, Any]:
    """An exact amount: whole fen (rounded down) and the yuan text ('…' when a fraction was cut)."""
    return {"fen": int(amount // 1), "yuan": fen_text(amount)}


def _floor(floor: FloorPrice | None) -> dict[str, Any] | None:
    if floor is None:
        return None
    return {"fen": floor.price, "yuan": yuan(floor.price), "from": f"{floor.key.kind}/{floor.key.name}",
            "default": is_default(floor), "share_permille": floor.share}


def quote_to_data(quote: Quote, floor: FloorPrice | None) -> dict[str, Any]:
    return {
        "item_id": quote.item.item_id,
        "title": quote.item.title,
        "list_price": _fen(quote.item.list_price),
        "worst_case": _fen(quote.unit_price),
        "basket_units": quote.units,
        "steps": [{"from": f"{s.key.kind}/{s.key.name}", "label": s.label, "taken": _fen(s.taken)}
                  for s in quote.steps],
        "floor": _floor(floor),
        "below_floor": floor is not None and quote.unit_price < floor.price,
    }


def prices_to_data(moment: datetime, reports: Sequence[Any]) -> dict[str, Any]:
    """`reports`: engine.guardrails.ShopPrices."""
    return {
        "format_version": FORMAT_VERSION,
        "at": moment.isoformat(),
        "shops": [
            {"shop": r.shop, "items": [quote_to_data(q, f) for q, f in r.quotes],
             "at_list_price": r.at_list_price, "notes": list(r.notes), "read_calls": r.read_calls}
            for r in reports
        ],
    }


def with_where(data: Mapping[str, Any], where: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**data, **({"where": dict(where)} if where is not None else {})}
