"""TOP's two answer shapes, made from the one canonical form every handler returns.

Handlers return the ``simplify=true`` form: fields at the root of their dict, every list a bare
JSON array. That is already the answer when the request says ``simplify=true``
(``protocol.success_body`` adds only ``request_id``). Without it TOP wraps every list, nested ones
too, as ``{"<item element>": [...]}`` (``../shared/top-api/shapes/README.md``, "The two JSON
shapes"; TOP's Java SDK reads every list as ``json[list][item]``); :func:`wrap_lists` does that,
taking each item element from the method's shape spec (``specs.shape_spec``: the SDK spec plus
``shape_overlay.json``). A list no spec names is a sandbox bug, not a guess: it raises
:class:`ShapeError`, which the server answers as an isp error and the contract test catches.
An empty list stays ``{"<item>": []}`` (handlers leave a list out where TOP leaves it out).
No ``METHODS`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.sandbox.specs import shape_spec


class ShapeError(Exception):
    """An answer holds a list whose item element no spec (nor the overlay) names."""


def wrap_lists(method: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The non-simplified form of a handler's answer: every list wrapped in its item element."""
    spec = shape_spec(method)
    if spec is None:
        return _struct(fields, {}, {}, method)
    return _struct(fields, spec["fields"], spec["types"], spec.get("response_key", method))


def _struct(obj: Mapping[str, Any], fields: Mapping[str, Any], types: Mapping[str, Any], path: str) -> dict[str, Any]:
    return {name: _value(value, fields.get(name), types, f"{path}.{name}") for name, value in obj.items()}


def _value(value: Any, kind: Any, types: Mapping[str, Any], path: str) -> Any:
    if isinstance(value, (list, tuple)):
        if not (isinstance(kind, dict) and "list" in kind):
            raise ShapeError(f"{path}: a list that no shape spec names; add its item element to shape_overlay.json")
        element = kind["list"]
        return {kind["item"]: [_value(item, element, types, f"{path}[{index}]") for index, item in enumerate(value)]}
    if isinstance(value, Mapping):
        struct = kind.get("struct") if isinstance(kind, dict) else None
        return _struct(value, types.get(struct, {}) if struct else {}, types, path)
    return value
