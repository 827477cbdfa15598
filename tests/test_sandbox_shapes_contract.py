"""Every method the sandbox implements answers in TOP's two JSON shapes, as the shape specs say.

For each method of the sandbox REGISTRY, one successful call over real HTTP with ``simplify=true``
and one without, each checked by ``../shared/top-api/shapes/check_shape.py`` (its ``Checker``,
imported from there so the check stays outside our code) against the method's spec with our
overlay patched in (``reconciler/sandbox/shape_overlay.json``: the item-pool ``result.data``
fields the SDK spec types wrong, and the one method without an SDK spec). Any checker error fails.
Also: no bare array anywhere in a non-simplified answer, no list wrapper in a simplified one, and
``error_response`` in both shapes. The packaged evidence must be byte-identical to ../shared.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from reconciler.sandbox import DEMO_ALIMAMA_APP_KEY, DEMO_ALIMAMA_APP_SECRET
from reconciler.sandbox.methods import REGISTRY
from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, SandboxServer
from reconciler.sandbox.specs import overlay, sdk_shape_spec
from tests.sandbox_calls import GMT8, gmt8

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "top-api"
PACKAGED = REPO / "reconciler" / "sandbox" / "evidence"
NO_SHARED = f"{SHARED} is absent: the evidence checker and the originals live outside this repo"

ITEM_ID = 900_000_001
SKU_ITEM_ID = 900_000_002
ADZONE = 110550123456


# --------------------------------------------------------------------------- the checker


def _checker_module() -> ModuleType:
    path = SHARED / "shapes" / "check_shape.py"
    spec = importlib.util.spec_from_file_location("top_check_shape", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# What the overlay may change in an SDK spec, and nothing else (test_the_overlay_changes_only_...):
# MarketResult.data, typed int64 for all 73 wdk methods by the SDK's struct merge, is per method
# on the pages (evidence/methods/alibaba.wdk.marketing.itempool.*.json, CROSSCHECK.md).
DATA_PATCHES: dict[str, Any] = {
    "alibaba.wdk.marketing.itempool.queryactivity": {"struct": "ItemPoolActivity"},
    "alibaba.wdk.marketing.itempool.additem": {"struct": "ItemPoolSku"},
    "alibaba.wdk.marketing.itempool.deleteactivity": "bool",
    "alibaba.wdk.marketing.itempool.removeitem": "bool",
}
NO_SDK_SPEC = {"taobao.item.quantity.update"}  # its whole shape comes from its page, via the overlay


def checked_spec(method: str) -> dict[str, Any]:
    """The SDK spec with the overlay patched in, merged here by the test itself (field by field,
    structs the SDK lacks added), not by the sandbox's own code."""
    spec = copy.deepcopy(sdk_shape_spec(method)) or {"fields": {}, "types": {}}
    patch = overlay()["methods"].get(method, {})
    spec.setdefault("response_key", patch.get("response_key"))
    spec["fields"].update(patch.get("fields", {}))
    for struct, fields in patch.get("types", {}).items():
        spec["types"].setdefault(struct, {}).update(fields)
    assert spec["response_key"] == _response_key(method), f"{method}: no SDK spec and no overlay"
    return spec


def check(method: str, document: Any, simplify: bool) -> list[str]:
    checker = _checker_module().Checker(checked_spec(method), simplify)
    checker.check_document(document, success_only=False)
    # Warnings too (a field no spec knows, a null, an empty wrapper): the sandbox makes its answers
    # up, so it has no excuse for anything the specs do not describe.
    problems: list[str] = checker.errors + checker.warnings
    return problems


# --------------------------------------------------------------------------- calls


