"""Helpers shared by the fault tests: set the sandbox's faults, fast retry settings, a pool manifest."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx

from reconciler.top import Credentials, TopClient
from reconciler.top.retry import RetryPolicy
from reconciler.top.tokens import SellerSession
from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION
from tests.conftest import Sandbox

CREATE = "alibaba.wdk.marketing.itempool.activity.create"
QUERY = "alibaba.wdk.marketing.itempool.queryactivity"
DELETE = "alibaba.wdk.marketing.itempool.deleteactivity"
ADD = "alibaba.wdk.marketing.itempool.additem"
REMOVE = "alibaba.wdk.marketing.itempool.removeitem"
QUERY_ITEMS = "alibaba.wdk.marketing.itempool.queryitems"

# Real TOP waits seconds between retries; the tests keep the same logic with millisecond waits.
FAST_RETRY = RetryPolicy(attempts=8, ban_attempts=40, backoff=0.001, max_backoff=0.01, max_ban_seconds=5)
FAST_ENV = {
    "TOP_RETRY_ATTEMPTS": "8",
    "TOP_RETRY_BAN_ATTEMPTS": "40",
    "TOP_RETRY_BACKOFF": "0.001",
    "TOP_RETRY_MAX_BACKOFF": "0.01",
    "TOP_QPS": "1000",
}


def set_faults(sandbox: Sandbox, **faults: Any) -> None:
    response = httpx.post(f"{sandbox.server.url}/_sandbox/faults", json=faults, verify=False)  # loopback http
    assert response.status_code == 200, response.text


def client_for(
    sandbox: Sandbox, session: str | None = DEMO_SESSION, *, seller: SellerSession | None = None, **kwargs: Any
) -> TopClient:
    """A client of the sandbox: with the fixed `session`, or with `seller` (a refreshable session)."""
    credentials = Credentials(DEMO_APP_KEY, DEMO_APP_SECRET, None if seller else session, sandbox.gateway)
    kwargs.setdefault("retry", FAST_RETRY)
    return TopClient(credentials, session=seller, **kwargs)


def pool(name: str = "fresh", skus: list[str] | None = None, decrease: str = "12.00") -> str:
    skus = skus if skus is not None else ["1001", "1002", "1003"]
    items = "\n".join(f'    - {{sku: "{sku}"}}' for sku in skus) or "    []"
    return f"""\
apiVersion: campaigns/v1
kind: ItemPoolActivity
metadata:
  name: {name}
  shop: demo-shop
spec:
  title: 满30减{decrease} {name}
  description: fault test pool
  window: {{start: "2027-06-18T00:00:00+08:00", end: "2027-06-21T00:00:00+08:00"}}
  shop_ids: ["1001"]
  terminals: [app, pos]
  stairs:
    - when: {{amount_at_least: "30.00"}}
      discount: {{decrease: "{decrease}"}}
  items:
{items}
"""


def activities_on_top(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """Live (not deleted) activities of demo-shop by out_act_id, each with its skus."""
    pool_state = sandbox.state()["shops"].get("demo-shop", {}).get("itempool", {"activities": {}})
    live: dict[str, dict[str, Any]] = {}
    for record in pool_state["activities"].values():
        if not record["deleted"]:
            out_act_id = record["request"]["out_act_id"]
            assert out_act_id not in live, f"two live activities carry out_act_id {out_act_id}"
            live[out_act_id] = {"id": record["activity_id"], "skus": sorted(record["items"])}
    return live


def successful(sandbox: Sandbox, method: str) -> Counter[str]:
    """How often each sku (or activity name) was changed by a call of `method` that TOP ran."""
    counts: Counter[str] = Counter()
    for call in sandbox.calls():
        if call["method"] != method or not call["ok"]:
            continue
        params = call["params"]
        if method in (ADD, REMOVE):
            counts[json.loads(params["param0"])["sku_code"]] += 1
        elif method == CREATE:
            counts[json.loads(params["param"])["out_act_id"]] += 1
        else:
            counts[json.dumps(json.loads(params.get("param") or params.get("param0") or "{}"), sort_keys=True)] += 1
    return counts


def failed(sandbox: Sandbox, method: str | None = None) -> int:
    return sum(1 for call in sandbox.calls() if not call["ok"] and (method is None or call["method"] == method))
