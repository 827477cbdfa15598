"""The driver (engine/reconcile.py) on its own, without the CLI (issue 18.1): it loads, connects
(saying so before any TOP call), plans, prices, checks safety and returns a Review; an unsafe
review raises UnsafePlan and sends nothing; a saved plan is read and verified once and refused
as StalePlan when TOP moved; a plan that is not the reviewed one is a ChecksumMismatch. Our real
client (reconciler.connect.Clients) against the sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reconciler.connect import Clients
from reconciler.engine.reconcile import Hooks, Reconciler, Review
from reconciler.engine.saved import plan_checksum, write_saved_plan
from reconciler.errors import ChecksumMismatch, StalePlan, UnsafePlan
from reconciler.model import Action
from reconciler.project import Project
from reconciler.sandbox import DEMO_ALIMAMA_APP_KEY, DEMO_ALIMAMA_APP_SECRET, DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION
from reconciler.settings import ApplySettings, Clock, Scope, Settings
from reconciler.state import open_store
from tests.conftest import Sandbox
from tests.engine_tools import NOW, REPO, pin_clock, stock_items

ITEMS = [{"num_iid": int(i), "title": f"茶{i}", "price": "100.00"} for i in ("1001", "1002", "1003")]


def _discount(name: str = "tea", rate: str = "0.85", items: str = '["1001", "1002"]') -> str:
    return f"""\
apiVersion: campaigns/v1
kind: ItemDiscount
metadata: {{name: {name}, shop: demo-shop}}
spec:
  title: 茶叶{name}
  window: {{start: "2027-11-01T00:00:00+08:00", end: "2027-11-12T00:00:00+08:00"}}
  discount: {{rate: {rate}}}
  items: {items}
"""


class _Run:
    """One run's pieces, as the CLI puts them together: settings, callers, store, hooks."""

    def __init__(self, tmp_path: Path, sandbox: Sandbox) -> None:
        self.campaigns = tmp_path / "campaigns"
        self.campaigns.mkdir(exist_ok=True)
        (self.campaigns / "shops.yaml").write_text((REPO / "campaigns" / "shops.yaml").read_text(encoding="utf-8"),
                                                  encoding="utf-8")
        self.project = Project(tmp_path, "reconciler.toml", str(tmp_path / "state.db"), tmp_path / "token.json")
        self.env = {"TOP_GATEWAY": sandbox.gateway, "TOP_APP_KEY": DEMO_APP_KEY, "TOP_APP_SECRET": DEMO_APP_SECRET,
                    "TOP_SESSION": DEMO_SESSION, "ALIMAMA_APP_KEY": DEMO_ALIMAMA_APP_KEY,
                    "ALIMAMA_APP_SECRET": DEMO_ALIMAMA_APP_SECRET, "TOP_QPS": "1000"}
        self.sandbox = sandbox
        self.said: list[int] = []  # how many TOP calls were made when the driver said it connected
        self.recovered: list[str] = []

    def write(self, text: str, name: str = "discounts.yaml") -> None:
        (self.campaigns / name).write_text(text, encoding="utf-8")

    def settings(self, **groups: Any) -> Settings:
        return Settings.build(self.project, self.env, Clock(NOW), **groups)

    @contextmanager
    def driver(self, settings: Settings | None = None, *, read_only: bool = True) -> Iterator[Reconciler]:
        settings = settings or self.settings()
        with Clients(read_only=read_only, env=settings.env, settings=settings.client) as clients, \
                open_store(settings.env) as store:
            hooks = Hooks(connected=lambda: self.said.append(len(self.sandbox.calls())),
                          recovered=self.recovered.append)
            yield Reconciler(settings, clients, store, hooks)


@pytest.fixture
def run(tmp_path: Path, sandbox: Sandbox) -> _Run:
    pin_clock(sandbox)
    stock_items(sandbox, ITEMS)
    sandbox.clear_calls()
    return _Run(tmp_path, sandbox)


