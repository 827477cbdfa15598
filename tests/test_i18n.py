"""Chinese output (issue 21.3): `--lang zh-CN` or a Chinese locale prints what people read in
Chinese, from one gettext catalogue kept with Babel (reconciler/i18n.py, tools/i18n.py).

- every message marked in reconciler/ has a Chinese translation, not fuzzy, with the same
  {fields} (`python -m tools.i18n check`);
- the zh-CN plan of the demo shop (text and pull-request markdown, over real HTTP against the
  sandbox, as tests/golden_outputs.py makes the English ones), on an empty shop, its apply, and
  the plan after an edit, hold no untranslated English sentence (defined below, `english_runs`);
- the language comes from --lang, RECONCILER_LANG, then LANGUAGE/LC_ALL/LC_MESSAGES/LANG;
  --json stays English and byte-identical.
(The installed wheel carries the catalogue: tests/test_installed_wheel.py.)
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.i18n import _, current_language, language_from, use_language
from reconciler.kinds import KINDS
from reconciler.sandbox import SandboxServer
from bench.generate_shop import SIZES, generate, one_percent_edit, sandbox_items, write_manifests
from tests.golden_outputs import MOMENT, REPO, _apply_saved, _env, _normalised
from tests.test_calendar_browser import _parse_all
from tests.test_calendar_browser import chromium, mermaid_js  # noqa: F401  (the browser's fixtures)
from tools import i18n as catalogue_tool


@pytest.fixture(autouse=True)
def english_after() -> Iterator[None]:
    """The language is process-wide: whatever a test here chose, the next test starts in English."""
    yield
    use_language("en")


# ---- (a) the catalogue ------------------------------------------------------------------------


def test_every_marked_message_has_a_chinese_translation_with_the_same_fields() -> None:
    problems = catalogue_tool.problems()
    assert problems == [], "\n".join(problems[:60]) + (f"\n… and {len(problems) - 60} more" if len(problems) > 60 else "")


def test_the_checker_sees_a_changed_field() -> None:
    """The field check compares names: a translation that drops or renames one is a problem."""
    assert catalogue_tool.fields("{count} to create") == {"count"}
    assert catalogue_tool.fields("创建 {count} 项") == catalogue_tool.fields("{count} to create")
    assert catalogue_tool.fields("创建 {n} 项") != catalogue_tool.fields("{count} to create")
    # An English sentence copied as its own translation is a problem; fields alone may be their own.
    assert catalogue_tool._has_words("{count} to create") and not catalogue_tool._has_words("{days} {spans}")


# ---- (c) which language a run speaks --------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "env", "expected"),
    [
        (None, {}, "en"),
        (None, {"LANG": "zh_CN.UTF-8"}, "zh-CN"),
        (None, {"LANG": "C.UTF-8"}, "en"),
        (None, {"LANG": "C"}, "en"),
        (None, {"LANG": "en_US.UTF-8"}, "en"),
        (None, {"LANG": "zh_TW.UTF-8"}, "zh-CN"),  # the only Chinese catalogue; more use than English
        (None, {"LANG": "fr_FR.UTF-8"}, "en"),
        (None, {"LANG": "C.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh-CN"),
        (None, {"LANG": "zh_CN.UTF-8", "LC_ALL": "C.UTF-8"}, "en"),
        (None, {"LANG": "C.UTF-8", "LANGUAGE": "zh_CN:en"}, "zh-CN"),
        (None, {"LANG": "zh_CN.UTF-8", "RECONCILER_LANG": "en"}, "en"),
        ("en", {"LANG": "zh_CN.UTF-8", "LANGUAGE": "zh_CN"}, "en"),
        ("zh-CN", {"LANG": "C.UTF-8"}, "zh-CN"),
    ],
)
def test_language_from_the_option_then_the_environment(option: str | None, env: dict[str, str], expected: str) -> None:
    assert language_from(option, env) == expected


def _apply_refused(tmp_path: Path, *args: str, env: dict[str, str | None]) -> str:
    """A usage error of `apply`, one of the messages of cli/apply.py."""
    clean: dict[str, str | None] = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "RECONCILER_LANG": None}
    saved = tmp_path / "plan.json"
    saved.write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(cli, [*args, "apply", "--checksum-file", "x", str(saved)], env={**clean, **env})
    return result.output


@pytest.mark.parametrize(
    ("args", "env", "chinese"),
    [
        ((), {"LANG": "zh_CN.UTF-8"}, True),
        ((), {"LANG": "C.UTF-8"}, False),
        (("--lang", "en"), {"LANG": "zh_CN.UTF-8"}, False),
        (("--lang", "zh-CN"), {"LANG": "C.UTF-8"}, True),
        ((), {"LANG": "C.UTF-8", "RECONCILER_LANG": "zh-CN"}, True),
    ],
)
def test_the_cli_speaks_the_language_of_the_option_or_the_locale(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str | None], chinese: bool
) -> None:
    output = _apply_refused(tmp_path, *args, env=env)
    assert ("--checksum-file 取代 --checksum" in output) is chinese, output
    assert ("--checksum-file replaces --checksum" in output) is not chinese, output
    assert current_language() == "en"  # given back when the command ended


def test_an_unknown_language_is_refused_with_the_choices(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--lang", "fr", "version"])
    assert result.exit_code == 2 and "'fr' is not a language of the reconciler: en, zh-CN" in result.output, result.output


@pytest.mark.parametrize("written", ["zh-CN", "zh_CN", "zh_CN.UTF-8", "ZH-cn", "zh"])
def test_the_option_takes_chinese_written_as_a_locale(tmp_path: Path, written: str) -> None:
    output = _apply_refused(tmp_path, "--lang", written, env={"LANG": "C.UTF-8"})
    assert "--checksum-file 取代 --checksum" in output, output


# ---- (b) the zh-CN plan of the demo shop holds no English sentence -----------------------------------

# A word a Chinese text may hold as it is: names of things, not English sentences.
ALLOWED_WORDS = {
    *KINDS,  # kind names (ShopCoupon, …) are the manifests' own
    "TOP", "GMT", "ID", "id", "SKU", "QPS", "JSON", "YAML", "PR", "CI", "sqlite", "postgres", "reconciler",
    "campaign", "Mermaid", "prune",
}
# English even alone: a unit or a word that joins a sentence, never a name.
ALONE_ENGLISH = {"yuan", "fen", "and", "or", "of", "the", "to", "from", "with", "was", "is", "not", "no", "item",
                 "items", "order", "orders", "buyer", "buyers", "day", "days", "none", "yes", "ok", "shop", "project",
                 "gateway", "note", "warning", "why", "delist", "list", "stock", "coupon", "gift", "plan", "change",
                 "changes", "before", "after", "deleted", "create", "update", "replace", "delete", "part"}
_TOKEN = re.compile(r"[A-Za-z0-9_.\-/+%@#$'’]+")
_WORD = re.compile(r"[A-Za-z]+(?:['’][a-z]+)?")
# What sits between two words of one sentence: spaces and ASCII punctuation (a Chinese character,
# a number, a name with digits, a path or an allowed word ends the run).
_GAP = re.compile(r"[\s,;:()\"!?<>*]*")


def english_runs(text: str) -> list[str]:
    """Every untranslated English sentence (a run of two or more English words) in `text`.

    Not English, so removed first: the exact calls (a text plan's `N) method {json}` lines, the
    markdown's fenced blocks but for Mermaid's task and section names), inline `code`, URLs, JSON
    objects, HTML tags and GitHub's `> [!WARNING]` marker. A word is a token of letters only
    (an apostrophe inside allowed); a token with a digit, `_`, `-`, `.`, `/` (ids, resource names,
    manifest field names and paths, wire method names, GMT+8, 2027-11-01) is a name, not a word,
    and so is a word of ALLOWED_WORDS. Two words are of one run when only spaces and ASCII
    punctuation stand between them."""
    found: list[str] = []
    for line in _readable_lines(text):
        line = re.sub(r"`[^`]*`", " | ", line)
        line = re.sub(r"https?://\S+", " | ", line)
        line = re.sub(r"\{[^{}]*\}", " | ", line)
        line = re.sub(r"<[^<>]+>", " | ", line)
        line = line.replace("[!WARNING]", " | ")
        run: list[str] = []
        last_end = 0
        for match in _TOKEN.finditer(line):
            token = match.group(0).strip(".'’")
            is_word = bool(_WORD.fullmatch(token)) and token not in ALLOWED_WORDS and len(token) > 1 or token in {"a", "I"}
            joined = bool(run) and _GAP.fullmatch(line[last_end:match.start()]) is not None
            if is_word:
                if run and not joined:
                    _keep(run, found)
                    run = []
                run.append(token)
            else:
                _keep(run, found)
                run = []
            last_end = match.end()
        _keep(run, found)
    return found


def _keep(run: list[str], found: list[str]) -> None:
    if len(run) >= 2 or (run and run[0].lower() in ALONE_ENGLISH):
        found.append(" ".join(run))


def _readable_lines(text: str) -> Iterator[str]:
    fence: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else (stripped[3:].strip() or "code")
            continue
        if fence == "mermaid":
            yield from _mermaid_text(stripped)
        elif fence is None and not re.match(r"^\s+\d+\) [a-z0-9_.]+ ", line):
            yield line


def _mermaid_text(line: str) -> Iterator[str]:
    """The words Mermaid shows: titles, section names, task names (not its keywords or dates)."""
    keyword, _space, rest = line.partition(" ")
    if keyword in {"title", "section"}:
        yield rest
    elif keyword not in {"gantt", "dateFormat", "axisFormat", "todayMarker"}:
        yield line.split(" :", 1)[0]


def test_english_runs_finds_sentences_and_leaves_names() -> None:
    assert english_runs("new coupon: 20.00 yuan off orders") == ["new coupon", "yuan off orders"]
    assert english_runs("面额：5.00 yuan → 10.00 元") == ["yuan"]
    assert english_runs("店铺 demo-shop：ShopCoupon/vip-20-off-199 创建  (ROOT/demo/campaigns/coupons.yaml:14)") == []
    assert english_runs("       3) taobao.promotion.coupon.add {\"denominations\":5}") == []
    assert english_runs("原因：`spec.window.end` 已变，TOP 不能修改 ShopCoupon (GMT+8)") == []
    assert english_runs("```mermaid\ngantt\n    dateFormat YYYY-MM-DD HH:mm\n    before the window :done, 2027\n```") == [
        "before the window"]
    assert english_runs("```\ntaobao.x {\"a\": \"left alone\"}\n```") == []


@dataclass
class ZhRun:
    """What a Chinese team reads of one demo: each output's name and text."""

    outputs: dict[str, str]
    english: dict[str, str]  # runs in English around them


