"""Output discipline (issue 17.5), end to end against the sandbox over real HTTP: machine output
alone on stdout, output paths checked before planning, a saved plan applied without a prompt,
NO_COLOR / --no-color, connection and credential errors that say what to check, and --target
naming the shop's other managed objects as not targeted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.colour import colour_wanted
from reconciler.output_paths import directory_problem, file_problem
from tests.conftest import Sandbox, Workspace
from tests.test_e2e_discounts import item_discount

ESC = "\x1b["


def stock(sandbox: Sandbox) -> None:
    """The items the discounts name, so the plan's item checks and `price` find them."""
    items = [{"num_iid": int(i), "title": f"茶{i}", "price": "100.00"} for i in ("1001", "1002", "1003", "1004", "1009")]
    httpx.post(f"{sandbox.server.url}/_sandbox/items", json={"shop": "demo-shop", "replace": True, "items": items}
               ).raise_for_status()


def test_plan_json_with_out_prints_only_json_on_stdout(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount())
    out = workspace.root / "plan.json"
    planned = workspace.run("plan", str(workspace.campaigns), "--json", "--out", str(out))
    assert planned.exit_code == 0, planned.output
    data = json.loads(planned.stdout)  # nothing but the JSON
    assert data["summary"]["create"] == 1
    assert "Saved the plan to" in planned.stderr
    assert out.is_file()


def test_output_paths_are_checked_before_any_read(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount())
    a_file = workspace.root / "existing.txt"
    a_file.write_text("x", encoding="utf-8")
    sandbox.clear_calls()
    missing = workspace.run("plan", str(workspace.campaigns), "--out", str(workspace.root / "missing" / "p.json"))
    assert missing.exit_code == 1
    assert "--out" in missing.stderr and "does not exist" in missing.stderr and "Traceback" not in missing.output
    onto_file = workspace.run("plan", str(workspace.campaigns), "--markdown", str(a_file))
    assert onto_file.exit_code == 1 and "is a file, not a directory" in onto_file.stderr
    under_file = workspace.run("plan", str(workspace.campaigns), "--markdown", str(a_file / "md"))
    assert under_file.exit_code == 1 and "is a file, not a directory" in under_file.stderr
    assert sandbox.calls() == []  # refused before the plan read anything


def test_output_path_checks(tmp_path: Path) -> None:
    assert file_problem("--out", str(tmp_path / "p.json")) is None
    assert "is a directory" in (file_problem("--out", str(tmp_path)) or "")
    assert directory_problem("--markdown", str(tmp_path / "new" / "deeper")) is None  # made on write


def test_apply_of_a_saved_plan_needs_no_prompt(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount())
    out = workspace.root / "plan.json"
    assert workspace.run("plan", str(workspace.campaigns), "--out", str(out)).exit_code == 0
    # CliRunner's stdin is no terminal: a prompt would refuse ("refusing to apply without --auto-approve")
    applied = workspace.run("apply", str(out))
    assert applied.exit_code == 0, applied.output
    assert "Applied 1 change(s)" in applied.output
    # planning and applying at once still asks (or needs --auto-approve)
    workspace.write("discounts.yaml", item_discount(rate="0.8"))
    asked = workspace.run("apply", str(workspace.campaigns))
    assert asked.exit_code == 1 and "refusing to apply without --auto-approve" in asked.stderr


class _Tty:
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_against_no_color() -> None:
    assert colour_wanted(_Tty(), {}, False)  # type: ignore[arg-type]
    assert not colour_wanted(_Tty(), {"NO_COLOR": "1"}, False)  # type: ignore[arg-type]
    assert not colour_wanted(_Tty(), {}, True)  # type: ignore[arg-type]
    assert colour_wanted(_Tty(), {"NO_COLOR": ""}, False)  # type: ignore[arg-type]  # empty: not set


def test_no_color_reaches_the_plan(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount())
    runner = CliRunner()
    for args, env in ((["--no-color"], workspace.env), ([], {**workspace.env, "NO_COLOR": "1"})):
        result = runner.invoke(cli, [*args, "plan", str(workspace.campaigns)], env=env, color=True)
        assert result.exit_code == 0, result.output
        assert ESC not in result.output
    coloured = runner.invoke(cli, ["plan", str(workspace.campaigns)], env=workspace.env, color=True)
    assert coloured.exit_code == 0  # CliRunner is no terminal: no colour either
    assert ESC not in coloured.output


