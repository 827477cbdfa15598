"""Loading valid manifests: values, marks, files found, shop profiles, and the schema files themselves."""

from __future__ import annotations

import gc
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from reconciler.errors import ManifestError, Problem
from reconciler.manifest import (
    SCHEMAS_DIR,
    Document,
    find_manifest_files,
    format_path,
    known_kinds,
    load_manifest_texts,
    load_manifests,
)
from reconciler.manifest import yaml_source
from reconciler.manifest.schema import kind_to_file_stem, validator_for
from reconciler.schemas import schema_files

DEMO = Path(__file__).parent / "fixtures" / "manifests" / "valid" / "demo.yaml"


@pytest.fixture
def demo() -> tuple[Document, ...]:
    return load_manifests([str(DEMO)]).documents


def test_happy_path_multi_document_file() -> None:
    loaded = load_manifests([str(DEMO)])
    assert list(loaded.shops) == ["demo-shop"]
    shop = loaded.shops["demo-shop"]
    assert shop.gateway == "http://127.0.0.1:8899/router/rest"
    assert shop.sign_method == "hmac-sha256"
    assert shop.env == {
        "app_key": "TOP_APP_KEY",
        "app_secret": "TOP_APP_SECRET",
        "session": "DEMO_SHOP_SESSION",  # overridden per key, the rest stay default
        "gateway": "TOP_GATEWAY",
    }
    assert (shop.source.file, shop.source.line, shop.source.shop) == (str(DEMO), 2, None)

    first, second = loaded.documents
    assert (first.kind, first.name, first.shop, first.api_version) == (
        "ItemPoolActivity", "fresh-618-30-12", "demo-shop", "campaigns/v1",
    )
    assert (first.file, first.line) == (str(DEMO), 11)
    assert first.spec["stairs"][0] == {
        "when": {"amount_at_least": "30.00"},
        "discount": {"decrease": "12.00"},
    }
    assert (second.name, second.line, second.metadata["prevent_destroy"]) == ("second-half-price", 35, True)


def test_relative_paths_stay_relative(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DEMO.parent)
    assert load_manifests(["demo.yaml"]).documents[0].file == "demo.yaml"


def test_decimals_come_from_the_source_text_never_float(demo: tuple[Document, ...]) -> None:
    rate = demo[0].spec["stairs"][1]["discount"]["rate"]
    assert type(rate) is Decimal and rate == Decimal("0.6")
    assert str(rate) == "0.6"  # via float it would be 0.59999999999999997779...
    shop = "apiVersion: campaigns/v1\nkind: Shop\nmetadata: {name: s}\n"
    [document] = load_manifest_texts([("x.yaml", shop), ("y.yaml", _activity_with_rate("0.333"))]).documents
    assert document.spec["items"][0]["rate"] == Decimal("0.333")
    assert document.spec["limits"]["total"] == 20 and type(document.spec["limits"]["total"]) is int


def _activity_with_rate(rate: str) -> str:
    return f"""\
apiVersion: campaigns/v1
kind: ItemPoolActivity
metadata: {{name: a, shop: s}}
spec:
  title: t
  description: d
  window: {{start: "2026-06-18T00:00+08:00", end: "2026-06-19T00:00+08:00"}}
  shop_ids: ["1"]
  terminals: [app]
  limits: {{total: 20}}
  stairs: [{{when: {{count_at_least: 1}}, discount: {{rate: {rate}}}}}]
  items: [{{sku: a1, rate: {rate}}}]
"""


def test_unquoted_timestamp_is_kept_as_its_source_text(demo: tuple[Document, ...]) -> None:
    start = demo[0].spec["window"]["start"]
    assert start == "2026-06-18T00:00:00+08:00" and type(start) is str


