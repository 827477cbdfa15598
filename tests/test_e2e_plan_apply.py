"""Plan and apply a team can trust: saved plans, stale-plan refusal, checksums, thresholds,
prevent_destroy, --target, import, failure reports and renderings — against the sandbox."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REPO, Sandbox, Workspace
from tests.test_e2e_item_pool import ADD, CREATE, DELETE, REMOVE, _sandbox_call, methods, pool

# Every test plans manifests with fixed 2027 dates: each holds only at the pinned moment (tests/pinned_clock.py).
pytestmark = pytest.mark.pinned_moment


def _many(count: int, decrease: str = "12.00", skip: int = -1, prevent: str = "") -> str:
    docs = []
    for index in range(count):
        if index == skip:
            continue
        doc = pool(f"pool-{index}", decrease=decrease if index < 4 else "12.00", skus=[f"{index}001", f"{index}002"])
        if prevent == f"pool-{index}":
            doc = doc.replace("  shop: demo-shop\n", "  shop: demo-shop\n  prevent_destroy: true\n")
        docs.append(doc)
    return "---\n".join(docs)


def _activity_id(workspace: Workspace, name: str) -> int:
    shown = workspace.run("state", "show", f"demo-shop/ItemPoolActivity/{name}")
    return int(json.loads(shown.output)["remote_id"])


def test_saved_plan_applies_exactly_its_calls(workspace: Workspace, sandbox: Sandbox, tmp_path: Path) -> None:
    workspace.write("pools.yaml", pool("fresh") + "---\n" + pool("dairy", skus=["2001"]))
    plan_file = tmp_path / "plan.json"
    planned = workspace.run("plan", str(workspace.campaigns), "--out", str(plan_file))
    assert planned.exit_code == 0, planned.output
    assert "Plan checksum: sha256:" in planned.output
    saved_calls = [
        (call["method"], call["params"]) for change in json.loads(plan_file.read_text())["plan"]["changes"]
        for call in change["calls"]
    ]

    # The manifests can change after the plan: apply PLAN_FILE still sends what was reviewed.
    workspace.write("pools.yaml", pool("other"))
    applied = workspace.run("apply", str(plan_file), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    sent = [(call["method"], call["params"]) for call in sandbox.writes()]
    # Independent changes may go out together, so compare as a multiset of exact calls…
    assert sorted(map(repr, sent)) == sorted(map(repr, _with_ids_resolved(saved_calls, sent)))
    # …and each activity's own calls in order: its create before its items.
    assert sent[0][0] == CREATE and json.loads(sent[0][1]["param"])["out_act_id"] in ("dairy", "fresh")


def _with_ids_resolved(saved: list, sent: list) -> list:
    """The saved calls with each {"$ref"} replaced by the id the sandbox gave, for comparison."""
    ids = {}
    for method, params in sent:
        if method == ADD:
            sku = json.loads(params["param0"])["sku_code"]
            ids[sku] = json.loads(params["param1"])["activity_id"]
    resolved = []
    for method, params in saved:
        if method == ADD:
            param0 = json.dumps(params["param0"], separators=(",", ":"), ensure_ascii=False)
            param1 = json.dumps({"activity_id": ids[params["param0"]["sku_code"]]}, separators=(",", ":"))
            resolved.append((method, {"param0": param0, "param1": param1}))
        else:
            resolved.append((method, {"param": json.dumps(params["param"], separators=(",", ":"), ensure_ascii=False)}))
    return resolved


def test_stale_saved_plan_is_refused_naming_what_moved(workspace: Workspace, sandbox: Sandbox, tmp_path: Path) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=["1001", "1002"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("pools.yaml", pool("fresh", skus=["1001", "1002", "1003"]))
    plan_file = tmp_path / "plan.json"
    assert workspace.run("plan", str(workspace.campaigns), "--out", str(plan_file)).exit_code == 0

    activity_id = _activity_id(workspace, "fresh")
    _sandbox_call(workspace, ADD, {"param0": {"sku_code": "7777"}, "param1": {"activity_id": activity_id}})
    sandbox.clear_calls()

    refused = workspace.run("apply", str(plan_file), "--auto-approve")
    assert refused.exit_code == 1
    assert "stale" in refused.output
    assert "demo-shop/ItemPoolActivity/fresh: changed since the plan was made" in refused.output
    assert sandbox.writes() == []


def test_edited_plan_file_is_refused(workspace: Workspace, sandbox: Sandbox, tmp_path: Path) -> None:
    workspace.write("pools.yaml", pool("fresh"))
    plan_file = tmp_path / "plan.json"
    assert workspace.run("plan", str(workspace.campaigns), "--out", str(plan_file)).exit_code == 0
    plan_file.write_text(plan_file.read_text().replace("1001", "6666"))
    refused = workspace.run("apply", str(plan_file), "--auto-approve")
    assert refused.exit_code == 1 and "edited after it was written" in refused.output
    assert sandbox.writes() == []


def test_apply_with_checksum_only_applies_the_reviewed_plan(
    workspace: Workspace, sandbox: Sandbox, tmp_path: Path
) -> None:
    workspace.write("pools.yaml", pool("fresh"))
    reviewed = tmp_path / "reviewed.json"
    planned = workspace.run("plan", str(workspace.campaigns), "--out", str(reviewed))
    checksum = next(line.split()[-1] for line in planned.output.splitlines() if line.startswith("Plan checksum:"))

    workspace.write("pools.yaml", pool("fresh", decrease="13.00"))  # the merge result differs
    refused = workspace.run(
        "apply", str(workspace.campaigns), "--auto-approve", "--checksum", checksum, "--reviewed-plan", str(reviewed)
    )
    assert refused.exit_code == 1
    assert "differs from the reviewed one" in refused.output
    assert "~ demo-shop/ItemPoolActivity/fresh: planned differently" in refused.output
    assert sandbox.writes() == []

    workspace.write("pools.yaml", pool("fresh"))
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--checksum", checksum)
    assert applied.exit_code == 0, applied.output
    assert methods(sandbox.writes()) == {CREATE: 1, ADD: 4}


def test_update_threshold_blocks_until_forced(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", _many(10))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("pools.yaml", _many(10, decrease="15.00"))  # replaces 4 of 10 managed: 40 % > 30 %
    sandbox.clear_calls()

    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 1
    assert "would update 4 of 10 managed objects (40%, above the 30% threshold)" in planned.output
    blocked = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert blocked.exit_code == 1 and sandbox.writes() == []

    forced = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--force")
    assert forced.exit_code == 0, forced.output
    assert methods(sandbox.writes())[DELETE] == 4


def test_delete_threshold_counts_pruned_deletes(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", _many(10))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("pools.yaml", "---\n".join(pool(f"pool-{i}", skus=[f"{i}001", f"{i}002"]) for i in range(6)))
    sandbox.clear_calls()
    blocked = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--prune")
    assert blocked.exit_code == 1 and "would delete 4 of 10" in blocked.output
    assert sandbox.writes() == []
    relaxed = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--prune", "--delete-threshold", "0.5")
    assert relaxed.exit_code == 0
    assert methods(sandbox.writes()) == {DELETE: 4}


def test_prevent_destroy_blocks_a_replace_even_with_force(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", _many(2, prevent="pool-0"))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("pools.yaml", _many(2, decrease="20.00", prevent="pool-0"))
    sandbox.clear_calls()
    for args in ([], ["--force"]):
        result = workspace.run("apply", str(workspace.campaigns), "--auto-approve", *args)
        assert result.exit_code == 1
        assert "demo-shop/ItemPoolActivity/pool-0 has metadata.prevent_destroy: true" in result.output
    assert sandbox.writes() == []


def test_target_limits_the_run(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", _many(3))
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--target", "ItemPoolActivity/pool-1")
    assert applied.exit_code == 0, applied.output
    creates = [json.loads(c["params"]["param"])["out_act_id"] for c in sandbox.writes() if c["method"] == CREATE]
    assert creates == ["pool-1"]
    missing = workspace.run("plan", str(workspace.campaigns), "--target", "ItemPoolActivity/nope")
    assert missing.exit_code == 1 and "matches no manifest" in missing.output


def test_import_adopts_an_existing_activity(workspace: Workspace, sandbox: Sandbox) -> None:
    # Someone created the activity in the seller console; the manifest describes it.
    workspace.write("pools.yaml", pool("fresh", skus=["1001", "1002"]))
    from reconciler.top import Credentials, TopClient

    env = workspace.env
    with TopClient(Credentials(env["TOP_APP_KEY"], env["TOP_APP_SECRET"], env["TOP_SESSION"], env["TOP_GATEWAY"])) as c:
        plan_json = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
        create = plan_json["changes"][0]["calls"][0]
        activity_id = c.call(CREATE, create["params"])["data"]
        c.call(ADD, {"param0": {"sku_code": "1001"}, "param1": {"activity_id": activity_id}})
        c.call(ADD, {"param0": {"sku_code": "9999"}, "param1": {"activity_id": activity_id}})
    sandbox.clear_calls()

    imported = workspace.run("import", "ItemPoolActivity", "fresh", str(activity_id), str(workspace.campaigns))
    assert imported.exit_code == 0, imported.output
    # One apply adopts the activity and brings its pool to the manifest's: a second is not needed.
    adopt = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert adopt.exit_code == 0 and "assumed to be as the manifest says" in adopt.output
    assert "+ item 1002" in adopt.output and "- item 9999" in adopt.output
    assert methods(sandbox.writes()) == {ADD: 1, REMOVE: 1}
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 0

    again = workspace.run("import", "ItemPoolActivity", "fresh", str(activity_id), str(workspace.campaigns))
    assert again.exit_code == 1 and "already manages" in again.output


def test_failed_apply_reports_done_failed_and_not_tried(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", pool("a-first") + "---\n" + pool("b-clash") + "---\n" + pool("c-last"))
    plan_json = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
    clash = next(ch for ch in plan_json["changes"] if ch["name"] == "b-clash")["calls"][0]["params"]
    from reconciler.top import Credentials, TopClient

    env = workspace.env
    with TopClient(Credentials(env["TOP_APP_KEY"], env["TOP_APP_SECRET"], env["TOP_SESSION"], env["TOP_GATEWAY"])) as c:
        c.call(CREATE, clash)  # an unmanaged activity already uses out_act_id b-clash

    result = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--parallelism", "1")
    assert result.exit_code == 1
    assert "Applied 1 change(s)" in result.output
    assert "FAILED demo-shop/ItemPoolActivity/b-clash" in result.output and "out-act-id-duplicate" in result.output
    assert "not tried: demo-shop/ItemPoolActivity/c-last" in result.output
    listed = workspace.run("state", "list").output
    assert "a-first" in listed and "b-clash" not in listed


def test_json_plan_matches_its_published_schema(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", pool("fresh") + "---\n" + pool("dairy", skus=["2001"]))
    data = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
    schema = json.loads((REPO / "schemas" / "output" / "plan.schema.json").read_text())
    jsonschema.validate(data, schema)
    assert data["summary"]["create"] == 2 and data["summary"]["write_calls"] == 7


def test_markdown_plan_is_split_into_standalone_comments(workspace: Workspace, sandbox: Sandbox, tmp_path: Path) -> None:
    skus = [f"{n:06d}" for n in range(400)]
    workspace.write("pools.yaml", "---\n".join(pool(f"big-{i}", skus=skus) for i in range(6)))
    out = tmp_path / "md"
    planned = workspace.run("plan", str(workspace.campaigns), "--markdown", str(out), "--link-base", "https://example.test/blob/abc")
    assert planned.exit_code == 0, planned.output
    parts = sorted(out.glob("plan-*.md"))
    assert len(parts) > 1
    for index, part in enumerate(parts, start=1):
        text = part.read_text()
        assert len(text) <= 65_535
        assert text.startswith("### campaign-reconciler plan")
        assert "**6 to create" in text and f"Part {index} of {len(parts)}" in text
        assert text.count("<details>") == text.count("</details>")
        assert "demo-shop" in text
    everything = "".join(p.read_text() for p in parts)
    assert everything.count("itempool.additem") == 6 * 400
    assert "](https://example.test/blob/abc/" in everything


def test_plan_orders_deletes_first_and_numbers_steps(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", pool("a-keep") + "---\n" + pool("z-old"))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("pools.yaml", pool("a-keep") + "---\n" + pool("b-new"))
    planned = workspace.run("plan", str(workspace.campaigns), "--prune")
    lines = [line.strip() for line in planned.output.splitlines() if line.strip()[:2] in ("1.", "2.")]
    assert lines[0].startswith("1. - ItemPoolActivity/z-old: delete")
    assert lines[1].startswith("2. + ItemPoolActivity/b-new: create")
    assert Counter(c["method"] for c in sandbox.writes()) == {CREATE: 2, ADD: 8}


def test_parallel_apply_finishes_the_step_under_way_then_stops(workspace: Workspace, sandbox: Sandbox) -> None:
    # Ten independent creates go out together; one clashes. The others of that step finish and
    # are recorded; nothing of a later step (the item update of a-first's sibling) starts.
    names = [f"p-{i}" for i in range(10)]
    workspace.write("pools.yaml", "---\n".join(pool(name, skus=["1001"]) for name in names))
    plan_json = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
    clash = next(ch for ch in plan_json["changes"] if ch["name"] == "p-3")["calls"][0]["params"]
    from reconciler.top import Credentials, TopClient

    env = workspace.env
    with TopClient(Credentials(env["TOP_APP_KEY"], env["TOP_APP_SECRET"], env["TOP_SESSION"], env["TOP_GATEWAY"])) as c:
        c.call(CREATE, clash)

    result = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--parallelism", "4")
    assert result.exit_code == 1
    assert "FAILED demo-shop/ItemPoolActivity/p-3" in result.output
    listed = workspace.run("state", "list").output
    recorded = {name for name in names if f"/{name}\t" in listed}
    done = int(result.output.split("Applied ")[1].split(" ")[0])
    assert "p-3" not in recorded and len(recorded) == done
    # Whatever was not tried is created by the next apply once the clash is gone; nothing twice.
    workspace.write("pools.yaml", "---\n".join(pool(name, skus=["1001"]) for name in names if name != "p-3"))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    creates = [json.loads(c["params"]["param"])["out_act_id"] for c in sandbox.writes() if c["method"] == CREATE]
    assert sorted(creates) == sorted(names + ["p-3"])  # one each (p-3 twice: ours failed, the clash)
