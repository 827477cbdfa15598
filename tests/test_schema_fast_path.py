"""The compiled schema check (fastjsonschema) that runs before jsonschema must never let through
what jsonschema rejects, and in practice gives the same verdict, so every Problem stays worded as
before: checked keyword by keyword on the values manifests hold, on every manifest the repository
and the manifest tests contain, and on thousands of mutations of them."""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from bench.generate_shop import SIZES, generate, write_manifests
from reconciler.manifest import load_manifests, render_manifests
from reconciler.manifest import schema as schema_module
from reconciler.manifest.schema import (
    FAST_PATH_KEYWORDS,
    _compile_fast_check,
    _fast_check_for,
    _fast_path_obstacles,
    _schema_nodes,
    known_kinds,
    schema_problems,
    validator_for,
)
from reconciler.manifest.yaml_source import parse_documents
from tests.test_e2e_broken_manifests import BROKEN, GOOD
from tests.test_manifest_errors import ACTIVITY, SHOPS

REPO = Path(__file__).resolve().parents[1]
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
Document = tuple[str, dict[str, Any]]  # (kind, value)


def fast_accepts(kind: str, value: Any) -> bool:
    check = _fast_check_for(kind)
    assert check is not None, kind
    try:
        check(value)
    except Exception:  # noqa: BLE001 - exactly what schema_problems treats as "not accepted"
        return False
    return True


def jsonschema_accepts(kind: str, value: Any) -> bool:
    return not any(True for _ in validator_for(kind).iter_errors(value))


# --- the schema files stay within what was verified ------------------------------------------


def test_every_kind_schema_uses_only_verified_keywords_and_compiles() -> None:
    for kind in known_kinds():
        obstacles = _fast_path_obstacles(validator_for(kind).schema)
        # A new keyword needs its draft-7 meaning checked against 2020-12 (and a row in
        # test_each_keyword_agrees_with_jsonschema) before it joins FAST_PATH_KEYWORDS.
        assert obstacles == [], f"{kind}: {obstacles}"
        assert _fast_check_for(kind) is not None


@pytest.mark.parametrize(
    ("node", "why"),
    [
        ({"type": "array", "prefixItems": [{"type": "string"}]}, "prefixItems"),
        ({"type": "object", "dependentRequired": {"a": ["b"]}}, "dependentRequired"),
        ({"type": "object", "unevaluatedProperties": False}, "unevaluatedProperties"),
        ({"type": "object", "dependencies": {"a": ["b"]}}, "dependencies"),
        ({"type": "string", "format": "date-time"}, "format"),
        ({"type": "string", "default": "x"}, "default"),
        ({"$ref": "#/$defs/x", "minLength": 2}, "sibling"),
        ({"$ref": "other.schema.json"}, "same file"),
        ({"type": "string", "pattern": "^a$|^b$"}, "$ before its end"),
        ({"type": "string", "pattern": "(?m)^a$"}, "inline flags"),
        ({"type": "string", "pattern": "costs \\$"}, "$ before its end"),
        ({"const": 1}, "const/enum value 1"),
        ({"enum": ["a", 1.5]}, "const/enum value 1.5"),
        ({"const": "a", "enum": ["a"]}, "const and enum"),
        ({"$id": "https://example.invalid/other.json", "type": "string"}, "keyword '$id'"),
    ],
)
def test_what_draft_7_might_read_differently_turns_the_fast_path_off(node: dict[str, Any], why: str) -> None:
    schema = {"$schema": DRAFT_2020_12, "type": "object", "properties": {"field": node}, "$defs": {"x": {}}}
    obstacles = _fast_path_obstacles(schema)
    assert any(why in obstacle for obstacle in obstacles), obstacles
    assert _compile_fast_check(schema) is None


def test_the_keyword_list_is_the_verified_one() -> None:
    # Growing this set is a decision: see test_every_kind_schema_uses_only_verified_keywords_and_compiles.
    assert FAST_PATH_KEYWORDS == {
        "$schema", "$defs", "$ref", "title", "description", "x-allowed",
        "type", "const", "enum", "properties", "additionalProperties", "required",
        "minProperties", "maxProperties", "propertyNames", "items", "minItems", "maxItems",
        "uniqueItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
    }  # fmt: skip


