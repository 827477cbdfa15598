"""Jinja2 manifests: `*.yaml.j2` rendered to YAML text before parsing, sandboxed.

A template sees only its variables (the root's vars.yaml) and files under its root; it cannot
read the environment, other files, or Python internals, because templates arrive in pull
requests and the plan job that renders them holds a shop's credentials. So:

- ImmutableSandboxedEnvironment: no `_`-attributes (`__class__`, `__globals__`, …), no unsafe
  callables, no mutation of the shared variables (`list.append`, `dict.update`).
- The loader is confined to the root: absolute names and `..` are refused, and a path whose real
  location (symlinks resolved) is outside the root is refused before it is read.
- StrictUndefined: a misspelt variable is an error naming template, line and variable.
- Limits (RenderLimits): range() length, results of `*`, `**` and `+`, rendered output size, and
  wall-clock time (SIGALRM, main thread only). They stop runaway loops and obvious bombs; a
  determined template can still use a lot of memory, so CI should also cap the job.

Where rendered lines come from: a Jinja extension puts an invisible mark (private-use characters
around an index) in front of the first non-blank character of every literal template line as the
template is compiled, so marks travel with the text through loops, includes, imports and macros.
After rendering, the marks are stripped and each rendered line is attributed to the first mark on
it, or when it has none (text produced by an expression) to the last mark before it. Marks sit
after indentation and after Jinja has already applied whitespace control, so they never change
what is rendered. Limitation: text captured with `{% set x %}…{% endset %}` carries its marks
into `x`, so comparing or measuring such a block (`x == "…"`, `x|length`) sees them.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from jinja2 import StrictUndefined, TemplateNotFound, TemplateSyntaxError, UndefinedError
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.lexer import TOKEN_DATA, Token, TokenStream
from jinja2.loaders import BaseLoader
from jinja2.sandbox import ImmutableSandboxedEnvironment

from reconciler.errors import Problem
from reconciler.i18n import _
from reconciler.manifest.confine import ConfinementError, confined
from reconciler.manifest.source_map import LineOrigin, SourceMap, split_lines
from reconciler.manifest.yaml_source import parse_documents

TEMPLATE_SUFFIXES = (".yaml.j2", ".yml.j2")
VARS_FILE = "vars.yaml"
PARTIAL_PREFIX = "_"  # _stairs.yaml.j2: only included or imported, never a manifest by itself
SHOPS_KEY = "shops"

_MARK = re.compile("\ue000(\\d+)\ue001")
_FIRST_CONTENT = re.compile(r"^([ \t]*)(?=\S)", re.MULTILINE)


@dataclass(frozen=True)
class RenderLimits:
    max_output_chars: int = 20_000_000  # per template file; ~20 shops × 50 activities × 500 items fit
    max_range: int = 10_000  # numbers in one range()
    max_value_chars: int = 1_000_000  # result of `'x' * n`, `a + b` on strings/lists
    max_number_bits: int = 4_096  # result of `a ** b`
    max_seconds: float = 10.0  # per template file (only enforced on the main thread)


@dataclass(frozen=True)
class RenderedTemplate:
    file: str  # the template's path as found, e.g. campaigns/category-pools.yaml.j2
    text: str  # YAML, marks removed
    source_map: SourceMap


def is_template(path: Path) -> bool:
    return path.name.endswith(TEMPLATE_SUFFIXES)


def is_partial(path: Path) -> bool:
    return is_template(path) and path.name.startswith(PARTIAL_PREFIX)


def template_root(start: Path) -> Path:
    """The root for a template file given directly, whose directory is `start`: the nearest
    directory from `start` upwards that holds vars.yaml, going no higher than the working
    directory; else `start`. (A directory given on the command line is itself the root.)

    The root is where vars come from and the only place includes may read."""
    cwd = Path.cwd().resolve()
    resolved = start.resolve()
    steps = len(resolved.relative_to(cwd).parts) if resolved.is_relative_to(cwd) else 0
    candidate = start
    for _step in range(steps + 1):
        if (candidate / VARS_FILE).is_file():
            return candidate
        candidate = candidate.parent
    return start


def render_templates(
    templates: Sequence[tuple[Path, Path]], limits: RenderLimits = RenderLimits()
) -> tuple[list[RenderedTemplate], list[Problem]]:
    """Render each (template, root) pair; every problem of every template is returned, none raised."""
    renderers: dict[Path, _Renderer] = {}
    rendered: list[RenderedTemplate] = []
    problems: list[Problem] = []
    for path, root in templates:
        if root not in renderers:
            renderers[root] = _Renderer(root, limits)
            problems += renderers[root].vars_problems
        renderer = renderers[root]
        if renderer.vars_problems:
            continue  # already reported; rendering with half the variables would only add noise
        result = renderer.render(path)
        if isinstance(result, RenderedTemplate):
            rendered.append(result)
        else:
            problems.append(result)
    return rendered, problems


class _TemplateError(Exception):
    """A template broke one of our rules; raised inside rendering, reported as a Problem."""


class _RenderTimeout(_TemplateError):
    pass


class _Renderer:
    """Renders the templates of one root with that root's variables."""

    def __init__(self, root: Path, limits: RenderLimits) -> None:
        self.root = root
        self.limits = limits
        self.environment = _SandboxedEnvironment(root, limits)
        self.variables, self.vars_problems = load_vars(root)

    def render(self, path: Path) -> RenderedTemplate | Problem:
        environment = self.environment
        file = str(path)
        try:
            with _time_limit(self.limits.max_seconds):
                template = environment.get_template(path.relative_to(self.root).as_posix())
                output = _bounded_join(template.generate(self.variables), self.limits.max_output_chars)
        except _OutputTooLarge:
            message = _("the rendered output is over {limit:,} characters; split the template or shorten its loops").format(
                limit=self.limits.max_output_chars)
            return Problem(file, None, None, "", message)
        except Exception as error:  # noqa: BLE001 — any template failure is the author's to fix
            return self._problem(error, file)
        text, source_map = _strip_marks(output, file, environment)
        return RenderedTemplate(file, text, source_map)

    def _problem(self, error: Exception, file: str) -> Problem:
        if isinstance(error, TemplateSyntaxError):
            where = error.filename or file
            return Problem(where, error.lineno, None, "", _("template syntax error: {error}").format(error=error.message))
        frames = _template_frames(error.__traceback__, self.environment.texts)
        where, line = frames[-1] if frames else (file, None)
        callers = list(dict.fromkeys(f"{f}:{n}" for f, n in frames[:-1] if f != where))[:3]
        described = self._describe(error)
        if callers:
            described = _("{problem} (reached from {callers})").format(problem=described, callers=", ".join(callers))
        return Problem(where, line, None, "", described)

    def _describe(self, error: Exception) -> str:
        if isinstance(error, SecurityError):
            return _("not allowed in a template: {error}").format(error=error)
        if isinstance(error, UndefinedError):
            if not str(error.message).endswith("is undefined"):  # a missing key or attribute
                return _("undefined value: {error}").format(error=error.message)
            vars_file = self.root / VARS_FILE
            if not vars_file.exists():
                return _("undefined variable: {error}; define it in {vars_file} (there is none yet)").format(
                    error=error.message, vars_file=vars_file)
            defined = ", ".join(sorted(self.variables)) or _("none")
            return _("undefined variable: {error}; variables come from {vars_file} (defined: {defined})").format(
                error=error.message, vars_file=vars_file, defined=defined)
        if isinstance(error, TemplateNotFound):
            return _("no file {name} to include under {root}/ (includes are relative to it)").format(
                name=repr(error.name), root=self.root)
        if isinstance(error, _TemplateError):
            return str(error)
        return _("template error: {type}: {error}").format(type=type(error).__name__, error=error)