class Caller:
    def __init__(self, server: SandboxServer, http: httpx.Client, simplify: bool) -> None:
        self.server, self.http, self.simplify = server, http, simplify
        self.answers: list[tuple[str, Any]] = []

    def call(self, method: str, business: dict[str, Any] | None = None) -> Any:
        taoke = REGISTRY[method].taoke_app
        app_key, secret = (DEMO_ALIMAMA_APP_KEY, DEMO_ALIMAMA_APP_SECRET) if taoke else (DEMO_APP_KEY, DEMO_APP_SECRET)
        system = {"method": method, "app_key": app_key, "timestamp": gmt8(datetime.now(GMT8)), "format": "json",
                  "v": "2.0", "sign_method": "md5"}
        if REGISTRY[method].needs_session and not taoke:
            system["session"] = DEMO_SESSION
        if self.simplify:
            system["simplify"] = "true"
        body = {key: _encode(value) for key, value in (business or {}).items()}
        text = "".join(f"{k}{v}" for k, v in sorted({**system, **body}.items()) if v != "")
        system["sign"] = hashlib.md5(secret.encode() + text.encode() + secret.encode()).hexdigest().upper()
        response = self.http.post(self.server.gateway, params=system, data=body)
        assert response.status_code == 200
        document = response.json()
        self.answers.append((method, document))
        return document

    def ok(self, method: str, business: dict[str, Any] | None = None) -> dict[str, Any]:
        """The fields of a successful answer (unwrapped from <method>_response when not simplified)."""
        document = self.call(method, business)
        assert "error_response" not in document, (method, document)
        fields: dict[str, Any] = document if self.simplify else document[_response_key(method)]
        return fields

    def setup(self, path: str, body: dict[str, Any]) -> None:
        self.http.post(f"{self.server.url}{path}", json=body).raise_for_status()


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _response_key(method: str) -> str:
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


def as_list(value: Any) -> list[Any]:
    """A list in either shape: a bare array, or the wrapper holding it under its item name."""
    if isinstance(value, list):
        return value
    (items,) = value.values()
    assert isinstance(items, list)
    return items


def wall(days: float) -> str:
    return gmt8(datetime.now(GMT8) + timedelta(days=days))


def now_ms() -> int:
    return int(datetime.now(GMT8).timestamp() * 1000)


# --------------------------------------------------------------------------- one successful call of each method


def run_every_method(top: Caller) -> None:
    top.ok("taobao.time.get")
    token = json.loads(top.ok("taobao.top.auth.token.create", {"code": "sandbox-code-demo-shop"})["token_result"])
    top.ok("taobao.top.auth.token.refresh", {"refresh_token": token["refresh_token"]})
    _items(top)
    _coupons(top)
    _promotionmisc(top)
    _itempool(top)
    _taoke(top)


def _items(top: Caller) -> None:
    top.setup("/_sandbox/items", {"shop": "demo-shop", "items": [
        {"num_iid": ITEM_ID, "num": 5, "seller_cids": ["1", "2"]},
        {"num_iid": SKU_ITEM_ID, "skus": [{"sku_id": 1, "quantity": 3}, {"sku_id": 2, "quantity": 4}]},
    ]})
    fields = "approve_status,num_iid,title,num,price,seller_cids,modified"
    top.ok("taobao.items.onsale.get", {"fields": fields, "page_size": 5})
    top.ok("taobao.item.update.delisting", {"num_iid": ITEM_ID})
    top.ok("taobao.items.inventory.get", {"fields": fields, "page_size": 5})
    top.ok("taobao.item.update.listing", {"num_iid": ITEM_ID, "num": 7})
    top.ok("taobao.item.seller.get", {"fields": "num_iid,title,sku", "num_iid": SKU_ITEM_ID})
    top.ok("taobao.item.quantity.update", {"num_iid": SKU_ITEM_ID, "sku_id": 2, "quantity": 9})


