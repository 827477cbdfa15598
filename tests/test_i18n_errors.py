"""Errors, guardrail blocks, the price report and alerts in Chinese (issue 21.3): `--lang zh-CN`
turns what a person reads into Chinese while still naming file, line and field, item and floor;
TOP's and YAML's own words and every number stay as they are. English stays the default and is
checked byte for byte by the modules of each feature (test_manifest_errors, test_e2e_*, ...)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.engine.safety import SafetyOptions, threshold_violations
from reconciler.errors import ManifestError
from reconciler.i18n import ENGLISH, CHINESE, use_language
from reconciler.manifest import load_manifest_texts
from reconciler.manifest.schema import _message
from reconciler.manifest.schema_words import ALLOWED_TEXTS
from reconciler.model import Action, Call, Change, Plan, ResourceKey
from tests import test_alert_robots
from tests.conftest import Sandbox, Workspace
from tests.test_alert_robots import SECRET, Robot
from tests.test_e2e_broken_manifests import GOOD
from tests.test_e2e_item_pool import ADD, _sandbox_call, pool
from tests.test_e2e_price_guardrails import COUPON, FLOORS, FULL_DISCOUNT, item_discount, stock_shop

robots = test_alert_robots.robots  # the loopback DingTalk/Feishu/WeCom/Slack robots, as a fixture here

ZH = ("--lang", "zh-CN")
SHOP = "apiVersion: campaigns/v1\nkind: Shop\nmetadata: {name: demo-shop}\nspec: {}\n"


@pytest.fixture
def chinese() -> Iterator[None]:
    """In-process checks speak Chinese, and English is given back for the next test."""
    use_language(CHINESE)
    try:
        yield
    finally:
        use_language(ENGLISH)


def _problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as raised:
        load_manifest_texts([("shops.yaml", SHOP), ("pool.yaml", text)])
    return [str(problem) for problem in raised.value.problems]


# ---- manifest errors ----------------------------------------------------------------------------


def test_a_broken_manifest_is_explained_in_chinese_at_its_file_line_and_field(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    path = workspace.write("pool.yaml", GOOD.replace("  terminals: [app]", "  terminals: [app, kiosk]\n  colour: red")
                           .replace('decrease: "12.00"', 'decrease: "12.345"'))
    result = workspace.run(*ZH, "validate", str(workspace.campaigns))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "错误：配置清单中有 3 个问题；没有向 TOP 发送任何调用" in result.output, result.output
    assert f"{path}:11:20: spec.terminals[1]: 'kiosk' 不是可选值之一：app, pos" in result.output
    assert f"{path}:12:3: spec.colour: 未知字段 'colour'；允许的字段：title," in result.output
    assert (f'{path}:17:18: spec.stairs[0].discount.decrease: "12.345" 不符合要求：加引号的金额（元），最多两位小数'
            in result.output)
    assert "problem(s)" not in result.output and "unknown field" not in result.output
    assert sandbox.calls() == []


@pytest.mark.usefixtures("chinese")
def test_schema_findings_are_worded_from_the_validator_kind() -> None:
    problems = _problems(GOOD.replace("title: 满30减12", "title: [1]").replace("  shop: demo-shop", "  shop: nowhere")
                         .replace("  stairs:\n", "  stairs: []\n  old_stairs:\n"))
    assert "pool.yaml:5:3: metadata.shop: 未知店铺 'nowhere'；已声明的店铺：demo-shop" in problems
    assert "pool.yaml:7:3: spec.title: 应为字符串，实际是列表；允许：1 到 64 个字符" in problems
    assert any(p.startswith("pool.yaml:14:3: spec.stairs: 空列表 不符合要求：至少一个满减档位") for p in problems), problems
    missing = _problems(GOOD.replace("kind: ItemPoolActivity\n", ""))
    assert missing == ["pool.yaml:1:1: kind: 缺少必填字段 'kind'"]
    # jsonschema's own English never comes through, whatever the rule (multipleOf: no schema of ours uses it)
    [error] = Draft202012Validator({"multipleOf": 3}).iter_errors(4)
    assert _message(error) == "4 不符合规则 multipleOf：3"
    [error] = Draft202012Validator({"minItems": 2}).iter_errors([1])
    assert _message(error) == "含 1 项的列表 至少需要列出 2 项"


@pytest.mark.usefixtures("chinese")
def test_yaml_syntax_errors_keep_pyyaml_words_inside_a_chinese_frame() -> None:
    [problem] = _problems(GOOD.replace('  shop_ids: ["1001"]', '  shop_ids: ["1001"'))
    assert problem.startswith("pool.yaml:11:3: YAML 语法错误：did not find expected ',' or ']'")
    assert "位于第 10 行第 13 列" in problem


def test_every_x_allowed_text_of_the_schemas_is_marked_for_translation() -> None:
    texts: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "x-allowed":
                    texts.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for file in resources.files("reconciler.schemas").iterdir():
        if file.name.endswith(".json"):
            walk(json.loads(file.read_text(encoding="utf-8")))
    assert texts, "no schema read"
    assert sorted(texts - set(ALLOWED_TEXTS)) == [], "add them to reconciler/manifest/schema_words.py"


# ---- guardrails and safety --------------------------------------------------------------------------


def test_a_plan_below_a_floor_is_blocked_in_chinese(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", FLOORS + "---\n" + item_discount("typo", "rate: 0.3", ["101", "102"]))
    planned = workspace.run(*ZH, "plan", str(workspace.campaigns))
    assert planned.exit_code == 1, planned.output
    assert "错误：计划会让商品价格低于价格底线；不会执行任何变更：" in planned.output, planned.output
    assert ("demo-shop 商品 101 龙井：最低到手价将降到 30.00，低于价格底线 70.00（PriceFloor/floors）（本计划前为 100.00）："
            "标价 100.00 − ItemDiscount/typo") in planned.output
    assert '如确属有意，请在 ItemDiscount/typo (' in planned.output
    assert 'metadata.allow_below_floor: "<原因>"' in planned.output
    assert "worst-case price" not in planned.output and "below its floor" not in planned.output
    applied = workspace.run(*ZH, "apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 1 and "没有发送任何调用" in applied.output
    assert sandbox.writes() == []


@pytest.mark.usefixtures("chinese")
def test_a_threshold_block_in_chinese() -> None:
    keys = [ResourceKey("demo-shop", "ShopCoupon", f"c{n}") for n in range(10)]
    delete = (Call("taobao.promotionmisc.activity.delete", {}),)
    plan = Plan(changes=tuple(Change(key, Action.DELETE, delete) for key in keys[:4]), managed_counts={"demo-shop": 10})
    [problem] = threshold_violations(plan, SafetyOptions())
    assert problem == ("店铺 demo-shop：本计划将删除受管理的 10 个对象中的 4 个（40%，超过 30% 的阈值）；"
                       "请检查配置清单，如确属有意，再用 --force 执行")


# ---- reconciler price ---------------------------------------------------------------------------------


def test_price_report_in_chinese(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", "---\n".join(
        [FLOORS, item_discount("tea-85", "rate: 0.85", ["101", "103"]), FULL_DISCOUNT, COUPON]))
    result = workspace.run(*ZH, "price", str(workspace.campaigns), "--at", "2027-11-05T10:00:00+08:00")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("2027-11-05 10:00:00 GMT+8 的最低到手价（当时可用的所有已声明促销叠加；") for line in lines)
    assert "店铺 demo-shop：3 个商品" in lines
    tea = lines.index("  商品 101 龙井：标价 100.00 → 最低到手价每件 72.50（一单 2 件）")
    assert lines[tea + 4] == "      价格底线 70.00（PriceFloor/floors）：余量 2.50"
    assert "      价格底线 24.50（PriceFloor/floors：标价的 50%）：余量 12.14" in lines
    assert "worst case" not in result.output and "margin" not in result.output
    # --json stays English, whatever the language
    machine = workspace.run(*ZH, "price", str(workspace.campaigns), "--at", "2027-11-05T10:00:00+08:00", "--json")
    assert machine.exit_code == 0 and "最低到手价" not in machine.stdout


# ---- alerts ---------------------------------------------------------------------------------------------


def test_a_guardrail_alert_reaches_a_dingtalk_robot_in_chinese(
    workspace: Workspace, sandbox: Sandbox, robots: dict[str, Robot]
) -> None:
    robot = robots["dingtalk"]
    robot.secret = SECRET
    stock_shop(sandbox)
    workspace.write("prices.yaml", FLOORS + "---\n" + item_discount("typo", "rate: 0.3", ["101"]))
    workspace.env.update({"RECONCILER_WEBHOOK_URL": robot.url, "RECONCILER_WEBHOOK_FORMAT": "dingtalk",
                          "RECONCILER_WEBHOOK_SECRET": SECRET, "RECONCILER_WEBHOOK_BACKOFF": "0.01",
                          "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "shop/campaigns",
                          "GITHUB_RUN_ID": "42", "GITHUB_SHA": "0123456789abcdef", "GITHUB_WORKFLOW": "plan",
                          "GITHUB_ACTOR": "xiaoming"})
    planned = workspace.run(*ZH, "plan", str(workspace.campaigns))
    assert planned.exit_code == 1, planned.output
    assert "告警未送达" not in planned.output and SECRET not in planned.output
    [body] = robot.bodies()
    markdown = body["markdown"]
    assert body["msgtype"] == "markdown" and markdown["title"] == "campaign-reconciler：安全护栏拦截"
    assert "plan 被安全检查拦截；没有向 TOP 发送任何调用（店铺：demo-shop）。" in markdown["text"]
    assert "商品 101 龙井：最低到手价将降到 30.00，低于价格底线 70.00" in markdown["text"]
    assert ("[CI 运行](https://github.com/shop/campaigns/actions/runs/42) · reconciler plan · "
            "shop/campaigns@0123456789ab · 工作流 plan · 由 xiaoming 触发") in markdown["text"]
    assert SECRET not in json.dumps(body, ensure_ascii=False)


def test_a_refused_chinese_alert_says_so_in_chinese(robots: dict[str, Robot], workspace: Workspace) -> None:
    robot = robots["dingtalk"]
    robot.script = ["refuse"]
    workspace.env.update({"RECONCILER_WEBHOOK_URL": robot.url, "RECONCILER_WEBHOOK_FORMAT": "dingtalk"})
    failed = workspace.run(*ZH, "alert", "--title", "没有审核过的计划", "--text", "main 分支没有执行")
    assert failed.exit_code == 1
    assert "错误：告警未送达：dingtalk 机器人拒收了「没有审核过的计划」告警：错误码 310000：keywords not in content" in failed.stderr
    [body] = robot.bodies()
    assert body["markdown"]["title"] == "campaign-reconciler：没有审核过的计划"


# ---- drift ----------------------------------------------------------------------------------------------


def test_drift_report_and_its_alert_in_chinese(workspace: Workspace, sandbox: Sandbox, robots: dict[str, Robot]) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    remote_id = int(json.loads(workspace.run("state", "show", "demo-shop/ItemPoolActivity/fresh").output)["remote_id"])
    _sandbox_call(workspace, ADD, {"param0": {"sku_code": "7777"}, "param1": {"activity_id": remote_id}})
    robot = robots["dingtalk"]
    workspace.env.update({"RECONCILER_WEBHOOK_URL": robot.url, "RECONCILER_WEBHOOK_FORMAT": "dingtalk"})

    checked = workspace.run(*ZH, "drift", str(workspace.campaigns))
    assert checked.exit_code == 2, checked.output
    assert "漂移：TOP 上有 1 个受管理的对象与上次执行的结果不同（在 git 之外被修改，例如在卖家后台）：" in checked.output
    assert "demo-shop/ItemPoolActivity/fresh" in checked.output and "下一次执行会修改它，恢复为上次执行的内容" in checked.output
    assert "检查了 1 个对象，其中 1 个有漂移（读取调用" in checked.output
    [body] = robot.bodies()
    assert body["markdown"]["title"] == "campaign-reconciler：发现漂移"
    assert "TOP 上有 1 个受管理的对象与上次执行的结果不同（店铺：demo-shop）" in body["markdown"]["text"]


# ---- a TOP refusal: TOP's words verbatim, our advice in Chinese ------------------------------------------


def test_a_refused_session_keeps_tops_words_and_advises_in_chinese(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", item_discount("tea-85", "rate: 0.85", ["101"]))
    workspace.env.update({"TOP_SESSION": "not-the-session", "TOP_MAX_RETRIES": "0"})
    result = workspace.run(*ZH, "plan", str(workspace.campaigns))
    assert result.exit_code == 1
    assert "错误：" in result.stderr and "code 27" in result.stderr  # TOP's code and message as TOP said them
    assert "建议：TOP 拒绝了卖家授权（session）：请检查 TOP_SESSION" in result.stderr
    assert "not-the-session" not in result.output