def load_vars(root: Path) -> tuple[dict[str, Any], list[Problem]]:
    """root/vars.yaml as template variables, plus `shops`: each shop's entry under `shops:` laid
    over the top-level variables (a shop's value replaces the top-level one of the same name)."""
    path = root / VARS_FILE
    if not path.exists():
        return {SHOPS_KEY: {}}, []
    file = str(path)
    if not path.resolve().is_relative_to(root.resolve()):
        return {}, [Problem(file, None, None, "", _("{file} must be a file inside {root}/, not a link out of it").format(file=VARS_FILE, root=root))]
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        return {}, [Problem(file, None, None, "", _("cannot read: {error}").format(error=error))]
    documents, problems = parse_documents(text, file)
    for document in documents:
        problems += document.problems
    if len(documents) > 1:
        problems.append(Problem(file, documents[1].marks[()][0], None, "", _("vars.yaml must hold one document")))
    values = documents[0].value if documents else {}
    if not isinstance(values, dict):
        problems.append(Problem(file, 1, None, "", _("vars.yaml must be a mapping of variable names to values")))
        return {}, problems
    shops = values.get(SHOPS_KEY) or {}
    line = documents[0].marks.get((SHOPS_KEY,), (None, None))[0] if documents else None
    if not isinstance(shops, dict) or not all(isinstance(v, dict | None) for v in shops.values()):
        message = _("shops must map each shop name to its own variables, e.g. shops: {{demo-shop: {{region: east}}}}").format()
        problems.append(Problem(file, line, None, SHOPS_KEY, message))
        return {}, problems
    top_level = {name: value for name, value in values.items() if name != SHOPS_KEY}
    merged = {shop: {**top_level, **(own or {})} for shop, own in shops.items()}
    return {**top_level, SHOPS_KEY: merged}, problems


