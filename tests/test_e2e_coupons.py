"""End to end: shop coupons and coupon grants → plan → apply against the sandbox over real HTTP,
counting TOP calls through /_sandbox/calls as the walking skeleton does."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from reconciler.errors import TopPermanentError
from reconciler.kinds.units import GMT8
from reconciler.top import Credentials, TopClient
from tests.conftest import REPO, Sandbox, Workspace

ADD = "taobao.promotion.coupon.add"
LIST = "taobao.promotion.coupons.get"
SEND = "taobao.promotion.coupon.send"
SNS_SEND = "taobao.promotion.coupon.sns.send"


def end_in(days: int) -> str:
    """An end time `days` ahead, as a YAML author writes it (ISO 8601 with offset)."""
    return (datetime.now(GMT8) + timedelta(days=days)).strftime("%Y-%m-%dT23:59:59+08:00")


def coupon(name: str, denomination: str = "10.00", threshold: str = "99.00", days: int = 30) -> str:
    return f"""\
apiVersion: campaigns/v1
kind: ShopCoupon
metadata: {{name: {name}, shop: demo-shop}}
spec:
  denomination: "{denomination}"
  order_at_least: "{threshold}"
  window: {{end: "{end_in(days)}"}}
"""


def grant(name: str, coupon_name: str, nicks: list[str], *, audience: str = "members", extra: str = "") -> str:
    return f"""\
