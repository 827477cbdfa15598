"""JSON Schema validation of one document, with errors a person can act on.

The schemas shipped in the package (reconciler/schemas, exported to `schemas/` for editors) are
the single source of what a manifest may contain. jsonschema reports what failed in schema
terms; this module turns that into one Problem per field, located by the YAML marks, worded for
someone editing YAML:
"unknown field 'foo'; allowed: ...", "missing required field 'stairs'", and for patterns and
ranges the schema's own `x-allowed` text, so the rule and its explanation live side by side.

jsonschema is thorough but slow (a 200-item pool takes tens of milliseconds), so a compiled
fastjsonschema check of the same schema runs first and jsonschema only runs, for the words, on a
document that check does not accept. The compiled check is only used for schemas whose every
keyword means the same to it as to jsonschema: see `_fast_path_obstacles`.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib.resources.abc import Traversable
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from reconciler.errors import Problem
from reconciler.i18n import ENGLISH, N_, _, current_language, ngettext
from reconciler.manifest.document import FieldPath, Mark, problem_at
from reconciler.schemas import SUFFIX, schema_dir, schema_files

SCHEMAS_DIR: Traversable = schema_dir()  # inside the package: found wherever it is installed
EDITOR_SCHEMA = "manifest.schema.json"  # dispatches to the per-kind files; not a kind itself


def kind_to_file_stem(kind: str) -> str:
    """ItemPoolActivity -> item-pool-activity."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower()


def _file_stem_to_kind(stem: str) -> str:
    return "".join(part.capitalize() for part in stem.split("-"))


@lru_cache(maxsize=1)
def _schema_files() -> Mapping[str, Traversable]:
    """Known kinds are exactly those with a schema file: adding a kind needs no code change here."""
    return {
        _file_stem_to_kind(name.removesuffix(SUFFIX)): file
        for name, file in schema_files().items()
        if "/" not in name and name != EDITOR_SCHEMA  # output/ holds output shapes, not kinds
    }


def known_kinds() -> tuple[str, ...]:
    return tuple(sorted(_schema_files()))


@lru_cache(maxsize=None)
def validator_for(kind: str) -> Draft202012Validator:
    """Built once per kind. No format checker: formats are annotations here, patterns do the checking."""
    schema = json.loads(_schema_files()[kind].read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)  # a broken schema file is our bug; fail loudly
    return Draft202012Validator(schema)


def schema_problems(
    value: Mapping[str, Any], kind: str, file: str, marks: Mapping[FieldPath, Mark]
) -> list[Problem]:
    """One Problem per field that breaks the kind's schema, in document order."""
    if _passes_fast_check(value, kind):
        return []
    best: dict[FieldPath, _Finding] = {}
    for error in validator_for(kind).iter_errors(value):
        for finding in _findings(error):
            current = best.get(finding.path)
            if current is None or finding.rank < current.rank:
                best[finding.path] = finding
    problems = [
        problem_at(file, marks, f.path, f.message, located_at=f.located_at) for f in best.values()
    ]
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0, p.path))


# --- the fast path ------------------------------------------------------------------------
#
# fastjsonschema implements drafts 4, 6 and 7; our schemas are 2020-12. The keywords below mean
# the same in draft 7 as in 2020-12 for the values yaml_source builds (dict, list, str, int, bool,
# None, finite Decimal), which tests/test_schema_fast_path.py checks against jsonschema value by
# value. A schema using anything else gets no fast path: slower, never wrong. In particular
# 2020-12's prefixItems, dependentRequired, unevaluated* and $ref next to other keywords would
# be silently ignored or read differently by a draft-7 validator.
_SUBSCHEMA_MAPS = frozenset({"properties", "$defs"})
_SUBSCHEMAS = frozenset({"items", "additionalProperties", "propertyNames", "not", "if", "then", "else"})
_SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
_ASSERTIONS = frozenset({
    "$ref", "type", "const", "enum", "required", "minProperties", "maxProperties",
    "minItems", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
})  # fmt: skip
_ANNOTATIONS = frozenset({"$schema", "title", "description", "x-allowed"})
FAST_PATH_KEYWORDS = _SUBSCHEMA_MAPS | _SUBSCHEMAS | _SUBSCHEMA_LISTS | _ASSERTIONS | _ANNOTATIONS

