"""The Kind template (issue 18.3) on its own, with a toy kind and no network: the base reads the
common metadata once and sends each key to plan_create / plan_existing / plan_gone, forgetting an
object already gone on TOP itself. Also what every real kind declares for the template."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from reconciler.errors import ManifestError
from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller, Kind, LiveState, NormaliseContext, PlanContext, ProblemCollector
from reconciler.manifest import Document
from reconciler.model import Action, Change, DropLink, Link, Resource, ResourceKey
from reconciler.top import READ_METHODS

NOW = datetime(2027, 1, 1, tzinfo=timezone.utc)
KEY = ResourceKey("demo-shop", "Toy", "t")


class Toy(Kind):
    """Says which hook was asked, so the dispatch can be seen."""

    kind = "Toy"
    noun = "toy"

    def normalise_spec(self, doc: Document, ctx: NormaliseContext, problems: ProblemCollector) -> dict[str, Any]:
        if doc.spec.get("size", 0) < 0:
            problems.add(("spec", "size"), "must be 0 or more")
        if doc.spec.get("colour") == "none":
            problems.add(("spec", "colour"), "must be a colour")
        return {"size": doc.spec.get("size", 0)}

    def read_live(self, client: Caller, ctx: PlanContext) -> LiveState:
        return LiveState()

    def plan_create(self, desired: Resource, live: Any | None, ctx: PlanContext) -> Change | None:
        return Change(key=desired.key, action=Action.CREATE, calls=(), reason="plan_create")

    def plan_existing(self, desired: Resource, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        return Change(key=desired.key, action=Action.UPDATE, calls=(), reason=f"plan_existing live={live}")

    def plan_gone(self, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        return Change(key=link.key, action=Action.DELETE, calls=(), reason=f"plan_gone live={live}")


class Ledger(Toy):
    reads_back = False  # TOP cannot show these: a missing live object says nothing
    guarded = False


def doc(metadata: dict[str, Any] | None = None, **spec: Any) -> Document:
    return Document(file="toys.yaml", line=3, api_version="campaigns/v1", kind="Toy", name="t", shop="demo-shop",
                    metadata={"name": "t", "shop": "demo-shop", **(metadata or {})}, spec=spec, marks={})


def ctx() -> PlanContext:
    return PlanContext(shop="demo-shop", now=NOW, desired={}, links={})


def test_the_base_reads_the_common_metadata_once() -> None:
    resource = Toy().normalise(doc({"prevent_destroy": True, "allow_below_floor": "clearance"}, size=2),
                               NormaliseContext(now=NOW))
    assert resource.key == KEY and resource.spec == {"size": 2}
    assert str(resource.source) == "toys.yaml:3"
    assert resource.prevent_destroy and resource.allow_below_floor == "clearance"
    plain = Toy().normalise(doc(size=2), NormaliseContext(now=NOW))
    assert not plain.prevent_destroy and plain.allow_below_floor is None
    # a kind whose removal destroys nothing ignores prevent_destroy
    assert not Ledger().normalise(doc({"prevent_destroy": True}), NormaliseContext(now=NOW)).prevent_destroy


def test_every_problem_of_a_document_is_raised_together() -> None:
    with pytest.raises(ManifestError) as caught:
        Toy().normalise(doc(size=-1, colour="none"), NormaliseContext(now=NOW))
    assert [p.path for p in caught.value.problems] == ["spec.size", "spec.colour"]


def test_plan_change_sends_each_case_to_its_hook() -> None:
    toy, resource, link = Toy(), Resource(KEY, {"size": 1}), Link(KEY, "42", {})
    created = toy.plan_change(resource, None, None, ctx())
    assert created is not None and created.reason == "plan_create"
    existing = toy.plan_change(resource, link, {"size": 2}, ctx())
    assert existing is not None and existing.reason == "plan_existing live={'size': 2}"
    lost = toy.plan_change(resource, link, None, ctx())  # gone on TOP, still declared: the kind's call
    assert lost is not None and lost.reason == "plan_existing live=None"
    removed = toy.plan_change(None, link, {"size": 2}, ctx())
    assert removed is not None and removed.reason == "plan_gone live={'size': 2}"


def test_an_object_gone_on_top_whose_manifest_was_removed_is_forgotten_by_the_base() -> None:
    link = Link(KEY, "42", {})
    change = Toy().plan_change(None, link, None, ctx())
    assert change == Change(key=KEY, action=Action.DELETE, calls=(),
                            reason="toy 42 is already gone on TOP; only the state entry is removed",
                            effects=(DropLink(),))
    # a kind TOP cannot read back decides itself: None is no news there
    ledger = Ledger().plan_change(None, link, None, ctx())
    assert ledger is not None and ledger.reason == "plan_gone live=None"


def test_a_kind_that_leaves_out_a_hook_cannot_be_made() -> None:
    class Half(Kind):
        kind = "Half"

        def normalise_spec(self, doc: Document, ctx: NormaliseContext, problems: ProblemCollector) -> dict[str, Any]:
            return {}

        def read_live(self, client: Caller, ctx: PlanContext) -> LiveState:
            return LiveState()

    with pytest.raises(TypeError, match="plan_create"):
        Half()  # type: ignore[abstract]


def test_every_kind_declares_what_the_template_and_the_read_only_guard_need() -> None:
    for name, kind in KINDS.items():
        assert kind.kind == name and kind.schema and kind.noun
        # plan runs read-only: a read this kind makes must be a known read (reconciler/top/methods.py)
        assert set(kind.read_methods) <= READ_METHODS, (name, set(kind.read_methods) - READ_METHODS)
        assert not set(kind.write_methods) & READ_METHODS, name
