"""Jinja2 manifests: loops over shops, a shared stair table, strict variables, errors that point at
the template line, `reconciler render`, and plans that link changes to template lines."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from reconciler.errors import ManifestError, Problem
from reconciler.manifest import find_manifest_files, load_manifests, render_manifests
from reconciler.manifest.templates import load_vars
from reconciler.sandbox.server import OTHER_SESSION
from tests.conftest import Sandbox, Workspace

SHOPS = """\
apiVersion: campaigns/v1
kind: Shop
metadata: {name: demo-shop}
---
apiVersion: campaigns/v1
kind: Shop
metadata: {name: other-shop}
spec:
  env: {session: TOP_OTHER_SHOP_SESSION}
"""

VARS = """\
window: {start: "2027-09-01T00:00:00+08:00", end: "2027-09-08T00:00:00+08:00"}
stairs:
  - {spend: "39.00", minus: "5.00"}
  - {spend: "69.00", minus: "12.00"}
shops:
  demo-shop: {categories: [fruit, dairy]}
  other-shop:
    categories: [meat]
    stairs: [{spend: "10.00", minus: "1.00"}]
"""

POOLS = """\
# one pool per shop and category
{% for shop, settings in shops.items() %}
{% for category in settings.categories %}
---
apiVersion: campaigns/v1
kind: ItemPoolActivity
metadata:
  name: {{ category }}-pool
  shop: {{ shop }}