# --- every verified keyword, on every kind of value a manifest holds --------------------------

PROBE_SCHEMA: dict[str, Any] = {
    "$schema": DRAFT_2020_12,
    "type": "object",
    "additionalProperties": False,
    "$defs": {"count": {"type": "integer", "minimum": 1}},
    "properties": {
        "integer": {"type": "integer", "minimum": 1, "maximum": 7},
        "number": {"type": "number"},
        "rate": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "at_least_zero": {"type": "number", "minimum": 0},
        "count": {"$ref": "#/$defs/count", "description": "a $ref with an annotation beside it"},
        "boolean": {"type": "boolean"},
        "const_true": {"const": True},
        "const_string": {"const": "campaigns/v1"},
        "enum": {"enum": ["mon", "tue"]},
        "nullable": {"type": ["object", "null"]},
        "bool_or_object": {"type": ["boolean", "object"]},
        "string_or_array": {"type": ["string", "array"]},
        "anchored": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "unanchored": {"type": "string", "pattern": "\\S"},
        "prefix_only": {"type": "string", "pattern": "^https?://"},
        "length": {"type": "string", "minLength": 1, "maxLength": 3},
        "list": {"type": "array", "minItems": 1, "maxItems": 3, "uniqueItems": True},
        "list_of_names": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}},
        "mapping": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 2,
            "propertyNames": {"pattern": "^[1-9][0-9]{0,19}$"},
            "additionalProperties": {"type": "string"},
        },
        "at_most_one": {
            "type": "object",
            "properties": {"a": {}, "b": {}, "c": {}},
            "not": {"anyOf": [{"required": ["a", "b"]}, {"required": ["a", "c"]}, {"required": ["b", "c"]}]},
        },
        "not_two_untyped": {"not": {"anyOf": [{"required": ["a", "b"]}, {"required": ["b", "c"]}]}},
        "not_both": {"type": "object", "not": {"required": ["a", "b"], "x-allowed": "one of a, b"}},
        "not_pattern": {"type": "string", "not": {"pattern": "^x$"}},
        "if_then_else": {
            "if": {"type": "string"},
            "then": {"pattern": "^[0-9]+$"},
            "else": {"type": "object", "required": ["id"]},
        },
        "one_of": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["days"],
                    "additionalProperties": False,
                    "properties": {"days": {"type": "integer"}},
                },
                {
                    "type": "object",
                    "required": ["from"],
                    "additionalProperties": False,
                    "properties": {"from": {"type": "string", "pattern": "^[0-9]{2}$"}},
                },
            ]
        },
        "one_of_overlapping": {"oneOf": [{"type": "string", "pattern": "^a$"}, {"minLength": 1}]},
        "any_of": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+$"}]},
        "all_of": {"allOf": [{"type": "string"}, {"pattern": "^a"}, {"pattern": "z$"}]},
    },
}

# Everything yaml_source builds (dict, list, str, int, bool, None, finite Decimal) at the edges.
VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 7, 8, 10**25,
    Decimal("0"), Decimal("-0"), Decimal("0.000"), Decimal("1"), Decimal("1.0"), Decimal("1E+1"),
    Decimal("0.5"), Decimal("0.9999"), Decimal("-0.01"), Decimal("7.0"), Decimal("7.5"), Decimal("12.345"),
    "", " ", "a", "x", "ab", "abcd", "7", "012", "x\n", "a\n", "a\nb", "\n", "abc\n", "a z", "az", "az\n",
    "fresh-618", "fresh-618\n", "-fresh", "Fresh", "中文", "é", "🙂🙂🙂", "🙂🙂🙂🙂", "mon", "tue", "Mon",
    "campaigns/v1", "https://x", "http:/x", "ftp://x", "12", "00",
    [], ["a"], ["a", "a"], ["a", "b", "c", "d"], [1, True], [0, False], [1, Decimal("1.0")],
    [Decimal("1"), Decimal("1.00")], [{"a": 1}, {"a": True}], [{"a": 1}, {"a": 1}], [["a"], ["a"]],
    ["a", "A"],
    {}, {"a": 1}, {"b": 1}, {"a": 1, "b": 2}, {"a": 1, "c": 2}, {"b": 1, "c": 2}, {"a": 1, "b": 2, "c": 3},
    {"id": 1}, {"days": 3}, {"days": True}, {"from": "12"}, {"from": "12\n"}, {"days": 1, "from": "12"},
    {"123": "x"}, {"0123": "x"}, {"123": 1}, {"123\n": "x"}, {"1": "a", "2": "b", "3": "c"},
]  # fmt: skip


