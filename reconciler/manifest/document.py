"""The loaded, validated form of a manifest document, and how to point at a place inside it.

Everything here is plain data: the loader builds these values, kinds read them and use
`Document.problem` so their own checks name file, line, column and path like the schema's do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.errors import Problem
from reconciler.manifest.source_map import SourceMap

FieldPath = tuple[str | int, ...]  # from the document root: ("spec", "stairs", 0, "when")
Mark = tuple[int, int]  # 1-based (line, column)

# Keys that can be written bare in a dotted path; anything else is shown as ["..."] so the
# path stays unambiguous (a key containing "." or "[" would otherwise read as nesting).
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Sequence[str | int]) -> str:
    """("spec", "stairs", 0, "when") -> "spec.stairs[0].when"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def nearest_mark(
    marks: Mapping[FieldPath, Mark], path: Sequence[str | int]
) -> tuple[int | None, int | None]:
    """The mark of `path`, or of its nearest recorded ancestor (a missing field has no mark of its own)."""
    candidate = tuple(path)
    while True:
        mark = marks.get(candidate)
        if mark is not None:
            return mark
        if not candidate:
            return None, None
        candidate = candidate[:-1]


def problem_at(
    file: str,
    marks: Mapping[FieldPath, Mark],
    path: Sequence[str | int],
    message: str,
    *,
    located_at: Sequence[str | int] | None = None,
) -> Problem:
    """A Problem for `path`; `located_at` points elsewhere when the field itself has no place in the text."""
    line, column = nearest_mark(marks, path if located_at is None else located_at)
    return Problem(file=file, line=line, column=column, path=format_path(path), message=message)


@dataclass(frozen=True)
class Document:
    """One valid manifest document. `metadata` and `spec` hold YAML values (Decimal, not float).

    For a document rendered from a template, `file` and `line` name the template line a person
    edits, while `marks` are positions in the rendered YAML; `source_map` translates them, so
    `problem` always points at the template.
    """

    file: str  # the path as found (relative if given relative)
    line: int  # line of the document's first key
    api_version: str
    kind: str
    name: str  # metadata.name
    shop: str | None  # metadata.shop (None for kind Shop)
    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]
    marks: Mapping[FieldPath, Mark]
    source_map: SourceMap | None = None  # set when the document was rendered from a template
    root: str | None = None  # the manifests' root; None (texts given directly): the file's own directory

    def locate(self, path: Sequence[str | int]) -> tuple[int | None, int | None]:
        """Line and column in the YAML text that was parsed (the rendered text for a template)."""
        return nearest_mark(self.marks, path)

    def problem(self, path: Sequence[str | int], message: str) -> Problem:
        problem = problem_at(self.file, self.marks, path, message)
        if self.source_map is None:
            return problem
        return self.source_map.locate(problem, f"{self.kind} {self.name!r}")


DEFAULT_ENV: Mapping[str, str] = {
    "app_key": "TOP_APP_KEY",
    "app_secret": "TOP_APP_SECRET",
    "session": "TOP_SESSION",
    "gateway": "TOP_GATEWAY",
}
DEFAULT_SIGN_METHOD = "hmac-sha256"


@dataclass(frozen=True)
class TaokeApp:
    """The Alimama (Taoke) app a shop's Taoke cash gifts are sent with (``spec.taoke``): TOP's SDKs
    call taobao.tbk.dg.vegas.tlj.* with a Taoke app's key and an ad zone, without a seller session
    (reconciler.top.apps). Env var *names* only, like the shop's own ``env``."""

    env: Mapping[str, str]  # "app_key" / "app_secret" -> env var name
    adzone_id: int | None  # the ad zone a gift uses when it names none
    where: str  # "file:line" of spec.taoke, for errors

    @classmethod
    def from_spec(cls, taoke: Mapping[str, Any], document: Document) -> TaokeApp:
        line, _ = document.locate(("spec", "taoke"))
        adzone_id = taoke.get("adzone_id")
        return cls(
            env=dict(taoke["env"]),
            adzone_id=int(adzone_id) if adzone_id is not None else None,
            where=f"{document.file}:{line or document.line}",
        )


@dataclass(frozen=True)
class ShopProfile:
    """A shop to talk to. Holds env var *names* only: credentials never pass through manifests."""

    name: str
    gateway: str | None  # spec.gateway
    sign_method: str
    env: Mapping[str, str]  # role -> env var name
    source: Document
    taoke: TaokeApp | None = None  # spec.taoke: the app its TaokeCashGifts are sent with
    credentials: str = "env"  # spec.credentials: env | file | store (reconciler/top/providers.py)

    @classmethod
    def from_document(cls, document: Document) -> ShopProfile:
        spec = document.spec
        taoke = spec.get("taoke")
        return cls(
            name=document.name,
            gateway=spec.get("gateway"),
            sign_method=spec.get("sign_method", DEFAULT_SIGN_METHOD),
            env={**DEFAULT_ENV, **spec.get("env", {})},
            source=document,
            taoke=TaokeApp.from_spec(taoke, document) if taoke else None,
            credentials=spec.get("credentials", "env"),
        )


@dataclass(frozen=True)
class ManifestSet:
    shops: Mapping[str, ShopProfile]
    documents: tuple[Document, ...]  # every non-Shop document, in file order
