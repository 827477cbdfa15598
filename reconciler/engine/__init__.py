"""The engine: turns manifests + live state into a Plan, checks it, renders it, and applies it.

`reconcile.Reconciler` drives one run (load → read → plan → price → safety → apply) and returns
plain values; the other modules are pieces with one job each (docs/architecture.md). Kinds fill
in what is specific to each kind of promotion.

What a plugin or a test may use is re-exported here and listed in `__all__`, pinned by
tests/test_engine_public_faces.py; the rest of the engine's modules is private to it, even
without an underscore, and may change in any commit.
"""

from reconciler.engine.apply import ApplyListener, ApplyReport, apply_plan, settle_interrupted_writes
from reconciler.engine.codec import plan_from_data, plan_to_data, resource_from_data, resource_to_data
from reconciler.engine.drift import DriftReport, find_drift, record_applied
from reconciler.engine.guardrails import PriceCheck, check_prices
from reconciler.engine.plan import PlanOptions, desired_resources, kinds_in_dependency_order, make_plan, order_changes
from reconciler.engine.reconcile import Connector, Hooks, Reconciler, Review
from reconciler.engine.render import render_json, render_markdown, render_text
from reconciler.engine.safety import prevent_destroy_violations, threshold_violations
from reconciler.engine.saved import SavedPlan, plan_checksum, read_saved_plan, write_saved_plan

# Sorted as httpx sorts its own (str.casefold); the test pins the exact list.
__all__ = [
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