def test_marks_point_at_keys_and_list_elements(demo: tuple[Document, ...]) -> None:
    text = DEMO.read_text(encoding="utf-8").splitlines()
    document = demo[0]
    line, column = document.locate(("spec", "stairs", 1, "discount", "rate"))
    assert text[line - 1][column - 1:].startswith("rate: 0.6")
    line, column = document.locate(("spec", "stairs", 0))
    assert text[line - 1][column - 1:].startswith("when: {amount_at_least")
    line, column = document.locate(("spec", "period", "weekdays", 1))
    assert text[line - 1][column - 1:].startswith("fri]")
    # A path with no mark of its own (e.g. a missing field) falls back to its nearest ancestor.
    assert document.locate(("spec", "rule", "no_ceiling")) == document.locate(("spec", "rule"))


def test_document_problem_is_located_and_formatted(demo: tuple[Document, ...]) -> None:
    problem = demo[0].problem(("spec", "stairs", 1, "discount", "rate"), "too many decimals")
    line, column = demo[0].locate(("spec", "stairs", 1, "discount", "rate"))
    assert problem == Problem(str(DEMO), line, column, "spec.stairs[1].discount.rate", "too many decimals")


def test_format_path() -> None:
    assert format_path(("spec", "stairs", 0, "when")) == "spec.stairs[0].when"
    assert format_path(()) == ""
    assert format_path(("spec", "a.b")) == "spec['a.b']"


def test_anchors_aliases_and_merge_keys() -> None:
    text = """\
apiVersion: campaigns/v1
kind: Shop
metadata: {name: s}
spec:
  gateway: &gw https://gw.example/router/rest
  env:
    <<: {app_key: SHARED_KEY, app_secret: SHARED_SECRET}
    app_secret: S_SECRET
---
apiVersion: campaigns/v1
kind: Shop
metadata: {name: t}
spec:
  gateway: &gw https://gw.example/router/rest
  env: &env {app_key: T_KEY}
  extra: *env
"""
    with pytest.raises(ManifestError) as caught:
        load_manifest_texts([("shops.yaml", text)])
    # The alias use is located at its own key, not at the anchor it copies.
    assert [(p.line, p.path) for p in caught.value.problems] == [(16, "spec.extra")]

    profile = load_manifest_texts([("shops.yaml", text.split("---")[0])]).shops["s"]
    assert profile.gateway == "https://gw.example/router/rest"
    assert profile.env["app_key"] == "SHARED_KEY"  # merged in
    assert profile.env["app_secret"] == "S_SECRET"  # an explicit key beats the merged one
    assert profile.source.locate(("spec", "env", "app_secret")) == (8, 5)


def test_empty_documents_are_skipped() -> None:
    text = "---\n# only a comment\n---\napiVersion: campaigns/v1\nkind: Shop\nmetadata: {name: s}\n---\n"
    assert list(load_manifest_texts([("shops.yaml", text)]).shops) == ["s"]


def test_directories_are_scanned_recursively_sorted_skipping_vars_and_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ["campaigns/z.yaml", "campaigns/a/b/deep.yml", "campaigns/a/vars.yaml", "campaigns/vars.yaml",
                 "campaigns/.hidden/x.yaml", "campaigns/notes.txt", "campaigns/m.yaml", "other/one.yaml"]:
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text("", encoding="utf-8")
    assert find_manifest_files([]) == [
        Path("campaigns/a/b/deep.yml"),
        Path("campaigns/m.yaml"),
        Path("campaigns/z.yaml"),
    ]
    given = ["other/one.yaml", "campaigns/a"]
    assert find_manifest_files(given) == [Path("campaigns/a/b/deep.yml"), Path("other/one.yaml")]
    assert load_manifests([]).documents == ()  # empty files hold no documents


def test_no_paths_and_no_campaigns_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ManifestError, match="campaigns: no such file or directory"):
        find_manifest_files([])


