"""The duplicate guard: never create what TOP already holds, unmanaged, with the same content.

A declared resource the state store has no entry for is planned as a create. When TOP already
holds an unmanaged object with exactly the content that create would make (Kind.same_as_create),
the store most likely lost track of it: a run from another directory or with another store, a
store rebuilt from scratch. Creating it again is a duplicate, and shop coupons cannot be deleted,
so a duplicate is forever (issue 15). The plan is blocked (exit 1, nothing sent) with the
`reconciler import` command that adopts each object instead, unless --allow-duplicates is given.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from reconciler.i18n import _
from reconciler.model import Plan

ALLOW_FLAG = "--allow-duplicates"


def duplicate_problems(plan: Plan, paths: Sequence[str]) -> list[str]:
    """One line per blocked create, naming the import command(s) that adopt the existing object."""
    problems = []
    for key, remote_ids in sorted(plan.duplicates.items()):
        # Translators: between the import commands that would each adopt one of the existing objects
        commands = _(" or ").join(f"`{import_command(key.kind, key.name, remote_id, paths)}`" for remote_id in remote_ids)
        if len(remote_ids) == 1:
            text = _("{key}: TOP already holds unmanaged object {ids} with exactly the content this create would make, "
                     "and the state store has no entry for it; adopt it with {commands}, or pass {flag} to create another")
        else:
            text = _("{key}: TOP already holds unmanaged objects {ids} with exactly the content this create would make, "
                     "and the state store has no entry for it; adopt it with {commands}, or pass {flag} to create another")
        problems.append(text.format(key=key, ids=", ".join(remote_ids), commands=commands, flag=ALLOW_FLAG))
    return problems


def import_command(kind: str, name: str, remote_id: str, paths: Sequence[str]) -> str:
    """The command that adopts `remote_id` as KIND/NAME, declared in the manifests at `paths`."""
    return shlex.join(["reconciler", "import", kind, name, remote_id, *paths])