_DRAFT_7 = "http://json-schema.org/draft-07/schema#"
# Python's `$` without MULTILINE: the end, or just before a newline at the end. fastjsonschema
# rewrites `$` to `\Z` (end only), which is stricter; inside `not`, `if` or `oneOf` stricter
# turns into more permissive, so each final `$` is spelled out in a form it leaves alone.
_PYTHON_DOLLAR = r"(?=\n?\Z)"
_INLINE_FLAGS = re.compile(r"\(\?[aiLmsux]")

FastCheck = Callable[[Any], Any]


def _schema_nodes(node: Any, where: str = "#") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every schema object in a schema document (not property names, not annotation values)."""
    if not isinstance(node, Mapping):
        return  # a boolean schema: the same in every draft
    yield where, node
    for keyword, value in node.items():
        if keyword in _SUBSCHEMA_MAPS and isinstance(value, Mapping):
            for name, child in value.items():
                yield from _schema_nodes(child, f"{where}/{keyword}/{name}")
        elif keyword in _SUBSCHEMAS:
            yield from _schema_nodes(value, f"{where}/{keyword}")
        elif keyword in _SUBSCHEMA_LISTS and isinstance(value, list):
            for index, child in enumerate(value):
                yield from _schema_nodes(child, f"{where}/{keyword}/{index}")


def _fast_path_obstacles(schema: Mapping[str, Any]) -> list[str]:
    """What in `schema` a draft-7 validator might read unlike jsonschema's 2020-12; [] if nothing."""
    found: list[str] = []
    for where, node in _schema_nodes(schema):
        # The document's own `$id` names it; it validates nothing. One deeper down would change
        # the base of the `$ref`s below it, so it stays unverified.
        unverified = [key for key in node if key not in FAST_PATH_KEYWORDS and (key, where) != ("$id", "#")]
        found += [f"{where}: keyword {key!r} not verified" for key in unverified]
        ref = node.get("$ref")
        if ref is not None and (not isinstance(ref, str) or not ref.startswith("#/")):
            found.append(f"{where}: $ref {ref!r} is not a pointer into the same file")
        if ref is not None and set(node) - _ANNOTATIONS - {"$ref"}:
            found.append(f"{where}: $ref has sibling keywords, which draft 7 ignores")
        if "items" in node and not isinstance(node["items"], (Mapping, bool)):
            found.append(f"{where}: items is not one schema")
        pattern = node.get("pattern")
        if isinstance(pattern, str) and not _dollar_only_at_end(pattern):
            found.append(f"{where}: pattern {pattern!r} has a $ before its end, or inline flags")
        choices = ([node["const"]] if "const" in node else []) + list(node.get("enum", []))
        found += [  # numbers and containers compare differently (1 == 1.0 == True in Python)
            f"{where}: const/enum value {value!r} is not a string, boolean or null"
            for value in choices
            if not (value is None or isinstance(value, (str, bool)))
        ]
        if "const" in node and "enum" in node:
            found.append(f"{where}: const and enum together (the copy turns const into enum)")
    return found


def _dollar_only_at_end(pattern: str) -> bool:
    """True when rewriting a final `$` (and nothing else) keeps the pattern's meaning."""
    return "$" not in pattern[:-1] and not pattern.endswith("\\$") and not _INLINE_FLAGS.search(pattern)