def test_a_connection_error_names_the_gateway_and_what_to_check(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount())
    env = {**workspace.env, "TOP_GATEWAY": "http://127.0.0.1:9/router/rest?session=SECRETSESSION", "TOP_MAX_RETRIES": "0"}
    result = CliRunner().invoke(cli, ["plan", str(workspace.campaigns)], env=env)
    assert result.exit_code == 1
    assert "at http://127.0.0.1:9/router/rest" in result.stderr
    assert "SECRETSESSION" not in result.output
    assert "hint: check the gateway URL (TOP_GATEWAY" in result.stderr


def test_a_wrong_secret_hints_at_the_app_secret(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount())
    env = {**workspace.env, "TOP_APP_SECRET": "not-the-secret"}
    result = CliRunner().invoke(cli, ["plan", str(workspace.campaigns)], env=env)
    assert result.exit_code == 1
    assert "code 25" in result.stderr and "hint:" in result.stderr and "TOP_APP_SECRET" in result.stderr


def test_a_refused_session_hints_at_the_session(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount())
    env = {**workspace.env, "TOP_SESSION": "not-a-session"}
    result = CliRunner().invoke(cli, ["plan", str(workspace.campaigns)], env=env)
    assert result.exit_code == 1
    assert "code 27" in result.stderr and "hint: TOP refuses the seller session: check TOP_SESSION" in result.stderr