class _ConfinedLoader(BaseLoader):
    """Loads template names relative to the root, and nothing outside it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        path = self._path(template)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise TemplateNotFound(template, f"cannot read {template!r}: {type(error).__name__}") from None
        filename = str(self.root / template)
        if isinstance(environment, _SandboxedEnvironment):
            environment.texts[filename] = split_lines(text)
        return text, filename, lambda: True  # one environment per run: never stale

    def _path(self, template: str) -> Path:
        try:
            path = confined(self.root, self.root, template)  # reconciler/manifest/confine.py
        except ConfinementError as error:
            raise SecurityError(str(error)) from None
        if not path.is_file():
            raise TemplateNotFound(template)
        return path


class _LineMarks(Extension):
    """Marks each literal line with where it was written (see the module docstring)."""

    def filter_stream(self, stream: TokenStream) -> Iterable[Token]:
        environment = self.environment
        assert isinstance(environment, _SandboxedEnvironment)
        filename = stream.filename or stream.name or "<template>"
        for token in stream:
            if token.type == TOKEN_DATA:
                token = Token(token.lineno, TOKEN_DATA, _marked(token.value, token.lineno, filename, environment))
            yield token


def _marked(data: str, first_line: int, filename: str, environment: _SandboxedEnvironment) -> str:
    def mark(match: re.Match[str]) -> str:
        line = first_line + data.count("\n", 0, match.start())
        return match.group(1) + environment.mark_for(filename, line)

    return _FIRST_CONTENT.sub(mark, data)


class _SandboxedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, root: Path, limits: RenderLimits) -> None:
        self.limits = limits
        self.places: list[tuple[str, int]] = []
        self._place_index: dict[tuple[str, int], int] = {}
        self.texts: dict[str, list[str]] = {}
        super().__init__(
            loader=_ConfinedLoader(root),
            undefined=StrictUndefined,
            extensions=[_LineMarks],
            trim_blocks=True,  # a line holding only {% for %} or {% if %} leaves nothing behind
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,  # YAML, not HTML
        )
        self.globals.pop("lipsum", None)  # generates text of any size; no use in a manifest
        self.globals["range"] = self._range

    def mark_for(self, filename: str, line: int) -> str:
        key = (filename, line)
        if key not in self._place_index:
            self._place_index[key] = len(self.places)
            self.places.append(key)
        return f"\ue000{self._place_index[key]}\ue001"

    def _range(self, *args: int) -> range:
        numbers = range(*args)
        if len(numbers) > self.limits.max_range:
            raise SecurityError(_("range() of {count:,} numbers; the limit in a template is {limit:,}").format(
                count=len(numbers), limit=self.limits.max_range))
        return numbers

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            self._check_power(left, right)
        elif operator == "*":
            self._check_size(_repeat_size(left, right), "'*'")
        elif operator == "+" and _sized(left) and _sized(right):
            self._check_size(len(left) + len(right), "'+'")
        return super().call_binop(context, operator, left, right)

    def _check_power(self, base: Any, exponent: Any) -> None:
        if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
            if exponent * abs(base).bit_length() > self.limits.max_number_bits:
                raise SecurityError(_("{base} ** {exponent} is too large a number for a template").format(base=base, exponent=exponent))

    def _check_size(self, size: int, operator: str) -> None:
        if size > self.limits.max_value_chars:
            raise SecurityError(
                _("{operator} would build a value of {size:,} items; the limit in a template is {limit:,}").format(
                    operator=operator, size=size, limit=self.limits.max_value_chars)
            )


def _sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple)


def _repeat_size(left: Any, right: Any) -> int:
    for sequence, count in ((left, right), (right, left)):
        if _sized(sequence) and isinstance(count, int) and not isinstance(count, bool):
            return len(sequence) * count
    return 0


class _OutputTooLarge(Exception):
    pass


def _bounded_join(chunks: Iterator[str], limit: int) -> str:
    parts: list[str] = []
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise _OutputTooLarge
            parts.append(chunk)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return "".join(parts)


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt rendering after `seconds`. Signals reach only the main thread; elsewhere no limit."""
    if seconds <= 0 or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _RenderTimeout(_("rendering took longer than {seconds:g} s; is a loop running away?").format(seconds=seconds))

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _template_frames(traceback: TracebackType | None, texts: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(template file, line) of each frame Jinja attributed to a template, outermost first."""
    frames: list[tuple[str, int]] = []
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if filename in texts:
            frames.append((filename, traceback.tb_lineno))
        traceback = traceback.tb_next
    return frames


def _strip_marks(output: str, file: str, environment: _SandboxedEnvironment) -> tuple[str, SourceMap]:
    """The rendered text without marks, and the origin of each of its lines."""
    lines: list[str] = []
    origins: list[LineOrigin] = []
    latest = (file, 1)  # text produced by an expression belongs to the last mark before it
    for raw in split_lines(output):
        places = [environment.places[int(match.group(1))] for match in _MARK.finditer(raw)]
        place = places[0] if places else latest
        latest = places[-1] if places else latest
        line = _MARK.sub("", raw)
        lines.append(line)
        origins.append(_origin(place, line, environment.texts))
    return "\n".join(lines), SourceMap(file, tuple(lines), tuple(origins))


def _origin(place: tuple[str, int], rendered: str, texts: Mapping[str, list[str]]) -> LineOrigin:
    file, line = place
    source_lines = texts.get(file, [])
    written = source_lines[line - 1] if 0 < line <= len(source_lines) else ""
    return LineOrigin(file, line, len(os.path.commonprefix([rendered, written])), rendered == written)
