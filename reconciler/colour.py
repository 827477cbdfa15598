"""Whether terminal output may carry colour escape codes: only to a terminal, and never when the
user said no (`--no-color`, or the NO_COLOR convention of https://no-color.org: any non-empty
value). Piped output (CI logs, files) never gets escape codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO


def colour_wanted(stream: TextIO, env: Mapping[str, str], no_color_flag: bool) -> bool:
    if no_color_flag or env.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
