"""Properties over generated shops, against the sandbox: whatever the shop looked like before,
after apply a second plan is empty, the writes sent are exactly the minimal set, nothing
unmanaged is touched, and prune off never deletes."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Sandbox, Workspace
from tests.test_e2e_item_pool import ADD, CREATE, DELETE, REMOVE, _sandbox_call

NAMES = ["alpha", "bravo", "charlie", "delta"]
SKUS = [f"{n:04d}" for n in range(10)]
PRICES = [None, "9.90", "19.90"]

pools = st.fixed_dictionaries(
    {
        "decrease": st.sampled_from(["5.00", "10.00"]),
        "items": st.dictionaries(st.sampled_from(SKUS), st.sampled_from(PRICES), max_size=6),
    }
)
shops = st.dictionaries(st.sampled_from(NAMES), pools, max_size=4)
# What someone does in the seller console between the two applies: add or remove a pool item.
console_edits = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(["add", "remove"]), st.sampled_from(SKUS)), max_size=3)

_runs = itertools.count()


def manifest(shop: dict) -> str:
    docs = []
    for name, spec in sorted(shop.items()):
        items = "\n".join(
            f'    - {{sku: "{sku}"' + (f', fix_price: "{price}"' if price else "") + "}"
            for sku, price in sorted(spec["items"].items())
        )
        docs.append(f"""\
apiVersion: campaigns/v1
kind: ItemPoolActivity
metadata: {{name: {name}, shop: demo-shop}}
spec:
  title: 满30减{spec['decrease']}
  description: property test
  window: {{start: "2027-06-18T00:00:00+08:00", end: "2027-06-21T00:00:00+08:00"}}
  shop_ids: ["1001"]
  terminals: [app]
  stairs:
    - when: {{amount_at_least: "30.00"}}
      discount: {{decrease: "{spec['decrease']}"}}
  items: {"[]" if not items else ""}
{items}
""")
    return "---\n".join(docs) if docs else "# nothing declared\n"


def minimal_writes(before: dict, after: dict, live_items: dict[str, dict[str, str | None | bool]]) -> Counter[str]:
    """The fewest calls TOP's API allows, computed independently of the planner."""
    expected: Counter[str] = Counter()
    for name, spec in after.items():
        if name not in before or before[name]["decrease"] != spec["decrease"]:
            if name in before:
                expected[DELETE] += 1
            expected[CREATE] += 1
            expected[ADD] += len(spec["items"])
            continue
        live = live_items[name]  # sku -> the price we applied, or "console" for items added outside
        expected[REMOVE] += len(live.keys() - spec["items"].keys())
        expected[ADD] += len(spec["items"].keys() - live.keys())
        for sku in spec["items"].keys() & live.keys():
            if live[sku] == "console" or live[sku] != spec["items"][sku]:
                expected[REMOVE] += 1
                expected[ADD] += 1
    return +expected


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=shops, after=shops, edits=console_edits)
def test_apply_converges_with_minimal_writes_and_leaves_the_rest_alone(
    workspace: Workspace, sandbox: Sandbox, before: dict, after: dict, edits: list
) -> None:
    httpx.post(f"{sandbox.server.url}/_sandbox/reset").raise_for_status()
    workspace.env["RECONCILER_STATE"] = str(workspace.root / f"state-{next(_runs)}.db")

    workspace.write("pools.yaml", manifest(before))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0

    # An activity nobody declared, and seller-console edits of managed pools.
    unmanaged = _create_unmanaged(workspace)
    live_items = {name: dict(spec["items"]) for name, spec in before.items()}
    for name, action, sku in edits:
        if name not in before:
            continue
        activity_id = int(json.loads(workspace.run("state", "show", f"demo-shop/ItemPoolActivity/{name}").output)["remote_id"])
        if action == "add" and sku not in live_items[name]:
            _sandbox_call(workspace, ADD, {"param0": {"sku_code": sku}, "param1": {"activity_id": activity_id}})
            live_items[name][sku] = "console"
        elif action == "remove" and sku in live_items[name]:
            _sandbox_call(workspace, REMOVE, {"param0": {"sku_code": sku}, "param1": {"activity_id": activity_id}})
            del live_items[name][sku]
    sandbox.clear_calls()

    workspace.write("pools.yaml", manifest(after))
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    writes = sandbox.writes()
    assert Counter(call["method"] for call in writes) == minimal_writes(before, after, live_items)

    # Nothing unmanaged touched; prune off deleted nothing whose manifest was removed.
    touched = {json.loads(value).get("activity_id") for call in writes for value in call["params"].values() if value.startswith("{")}
    assert unmanaged not in touched
    removed = before.keys() - after.keys()
    deleted_ids = {json.loads(c["params"]["param"])["activity_id"] for c in writes if c["method"] == DELETE}
    assert len(deleted_ids) == sum(1 for n in after if n in before and before[n]["decrease"] != after[n]["decrease"])
    for name in removed:
        assert f"{name}: would delete" in applied.output

    sandbox.clear_calls()
    second = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert second.exit_code == 0, second.output
    assert sandbox.writes() == []


def _create_unmanaged(workspace: Workspace) -> int:
    params = {
        "param": {
            "activity_name": "console activity", "description": "made by hand", "out_act_id": "by-hand",
            "start_time": 1813248000000, "end_time": 1813507200000, "shop_ids": ["1001"], "terminals": ["1"],
            "rule_stairs": [{"number": 1, "is_amount": True, "amount": 1000,
                             "cover_all_discount_rule": {"is_cover_all_decrease_money": True, "cover_all_decrease_money": 100}}],
        }
    }
    from reconciler.top import Credentials, TopClient

    env = workspace.env
    with TopClient(Credentials(env["TOP_APP_KEY"], env["TOP_APP_SECRET"], env["TOP_SESSION"], env["TOP_GATEWAY"])) as c:
        activity_id = int(c.call(CREATE, params)["data"])
        c.call(ADD, {"param0": {"sku_code": "0001"}, "param1": {"activity_id": activity_id}})
    return activity_id