def _zh_plan(runner: CliRunner, name: str, campaigns: Path, root: Path, env: dict[str, str], gateway: str,
             *extra: str) -> Iterator[tuple[str, str]]:
    at = MOMENT.isoformat()
    text = runner.invoke(cli, ["--lang", "zh-CN", "plan", str(campaigns), "--at", at, *extra], env=env,
                         catch_exceptions=False)
    yield f"{name}.plan.txt", _normalised(text.output, root, gateway)
    markdown = root / f"markdown-{name}"
    runner.invoke(cli, ["--lang", "zh-CN", "plan", str(campaigns), "--at", at, "--markdown", str(markdown), *extra],
                  env=env, catch_exceptions=False)
    for page in sorted(markdown.iterdir()):
        yield f"{name}.markdown.{page.name}", _normalised(page.read_text(encoding="utf-8"), root, gateway)


def _edit_demo(campaigns: Path) -> None:
    """Updates, a replace, a moved window and a removed manifest (deleted with --prune)."""
    discounts = campaigns / "discounts.yaml"
    text = discounts.read_text(encoding="utf-8")
    text = text.replace("discount: {rate: 0.85}", "discount: {rate: 0.8}")
    text = text.replace('''  title: 双11满199减20
  level: shop                      # the threshold counts the whole order
  window: {start: "2027-11-01T00:00:00+08:00", end: "2027-11-12T00:00:00+08:00"}''', '''  title: 双11满199减20
  level: shop                      # the threshold counts the whole order
  window: {start: "2027-10-31T20:00:00+08:00", end: "2027-11-13T00:00:00+08:00"}''')
    discounts.write_text(text, encoding="utf-8")
    coupons = campaigns / "coupons.yaml"
    coupons.write_text(coupons.read_text(encoding="utf-8").replace('denomination: "5.00"', 'denomination: "10.00"'),
                       encoding="utf-8")
    (campaigns / "taoke.yaml").unlink()


