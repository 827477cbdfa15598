"""Round trip of `reconciler export` (issue 19.3): a shop built through raw TOP calls — not through
the reconciler — is exported with `--import`, and then the very next plan has no change and sends
nothing, and `validate` / `render` of what export wrote are clean.

The shops are generated (hypothesis) and built with tests/sandbox_calls.RawTop, which signs and sends
requests by hand over real HTTP, as a seller's console or another tool would. Each call's
parameters follow its method page in ../shared/top-api/methods/:
  taobao.promotion.coupon.add                  denominations 3/5/10/20/50/100 (yuan), condition
                                               (yuan; 0 = none, absent = denomination + 1)
  taobao.promotionmisc.item.activity.add       participate_range 0/1, discount_rate (800 = 8折) or
                                               decrease_amount (fen), user_tag
  taobao.promotionmisc.activity.range.add      ids, at most 50 per call
  taobao.promotionmisc.mjs.activity.add        type 1/2, total_price (fen) or item_count, with or
                                               without is_amount_multiple / is_item_multiple (上不封顶),
                                               decrease / rate / gift / free post, member level
  alibaba.wdk.marketing.itempool.activity.create  rule_stairs, logic_group_rules, period_config,
                                               limit_info, priority_value, member_limit (epoch ms)
  alibaba.wdk.marketing.itempool.additem       sku_code, logic_group_number, fix_price (fen),
                                               discount_rate (permille), decrease_money (yuan)
  taobao.item.update.delisting                 num_iid (the listing snapshot's test)
Only shops the manifest format can hold are generated (e.g. an item discount has a rate or a
decrease, not both; a 满就送 decrease stays below its threshold): what it cannot hold is issue 19.4's.
Item-pool activities cannot be listed on TOP, so their ids are given to export with --id.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.sandbox.families.items import POOL_CODES
from tests.conftest import Sandbox, Workspace
from tests.sandbox_calls import GMT8, RawTop

SHOP = "demo-shop"
COUPON_ADD = "taobao.promotion.coupon.add"
ITEM_ADD = "taobao.promotionmisc.item.activity.add"
MJS_ADD = "taobao.promotionmisc.mjs.activity.add"
RANGE_ADD = "taobao.promotionmisc.activity.range.add"
POOL_CREATE = "alibaba.wdk.marketing.itempool.activity.create"
POOL_ADD_ITEM = "alibaba.wdk.marketing.itempool.additem"
DELIST = "taobao.item.update.delisting"

# Items of the sandbox's demo shop (its catalogue's num_iids 220000000001…) and merchant codes of
# its items (outer_ids): what an item range and a pool's skus name, so the reference check passes.
ITEM_IDS = [str(220_000_000_000 + serial) for serial in range(1, 81)]
POOL_SKUS = sorted(POOL_CODES[SHOP].values())

# Titles a seller types in the console, with what YAML and slugs must survive.
# (The sandbox trims a flat String param, reconciler/sandbox/params.text: a spaced title arrives trimmed.)
TITLES = ["双11茶叶85折", "Spring sale", "限时: 满减!", "# 不是注释", "'单引号' \"双引号\"", "a", "x" * 32, "新品 8.5折 - 30%",
          " 首尾有空格 "]
# User tags with what YAML must survive.
TAGS = [None, "vip", "新客", "a: b #c", "- dash", "true"]

# Coupon windows: coupon.add takes an end from tonight to 6 months ahead of the pinned clock
# (tests/pinned_clock.py, 2026-12-01); a missing start means "from its creation".
COUPON_WINDOWS = [(None, "2026-12-31 23:59:59"), (None, "2027-05-31 23:59:59"), ("2027-01-01 00:00:00", "2027-03-31 23:59:59"),
                  ("2027-02-14 10:30:00", "2027-05-31 23:59:59")]
# Activity windows (GMT+8 wall time), start before end.
WINDOWS = [("2027-06-18 00:00:00", "2027-06-21 00:00:00"), ("2027-11-01 00:00:00", "2027-11-12 00:00:00"),
           ("2027-03-08 09:30:15", "2027-03-08 21:45:00")]


def _wall_ms(wall: str) -> int:
    return int(datetime.strptime(wall, "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8).timestamp() * 1000)


# --------------------------------------------------------------------------- generated shops


@st.composite
def coupons(draw: st.DrawFn) -> dict[str, Any]:
    denomination = draw(st.sampled_from([3, 5, 10, 20, 50, 100]))
    start, end = draw(st.sampled_from(COUPON_WINDOWS))
    params: dict[str, Any] = {"denominations": denomination, "end_time": end}
    if start is not None:
        params["start_time"] = start
    condition = draw(st.sampled_from(["absent", "none", "equal", "above"]))
    if condition == "none":
        params["condition"] = 0
    elif condition == "equal":
        params["condition"] = denomination
    elif condition == "above":
        params["condition"] = denomination + draw(st.sampled_from([1, 39, 99, 1000]))
    return params


# The whole shop, a few items, or more than one page of range.list.get (50) and one range.add (50).
item_ranges = st.one_of(st.none(), st.lists(st.sampled_from(ITEM_IDS), min_size=1, max_size=4, unique=True),
                        st.lists(st.sampled_from(ITEM_IDS), min_size=51, max_size=60, unique=True))


@st.composite
def item_discounts(draw: st.DrawFn) -> dict[str, Any]:
    start, end = draw(st.sampled_from(WINDOWS))
    items = draw(item_ranges)
    params: dict[str, Any] = {"name": draw(st.sampled_from(TITLES)), "participate_range": 0 if items is None else 1,
                              "start_time": start, "end_time": end}
    if draw(st.booleans()):
        params.update(is_discount=True, discount_rate=draw(st.sampled_from([1, 500, 850, 855, 999])))
    else:
        params.update(is_decrease_money=True, decrease_amount=draw(st.sampled_from([1, 500, 1234, 9990])))
    tag = draw(st.sampled_from(TAGS))
    if tag is not None:
        params.update(is_user_tag=True, user_tag=tag)
    return {"params": params, "items": items or []}


@st.composite
def full_discounts(draw: st.DrawFn) -> dict[str, Any]:
    start, end = draw(st.sampled_from(WINDOWS))
    items = draw(item_ranges)
    params: dict[str, Any] = {"name": draw(st.sampled_from(TITLES)), "type": draw(st.sampled_from([1, 2])),
                              "participate_range": 0 if items is None else 1, "start_time": start, "end_time": end}
    reward = draw(st.sampled_from(["decrease", "rate", "neither"]))
    by_amount = draw(st.booleans())
    if by_amount:
        threshold = draw(st.sampled_from([100, 9900, 19_900, 30_050]))
        params.update(is_amount_over=True, total_price=threshold)
    else:
        params.update(is_item_count_over=True, item_count=draw(st.sampled_from([1, 2, 5])))
    if reward == "decrease":
        # Below the threshold (the manifest refuses a decrease that makes the order free).
        amount = draw(st.sampled_from([1, 50, 2000, 9900]))
        if by_amount:
            amount = min(amount, params["total_price"] - 1)
        params.update(is_decrease_money=True, decrease_amount=amount)
        if draw(st.booleans()):  # 上不封顶: only with an amount off (kinds/full_discount.py)
            params["is_amount_multiple" if by_amount else "is_item_multiple"] = True
    elif reward == "rate":
        params.update(is_discount=True, discount_rate=draw(st.sampled_from([1, 800, 955])))
    gift = draw(st.sampled_from([None, "name", "full"]))
    if gift is not None:
        params.update(is_send_gift=True, gift_name="赠品小样")
        if gift == "full":
            params.update(gift_id=int(ITEM_IDS[-1]), gift_url=f"https://item.taobao.com/item.htm?id={ITEM_IDS[-1]}")
    free_post = draw(st.sampled_from([None, "everywhere", "except"]))
    if reward == "neither" and gift is None and free_post is None:
        free_post = "everywhere"  # TOP refuses a 满就送 that gives nothing (benefit-missing)
    if free_post == "everywhere":
        params["is_free_post"] = True
    elif free_post == "except":
        params.update(is_free_post=True, exclude_area="650000*540000")
    level = draw(st.sampled_from([None, 0, 1, 2, 3, 4]))
    if level is not None:
        params.update(is_shop_member=True, shop_member_level=level)
    tag = draw(st.sampled_from(TAGS))
    if tag is not None:
        params.update(is_user_tag=True, user_tag=tag)
    return {"params": params, "items": items or []}


def _cover_all(form: str, value: int) -> dict[str, Any]:
    flags = {"decrease": ("is_cover_all_decrease_money", "cover_all_decrease_money"),
             "rate": ("is_cover_all_discount_rate", "cover_all_discount_rate"),
             "fix_price": ("is_cover_all_fix_price", "cover_all_fix_price")}
    flag, field = flags[form]
    rule: dict[str, Any] = {other: other == flag for other, _ in flags.values()}
    rule[field] = value
    return rule


@st.composite
def pool_stairs(draw: st.DrawFn) -> list[dict[str, Any]]:
    by_amount = draw(st.booleans())
    count = draw(st.integers(1, 3))
    thresholds = sorted(draw(st.lists(st.sampled_from([1000, 3000, 4950, 6000, 10_000] if by_amount else [1, 2, 3, 5]),
                                      min_size=count, max_size=count, unique=True)))
    stairs = []
    for number, threshold in enumerate(thresholds, start=1):
        stair: dict[str, Any] = {"number": number}
        stair.update({"is_amount": True, "amount": threshold} if by_amount else {"is_count": True, "count": threshold})
        form = draw(st.sampled_from(["decrease", "rate", "fix_price"]))
        value = {"decrease": draw(st.sampled_from([100, 500, 999])), "rate": draw(st.sampled_from([600, 800, 888])),
                 "fix_price": draw(st.sampled_from([990, 2500]))}[form]
        stair["cover_all_discount_rule"] = _cover_all(form, value)
        stairs.append(stair)
    return stairs


@st.composite
def pool_activities(draw: st.DrawFn) -> dict[str, Any]:
    start, end = draw(st.sampled_from(WINDOWS))
    stairs = draw(pool_stairs())
    params: dict[str, Any] = {
        "activity_name": draw(st.sampled_from(TITLES)),
        "description": draw(st.sampled_from(["生鲜商品池满减", "made in the console", "多行\n描述"])),
        "start_time": _wall_ms(start), "end_time": _wall_ms(end),
        "shop_ids": draw(st.sampled_from([["1001"], ["1001", "1002"], ["1002"], ["0042"]])),
        "terminals": draw(st.sampled_from([["1"], ["2"], ["1", "2"]])),
        "rule_stairs": stairs,
    }
    # At most one thing the manifest format cannot hold (issue 19.4; what export writes commented out):
    # an out_act_id that is no valid metadata.name (the reconciler names a pool by it), no member_limit
    # (a manifest always sends one), an exchange group (TOP shows it, not its number). A pool made in the
    # console without out_act_id is adopted by its id under a name export chooses: not lossy.
    made = draw(st.sampled_from([None, None, None, "no out_act_id", "no out_act_id", "bad out_act_id",
                                 "no member_limit", "exchange group"]))
    lossy = None if made == "no out_act_id" else made
    if made != "no out_act_id":
        params["out_act_id"] = "618 活动#1" if lossy == "bad out_act_id" else "fresh-618"
    if lossy != "no member_limit":
        params["member_limit"] = draw(st.sampled_from([-1, 1, 2]))
    limits = draw(st.dictionaries(st.sampled_from(["user_daily_limit_cnt", "user_limit_cnt", "total_limit_cnt", "daily_limit_cnt"]),
                                  st.sampled_from([-1, 1, 20, 5000]), max_size=4))  # -1: no limit (its page)
    if limits:
        params["limit_info"] = limits
    period = draw(st.sampled_from([None, {"weekdays": ["1", "2", "3", "4", "5"], "every_day_periods": ["07:00:00_09:00:00"]},
                                   {"weekdays": ["6", "7"]}, {"every_day_periods": ["03:00:00_05:00:00", "20:00:00_23:30:00"]}]))
    if period is not None:
        params["period_config"] = period
    priority = draw(st.sampled_from([None, 1, 10]))
    if priority is not None:
        params["priority_value"] = priority
    if len(stairs) == 1 and stairs[0].get("is_amount") and draw(st.booleans()):
        params["activity_rule"] = {"enable_multiple": True}  # 上不封顶: one 满元 stair only
    groups = draw(st.sampled_from([[], [{"number": 1, "logic_group_type": 1}], [{"number": 1, "logic_group_type": 1},
                                                                                 {"number": 3, "logic_group_type": 3}]]))
    if lossy == "exchange group":
        groups = [*groups, {"number": 2, "logic_group_type": 2, "can_extra_item_num": 1, "exchange_group_name": "换购区"}]
    if groups:
        params["logic_group_rules"] = groups
    skus = draw(st.lists(st.sampled_from(POOL_SKUS), max_size=4, unique=True))
    items = []
    for sku in skus:
        item: dict[str, Any] = {"sku_code": sku}
        price = draw(st.sampled_from([None, "fix_price", "discount_rate", "decrease_money"]))
        if price == "fix_price":
            item.update(is_fix_price=True, fix_price=draw(st.sampled_from([1, 990])))
        elif price == "discount_rate":
            item.update(is_discount_rate=True, discount_rate=draw(st.sampled_from([300, 850])))
        elif price == "decrease_money":
            item.update(is_decrease_money=True, decrease_money=draw(st.sampled_from([1, 5])))  # whole yuan (its page)
        if groups:
            group = draw(st.sampled_from([None] + [g["number"] for g in groups]))
            if group is not None:
                item["logic_group_number"] = group
        items.append(item)
    return {"params": params, "items": items, "lossy": lossy}


shops = st.fixed_dictionaries({
    # A few coupons, or more than one page of coupons.get (20).
    "coupons": st.one_of(st.lists(coupons(), max_size=4), st.lists(coupons(), min_size=21, max_size=23)),
    "item_discounts": st.lists(item_discounts(), max_size=3),
    "full_discounts": st.lists(full_discounts(), max_size=3),
    "pools": st.lists(pool_activities(), max_size=3),
})


# --------------------------------------------------------------------------- building a shop by hand


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Object params travel as JSON text (the SDKs' way); flat params as they are."""
    return {key: json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
            for key, value in params.items()}


