"""Plan renderings: terminal text and JSON. Pure functions from a Plan to a string."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import groupby
from typing import Any

import simplejson

from reconciler.model import Call, Change, Link, Plan, Ref

JSON_FORMAT_VERSION = 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, Ref):
        return {"$ref": value.name}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def call_data(call: Call) -> dict[str, Any]:
    data: dict[str, Any] = {"method": call.method, "params": _jsonable(call.params)}
    if call.binds:
        data["binds"] = dict(call.binds)
    return data


def change_data(change: Change) -> dict[str, Any]:
    return {
        "shop": change.key.shop,
        "kind": change.key.kind,
        "name": change.key.name,
        "action": change.action.value,
        "reason": change.reason,
        "details": list(change.details),
        "source": str(change.source) if change.source else None,
        "calls": [call_data(call) for call in change.calls],
    }


def plan_data(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": JSON_FORMAT_VERSION,
        "summary": {**plan.counts(), "write_calls": plan.write_calls, "read_calls": plan.read_calls},
        "changes": [change_data(change) for change in plan.changes],
        "unmanaged": list(plan.unmanaged),
        "warnings": list(plan.warnings),
    }


def render_json(plan: Plan) -> str:
    return simplejson.dumps(plan_data(plan), use_decimal=True, ensure_ascii=False, indent=2)


def _compact(value: Any) -> str:
    return simplejson.dumps(_jsonable(value), use_decimal=True, ensure_ascii=False, separators=(",", ":"))


def render_text(plan: Plan) -> str:
    lines: list[str] = []
    for shop, changes in groupby(plan.changes, key=lambda change: change.key.shop):
        lines.append(f"shop {shop}:")
        for change in changes:
            lines.extend(_change_lines(change))
        lines.append("")
    for warning in plan.warnings:
        lines.append(f"warning: {warning}")
    for unmanaged in plan.unmanaged:
        lines.append(f"unmanaged (left alone): {unmanaged}")
    lines.append(summary_line(plan))
    return "\n".join(lines)


def _change_lines(change: Change) -> list[str]:
    where = f"  ({change.source})" if change.source else ""
    lines = [f"  {change.action.symbol} {change.key.kind}/{change.key.name}: {change.action.value}{where}"]
    if change.reason:
        lines.append(f"      why: {change.reason}")
    lines.extend(f"      {detail}" for detail in change.details)
    for number, call in enumerate(change.calls, start=1):
        lines.append(f"      {number}. {call.method} {_compact(call.params)}")
    return lines


def summary_line(plan: Plan) -> str:
    if plan.empty:
        return f"No changes. TOP matches the manifests ({plan.read_calls} read calls, 0 writes)."
    counts = plan.counts()
    return (
        f"Plan: {counts['create']} to create, {counts['update']} to update, {counts['replace']} to replace, "
        f"{counts['delete']} to delete; {plan.write_calls} write calls ({plan.read_calls} read calls to plan)."
    )


def render_record(link: Link) -> str:
    """What the state store holds for one object, as readable JSON."""
    return simplejson.dumps(
        {"address": str(link.key), "remote_id": link.remote_id, "record": _jsonable(link.record)},
        use_decimal=True,
        ensure_ascii=False,
        indent=2,
    )
