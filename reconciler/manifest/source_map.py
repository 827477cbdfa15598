"""Where each line of a rendered manifest came from, so errors found after rendering point at the
template line a person edits, not at text they never wrote.

A template renders to YAML text; the loader parses, validates and checks that text as usual and
then moves every Problem through the SourceMap of its file: the line becomes the template file and
line that produced it (an include or a macro names its own file), the column is kept only where
the rendered line still matches the template text up to it, and when one template line produced
several documents (a loop) the message says which document it is about and how the line rendered.
Pure data and functions; the Jinja side lives in templates.py.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from functools import cached_property

from reconciler.errors import Problem
from reconciler.i18n import _

# PyYAML's own line breaks: rendered line N must be the line YAML calls N.
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
_DOCUMENT_START = re.compile(r"^---(?:[ \t]|$)")
_SNIPPET_LIMIT = 100


def split_lines(text: str) -> list[str]:
    return _LINE_BREAK.split(text)


@dataclass(frozen=True)
class LineOrigin:
    """The template line that produced one rendered line."""

    file: str
    line: int
    # How many leading characters the rendered line shares with that template line: a column
    # inside this prefix is also the template's column; past it the template said something else.
    verbatim: int
    same_text: bool  # the rendered line is the template line unchanged


@dataclass(frozen=True)
class SourceMap:
    """Rendered line (1-based) -> LineOrigin, for one rendered file."""

    rendered_file: str
    lines: tuple[str, ...]  # the rendered text, for showing how a line came out
    origins: tuple[LineOrigin, ...]

    @cached_property
    def _times_rendered(self) -> Counter[tuple[str, int]]:
        return Counter((origin.file, origin.line) for origin in self.origins)

    def origin(self, line: int) -> LineOrigin:
        index = min(max(line, 1), len(self.origins)) - 1
        return self.origins[index]

    def locate(self, problem: Problem, document: str | None = None) -> Problem:
        """`problem` (in rendered coordinates) moved to the template line; `document` names the
        rendered document it concerns (e.g. "ItemPoolActivity 'pool-dairy'") for loops."""
        if problem.line is None or not self.origins:
            return problem
        origin = self.origin(problem.line)
        column = problem.column
        if column is not None and column - 1 > origin.verbatim:
            column = None
        return replace(
            problem,
            file=origin.file,
            line=origin.line,
            column=column,
            message=problem.message + self._context(problem.line, origin, document),
        )

    def _context(self, line: int, origin: LineOrigin, document: str | None) -> str:
        notes: list[str] = []
        if document and self._times_rendered[(origin.file, origin.line)] > 1:
            notes.append(_("in {document}").format(document=document))
        if not origin.same_text and 0 < line <= len(self.lines):
            notes.append(_("rendered as: {text}").format(text=_clip(self.lines[line - 1].strip())))
        # Translators: the separator between notes on where a template line was rendered
        separator = _("; ")
        return f" ({separator.join(notes)})" if notes else ""


def identity_map(file: str, text: str) -> SourceMap:
    """The map of a file that was not rendered: every line is its own origin."""
    lines = split_lines(text)
    origins = tuple(LineOrigin(file, number, len(line), True) for number, line in enumerate(lines, 1))
    return SourceMap(file, tuple(lines), origins)


def annotate(source_map: SourceMap) -> str:
    """The rendered text as documents separated by `---`, each headed by `# source: FILE:LINE`
    (the template line of its first key), for a reviewer to read next to the templates."""
    chunks: list[list[tuple[int, str]]] = [[]]
    for number, text in enumerate(source_map.lines, start=1):
        if _DOCUMENT_START.match(text):
            chunks.append([])
            rest = text[3:].strip()
            if rest:  # `--- {a: 1}` starts a document on the separator line itself
                chunks[-1].append((number, rest))
            continue
        chunks[-1].append((number, text))
    blocks = [_annotated_chunk(chunk, source_map) for chunk in chunks]
    return "---\n".join(block for block in blocks if block)


def _annotated_chunk(chunk: list[tuple[int, str]], source_map: SourceMap) -> str:
    content = [number for number, text in chunk if text.strip() and not text.lstrip().startswith("#")]
    if not content:
        return ""  # comments or blank lines only: no document here
    while chunk and not chunk[-1][1].strip():
        chunk = chunk[:-1]
    origin = source_map.origin(content[0])
    body = "".join(text + "\n" for _, text in chunk).lstrip("\n")
    return f"# source: {origin.file}:{origin.line}\n{body}"


def _clip(text: str) -> str:
    return text if len(text) <= _SNIPPET_LIMIT else text[: _SNIPPET_LIMIT - 1] + "…"
