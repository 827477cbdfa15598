"""YAML text -> plain Python values plus a mark index (path -> 1-based line, column).

PyYAML composes the node graph (libyaml's C parser when installed, much faster on big item
pools); the nodes are converted here rather than by a PyYAML Constructor because manifests
need what no stock constructor gives: decimals built from the source text (money and rates
must never pass through float), timestamps kept verbatim (the kind parses them with their
offset), duplicate keys rejected instead of silently overwritten, and a mark for every path.

The marks are worked out only when first asked for (DocumentMarks): they are needed to report
a problem, and an index of every node of a shop's item pools (a path and a line and column per
key and list element) takes more memory than the values themselves.
"""

from __future__ import annotations

import decimal
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.errors import Problem
from reconciler.i18n import _
from reconciler.manifest.document import FieldPath, Mark, format_path
from reconciler.redaction import excerpt

# The C loader parses the same YAML 1.1 as the pure-Python one, with the same marks.
LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = (
    yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
)

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
TIMESTAMP, VALUE, MERGE = (_TAG + t for t in ("timestamp", "value", "merge"))
MAP, SEQ = _TAG + "map", _TAG + "seq"

# Aliases are expanded into values; this bounds the expansion so a "billion laughs"
# document fails with a Problem instead of eating the machine.
MAX_NODES_PER_DOCUMENT = 1_000_000

# Only used for YAML 1.1 int and bool spelling (0x1F, 1_000, yes/no); both read node.value only.
_SCALARS = SafeConstructor()


class _MarkedText:
    """The text of one file, parsed again for its marks the first time any document needs one.

    Every document of the file gets its marks from that one parse, so a file with problems in
    many documents is parsed twice in all, not once per document.
    """

    __slots__ = ("_loader", "_marks", "_text", "file")

    def __init__(self, text: str, file: str, loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader]) -> None:
        self._text = text
        self.file = file
        self._loader = loader  # the one that composed the values, so the marks match them
        self._marks: list[dict[FieldPath, Mark]] | None = None

    def marks_of(self, position: int) -> dict[FieldPath, Mark]:
        """The marks of the document at `position` in the stream (empty documents counted)."""
        if self._marks is None:
            self._marks = self._parse()
        return self._marks[position]

    def _parse(self) -> list[dict[FieldPath, Mark]]:
        marks: list[dict[FieldPath, Mark]] = []
        try:
            for root in yaml.compose_all(self._text, Loader=self._loader):
                converter = _Converter(self.file, record_marks=True)
                converter.document(root)
                marks.append(converter.marks)
        except yaml.YAMLError:
            pass  # a syntax error ends the stream after the documents the first parse returned
        return marks


class DocumentMarks(Mapping[FieldPath, Mark]):
    """Where each key and list element of one document sits in the file: path -> (line, column).

    A field points at its key, a list element at the element; the root () at the document's
    first node. The root's mark is kept; any other path parses the file again (once per file,
    see _MarkedText), which only reporting a problem needs.
    """

    __slots__ = ("_position", "_root", "_text")

    def __init__(self, text: _MarkedText, position: int, root: Mark) -> None:
        self._text = text
        self._position = position
        self._root = root

    def __getitem__(self, path: FieldPath) -> Mark:
        if path == ():
            return self._root
        return self._text.marks_of(self._position)[path]

    def __iter__(self) -> Iterator[FieldPath]:
        return iter(self._text.marks_of(self._position))

    def __len__(self) -> int:
        return len(self._text.marks_of(self._position))

    def __repr__(self) -> str:
        return f"DocumentMarks({self._text.file!r}, document {self._position + 1}, root at {self._root})"


@dataclass(frozen=True)
class SourceDocument:
    """One YAML document as values, with where each key and list element sits in the file."""

    value: Any
    marks: Mapping[FieldPath, Mark]
    problems: tuple[Problem, ...]


def parse_documents(text: str, file: str) -> tuple[list[SourceDocument], list[Problem]]:
    """All non-empty documents of `text`, plus file-level problems (YAML syntax errors).

    A syntax error ends the stream: documents before it are still returned so their own
    problems can be reported in the same run.
    """
    documents: list[SourceDocument] = []
    marked_text = _MarkedText(text, file, LOADER)
    try:
        for position, root in enumerate(yaml.compose_all(text, Loader=LOADER)):
            value, problems = _Converter(file).document(root)
            if value is not None or problems:  # empty documents are skipped
                marks = DocumentMarks(marked_text, position, _mark(root))
                documents.append(SourceDocument(value, marks, problems))
    except yaml.MarkedYAMLError as error:
        return documents, [_syntax_problem(error, file)]
    except yaml.YAMLError as error:  # reader errors (bad characters) carry no line
        return documents, [Problem(file, None, None, "", _("YAML error: {error}").format(error=error))]
    return documents, []


def _mark(node: Node) -> Mark:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _syntax_problem(error: yaml.MarkedYAMLError, file: str) -> Problem:
    mark = error.problem_mark or error.context_mark
    # PyYAML's own words (error.problem, error.context) stay as it says them; the frame is ours.
    detail = error.problem or error.context or _("cannot parse")
    if error.context and error.problem and error.context_mark is not None:
        ctx = error.context_mark
        message = _("YAML syntax error: {problem} ({context} at line {line}, column {column})").format(
            problem=detail, context=error.context, line=ctx.line + 1, column=ctx.column + 1)
    else:
        message = _("YAML syntax error: {problem}").format(problem=detail)
    if mark is None:
        return Problem(file, None, None, "", message)
    return Problem(file, mark.line + 1, mark.column + 1, "", message)


