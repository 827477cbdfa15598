"""Across a campaign's life (issue 17.1): a generated shop walked through a calendar.

A seeded generator places the windows of a shop — two shop coupons, an item-pool activity, an item
discount, a full discount, a listing window and a Taoke cash gift — inside two weeks. Every hour
of those two weeks (and a day either side), the sandbox's business clock is set to the hour and
the CLI runs `plan --at T --out F`, then `apply F` when there is something to do, then `plan --at
T` again. Asserted at every hour: no plan fails, the moment converges, no object is created
twice (the sandbox's call log), and the listing window's items are on sale exactly when its
schedule is open — so each flip happens in the first run at or after its time.

All against the sandbox over real HTTP; the sandbox's business rules (an end in the past, a
coupon's end of today) run on the business clock, its signature and timestamp checks on the
protocol clock (the suite's pinned clock, tests/pinned_clock.py), so no date here is the machine's.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from reconciler.kinds.schedule import is_open, schedule_from_spec
from reconciler.kinds.units import GMT8
from tests.conftest import Sandbox, Workspace

CREATES = (
    "taobao.promotion.coupon.add",
    "alibaba.wdk.marketing.itempool.activity.create",
    "taobao.promotionmisc.item.activity.add",
    "taobao.promotionmisc.mjs.activity.add",
    "taobao.tbk.dg.vegas.tlj.create",
)
LISTED = (220000000001, 220000000002)
ALLOW = 'allow_below_floor: "a calendar test, not a price test"'


def iso(moment: datetime) -> str:
    return moment.astimezone(GMT8).isoformat(timespec="seconds")


def span(rng: random.Random, first: datetime, days: int) -> tuple[datetime, datetime]:
    """A window inside [first, first + days): starts at a random minute, lasts 1 to 5 days."""
    start = first + timedelta(minutes=rng.randrange(0, (days - 6) * 24 * 60))
    return start, start + timedelta(minutes=rng.randrange(24 * 60, 5 * 24 * 60))


def generated_shop(seed: int, first: datetime) -> tuple[str, dict[str, str]]:
    rng = random.Random(seed)
    docs = []
    # A flash coupon ends on the walk's first day (the day before `first`), at a minute before
    # 23:59:59: TOP never makes a coupon ending before the last second of its day, so it is never
    # created, and the plans of that day must not fail over it.
    flash_end = first - timedelta(days=1) + timedelta(minutes=rng.randrange(60, 23 * 60))
    coupons = (("warmup", 3, span(rng, first, 14)[1]), ("main", 5, span(rng, first, 14)[1]), ("flash", 10, flash_end))
    for name, denomination, end in coupons:
        docs.append(f"""kind: ShopCoupon
metadata: {{name: {name}, shop: demo-shop, {ALLOW}}}
spec: {{denomination: "{denomination}.00", order_at_least: "99.00", window: {{end: "{iso(end)}"}}}}""")
    start, end = span(rng, first, 14)
    docs.append(f"""kind: ItemPoolActivity
metadata: {{name: pool, shop: demo-shop, {ALLOW}}}
spec:
  title: 满600减90
  description: calendar pool
  window: {{start: "{iso(start)}", end: "{iso(end)}"}}
  shop_ids: ["1001"]
  terminals: [app]
  stairs: [{{when: {{amount_at_least: "600.00"}}, discount: {{decrease: "90.00"}}}}]
  items: [{{sku: "1001"}}, {{sku: "1002"}}]""")
    start, end = span(rng, first, 14)
    docs.append(f"""kind: ItemDiscount
metadata: {{name: tea, shop: demo-shop, {ALLOW}}}
spec:
  title: 茶叶9折
  window: {{start: "{iso(start)}", end: "{iso(end)}"}}
  discount: {{rate: 0.9}}
  items: ["{LISTED[1]}", "220000000003"]""")
    start, end = span(rng, first, 14)
    docs.append(f"""kind: FullDiscount
