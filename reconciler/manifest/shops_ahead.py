"""The Shop profiles, found before the whole set of manifests is loaded: `plan` starts the reads
that need no manifest with them while the rest loads (engine/reads.py, issue 20.6).

Only plain manifest files (not templates) whose text has a top-level `kind: Shop` line are
parsed, with every check of the full load (load_manifest_texts). Anything unusual (a templated
profile, a link, a file with a problem, a document naming a shop declared elsewhere) gives no
profile from that file: the full load, which always follows, is the one that reports problems.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reconciler.errors import ManifestError
from reconciler.manifest.document import ShopProfile
from reconciler.manifest.loader import MANIFEST_SUFFIXES, find_manifest_files, load_manifest_texts

_SHOP_LINE = re.compile(r"""^kind:[ \t]*(Shop|"Shop"|'Shop')[ \t]*(#.*)?$""", re.MULTILINE)


def profiles_ahead(paths: Sequence[str]) -> dict[str, ShopProfile]:
    """Shop profiles by name, from the files that plainly declare them; {} when none can be read
    on their own. Never raises for a manifest problem: the full load reports it."""
    profiles: dict[str, ShopProfile] = {}
    try:
        files = find_manifest_files(paths)
    except ManifestError:
        return {}
    for path in files:
        if path.suffix not in MANIFEST_SUFFIXES or path.is_symlink():
            continue
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError):
            continue
        if not _SHOP_LINE.search(text):
            continue
        try:
            found = load_manifest_texts([(str(path), text)])
        except ManifestError:
            continue
        for name, profile in found.shops.items():
            profiles.setdefault(name, profile)
    return profiles