@dataclass
class _Converter:
    file: str
    record_marks: bool = False  # fill `marks` (DocumentMarks asks for them; the values don't need them)
    marks: dict[FieldPath, Mark] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _open: set[int] = field(default_factory=set)  # ids of nodes being converted (alias cycles)
    _budget: int = MAX_NODES_PER_DOCUMENT

    def document(self, root: Node) -> tuple[Any, tuple[Problem, ...]]:
        if self.record_marks:
            self.marks[()] = _mark(root)
        value = self.convert(root, ())
        return value, tuple(self.problems)

    def problem(self, node: Node, path: FieldPath, message: str) -> None:
        line, column = _mark(node)
        self.problems.append(Problem(self.file, line, column, format_path(path), message))

    def convert(self, node: Node, path: FieldPath) -> Any:
        self._budget -= 1
        if self._budget < 0:
            if self._budget == -1:
                self.problem(node, path, _("document too large once aliases are expanded"))
            return None
        if isinstance(node, ScalarNode):  # most nodes; a scalar cannot contain itself
            return node.value if node.tag == STR else self._scalar(node, path)
        if id(node) in self._open:
            self.problem(node, path, _("an alias refers to a value that contains it (recursive alias)"))
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            assert isinstance(node, SequenceNode)  # the third and last kind of YAML node
            return self._sequence(node, path)
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: ScalarNode, path: FieldPath) -> Any:
        tag = node.tag
        if tag in (STR, TIMESTAMP, VALUE):  # timestamps stay text: the kind parses them with their offset
            return node.value
        if tag == NULL:
            return None
        if tag == FLOAT:
            return self._decimal(node, path)
        try:
            if tag == INT:
                return _SCALARS.construct_yaml_int(node)
            if tag == BOOL:
                return _SCALARS.construct_yaml_bool(node)
        except (ValueError, KeyError):
            self.problem(node, path, _("{value} is not a valid {tag}").format(value=excerpt(str(node.value)), tag=tag.removeprefix(_TAG)))
            return node.value
        self.problem(node, path, _("unsupported YAML tag {tag}; write a plain value").format(tag=repr(tag)))
        return node.value

    def _decimal(self, node: ScalarNode, path: FieldPath) -> Any:
        """From the source text, so 0.6 is exactly Decimal("0.6"), never 0.59999999999999997779."""
        text = node.value.replace("_", "")
        try:
            number = decimal.Decimal(text)
        except decimal.InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            # .inf, .nan and base-60 floats have no place in a price; keep the text so the
            # schema does not also report a missing field here.
            self.problem(node, path, _("{value} is not a finite decimal number").format(value=excerpt(str(node.value))))
            return node.value
        return number

    def _sequence(self, node: SequenceNode, path: FieldPath) -> Any:
        if node.tag != SEQ:
            self.problem(node, path, _("unsupported YAML tag {tag}; write a plain list").format(tag=repr(node.tag)))
        items: list[Any] = []
        for index, element in enumerate(node.value):
            if self.record_marks:
                self.marks[path + (index,)] = _mark(element)
            items.append(self.convert(element, path + (index,)))
        return items

    def _mapping(self, node: MappingNode, path: FieldPath) -> Any:
        if node.tag != MAP:
            self.problem(node, path, _("unsupported YAML tag {tag}; write a plain mapping").format(tag=repr(node.tag)))
        result: dict[str, Any] = {}
        first_key_node: dict[str, Node] = {}  # the line is only worked out for a duplicate
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                merges.append(value_node)
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in first_key_node:
                first_line = _mark(first_key_node[key])[0]
                self.problem(key_node, path + (key,), _("duplicate key {key} (first at line {line})").format(key=excerpt(str(key)), line=first_line))
                continue
            first_key_node[key] = key_node
            self._entry(result, key_node, key, value_node, path)
        # YAML merge keys (<<: *defaults): explicit keys win, then earlier merge sources.
        for key_node, value_node in self._merge_pairs(merges, path):
            key = self._key(key_node, path)
            if key is not None and key not in result:
                self._entry(result, key_node, key, value_node, path)
        return result

    def _entry(
        self, result: dict[str, Any], key_node: Node, key: str, value_node: Node, path: FieldPath
    ) -> None:
        if self.record_marks:
            self.marks[path + (key,)] = _mark(key_node)  # a field points at its key, not its value
        result[key] = self.convert(value_node, path + (key,))

    def _merge_pairs(self, sources: list[Node], path: FieldPath) -> list[tuple[Node, Node]]:
        pairs: list[tuple[Node, Node]] = []
        for source in sources:
            mappings = source.value if isinstance(source, SequenceNode) else [source]
            for mapping in mappings:
                if not isinstance(mapping, MappingNode):
                    self.problem(mapping, path, _("'<<' (merge) needs a mapping or a list of mappings"))
                    continue
                own = [(k, v) for k, v in mapping.value if k.tag != MERGE]
                nested = [v for k, v in mapping.value if k.tag == MERGE]
                pairs += own + self._merge_pairs(nested, path)
        return pairs

    def _key(self, key_node: Node, path: FieldPath) -> str | None:
        if not isinstance(key_node, ScalarNode):
            self.problem(key_node, path, _("mapping keys must be plain strings, not lists or mappings"))
            return None
        if key_node.tag == STR:
            # Interned: the same few keys repeat in every pool item, one string each is enough.
            return sys.intern(key_node.value)
        # e.g. `on:` or `1:` — YAML 1.1 reads these as bool / int, which no manifest field is.
        kind = key_node.tag.removeprefix(_TAG)
        self.problem(
            key_node,
            path + (key_node.value,),
            _("key {key} is read as {kind}, not a string; quote it if it is meant as a name").format(
                key=excerpt(str(key_node.value)), kind=kind),
        )
        return None