def _coupons(top: Caller) -> None:
    coupon_id = top.ok("taobao.promotion.coupon.add", {"denominations": 10, "condition": 99, "end_time": wall(30)})["coupon_id"]
    top.ok("taobao.promotion.coupons.get", {"page_no": 1})
    # A failing buyer makes the answer carry its lists (failure_buyers, coupon_results).
    top.ok("taobao.promotion.coupon.send", {"coupon_id": coupon_id, "buyer_nick": "buyer-a,fail-b"})
    top.ok("taobao.promotion.coupon.sns.send", {"coupon_id": coupon_id, "open_uids": "uid-a,fail-uid"})


def _promotionmisc(top: Caller) -> None:
    item = {"name": "茶叶85折", "participate_range": 1, "start_time": wall(1), "end_time": wall(10),
            "is_discount": True, "discount_rate": 850}
    item_id = top.ok("taobao.promotionmisc.item.activity.add", item)["activity_id"]
    top.ok("taobao.promotionmisc.item.activity.update", {**item, "activity_id": item_id, "discount_rate": 800})
    top.ok("taobao.promotionmisc.item.activity.get", {"activity_id": item_id})
    top.ok("taobao.promotionmisc.item.activity.list.get", {"page_no": 1, "page_size": 10})
    top.ok("taobao.promotionmisc.activity.range.add", {"activity_id": item_id, "ids": f"{ITEM_ID},{SKU_ITEM_ID}"})
    top.ok("taobao.promotionmisc.activity.range.list.get", {"activity_id": item_id})
    top.ok("taobao.promotionmisc.activity.range.remove", {"activity_id": item_id, "ids": str(ITEM_ID)})
    top.ok("taobao.promotionmisc.activity.range.all.remove", {"activity_id": item_id})
    top.ok("taobao.promotionmisc.item.activity.delete", {"activity_id": item_id})
    mjs = {"name": "满100减10", "type": 1, "participate_range": 0, "start_time": wall(1), "end_time": wall(10),
           "is_amount_over": True, "total_price": 10000, "is_decrease_money": True, "decrease_amount": 1000}
    mjs_id = top.ok("taobao.promotionmisc.mjs.activity.add", mjs)["activity_id"]
    update = {key: value for key, value in mjs.items() if key != "type"}
    top.ok("taobao.promotionmisc.mjs.activity.update", {**update, "activity_id": mjs_id, "decrease_amount": 1500})
    top.ok("taobao.promotionmisc.mjs.activity.get", {"activity_id": mjs_id})
    top.ok("taobao.promotionmisc.mjs.activity.list.get", {"activity_type": 1, "page_no": 1, "page_size": 10})
    top.ok("taobao.promotionmisc.mjs.activity.delete", {"activity_id": mjs_id})


ITEM_POOL = "alibaba.wdk.marketing.itempool"


def item_pool_activity() -> dict[str, Any]:
    start = now_ms()
    return {
        "activity_name": "618商品池满30-12", "description": "618商品池活动", "out_act_id": "contract-618",
        "start_time": start, "end_time": start + 3 * 86_400_000,
        "shop_ids": ["123", "456"], "terminals": ["1", "2"], "member_limit": -1,
        "limit_info": {"user_limit_cnt": 2, "daily_limit_cnt": 100},
        "rule_stairs": [
            {"number": 1, "is_amount": True, "amount": 3000,
             "cover_all_discount_rule": {"is_cover_all_decrease_money": True, "cover_all_decrease_money": 1200}},
            {"number": 2, "is_count": True, "count": 3,
             "cover_all_discount_rule": {"is_cover_all_discount_rate": True, "cover_all_discount_rate": 800}},
        ],
        "logic_group_rules": [{"number": 1, "logic_group_type": 1}],
    }


