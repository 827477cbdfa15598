"""End to end: Taoke cash gifts → plan → apply against the sandbox over real HTTP, counting TOP calls."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx

from reconciler.sandbox import DEMO_ALIMAMA_APP_KEY, DEMO_APP_KEY
from tests.conftest import Sandbox, Workspace
from tests.fault_tools import FAST_ENV, set_faults

CREATE = "taobao.tbk.dg.vegas.tlj.create"
STOP = "taobao.tbk.dg.vegas.tlj.stop"
REPORT = "taobao.tbk.dg.vegas.tlj.report"


def gift(name: str = "snack", per_face: str = "5.00", total: int = 1000, end: str = "2027-06-21T00:00:00+08:00",
         use: str = "{days: 3}") -> str:
    return f"""\
apiVersion: campaigns/v1
kind: TaokeCashGift
metadata:
  name: {name}
  shop: demo-shop
spec:
  title: 零食礼金
  item_id: "220000000007"
  adzone_id: 110550123456
  per_face: "{per_face}"
  total: {total}
  per_user: 1
  send_window: {{start: "2027-06-18T00:00:00+08:00", end: "{end}"}}
  use: {use}
"""


def methods(calls: list[dict[str, Any]]) -> Counter[str]:
    return Counter(call["method"] for call in calls)


def gifts_on_top(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """The promoter's gifts: kept per Taoke app key, since tlj.* act for the app, not a seller."""
    gifts: dict[str, dict[str, Any]] = sandbox.state()["apps"][DEMO_ALIMAMA_APP_KEY]["tbk"]["gifts"]
    return gifts


def rights_id(workspace: Workspace, name: str = "snack") -> str:
    remote_id: str = json.loads(workspace.run("state", "show", f"demo-shop/TaokeCashGift/{name}").output)["remote_id"]
    return remote_id


