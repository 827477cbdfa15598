"""The mark index (path -> line, column) is worked out only when a problem needs it, and then
gives exactly the marks of the first parse: nested lists and mappings, aliases, merge keys, several
documents per file, documents after empty ones and before a syntax error."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from reconciler.errors import ManifestError
from reconciler.manifest import load_manifest_texts, yaml_source
from reconciler.manifest.document import FieldPath, Mark
from reconciler.manifest.yaml_source import parse_documents

NESTED = """\
---
---
top:
  list:
    - {a: 1, b: [x, y]}
    - - deep
      - {c: 2}
  defaults: &defaults
    d: 3
    e: [4]
  merged:
    <<: *defaults
    own: 5
  aliased: *defaults
---
second: [1, 2]
"""


def _compose_count(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = yaml.compose_all

    def counting(stream: str, Loader: Any) -> Any:
        calls[0] += 1
        return real(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "compose_all", counting)
    return calls


def _at(text: str, mark: Mark) -> str:
    line, column = mark
    return text.splitlines()[line - 1][column - 1:]


def test_marks_of_nested_lists_and_mappings() -> None:
    documents, problems = parse_documents(NESTED, "nested.yaml")
    assert problems == [] and len(documents) == 2  # the empty documents are skipped
    marks = documents[0].marks
    assert marks[()] == (3, 1)
    assert _at(NESTED, marks[("top", "list", 0)]).startswith("{a: 1")
    assert _at(NESTED, marks[("top", "list", 0, "b", 1)]).startswith("y]")
    assert _at(NESTED, marks[("top", "list", 1, 0)]).startswith("deep")
    assert _at(NESTED, marks[("top", "list", 1, 1, "c")]).startswith("c: 2")
    # A field points at its key; merged and aliased fields at where they were written.
    assert _at(NESTED, marks[("top", "merged", "own")]).startswith("own: 5")
    assert _at(NESTED, marks[("top", "merged", "d")]).startswith("d: 3")
    assert marks[("top", "aliased", "e", 0)] == marks[("top", "defaults", "e", 0)]
    assert marks.get(("top", "missing")) is None
    with pytest.raises(KeyError):
        marks[("top", "list", 7)]
    second = documents[1].marks
    assert second[()] == (16, 1)
    assert _at(NESTED, second[("second", 1)]).startswith("2]")


def test_marks_are_those_an_eager_index_would_hold() -> None:
    """Every node of the document has its mark, and nothing else: as the dict the converter fills."""
    documents, _ = parse_documents(NESTED, "nested.yaml")
    root = list(yaml.compose_all(NESTED, Loader=yaml_source.LOADER))[1]  # [0] is the empty document
    eager = yaml_source._Converter("nested.yaml", record_marks=True)
    eager.document(root)
    assert dict(documents[0].marks) == eager.marks
    assert documents[0].marks == eager.marks
    assert len(documents[0].marks) == len(eager.marks) == 25


def test_the_file_is_parsed_again_only_when_a_mark_is_needed_and_once(monkeypatch: pytest.MonkeyPatch) -> None:
    composed = _compose_count(monkeypatch)
    documents, _ = parse_documents(NESTED, "nested.yaml")
    assert composed == [1]
    assert documents[0].marks[()] == (3, 1) and documents[1].marks[()] == (16, 1)  # kept from the first parse
    assert composed == [1]
    documents[1].marks.get(("second", 0))
    documents[0].marks.get(("top", "list"))
    documents[0].marks.get(("top", "merged", "d"))
    assert composed == [2]  # one more parse gave every document of the file its marks


def test_documents_before_a_syntax_error_keep_their_marks() -> None:
    text = "a:\n  b: [1, 2]\n---\nc: [unclosed\n"
    documents, problems = parse_documents(text, "broken.yaml")
    assert len(documents) == 1 and len(problems) == 1
    assert documents[0].marks[("a", "b", 1)] == (2, 10)


def test_problems_deep_in_an_item_pool_name_line_and_column() -> None:
    items = "\n".join(f'    - {{sku: "69{index:011d}"}}' for index in range(500))
    bad_item = '    - {sku: "6999999999999", fix_price: "1.234"}'
    text = (
        "apiVersion: campaigns/v1\nkind: Shop\nmetadata: {name: demo-shop}\nspec: {}\n---\n"
        "apiVersion: campaigns/v1\nkind: ItemPoolActivity\nmetadata: {name: pool, shop: demo-shop}\n"
        "spec:\n  title: t\n  description: d\n  terminals: [app]\n  window: {start: \"2027-06-11T00:00:00+08:00\", end: \"2027-06-14T00:00:00+08:00\"}\n"
        "  shop_ids: [\"1001\"]\n  stairs:\n    - when: {amount_at_least: \"30.00\"}\n      discount: {decrease: \"6.00\"}\n"
        f"  items:\n{items}\n{bad_item}\n"
    )
    with pytest.raises(ManifestError) as caught:
        load_manifest_texts([("pools.yaml", text)])
    [problem] = caught.value.problems
    lines = text.splitlines()
    line = lines.index(bad_item) + 1
    assert (problem.file, problem.line, problem.column) == ("pools.yaml", line, bad_item.index("fix_price") + 1)
    assert problem.path == "spec.items[500].fix_price"


def test_marks_compare_as_the_mapping_they_stand_for() -> None:
    first, _ = parse_documents(NESTED, "a.yaml")
    again, _ = parse_documents(NESTED, "a.yaml")
    other, _ = parse_documents(NESTED.replace("- deep", "-  deep"), "a.yaml")
    assert first[0].marks == again[0].marks
    assert first[0].marks != other[0].marks  # same paths, one column differs
    expected: dict[FieldPath, Mark] = dict(first[0].marks)
    assert first[0].marks == expected
