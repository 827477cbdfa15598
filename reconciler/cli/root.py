"""The `reconciler` group: logging, colour, the language people read, and the masking of everything printed."""

from __future__ import annotations

import logging
import os
import sys

import click

from reconciler.i18n import ENGLISH, ENV_VARIABLE, LANGUAGES, current_language, language_from, normalise, use_language
from reconciler.redaction import redacted_output


class _Group(click.Group):
    """The root group, which notes before its own callback runs whether the command asks for --json."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        ctx.meta[_MACHINE] = "--json" in args
        return super().resolve_command(ctx, args)


_MACHINE = "reconciler.machine_output"


class _Language(click.ParamType):  # type: ignore[type-arg]  # generic only in some click versions
    """en or zh-CN, also written as a locale (zh_CN, zh_CN.UTF-8, zh, en_US): RECONCILER_LANG is
    often copied from LANG."""

    name = "language"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "[en|zh-CN]"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        language = normalise(str(value))
        if language is None:
            self.fail(f"{value!r} is not a language of the reconciler: {', '.join(LANGUAGES)}", param, ctx)
        return language


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="campaign-reconciler", prog_name="reconciler")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--no-color", "no_color", is_flag=True, help="No colour escape codes (also: NO_COLOR set).")
@click.option("--lang", "lang", type=_Language(), envvar=ENV_VARIABLE,
              default=None, help="Language of the plan, the PR comment, reports and errors (default: from "
                                 "LANGUAGE/LC_ALL/LC_MESSAGES/LANG, else en; also: RECONCILER_LANG). "
                                 "--json output is always English.")
def cli(verbose: int, no_color: bool, lang: str | None) -> None:
    """Campaign-as-code for Taobao Open Platform marketing."""
    context = click.get_current_context()
    _speak(context, lang)
    # Everything printed from here on is masked (reconciler/redaction.py), errors included.
    context.with_resource(redacted_output(os.environ))
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _speak(context: click.Context, option: str | None) -> None:
    """Choose the run's language once, before anything is printed, and give the previous one back
    when the command ends (a process that runs several commands, as the tests do, starts each clean).

    A run with --json speaks English throughout: the document's words (change reasons, notes) are
    part of the plan and its checksum, so a machine reads the same bytes whatever the locale."""
    previous = current_language()
    language = ENGLISH if context.meta.get(_MACHINE) else language_from(option, os.environ)
    use_language(language)
    context.call_on_close(lambda: use_language(previous))
