"""`reconciler export` (issue 19): what TOP holds, as manifest documents in the manifests' own words.

A kind exports through two hooks on `Kind` (kinds/base.py): `export_listed` (every object TOP's
list calls show, or None when TOP has no list call for the kind) and `export_one` (one object by
its remote id). Each returns `Exported` values; this module holds what they share:

- the human units, converted back with kinds/units.py only: fen → yuan strings ("12.00"),
  permille → rates (Decimal 0.85, written as a YAML number, read back exactly), TOP's GMT+8 time
  text and epoch ms → ISO 8601 with +08:00;
- stable names: the title's ASCII slug + the remote id (unique per kind, since ids are), valid as
  metadata.name (the schemas' pattern, at most 63 characters);
- the YAML text: one file per kind, each document after comment lines carrying the remote id and
  what the manifest format does not hold. An object whose values the format cannot hold (`lost`)
  is written commented out, so no plan creates it again and no import links it: a person decides.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import yaml

from reconciler.errors import PlanError
from reconciler.kinds.units import GMT8, fen_to_yuan, from_epoch_ms, parse_top_datetime, permille_to_rate

API_VERSION = "campaigns/v1"
NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # metadata.name in every kind schema
NAME_MAX = 63
COMMENT_WIDTH = 108  # comment lines are wrapped here; the documents themselves at PyYAML's width 110


class ExportError(PlanError):
    """One object cannot be exported (it does not exist, or its kind cannot be exported)."""


@dataclass(frozen=True)
class Exported:
    """One TOP object as a manifest document's parts.

    `notes`: comments for the reader (what TOP returned that the format does not keep, or what TOP
    does not return at all); the document still means what TOP holds. `lost`: values the format
    cannot express; the document is written commented out and never imported."""

    kind: str
    remote_id: str
    name: str
    spec: Mapping[str, Any]
    notes: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()

    @property
    def lossy(self) -> bool:
        return bool(self.lost)

    def ended_by(self, now: datetime) -> str | None:
        """The ISO end of its window when that is before `now`, else None (also for no window)."""
        window = self.spec.get("window")
        end = window.get("end") if isinstance(window, Mapping) else None
        if end is None or datetime.fromisoformat(str(end)) >= now:
            return None
        return str(end)

    def document(self, shop: str) -> dict[str, Any]:
        return {"apiVersion": API_VERSION, "kind": self.kind, "metadata": {"name": self.name, "shop": shop},
                "spec": dict(self.spec)}


# ---- human units (the inverse of each normalise; every conversion is units.py's) ---------------


def yuan_string(fen: object) -> str:
    """1200 → "12.00"."""
    return format(fen_to_yuan(int(str(fen))), "f")


def rate(permille: object) -> Decimal:
    """850 → Decimal("0.85"): written as the YAML number 0.85, which the loader reads as a Decimal."""
    return permille_to_rate(int(str(permille)))


def iso_from_top(text: object) -> str:
    """TOP's "2027-06-18 00:00:00" (GMT+8) → "2027-06-18T00:00:00+08:00"."""
    return parse_top_datetime(str(text)).isoformat()


def iso_from_epoch_ms(epoch_ms: object) -> str:
    return from_epoch_ms(int(str(epoch_ms))).isoformat()


def iso_now(moment: datetime) -> str:
    return moment.astimezone(GMT8).replace(microsecond=0).isoformat()


# ---- names -------------------------------------------------------------------------------------


def slug(text: str) -> str:
    """The ASCII letters and digits of `text`, lowercased, runs of anything else as one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def export_name(title: str, remote_id: str, fallback: str) -> str:
    """`title`'s slug + the remote id ("summer-sale-1001"), after `fallback` when the title has no
    ASCII letters (most Chinese titles): "双11茶叶85折" → "item-discount-11-85-1001". Always a valid
    metadata.name."""
    tail = slug(str(remote_id)) or "0"
    head = slug(title)
    if not re.search(r"[a-z]", head):
        head = "-".join(part for part in (slug(fallback) or "object", head) if part)
    head = head[: max(1, NAME_MAX - len(tail) - 1)].strip("-") or "object"
    name = f"{head}-{tail}"[:NAME_MAX].strip("-")
    assert NAME_PATTERN.match(name), name
    return name


def is_valid_name(name: str) -> bool:
    return len(name) <= NAME_MAX and bool(NAME_PATTERN.match(name))


# ---- YAML text ---------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, with Decimal rates as plain YAML numbers (0.85, never a float's 0.8500001)."""


def _decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:float", format(value, "f"))


_Dumper.add_representer(Decimal, _decimal)


def yaml_text(document: Mapping[str, Any]) -> str:
    return yaml.dump(dict(document), Dumper=_Dumper, allow_unicode=True, sort_keys=False, default_flow_style=None,
                     width=110)


def _comment(lines: Sequence[str], prefix: str = "# ", width: int = 0) -> str:
    """Each line behind `prefix`; with `width`, long lines wrapped (continuations indented)."""
    out: list[str] = []
    for text in lines:
        for line in text.splitlines() or [""]:
            wrapped = textwrap.wrap(line, width, subsequent_indent="  ", break_on_hyphens=False) if width else []
            out.extend(f"{prefix}{part}\n" for part in wrapped or [line])
    return "".join(out)


def file_text(header: Sequence[str], blocks: Sequence[str]) -> str:
    """A manifest file: header comments, then the documents separated by '---'."""
    return _comment(header, width=COMMENT_WIDTH) + "---\n".join(blocks)


def document_block(exported: Exported, shop: str, head: Sequence[str]) -> str:
    """One document after its comments; commented out (each line behind '# ') when values are lost."""
    comments = [*head, *exported.notes]
    if exported.lossy:
        comments += ["NOT WRITTEN AS A MANIFEST: TOP holds values the manifest format cannot express, so this "
                     "object is commented out and not imported:", *(f"  - {line}" for line in exported.lost)]
        return _comment(comments, width=COMMENT_WIDTH) + _comment(yaml_text(exported.document(shop)).splitlines(),
                                                                  prefix="# | ")
    return _comment(comments, width=COMMENT_WIDTH) + yaml_text(exported.document(shop))


@dataclass
class KindExport:
    """What the command gathered for one kind: the objects, and objects it could not export."""

    kind: str
    objects: list[Exported] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "id: why", written as comments too
