"""The `reconciler` group: logging, colour, and the masking of everything printed."""

from __future__ import annotations

import logging
import os
import sys

import click

from reconciler.redaction import redacted_output


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="campaign-reconciler", prog_name="reconciler")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--no-color", "no_color", is_flag=True, help="No colour escape codes (also: NO_COLOR set).")
def cli(verbose: int, no_color: bool) -> None:
    """Campaign-as-code for Taobao Open Platform marketing."""
    # Everything printed from here on is masked (reconciler/redaction.py), errors included.
    click.get_current_context().with_resource(redacted_output(os.environ))
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