def build_shop(top: RawTop, shop: dict[str, Any]) -> list[int]:
    """Makes the shop's promotions with raw TOP calls; returns the item-pool activity ids (TOP has no
    list call for them, so export is told them)."""
    for coupon in shop["coupons"]:
        assert "coupon_id" in top.ok(COUPON_ADD, coupon)
    for method, activity in [(ITEM_ADD, a) for a in shop["item_discounts"]] + [(MJS_ADD, a) for a in shop["full_discounts"]]:
        activity_id = top.ok(method, activity["params"])["activity_id"]
        if activity["items"]:
            for batch in range(0, len(activity["items"]), 50):  # range.add takes at most 50 ids (its page)
                top.ok(RANGE_ADD, {"activity_id": activity_id, "ids": ",".join(activity["items"][batch:batch + 50])})
    pool_ids = []
    for index, pool in enumerate(shop["pools"]):
        params = dict(pool["params"])
        if "out_act_id" in params:  # TOP refuses an out_act_id another live activity has
            params["out_act_id"] = f"{params['out_act_id']}-{index}"
        created = top.ok(POOL_CREATE, _json_params({"param": params}))
        assert created["is_success"] is True, created
        activity_id = int(created["data"])
        for item in pool["items"]:
            added = top.ok(POOL_ADD_ITEM, _json_params({"param0": item, "param1": {"activity_id": activity_id}}))
            assert added["result"]["success"] is True, added
        pool_ids.append(activity_id)
    return pool_ids


