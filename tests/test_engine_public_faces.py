"""The public faces of the engine and the kinds are pinned (issue 18.5), as httpx pins its exports
(httpx's tests/test_exported_members.py): `reconciler.engine` and `reconciler.kinds` list in
`__all__` what a plugin or a test may use. A name joins or leaves a face only in a reviewed change
of this file; everything the package namespace holds of ours is listed (nothing public slips in
unlisted), and every listed name is the object its home module defines."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

import reconciler.engine
import reconciler.kinds

ENGINE = [
    "apply_plan",
    "ApplyListener",
    "ApplyReport",
    "check_prices",
    "Connector",
    "desired_resources",
    "DriftReport",
    "find_drift",
    "Hooks",
    "kinds_in_dependency_order",
    "make_plan",
    "order_changes",
    "plan_checksum",
    "plan_from_data",
    "plan_to_data",
    "PlanOptions",
    "prevent_destroy_violations",
    "PriceCheck",
    "read_saved_plan",
    "Reconciler",
    "record_applied",
    "render_json",
    "render_markdown",
    "render_text",
    "resource_from_data",
    "resource_to_data",
    "Review",
    "SavedPlan",
    "settle_interrupted_writes",
    "threshold_violations",
    "write_saved_plan",
]

KINDS = [
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

FACES = [pytest.param(reconciler.engine, ENGINE, id="engine"), pytest.param(reconciler.kinds, KINDS, id="kinds")]


def _ours(value: object) -> bool:
    """Defined in this project: a class or function of reconciler.*, or a value (the registry)
    without a module of its own. Not a submodule, not an imported stdlib name or __future__ flag."""
    if isinstance(value, ModuleType):
        return False
    return str(getattr(value, "__module__", "reconciler")).startswith("reconciler")


@pytest.mark.parametrize(("package", "exported"), FACES)
def test_the_face_is_exactly_the_pinned_list(package: ModuleType, exported: list[str]) -> None:
    assert package.__all__ == exported


@pytest.mark.parametrize(("package", "exported"), FACES)
def test_everything_public_in_the_package_is_listed_in_order(package: ModuleType, exported: list[str]) -> None:
    public = [name for name, value in vars(package).items() if not name.startswith("_") and _ours(value)]
    assert package.__all__ == sorted(public, key=str.casefold)


@pytest.mark.parametrize(("package", "exported"), FACES)
def test_each_name_is_its_home_modules_object(package: ModuleType, exported: list[str]) -> None:
    for name in exported:
        value = getattr(package, name)
        home = getattr(value, "__module__", None)
        if home is None:
            continue  # a value (KINDS), defined in the package itself
        assert home.startswith(f"{package.__name__}"), f"{name} comes from {home}, outside {package.__name__}"
        assert getattr(importlib.import_module(home), name) is value


def test_a_star_import_gives_exactly_the_face() -> None:
    for package, exported in ((reconciler.engine, ENGINE), (reconciler.kinds, KINDS)):
        namespace: dict[str, object] = {}
        exec(f"from {package.__name__} import *", namespace)  # noqa: S102  (a fixed, local statement)
        assert sorted(name for name in namespace if name != "__builtins__") == sorted(exported)
