"""The JSON Schemas live in the package (reconciler/schemas, read with importlib.resources);
`schemas/` at the repository root is the copy editors open. Both stay identical, every schema
has a stable `$id`, and its `$ref`s resolve by `$id` and by file location alike."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from click.testing import CliRunner
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from reconciler.cli import cli
from reconciler.schemas import ID_BASE, schema_files

REPO = Path(__file__).resolve().parents[1]
EDITOR_COPY = REPO / "schemas"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def _packaged() -> dict[str, bytes]:
    return {name: file.read_bytes() for name, file in schema_files().items()}


def test_the_editor_copy_is_the_packaged_schemas_byte_for_byte() -> None:
    editor = {path.relative_to(EDITOR_COPY).as_posix(): path.read_bytes() for path in EDITOR_COPY.rglob("*.json")}
    packaged = _packaged()
    assert "manifest.schema.json" in packaged and "output/plan.schema.json" in packaged
    assert sorted(editor) == sorted(packaged)
    stale = [name for name in packaged if editor[name] != packaged[name]]
    assert stale == [], f"schemas/ differs from reconciler/schemas: run `reconciler schema export schemas` ({stale})"


def test_every_schema_has_a_stable_id_under_the_project_namespace() -> None:
    for name, text in _packaged().items():
        schema = json.loads(text)
        assert schema["$schema"] == DRAFT_2020_12, name
        assert schema["$id"] == ID_BASE + name, name
        Draft202012Validator.check_schema(schema)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_every_ref_resolves_by_id_and_by_file_location() -> None:
    schemas = {name: json.loads(text) for name, text in _packaged().items()}
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    for name, schema in schemas.items():
        resolver = registry.resolver(base_uri=schema["$id"])
        for ref in _refs(schema):
            resolver.lookup(ref)  # raises when the $ref does not resolve by $id
            target = ref.split("#", 1)[0]
            if target:  # another file: an editor without $id support looks next to this one
                assert (EDITOR_COPY / name).parent.joinpath(target).is_file(), (name, ref)
                assert urljoin(schema["$id"], target) == schemas[_relative(EDITOR_COPY / name, target)]["$id"]


def _relative(schema_path: Path, target: str) -> str:
    return (schema_path.parent / target).resolve().relative_to(EDITOR_COPY.resolve()).as_posix()


def test_manifests_name_the_editor_schema_for_the_yaml_language_server() -> None:
    comment = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)
    named = 0
    for manifest in (REPO / "campaigns").rglob("*.yaml"):
        for target in comment.findall(manifest.read_text(encoding="utf-8")):
            assert (manifest.parent / target).resolve() == (EDITOR_COPY / "manifest.schema.json").resolve(), manifest
            named += 1
    assert named >= 5


def test_schema_export_writes_the_packaged_schemas(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schema", "export", str(tmp_path / "out")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    written = {path.relative_to(tmp_path / "out").as_posix(): path.read_bytes() for path in (tmp_path / "out").rglob("*") if path.is_file()}
    assert written == _packaged()
    assert len(result.output.splitlines()) == len(written)
