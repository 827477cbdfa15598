"""The `reconciler` command (also `python -m reconciler`). It only parses flags, builds the
settings root (reconciler/settings.py), calls the driver (reconciler/engine/reconcile.py) and
prints; one module per group of commands:

    root.py      the group itself (logging, colour, masking, the language: --lang)
    common.py    errors, the project and settings, the where-header, printing, shop locks
    plan.py      plan                       apply.py   apply
    inspect.py   validate, render, drift, price
    state.py     import, journal, state     setup.py   init, auth, schema, sandbox
    export.py    export (adopt a shop's live promotions as manifests)
    calendar.py  calendar (the campaign calendar as one HTML page)
    alert.py     alert (one message to the team's chat robot, for workflows)
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.cli import apply, inspect, plan, setup, state  # noqa: F401  (each registers its commands)
from reconciler.cli import export  # noqa: F401  (reconciler export, issue 19)
from reconciler.cli import calendar  # noqa: F401  (reconciler calendar, issue 21)
from reconciler.cli import alert  # noqa: F401  (reconciler alert, issue 21)
from reconciler.cli.common import echo_lines as _echo_lines
from reconciler.cli.common import echo_pieces as _echo_pieces
from reconciler.cli.root import cli

__all__ = ["cli", "main", "_echo_lines", "_echo_pieces"]


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="reconciler")