def _itempool(top: Caller) -> None:
    activity_id = top.ok(f"{ITEM_POOL}.activity.create", {"param": item_pool_activity()})["data"]
    common = {"activity_id": activity_id}
    query = top.ok(f"{ITEM_POOL}.queryactivity", {"param0": common})["result"]
    assert query["success"] is True and query["data"]["activity_id"] == activity_id
    sku = {"sku_code": "6901234567890", "logic_group_number": 1, "is_discount_rate": True, "discount_rate": 800}
    top.ok(f"{ITEM_POOL}.additem", {"param0": sku, "param1": common})
    listed = top.ok(f"{ITEM_POOL}.queryitems", {"param": {**common, "page": {"page_size": 10, "current": 1}}})["result"]
    assert len(as_list(listed["item_pool_sku_list"])) == 1
    top.ok(f"{ITEM_POOL}.removeitem", {"param0": {"sku_code": sku["sku_code"]}, "param1": common})
    top.ok(f"{ITEM_POOL}.deleteactivity", {"param": common})


def _taoke(top: Caller) -> None:
    gift = {"adzone_id": ADZONE, "item_id": "220000000123", "total_num": 100, "name": "零食礼金5元",
            "user_total_win_num_limit": 1, "security_switch": True, "security_level": 0, "per_face": "5.00",
            "send_start_time": wall(1), "send_end_time": wall(4), "use_end_time_mode": 1, "use_end_time": "3"}
    rights_id = top.ok("taobao.tbk.dg.vegas.tlj.create", gift)["result"]["model"]["rights_id"]
    top.ok("taobao.tbk.dg.vegas.tlj.report", {"rights_id": rights_id, "adzone_id": ADZONE})
    top.ok("taobao.tbk.dg.vegas.tlj.stop", {"rights_id": rights_id, "adzone_id": ADZONE})


# --------------------------------------------------------------------------- shape walkers


