"""Where a run points: its project root, its state store and each shop's gateway.

plan, apply, drift and price say this before anything else (issue 15: an apply from another
directory silently used an empty store and duplicated coupons), as text lines and, for --json, as
the "where" object. Nothing here may carry a secret: the store is a path or PostgreSQL's host and
database, a gateway is shown without any user, password or query its URL might hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.i18n import N_, _
from reconciler.project import DEFAULT_PROJECT_ID, Project, describe_state
from reconciler.top.gateways import public_url


# How the project root was found, in words (project.py: "reconciler.toml", "git" are names, kept).
_FOUND_BY = {"manifests' directory": N_("manifests' directory")}


@dataclass(frozen=True)
class Where:
    project: Project
    gateways: Mapping[str, str]  # shop → gateway URL

    def lines(self) -> list[str]:
        root, found_by = self.project.root, self.project.found_by
        found_by = _(_FOUND_BY[found_by]) if found_by in _FOUND_BY else found_by  # file names stay as they are
        if self.project.id == DEFAULT_PROJECT_ID:
            project = _("project: {root} (found by {how})").format(root=root, how=found_by)
        else:  # the project's namespace in the state store, named when it is not the default one
            project = _("project: {root} (found by {how}, id {id})").format(root=root, how=found_by, id=self.project.id)
        lines = [project, _("state:   {store}").format(store=describe_state(self.project.state))]
        lines += [_("shop {shop}: gateway {url}").format(shop=shop, url=public_url(url))
                  for shop, url in sorted(self.gateways.items())]
        return lines

    def data(self) -> dict[str, Any]:
        return {
            "project_root": str(self.project.root),
            "found_by": self.project.found_by,
            "state_store": describe_state(self.project.state),
            "shops": [{"shop": shop, "gateway": public_url(url)} for shop, url in sorted(self.gateways.items())],
        }
