"""The editors' manifest schema (`manifest.schema.json`), generated from the kinds (issue 18.3).

Each kind names its own JSON Schema file (`Kind.schema`); this schema only dispatches on `kind`
to those files, plus the Shop profile's, which is no Kind. So a new kind never edits it by hand:
regenerate it and export the editor copy,

    .venv/bin/python -m reconciler.kinds.manifest_schema
    .venv/bin/reconciler schema export schemas

and tests/test_kind_schemas.py fails while the committed file differs from what this writes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.kinds.base import Kind
from reconciler.manifest.loader import SHOP_KIND
from reconciler.schemas import ID_BASE

FILE_NAME = "manifest.schema.json"
SHOP_SCHEMA = "shop.schema.json"  # the Shop profile: read by the manifest layer, not by a kind


def schema_files(kinds: Iterable[Kind]) -> dict[str, str]:
    """Every document kind → its schema file: the Shop profile first, then the kinds by name."""
    return {SHOP_KIND: SHOP_SCHEMA, **{k.kind: k.schema for k in sorted(kinds, key=lambda k: k.kind)}}


def manifest_schema(kinds: Iterable[Kind]) -> dict[str, Any]:
    files = schema_files(kinds)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": ID_BASE + FILE_NAME,
        "title": "campaign-reconciler manifest",
        "description": (
            "Any campaign-reconciler manifest document; dispatches on kind to the per-kind schema. "
            "For editors: # yaml-language-server: $schema=../schemas/manifest.schema.json. "
            "Generated from the kinds by reconciler/kinds/manifest_schema.py: do not edit by hand."
        ),
        "type": "object",
        "required": ["apiVersion", "kind"],
        "properties": {
            "apiVersion": {"description": "Manifest format version; always campaigns/v1.", "const": "campaigns/v1"},
            "kind": {"description": "What this document declares.", "enum": list(files)},
        },
        "allOf": [
            {"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]}, "then": {"$ref": file}}
            for kind, file in files.items()
        ],
    }


def manifest_schema_text(kinds: Iterable[Kind]) -> str:
    """The file's exact text (what is committed under reconciler/schemas and schemas/)."""
    return json.dumps(manifest_schema(kinds), indent=2, ensure_ascii=False) + "\n"


def write(directories: Sequence[Path], kinds: Mapping[str, Kind]) -> list[Path]:
    text = manifest_schema_text(kinds.values())
    written = []
    for directory in directories:
        target = directory / FILE_NAME
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def main(argv: Sequence[str]) -> int:
    """Write the schema into each directory given, by default the package's schema directory."""
    import reconciler.schemas
    from reconciler.kinds import KINDS  # here, not at the top: this module is loaded while KINDS is built

    directories = [Path(arg) for arg in argv] or [Path(reconciler.schemas.__file__).parent]
    for path in write(directories, KINDS):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