@pytest.mark.parametrize("field", sorted(PROBE_SCHEMA["properties"]))
def test_each_keyword_agrees_with_jsonschema(field: str) -> None:
    from jsonschema import Draft202012Validator

    check = _compile_fast_check(PROBE_SCHEMA)
    assert check is not None, _fast_path_obstacles(PROBE_SCHEMA)
    slow = Draft202012Validator(PROBE_SCHEMA)
    disagreements = []
    for value in VALUES:
        document = {field: value}
        try:
            check(document)
            fast = True
        except Exception:  # noqa: BLE001
            fast = False
        if fast != slow.is_valid(document):
            disagreements.append(f"{value!r}: fast {'accepts' if fast else 'rejects'}")
    assert disagreements == []


def test_decimal_is_a_number_never_an_integer_and_bool_is_neither() -> None:
    from jsonschema import Draft202012Validator

    # Pinned explicitly: the fast path's soundness rests on these two libraries agreeing here.
    cases = [(Decimal("5"), {"number"}), (Decimal("5.0"), {"number"}), (5, {"number", "integer"}),
             (True, {"boolean"}), (False, {"boolean"}), ("5", {"string"})]  # fmt: skip
    for value, types in cases:
        for name in ("number", "integer", "boolean", "string"):
            schema = {"$schema": DRAFT_2020_12, "type": name}
            check = _compile_fast_check(schema)
            assert check is not None
            expected = name in types
            assert Draft202012Validator(schema).is_valid(value) is expected, (value, name)
            try:
                check(value)
                fast = True
            except Exception:  # noqa: BLE001
                fast = False
            assert fast is expected, (value, name)


# --- every manifest we have, and mutations of them ------------------------------------------


def _documents_in(text: str, file: str = "x.yaml") -> Iterator[Document]:
    parsed, _ = parse_documents(text, file)
    for source in parsed:
        value = source.value
        if isinstance(value, dict) and value.get("kind") in known_kinds():
            yield value["kind"], value


def _edits_in_manifest_error_tests() -> list[str]:
    """ACTIVITY with each `edit("old", "new")` of tests/test_manifest_errors.py applied."""
    tree = ast.parse((REPO / "tests" / "test_manifest_errors.py").read_text(encoding="utf-8"))
    texts = []
    for node in ast.walk(tree):
        is_edit = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "edit"
        arguments = [arg.value for arg in node.args if isinstance(arg, ast.Constant)] if is_edit else []
        if len(arguments) == 2 and all(isinstance(argument, str) for argument in arguments):
            texts.append(ACTIVITY.replace(*arguments))
    assert len(texts) > 10  # the harvest found the tests' edits
    return texts


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Document]:
    """Every manifest document of the repository, the bench generator and the manifest tests."""
    texts = [source.text for source in render_manifests([str(REPO / "campaigns")])]
    fixtures = sorted((REPO / "tests" / "fixtures").rglob("*.yaml"))
    texts += [path.read_text(encoding="utf-8") for path in fixtures]
    bench = write_manifests(generate(SIZES["tiny"]), tmp_path_factory.mktemp("bench"))
    texts += [path.read_text(encoding="utf-8") for path in sorted(bench.glob("*.yaml"))]
    texts += [GOOD, ACTIVITY, SHOPS, *_edits_in_manifest_error_tests()]
    texts += [GOOD.replace(old, new) for _, old, new, *_ in BROKEN]
    documents = [document for text in texts for document in _documents_in(text)]
    assert {kind for kind, _ in documents} == set(known_kinds())
    return documents


