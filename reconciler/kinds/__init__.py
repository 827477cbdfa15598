"""Resource kinds: one module per kind, each a `Kind` subclass. The registry finds them by itself,
so adding a kind is one new module here plus its schema (and its methods in the sandbox)."""

from __future__ import annotations

import importlib
import pkgutil

from reconciler.kinds.base import Kind


def _discover() -> dict[str, Kind]:
    registry: dict[str, Kind] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name in ("base", "units", "manifest_schema"):  # no kinds in them
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Kind) and value is not Kind and value.__module__ == module.__name__:
                registry[value.kind] = value()
    return registry


KINDS: dict[str, Kind] = _discover()


def kind_for(name: str) -> Kind:
    return KINDS[name]