apiVersion: campaigns/v1
kind: CouponGrant
metadata: {{name: {name}, shop: demo-shop}}
spec:
  coupon: {coupon_name}
  audience: {audience}
  buyers:
    nicks: {json.dumps(nicks)}
{extra}"""


def methods(calls: list[dict[str, Any]]) -> Counter[str]:
    return Counter(call["method"] for call in calls)


def sent_nicks(calls: list[dict[str, Any]]) -> list[str]:
    return [nick for call in calls if call["method"] in (SEND, SNS_SEND) for nick in call["params"]["buyer_nick"].split(",")]


def grants_on_top(sandbox: Sandbox) -> Counter[str]:
    """How many coupons each buyer holds, over all coupons of the demo shop."""
    coupons = sandbox.state()["shops"]["demo-shop"]["coupons"]["coupons"]
    return Counter(g.get("buyer_nick") or g.get("open_uid") for c in coupons.values() for g in c["grants"])


def top(workspace: Workspace) -> TopClient:
    env = workspace.env
    return TopClient(Credentials(env["TOP_APP_KEY"], env["TOP_APP_SECRET"], env["TOP_SESSION"], env["TOP_GATEWAY"]))


def apply(workspace: Workspace, *args: str) -> str:
    result = workspace.run("apply", str(workspace.campaigns), "--auto-approve", *args)
    assert result.exit_code == 0, result.output
    return result.output


def converged(workspace: Workspace, sandbox: Sandbox) -> None:
    sandbox.clear_calls()
    second = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert second.exit_code == 0, second.output
    assert "No changes" in second.output
    assert sandbox.writes() == []


def test_two_coupons_and_a_grant_from_empty_then_no_changes(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("coupons.yaml", "---\n".join([
        coupon("welcome-5", "5.00", "49.00"), coupon("vip-20", "20.00", "199.00"),
        grant("vip", "vip-20", ["alice", "bob", "carol"]),
    ]))
    first = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert first.exit_code == 2, first.output
    assert "3 to create" in first.output
    assert sandbox.writes() == []  # plan never writes

    apply(workspace)
    writes = sandbox.writes()
    assert methods(writes) == {ADD: 2, SEND: 1}
    assert [call["method"] for call in writes] == [ADD, ADD, SEND]  # the coupons before their grant
    coupon_id = json.loads(workspace.run("state", "show", "demo-shop/ShopCoupon/vip-20").output)["remote_id"]
    assert writes[2]["params"]["coupon_id"] == coupon_id  # the id the create answered, bound plan-wide
    converged(workspace, sandbox)


def test_wire_units_are_whole_yuan_and_gmt8_wall_time(workspace: Workspace, sandbox: Sandbox) -> None:
    start_day = (datetime.now(GMT8) + timedelta(days=2)).date()
    start_utc = f"{start_day - timedelta(days=1)}T16:00:00Z"  # 16:00 UTC is midnight of start_day in GMT+8
    workspace.write("coupons.yaml", coupon("welcome-10").replace(
        f'window: {{end: "{end_in(30)}"}}', f'window: {{start: "{start_utc}", end: "{end_in(30)}"}}'))
    apply(workspace)
    (add,) = [call for call in sandbox.writes() if call["method"] == ADD]
    assert add["params"]["denominations"] == "10"  # yuan, a Long: not "10.00", not 1000 fen
    assert add["params"]["condition"] == "99"
    assert add["params"]["start_time"] == f"{start_day} 00:00:00"
    assert add["params"]["end_time"] == end_in(30)[:10] + " 23:59:59"
    # ...while coupons.get answers the same coupon in fen, and the plan still sees no difference.
    with top(workspace) as client:
        (row,) = client.call(LIST, {})["coupons"]  # simplify=true: a bare array
    assert (row["denominations"], row["condition"]) == (1000, 9900)
    converged(workspace, sandbox)


def test_new_buyers_cost_one_send_and_nobody_gets_the_coupon_twice(workspace: Workspace, sandbox: Sandbox) -> None:
    first_buyers = [f"buyer-{i:03}" for i in range(150)]
    workspace.write("coupons.yaml", coupon("welcome-10") + "---\n" + grant("everyone", "welcome-10", first_buyers))
    apply(workspace)
    assert methods(sandbox.writes()) == {ADD: 1, SEND: 2}  # 150 buyers: 100 + 50

    workspace.write("coupons.yaml", coupon("welcome-10") + "---\n" + grant("everyone", "welcome-10", first_buyers + ["new-1", "new-2"]))
    sandbox.clear_calls()
    apply(workspace)
    assert methods(sandbox.writes()) == {SEND: 1}
    assert sent_nicks(sandbox.writes()) == ["new-1", "new-2"]
    assert set(grants_on_top(sandbox).values()) == {1}
    converged(workspace, sandbox)


def test_failed_buyers_are_shown_with_their_reason_and_only_they_are_retried(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("coupons.yaml", coupon("welcome-10") + "---\n" + grant("vip", "welcome-10", ["alice", "fail-bob", "carol"]))
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output  # TOP said is_success: the call itself worked

    sandbox.clear_calls()
    planned = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert planned.exit_code == 2
    assert "3 buyer(s) listed: 2 already have it, 1 to send (0 new, 1 retried)" in planned.output
    assert "fail-bob: 买家不存在" in planned.output
    apply(workspace)
    assert sent_nicks(sandbox.writes()) == ["fail-bob"]  # alice and carol are not sent again
    assert grants_on_top(sandbox) == {"alice": 1, "carol": 1}

    # The buyer keeps failing; taking them off the list converges.
    workspace.write("coupons.yaml", coupon("welcome-10") + "---\n" + grant("vip", "welcome-10", ["alice", "carol"]))
    converged(workspace, sandbox)


def test_changed_coupon_is_a_new_coupon_and_the_plan_says_the_old_one_stays(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("coupons.yaml", coupon("welcome-10") + "---\n" + grant("vip", "welcome-10", ["alice", "bob"]))
    apply(workspace)
    old_id = json.loads(workspace.run("state", "show", "demo-shop/ShopCoupon/welcome-10").output)["remote_id"]
    workspace.write("coupons.yaml", coupon("welcome-10", "20.00") + "---\n" + grant("vip", "welcome-10", ["alice", "bob"]))
    sandbox.clear_calls()

    planned = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
    (change, grant_change) = planned["changes"]
    assert (change["name"], change["action"]) == ("welcome-10", "replace")
    assert "cannot update or delete a shop coupon" in change["reason"]
    assert f"the old coupon {old_id} stays valid until {end_in(30)[:10]} 23:59:59" in change["reason"]
    assert [call["method"] for call in change["calls"]] == [ADD]
    assert "every listed buyer is sent it" in grant_change["reason"]

    apply(workspace)
    assert methods(sandbox.writes()) == {ADD: 1, SEND: 1}
    with top(workspace) as client:
        assert len(client.call(LIST, {})["coupons"]) == 2  # the old one is still there (a bare array: simplify=true)
    sandbox.clear_calls()
    again = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert f"coupon {old_id}: 10.00 yuan off orders from 99.00 yuan" in again.output  # listed, left alone
    assert "replaced by demo-shop/ShopCoupon/welcome-10, still valid" in again.output
    assert sandbox.writes() == []


def test_removed_coupon_makes_no_call_and_prune_only_forgets_it(workspace: Workspace, sandbox: Sandbox) -> None:
    # 5.00 off any order takes the shop's items under 5.00 to 0.00, below the default floor (30 %)
    spare = coupon("spare", "5.00", "0.00").replace(
        "shop: demo-shop}", 'shop: demo-shop, allow_below_floor: "a test coupon, never seen by buyers"}')
    workspace.write("coupons.yaml", coupon("welcome-10") + "---\n" + spare)
    apply(workspace)
    workspace.write("coupons.yaml", coupon("welcome-10"))
    sandbox.clear_calls()

    kept = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert kept.exit_code == 0 and "prune is off" in kept.output
    pruned_plan = workspace.run("plan", str(workspace.campaigns), "--prune")
    assert "TOP cannot delete a shop coupon" in pruned_plan.output
    assert f"stays valid until {end_in(30)[:10]} 23:59:59" in pruned_plan.output

    apply(workspace, "--prune")
    assert sandbox.writes() == []  # there is no call to make
    assert workspace.run("state", "show", "demo-shop/ShopCoupon/spare").exit_code == 1
    after = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert after.exit_code == 0 and "5.00 yuan off any order" in after.output  # now unmanaged


def test_more_than_fifty_valid_coupons_fails_before_any_call(workspace: Workspace, sandbox: Sandbox) -> None:
    with top(workspace) as client:  # 49 coupons made in the seller console, unmanaged
        for index in range(49):
            client.call(ADD, {"denominations": 3, "condition": 0, "end_time": end_in(20 + index % 5)[:10] + " 23:59:59"})
    workspace.write("coupons.yaml", coupon("welcome-10") + "---\n" + coupon("vip-20", "20.00", "199.00"))
    sandbox.clear_calls()

    refused = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert refused.exit_code == 1
    assert "at most 50 valid shop coupons; 49 are valid now" in refused.output
    assert sandbox.writes() == []


def test_fans_get_the_coupon_through_sns_send(workspace: Workspace, sandbox: Sandbox) -> None:
    uids = 'open_uids: ["AAHfan1", "AAHfan2"]\n'
    workspace.write("coupons.yaml", coupon("welcome-10") + "---\n" + grant("fans", "welcome-10", ["alice"], audience="fans", extra="    " + uids))
    apply(workspace)
    (send,) = [call for call in sandbox.writes() if call["method"] != ADD]
    assert send["method"] == SNS_SEND
    assert send["params"]["open_uids"] == "AAHfan1,AAHfan2" and send["params"]["buyer_nick"] == "alice"
    converged(workspace, sandbox)


def test_buyers_file_errors_name_the_file_and_line(workspace: Workspace, sandbox: Sandbox) -> None:
    (workspace.campaigns / "vip.txt").write_text("alice\nbob,carol\n", encoding="utf-8")
    workspace.write("coupons.yaml", coupon("welcome-10") + "---\n" + grant("vip", "welcome-10", ["dave"], extra="    nicks_file: vip.txt\n"))
    result = workspace.run("validate", str(workspace.campaigns))
    assert result.exit_code == 1
    assert f"{workspace.campaigns / 'vip.txt'}:2:1: spec.buyers.nicks_file:" in result.output
    assert sandbox.calls() == []


def test_grant_of_an_undeclared_coupon_fails_the_plan(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("coupons.yaml", grant("vip", "no-such-coupon", ["alice"]))
    result = workspace.run("plan", str(workspace.campaigns))
    assert result.exit_code == 1
    assert "ShopCoupon 'no-such-coupon', which is neither declared" in result.output
    assert sandbox.writes() == []


def test_a_new_coupon_ending_later_today_is_skipped_with_a_note_not_a_failed_plan(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    """TOP makes a coupon only if it ends at 23:59:59 today or later (coupon.add's end_time; the
    sandbox's rule), so a declared coupon that ends at 22:00 today can never be created: by
    tomorrow it has ended. The plan says so and goes on; it used to fail the whole shop's plan.
    A grant of that coupon has nothing to send either. One ending 23:59:59 today is still made."""
    now = datetime.now(GMT8)  # the suite's pinned moment, a morning (tests/pinned_clock.py)
    assert now.hour < 21, now
    later_today = now.replace(hour=22, minute=0, second=0, microsecond=0)
    with top(workspace) as client, pytest.raises(TopPermanentError, match="23:59:59"):
        client.call(ADD, {"denominations": 10, "condition": 99, "end_time": later_today.strftime("%Y-%m-%d %H:%M:%S")})
    last_second = later_today.replace(hour=23, minute=59, second=59)
    workspace.write("coupons.yaml", "---\n".join([
        coupon("tonight-10").replace(end_in(30), later_today.isoformat()),
        coupon("today-5", "5.00", "49.00").replace(end_in(30), last_second.isoformat()),
        grant("tonight", "tonight-10", ["alice"]),
    ]))
    sandbox.clear_calls()
    planned = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "1 to create" in planned.output
    assert "demo-shop/ShopCoupon/tonight-10: ends" in planned.output and "cannot be created" in planned.output
    assert "demo-shop/CouponGrant/tonight: ended before it was created: nothing to do" in planned.output
    apply(workspace)
    (add,) = sandbox.writes()
    assert (add["method"], add["params"]["end_time"]) == (ADD, last_second.strftime("%Y-%m-%d %H:%M:%S"))
    converged(workspace, sandbox)


def test_a_grant_of_a_coupon_that_ended_before_it_was_created_is_skipped(workspace: Workspace, sandbox: Sandbox) -> None:
    """The demo's spring coupons once their end has passed: neither the coupon nor its grant is
    planned, and the grant is no 'undeclared coupon' error (the README demo failed so in May 2027)."""
    yesterday = (datetime.now(GMT8) - timedelta(days=1)).replace(hour=23, minute=59, second=59, microsecond=0)
    workspace.write("coupons.yaml", coupon("spring-20", "20.00", "199.00").replace(end_in(30), yesterday.isoformat())
                    + "---\n" + grant("vip", "spring-20", ["alice"]))
    planned = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert planned.exit_code == 0, planned.output
    assert "demo-shop/ShopCoupon/spring-20: ended before it was created: nothing to do" in planned.output
    assert "demo-shop/CouponGrant/vip: ended before it was created: nothing to do" in planned.output
    assert sandbox.writes() == []


def drop_answers(sandbox: Sandbox, method: str) -> None:
    """The next `method` call runs on the sandbox, then its connection closes before the answer."""
    faults = {"drop_answer": {"methods": [method], "count": 1, "mode": "close"}}
    httpx.post(f"{sandbox.server.url}/_sandbox/faults", json=faults).raise_for_status()


def test_a_lost_coupon_add_answer_is_found_on_top_not_sent_twice(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("coupons.yaml", coupon("welcome-10") + "---\n" + grant("vip", "welcome-10", ["alice"]))
    drop_answers(sandbox, ADD)

    apply(workspace)
    assert methods(sandbox.writes()) == {ADD: 1, SEND: 1}  # found by content, not added twice
    sequence = [call["method"] for call in sandbox.calls()]
    assert sequence[sequence.index(ADD) + 1] == LIST  # after the lost answer, a look on TOP
    coupon_id = json.loads(workspace.run("state", "show", "demo-shop/ShopCoupon/welcome-10").output)["remote_id"]
    send = next(call for call in sandbox.writes() if call["method"] == SEND)
    assert send["params"]["coupon_id"] == coupon_id  # the grant got the recovered id
    converged(workspace, sandbox)


def test_a_lost_send_answer_stops_the_apply_instead_of_sending_twice(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("coupons.yaml", coupon("welcome-10") + "---\n" + grant("vip", "welcome-10", ["alice"]))
    drop_answers(sandbox, SEND)

    stopped = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert stopped.exit_code == 1
    assert "no method that tells who holds a shop coupon" in stopped.output
    assert methods(sandbox.writes()) == {ADD: 1, SEND: 1}  # not re-sent on a guess
    assert grants_on_top(sandbox) == {"alice": 1}


def test_a_lost_send_is_never_sent_again_until_a_person_resolves_it(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("coupons.yaml", coupon("welcome-10") + "---\n" + grant("vip", "welcome-10", ["alice"]))
    drop_answers(sandbox, SEND)
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 1
    blocked = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert blocked.exit_code == 1
    assert "reconciler journal resolve" in blocked.output
    assert grants_on_top(sandbox) == {"alice": 1}

    open_writes = workspace.run("journal", "list", "--open").output.strip().splitlines()
    assert len(open_writes) == 1 and SEND in open_writes[0]
    entry_id = open_writes[0].split()[0]
    resolved = workspace.run("journal", "resolve", entry_id, "--applied")
    assert resolved.exit_code == 0, resolved.output
    sandbox.clear_calls()
    converged = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert converged.exit_code == 0, converged.output
    assert sandbox.writes() == []
    assert grants_on_top(sandbox) == {"alice": 1}


@pytest.mark.pinned_moment  # fixed dates: see tests/pinned_clock.py
def test_demo_campaigns_converge(workspace: Workspace, sandbox: Sandbox) -> None:
    demo = (REPO / "campaigns" / "coupons.yaml").read_text(encoding="utf-8")
    (workspace.campaigns / "buyers").mkdir()
    (workspace.campaigns / "buyers" / "vip-nicks.txt").write_text(
        (REPO / "campaigns" / "buyers" / "vip-nicks.txt").read_text(encoding="utf-8"), encoding="utf-8")
    workspace.write("coupons.yaml", demo)
    apply(workspace)
    assert methods(sandbox.writes()) == {ADD: 2, SEND: 1}
    converged(workspace, sandbox)