def bare_arrays(value: Any, path: str = "$") -> list[str]:
    """Paths of arrays not directly inside a one-key list wrapper {"<item>": [...]}."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, list):
                if len(value) != 1:
                    found.append(f"{path}.{key}")
                for index, element in enumerate(item):
                    found += bare_arrays(element, f"{path}.{key}[{index}]")
            else:
                found += bare_arrays(item, f"{path}.{key}")
    elif isinstance(value, list):
        found.append(path)
    return found


def wrappers(value: Any, path: str = "$") -> list[str]:
    """Paths of objects that look like list wrappers: one key holding an array."""
    found: list[str] = []
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(next(iter(value.values())), list):
            found.append(path)
        for key, item in value.items():
            found += wrappers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, element in enumerate(value):
            found += wrappers(element, f"{path}[{index}]")
    return found


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def _answers(http: httpx.Client, simplify: bool) -> list[tuple[str, Any]]:
    with SandboxServer() as server:
        top = Caller(server, http, simplify)
        run_every_method(top)
        return top.answers


@pytest.fixture(scope="module")
def answers(http: httpx.Client) -> dict[bool, list[tuple[str, Any]]]:
    if not SHARED.is_dir():
        pytest.skip(NO_SHARED)
    return {simplify: _answers(http, simplify) for simplify in (True, False)}


@pytest.mark.parametrize("simplify", [True, False], ids=["simplified", "wrapped"])
def test_every_method_is_called_and_matches_its_spec(answers: dict[bool, list[tuple[str, Any]]], simplify: bool) -> None:
    called = {method for method, _ in answers[simplify]}
    assert called == set(REGISTRY), f"not called: {sorted(set(REGISTRY) - called)}"
    problems = [f"{method}: {error}" for method, document in answers[simplify] for error in check(method, document, simplify)]
    assert problems == []


def test_wrapped_answers_have_no_bare_arrays(answers: dict[bool, list[tuple[str, Any]]]) -> None:
    found = [f"{method}: {path}" for method, document in answers[False] for path in bare_arrays(document)]
    assert found == []
    wrapped_lists = [path for _, document in answers[False] for path in wrappers(document)]
    assert wrapped_lists, "the run should have produced wrapped lists"


def test_simplified_answers_have_no_wrappers(answers: dict[bool, list[tuple[str, Any]]]) -> None:
    found = [f"{method}: {path}" for method, document in answers[True] for path in wrappers(document)]
    assert found == []
    assert all(_response_key(method) not in document for method, document in answers[True])


@pytest.mark.parametrize("simplify", [True, False], ids=["simplified", "wrapped"])
def test_an_error_response_keeps_its_wrapper_in_both_shapes(http: httpx.Client, simplify: bool) -> None:
    if not SHARED.is_dir():
        pytest.skip(NO_SHARED)
    with SandboxServer() as server:
        top = Caller(server, http, simplify)
        for method, business in (
            ("taobao.promotionmisc.item.activity.get", {"activity_id": 424242}),  # code 15
            ("taobao.promotion.coupon.add", {"denominations": "ten", "end_time": wall(3)}),  # code 41
        ):
            document = top.call(method, business)
            assert list(document) == ["error_response"], document
            assert check(method, document, simplify) == []
            checker = _checker_module().Checker(checked_spec(method), simplify)
            checker.check_document(document, success_only=True)
            assert checker.errors  # it is an error, not a success


def test_the_in_body_item_pool_refusal_matches_its_spec_in_both_shapes(http: httpx.Client) -> None:
    if not SHARED.is_dir():
        pytest.skip(NO_SHARED)
    for simplify in (True, False):
        with SandboxServer() as server:
            top = Caller(server, http, simplify)
            result = top.ok(f"{ITEM_POOL}.queryactivity", {"param0": {"activity_id": 424242}})["result"]
            assert result == {"success": False, "error_code": "isv.activity-not-exist",
                              "message": "activity 424242 does not exist"}
            assert check(f"{ITEM_POOL}.queryactivity", top.answers[-1][1], simplify) == []


def test_the_checker_catches_a_wrong_shape() -> None:
    """Guards the guard: a wrapped answer with a bare list, or a simplified one with a wrapper, fails."""
    if not SHARED.is_dir():
        pytest.skip(NO_SHARED)
    method = f"{ITEM_POOL}.queryactivity"
    data = {"activity_id": 1, "terminals": [1, 2]}
    assert check(method, {_response_key(method): {"result": {"success": True, "data": data}}}, False)
    assert check(method, {"result": {"success": True, "data": {**data, "terminals": {"number": [1]}}}}, True)
    assert check(method, {"result": {"success": True, "data": 10001}}, True)  # the SDK's int64 is not what we answer


def test_the_overlay_changes_only_the_item_pool_data_fields_and_adds_the_rest() -> None:
    patched = overlay()["methods"]
    assert set(patched) == set(DATA_PATCHES) | NO_SDK_SPEC
    assert all(sdk_shape_spec(method) is None for method in NO_SDK_SPEC)
    for method, data in DATA_PATCHES.items():
        sdk = sdk_shape_spec(method)
        assert sdk is not None and sdk["types"]["MarketResult"]["data"] == "int64"  # the SDK's merge
        assert patched[method]["types"]["MarketResult"] == {"data": data}
        for struct, fields in patched[method]["types"].items():
            if struct == "MarketResult":
                continue
            known = sdk["types"].get(struct, {})
            changed = {name for name, kind in fields.items() if name in known and known[name] != kind}
            assert changed == set(), f"{method}: the overlay retypes SDK fields {struct}.{sorted(changed)}"


@pytest.mark.parametrize("kind", ["shapes", "methods"])
def test_packaged_evidence_is_byte_identical_to_shared(kind: str) -> None:
    if not SHARED.is_dir():
        pytest.skip(NO_SHARED)
    originals = sorted(path.name for path in (SHARED / kind).glob("*.json"))
    packaged = sorted(path.name for path in (PACKAGED / kind).glob("*.json"))
    assert packaged == originals
    different = [name for name in originals if (SHARED / kind / name).read_bytes() != (PACKAGED / kind / name).read_bytes()]
    assert different == []