@pytest.fixture(scope="module")
def zh_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZhRun]:
    root = tmp_path_factory.mktemp("zh-demo")
    server = SandboxServer(port=0)
    server.start()
    outputs: dict[str, str] = {}
    outputs_english: dict[str, str] = {}
    try:
        httpx.post(f"{server.url}/_sandbox/clock", json={"at": MOMENT.isoformat()}).raise_for_status()
        env = {**_env(server.gateway, root / "state.db"), "RECONCILER_LANG": "", "LANG": "C.UTF-8"}
        campaigns = root / "demo" / "campaigns"
        shutil.copytree(REPO / "campaigns", campaigns)
        (root / "demo" / "reconciler.toml").write_text("# i18n\n", encoding="utf-8")
        runner = CliRunner()
        outputs.update(_zh_plan(runner, "demo-empty", campaigns, root, env, server.gateway))
        saved = root / "saved-plan.json"
        runner.invoke(cli, ["--lang", "zh-CN", "plan", str(campaigns), "--at", MOMENT.isoformat(), "--out", str(saved)],
                      env=env, catch_exceptions=False)
        applied = runner.invoke(cli, ["--lang", "zh-CN", "apply", str(saved), "--auto-approve", "--parallelism", "1"],
                                env=env, catch_exceptions=False)
        assert applied.exit_code == 0, applied.output
        outputs["demo-apply.txt"] = _normalised(applied.output, root, server.gateway)
        outputs.update(_zh_plan(runner, "demo-converged", campaigns, root, env, server.gateway))
        _edit_demo(campaigns)
        outputs.update(_zh_plan(runner, "demo-edited", campaigns, root, env, server.gateway))
        outputs.update(_zh_plan(runner, "demo-pruned", campaigns, root, env, server.gateway, "--prune"))
        # The pull-request job speaks Chinese, the apply job English: the reviewed checksum holds.
        [checksum] = re.findall(r"计划校验和：(sha256:[0-9a-f]{64})", runner.invoke(
            cli, ["--lang", "zh-CN", "plan", str(campaigns), "--prune"], env=env, catch_exceptions=False).output)
        english_apply = runner.invoke(cli, ["apply", str(campaigns), "--prune", "--checksum", checksum, "--auto-approve"],
                                      env=env, catch_exceptions=False)
        outputs_english["demo-pruned.apply.txt"] = f"exit {english_apply.exit_code}\n{english_apply.output}"
        for name, output in outputs.items():  # to read when a run fails: ROOT/outputs/
            (root / "outputs").mkdir(exist_ok=True)
            (root / "outputs" / name).write_text(output, encoding="utf-8")
        yield ZhRun(outputs, outputs_english)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def zh_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZhRun]:
    """The small generated shop of the golden outputs (every kind, many items), empty and after
    its one-percent edit (updates, replaces, deletes), planned in Chinese."""
    root = tmp_path_factory.mktemp("zh-bench")
    server = SandboxServer(port=0)
    server.start()
    try:
        httpx.post(f"{server.url}/_sandbox/clock", json={"at": MOMENT.isoformat()}).raise_for_status()
        env = _env(server.gateway, root / "state.db")
        shop = generate(SIZES["tiny"], now=MOMENT)
        (root / "bench").mkdir()
        (root / "bench" / "reconciler.toml").write_text("# i18n\n", encoding="utf-8")
        httpx.post(f"{server.url}/_sandbox/items", json=sandbox_items(shop)).raise_for_status()
        campaigns = write_manifests(shop, root / "bench")
        runner = CliRunner()
        outputs = dict(_zh_plan(runner, "bench-empty", campaigns, root, env, server.gateway))
        _apply_saved(campaigns, root, env)
        write_manifests(one_percent_edit(shop), root / "bench")
        outputs.update(_zh_plan(runner, "bench-edited", campaigns, root, env, server.gateway, "--prune"))
        for name, output in outputs.items():  # to read when a run fails: ROOT/outputs/
            (root / "outputs").mkdir(exist_ok=True)
            (root / "outputs" / name).write_text(output, encoding="utf-8")
        yield ZhRun(outputs, {})
    finally:
        server.stop()