def test_every_manifest_we_have_gets_the_same_verdict(corpus: list[Document]) -> None:
    rejected = [kind for kind, value in corpus if not jsonschema_accepts(kind, value)]
    assert len(rejected) > 5  # the broken cases are in
    for kind, value in corpus:
        assert fast_accepts(kind, value) == jsonschema_accepts(kind, value), (kind, value)


# Replacement values for any field: every type, the edges of the schemas' ranges and patterns.
PALETTE: list[Any] = [
    None, True, False, 0, 1, -1, 7, 8, 101, Decimal("0"), Decimal("-0.01"), Decimal("0.6"), Decimal("0.6001"),
    Decimal("1"), Decimal("1.2"), Decimal("12.345"), "", " ", "x", "x\n", "12.00", "12.345", "-1.00", "3",
    "中文", {}, [], ["x"], {"x": "y"},
]  # fmt: skip


def _copied(value: Any) -> Any:
    """A deep copy of a manifest value (copy.deepcopy, ten times faster: scalars are immutable)."""
    if isinstance(value, dict):
        return {key: _copied(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_copied(child) for child in value]
    return value


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, path + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, path + (index,))


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _variants(original: Any) -> Iterator[Any]:
    """What a person might write instead of `original`, type for type."""
    yield from PALETTE
    if isinstance(original, str):
        yield from (original + "\n", " " + original, original + " ", original.upper(), original[:-1])
        yield original * 5
    if isinstance(original, bool):
        yield not original
    elif isinstance(original, (int, Decimal)):
        yield from (Decimal(original), original + 1, -original, original * 100, str(original))
        if isinstance(original, Decimal) and original == original.to_integral_value():
            yield int(original)
    if isinstance(original, list) and original:
        yield from (original + original[:1], original[:1], original * 50)


def _mutations(
    value: dict[str, Any],
    property_values: dict[str, Any],
    fields_at: dict[tuple[str, ...], Fields],
    done: set[tuple[str, ...]],
) -> Iterator[dict[str, Any]]:
    """Mutations at each field path not in `done` (list entries count as one path), added to it."""
    for path in list(_paths(value)):
        field = _field(path)
        if field in done:
            continue
        done.add(field)
        original = _get(value, path)
        if isinstance(original, dict):
            yield from _grafts(value, path, property_values, fields_at[field])
        if not path:
            continue
        for replacement in _variants(original):
            mutated = _copied(value)
            _get(mutated, path[:-1])[path[-1]] = replacement
            yield mutated
        if isinstance(path[-1], str):
            mutated = _copied(value)
            del _get(mutated, path[:-1])[path[-1]]
            yield mutated


def _grafts(
    value: dict[str, Any], path: tuple[Any, ...], property_values: dict[str, Any], fields: Fields
) -> Iterator[dict[str, Any]]:
    """Each known field added to the mapping at `path`, and each pair of the fields that may be
    there added to just its always-present fields: combinations (fix_price with rate, days with
    from) are where not, oneOf and if decide."""
    mapping = _get(value, path)
    bare = {key: item for key, item in mapping.items() if key in fields.always}
    pairs = [{first, second} for first in fields.seen for second in fields.seen if first < second]
    additions = [(mapping, {name}) for name in property_values]
    additions += [(bare, pair) for pair in pairs]
    for base, names in additions:
        grafted = _copied(base)
        for name in names:
            grafted[name] = _copied(property_values.get(name, "x"))
        mutated = _copied(value)
        if path:
            _get(mutated, path[:-1])[path[-1]] = grafted
        else:
            mutated = grafted
        yield mutated


class Fields(NamedTuple):
    seen: set[str]  # in some mapping at this field path
    always: set[str]  # in every one


def _fields_at(documents: list[Document], kind: str) -> dict[tuple[str, ...], Fields]:
    """The fields the corpus's mappings have, by field path, with the other fields the schema
    declares beside them (no manifest here has an item with `decrease`, say)."""
    found: dict[tuple[str, ...], Fields] = {}
    for _, value in documents:
        for path in _paths(value):
            node = _get(value, path)
            if isinstance(node, dict):
                fields = found.setdefault(_field(path), Fields(set(node), set(node)))
                fields.seen.update(node)
                fields.always.intersection_update(node)
    schema = validator_for(kind).schema
    declared = [set(node["properties"]) for _, node in _schema_nodes(schema) if "properties" in node]
    for fields in found.values():
        fields.seen.update(*(names for names in declared if fields.seen <= names))
    return found


