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

from reconciler.project import DEFAULT_PROJECT_ID, Project, describe_state
from reconciler.top.gateways import public_url


@dataclass(frozen=True)
class Where:
    project: Project
    gateways: Mapping[str, str]  # shop → gateway URL

    def lines(self) -> list[str]:
        lines = [
            f"project: {self.project.root} (found by {self.project.found_by}{self._id()})",
            f"state:   {describe_state(self.project.state)}",
        ]
        lines += [f"shop {shop}: gateway {public_url(url)}" for shop, url in sorted(self.gateways.items())]
        return lines

    def _id(self) -> str:
        """The project's namespace in the state store, named when it is not the default one."""
        return "" if self.project.id == DEFAULT_PROJECT_ID else f", id {self.project.id}"

    def data(self) -> dict[str, Any]:
        return {
            "project_root": str(self.project.root),
            "found_by": self.project.found_by,
            "state_store": describe_state(self.project.state),
            "shops": [{"shop": shop, "gateway": public_url(url)} for shop, url in sorted(self.gateways.items())],
        }
