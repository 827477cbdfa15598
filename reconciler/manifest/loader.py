"""Files -> a validated ManifestSet, or one ManifestError listing every problem in every file.

Order of checks per document: YAML -> header (apiVersion, kind) -> the kind's JSON Schema;
then across documents: unique (shop, kind, name) and shops that exist. All problems are
collected before raising, so one run shows a reviewer everything that needs fixing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.errors import ManifestError, Problem
from reconciler.manifest.document import (
    Document,
    FieldPath,
    ManifestSet,
    Mark,
    ShopProfile,
    problem_at,
)
from reconciler.manifest.schema import known_kinds, schema_problems
from reconciler.manifest.yaml_source import SourceDocument, parse_documents

API_VERSION = "campaigns/v1"
SHOP_KIND = "Shop"
DEFAULT_PATHS = ("campaigns",)
MANIFEST_SUFFIXES = (".yaml", ".yml")
TEMPLATE_VARS_FILE = "vars.yaml"  # template variables for the (later) jinja2 stage, not a manifest


def find_manifest_files(paths: Sequence[str]) -> list[Path]:
    """Files given directly, plus *.yaml / *.yml under given directories (recursively), sorted.

    Hidden directories (.git, .github, .reconciler) are not searched: their YAML is never a manifest.
    Nor is vars.yaml, wherever it is: it holds template variables.
    """
    found: set[Path] = set()
    for given in paths or DEFAULT_PATHS:
        root = Path(given)
        if root.is_dir():
            found.update(_manifests_under(root))
        elif root.is_file():
            found.add(root)
        else:
            raise ManifestError([Problem(given, None, None, "", "no such file or directory")])
    return sorted(path for path in found if path.name != TEMPLATE_VARS_FILE)


def _manifests_under(root: Path) -> list[Path]:
    return [
        path
        for path in root.rglob("*")
        if path.suffix in MANIFEST_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts[:-1])
    ]


def load_manifests(paths: Sequence[str]) -> ManifestSet:
    sources: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for path in find_manifest_files(paths):
        try:
            # utf-8-sig: editors on Windows may prepend a BOM.
            sources.append((str(path), path.read_bytes().decode("utf-8-sig")))
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(str(path), None, None, "", f"cannot read: {error}"))
    return _load(sources, problems)


def load_manifest_texts(sources: Sequence[tuple[str, str]]) -> ManifestSet:
    """Like load_manifests, for (file name, YAML text) pairs — e.g. after templates are rendered."""
    return _load(sources, [])


def _load(sources: Sequence[tuple[str, str]], problems: list[Problem]) -> ManifestSet:
    documents: list[Document] = []
    for file, text in sources:
        parsed, file_problems = parse_documents(text, file)
        problems += file_problems
        for source in parsed:
            document, document_problems = _check_document(source, file)
            problems += document_problems
            if document is not None:
                documents.append(document)
    problems += _duplicate_problems(documents)
    shops = _shop_profiles(documents)
    problems += _unknown_shop_problems(documents, shops)
    if problems:
        file_order = {file: index for index, (file, _) in enumerate(sources)}
        raise ManifestError(sorted(problems, key=lambda p: _order(p, file_order)))
    return ManifestSet(
        shops=shops, documents=tuple(d for d in documents if d.kind != SHOP_KIND)
    )


def _order(problem: Problem, file_order: Mapping[str, int]) -> tuple[Any, ...]:
    return (
        file_order.get(problem.file, -1),  # unreadable files first: nothing else is known of them
        problem.file,
        problem.line or 0,
        problem.column or 0,
        problem.path,
    )


def _check_document(source: SourceDocument, file: str) -> tuple[Document | None, list[Problem]]:
    """A document's own problems; the Document is returned even when invalid, for cross-checks only."""
    value, marks = source.value, source.marks
    if not isinstance(value, dict):
        message = "a manifest document must be a mapping with apiVersion, kind, metadata and spec"
        return None, [*source.problems, problem_at(file, marks, (), message)]
    problems = [*source.problems, *_header_problems(value, file, marks)]
    kind = value.get("kind")
    if kind not in known_kinds():
        return None, problems
    problems += schema_problems(value, kind, file, marks)
    return _document(value, file, marks), _first_per_path(problems)


def _header_problems(
    value: dict[str, Any], file: str, marks: Mapping[FieldPath, Mark]
) -> list[Problem]:
    """apiVersion and kind first: they decide which schema applies, so they get their own words."""
    problems: list[Problem] = []
    for field in ("apiVersion", "kind"):
        if field not in value:
            message = f"missing required field {field!r}"
            problems.append(problem_at(file, marks, (field,), message, located_at=()))
    api_version, kind = value.get("apiVersion", API_VERSION), value.get("kind")
    if api_version != API_VERSION:
        message = f"unsupported apiVersion {api_version!r}; expected {API_VERSION!r}"
        problems.append(problem_at(file, marks, ("apiVersion",), message))
    if "kind" in value and kind not in known_kinds():
        message = f"unknown kind {kind!r}; known kinds: {', '.join(known_kinds())}"
        problems.append(problem_at(file, marks, ("kind",), message))
    return problems


def _first_per_path(problems: list[Problem]) -> list[Problem]:
    """The YAML and header checks speak first; the schema's restatement of the same field is dropped."""
    seen: set[str] = set()
    kept: list[Problem] = []
    for problem in problems:
        if problem.path and problem.path in seen:
            continue
        seen.add(problem.path)
        kept.append(problem)
    return kept


def _document(value: dict[str, Any], file: str, marks: Mapping[FieldPath, Mark]) -> Document | None:
    metadata = value.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        return None  # no identity: nothing to cross-check (the schema already said why)
    shop = metadata.get("shop")
    spec = value.get("spec")
    return Document(
        file=file,
        line=marks[()][0],
        api_version=str(value.get("apiVersion")),
        kind=str(value["kind"]),
        name=metadata["name"],
        shop=shop if isinstance(shop, str) and value["kind"] != SHOP_KIND else None,
        metadata=metadata,
        spec=spec if isinstance(spec, dict) else {},
        marks=marks,
    )


def _duplicate_problems(documents: Sequence[Document]) -> list[Problem]:
    first_by_key: dict[tuple[str | None, str, str], Document] = {}
    problems: list[Problem] = []
    for document in documents:
        key = (document.shop, document.kind, document.name)
        first = first_by_key.setdefault(key, document)
        if first is document:
            continue
        where = f" in shop {document.shop!r}" if document.shop else ""
        message = (
            f"duplicate {document.kind} {document.name!r}{where}; "
            f"first declared at {first.file}:{first.line}"
        )
        problems.append(document.problem(("metadata", "name"), message))
    return problems


def _shop_profiles(documents: Sequence[Document]) -> dict[str, ShopProfile]:
    shops: dict[str, ShopProfile] = {}
    for document in documents:
        if document.kind == SHOP_KIND and document.name not in shops:  # duplicates already reported
            shops[document.name] = ShopProfile.from_document(document)
    return shops


def _unknown_shop_problems(
    documents: Sequence[Document], shops: Mapping[str, ShopProfile]
) -> list[Problem]:
    declared = ", ".join(sorted(shops)) or "none (add a document of kind Shop, e.g. campaigns/shops.yaml)"
    return [
        document.problem(("metadata", "shop"), f"unknown shop {document.shop!r}; declared shops: {declared}")
        for document in documents
        if document.shop is not None and document.shop not in shops
    ]