def _as_draft_7(node: Any) -> Any:
    """A copy of a schema (or of part of one) for fastjsonschema, rewritten where that is exact:

    - a final `$` of a pattern spelled out (see _PYTHON_DOLLAR);
    - `const` as a one-value `enum`: fastjsonschema matches both the same way, and 2.22.3 cannot
      compile `const` without detailed exceptions;
    - "not two of these fields together" (`not: {anyOf: [{required: [a, b]}, ...]}` on an object)
      as draft 7 `dependencies: {a: {properties: {b: false}}}`: the same verdict, without four
      exceptions raised and caught for every valid pool item (half the time spent on one).
    """
    if isinstance(node, list):
        return [_as_draft_7(child) for child in node]
    if not isinstance(node, Mapping):
        return node
    copy: dict[str, Any] = {}
    for keyword, value in node.items():
        if keyword in _SUBSCHEMA_MAPS:
            copy[keyword] = {name: _as_draft_7(child) for name, child in value.items()}
        elif keyword in _SUBSCHEMAS or keyword in _SUBSCHEMA_LISTS:
            copy[keyword] = _as_draft_7(value)
        elif keyword == "pattern" and value.endswith("$"):
            copy[keyword] = value[:-1] + _PYTHON_DOLLAR
        elif keyword == "const":
            copy["enum"] = [value]
        else:
            copy[keyword] = value
    pairs = _exclusive_pairs(node)
    if pairs:
        del copy["not"]
        copy["dependencies"] = {}
        for first, second in pairs:
            copy["dependencies"].setdefault(first, {"properties": {}})["properties"][second] = False
    return copy


def _exclusive_pairs(node: Mapping[str, Any]) -> list[tuple[str, str]]:
    """[(a, b), ...] for `type: object` with `not: {anyOf: [{required: [a, b]}, ...]}`, else []."""
    negated = node.get("not")
    if node.get("type") != "object" or not isinstance(negated, Mapping):
        return []
    branches = negated.get("anyOf")
    if set(negated) - _ANNOTATIONS != {"anyOf"} or not isinstance(branches, list):
        return []
    pairs: list[tuple[str, str]] = []
    for branch in branches:
        required = branch.get("required") if isinstance(branch, Mapping) else None
        if set(branch) - _ANNOTATIONS != {"required"} or not isinstance(required, list) or len(required) != 2:
            return []
        pairs.append((required[0], required[1]))
    return pairs


@lru_cache(maxsize=None)
def _fast_check_for(kind: str) -> FastCheck | None:
    schema = validator_for(kind).schema  # checked by jsonschema there
    assert isinstance(schema, Mapping)  # every schema file is an object
    return _compile_fast_check(schema)


def _compile_fast_check(schema: Mapping[str, Any]) -> FastCheck | None:
    """The schema compiled to Python; None if it uses what draft 7 might read differently."""
    if _fast_path_obstacles(schema):
        return None
    # Without its `$id` the copy resolves its "#/..." pointers within itself, by no other name.
    draft_7 = {key: value for key, value in _as_draft_7(schema).items() if key != "$id"}
    code = fastjsonschema.compile_to_code(
        {**draft_7, "$schema": _DRAFT_7},
        use_default=False,  # never write defaults into the manifest
        use_formats=False,  # as jsonschema here: formats are annotations
        detailed_exceptions=False,  # jsonschema says what is wrong; this only says whether
    )
    # The generated code names each list element for its error message up front, with
    # "...[{i}]".format(**locals()) before every call into the element's check: two thirds of
    # the check's time on a 200-item pool. The message is never read here (jsonschema words
    # the problem), so the names stay unformatted; what is accepted does not change.
    namespace: dict[str, Any] = {}
    exec(code.replace(_NAME_FORMATTING, ""), namespace)  # noqa: S102 - code generated from our own schemas
    check: FastCheck = namespace["validate"]
    return check


_NAME_FORMATTING = ".format(**locals())"


def _passes_fast_check(value: Mapping[str, Any], kind: str) -> bool:
    check = _fast_check_for(kind)
    if check is None:
        return False
    try:
        check(value)
    except Exception:  # noqa: BLE001 - a rejection, or a value it did not expect: jsonschema decides
        return False
    return True


