"""Secrets masked in everything the CLI prints, and short excerpts of what a manifest contained.

Every line the `reconciler` command writes, to stdout or stderr, goes through one stream
(`redacted_output`) that masks:
- the values of environment variables whose name says they are secret (…SECRET…, …SESSION…,
  …TOKEN…, …PASSWORD…, …WEBHOOK…, …SIGNING_KEY…), and the password of any URL in the
  environment (RECONCILER_STATE=postgresql://user:password@…);
- whatever secrets a running command registered (`remember`): the variables a Shop profile names
  for its app secret and session, tokens refreshed during the run.
Each is masked as written and URL-encoded. A secret shorter than LONG_SECRET characters is masked
only where it stands as a word of its own, so a short secret never turns ordinary words into `***`.

Error messages that quote a manifest's content quote a short excerpt (`excerpt`), never a whole
line: a file that was not meant to be read must not be repeated into a pull-request comment.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO, cast
from urllib.parse import quote, quote_plus, urlsplit

MASK = "***"
LONG_SECRET = 12  # from this length a secret is masked wherever it appears
EXCERPT = 40
SECRET_NAME_WORDS = ("SECRET", "SESSION", "TOKEN", "PASSWORD", "PASSWD", "WEBHOOK", "SIGNING_KEY", "PRIVATE_KEY")
# Settings whose names hold such a word but whose values are plain words or numbers: masked, they
# would turn every "dingtalk" or "3" printed into *** (reconciler/webhooks.py).
NOT_SECRET_NAMES = frozenset({"RECONCILER_WEBHOOK_FORMAT", "RECONCILER_WEBHOOK_ATTEMPTS", "RECONCILER_WEBHOOK_BACKOFF"})

_sources: list[Callable[[], Iterable[str]]] = []


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """`text` quoted for an error message, cut to `limit` characters, control characters escaped."""
    clipped = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(clipped)


def environment_secrets(env: Mapping[str, str]) -> set[str]:
    """Values in `env` that are secret by their variable's name, and passwords inside URLs."""
    values: set[str] = set()
    for name, value in env.items():
        if not value:
            continue
        if name.upper() not in NOT_SECRET_NAMES and any(word in name.upper() for word in SECRET_NAME_WORDS):
            values.add(value)
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                values.add(password)
    return values


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret (and its URL-encoded spellings) replaced by ***."""
    spellings = {
        spelling
        for secret in secrets
        if secret
        for spelling in (secret, quote(secret, safe=""), quote_plus(secret, safe=""))
    }
    # Longest first, so a secret that contains another is masked whole.
    for spelling in sorted(spellings, key=len, reverse=True):
        if spelling not in text:
            continue
        if len(spelling) >= LONG_SECRET:
            text = text.replace(spelling, MASK)
        else:
            text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(spelling)}(?![0-9A-Za-z])", MASK, text)
    return text


def remember(source: Callable[[], Iterable[str]]) -> None:
    """Also mask what `source` returns (asked on every write, so secrets learnt later count)."""
    _sources.append(source)


def current_secrets(env: Mapping[str, str]) -> set[str]:
    values = environment_secrets(env)
    for source in _sources:
        values.update(value for value in source() if value)
    return values


class PassThroughStream(io.TextIOBase):
    """A text stream standing in for another (sys.stdout, sys.stderr): subclasses change write();
    flushing, terminal detection and the encoding are the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def flush(self) -> None:
        # Also called when this object is garbage collected (IOBase closes itself), possibly after
        # the wrapped stream was closed (click's test runner); Python 3.13 reports that error.
        if not getattr(self._stream, "closed", False):
            self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"


class RedactingStream(PassThroughStream):
    """Stands in for sys.stdout / sys.stderr: masks, then writes through. It has no `buffer`, so
    click writes to it as text and cannot go around it."""

    def __init__(self, stream: TextIO, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__(stream)
        self._secrets = secrets

    def write(self, text: Any) -> int:
        if not isinstance(text, str):
            raise TypeError("write() argument must be str")  # click's test for a binary stream
        self._stream.write(redact(text, self._secrets()))
        return len(text)


@contextmanager
def redacted_output(env: Mapping[str, str]) -> Iterator[None]:
    """sys.stdout and sys.stderr masked for the duration; the secrets registered inside are forgotten after."""
    saved_out, saved_err, saved_sources = sys.stdout, sys.stderr, list(_sources)
    base = environment_secrets(env)

    def secrets() -> set[str]:
        values = set(base)
        for source in _sources:
            values.update(value for value in source() if value)
        return values

    sys.stdout = cast(TextIO, RedactingStream(saved_out, secrets))
    sys.stderr = cast(TextIO, RedactingStream(saved_err, secrets))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved_out, saved_err
        _sources[:] = saved_sources
