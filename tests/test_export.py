"""`reconciler export` (issue 19.1, 19.2, 19.4, 19.5) through the sandbox over real HTTP: promotions
made with raw TOP calls (tests/sandbox_calls.RawTop, not the reconciler) are exported as manifests,
which validate, and with --import plan no change and no write. The round-trip property over
generated shops is tests/test_export_roundtrip.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler.manifest import load_manifests
from reconciler.sandbox.families.items import POOL_CODES
from tests.conftest import Sandbox, Workspace
from tests.pinned_clock import pinned
from tests.sandbox_calls import GMT8, OTHER_SESSION, RawTop

SHOP = "demo-shop"
POOL_SKUS = sorted(POOL_CODES[SHOP].values())


@pytest.fixture
def top(sandbox: Sandbox) -> Iterator[RawTop]:
    with httpx.Client() as http:
        yield RawTop(sandbox.server, http)


def _ms(wall: str) -> int:
    return int(datetime.strptime(wall, "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8).timestamp() * 1000)


def _pool(top: RawTop, **overrides: Any) -> int:
    params: dict[str, Any] = {
        "activity_name": "生鲜满30减12", "description": "made in the console", "out_act_id": "fresh-618",
        "start_time": _ms("2027-06-18 00:00:00"), "end_time": _ms("2027-06-21 00:00:00"),
        "shop_ids": ["1001"], "terminals": ["1", "2"], "member_limit": 1,
        "limit_info": {"user_limit_cnt": 2, "daily_limit_cnt": 100},
        "period_config": {"weekdays": ["6", "7"], "every_day_periods": ["07:00:00_09:00:00"]},
        "logic_group_rules": [{"number": 1, "logic_group_type": 1}],
        "rule_stairs": [{"number": 1, "is_amount": True, "amount": 3000, "cover_all_discount_rule": {
            "is_cover_all_decrease_money": True, "cover_all_decrease_money": 1200,
            "is_cover_all_discount_rate": False, "is_cover_all_fix_price": False}},
            {"number": 2, "is_amount": True, "amount": 6000, "cover_all_discount_rule": {
                "is_cover_all_decrease_money": False, "is_cover_all_fix_price": False,
                "is_cover_all_discount_rate": True, "cover_all_discount_rate": 850}}],
    }
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    created = top.ok("alibaba.wdk.marketing.itempool.activity.create", {"param": json.dumps(params, ensure_ascii=False)})
    activity_id = int(created["data"])
    for sku in POOL_SKUS[:2]:
        item = {"sku_code": sku, "logic_group_number": 1, "is_fix_price": True, "fix_price": 990}
        top.ok("alibaba.wdk.marketing.itempool.additem",
               {"param0": json.dumps(item), "param1": json.dumps({"activity_id": activity_id})})
    return activity_id


def _shop(top: RawTop) -> dict[str, str]:
    """One promotion of each listable kind, made as a seller's console would."""
    coupon = top.ok("taobao.promotion.coupon.add", {"denominations": 10, "condition": 99, "end_time": "2027-03-31 23:59:59"})
    discount = top.ok("taobao.promotionmisc.item.activity.add", {
        "name": "双11茶叶85折", "participate_range": 1, "start_time": "2027-11-01 00:00:00",
        "end_time": "2027-11-12 00:00:00", "is_discount": True, "discount_rate": 850})
    top.ok("taobao.promotionmisc.activity.range.add",
           {"activity_id": discount["activity_id"], "ids": "220000000002,220000000001"})
    full = top.ok("taobao.promotionmisc.mjs.activity.add", {
        "name": "Spring sale", "type": 2, "participate_range": 0, "start_time": "2027-03-08 09:30:15",
        "end_time": "2027-03-08 21:45:00", "is_amount_over": True, "total_price": 19900, "is_amount_multiple": True,
        "is_decrease_money": True, "decrease_amount": 2000, "is_free_post": True, "exclude_area": "650000*540000"})
    return {"coupon": str(coupon["coupon_id"]), "discount": str(discount["activity_id"]),
            "full": str(full["activity_id"])}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _plan(workspace: Workspace, *paths: str) -> dict[str, Any]:
    planned = workspace.run("plan", *paths, "--json")
    assert planned.exit_code == 0, planned.output
    data: dict[str, Any] = json.loads(planned.stdout)
    return data