spec:
  title: {{ category }} sale
  description: one pool per category
  window: {start: "{{ window.start }}", end: "{{ window.end }}"}
  shop_ids: ["1001"]
  terminals: [app]
  stairs:
{% include "_stairs.yaml.j2" %}
  items:
    - {sku: "{{ category }}-1"}
{% endfor %}
{% endfor %}
"""

STAIRS = """\
{# the shared stair table; `settings` is the including template's shop #}
{% for stair in settings.stairs %}
    - when: {amount_at_least: "{{ stair.spend }}"}
      discount: {decrease: "{{ stair.minus }}"}
{% endfor %}
"""

MACROS = """\
{% macro stairs(table) %}
{% for stair in table %}
    - when: {amount_at_least: "{{ stair.spend }}"}
      discount: {decrease: "{{ stair.minus }}"}
{% endfor %}
{% endmacro %}
"""


def write_campaigns(root: Path, **files: str) -> Path:
    """campaigns/ with shops, vars, the pool template and its partial; `files` replace or add
    (a value of "" removes the file)."""
    campaigns = root / "campaigns"
    campaigns.mkdir(parents=True, exist_ok=True)
    contents = {"shops.yaml": SHOPS, "vars.yaml": VARS, "pools.yaml.j2": POOLS, "_stairs.yaml.j2": STAIRS}
    contents.update({name.replace("__", "."): text for name, text in files.items()})
    for name, text in contents.items():
        path = campaigns / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if text:
            path.write_text(text, encoding="utf-8")
        elif path.exists():
            path.unlink()
    return campaigns


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [number for number, line in enumerate(text.splitlines(), start=1) if needle in line]
    return lines[occurrence - 1]


def problems_of(paths: list[str]) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        load_manifests(paths)
    return caught.value.problems


# ---- rendering: loops, includes, macros, per-shop variables ----------------------------------------


def test_loop_over_shops_gives_one_activity_per_shop_and_category(tmp_path: Path) -> None:
    campaigns = write_campaigns(tmp_path)
    documents = load_manifests([str(campaigns)]).documents

    assert [(d.shop, d.name) for d in documents] == [
        ("demo-shop", "fruit-pool"), ("demo-shop", "dairy-pool"), ("other-shop", "meat-pool"),
    ]
    fruit, _, meat = documents
    assert fruit.spec["stairs"] == [
        {"when": {"amount_at_least": "39.00"}, "discount": {"decrease": "5.00"}},
        {"when": {"amount_at_least": "69.00"}, "discount": {"decrease": "12.00"}},
    ]
    # other-shop's own stair table replaces the shared one; everything else is shared
    assert meat.spec["stairs"] == [{"when": {"amount_at_least": "10.00"}, "discount": {"decrease": "1.00"}}]
    assert meat.spec["window"] == fruit.spec["window"]
    # every document is declared at the template line of its first key, not a rendered line
    template = str(campaigns / "pools.yaml.j2")
    assert {(d.file, d.line) for d in documents} == {(template, line_of(POOLS, "apiVersion"))}


def test_a_macro_shares_the_stair_table_like_an_include(tmp_path: Path) -> None:
    with_include = load_manifests([str(write_campaigns(tmp_path / "a"))]).documents
    macro_pools = POOLS.replace('{% include "_stairs.yaml.j2" %}', "{{ stairs(settings.stairs) }}")
    macro_pools = '{% from "macros.j2" import stairs %}\n' + macro_pools
    campaigns = write_campaigns(tmp_path / "b", pools__yaml__j2=macro_pools, macros__j2=MACROS, _stairs__yaml__j2="")
    with_macro = load_manifests([str(campaigns)]).documents
    assert [d.spec for d in with_macro] == [d.spec for d in with_include]


def test_partials_and_vars_are_not_manifests(tmp_path: Path) -> None:
    campaigns = write_campaigns(tmp_path)
    assert [p.name for p in find_manifest_files([str(campaigns)])] == ["pools.yaml.j2", "shops.yaml"]


def test_decimals_in_vars_stay_exact(tmp_path: Path) -> None:
    campaigns = write_campaigns(tmp_path, vars__yaml="rate: 0.6\nshops: {}\n")
    variables, problems = load_vars(campaigns)
    assert problems == []
    assert variables["rate"] == Decimal("0.6") and str(variables["rate"]) == "0.6"


def test_a_template_file_given_directly_finds_vars_in_an_enclosing_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_campaigns(tmp_path, pools__yaml__j2="", **{"autumn/pools__yaml__j2": POOLS})
    monkeypatch.chdir(tmp_path)
    [source] = render_manifests(["campaigns/autumn/pools.yaml.j2"])
    assert source.file == "campaigns/autumn/pools.yaml.j2"
    assert "name: meat-pool" in source.text  # vars came from campaigns/vars.yaml


def test_marks_never_change_what_is_rendered(tmp_path: Path) -> None:
    """Line tracking must be invisible: the text equals what plain Jinja renders, whitespace control included."""
    tricky = (
        "a: {{ 1 }}\n{% for x in [1, 2] -%}\n  - {{ x }}\n    y: {{ x }}\n{%- endfor %}\n"
        "b: |\n  {% if true %}kept{% endif %}\n{%- if true %}\n  c{% endif %}\n{% raw %}\n  {{ raw }}\n{% endraw %}\n"
        "  {{- ' lead' }}\n{# comment #}\n\tz: 1\n"
    )
    campaigns = write_campaigns(tmp_path, x__yaml__j2=tricky)
    ours = {source.file: source.text for source in render_manifests([str(campaigns)])}
    plain = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(campaigns), undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    variables, _ = load_vars(campaigns)
    for name in ("x.yaml.j2", "pools.yaml.j2"):
        assert ours[str(campaigns / name)] == plain.get_template(name).render(variables)


# ---- errors point at the template line -------------------------------------------------------------


def test_undefined_variable_names_template_line_and_variable(tmp_path: Path) -> None:
    campaigns = write_campaigns(tmp_path, pools__yaml__j2=POOLS.replace("window.end", "windw.end"))
    [problem] = problems_of([str(campaigns)])
    assert (problem.file, problem.line) == (str(campaigns / "pools.yaml.j2"), line_of(POOLS, "window:"))
    assert "'windw' is undefined" in problem.message
    assert "vars.yaml" in problem.message and "window" in problem.message  # says where variables come from


def test_undefined_variable_in_an_include_names_the_include_and_where_it_was_reached(tmp_path: Path) -> None:
    campaigns = write_campaigns(tmp_path, _stairs__yaml__j2=STAIRS.replace("stair.minus", "stair.discount"))
    [problem] = problems_of([str(campaigns)])
    assert (problem.file, problem.line) == (str(campaigns / "_stairs.yaml.j2"), line_of(STAIRS, "discount:"))
    assert "undefined value: 'dict object' has no attribute 'discount'" in problem.message
    assert f"reached from {campaigns / 'pools.yaml.j2'}:{line_of(POOLS, 'include')}" in problem.message


def test_schema_error_from_a_variable_points_at_the_template_line_and_says_which_document(tmp_path: Path) -> None:
    campaigns = write_campaigns(tmp_path, vars__yaml=VARS.replace('minus: "1.00"', 'minus: "-1.00"'))
    [problem] = problems_of([str(campaigns)])
    assert (problem.file, problem.line) == (str(campaigns / "_stairs.yaml.j2"), line_of(STAIRS, "discount:"))
    assert problem.path == "spec.stairs[0].discount.decrease"
    assert "in ItemPoolActivity 'meat-pool'" in problem.message  # the line rendered for several documents
    assert 'rendered as: discount: {decrease: "-1.00"}' in problem.message


def test_schema_error_on_a_literal_template_line_keeps_its_column(tmp_path: Path) -> None:
    campaigns = write_campaigns(tmp_path, pools__yaml__j2=POOLS.replace("  terminals: [app]", "  terminals: [app]\n  colour: red"))
    problems = problems_of([str(campaigns)])
    template = POOLS.replace("  terminals: [app]", "  terminals: [app]\n  colour: red")
    assert [(p.file, p.line, p.column) for p in problems] == [(str(campaigns / "pools.yaml.j2"), line_of(template, "colour"), 3)] * 3
    assert [p.message.split(" (in ")[1] for p in problems] == [
        "ItemPoolActivity 'fruit-pool')", "ItemPoolActivity 'dairy-pool')", "ItemPoolActivity 'meat-pool')",
    ]
    assert all("unknown field 'colour'" in p.message and "rendered as" not in p.message for p in problems)


def test_yaml_broken_by_a_variable_points_at_the_template_line(tmp_path: Path) -> None:
    template = POOLS.replace("  title: {{ category }} sale", "  title: {{ title }}")
    campaigns = write_campaigns(tmp_path, pools__yaml__j2=template, vars__yaml=VARS + 'title: "sale: 50% off"\n')
    [problem] = problems_of([str(campaigns)])
    assert (problem.file, problem.line) == (str(campaigns / "pools.yaml.j2"), line_of(template, "title:"))
    assert "YAML syntax error" in problem.message and "rendered as: title: sale: 50% off" in problem.message


def test_template_syntax_error_names_the_line(tmp_path: Path) -> None:
    campaigns = write_campaigns(tmp_path, pools__yaml__j2=POOLS.replace("{% endfor %}\n{% endfor %}", "{% endfor %}"))
    [problem] = problems_of([str(campaigns)])
    assert problem.file == str(campaigns / "pools.yaml.j2") and problem.line is not None
    assert "template syntax error" in problem.message and "endfor" in problem.message


def test_broken_vars_file_is_reported_at_its_line(tmp_path: Path) -> None:
    campaigns = write_campaigns(tmp_path, vars__yaml=VARS + "window: twice\n")
    [problem] = problems_of([str(campaigns)])
    assert (problem.file, problem.line) == (str(campaigns / "vars.yaml"), VARS.count("\n") + 1)
    assert "duplicate key 'window'" in problem.message

    campaigns = write_campaigns(tmp_path, vars__yaml="shops: [demo-shop]\n")
    [problem] = problems_of([str(campaigns)])
    assert problem.file == str(campaigns / "vars.yaml") and "shops must map each shop name" in problem.message


def test_semantic_error_through_the_cli_points_at_the_template(workspace: Workspace, sandbox: Sandbox) -> None:
    write_campaigns(workspace.root, vars__yaml=VARS.replace('end: "2027-09-08', 'end: "2027-08-08'))
    result = workspace.run("validate", str(workspace.campaigns))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    where = f"{workspace.campaigns / 'pools.yaml.j2'}:{line_of(POOLS, 'window:')}"
    assert f"{where}: spec.window.end: end 2027-08-08T00:00:00+08:00 must be after start" in result.output
    assert "(in ItemPoolActivity 'meat-pool'" in result.output
    assert sandbox.calls() == []


# ---- reconciler render -----------------------------------------------------------------------------


def test_render_prints_each_document_with_its_source_line(workspace: Workspace, sandbox: Sandbox) -> None:
    write_campaigns(workspace.root)
    template = workspace.campaigns / "pools.yaml.j2"
    result = workspace.run("render", str(template))
    assert result.exit_code == 0, result.output

    assert result.output.count(f"# source: {template}:{line_of(POOLS, 'apiVersion')}\n") == 3
    assert "{{" not in result.output and "{%" not in result.output
    documents = list(yaml.safe_load_all(result.output))
    assert [(d["metadata"]["shop"], d["metadata"]["name"]) for d in documents] == [
        ("demo-shop", "fruit-pool"), ("demo-shop", "dairy-pool"), ("other-shop", "meat-pool"),
    ]
    assert documents[2]["spec"]["stairs"] == [{"when": {"amount_at_least": "10.00"}, "discount": {"decrease": "1.00"}}]
    assert sandbox.calls() == []


def test_render_of_a_directory_includes_plain_manifests(workspace: Workspace) -> None:
    write_campaigns(workspace.root)
    result = workspace.run("render", str(workspace.campaigns))
    assert result.exit_code == 0, result.output
    assert f"# source: {workspace.campaigns / 'shops.yaml'}:1\n" in result.output
    assert len(list(yaml.safe_load_all(result.output))) == 5


def test_render_shows_output_that_is_not_valid_yaml(workspace: Workspace) -> None:
    """A reviewer needs to see the broken rendering; only validate/plan reject it."""
    template = POOLS.replace("  title: {{ category }} sale", "  title: {{ title }}")
    write_campaigns(workspace.root, pools__yaml__j2=template, vars__yaml=VARS + 'title: "sale: 50% off"\n')
    result = workspace.run("render", str(workspace.campaigns / "pools.yaml.j2"))
    assert result.exit_code == 0
    assert "  title: sale: 50% off\n" in result.output


def test_render_error_is_a_clear_message(workspace: Workspace) -> None:
    write_campaigns(workspace.root, pools__yaml__j2=POOLS.replace("{{ shop }}", "{{ shop_name }}"))
    result = workspace.run("render", str(workspace.campaigns))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"{workspace.campaigns / 'pools.yaml.j2'}:{line_of(POOLS, 'shop: {{')}: undefined variable: 'shop_name' is undefined" in result.output


# ---- plans link changes to template lines ----------------------------------------------------------


def test_plan_links_each_change_to_its_template_line_and_converges(
    workspace: Workspace, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_campaigns(workspace.root)
    workspace.env["TOP_OTHER_SHOP_SESSION"] = OTHER_SESSION
    monkeypatch.chdir(workspace.root)  # relative paths, as in a repository checkout
    source = f"campaigns/pools.yaml.j2:{line_of(POOLS, 'apiVersion')}"

    planned = workspace.run("plan", "campaigns", "--json", "--markdown", "comments", "--link-base", "https://example.test/blob/abc")
    assert planned.exit_code == 0, planned.output
    changes = json.loads(planned.stdout[: planned.stdout.rindex("}") + 1])["changes"]
    assert [(c["name"], c["source"]) for c in changes] == [
        ("dairy-pool", source), ("fruit-pool", source), ("meat-pool", source),
    ]
    markdown = (workspace.root / "comments" / "plan-1.md").read_text(encoding="utf-8")
    assert f"](https://example.test/blob/abc/campaigns/pools.yaml.j2#L{line_of(POOLS, 'apiVersion')})" in markdown

    assert workspace.run("apply", "campaigns", "--auto-approve").exit_code == 0
    sandbox.clear_calls()
    assert workspace.run("plan", "campaigns", "--detailed-exitcode").exit_code == 0
    assert sandbox.writes() == []


def test_the_repository_example_template_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    repo = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(repo)
    documents = [d for d in load_manifests(["campaigns"]).documents if d.file == "campaigns/category-pools.yaml.j2"]
    assert {d.name for d in documents} >= {"autumn-fruit", "autumn-dairy", "autumn-bakery"}
    assert len({json.dumps(d.spec["stairs"], default=str) for d in documents}) == 1  # one shared stair table