def test_invalid_input_returns_nothing(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(DEMO.read_text(encoding="utf-8"), encoding="utf-8")
    bad = "apiVersion: campaigns/v1\nkind: Shop\nmetadata: {name: BAD}\n"
    (tmp_path / "bad.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(tmp_path)])
    assert [p.path for p in caught.value.problems] == ["metadata.name"]


def test_the_cycle_collector_is_back_on_after_loading_even_after_problems(tmp_path: Path) -> None:
    # Loading pauses it (speed); a run that stayed without it would never free cyclic garbage.
    (tmp_path / "bad.yaml").write_text("apiVersion: campaigns/v1\nkind: Shop\nmetadata: {name: BAD}\n", encoding="utf-8")
    with pytest.raises(ManifestError):
        load_manifests([str(tmp_path)])
    assert gc.isenabled()
    load_manifests([str(DEMO)])
    assert gc.isenabled()


# --- the YAML loader ------------------------------------------------------------------------


def test_c_loader_is_used_when_available(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    assert yaml_source.LOADER is expected
    used: list[Any] = []
    real = yaml.compose_all

    def spy(stream: str, Loader: Any) -> Any:  # noqa: N803 - PyYAML's own parameter name
        used.append(Loader)
        return real(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "compose_all", spy)
    load_manifests([str(DEMO)])
    assert used == [expected]


def test_pure_python_loader_gives_the_same_values_and_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = load_manifests([str(DEMO)])
    monkeypatch.setattr(yaml_source, "LOADER", yaml.SafeLoader)
    slow = load_manifests([str(DEMO)])
    assert slow == fast


# --- the schema files -----------------------------------------------------------------------


def test_known_kinds_are_the_schema_files() -> None:
    from reconciler.kinds import KINDS

    # Every kind module has its schema file and every schema file (but Shop) its kind module.
    assert set(known_kinds()) == set(KINDS) | {"Shop"}
    assert "ItemPoolActivity" in known_kinds()
    assert kind_to_file_stem("ItemPoolActivity") == "item-pool-activity"
    assert validator_for("Shop") is validator_for("Shop")  # built once


RULES_NEEDING_WORDS = ("pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS_DIR / name).read_text(encoding="utf-8"))
    return loaded


def _walk(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((where, node))
        for key, child in node.items():
            found += _walk(child, f"{where}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _walk(child, f"{where}/{index}")
    return found


# Every document schema, the kinds' and the Shop profile's (not the generated dispatcher).
@pytest.mark.parametrize("name", sorted(name for name in schema_files() if "/" not in name and name != "manifest.schema.json"))
def test_every_field_is_described_and_every_rule_explained(name: str) -> None:
    schema = _schema(name)
    Draft202012Validator.check_schema(schema)
    for where, node in _walk(schema):
        if "/properties/" in where and where.rsplit("/", 2)[-2] == "properties":
            target = node
            if "$ref" in node and "description" not in node:
                target = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
            assert "description" in target, f"{name}{where} has no description"
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{name}{where} allows unknown fields"
        if any(rule in node for rule in RULES_NEEDING_WORDS):
            assert "x-allowed" in node, f"{name}{where} has a rule without x-allowed text"


def test_editor_schema_dispatches_to_every_kind() -> None:
    editor = _schema("manifest.schema.json")
    kinds = set(known_kinds())
    assert set(editor["properties"]["kind"]["enum"]) == kinds
    refs = {branch["then"]["$ref"] for branch in editor["allOf"]}
    assert refs == {f"{kind_to_file_stem(kind)}.schema.json" for kind in kinds}

    # Each file is registered under its $id, as a tool resolving by $id would find it.
    registry: Registry = Registry().with_resources(
        (_schema(ref)["$id"], Resource.from_contents(_schema(ref))) for ref in refs
    )
    validator = Draft202012Validator(editor, registry=registry)
    documents, _ = yaml_source.parse_documents(DEMO.read_text(encoding="utf-8"), str(DEMO))
    for source in documents:
        document = json.loads(json.dumps(source.value, default=float))  # as an editor sees it: plain JSON
        assert list(validator.iter_errors(document)) == []
    bad = {"apiVersion": "campaigns/v1", "kind": "Shop", "metadata": {"name": "s"}}
    bad["spec"] = {"sign_method": "sha1"}
    assert [list(e.absolute_path) for e in validator.iter_errors(bad)] == [["spec", "sign_method"]]
