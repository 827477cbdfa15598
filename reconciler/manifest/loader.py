"""Files -> a validated ManifestSet, or one ManifestError listing every problem in every file.

Order of checks per document: (jinja2 render for *.yaml.j2) -> YAML -> header (apiVersion, kind)
-> the kind's JSON Schema; then across documents: unique (shop, kind, name) and shops that exist.
All problems are collected before raising, so one run shows a reviewer everything that needs fixing.
A rendered file is checked in rendered coordinates; its SourceMap then moves every problem, and
each Document's file and line, to the template line that produced it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import ManifestError, Problem
from reconciler.i18n import _
from reconciler.manifest.document import (
    Document,
    FieldPath,
    ManifestSet,
    Mark,
    ShopProfile,
    problem_at,
)
from reconciler.manifest.schema import known_kinds, schema_problems
from reconciler.manifest.source_map import SourceMap, annotate, identity_map
from reconciler.manifest.templates import (
    VARS_FILE,
    RenderLimits,
    is_partial,
    is_template,
    render_templates,
    template_root,
)
from reconciler.manifest.yaml_source import SourceDocument, parse_documents

API_VERSION = "campaigns/v1"
SHOP_KIND = "Shop"
DEFAULT_PATHS = ("campaigns",)
MANIFEST_SUFFIXES = (".yaml", ".yml")
TEMPLATE_VARS_FILE = VARS_FILE  # template variables, not a manifest


@dataclass(frozen=True)
class ManifestSource:
    """The YAML text of one manifest file; for a template, its rendering and where each line came from."""

    file: str
    text: str
    source_map: SourceMap | None = None  # None: the text is the file itself
    root: str | None = None  # the manifests' root: files this manifest names must be inside it

    def locate(self, problem: Problem, document: str | None = None) -> Problem:
        return problem if self.source_map is None else self.source_map.locate(problem, document)

    def annotated(self) -> str:
        """The YAML with each document headed by `# source: FILE:LINE`, for review."""
        return annotate(self.source_map or identity_map(self.file, self.text))


def find_manifest_files(paths: Sequence[str]) -> list[Path]:
    """Files given directly, plus *.yaml / *.yml / *.yaml.j2 under given directories (recursively), sorted.

    Hidden directories (.git, .github, .reconciler) are not searched: their YAML is never a manifest.
    Nor is vars.yaml, wherever it is: it holds template variables; nor a template whose name starts
    with "_": it is a partial, only included or imported by other templates.
    """
    return [path for path, _ in _find(paths)]


def _find(paths: Sequence[str]) -> list[tuple[Path, Path]]:
    """(file, its root), sorted by file. The root is the directory given, or for a file given
    directly the nearest directory above it holding vars.yaml; templates read nothing outside it."""
    found: dict[Path, Path] = {}
    for given in paths or DEFAULT_PATHS:
        root = Path(given)
        if root.is_dir():
            for path in _manifests_under(root):
                found.setdefault(path, root)
        elif root.is_file():
            found.setdefault(root, template_root(root.parent))
        else:
            raise ManifestError([Problem(given, None, None, "", _("no such file or directory"))])
    return sorted((path, start) for path, start in found.items() if path.name != TEMPLATE_VARS_FILE)


def _manifests_under(root: Path) -> list[Path]:
    return [
        path
        for path in root.rglob("*")
        if (path.suffix in MANIFEST_SUFFIXES or (is_template(path) and not is_partial(path)))
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts[:-1])
    ]


def load_manifests(paths: Sequence[str], limits: RenderLimits = RenderLimits()) -> ManifestSet:
    sources, problems = _read_sources(paths, limits)
    return _load(sources, problems)


def render_manifests(paths: Sequence[str], limits: RenderLimits = RenderLimits()) -> list[ManifestSource]:
    """The YAML text of every manifest file, templates rendered (for `reconciler render`).

    Raises ManifestError only for files that cannot be read or rendered: the text of a rendering
    that is not valid YAML is exactly what a reviewer needs to see."""
    sources, problems = _read_sources(paths, limits)
    if problems:
        raise ManifestError(problems)
    return sources


def load_manifest_texts(sources: Sequence[tuple[str, str]]) -> ManifestSet:
    """Like load_manifests, for (file name, YAML text) pairs that need no rendering."""
    return _load([ManifestSource(file, text) for file, text in sources], [])


def _read_sources(paths: Sequence[str], limits: RenderLimits) -> tuple[list[ManifestSource], list[Problem]]:
    files = _find(paths)
    plain: dict[Path, ManifestSource] = {}
    problems: list[Problem] = []
    for path, root in files:
        if is_template(path):
            continue
        if not path.resolve().is_relative_to(root.resolve()):
            # A link committed in a pull request could otherwise show a file of the CI machine in errors.
            message = _("is a link to a place outside {root}/; manifests must be files inside it").format(root=root)
            problems.append(Problem(str(path), None, None, "", message))
            continue
        try:
            # utf-8-sig: editors on Windows may prepend a BOM.
            plain[path] = ManifestSource(str(path), path.read_bytes().decode("utf-8-sig"), root=str(root))
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(str(path), None, None, "", _("cannot read: {error}").format(error=error)))
    templates = [(path, root) for path, root in files if is_template(path)]
    rendered, render_problems = render_templates(templates, limits)
    roots = {str(path): str(root) for path, root in templates}
    by_file = {item.file: ManifestSource(item.file, item.text, item.source_map, roots.get(item.file)) for item in rendered}
    sources = [plain.get(path) or by_file.get(str(path)) for path, _ in files]
    return [source for source in sources if source is not None], problems + render_problems


def _load(sources: Sequence[ManifestSource], problems: list[Problem]) -> ManifestSet:
    with _collector_paused():
        documents = _documents(sources, problems)
    problems += _duplicate_problems(documents)
    shops = _shop_profiles(documents)
    problems += _unknown_shop_problems(documents, shops)
    if problems:
        file_order = {source.file: index for index, source in enumerate(sources)}
        raise ManifestError(sorted(problems, key=lambda p: _order(p, file_order)))
    return ManifestSet(
        shops=shops, documents=tuple(d for d in documents if d.kind != SHOP_KIND)
    )


def _documents(sources: Sequence[ManifestSource], problems: list[Problem]) -> list[Document]:
    """Every document that passed its own checks; the problems of the others are added to `problems`."""
    documents: list[Document] = []
    for source in sources:
        parsed, file_problems = parse_documents(source.text, source.file)
        problems += [source.locate(problem) for problem in file_problems]
        for parsed_document in parsed:
            document, document_problems = _check_document(parsed_document, source.file, source.source_map, source.root)
            label = _label(parsed_document.value)
            problems += [source.locate(problem, label) for problem in document_problems]
            if document is not None:
                documents.append(document)
    return documents


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while the manifests are parsed.

    Parsing a shop's item pools allocates millions of objects that all stay alive, and the
    collector, triggered by allocation counts, scanned the growing heap again and again for
    garbage there is none of (a second of a 6 s load on the bench shop). The little cyclic
    garbage parsing can make (a recursive YAML alias) is collected once it is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _order(problem: Problem, file_order: Mapping[str, int]) -> tuple[Any, ...]:
    return (
        file_order.get(problem.file, -1),  # unreadable files first: nothing else is known of them
        problem.file,
        problem.line or 0,
        problem.column or 0,
        problem.path,
    )


def _label(value: Any) -> str | None:
    """How a problem names its document when one template line rendered several: kind 'name'."""
    if not isinstance(value, dict) or not isinstance(value.get("metadata"), dict):
        return None
    name = value["metadata"].get("name")
    return f"{value.get('kind', 'document')} {name!r}" if isinstance(name, str) else None


def _check_document(
    source: SourceDocument, file: str, source_map: SourceMap | None = None, root: str | None = None
) -> tuple[Document | None, list[Problem]]:
    """A document's own problems; the Document is returned even when invalid, for cross-checks only."""
    value, marks = source.value, source.marks
    if not isinstance(value, dict):
        message = _("a manifest document must be a mapping with apiVersion, kind, metadata and spec")
        return None, [*source.problems, problem_at(file, marks, (), message)]
    problems = [*source.problems, *_header_problems(value, file, marks)]
    kind = value.get("kind")
    if kind not in known_kinds():
        return None, problems
    problems += schema_problems(value, kind, file, marks)
    return _document(value, file, marks, source_map, root), _first_per_path(problems)