def test_export_import_then_plan_shows_no_change(workspace: Workspace, sandbox: Sandbox, top: RawTop) -> None:
    ids = _shop(top)
    pool = _pool(top)
    sandbox.clear_calls()
    out = workspace.root / "adopted"  # outside campaigns/: export copies the Shop profile there
    result = workspace.run("export", "--shop", SHOP, "--out", str(out), "--id", f"ItemPoolActivity:{pool}",
                           "--listing", "snapshot", "--import")
    assert result.exit_code == 0, result.output
    assert sandbox.writes() == []
    assert sorted(p.name for p in out.iterdir()) == ["full-discount.yaml", "item-discount.yaml",
                                                    "item-pool-activity.yaml", "listing-window.yaml",
                                                    "shop-coupon.yaml", "shop.yaml"]
    assert sorted(result.stdout.split()) == sorted(str(p) for p in out.iterdir())  # stdout: the files only
    assert "exported 5, skipped 0 (already managed), lossy 0" in result.stderr
    assert "imported 5" in result.stderr
    assert "not listable: CouponGrant" in result.stderr and "not listable: TaokeCashGift" in result.stderr
    assert "--id ItemPoolActivity:ID" in result.stderr

    # The manifests' own words: yuan strings, 折 rates, ISO times with +08:00, names slug + id.
    [coupon] = _documents(out / "shop-coupon.yaml")
    assert coupon["metadata"] == {"name": f"coupon-10-off-99-{ids['coupon']}", "shop": SHOP}
    assert coupon["spec"] == {"denomination": "10.00", "order_at_least": "99.00",
                              "window": {"end": "2027-03-31T23:59:59+08:00"}}
    assert f"# ShopCoupon {ids['coupon']} on TOP" in (out / "shop-coupon.yaml").read_text(encoding="utf-8")
    [discount] = _documents(out / "item-discount.yaml")
    assert discount["metadata"]["name"] == f"item-discount-11-85-{ids['discount']}"  # the kind before a slug without letters
    assert discount["spec"] == {"title": "双11茶叶85折", "window": {"start": "2027-11-01T00:00:00+08:00",
                                                               "end": "2027-11-12T00:00:00+08:00"},
                                "discount": {"rate": 0.85}, "items": ["220000000001", "220000000002"]}
    [full] = _documents(out / "full-discount.yaml")
    assert full["metadata"]["name"] == f"spring-sale-{ids['full']}"
    assert full["spec"]["when"] == {"amount_at_least": "199.00"} and full["spec"]["no_ceiling"] is True
    assert full["spec"]["reward"] == {"decrease": "20.00", "free_shipping": {"except_areas": ["650000", "540000"]}}
    [pool_doc] = _documents(out / "item-pool-activity.yaml")
    assert pool_doc["metadata"]["name"] == "fresh-618"  # its out_act_id: the reconciler's name on TOP
    assert pool_doc["spec"]["stairs"] == [{"when": {"amount_at_least": "30.00"}, "discount": {"decrease": "12.00"}},
                                          {"when": {"amount_at_least": "60.00"}, "discount": {"rate": 0.85}}]
    assert pool_doc["spec"]["members"] == "members_only" and pool_doc["spec"]["limits"] == {"per_user": 2, "daily": 100}
    assert pool_doc["spec"]["items"] == [{"sku": sku} for sku in POOL_SKUS[:2]]
    assert "queryactivity does not return" in (out / "item-pool-activity.yaml").read_text(encoding="utf-8")
    [window] = _documents(out / "listing-window.yaml")
    assert window["spec"]["items"] and "on_sale" not in window["spec"]

    sandbox.clear_calls()
    assert _plan(workspace, str(out))["changes"] == []
    assert sandbox.writes() == []
    assert workspace.run("plan", str(out), "--detailed-exitcode").exit_code == 0
    assert workspace.run("validate", str(out)).exit_code == 0
    assert workspace.run("render", str(out)).exit_code == 0