def _property_values(documents: list[Document]) -> dict[str, Any]:
    """Each field name seen in the corpus with a (short) value it had, plus an unknown field."""
    seen: dict[str, Any] = {"colour": "red"}
    for _, value in documents:
        for path in _paths(value):
            example = _get(value, path)
            if path and isinstance(path[-1], str) and len(json.dumps(example, default=str)) < 200:
                seen.setdefault(path[-1], example)
    return seen


def _seeds(documents: list[Document], kind: str) -> list[dict[str, Any]]:
    """Few small valid documents of `kind` that between them use every field path the corpus uses."""
    candidates = [_pruned(value) for document_kind, value in documents if document_kind == kind]
    shapes = [(_shape(value), value) for value in candidates if jsonschema_accepts(kind, value)]
    uncovered = set().union(*(shape for shape, _ in shapes))
    seeds = []
    while uncovered:  # greedy cover: the document adding most new paths, the smaller one on ties
        shape, value = max(shapes, key=lambda entry: (len(entry[0] & uncovered), -len(entry[0])))
        seeds.append(value)
        uncovered -= shape
    return seeds


def _shape(value: Any) -> set[tuple[str, ...]]:
    return {_field(path) for path in _paths(value)}


def _field(path: tuple[Any, ...]) -> tuple[str, ...]:
    """spec.items[3].sku -> ("spec", "items", "[]", "sku")."""
    return tuple(key if isinstance(key, str) else "[]" for key in path)


def _pruned(value: Any) -> Any:
    """A copy with lists cut to two entries: what is checked per entry is the same for the third."""
    if isinstance(value, dict):
        return {key: _pruned(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_pruned(child) for child in value[:2]]
    return value


@pytest.mark.parametrize("kind", known_kinds())
def test_mutated_manifests_get_the_same_verdict(kind: str, corpus: list[Document]) -> None:
    same_kind = [document for document in corpus if document[0] == kind]
    property_values, fields_at = _property_values(same_kind), _fields_at(same_kind, kind)
    seeds = _seeds(corpus, kind)
    assert seeds, kind
    checked = rejected = 0
    done: set[tuple[str, ...]] = set()
    for seed in seeds:
        for mutated in _mutations(seed, property_values, fields_at, done):
            fast, slow = fast_accepts(kind, mutated), jsonschema_accepts(kind, mutated)
            assert fast == slow, f"fast {'accepts' if fast else 'rejects'}: {mutated!r}"
            checked += 1
            rejected += not slow
    assert checked > 300 and 0 < rejected < checked, (checked, rejected)


# --- what a user sees ------------------------------------------------------------------------


def test_problems_are_worded_exactly_as_without_the_fast_path(
    corpus: list[Document], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_fast = [schema_problems(value, kind, "x.yaml", {}) for kind, value in corpus]
    monkeypatch.setattr(schema_module, "_passes_fast_check", lambda value, kind: False)
    without = [schema_problems(value, kind, "x.yaml", {}) for kind, value in corpus]
    assert with_fast == without
    assert any(with_fast) and not all(with_fast)


def test_valid_manifests_never_reach_jsonschema_and_are_not_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    documents = list(_documents_in(ACTIVITY + "---\n" + SHOPS))
    before = copy.deepcopy(documents)

    def no_jsonschema(kind: str) -> Any:
        raise AssertionError(f"jsonschema ran for a valid {kind}")

    for kind in known_kinds():
        _fast_check_for(kind)  # compiled already (it reads the schema through validator_for)
    monkeypatch.setattr(schema_module, "validator_for", no_jsonschema)
    for kind, value in documents:
        assert schema_problems(value, kind, "x.yaml", {}) == []
    assert documents == before  # fastjsonschema may fill in defaults; it must not here
    load_manifests([str(REPO / "campaigns")])