def _header_problems(
    value: dict[str, Any], file: str, marks: Mapping[FieldPath, Mark]
) -> list[Problem]:
    """apiVersion and kind first: they decide which schema applies, so they get their own words."""
    problems: list[Problem] = []
    for field in ("apiVersion", "kind"):
        if field not in value:
            message = _("missing required field {field}").format(field=repr(field))
            problems.append(problem_at(file, marks, (field,), message, located_at=()))
    api_version, kind = value.get("apiVersion", API_VERSION), value.get("kind")
    if api_version != API_VERSION:
        message = _("unsupported apiVersion {given}; expected {expected}").format(given=repr(api_version), expected=repr(API_VERSION))
        problems.append(problem_at(file, marks, ("apiVersion",), message))
    if "kind" in value and kind not in known_kinds():
        message = _("unknown kind {kind}; known kinds: {kinds}").format(kind=repr(kind), kinds=", ".join(known_kinds()))
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


def _document(
    value: dict[str, Any], file: str, marks: Mapping[FieldPath, Mark], source_map: SourceMap | None,
    root: str | None = None,
) -> Document | None:
    metadata = value.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        return None  # no identity: nothing to cross-check (the schema already said why)
    shop = metadata.get("shop")
    spec = value.get("spec")
    line = marks[()][0]
    if source_map is not None:  # a rendered document is declared where its first key was written
        origin = source_map.origin(line)
        file, line = origin.file, origin.line
    return Document(
        file=file,
        line=line,
        api_version=str(value.get("apiVersion")),
        kind=str(value["kind"]),
        name=metadata["name"],
        shop=shop if isinstance(shop, str) and value["kind"] != SHOP_KIND else None,
        metadata=metadata,
        spec=spec if isinstance(spec, dict) else {},
        marks=marks,
        source_map=source_map,
        root=root,
    )


def _duplicate_problems(documents: Sequence[Document]) -> list[Problem]:
    first_by_key: dict[tuple[str | None, str, str], Document] = {}
    problems: list[Problem] = []
    for document in documents:
        key = (document.shop, document.kind, document.name)
        first = first_by_key.setdefault(key, document)
        if first is document:
            continue
        first_at = f"{first.file}:{first.line}"
        if document.shop:
            message = _("duplicate {kind} {name} in shop {shop}; first declared at {first}").format(
                kind=document.kind, name=repr(document.name), shop=repr(document.shop), first=first_at)
        else:
            message = _("duplicate {kind} {name}; first declared at {first}").format(
                kind=document.kind, name=repr(document.name), first=first_at)
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
    declared = ", ".join(sorted(shops)) or _("none (add a document of kind Shop, e.g. campaigns/shops.yaml)")
    return [
        document.problem(("metadata", "shop"),
                         _("unknown shop {shop}; declared shops: {declared}").format(shop=repr(document.shop), declared=declared))
        for document in documents
        if document.shop is not None and document.shop not in shops
    ]
