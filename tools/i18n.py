"""Keep the message catalogues (reconciler/locale/*/LC_MESSAGES/reconciler.po) with Babel.

    python -m tools.i18n update              extract every marked message from reconciler/ and merge
                                             it into each catalogue (new ones untranslated, gone ones
                                             dropped, translations kept)
    python -m tools.i18n translate F.json    set translations from {"msgid": "msgstr", ...}
                                             (a plural: {"msgid": ["msgstr[0]"]})
    python -m tools.i18n missing [PREFIX]    the untranslated msgids (of files under PREFIX), as JSON
    python -m tools.i18n check               exit 1 when a catalogue is stale or has an untranslated,
                                             fuzzy, placeholder-changed or English-copied message

Every write holds one lock, so people and scripts editing the catalogue at once never lose each
other's work. Markers: _("..."), N_("..."), ngettext("...", "...", n) (reconciler/i18n.py).
"""

from __future__ import annotations

import io
import json
import re
import string
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "reconciler"
LOCALES = PACKAGE / "locale"
DOMAIN = "reconciler"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
LOCK = FileLock(str(LOCALES / ".catalogue.lock"))


def catalogue_paths() -> list[Path]:
    return sorted(LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def extracted() -> Catalog:
    """Every message marked in the package's Python files, with where it is used."""
    template = Catalog(domain=DOMAIN, project="campaign-reconciler")
    found = extract_from_dir(str(PACKAGE), method_map=[("**.py", "python")], keywords=KEYWORDS,
                             comment_tags=("Translators:",), strip_comment_tags=True)
    for filename, lineno, message, comments, context in found:
        template.add(message, None, [(f"reconciler/{filename}", lineno)], auto_comments=comments,
                     context=context)
    return template


def read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=path.parent.parent.name, domain=DOMAIN)


def write(path: Path, catalog: Catalog) -> None:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_output=False, sort_by_file=True, omit_header=False,
             include_previous=False)
    path.write_bytes(buffer.getvalue())


def update() -> None:
    template = extracted()
    with LOCK:
        for path in catalogue_paths():
            catalog = read(path)
            created = catalog.creation_date  # kept, so an update without new messages changes no byte
            catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
            catalog.creation_date = created
            catalog.obsolete.clear()
            write(path, catalog)
            print(f"{path.relative_to(REPO)}: {len(catalog)} messages, {len(_untranslated(catalog))} untranslated")


def translate(pairs_file: Path) -> int:
    pairs = json.loads(pairs_file.read_text(encoding="utf-8"))
    unknown: list[str] = []
    with LOCK:
        for path in catalogue_paths():
            catalog = read(path)
            for msgid, msgstr in pairs.items():
                message = _find(catalog, msgid)
                if message is None:
                    unknown.append(msgid)
                    continue
                message.string = tuple(msgstr) if isinstance(message.id, tuple) else msgstr
                message.flags.discard("fuzzy")
            write(path, catalog)
    for msgid in unknown:
        print(f"not in the catalogue (mark it and run `python -m tools.i18n update`): {msgid!r}", file=sys.stderr)
    return 1 if unknown else 0


def _find(catalog: Catalog, msgid: str) -> Message | None:
    for message in catalog:
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        if message.id and key == msgid:
            return message
    return None


def _untranslated(catalog: Catalog, prefix: str = "") -> list[Message]:
    return [m for m in catalog if m.id and not _is_translated(m)
            and (not prefix or any(loc.startswith(prefix) for loc, _line in m.locations))]


def _is_translated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings) and "fuzzy" not in message.flags


def fields(text: str) -> set[str]:
    """The str.format fields of a message: a translation must keep every one."""
    try:
        return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"<unbalanced braces>"}


def _has_words(text: str) -> bool:
    """Two English words in a row outside {fields}: a sentence, which a copy leaves untranslated
    (a message of fields and punctuation alone, "{days} {spans}", may well be its own translation)."""
    bare = re.sub(r"\{[^{}]*\}", " ", text)
    return re.search(r"[A-Za-z]{2,}[\s,;:]+[A-Za-z]{2,}", bare) is not None


def problems() -> list[str]:
    found: list[str] = []
    template_ids = {m.id if isinstance(m.id, str) else m.id[0] for m in extracted() if m.id}
    for path in catalogue_paths():
        catalog = read(path)
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
        where = path.relative_to(REPO)
        found += [f"{where}: not in the catalogue (run update): {i!r}" for i in sorted(template_ids - ids)]
        found += [f"{where}: no longer used (run update): {i!r}" for i in sorted(ids - template_ids)]
        for message in catalog:
            if not message.id:
                continue
            if not _is_translated(message):
                found.append(f"{where}: untranslated: {message.id!r}")
                continue
            ids_ = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if any(str(text) in ids_ for text in strings) and _has_words(str(ids_[0])):
                found.append(f"{where}: the English copied as its translation: {message.id!r}")
            for text in strings:
                if fields(str(text)) not in (fields(str(ids_[-1])), fields(str(ids_[0]))):
                    found.append(f"{where}: placeholders differ: {message.id!r} -> {text!r}")
    return found


def main(argv: Iterable[str]) -> int:
    args = list(argv)
    command = args[0] if args else "check"
    if command == "update":
        update()
        return 0
    if command == "translate" and len(args) == 2:
        return translate(Path(args[1]))
    if command == "missing":
        prefix = args[1] if len(args) > 1 else ""
        report = {str(p.relative_to(REPO)): [m.id for m in _untranslated(read(p), prefix)] for p in catalogue_paths()}
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    if command == "check":
        found = problems()
        for line in found:
            print(line)
        return 1 if found else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
