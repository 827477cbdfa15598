"""Broken manifests: every Problem names the file, line, column, path and says what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError, Problem
from reconciler.manifest import load_manifest_texts, load_manifests

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"

SHOPS = """\
apiVersion: campaigns/v1
kind: Shop
metadata:
  name: demo-shop
"""

ACTIVITY = """\
apiVersion: campaigns/v1
kind: ItemPoolActivity
metadata:
  name: fresh-618
  shop: demo-shop
spec:
  title: 618商品池满30-12
  description: 满30减12
  window:
    start: "2026-06-18T00:00:00+08:00"
    end: "2026-06-21T00:00:00+08:00"
  shop_ids: ["123456"]
  terminals: [app, pos]
  period:
    weekdays: [mon, fri]
    daily: ["03:00-05:00"]
  limits: {per_user_daily: 20, per_user: 20, total: 20, daily: 10}
  stairs:
    - when: {amount_at_least: "30.00"}
      discount: {decrease: "12.00"}
  items:
    - {sku: "6901234", fix_price: "9.90"}
    - {sku: "6901235", rate: 0.6}
"""


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle` (keeps tests readable when fixtures move)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def column_of(text: str, needle: str) -> int:
    line = text.splitlines()[line_of(text, needle) - 1]
    return line.index(needle) + 1


def problems_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> list[Problem]:
    """Write `files` under campaigns/ and load with the default path; returns the reported problems."""
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        path = tmp_path / "campaigns" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError) as caught:
        load_manifests([])
    return caught.value.problems


def only_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, activity: str) -> Problem:
    problems = problems_for(tmp_path, monkeypatch, {"shops.yaml": SHOPS, "fresh.yaml": activity})
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


STAIRS = '  stairs:\n    - when: {amount_at_least: "30.00"}\n      discount: {decrease: "12.00"}\n'


def edit(old: str, new: str) -> str:
    assert old in ACTIVITY
    return ACTIVITY.replace(old, new)


def test_the_base_activity_is_valid() -> None:
    loaded = load_manifest_texts([("shops.yaml", SHOPS), ("fresh.yaml", ACTIVITY)])
    assert [d.name for d in loaded.documents] == ["fresh-618"]


# --- YAML level ---------------------------------------------------------------------------


def test_yaml_syntax_error_names_file_line_column_without_traceback() -> None:
    path = FIXTURES / "broken" / "syntax.yaml"
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(path)])
    [problem] = caught.value.problems
    assert problem.file == str(path)
    assert (problem.line, problem.column) == (8, 14)  # where the parser gave up
    assert problem.message.startswith("YAML syntax error: ")
    assert "flow sequence at line 7" in problem.message
    assert "Traceback" not in str(caught.value)


def test_duplicate_key_points_at_the_second_key() -> None:
    path = FIXTURES / "broken" / "duplicate-key.yaml"
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(path)])
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.column) == (str(path), 7, 3)
    assert problem.path == "spec.sign_method"
    assert problem.message == "duplicate key 'sign_method' (first at line 6)"


def test_key_that_yaml_reads_as_a_boolean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("  terminals: [app, pos]\n", "  terminals: [app, pos]\n  on: true\n")
    problem = only_problem(tmp_path, monkeypatch, text)
    assert problem.line == line_of(text, "  on: true")
    assert "quote it" in problem.message


def test_recursive_alias_is_a_problem_not_a_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit('  shop_ids: ["123456"]', '  shop_ids: &ids ["123456", *ids]')
    problems = problems_for(tmp_path, monkeypatch, {"shops.yaml": SHOPS, "fresh.yaml": text})
    assert any("recursive alias" in p.message for p in problems)


# --- schema level --------------------------------------------------------------------------


def test_unknown_field_points_at_its_key_and_lists_what_is_allowed() -> None:
    path = FIXTURES / "broken" / "unknown-field.yaml"
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(path)])
    [problem] = caught.value.problems
    assert (problem.line, problem.column, problem.path) == (7, 3, "spec.gatewey")
    assert problem.message == (
        "unknown field 'gatewey' (did you mean 'gateway'?); allowed: gateway, sign_method, credentials, env, taoke"
    )


def test_unknown_field_without_a_close_match(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("  name: fresh-618\n", "  name: fresh-618\n  foo: bar\n")
    problem = only_problem(tmp_path, monkeypatch, text)
    assert (problem.line, problem.column) == (line_of(text, "foo: bar"), 3)
    assert problem.path == "metadata.foo"
    assert problem.message == "unknown field 'foo'; allowed: name, shop, prevent_destroy, allow_below_floor"


def test_missing_stairs_points_at_the_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit(STAIRS, "")
    problem = only_problem(tmp_path, monkeypatch, text)
    assert problem.file == "campaigns/fresh.yaml"
    assert (problem.line, problem.column) == (line_of(text, "spec:"), 1)
    assert problem.path == "spec.stairs"
    assert problem.message == "missing required field 'stairs'"


def test_several_missing_fields_of_one_object_are_one_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = edit("  title: 618商品池满30-12\n  description: 满30减12\n", "")
    problem = only_problem(tmp_path, monkeypatch, text)
    assert (problem.line, problem.path) == (line_of(text, "spec:"), "spec")
    assert problem.message == "missing required fields 'title', 'description'"


def test_empty_stairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit(STAIRS, "  stairs: []\n")
    problem = only_problem(tmp_path, monkeypatch, text)
    assert (problem.line, problem.column, problem.path) == (line_of(text, "stairs: []"), 3, "spec.stairs")
    assert problem.message.startswith("an empty list is not allowed: at least one stair, e.g. - when:")


MONEY_RULE = 'a yuan amount as a quoted string with at most two decimals, e.g. "12.00"'


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ('"-1.00"', f'"-1.00" is not allowed: {MONEY_RULE}'),
        ('"12.345"', f'"12.345" is not allowed: {MONEY_RULE}'),
        ("12", f"expected a string, got a number (12); allowed: {MONEY_RULE}"),
        ("12.50", f"expected a string, got a number (12.50); allowed: {MONEY_RULE}"),
    ],
    ids=["negative", "three-decimals", "bare-int", "bare-decimal"],
)
def test_bad_money(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str, message: str) -> None:
    text = edit('discount: {decrease: "12.00"}', f"discount: {{decrease: {written}}}")
    problem = only_problem(tmp_path, monkeypatch, text)
    assert problem.path == "spec.stairs[0].discount.decrease"
    assert (problem.line, problem.column) == (line_of(text, "decrease:"), column_of(text, "decrease:"))
    assert problem.message == message


def test_rate_out_of_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("rate: 0.6}", "rate: 1.2}")
    problem = only_problem(tmp_path, monkeypatch, text)
    assert problem.path == "spec.items[1].rate"
    assert (problem.line, problem.column) == (line_of(text, "rate: 1.2"), column_of(text, "rate: 1.2"))
    assert problem.message == (
        "1.2 is not allowed: a discount rate above 0 and below 1 with at most three decimals,"
        " e.g. 0.6 for 6折 (40% off)"
    )


def test_unknown_weekday_points_at_the_element(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("weekdays: [mon, fri]", "weekdays: [mon, funday]")
    problem = only_problem(tmp_path, monkeypatch, text)
    assert problem.path == "spec.period.weekdays[1]"
    assert (problem.line, problem.column) == (line_of(text, "funday"), column_of(text, "funday"))
    assert problem.message == "'funday' is not one of: mon, tue, wed, thu, fri, sat, sun"


def test_enum_value_with_a_stray_space_shows_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("weekdays: [mon, fri]", "weekdays: [mon, 'fri ']")
    assert only_problem(tmp_path, monkeypatch, text).message.startswith("'fri ' is not one of: mon, tue")


def test_datetime_without_offset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit('start: "2026-06-18T00:00:00+08:00"', 'start: "2026-06-18T00:00:00"')
    problem = only_problem(tmp_path, monkeypatch, text)
    assert (problem.path, problem.line) == ("spec.window.start", line_of(text, "start:"))
    assert problem.message == (
        '"2026-06-18T00:00:00" is not allowed: an ISO 8601 date-time with an offset,'
        ' e.g. "2026-06-18T00:00:00+08:00"'
    )


def test_both_fix_price_and_rate_on_one_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit('{sku: "6901234", fix_price: "9.90"}', '{sku: "6901234", fix_price: "9.90", rate: 0.5}')
    problem = only_problem(tmp_path, monkeypatch, text)
    assert problem.path == "spec.items[0]"
    assert (problem.line, problem.column) == (line_of(text, "6901234"), column_of(text, "{sku: \"6901234\""))
    assert problem.message.endswith("is not allowed: at most one of fix_price, rate, decrease per item")


def test_exactly_one_discount_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit('discount: {decrease: "12.00"}', 'discount: {decrease: "12.00", rate: 0.9}')
    problem = only_problem(tmp_path, monkeypatch, text)
    assert problem.path == "spec.stairs[0].discount"
    assert "exactly one of: decrease, rate, fix_price, each_fix_price, cap_count, nth" in problem.message


def test_one_problem_per_bad_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A number where a name is expected breaks type, pattern and length at once: say it once.
    text = edit("  name: fresh-618", "  name: 618.5")
    problem = only_problem(tmp_path, monkeypatch, text)
    assert (problem.path, problem.message.split(";")[0]) == (
        "metadata.name",
        "expected a string, got a number (618.5)",
    )


def test_document_that_is_not_a_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    problems = problems_for(tmp_path, monkeypatch, {"shops.yaml": SHOPS, "list.yaml": "- a\n- b\n"})
    assert [(p.file, p.line, p.message.split(" with")[0]) for p in problems] == [
        ("campaigns/list.yaml", 1, "a manifest document must be a mapping")
    ]


# --- header and cross-document checks -------------------------------------------------------


def test_wrong_api_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("apiVersion: campaigns/v1", "apiVersion: campaigns/v2")
    problem = only_problem(tmp_path, monkeypatch, text)
    assert (problem.line, problem.column, problem.path) == (1, 1, "apiVersion")
    assert problem.message == "unsupported apiVersion 'campaigns/v2'; expected 'campaigns/v1'"


def test_unknown_kind_lists_known_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("kind: ItemPoolActivity", "kind: ItemPool")
    problem = only_problem(tmp_path, monkeypatch, text)
    assert (problem.line, problem.path) == (2, "kind")
    assert problem.message.startswith("unknown kind 'ItemPool'; known kinds: ")
    assert "ItemPoolActivity" in problem.message and "Shop" in problem.message


def test_duplicate_name_across_files_names_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    problems = problems_for(
        tmp_path, monkeypatch, {"shops.yaml": SHOPS, "a.yaml": ACTIVITY, "b/again.yaml": "\n\n" + ACTIVITY}
    )
    [problem] = problems
    assert problem.file == "campaigns/b/again.yaml"
    assert (problem.line, problem.path) == (line_of("\n\n" + ACTIVITY, "name: fresh-618"), "metadata.name")
    assert problem.message == (
        "duplicate ItemPoolActivity 'fresh-618' in shop 'demo-shop'; first declared at campaigns/a.yaml:1"
    )


def test_same_name_in_another_shop_is_fine(tmp_path: Path) -> None:
    other_shop = SHOPS.replace("demo-shop", "other-shop")
    other = ACTIVITY.replace("shop: demo-shop", "shop: other-shop")
    shops = SHOPS + "---\n" + other_shop
    loaded = load_manifest_texts([("s.yaml", shops), ("a.yaml", ACTIVITY), ("b.yaml", other)])
    assert [(d.shop, d.name) for d in loaded.documents] == [
        ("demo-shop", "fresh-618"),
        ("other-shop", "fresh-618"),
    ]


def test_unknown_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("shop: demo-shop", "shop: demo-shopp")
    problem = only_problem(tmp_path, monkeypatch, text)
    assert (problem.line, problem.column) == (line_of(text, "shop: demo-shopp"), 3)
    assert problem.path == "metadata.shop"
    assert problem.message == "unknown shop 'demo-shopp'; declared shops: demo-shop"


def test_unknown_shop_when_none_is_declared() -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest_texts([("fresh.yaml", ACTIVITY)])
    [problem] = caught.value.problems
    assert problem.message.startswith("unknown shop 'demo-shop'; declared shops: none")


def test_missing_path_is_named() -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifests(["no/such/dir"])
    [problem] = caught.value.problems
    assert (problem.file, problem.message) == ("no/such/dir", "no such file or directory")


def test_all_problems_of_all_files_are_reported_at_once_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken_b = edit("rate: 0.6}", "rate: 1.2}").replace("name: fresh-618", "name: other")
    problems = problems_for(
        tmp_path,
        monkeypatch,
        {
            "shops.yaml": SHOPS + "---\napiVersion: campaigns/v1\nkind: Shop\nmetadata: {name: demo-shop}\n",
            "a.yaml": edit("weekdays: [mon, fri]", "weekdays: [funday, fri]").replace("  foo", ""),
            "b.yaml": broken_b + "---\n" + edit("kind: ItemPoolActivity", "kind: Nope"),
            "c.yaml": "key: [unclosed\n",
        },
    )
    located = [(p.file, p.line, p.path) for p in problems]
    assert located == [
        ("campaigns/a.yaml", line_of(ACTIVITY, "weekdays"), "spec.period.weekdays[0]"),
        ("campaigns/b.yaml", line_of(broken_b, "rate: 1.2"), "spec.items[1].rate"),
        ("campaigns/b.yaml", len(broken_b.splitlines()) + 3, "kind"),
        ("campaigns/c.yaml", 2, ""),
        ("campaigns/shops.yaml", 8, "metadata.name"),
    ]
    assert "first declared at campaigns/shops.yaml:1" in problems[-1].message
    assert str(problems[0]).startswith(f"campaigns/a.yaml:{located[0][1]}:")


def test_one_of_reports_the_most_relevant_branch_only() -> None:
    from jsonschema import Draft202012Validator

    from reconciler.manifest.schema import _findings

    schema = {
        "type": "object",
        "properties": {
            "limit": {
                "oneOf": [
                    {"type": "string", "pattern": "^[0-9]+%$", "x-allowed": 'a percentage, e.g. "10%"'},
                    {"type": "integer", "minimum": 1},
                ]
            }
        },
    }
    [error] = Draft202012Validator(schema).iter_errors({"limit": "ten"})
    findings = list(_findings(error))
    assert [(f.path, f.message) for f in findings] == [
        (("limit",), '"ten" is not allowed: a percentage, e.g. "10%"')
    ]