metadata: {{name: d11, shop: demo-shop, {ALLOW}}}
spec:
  title: 满199减10
  level: shop
  window: {{start: "{iso(start)}", end: "{iso(end)}"}}
  when: {{amount_at_least: "199.00"}}
  reward: {{decrease: "10.00"}}
  items: all""")
    on_start, on_end = span(rng, first, 14)
    listing = {"dates": [[iso(on_start), iso(on_end)]], "weekly": []}
    docs.append(f"""kind: ListingWindow
metadata: {{name: presale, shop: demo-shop}}
spec:
  items: {[str(i) for i in LISTED]}
  on_sale: {{dates: [{{start: "{iso(on_start)}", end: "{iso(on_end)}"}}]}}""".replace("'", '"'))
    start, end = span(rng, first, 14)
    docs.append(f"""kind: TaokeCashGift
metadata: {{name: snack, shop: demo-shop, {ALLOW}}}
spec:
  title: 零食礼金
  item_id: "220000000007"
  adzone_id: 110550123456
  per_face: "5.00"
  total: 100
  per_user: 1
  send_window: {{start: "{iso(start)}", end: "{iso(end)}"}}
  use: {{days: 3}}""")
    text = "".join(f"apiVersion: campaigns/v1\n{doc}\n---\n" for doc in docs)
    return text, {"on_start": iso(on_start), "on_end": iso(on_end), "schedule": repr(listing)}


def set_clock(sandbox: Sandbox, moment: datetime | None) -> None:
    body = {"at": iso(moment) if moment else None}
    httpx.post(f"{sandbox.server.url}/_sandbox/clock", json=body).raise_for_status()


def on_sale(sandbox: Sandbox, num_iid: int) -> bool:
    items = sandbox.state()["shops"]["demo-shop"]["items"]["items"]
    return bool(items[str(num_iid)]["approve_status"] == "onsale")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [17])
def test_every_hour_of_two_weeks_plans_applies_and_converges(
    workspace: Workspace, sandbox: Sandbox, tmp_path: Path, seed: int
) -> None:
    first = datetime(2027, 6, 14, tzinfo=GMT8)
    text, facts = generated_shop(seed, first + timedelta(days=1))
    workspace.write("shop.yaml", text)
    items = [{"num_iid": i, "title": f"item {i}", "approve_status": "instock", "num": 10, "price": "100.00"}
             for i in (*LISTED, 220000000003, 220000000007)]
    httpx.post(f"{sandbox.server.url}/_sandbox/items",
               json={"shop": "demo-shop", "replace": True, "items": items}).raise_for_status()
    schedule = schedule_from_spec({"dates": [[facts["on_start"], facts["on_end"]]]})
    plan_file = str(tmp_path / "plan.json")
    applied_at: list[datetime] = []
    try:
        for hour in range(16 * 24 + 1):
            moment = first + timedelta(hours=hour)
            set_clock(sandbox, moment)
            at = iso(moment)
            planned = workspace.run("plan", str(workspace.campaigns), "--at", at, "--out", plan_file,
                                    "--detailed-exitcode")
            assert planned.exit_code in (0, 2), f"{at}: the plan failed\n{planned.output}"
            if planned.exit_code == 2:
                applied = workspace.run("apply", plan_file)
                assert applied.exit_code == 0, f"{at}: apply failed\n{applied.output}"
                again = workspace.run("plan", str(workspace.campaigns), "--at", at, "--detailed-exitcode")
                assert again.exit_code == 0, f"{at}: did not converge\n{again.output}"
                applied_at.append(moment)
            # The listing flip happened in this run if its time has come, and not before.
            for num_iid in LISTED:
                assert on_sale(sandbox, num_iid) == is_open(schedule, moment), (at, num_iid, facts)
    finally:
        set_clock(sandbox, None)
    creates = Counter(call["method"] for call in sandbox.calls() if call["method"] in CREATES and call["ok"])
    # Each declared object was created exactly once (the coupons twice: two coupons; the flash
    # coupon never, it could not be made).
    assert creates == {CREATES[0]: 2, CREATES[1]: 1, CREATES[2]: 1, CREATES[3]: 1, CREATES[4]: 1}, creates
    assert applied_at, "nothing was ever applied"