def exported_documents(out: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(out.rglob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc)
    return docs


def _coupon_seen(coupon: dict[str, Any]) -> tuple[int, int, str]:
    """What coupons.get shows of a coupon that tells it from another: denomination, threshold
    (absent on coupon.add = denomination + 1, its page), end."""
    denomination = coupon["denominations"]
    return denomination, coupon.get("condition", denomination + 1), coupon["end_time"]


def commented_out(out: Path) -> Counter[str]:
    """Kinds of the documents export wrote commented out (reconciler/kinds/exported.py: "# | kind: …")."""
    return Counter(line.removeprefix("# | kind:").strip() for path in sorted(out.rglob("*.yaml"))
                   for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("# | kind:"))


# --------------------------------------------------------------------------- the property


@pytest.fixture
def top(sandbox: Sandbox) -> Iterator[RawTop]:
    with httpx.Client() as http:
        yield RawTop(sandbox.server, http)


_runs = itertools.count()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(shop=shops)
def test_export_import_then_plan_has_no_change_and_sends_nothing(
    workspace: Workspace, sandbox: Sandbox, top: RawTop, shop: dict[str, Any]
) -> None:
    run = next(_runs)
    httpx.post(f"{sandbox.server.url}/_sandbox/reset").raise_for_status()
    workspace.env["RECONCILER_STATE"] = str(workspace.root / f"state-{run}.db")
    out = workspace.campaigns / "adopted"
    shutil.rmtree(out, ignore_errors=True)

    pool_ids = build_shop(top, shop)
    sandbox.clear_calls()

    # Every kind TOP can list, and the pools by id.
    ids = [arg for pool_id in pool_ids for arg in ("--id", f"ItemPoolActivity:{pool_id}")]
    exported = workspace.run("export", "--shop", SHOP, "--out", str(out), *ids, "--import")
    assert exported.exit_code == 0, exported.output
    assert sandbox.writes() == [], "export wrote to TOP"

    # Every object the shop holds is exported once: as a manifest, or — when the format cannot hold
    # it — written commented out (each line behind "# | ", never imported). Nothing silently dropped.
    # Two coupons TOP shows alike (denomination, threshold, end) are one manifest and a commented copy.
    coupons_alike = len(shop["coupons"]) - len({_coupon_seen(coupon) for coupon in shop["coupons"]})
    pools = Counter("lossy" if pool["lossy"] else "clean" for pool in shop["pools"])
    manifests = Counter(doc["kind"] for doc in exported_documents(out))
    assert manifests == +Counter({"ShopCoupon": len(shop["coupons"]) - coupons_alike, "ItemDiscount": len(shop["item_discounts"]),
                                  "FullDiscount": len(shop["full_discounts"]), "ItemPoolActivity": pools["clean"]}), \
        exported.output
    assert commented_out(out) == +Counter({"ShopCoupon": coupons_alike, "ItemPoolActivity": pools["lossy"]}), exported.output

    sandbox.clear_calls()
    planned = workspace.run("plan", str(workspace.campaigns), "--json", "--detailed-exitcode")
    assert planned.exit_code == 0, planned.output  # 0: no changes (2 would be changes present)
    assert json.loads(planned.stdout)["changes"] == [], planned.output
    assert sandbox.writes() == []

    # The one apply the README asks for sends nothing and records the baseline: drift then checks
    # every imported object and finds none.
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert sandbox.writes() == []
    drifted = workspace.run("drift", str(workspace.campaigns))
    assert drifted.exit_code == 0, drifted.output
    assert f"for {sum(manifests.values())} object(s)" in drifted.output and "not checked" not in drifted.output, drifted.output

    # Exported again, the imported objects are managed now: each is skipped and said so.
    again = workspace.run("export", "--shop", SHOP, "--out", str(workspace.root / f"again-{run}"), *ids)
    assert again.exit_code == 0, again.output
    imported = sum(manifests.values())
    assert f"exported 0, skipped {imported} (already managed)" in again.output, again.output

    validated = workspace.run("validate", str(workspace.campaigns))
    assert validated.exit_code == 0, validated.output
    rendered = workspace.run("render", str(out))
    assert rendered.exit_code == 0, rendered.output


def test_listing_snapshot_pins_what_is_on_sale_and_plans_no_change(workspace: Workspace, sandbox: Sandbox, top: RawTop) -> None:
    """export --listing snapshot (issue 19.5), once and not in the property: it reads the whole
    catalogue (2,000 items), seconds per run. Items the seller took off sale by hand stay off."""
    delisted = ITEM_IDS[:3]
    for item_id in delisted:
        top.call(DELIST, {"num_iid": item_id})  # one already in the warehouse is refused: off sale either way
    out = workspace.campaigns / "adopted"
    sandbox.clear_calls()
    exported = workspace.run("export", "--shop", SHOP, "--out", str(out), "--listing", "snapshot", "--import")
    assert exported.exit_code == 0, exported.output
    (window,) = [doc for doc in exported_documents(out) if doc["kind"] == "ListingWindow"]
    assert window["spec"]["items"] and not set(delisted) & set(window["spec"]["items"])

    planned = workspace.run("plan", str(workspace.campaigns), "--json", "--detailed-exitcode")
    assert planned.exit_code == 0, planned.output
    assert json.loads(planned.stdout)["changes"] == []
    assert sandbox.writes() == []
