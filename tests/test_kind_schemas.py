"""Each kind names its schema file, and the editors' dispatcher schema is generated from the kinds
(issue 18.3): the committed manifest.schema.json (package and editor copy) is what the generator
writes, so a new kind cannot be forgotten there."""

from __future__ import annotations

from pathlib import Path

from reconciler.kinds import KINDS
from reconciler.kinds.manifest_schema import FILE_NAME, main, manifest_schema_text
from reconciler.manifest import known_kinds
from reconciler.manifest.schema import kind_to_file_stem
from reconciler.schemas import SUFFIX, schema_files

REPO = Path(__file__).resolve().parents[1]
REGENERATE = "run `.venv/bin/python -m reconciler.kinds.manifest_schema` and `reconciler schema export schemas`"


def test_every_kind_names_its_schema_file_which_the_manifest_check_uses() -> None:
    packaged = schema_files()
    for name, kind in KINDS.items():
        assert kind.schema, f"{name} names no schema file (Kind.schema)"
        assert kind.schema in packaged, f"{name}: {kind.schema} is not in reconciler/schemas"
        # the manifest layer finds a kind's schema by its file name (reconciler/manifest/schema.py)
        assert kind.schema == kind_to_file_stem(name) + SUFFIX
    assert set(known_kinds()) == set(KINDS) | {"Shop"}


def test_the_committed_dispatcher_schema_is_the_generated_one() -> None:
    generated = manifest_schema_text(KINDS.values())
    packaged = schema_files()[FILE_NAME].read_text(encoding="utf-8")
    assert packaged == generated, f"reconciler/schemas/{FILE_NAME} is stale: {REGENERATE}"
    assert (REPO / "schemas" / FILE_NAME).read_text(encoding="utf-8") == generated, f"schemas/{FILE_NAME}: {REGENERATE}"


def test_the_generator_writes_where_it_is_told(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / FILE_NAME).read_text(encoding="utf-8") == manifest_schema_text(KINDS.values())
