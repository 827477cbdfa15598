"""App credentials for TOP, loaded from the environment, and the redaction of their secrets."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler import redaction
from reconciler.errors import ReconcilerError

DEFAULT_GATEWAY = "https://gw.api.taobao.com/router/rest"
MASK = redaction.MASK


class CredentialsError(ReconcilerError):
    """Credentials are missing or unusable; the message names environment variables, never values."""


@dataclass(frozen=True)
class Credentials:
    """Who calls TOP. Secret fields are masked in repr/str so they cannot leak through logs or tracebacks."""

    app_key: str
    app_secret: str
    session: str | None = None
    gateway: str = DEFAULT_GATEWAY

    def __repr__(self) -> str:
        session = MASK if self.session else None
        return (
            f"Credentials(gateway={self.gateway!r}, app_key={self.app_key!r}, "
            f"app_secret={MASK!r}, session={session!r})"
        )

    __str__ = __repr__

    def secret_values(self) -> tuple[str, ...]:
        """Every non-empty secret this object holds (a refresh token joins this list when tokens land)."""
        return tuple(value for value in (self.app_secret, self.session) if value)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] = os.environ,
        *,
        app_key_var: str = "TOP_APP_KEY",
        app_secret_var: str = "TOP_APP_SECRET",
        session_var: str = "TOP_SESSION",
        gateway_var: str = "TOP_GATEWAY",
    ) -> Credentials:
        """Read credentials from `env`; empty variables count as missing (a blank secret is never meant)."""
        missing = [var for var in (app_key_var, app_secret_var) if not env.get(var)]
        if missing:
            raise CredentialsError(
                f"missing TOP credentials: set the environment variable(s) {', '.join(missing)}"
            )
        return cls(
            app_key=env[app_key_var],
            app_secret=env[app_secret_var],
            session=env.get(session_var) or None,
            gateway=env.get(gateway_var) or DEFAULT_GATEWAY,
        )


def redact(text: str, credentials: Credentials) -> str:
    """Mask every secret of `credentials` in `text`: the CLI's last line of defence before printing.

    URL-encoded spellings are masked too, because a secret that leaks usually leaks inside a URL.
    """
    return redact_values(text, credentials.secret_values())


def redact_values(text: str, secrets: Iterable[str]) -> str:
    """Mask each of `secrets` (and its URL-encoded spellings) in `text` (reconciler/redaction.py)."""
    return redaction.redact(text, secrets)
