"""The language of what people read: English by default, Chinese (zh-CN) on request (issue 21.3).

One standard gettext catalogue per language, `reconciler/locale/<lang>/LC_MESSAGES/reconciler.po`,
kept with Babel (`python -m tools.i18n update` extracts the marked messages and merges them in;
`tests/test_i18n.py` fails on any message without a translation). The `.po` file is what ships in
the wheel and is compiled in memory the first time a run asks for that language: a few
milliseconds, and no binary `.mo` that can go stale beside its source.

Mark a message where it is built, never at import time:

    from reconciler.i18n import _, ngettext
    raise ManifestError(_("{field}: expected a date, got {value!r}").format(field=..., value=...))

`N_()` marks a constant whose translation is looked up later with `_()`. Machine output (`--json`,
wire names, manifest field names, log lines for operators) stays English: only what a person reads
in the plan, the PR comment, the price report, errors and alerts is translated.

The CLI (cli/root.py) calls `use_language` once, before any output: `--lang`, else RECONCILER_LANG,
else the locale (`language_from`); a run with `--json` is English throughout. The words a plan
holds (a change's reason and details) are in the run's language, so the plan's checksum leaves
them out (engine/saved.py `change_doing`): a plan reviewed in Chinese is applied in English.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = ["DOMAIN", "LANGUAGES", "N_", "_", "current_language", "language_from", "ngettext", "normalise", "use_language"]

DOMAIN = "reconciler"
ENGLISH = "en"
CHINESE = "zh-CN"
LANGUAGES = (ENGLISH, CHINESE)

# RECONCILER_LANG (the CLI's --lang from the environment: a CI job or CronJob chooses the language
# without changing the system locale other tools read), then gettext's own order of precedence
# (GNU gettext manual, "Locale Environment Variables"): LANGUAGE, LC_ALL, LC_MESSAGES, LANG; the
# first one set wins.
ENV_VARIABLE = "RECONCILER_LANG"
_ENV_ORDER = (ENV_VARIABLE, "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_active: NullTranslations = NullTranslations()
_active_language = ENGLISH


def language_from(option: str | None, env: Mapping[str, str]) -> str:
    """The language a run speaks: `--lang` if given, else RECONCILER_LANG, else the locale of the environment.

    Any Chinese locale (zh, zh_CN.UTF-8, zh-Hans, zh_SG, ...) reads the simplified catalogue: the
    only Chinese one there is, and more use to a Taiwanese reader than English. Anything else,
    C and POSIX included, is English. An unknown `--lang` is refused by the caller's choice list.
    """
    if option:
        return normalise(option) or ENGLISH
    for name in _ENV_ORDER:
        value = env.get(name, "")
        if value:
            # LANGUAGE may list several, "zh_CN:en"; the first is the preference.
            return normalise(value.split(":")[0]) or ENGLISH
    return ENGLISH


def normalise(value: str) -> str | None:
    """The language a locale or language name means ("zh_CN.UTF-8", "zh-cn", "zh" → "zh-CN";
    "en_US", "C" → "en"), None for one without a catalogue."""
    code = value.strip().split(".")[0].split("@")[0].replace("_", "-").lower()
    if code == "zh" or code.startswith("zh-"):
        return CHINESE
    if code in {"en", "c", "posix"} or code.startswith("en-"):
        return ENGLISH
    return None


def use_language(language: str) -> None:
    """Speak `language` from now on in this process (the CLI calls it once, before any output)."""
    global _active, _active_language
    _active = _translations(language)
    _active_language = language


def current_language() -> str:
    return _active_language


def _(message: str) -> str:
    return _active.ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _active.ungettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks `message` for extraction only; translate it with `_()` where it is shown."""
    return message


@functools.lru_cache(maxsize=None)
def _translations(language: str) -> NullTranslations:
    if language == ENGLISH:
        return NullTranslations()
    folder = language.replace("-", "_")
    source = resources.files("reconciler") / "locale" / folder / "LC_MESSAGES" / f"{DOMAIN}.po"
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=folder, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)
