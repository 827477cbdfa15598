"""Resource kinds: one module (or package) per kind, each a `Kind` subclass. The registry finds
them by itself, so adding a kind is one new module here plus its schema (and its methods in the
sandbox)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from reconciler.kinds.base import (
    Caller,
    Kind,
    LiveState,
    NormaliseContext,
    Phase,
    PlanContext,
    ProblemCollector,
    ensure_success,
    forget_gone,
    new_id_ref,
)

# What a new kind (a plugin) or a test may use: the template and the registry, pinned by
# tests/test_engine_public_faces.py. Helpers kinds share (kinds/units.py, kinds/common.py) are
# imported from their modules. Sorted by str.casefold, as httpx sorts its exports.
__all__ = [
    "Caller",
    "ensure_success",
    "forget_gone",
    "Kind",
    "kind_for",
    "KINDS",
    "LiveState",
    "new_id_ref",
    "NormaliseContext",
    "Phase",
    "PlanContext",
    "ProblemCollector",
]


def _discover() -> dict[str, Kind]:
    registry: dict[str, Kind] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name in ("base", "units", "manifest_schema"):  # no kinds in them
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Kind) and value is not Kind and _defined_in(value, module):
                registry[value.kind] = value()
    return registry


def _defined_in(cls: type, module: ModuleType) -> bool:
    """A kind module's own classes, not the ones it imports; for a kind package (kinds/item_pool/),
    the classes of its own submodules that its __init__ exports."""
    return cls.__module__ == module.__name__ or (
        hasattr(module, "__path__") and cls.__module__.startswith(f"{module.__name__}.")
    )


KINDS: dict[str, Kind] = _discover()


def kind_for(name: str) -> Kind:
    return KINDS[name]