def test_target_names_other_managed_objects_as_not_targeted(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount("tea") + "---\n" + item_discount("coffee", items=["1009"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("discounts.yaml", item_discount("tea", rate="0.8") + "---\n" + item_discount("coffee", items=["1009"]))
    planned = workspace.run("plan", str(workspace.campaigns), "--target", "ItemDiscount/tea")
    assert planned.exit_code == 0, planned.output
    assert "unmanaged (left alone)" not in planned.output
    assert "demo-shop/ItemDiscount/coffee: not targeted" in planned.output


# ---- --json for validate, price, drift, state list and apply, each with its schema --------------

SCHEMAS = Path(__file__).resolve().parent.parent / "reconciler" / "schemas" / "output"


def _valid(name: str, text: str) -> dict[str, Any]:
    import jsonschema

    data = json.loads(text)
    jsonschema.validate(data, json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8")))
    assert isinstance(data, dict)
    return data


def test_every_command_json_is_alone_on_stdout_and_matches_its_schema(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount())
    validated = _valid("validate", workspace.run("validate", str(workspace.campaigns), "--json").stdout)
    assert [r["address"] for r in validated["resources"]] == ["demo-shop/ItemDiscount/tea"]

    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--json")
    assert applied.exit_code == 0, applied.output
    done = _valid("apply", applied.stdout)
    assert done["ok"] is True and done["done"] == [{"address": "demo-shop/ItemDiscount/tea", "action": "create", "calls": 2}]
    assert "Applied 1 change(s)" in applied.stderr  # the human lines went to stderr
    nothing = _valid("apply", workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--json").stdout)
    assert nothing["done"] == [] and nothing["write_calls_sent"] == 0

    listed = _valid("state-list", workspace.run("state", "list", "--json").stdout)
    assert [o["address"] for o in listed["objects"]] == ["demo-shop/ItemDiscount/tea"]

    drifted = workspace.run("drift", str(workspace.campaigns), "--json")
    assert _valid("drift", drifted.stdout)["drift"] == []

    priced = workspace.run("price", str(workspace.campaigns), "--json", "--at", "2027-11-02T00:00:00+08:00")
    assert priced.exit_code == 0, priced.output
    prices = _valid("price", priced.stdout)
    items = prices["shops"][0]["items"]
    assert items and items[0]["steps"][0]["label"] == "8.5折"
    assert items[0]["floor"]["default"] is True  # no PriceFloor declared: the default floor applies


def test_a_failed_change_of_an_apply_gets_the_same_hints() -> None:
    """The apply report keeps each failure as raised, so its hint comes from TOP's code, not its text."""
    from reconciler.errors import TopPermanentError, TopTransportError
    from reconciler.top.hints import advice

    assert "TOP_APP_SECRET" in (advice(TopPermanentError("taobao.x.add", code=25, msg="Invalid signature")) or "")
    assert "TOP_SESSION" in (advice(TopPermanentError("taobao.x.add", code=27, msg="Invalid session")) or "")
    assert "TOP_GATEWAY" in (advice(TopTransportError("taobao.x.add", msg="transport error ReadTimeout at http://h/r")) or "")
    assert advice(TopPermanentError("taobao.x.add", code=15, msg="Remote service error", sub_code="isv.x")) is None


def test_no_color_on_the_command_or_the_group_reaches_the_styler(
    workspace: Workspace, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if on a terminal (CliRunner is none): colour unless --no-color, wherever it is written."""
    import reconciler.cli.common

    stock(sandbox)
    workspace.write("discounts.yaml", item_discount())
    monkeypatch.setattr(reconciler.cli.common, "colour_wanted", lambda stream, env, no_color: not no_color and "NO_COLOR" not in env)
    runner = CliRunner()
    coloured = runner.invoke(cli, ["plan", str(workspace.campaigns)], env=workspace.env, color=True)
    assert ESC in coloured.output
    for args in (["--no-color", "plan", str(workspace.campaigns)], ["plan", "--no-color", str(workspace.campaigns)]):
        plain = runner.invoke(cli, args, env=workspace.env, color=True)
        assert plain.exit_code == 0, plain.output
        assert ESC not in plain.output, args


# ---- apply --json: one document however the apply ends (issue 17.5) -------------------------------


def _stopped(result: Any, outcome: str) -> dict[str, Any]:
    """An apply that stopped before sending: exit 1, the error on stderr, one JSON document on stdout."""
    assert result.exit_code == 1, result.output
    assert "error:" in result.stderr and "Traceback" not in result.output
    data = _valid("apply", result.stdout)  # json.loads of the whole stdout: nothing else is there
    assert data["outcome"] == outcome and data["ok"] is False and data["write_calls_sent"] == 0
    assert data["message"] and data["done"] == [] and data["failed"] == []
    return data


def test_apply_json_says_why_it_stopped_before_sending(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    campaigns = str(workspace.campaigns)
    workspace.write("discounts.yaml", item_discount(rate="0.1"))  # 1折: below the default floor
    blocked = _stopped(workspace.run("apply", campaigns, "--auto-approve", "--json"), "blocked")
    assert "below their price floor" in blocked["message"]
    assert blocked["not_tried"] == [{"address": "demo-shop/ItemDiscount/tea", "action": "create", "calls": 2}]
    assert blocked["plan_checksum"].startswith("sha256:")

    workspace.write("discounts.yaml", item_discount())
    not_approved = _stopped(workspace.run("apply", campaigns, "--json"), "not_approved")
    assert "--auto-approve" in not_approved["message"]
    mismatch = _stopped(workspace.run("apply", campaigns, "--json", "--checksum", "sha256:reviewed"),
                        "checksum_mismatch")
    assert "differs from the reviewed one" in mismatch["message"]

    workspace.write("discounts.yaml", item_discount(rate="nine"))
    broken = _stopped(workspace.run("apply", campaigns, "--auto-approve", "--json"), "invalid_manifests")
    assert "discounts.yaml" in broken["message"] and broken["not_tried"] == []
    assert sandbox.writes() == []


def test_apply_json_of_a_stale_saved_plan_says_so(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount())
    out = workspace.root / "plan.json"
    assert workspace.run("plan", str(workspace.campaigns), "--out", str(out)).exit_code == 0
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0  # TOP moves on
    stale = _stopped(workspace.run("apply", str(out), "--json"), "stale_plan")
    assert "is stale" in stale["message"] and "appeared since the plan was made" in stale["message"]


def test_apply_json_reports_what_was_done_with_its_outcome(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount())
    applied = _valid("apply", workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--json").stdout)
    assert applied["outcome"] == "applied" and "message" not in applied
    nothing = _valid("apply", workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--json").stdout)
    assert nothing["outcome"] == "no_changes"


# ---- every command that writes a file checks where first (issue 17.5) -----------------------------


def test_every_output_path_is_checked_before_the_command_works(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount())
    a_file = workspace.root / "existing.txt"
    a_file.write_text("x", encoding="utf-8")
    missing = str(workspace.root / "missing" / "run.prom")
    sandbox.clear_calls()
    for command in ("plan", "drift", "apply"):
        refused = workspace.run(command, str(workspace.campaigns), "--metrics-file", missing, "--auto-approve"
                                if command == "apply" else "--json")
        assert refused.exit_code == 1, (command, refused.output)
        assert "--metrics-file" in refused.stderr and "does not exist" in refused.stderr, command
        assert "Traceback" not in refused.output
    assert sandbox.calls() == []  # refused before anything was read
    as_json = workspace.run("apply", str(workspace.campaigns), "--metrics-file", missing, "--json")
    assert _valid("apply", as_json.stdout)["outcome"] == "error" and "--metrics-file" in as_json.stderr
    for args in (["schema", "export", str(a_file / "schemas")], ["init", str(a_file / "project")],
                 ["sandbox", "serve", "--port", "0", "--data", str(a_file / "shops.json")]):
        refused = workspace.run(*args)
        assert refused.exit_code == 1 and "is a file, not a directory" in refused.stderr, args
        assert "Traceback" not in refused.output