@dataclass(frozen=True)
class _Finding:
    path: FieldPath
    located_at: FieldPath
    message: str
    rank: int  # lower wins when several errors hit one field: the most basic mistake first


# A wrong type explains everything else wrong with a value, so it wins; then fixed choices.
_RANK = {"type": 0, "const": 1, "enum": 1, "additionalProperties": 2, "required": 2}


def _findings(error: ValidationError) -> Iterator[_Finding]:
    if error.validator in ("oneOf", "anyOf") and error.context:
        # One branch's complaint instead of every branch's. A branch that wanted another type
        # is the wrong branch for this value, so the others' complaints are the relevant ones.
        right_type = [sub for sub in error.context if sub.validator != "type"]
        yield from _findings(best_match(right_type or error.context))
        return
    path: FieldPath = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        yield from _unknown_fields(error, path)
        return
    if error.validator == "required":
        yield _missing_fields(error, path)
        return
    yield _Finding(path, path, _message(error), _RANK.get(str(error.validator), 3))


def _unknown_fields(error: ValidationError, path: FieldPath) -> Iterator[_Finding]:
    schema: Any = error.schema  # a mapping here: the keyword is additionalProperties
    instance: Any = error.instance
    allowed = list(schema.get("properties", {}))
    for key in instance:
        if key in allowed:
            continue
        guess = difflib.get_close_matches(key, allowed, n=1)
        listed = ", ".join(allowed) if allowed else _("no fields here")
        if guess:
            message = _("unknown field {field} (did you mean {guess}?); allowed: {allowed}").format(
                field=repr(key), guess=repr(guess[0]), allowed=listed)
        else:
            message = _("unknown field {field}; allowed: {allowed}").format(field=repr(key), allowed=listed)
        yield _Finding(path + (key,), path + (key,), message, 2)


def _missing_fields(error: ValidationError, path: FieldPath) -> _Finding:
    # jsonschema raises one error per missing key; naming them all in one Problem keeps one
    # Problem per place (the parent's line), and every such error yields the same finding.
    required: Any = error.validator_value
    instance: Any = error.instance
    missing = [key for key in required if key not in instance]
    if len(missing) == 1:
        return _Finding(path + (missing[0],), path, _("missing required field {field}").format(field=repr(missing[0])), 2)
    names = ", ".join(repr(key) for key in missing)
    return _Finding(path, path, _("missing required fields {fields}").format(fields=names), 2)


def _message(error: ValidationError) -> str:
    keyword = error.validator
    expected: Any = error.validator_value  # the schema's own value for the keyword that failed
    instance: Any = error.instance
    allowed = _allowed_text(error)
    if keyword == "type":
        if not isinstance(instance, (dict, list)) and instance is not None:
            text = _("expected {expected}, got {actual} ({value})").format(
                expected=_type_words(expected), actual=_type_of(instance), value=_scalar(instance))
        else:
            text = _("expected {expected}, got {actual}").format(expected=_type_words(expected), actual=_type_of(instance))
        return _("{problem}; allowed: {allowed}").format(problem=text, allowed=allowed) if allowed else text
    if keyword == "enum":
        return _("{value} is not one of: {choices}").format(
            value=_short(instance), choices=", ".join(_scalar(v) for v in expected))
    if keyword == "const":
        return _("must be {expected}, got {value}").format(expected=_short(expected), value=_short(instance))
    if keyword == "uniqueItems":  # naming the repeated entry beats restating the rule
        return _plain_words(error)
    if allowed:
        return _("{value} is not allowed: {allowed}").format(value=_quoted(instance), allowed=allowed)
    return _plain_words(error)