def test_review_is_the_plan_priced_and_checked_and_says_where_before_any_call(run: _Run) -> None:
    run.write(_discount())
    with run.driver() as driver:
        review = driver.review([str(run.campaigns)])
    assert run.said == [0]  # connected, and said so, before the first TOP call
    assert [(c.key.name, c.action) for c in review.plan.changes] == [("tea", Action.CREATE)]
    assert review.checksum == plan_checksum(review.plan)
    assert review.moment == NOW and review.scope == Scope() and set(review.shops) == {"demo-shop"}
    assert [impact.item.item_id for impact in review.prices.impacts] == ["1001", "1002"]
    assert review.prices.read_calls > 0 and review.plan.read_calls >= review.prices.read_calls  # reads counted once
    assert review.problems == () and review.unsafe("nothing will be applied") == []
    review.raise_if_unsafe()
    assert run.sandbox.writes() == []


def test_an_unsafe_review_raises_and_apply_sends_nothing(run: _Run) -> None:
    run.write(_discount(rate="0.1"))  # 1折: below the default floor of 30 % of the list price
    with run.driver(read_only=False) as driver:
        review = driver.review_for_apply([str(run.campaigns)])
        assert review.prices.blocked and review.blocked == review.prices.blocked
        with pytest.raises(UnsafePlan) as raised:
            review.raise_if_unsafe("nothing was sent")
        assert raised.value.sections[0].startswith("the plan would take items below their price floor; nothing was sent")
        with pytest.raises(UnsafePlan):
            driver.apply(review)
    assert run.sandbox.writes() == []


def test_apply_sends_the_review_records_it_and_then_a_saved_plan_is_stale(run: _Run, tmp_path: Path) -> None:
    run.write(_discount())
    plan_file = tmp_path / "plan.json"
    with run.driver() as driver:
        write_saved_plan(str(plan_file), driver.review([str(run.campaigns)]).to_saved())
    with run.driver(run.settings(apply=ApplySettings(revision="abc123")), read_only=False) as driver:
        review = driver.review_for_apply([str(run.campaigns)])
        report = driver.apply(review)
        assert report.ok and [c.key.name for c in report.done] == ["tea"]
        assert driver.store.last_revision("apply") == "abc123"
        assert driver.review_for_apply([str(run.campaigns)]).plan.empty  # converged
        with pytest.raises(StalePlan) as stale:
            driver.review_saved(str(plan_file))  # the state entry it was planned without appeared
    assert any("appeared since the plan was made" in line for line in stale.value.moved)


def test_a_saved_plan_is_reviewed_with_its_own_moment_and_scope(run: _Run, tmp_path: Path) -> None:
    run.write(_discount() + "---\n" + _discount("coffee", items='["1003"]'))
    plan_file = tmp_path / "plan.json"
    with run.driver(run.settings(scope=Scope.parse(["ItemDiscount/tea"]))) as driver:
        planned = driver.review([str(run.campaigns)])
        write_saved_plan(str(plan_file), planned.to_saved())
    with run.driver(read_only=False) as driver:  # no --target now: the plan file's scope rules
        review: Review = driver.review_saved(str(plan_file))
        assert review.saved and review.scope == Scope.parse(["ItemDiscount/tea"]) and review.moment == NOW
        assert review.checksum == planned.checksum
        assert driver.apply(review).ok
    assert {w["method"] for w in run.sandbox.writes()} and all(
        "coffee" not in str(w) for w in run.sandbox.writes())


def test_a_plan_that_is_not_the_reviewed_one_is_refused(run: _Run) -> None:
    run.write(_discount())
    with run.driver(run.settings(apply=ApplySettings(checksum="sha256:reviewed")), read_only=False) as driver:
        with pytest.raises(ChecksumMismatch) as mismatch:
            driver.review_for_apply([str(run.campaigns)])
    assert mismatch.value.expected == "sha256:reviewed" and mismatch.value.actual.startswith("sha256:")
    assert "The plan as it is now:" in str(mismatch.value)
    assert run.sandbox.writes() == []