def test_the_zh_plan_of_the_demo_is_chinese(zh_demo: ZhRun) -> None:
    """Each output says its summary in Chinese (the runs really were in Chinese), and the edit made
    every sort of change the test means to read."""
    text = zh_demo.outputs
    assert "计划：创建 16 项" in text["demo-empty.plan.txt"], text["demo-empty.plan.txt"]
    assert "无需改动" in text["demo-converged.plan.txt"]
    assert "已执行" in text["demo-apply.txt"]
    edited = text["demo-edited.plan.txt"] + text["demo-pruned.plan.txt"]
    for verb in ("修改", "替换", "删除"):
        assert f": {verb}" in edited, edited
    assert "```mermaid" in text["demo-edited.markdown.plan-1.md"]


def test_a_plan_reviewed_in_chinese_is_applied_in_english_with_its_checksum(zh_demo: ZhRun) -> None:
    """The checksum covers what the plan does, not its words (engine/saved.py change_doing)."""
    applied = zh_demo.english["demo-pruned.apply.txt"]
    assert applied.startswith("exit 0\n") and "Applied 5 change(s)" in applied, applied


@pytest.mark.parametrize("shop", ["zh_demo", "zh_bench"])
def test_the_zh_plan_holds_no_english_sentence(shop: str, request: pytest.FixtureRequest) -> None:
    run: ZhRun = request.getfixturevalue(shop)
    untranslated = {
        f"{name}: {words!r}"
        for name, output in run.outputs.items()
        for words in english_runs(output)
    }
    assert not untranslated, f"{len(untranslated)} untranslated:\n" + "\n".join(sorted(untranslated))


