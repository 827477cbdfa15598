"""Plans and resources as JSON-able data and back, exactly: Decimals stay Decimals, Refs stay Refs.

The same data is what `plan --json` prints (schemas/plan.schema.json) and what `plan --out`
saves, so a reviewer reads exactly what apply will send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import simplejson

from reconciler.model import (
    Action,
    Call,
    Change,
    DropLink,
    Plan,
    Ref,
    Resource,
    ResourceKey,
    SetLink,
    SetRecordEntry,
    SourceRef,
    StateEffect,
)

FORMAT_VERSION = 1


def dumps(value: Any, *, indent: int | None = None) -> str:
    separators = None if indent else (",", ":")
    return simplejson.dumps(
        value, use_decimal=True, ensure_ascii=False, sort_keys=indent is None, indent=indent, separators=separators
    )


def loads(text: str) -> Any:
    return simplejson.loads(text, use_decimal=True)


def value_to_data(value: Any) -> Any:
    if isinstance(value, Ref):
        return {"$ref": value.name}
    if isinstance(value, Mapping):
        return {str(k): value_to_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [value_to_data(v) for v in value]
    return value


def value_from_data(data: Any) -> Any:
    if isinstance(data, Mapping):
        if set(data) == {"$ref"}:
            return Ref(data["$ref"])
        return {k: value_from_data(v) for k, v in data.items()}
    if isinstance(data, list):
        return [value_from_data(v) for v in data]
    return data


def effect_to_data(effect: StateEffect) -> dict[str, Any]:
    if isinstance(effect, SetLink):
        return {"set_link": {"remote_id": value_to_data(effect.remote_id), "record": value_to_data(effect.record)}}
    if isinstance(effect, DropLink):
        return {"drop_link": {}}
    return {"set_record_entry": {"section": effect.section, "entry": effect.entry, "value": value_to_data(effect.value)}}


def effect_from_data(data: Mapping[str, Any]) -> StateEffect:
    (name, body), = data.items()
    if name == "set_link":
        return SetLink(value_from_data(body["remote_id"]), value_from_data(body["record"]))
    if name == "drop_link":
        return DropLink()
    return SetRecordEntry(body["section"], body["entry"], value_from_data(body["value"]))


def call_to_data(call: Call) -> dict[str, Any]:
    data: dict[str, Any] = {"method": call.method, "params": value_to_data(call.params)}
    if call.binds:
        data["binds"] = dict(call.binds)
    if call.effects:
        data["effects"] = [effect_to_data(e) for e in call.effects]
    return data


def call_from_data(data: Mapping[str, Any]) -> Call:
    return Call(
        method=data["method"],
        params=value_from_data(data["params"]),
        binds=dict(data.get("binds") or {}),
        effects=tuple(effect_from_data(e) for e in data.get("effects") or ()),
    )


def key_to_data(key: ResourceKey) -> dict[str, str]:
    return {"shop": key.shop, "kind": key.kind, "name": key.name}


def key_from_data(data: Mapping[str, Any]) -> ResourceKey:
    return ResourceKey(data["shop"], data["kind"], data["name"])


def _source_from_text(text: str | None) -> SourceRef | None:
    if not text:
        return None
    file, _, line = text.rpartition(":")
    return SourceRef(file, int(line)) if line.isdigit() else SourceRef(text, 0)


def change_to_data(change: Change) -> dict[str, Any]:
    data: dict[str, Any] = {
        **key_to_data(change.key),
        "action": change.action.value,
        "reason": change.reason,
        "details": list(change.details),
        "source": str(change.source) if change.source else None,
        "calls": [call_to_data(call) for call in change.calls],
    }
    if change.effects:
        data["effects"] = [effect_to_data(e) for e in change.effects]
    if change.wire_changes:  # only when a kind reports them: older plans stay byte for byte the same
        data["wire_changes"] = [value_to_data(dict(w)) for w in change.wire_changes]
    return data


def change_from_data(data: Mapping[str, Any]) -> Change:
    return Change(
        key=key_from_data(data),
        action=Action(data["action"]),
        calls=tuple(call_from_data(c) for c in data["calls"]),
        reason=data.get("reason", ""),
        details=tuple(data.get("details") or ()),
        source=_source_from_text(data.get("source")),
        effects=tuple(effect_from_data(e) for e in data.get("effects") or ()),
        wire_changes=tuple(value_from_data(w) for w in data.get("wire_changes") or ()),
    )


def plan_to_data(plan: Plan, *, lazy_changes: bool = False) -> dict[str, Any]:
    """`lazy_changes`: the changes as an iterator converting one at a time (render.json_pieces)."""
    changes = (change_to_data(change) for change in plan.changes)
    return {
        "format_version": FORMAT_VERSION,
        "summary": {**plan.counts(), "write_calls": plan.write_calls, "read_calls": plan.read_calls},
        "changes": changes if lazy_changes else list(changes),
        "unmanaged": list(plan.unmanaged),
        "warnings": list(plan.warnings),
        "notes": list(plan.notes),
        "fingerprints": dict(plan.fingerprints),
        "managed_counts": dict(plan.managed_counts),
    }


def plan_from_data(data: Mapping[str, Any]) -> Plan:
    return Plan(
        changes=tuple(change_from_data(c) for c in data["changes"]),
        unmanaged=tuple(data.get("unmanaged") or ()),
        warnings=tuple(data.get("warnings") or ()),
        notes=tuple(data.get("notes") or ()),
        read_calls=int(data.get("summary", {}).get("read_calls", 0)),
        fingerprints=dict(data.get("fingerprints") or {}),
        managed_counts=dict(data.get("managed_counts") or {}),
    )


def resource_to_data(resource: Resource) -> dict[str, Any]:
    return {
        **key_to_data(resource.key),
        "spec": value_to_data(resource.spec),
        "source": str(resource.source) if resource.source else None,
        "prevent_destroy": resource.prevent_destroy,
        **({"allow_below_floor": resource.allow_below_floor} if resource.allow_below_floor else {}),
    }


def resource_from_data(data: Mapping[str, Any]) -> Resource:
    return Resource(
        key=key_from_data(data),
        spec=value_from_data(data["spec"]),
        source=_source_from_text(data.get("source")),
        prevent_destroy=bool(data.get("prevent_destroy", False)),
        allow_below_floor=data.get("allow_below_floor") or None,
    )
