"""Which files a manifest may make the reconciler read: one rule for template includes and
imports, CouponGrant buyers files (nicks_file, open_uids_file) and vars.yaml.

Manifests arrive in pull requests that the plan job reads next to the shop's credentials. A file
name in a manifest could otherwise point at /proc/self/environ (the job's environment, secrets
included) or .git/config (a CI token), and a parse error repeating that file's content would
publish it. So a named file must be inside the manifests' root, checked before it is opened:
- no absolute names (`/x`, `C:x`, `\\x`) and no `..`: a name stays below where it is relative to;
- no hidden files or directories (`.git/config`; `.reconciler/` holds the state store);
- its real location, links resolved, is inside the root and not hidden there either, so a link
  committed in the pull request cannot lead out.
"""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.i18n import _


class ConfinementError(Exception):
    """The name breaks the rule above; the message says which part, never the file's content."""


def confined(root: Path, base: Path, name: str) -> Path:
    """`base/name` (base is root or a directory below it), once it is known to stay inside `root`."""
    where = f"{root}/"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\\" in name:
        raise ConfinementError(_("{name} is an absolute path; only files inside {root} may be used").format(name=repr(name), root=where))
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ConfinementError(_("{name} goes up with '..'; only files inside {root} may be used").format(name=repr(name), root=where))
    if any(part.startswith(".") for part in parts):
        raise ConfinementError(_("{name} is a hidden file; hidden files and directories may not be used").format(name=repr(name)))
    path = base.joinpath(*parts)
    real_root, real_path = root.resolve(), path.resolve()
    if not real_path.is_relative_to(real_root):
        raise ConfinementError(_("{name} is a link to a place outside {root}; only files inside it may be used").format(name=repr(name), root=where))
    if any(part.startswith(".") for part in real_path.relative_to(real_root).parts):
        raise ConfinementError(_("{name} is a link to a hidden file; hidden files and directories may not be used").format(name=repr(name)))
    return path
