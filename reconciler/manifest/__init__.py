"""Manifest layer: YAML files (and sandboxed Jinja2 templates, *.yaml.j2) -> validated Documents
with file:line:column for every field, pointing at the template line for rendered ones.

Imports only reconciler.errors and reconciler.model; kinds build on Document and report
their own semantic problems through Document.problem.
"""

from reconciler.manifest.document import (
    Document,
    FieldPath,
    ManifestSet,
    ShopProfile,
    TaokeApp,
    format_path,
)
from reconciler.manifest.loader import (
    ManifestSource,
    find_manifest_files,
    load_manifest_texts,
    load_manifests,
    render_manifests,
)
from reconciler.manifest.schema import SCHEMAS_DIR, known_kinds
from reconciler.manifest.shops_ahead import profiles_ahead

__all__ = [
    "Document",
    "FieldPath",
    "ManifestSet",
    "ManifestSource",
    "SCHEMAS_DIR",
    "ShopProfile",
    "TaokeApp",
    "find_manifest_files",
    "format_path",
    "known_kinds",
    "load_manifest_texts",
    "load_manifests",
    "profiles_ahead",
    "render_manifests",
]
