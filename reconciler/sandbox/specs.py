"""The evidence the sandbox answers from, read from the package (so an installed wheel has it too).

    evidence/shapes/<method>.json   response shapes from the Go SDK bububa/opentaobao, copied
                                    unchanged from ../shared/top-api/shapes (format: its README)
    evidence/methods/<method>.json  TOP's doc pages (requestParams, responseParams), copied
                                    unchanged from ../shared/top-api/methods
    shape_overlay.json              OUR corrections where the SDK shape is known wrong or absent,
                                    each with its sources (see that file's "about")

:func:`shape_spec` is a method's SDK spec with the overlay applied; :func:`request_params` its
documented request parameters. No ``METHODS`` here.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

_PACKAGE = "reconciler.sandbox"
OVERLAY_FILE = "shape_overlay.json"


def _read_json(*parts: str) -> Any:
    resource = resources.files(_PACKAGE).joinpath(*parts)
    if not resource.is_file():
        return None
    return json.loads(resource.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def overlay() -> dict[str, Any]:
    """The whole overlay file: ``{"about": ..., "methods": {method: {"types": ..., "fields": ...}}}``."""
    data: dict[str, Any] = _read_json(OVERLAY_FILE)
    return data


def apply_overlay(spec: dict[str, Any] | None, patch: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with the patch's response-level ``fields`` and ``types`` merged in, field
    by field (a patched field replaces the SDK's; a struct the SDK lacks is added). Without an SDK
    spec the patch must be a whole spec (``response_key``, ``fields``, ``types``)."""
    merged: dict[str, Any] = copy.deepcopy(spec) if spec is not None else {"fields": {}, "types": {}}
    if "response_key" in patch:
        merged["response_key"] = patch["response_key"]
    merged.setdefault("method", patch.get("method"))
    merged["fields"].update(copy.deepcopy(patch.get("fields", {})))
    for struct, fields in patch.get("types", {}).items():
        merged["types"].setdefault(struct, {}).update(copy.deepcopy(fields))
    return merged


@lru_cache(maxsize=None)
def sdk_shape_spec(method: str) -> dict[str, Any] | None:
    """The SDK spec exactly as copied from ../shared, or None when there is none."""
    spec: dict[str, Any] | None = _read_json("evidence", "shapes", f"{method}.json")
    return spec


@lru_cache(maxsize=None)
def shape_spec(method: str) -> dict[str, Any] | None:
    """The response shape the sandbox answers ``method`` in: SDK spec + overlay; None if neither."""
    spec = sdk_shape_spec(method)
    patch = overlay()["methods"].get(method)
    if patch is None:
        return copy.deepcopy(spec) if spec is not None else None
    return apply_overlay(spec, patch)


@lru_cache(maxsize=None)
def method_page(method: str) -> dict[str, Any] | None:
    """TOP's doc page of ``method`` (``requestParams``, ``responseParams``), or None."""
    page: dict[str, Any] | None = _read_json("evidence", "methods", f"{method}.json")
    return page


def request_params(method: str) -> list[dict[str, Any]] | None:
    """The documented request parameters of ``method``; None when the sandbox has no page for it."""
    page = method_page(method)
    if page is None:
        return None
    params: list[dict[str, Any]] = page.get("requestParams") or []
    return params
