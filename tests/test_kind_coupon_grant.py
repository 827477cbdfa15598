"""CouponGrant without a network: buyers inline and from files, batches of 100, the ledger read
from answers whose is_success lies, retries of failed buyers only, and the coupon as a Ref."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import ManifestError, PlanError
from reconciler.kinds.base import LiveState, NormaliseContext, PlanContext, new_id_ref
from reconciler.kinds.coupon_grant import SEND, SNS_SEND, CouponGrant, send_outcome
from reconciler.kinds.units import GMT8
from reconciler.manifest import load_manifests
from reconciler.model import Action, Call, Change, Link, Ref, Resource, ResourceKey, SetLink, SetRecordEntry

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=GMT8)
KIND = CouponGrant()
COUPON = ResourceKey("demo-shop", "ShopCoupon", "welcome-10")
SHOPS = "apiVersion: campaigns/v1\nkind: Shop\nmetadata: {name: demo-shop}\n"


def grant(buyers: str, audience: str = "members") -> str:
    return f"""\
apiVersion: campaigns/v1
kind: CouponGrant
metadata: {{name: vip, shop: demo-shop}}
spec:
  coupon: welcome-10
  audience: {audience}
  buyers:
{buyers}
"""


def load(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> Resource:
    (tmp_path / "shops.yaml").write_text(SHOPS, encoding="utf-8")
    (tmp_path / "grant.yaml").write_text(text, encoding="utf-8")
    for name, content in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content, encoding="utf-8")
    (doc,) = load_manifests([str(tmp_path)]).documents
    return KIND.normalise(doc, NormaliseContext(now=NOW))


def problems(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load(tmp_path, text, files)
    return [str(p) for p in caught.value.problems]


def resource(buyers: list[str], audience: str = "members") -> Resource:
    key = ResourceKey("demo-shop", "CouponGrant", "vip")
    return Resource(key, {"coupon": "welcome-10", "audience": audience, "buyers": buyers})


def ctx(desired: list[Resource], links: list[Link] = (), coupon: str | None = "50001",  # type: ignore[assignment]
        coupon_planned: Action | None = None) -> PlanContext:
    all_links = {link.key: link for link in links}
    if coupon is not None:
        all_links[COUPON] = Link(COUPON, coupon, {})
    context = PlanContext(shop="demo-shop", now=NOW, desired={r.key: r for r in desired}, links=all_links)
    if coupon_planned is not None:
        context.planned[COUPON] = Change(COUPON, coupon_planned, calls=())
    return context


def ledger(granted: list[str] = (), failed: dict[str, str] | None = None, coupon: str = "50001") -> Link:  # type: ignore[assignment]
    return Link(
        ResourceKey("demo-shop", "CouponGrant", "vip"),
        coupon,
        {"coupon": "welcome-10", "granted": {b: {"coupon_number": 1} for b in granted}, "failed": failed or {}},
    )


# --------------------------------------------------------------------------- buyers


def test_buyers_inline_and_from_a_file_relative_to_the_manifest(tmp_path: Path) -> None:
    text = grant("    nicks: [alice, bob]\n    open_uids: [AAHuid1]\n    nicks_file: lists/vip.txt")
    loaded = load(tmp_path, text, {"lists/vip.txt": "# VIPs\ncarol\n\n  dave  \n"})
    assert loaded.spec["buyers"] == ["nick:alice", "nick:bob", "nick:carol", "nick:dave", "open_uid:AAHuid1"]
    assert loaded.spec["audience"] == "members" and loaded.spec["coupon"] == "welcome-10"


def test_a_bad_line_in_a_buyers_file_is_reported_at_that_line(tmp_path: Path) -> None:
    found = problems(tmp_path, grant("    nicks: [alice]\n    nicks_file: vip.txt"), {"vip.txt": "carol\nbad,nick\nalice\n"})
    assert any(p.startswith(f"{tmp_path / 'vip.txt'}:2:1:") and "comma" in p for p in found), found
    assert any(f"{tmp_path / 'vip.txt'}:3:1:" in p and "listed twice" in p for p in found), found


def test_a_missing_buyers_file_names_the_field(tmp_path: Path) -> None:
    found = problems(tmp_path, grant("    nicks_file: nowhere.txt"))
    assert any("spec.buyers.nicks_file" in p and "cannot read buyers file nowhere.txt" in p for p in found), found


def test_an_empty_buyers_file_is_an_error(tmp_path: Path) -> None:
    found = problems(tmp_path, grant("    nicks_file: vip.txt"), {"vip.txt": "# nobody yet\n"})
    assert any("names no buyer" in p for p in found), found


def test_schema_refuses_commas_and_empty_buyers(tmp_path: Path) -> None:
    found = problems(tmp_path, grant('    nicks: ["a,b"]'))
    assert any("spec.buyers.nicks[0]" in p for p in found), found
    assert problems(tmp_path, grant("    {}"))


# --------------------------------------------------------------------------- answers and the ledger


def test_an_empty_answer_means_everyone_got_it() -> None:
    outcome = send_outcome({"buyer_nick": ["alice", "bob"], "buyer_ids": ["AAH1"]}, {"is_success": True})
    assert outcome.granted == {"nick:alice": None, "nick:bob": None, "open_uid:AAH1": None}
    assert outcome.failed == {}


def test_failure_buyers_decide_even_when_is_success_is_true() -> None:
    answer = {
        "is_success": True,
        "failure_buyers": {"error_message": [{"buyer_nick": "bob", "reason": "买家不存在"}]},
        "coupon_results": {"coupon_result": [{"buyer_nick": "alice", "coupon_number": 880000001}]},
    }
    outcome = send_outcome({"buyer_nick": ["alice", "bob"]}, answer)
    assert outcome.granted == {"nick:alice": 880000001}
    assert outcome.failed == {"nick:bob": "买家不存在"}


def test_simplified_answers_with_bare_lists_read_the_same() -> None:
    answer = {"failure_buyers": [{"open_uid": "AAH2", "reason": "不是粉丝"}], "coupon_results": [{"open_uid": "AAH1", "coupon_number": 7}]}
    outcome = send_outcome({"open_uids": ["AAH1", "AAH2"]}, answer)
    assert outcome.granted == {"open_uid:AAH1": 7} and outcome.failed == {"open_uid:AAH2": "不是粉丝"}


def test_effects_record_who_got_it_and_why_others_did_not() -> None:
    first = SetLink("50001", {"coupon": "welcome-10", "granted": {}, "failed": {}})
    call = Call(SEND, {"coupon_id": 50001, "buyer_nick": ["alice", "bob"]}, effects=(first,))
    answer = {"is_success": True, "failure_buyers": {"error_message": [{"buyer_nick": "bob", "reason": "买家不存在"}]},
              "coupon_results": {"coupon_result": [{"buyer_nick": "alice", "coupon_number": 9}]}}
    assert KIND.effects(call, answer) == (
        first,  # the fresh ledger comes first, so the entries land in it
        SetRecordEntry("granted", "nick:alice", {"coupon_number": 9}),
        SetRecordEntry("failed", "nick:alice", None),
        SetRecordEntry("failed", "nick:bob", "买家不存在"),
    )


# --------------------------------------------------------------------------- planning


def test_first_grant_sends_in_batches_of_one_hundred() -> None:
    buyers = [f"nick:b{i}" for i in range(230)] + ["open_uid:AAH1"]
    desired = resource(buyers)
    change = KIND.plan_change(desired, None, None, ctx([desired]))
    assert change is not None and change.action is Action.CREATE
    assert [len(c.params.get("buyer_nick", [])) + len(c.params.get("buyer_ids", [])) for c in change.calls] == [100, 100, 31]
    assert change.calls[-1].params["buyer_ids"] == ["AAH1"]
    assert all(c.method == SEND and c.params["coupon_id"] == 50001 for c in change.calls)
    assert change.calls[0].effects == (SetLink("50001", {"coupon": "welcome-10", "granted": {}, "failed": {}}),)
    assert all(c.effects == () for c in change.calls[1:])


def test_fans_are_sent_through_sns_send_with_open_uids() -> None:
    desired = resource(["nick:alice", "open_uid:AAH1"], audience="fans")
    change = KIND.plan_change(desired, None, None, ctx([desired]))
    assert change is not None
    (call,) = change.calls
    assert call.method == SNS_SEND and call.params["open_uids"] == ["AAH1"] and call.params["buyer_nick"] == ["alice"]


def test_only_buyers_without_the_coupon_are_sent_and_failures_are_shown() -> None:
    desired = resource(["nick:alice", "nick:bob", "nick:carol", "nick:dave"])
    link = ledger(granted=["nick:alice"], failed={"nick:bob": "买家不存在"})
    change = KIND.plan_change(desired, link, None, ctx([desired], [link]))
    assert change is not None and change.action is Action.UPDATE
    (call,) = change.calls
    assert call.params["buyer_nick"] == ["bob", "carol", "dave"]
    assert call.effects == ()  # the ledger stays: entries are added to it
    assert "4 buyer(s) listed: 1 already have it, 3 to send (2 new, 1 retried) in 1 call(s) of at most 100" in change.details
    assert "  bob: 买家不存在" in change.details


def test_a_converged_grant_plans_nothing() -> None:
    desired = resource(["nick:alice", "nick:bob"])
    link = ledger(granted=["nick:alice", "nick:bob", "nick:gone"])
    assert KIND.plan_change(desired, link, None, ctx([desired], [link])) is None


def test_a_coupon_created_in_the_same_plan_is_a_ref() -> None:
    desired = resource(["nick:alice"])
    change = KIND.plan_change(desired, None, None, ctx([desired], coupon=None, coupon_planned=Action.CREATE))
    assert change is not None
    assert change.calls[0].params["coupon_id"] == new_id_ref(COUPON)
    assert change.calls[0].effects[0] == SetLink(new_id_ref(COUPON), {"coupon": "welcome-10", "granted": {}, "failed": {}})


def test_a_replaced_coupon_is_sent_to_everyone_with_a_fresh_ledger() -> None:
    desired = resource(["nick:alice", "nick:bob"])
    link = ledger(granted=["nick:alice", "nick:bob"])
    change = KIND.plan_change(desired, link, None, ctx([desired], [link], coupon_planned=Action.REPLACE))
    assert change is not None
    (call,) = change.calls
    assert call.params["buyer_nick"] == ["alice", "bob"] and isinstance(call.params["coupon_id"], Ref)
    assert isinstance(call.effects[0], SetLink)
    assert "every listed buyer is sent it" in change.reason and "The 2 buyer(s) who got coupon 50001 keep it" in change.reason


def test_an_unknown_coupon_fails_the_plan() -> None:
    desired = resource(["nick:alice"])
    context = ctx([desired], coupon=None)
    assert KIND.plan_change(desired, None, None, context) is None
    errors = KIND.check_plan([], LiveState(), context)
    assert len(errors) == 1 and "ShopCoupon 'welcome-10'" in errors[0]


def test_a_removed_grant_forgets_its_ledger_without_a_call() -> None:
    link = ledger(granted=["nick:alice", "nick:bob"])
    change = KIND.plan_change(None, link, None, ctx([], [link]))
    assert change is not None and change.action is Action.DELETE and change.calls == ()
    assert "the 2 buyer(s) who got coupon 50001 keep it" in change.reason


def test_a_lost_send_answer_is_not_guessed() -> None:
    with pytest.raises(PlanError, match="no method that tells who holds a shop coupon"):
        KIND.recover(_NoCalls(), SEND, {"coupon_id": 50001, "buyer_nick": "alice,bob"})


class _NoCalls:
    def call(self, method: str, params: Any = None) -> dict[str, Any]:
        raise AssertionError("recover must not call TOP for sends: nothing there can tell")