def test_apply_from_empty_then_plan_shows_no_changes(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("gifts.yaml", gift("snack") + "---\n" + gift("drinks", per_face="2.50", use='{from: "2027-06-18", until: "2027-06-30"}'))
    first = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert first.exit_code == 2, first.output
    assert "1000 × 5.00 yuan = 5000.00 yuan of budget" in first.output
    assert sandbox.writes() == []

    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert methods(sandbox.writes()) == {CREATE: 2}

    sandbox.clear_calls()
    second = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert second.exit_code == 0, second.output
    assert "No changes" in second.output and sandbox.writes() == []
    assert methods(sandbox.calls())[REPORT] == 2  # one figures read per gift, nothing else for gifts
    assert "note: demo-shop/TaokeCashGift/snack: figures (tlj.report): claimed 0 of 1000" in second.output


def test_wire_units_yuan_strings_gmt8_times_and_days(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("gifts.yaml", gift(per_face="12.5", end="2027-06-20T16:00:00Z"))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    (create,) = [call for call in sandbox.writes() if call["method"] == CREATE]
    params = create["params"]
    assert params["per_face"] == "12.50"  # yuan as TOP takes it here, not 1250 fen
    assert params["send_start_time"] == "2027-06-18 00:00:00"
    assert params["send_end_time"] == "2027-06-21 00:00:00"  # 16:00Z is midnight in GMT+8
    assert (params["use_end_time_mode"], params["use_end_time"]) == ("1", "3")
    assert "use_start_time" not in params
    assert (params["security_switch"], params["security_level"]) == ("true", "0")
    (on_top,) = gifts_on_top(sandbox).values()
    assert on_top["per_face"] == "12.50" and on_top["use_days"] == 3


def test_changed_gift_is_stopped_then_created_again(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("gifts.yaml", gift())
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    old = rights_id(workspace)
    workspace.write("gifts.yaml", gift(per_face="6.00"))
    sandbox.clear_calls()

    planned = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
    (change,) = planned["changes"]
    assert change["action"] == "replace" and [c["method"] for c in change["calls"]] == [STOP, CREATE]
    assert "per_face: 5.00 yuan → 6.00 yuan" in change["details"]
    assert "gifts already claimed stay usable" in change["reason"]

    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    assert [call["method"] for call in sandbox.writes()] == [STOP, CREATE]
    new = rights_id(workspace)
    assert new != old and gifts_on_top(sandbox)[old]["stopped"] is not None
    assert gifts_on_top(sandbox)[new]["stopped"] is None
    sandbox.clear_calls()
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 0


def test_figures_are_shown_with_the_plan(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("gifts.yaml", gift())
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    usage = {"rights_id": rights_id(workspace), "claimed": 120, "used": 45, "refunded": 2,
             "paid_orders": 40, "paid_amount": "3456.70"}
    httpx.post(f"{sandbox.server.url}/_sandbox/tlj/usage", json=usage).raise_for_status()

    planned = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert planned.exit_code == 0  # figures are news, not changes
    assert ("claimed 120 of 1000 (12.00 %, 600.00 yuan), used 45 (225.00 yuan), refunded 2, left unclaimed 0; "
            "40 paid order(s), 3456.70 yuan") in planned.output
    as_json = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
    assert any("claimed 120" in note for note in as_json["notes"])


def test_figures_moving_do_not_make_a_saved_plan_stale(workspace: Workspace, sandbox: Sandbox, tmp_path: Any) -> None:
    workspace.write("gifts.yaml", gift())
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("gifts.yaml", gift(per_face="6.00"))
    plan_file = tmp_path / "plan.json"
    assert workspace.run("plan", str(workspace.campaigns), "--out", str(plan_file)).exit_code == 0
    usage = {"rights_id": rights_id(workspace), "claimed": 3}
    httpx.post(f"{sandbox.server.url}/_sandbox/tlj/usage", json=usage).raise_for_status()  # buyers claim meanwhile
    applied = workspace.run("apply", str(plan_file), "--auto-approve")
    assert applied.exit_code == 0, applied.output


def test_removed_gift_is_stopped_once_with_prune(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("gifts.yaml", gift())
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    old = rights_id(workspace)
    workspace.write("gifts.yaml", "")
    sandbox.clear_calls()

    kept = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert "prune is off" in kept.output and sandbox.writes() == []
    pruned = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert methods(sandbox.writes()) == {STOP: 1}
    assert gifts_on_top(sandbox)[old]["stopped"] is not None
    sandbox.clear_calls()
    again = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--prune")
    assert again.exit_code == 0 and sandbox.writes() == []


def test_ending_a_gift_early_stops_it_and_never_twice(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("gifts.yaml", gift())
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    # The seller ends the campaign now: the end moves into the past.
    workspace.write("gifts.yaml", gift(end="2026-01-01T00:00:00+08:00").replace("2027-06-18T00:00:00", "2025-12-01T00:00:00"))
    sandbox.clear_calls()
    ended = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert ended.exit_code == 0, ended.output
    assert methods(sandbox.writes()) == {STOP: 1} and "is not created again" in ended.output
    sandbox.clear_calls()
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 0
    # A new window later: a stopped gift cannot restart, so a new one is created — without a stop.
    workspace.write("gifts.yaml", gift(end="2027-07-01T00:00:00+08:00"))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    assert methods(sandbox.writes()) == {CREATE: 1}


def test_a_new_gift_whose_window_is_over_is_skipped_with_a_note(workspace: Workspace, sandbox: Sandbox) -> None:
    # Time moved past a gift that was never created: nothing to do, and never a failed plan.
    workspace.write("gifts.yaml", gift(end="2026-01-01T00:00:00+08:00").replace("2027-06-18T00:00:00", "2025-12-01T00:00:00"))
    result = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "ended before it was created: nothing to do" in result.output
    assert sandbox.writes() == []


def test_tops_refusal_is_reported_with_its_sub_code(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("gifts.yaml", gift(per_face="200.00", total=1000))  # 200,000 yuan: more than the account holds
    result = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert result.exit_code == 1
    assert "isv.insufficient-funds" in result.output
    assert "TaokeCashGift" not in workspace.run("state", "list").output


# ---- answers lost on the way back ------------------------------------------------------------------


def test_a_create_whose_answer_is_lost_is_never_sent_twice_and_can_be_adopted(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    workspace.env.update(FAST_ENV)
    workspace.write("gifts.yaml", gift())
    set_faults(sandbox, drop_answer={"methods": [CREATE], "count": 1, "mode": "close"})
    stopped = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert stopped.exit_code == 1
    assert "reconciler import TaokeCashGift NAME RIGHTS_ID" in stopped.output
    (on_top,) = gifts_on_top(sandbox)  # TOP made it; the reconciler did not guess and did not re-send
    assert [call["method"] for call in sandbox.writes()] == [CREATE]

    imported = workspace.run("import", "TaokeCashGift", "snack", on_top, str(workspace.campaigns))
    assert imported.exit_code == 0, imported.output
    sandbox.clear_calls()
    settled = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert settled.exit_code == 0, settled.output
    assert sandbox.writes() == []


def test_a_stop_whose_answer_is_lost_is_found_done_and_not_sent_twice(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.env.update(FAST_ENV)
    workspace.write("gifts.yaml", gift())
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    old = rights_id(workspace)
    workspace.write("gifts.yaml", "")
    set_faults(sandbox, drop_answer={"methods": [STOP], "count": 1, "mode": "close"})
    sandbox.clear_calls()
    workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--prune")
    set_faults(sandbox)
    again = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--prune")
    assert again.exit_code == 0, again.output
    assert [call["method"] for call in sandbox.writes()] == [STOP]  # sent once, found done by tlj.report
    assert gifts_on_top(sandbox)[old]["stopped"] is not None
    assert "TaokeCashGift" not in workspace.run("state", "list").output


# ---- the Taoke (Alimama) app, without a seller session -------------------------------------------


def test_every_tlj_call_goes_with_the_taoke_app_and_no_session(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("gifts.yaml", gift())
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("gifts.yaml", gift(per_face="6.00"))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0  # stop + create
    workspace.write("gifts.yaml", "")
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--prune").exit_code == 0  # stop
    tlj = [call for call in sandbox.calls() if call["method"] in (CREATE, STOP, REPORT)]
    assert methods(tlj) == {CREATE: 2, STOP: 2, REPORT: 2}  # a report per linked gift per run
    # The call log records the calling app and whether any session came along (never its value).
    assert {(call["app"], call["session_sent"], call["session"]) for call in tlj} == {(DEMO_ALIMAMA_APP_KEY, False, None)}
    assert all(call["ok"] for call in tlj)
    others = [call for call in sandbox.calls() if call not in tlj]
    assert all(call["app"] == DEMO_APP_KEY and call["session"] == "demo-shop" for call in others)


def test_missing_taoke_variables_are_named_and_nothing_is_sent(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("gifts.yaml", gift())
    del workspace.env["ALIMAMA_APP_SECRET"]
    result = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert result.exit_code == 1
    assert "set the environment variable(s) ALIMAMA_APP_SECRET" in result.output
    assert "Alimama (Taoke) app named at " in result.output and "shops.yaml:" in result.output
    assert [call for call in sandbox.calls() if call["method"] in (CREATE, STOP, REPORT)] == []


def test_a_shop_profile_without_taoke_is_a_manifest_error_at_the_gift(workspace: Workspace, sandbox: Sandbox) -> None:
    shops = workspace.campaigns / "shops.yaml"
    shops.write_text(shops.read_text(encoding="utf-8").split("  # The Alimama")[0], encoding="utf-8")
    workspace.write("gifts.yaml", gift())
    result = workspace.run("validate", str(workspace.campaigns))
    assert result.exit_code == 1
    assert "gifts.yaml:5:" in result.output and "metadata.shop" in result.output
    assert "has no spec.taoke" in result.output


def test_a_linked_gift_of_a_shop_that_lost_its_taoke_app_fails_with_the_reason(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    workspace.write("gifts.yaml", gift())
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    shops = workspace.campaigns / "shops.yaml"
    shops.write_text(shops.read_text(encoding="utf-8").split("  # The Alimama")[0], encoding="utf-8")
    workspace.write("gifts.yaml", "")
    result = workspace.run("plan", str(workspace.campaigns))
    assert result.exit_code == 1
    assert "shop 'demo-shop': Taoke cash gifts (taobao.tbk.dg.vegas.tlj.*) are sent with the shop's Alimama" in result.output
    assert "Traceback" not in result.output


def test_get_rate_is_shown_as_a_percentage(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("gifts.yaml", gift(total=100))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    for claimed, shown in ((1, "1.00 %"), (99, "99.00 %"), (100, "100.00 %")):
        usage = {"rights_id": rights_id(workspace), "claimed": claimed}
        httpx.post(f"{sandbox.server.url}/_sandbox/tlj/usage", json=usage).raise_for_status()
        planned = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
        assert planned.exit_code == 0, planned.output
        assert f"claimed {claimed} of 100 ({shown}, " in planned.output