def _allowed_text(error: ValidationError) -> str | None:
    """The `x-allowed` annotation explaining the failed rule; for `not` it sits in the negated schema."""
    nodes = [error.validator_value, error.schema] if error.validator == "not" else [error.schema]
    for node in nodes:
        text = node.get("x-allowed") if isinstance(node, Mapping) else None
        if isinstance(text, str):
            return _(text)  # every schema's texts are marked in schema_words.py
    return None


def _plain_words(error: ValidationError) -> str:
    """Fallback wording for rules whose schema node has no x-allowed text."""
    keyword, limit, instance = error.validator, error.validator_value, error.instance
    if keyword == "uniqueItems" and isinstance(instance, list):
        return _("lists {value} more than once").format(value=_short(_first_repeat(instance)))
    count = limit if isinstance(limit, int) and not isinstance(limit, bool) else 0
    words = {
        "minLength": (_("{value} must not be empty") if limit == 1
                      else _("{value} must be at least {limit} characters")),
        "maxLength": _("{value} must be at most {limit} characters"),
        "minimum": _("{value} must be at least {limit}"),
        "maximum": _("{value} must be at most {limit}"),
        "exclusiveMinimum": _("{value} must be above {limit}"),
        "exclusiveMaximum": _("{value} must be below {limit}"),
        "minItems": ngettext("{value} must list at least {limit} item", "{value} must list at least {limit} items", count),
        "maxItems": _("{value} must list at most {limit} items"),
        "minProperties": ngettext("{value} must have at least {limit} field", "{value} must have at least {limit} fields",
                                  count),
        "maxProperties": ngettext("{value} must have at most {limit} field", "{value} must have at most {limit} fields",
                                  count),
        "pattern": _("{value} does not match the pattern {limit}"),
        "not": _("{value} is not allowed here"),
    }
    if keyword in words:
        return words[str(keyword)].format(value=_quoted(instance), limit=limit)
    if current_language() == ENGLISH:
        return error.message
    # Any other rule (none of the shipped schemas uses one today): its keyword, in the reader's language.
    return _("{value} breaks the schema rule {rule}: {limit}").format(
        value=_quoted(instance), rule=keyword, limit=json.dumps(limit, ensure_ascii=False, default=str))


def _first_repeat(items: list[Any]) -> Any:
    for index, item in enumerate(items):
        if item in items[:index]:
            return item
    return None


_TYPE_WORDS = {
    "object": N_("a mapping"),
    "array": N_("a list"),
    "string": N_("a string"),
    "number": N_("a number"),
    "integer": N_("a whole number"),
    "boolean": N_("true or false"),
    "null": N_("nothing (null)"),
}


def _type_words(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    words = [_(_TYPE_WORDS[name]) if name in _TYPE_WORDS else str(name) for name in names]
    # Translators: the separator between the types a value may have ("a string or a number")
    return _(" or ").join(words)


def _type_of(instance: Any) -> str:
    if isinstance(instance, bool):
        return _("a boolean")
    if isinstance(instance, (int, float, Decimal)):
        return _("a number")
    if instance is None:
        return _("nothing (null)")
    names: dict[type, str] = {dict: N_("a mapping"), list: N_("a list"), str: N_("a string")}
    name = names.get(type(instance))
    return _(name) if name is not None else type(instance).__name__


def _scalar(value: Any) -> str:
    """A scalar the way YAML spells it: true, null, 0.6 — strings bare (used in lists of choices)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def _short(value: Any) -> str:
    """A value inside a sentence: strings single-quoted, so a stray space ('fri ') shows."""
    if isinstance(value, str):
        return repr(_clip(value))
    return _describe(value)


def _quoted(value: Any) -> str:
    """A value as it would be written in YAML, double-quoted when it is a string: "12.345"."""
    if isinstance(value, str):
        return json.dumps(_clip(value), ensure_ascii=False)
    return _describe(value)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return _("a mapping with {fields}").format(fields=", ".join(map(str, value))) if value else _("an empty mapping")
    if isinstance(value, list):
        return _("a list of {count} items").format(count=len(value)) if value else _("an empty list")
    return _scalar(value)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