def test_without_import_the_plan_shows_the_imports_to_make(workspace: Workspace, sandbox: Sandbox, top: RawTop) -> None:
    ids = _shop(top)
    sandbox.clear_calls()
    out = workspace.root / "adopted"
    result = workspace.run("export", "--shop", SHOP, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"  reconciler import ShopCoupon coupon-10-off-99-{ids['coupon']} {ids['coupon']} {out}\n" in result.stderr
    planned = workspace.run("plan", str(out))
    # The duplicate guard: each object exists on TOP unmanaged with exactly this content.
    assert planned.exit_code == 1
    assert f"reconciler import ShopCoupon coupon-10-off-99-{ids['coupon']} {ids['coupon']}" in planned.output
    assert sandbox.writes() == []
    # The commands export printed link them: then the plan is clean.
    for line in result.stderr.splitlines():
        if line.startswith("  reconciler import "):
            assert workspace.run(*line.split()[1:]).exit_code == 0, line
    assert _plan(workspace, str(out))["changes"] == []


def test_an_object_the_format_cannot_hold_is_commented_out_and_not_imported(
    workspace: Workspace, sandbox: Sandbox, top: RawTop
) -> None:
    pool = _pool(top, out_act_id="618 活动#1")  # the reconciler names a pool by its out_act_id: no valid name
    # -1 is "no limit" (activity.create's page), as a limit not written: exported as none, still clean.
    fine = _pool(top, out_act_id="kept-pool", limit_info={"user_limit_cnt": -1, "daily_limit_cnt": 5})
    out = workspace.campaigns / "adopted"  # inside campaigns/: the Shop profile is not copied
    result = workspace.run("export", "--shop", SHOP, "--out", str(out), "--id", f"ItemPoolActivity:{pool}",
                           "--id", f"ItemPoolActivity:{fine}", "--import")
    assert result.exit_code == 0, result.output
    assert "exported 1, skipped 0 (already managed), lossy 1" in result.stderr
    assert f"lossy: ItemPoolActivity {pool}: its out_act_id '618 活动#1' is not a valid metadata.name" in result.stderr
    assert "imported 1" in result.stderr
    text = (out / "item-pool-activity.yaml").read_text(encoding="utf-8")
    assert "NOT WRITTEN AS A MANIFEST" in text and "# | kind: ItemPoolActivity" in text
    [kept] = _documents(out / "item-pool-activity.yaml")
    assert kept["metadata"]["name"] == "kept-pool" and kept["spec"]["limits"] == {"daily": 5}
    assert not (out / "shop.yaml").exists()
    state = workspace.run("state", "list")
    assert str(fine) in state.output and str(pool) not in state.output
    assert _plan(workspace, str(workspace.campaigns))["changes"] == []


def test_a_pool_made_without_out_act_id_is_adopted_by_its_id(workspace: Workspace, sandbox: Sandbox, top: RawTop) -> None:
    """An activity made in the seller's console has no out_act_id (the reconciler's name on TOP): export
    names it by title slug + id and --import links that name to its id, so the plan is clean; a later
    edit plans only its own calls, and one that re-creates it warns what the new activity will lack."""
    pool = _pool(top, out_act_id=None, activity_name="Console pool")
    out = workspace.campaigns / "adopted"
    result = workspace.run("export", "--shop", SHOP, "--out", str(out), "--id", f"ItemPoolActivity:{pool}", "--import")
    assert result.exit_code == 0, result.output
    assert "exported 1, skipped 0 (already managed), lossy 0" in result.stderr and "imported 1" in result.stderr
    path = out / "item-pool-activity.yaml"
    [doc] = _documents(path)
    assert doc["metadata"]["name"] == f"console-pool-{pool}"
    assert "TOP shows no out_act_id" in path.read_text(encoding="utf-8")
    sandbox.clear_calls()
    assert _plan(workspace, str(workspace.campaigns))["changes"] == []
    assert sandbox.writes() == []

    # One more pool item: one additem, nothing else (no replace for the out_act_id TOP does not show).
    doc["spec"]["items"].append({"sku": POOL_SKUS[2]})
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    [change] = _plan(workspace, str(workspace.campaigns))["changes"]
    assert change["action"] == "update" and change["details"] == [f"+ item {POOL_SKUS[2]}"], change
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    assert [call["method"] for call in sandbox.writes()] == ["alibaba.wdk.marketing.itempool.additem"]
    assert _plan(workspace, str(workspace.campaigns))["changes"] == []

    # A new title re-creates it (TOP has no update): the plan warns that the new activity has only what
    # the manifest says of what TOP never showed (this one had a logic group, a period and item prices).
    doc["spec"]["title"] = "Console pool v2"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    [change] = _plan(workspace, str(workspace.campaigns))["changes"]
    assert change["action"] == "replace" and change["details"][0].startswith(f"WARNING: activity {pool} was made "
                                                                            "outside the reconciler"), change
    text = workspace.run("plan", str(workspace.campaigns))
    assert "logic groups, period, priority" in text.output and "is lost for buyers" in text.output
    sandbox.clear_calls()
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    created = [json.loads(call["params"]["param"]) for call in sandbox.writes()
               if call["method"] == "alibaba.wdk.marketing.itempool.activity.create"]
    assert [param["out_act_id"] for param in created] == [f"console-pool-{pool}"]
    # The activity the reconciler created is its own: a further edit warns no more.
    doc["spec"]["title"] = "Console pool v3"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    [change] = _plan(workspace, str(workspace.campaigns))["changes"]
    assert change["action"] == "replace" and not any("WARNING" in line for line in change["details"]), change


def test_ended_objects_are_left_out_unless_include_ended(workspace: Workspace, sandbox: Sandbox, top: RawTop) -> None:
    """TOP's lists keep promotions that ended; adopting them is clutter. 'Now' is the run's clock."""
    ids = _shop(top)  # the coupon ends 2027-03-31, the full discount 2027-03-08, the item discount 2027-11-12
    pool = _pool(top)  # ends 2027-06-21
    with pinned(datetime(2027, 4, 1, 12, 0, tzinfo=GMT8)):
        result = workspace.run("export", "--shop", SHOP, "--out", str(workspace.root / "a"),
                               "--id", f"ItemPoolActivity:{pool}", "--import")
        assert result.exit_code == 0, result.output
        assert "exported 2, skipped 0 (already managed), lossy 0 (written commented out, not imported), failed 0, " \
               "ended 2 (not exported)" in result.stderr, result.stderr
        assert (f"ended, not exported: ShopCoupon {ids['coupon']} ended at 2027-03-31T23:59:59+08:00 "
                "(--include-ended exports it)") in result.stderr
        assert f"ended, not exported: FullDiscount {ids['full']} ended at 2027-03-08T21:45:00+08:00" in result.stderr
        assert sorted(p.name for p in (workspace.root / "a").iterdir()) == ["item-discount.yaml", "item-pool-activity.yaml",
                                                                           "shop.yaml"]
        every = workspace.run("export", "--shop", SHOP, "--out", str(workspace.root / "b"), "--include-ended")
        assert every.exit_code == 0, every.output
        assert "exported 2, skipped 1 (already managed)" in every.stderr and "ended 0 (not exported)" in every.stderr
        assert sorted(p.name for p in (workspace.root / "b").iterdir()) == ["full-discount.yaml", "shop-coupon.yaml",
                                                                           "shop.yaml"]


OTHER_PROFILE = """\
apiVersion: campaigns/v1
kind: Shop
metadata: {name: other-shop}
spec:
  env: {app_key: TOP_APP_KEY, app_secret: TOP_APP_SECRET, session: TOP_OTHER_SESSION, gateway: TOP_GATEWAY}
"""


def test_shard_exports_each_of_its_shops_to_its_own_directory(workspace: Workspace, sandbox: Sandbox, top: RawTop) -> None:
    """--shard I/N (issue 20.1): one job of a fleet's matrix adopts its shops, each in DIR/SHOP/; the
    jobs of all shards together export every shop once. (demo-shop is in shard 0/2, other-shop in 1/2.)"""
    workspace.write("other-shop.yaml", OTHER_PROFILE)
    workspace.env["TOP_OTHER_SESSION"] = OTHER_SESSION
    mine = top.ok("taobao.promotion.coupon.add", {"denominations": 10, "condition": 99, "end_time": "2027-03-31 23:59:59"})
    theirs = top.ok("taobao.promotion.coupon.add", {"denominations": 20, "end_time": "2027-03-31 23:59:59"},
                    session=OTHER_SESSION)
    out = workspace.root / "fleet"
    for index, shop in enumerate(["demo-shop", "other-shop"]):
        result = workspace.run("export", "--shard", f"{index}/2", "--out", str(out), "--import")
        assert result.exit_code == 0, result.output
        assert f"shop {shop} → {out / shop}:" in result.stderr and result.stderr.count("→") == 1, result.stderr
        assert "imported 1" in result.stderr
    [coupon] = _documents(out / "demo-shop" / "shop-coupon.yaml")
    assert coupon["metadata"] == {"name": f"coupon-10-off-99-{mine['coupon_id']}", "shop": "demo-shop"}
    [coupon] = _documents(out / "other-shop" / "shop-coupon.yaml")
    assert coupon["metadata"] == {"name": f"coupon-20-off-21-{theirs['coupon_id']}", "shop": "other-shop"}
    assert (out / "other-shop" / "shop.yaml").exists()
    sandbox.clear_calls()
    assert _plan(workspace, str(out))["changes"] == []
    assert sandbox.writes() == []

    both = workspace.run("export", "--shop", "demo-shop", "--shop", "other-shop", "--out", str(workspace.root / "both"))
    assert both.exit_code == 0, both.output
    assert both.stderr.count("exported 0, skipped 1 (already managed)") == 2, both.stderr
    empty = workspace.run("export", "--shard", "0/3", "--out", str(workspace.root / "none"))
    assert empty.exit_code == 0 and "shard 0/3 holds none of the shops" in empty.stderr, empty.output
    by_id = workspace.run("export", "--shard", "0/2", "--out", str(workspace.root / "ids"), "--id", "ItemPoolActivity:1")
    assert by_id.exit_code == 1 and "--id names one shop's object" in by_id.stderr
    neither = workspace.run("export", "--out", str(workspace.root / "x"))
    assert neither.exit_code == 1 and "--shop NAME" in neither.stderr


def test_objects_already_managed_are_skipped(workspace: Workspace, sandbox: Sandbox, top: RawTop) -> None:
    _shop(top)
    first = workspace.run("export", "--shop", SHOP, "--out", str(workspace.root / "one"), "--import")
    assert first.exit_code == 0, first.output
    again = workspace.run("export", "--shop", SHOP, "--out", str(workspace.root / "two"), "--import")
    assert again.exit_code == 0, again.output
    assert "exported 0, skipped 3 (already managed)" in again.stderr
    assert "is already managed as demo-shop/ShopCoupon/coupon-10-off-99-" in again.stderr


def test_ids_name_what_top_cannot_list(workspace: Workspace, sandbox: Sandbox, top: RawTop) -> None:
    refused = workspace.run("export", "--shop", SHOP, "--out", str(workspace.root / "a"), "--kind", "ItemPoolActivity")
    assert refused.exit_code == 1
    assert "TOP cannot list ItemPoolActivity objects; name each with --id ItemPoolActivity:ID" in refused.stderr
    missing = workspace.run("export", "--shop", SHOP, "--out", str(workspace.root / "b"), "--id", "ItemPoolActivity:999")
    assert missing.exit_code == 1
    assert "failed: ItemPoolActivity 999: item-pool activity 999 does not exist" in missing.stderr
    window = workspace.run("export", "--shop", SHOP, "--out", str(workspace.root / "e"), "--kind", "ListingWindow")
    assert window.exit_code == 1 and "--listing snapshot writes one" in window.stderr
    floor = workspace.run("export", "--shop", SHOP, "--out", str(workspace.root / "f"), "--kind", "PriceFloor")
    assert floor.exit_code == 1 and "PriceFloor is no object on TOP" in floor.stderr
    bad = workspace.run("export", "--shop", SHOP, "--out", str(workspace.root / "c"), "--id", "Nothing:1")
    assert bad.exit_code == 1 and "not KIND:ID with a known kind" in bad.stderr
    unknown_shop = workspace.run("export", "--shop", "other", "--out", str(workspace.root / "d"))
    assert unknown_shop.exit_code == 1 and "no Shop profile of that name" in unknown_shop.stderr


def test_listing_snapshot_pins_what_is_on_sale(workspace: Workspace, sandbox: Sandbox, top: RawTop) -> None:
    out = workspace.root / "adopted"
    result = workspace.run("export", "--shop", SHOP, "--out", str(out), "--kind", "ShopCoupon", "--listing", "snapshot",
                           "--import")
    assert result.exit_code == 0, result.output
    [window] = _documents(out / "listing-window.yaml")
    on_sale = _on_sale(top)
    assert set(window["spec"]["items"]) == on_sale and on_sale
    sandbox.clear_calls()
    assert _plan(workspace, str(out))["changes"] == []
    assert sandbox.writes() == []
    loaded = load_manifests([str(out)])
    assert [doc.kind for doc in loaded.documents] == ["ListingWindow"]


def test_existing_files_are_never_overwritten(workspace: Workspace, sandbox: Sandbox) -> None:
    out = workspace.root / "adopted"
    out.mkdir()
    (out / "shop-coupon.yaml").write_text("# mine\n", encoding="utf-8")
    result = workspace.run("export", "--shop", SHOP, "--out", str(out))
    assert result.exit_code == 1 and "already exist" in result.stderr
    assert (out / "shop-coupon.yaml").read_text(encoding="utf-8") == "# mine\n"


def _on_sale(top: RawTop) -> set[str]:
    """The items on sale, as items.onsale.get lists them, page by page."""
    on_sale: set[str] = set()
    page = 1
    while True:
        answer = top.ok("taobao.items.onsale.get", {"fields": "num_iid", "page_no": page, "page_size": 200})
        items = answer.get("items") or []
        rows = items["item"] if isinstance(items, dict) else items
        on_sale |= {str(row["num_iid"]) for row in rows}
        if not rows or page * 200 >= int(answer["total_results"]):
            return on_sale
        page += 1


def test_a_value_the_manifests_refuse_makes_that_object_lossy(workspace: Workspace, sandbox: Sandbox, top: RawTop) -> None:
    """A rule no kind's export foresaw (here the schema's http(s) gift URL) is caught by loading each
    document alone before writing: that object is lost in the loader's words, the rest exported."""
    gift = top.ok("taobao.promotionmisc.mjs.activity.add", {
        "name": "gift", "type": 2, "participate_range": 0, "start_time": "2027-03-08 09:30:15",
        "end_time": "2027-03-08 21:45:00", "is_item_count_over": True, "item_count": 2, "is_send_gift": True,
        "gift_name": "小样", "gift_url": "taobao://item/1"})
    ids = _shop(top)
    out = workspace.root / "adopted"
    result = workspace.run("export", "--shop", SHOP, "--out", str(out), "--import")
    assert result.exit_code == 0, result.output
    assert f"lossy: FullDiscount {gift['activity_id']}: spec.reward.gift.url:" in result.stderr, result.stderr
    assert [doc["metadata"]["name"] for doc in _documents(out / "full-discount.yaml")] == [f"spring-sale-{ids['full']}"]
    assert "taobao://item/1" in (out / "full-discount.yaml").read_text(encoding="utf-8")  # written, commented out
    assert _plan(workspace, str(out))["changes"] == []


def test_names_units_and_yaml_of_an_exported_document() -> None:
    from decimal import Decimal

    from reconciler.kinds.exported import Exported, document_block, export_name, iso_from_top, rate, yuan_string

    assert export_name("Spring Sale 2027!", "1001", "item-discount") == "spring-sale-2027-1001"
    assert export_name("双11茶叶85折", "7", "item-discount") == "item-discount-11-85-7"
    assert export_name("限时", "7", "full-discount") == "full-discount-7"
    long = export_name("x" * 80, "123456789012", "coupon")
    assert len(long) <= 63 and long.endswith("-123456789012")
    assert yuan_string(1234) == "12.34" and yuan_string(Decimal(1)) == "0.01"
    assert rate(855) == Decimal("0.855") and rate(1) == Decimal("0.001")
    assert iso_from_top("2027-06-18 00:00:00") == "2027-06-18T00:00:00+08:00"
    obj = Exported("ItemDiscount", "9", "a-9", {"title": "# 不是注释", "discount": {"rate": rate(855)}})
    text = document_block(obj, SHOP, ["ItemDiscount 9 on TOP"])
    assert text.startswith("# ItemDiscount 9 on TOP\n")
    [doc] = load_manifests_text(text)
    assert doc["spec"] == {"title": "# 不是注释", "discount": {"rate": Decimal("0.855")}}
    lost = document_block(Exported("ItemDiscount", "9", "a-9", {}, lost=("both a rate and an amount",)), SHOP, [])
    assert all(line.startswith("#") for line in lost.splitlines()) and "both a rate and an amount" in lost


def load_manifests_text(text: str) -> list[dict[str, Any]]:
    """The YAML as the manifest loader reads it (numbers as Decimal, never float)."""
    from reconciler.manifest.yaml_source import parse_documents

    documents, problems = parse_documents(text, "x.yaml")
    assert not problems
    return [dict(doc.value) for doc in documents]


def test_ids_of_listable_kinds_export_that_object(workspace: Workspace, sandbox: Sandbox, top: RawTop) -> None:
    """--id works for every exportable kind; with --kind, only the kinds named are listed."""
    ids = _shop(top)
    out = workspace.root / "adopted"
    result = workspace.run("export", "--shop", SHOP, "--out", str(out), "--kind", "ItemDiscount",
                           "--id", f"ShopCoupon:{ids['coupon']}", "--id", "ShopCoupon:424242", "--import")
    assert result.exit_code == 1  # one id failed; the rest is written and linked
    assert "failed: ShopCoupon 424242: the shop has no coupon 424242 on TOP" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["item-discount.yaml", "shop-coupon.yaml", "shop.yaml"]
    assert "exported 2, skipped 0 (already managed), lossy 0" in result.stderr and "imported 2" in result.stderr
    planned = _plan(workspace, str(out))
    assert planned["changes"] == []