def test_json_stays_english_and_byte_identical_under_a_chinese_locale(tmp_path: Path) -> None:
    """--json is for machines: the same document whatever --lang or LANG say."""
    server = SandboxServer(port=0)
    server.start()
    try:
        httpx.post(f"{server.url}/_sandbox/clock", json={"at": MOMENT.isoformat()}).raise_for_status()
        env = _env(server.gateway, tmp_path / "state.db")
        campaigns = tmp_path / "campaigns"
        shutil.copytree(REPO / "campaigns", campaigns)
        (tmp_path / "reconciler.toml").write_text("# i18n\n", encoding="utf-8")
        runner = CliRunner()
        command = ["plan", str(campaigns), "--at", MOMENT.isoformat(), "--json"]
        english = runner.invoke(cli, command, env=env, catch_exceptions=False)
        chinese = runner.invoke(cli, ["--lang", "zh-CN", *command], env={**env, "LANG": "zh_CN.UTF-8"},
                                catch_exceptions=False)
        # apply --json stopped before sending (no terminal to confirm on): its message too.
        refused = runner.invoke(cli, ["apply", str(campaigns), "--json"], env={**env, "LANG": "zh_CN.UTF-8"})
    finally:
        server.stop()
    assert english.exit_code == chinese.exit_code == 0
    assert json.loads(english.stdout)["changes"]
    assert chinese.stdout == english.stdout
    stopped = json.loads(refused.stdout)
    assert stopped["outcome"] == "not_approved" and stopped["message"].startswith("refusing to apply"), stopped
    assert english_runs(refused.stderr) != []  # the rest of the run spoke English as well


def test_a_message_is_translated_where_it_is_built() -> None:
    use_language("zh-CN")
    assert _("create") == "创建"
    use_language("en")
    assert _("create") == "create"


def test_zh_gantt_blocks_parse(zh_demo: ZhRun, chromium: str, mermaid_js: Path, tmp_path: Path) -> None:  # noqa: F811
    """Chinese task and section names are text to Mermaid's gantt grammar as the English ones are."""
    blocks = [block for name, output in sorted(zh_demo.outputs.items()) if name.endswith(".md")
              for block in re.findall(r"```mermaid\n(.*?)```", output, re.S)]
    assert len(blocks) >= 3
    tasks = [sum(1 for line in block.splitlines() if re.match(r"    (改动前|改动后|已删除) ", line)) for block in blocks]
    assert all(tasks)
    assert _parse_all(chromium, mermaid_js, blocks, tmp_path) == [f"ok gantt {count} bars" for count in tasks]
