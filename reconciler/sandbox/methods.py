"""The method registry: TOP method name → handler.

A new method family (coupons, promotionmisc, tbk, listing…) is one module in ``families/``
exposing ``METHODS: tuple[MethodSpec, ...]``; it is found by itself, nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from reconciler.sandbox import families
from reconciler.sandbox.codec import format_gmt8
from reconciler.sandbox.context import CallContext, MethodSpec


def time_get(ctx: CallContext) -> dict[str, Any]:
    """``taobao.time.get``: the sandbox clock in GMT+8, so clients can measure their skew."""
    return {"time": format_gmt8(ctx.now_ms)}


SYSTEM_METHODS: tuple[MethodSpec, ...] = (MethodSpec("taobao.time.get", time_get, needs_session=False),)


def _all_specs() -> Iterable[MethodSpec]:
    yield from SYSTEM_METHODS
    for module_info in sorted(pkgutil.iter_modules(families.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{families.__name__}.{module_info.name}")
        yield from getattr(module, "METHODS", ())


def _build_registry(specs: Iterable[MethodSpec]) -> Mapping[str, MethodSpec]:
    registry: dict[str, MethodSpec] = {}
    for spec in specs:
        if spec.name in registry:  # two modules claiming one method is a wiring bug
            raise RuntimeError(f"sandbox method {spec.name} is registered twice")
        registry[spec.name] = spec
    return MappingProxyType(registry)


REGISTRY: Mapping[str, MethodSpec] = _build_registry(_all_specs())
