"""Where a shop's credentials come from: the provider its Shop profile names (`spec.credentials`).

    env    (default) the environment variables the profile names in spec.env, as before; the
           session from its session variable, else the token file (reconciler/top/tokens.py).
    file   one file of app keys, secrets and sessions per shop, for an agency with many shops:
           its path comes from RECONCILER_CREDENTIALS_FILE, never from a manifest (manifests
           arrive in pull requests, and a path there could point a plan job at any file).
    store  app key and secret from the environment (an agency's one app), the seller's token from
           the PostgreSQL state store, sealed with a key from the environment and refreshed once
           under a lock however many workers need it (reconciler/state/seller_tokens.py; wired in
           reconciler/connect.py, because top/ must not import state/).

A provider gives `ShopSecrets`: the Credentials (masked in repr), and the TokenStore where the
shop's refreshable token lives (None: the run's token file). It never formats a value into a
message: errors name the file, the variable or the shop, never what they hold.
"""

from __future__ import annotations

import json
import os
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from reconciler.i18n import _
from reconciler.top.credentials import Credentials, CredentialsError
from reconciler.top.tokens import TokenStore

PROVIDERS = ("env", "file", "store")
DEFAULT_PROVIDER = "env"
CREDENTIALS_FILE_ENV = "RECONCILER_CREDENTIALS_FILE"
FILE_FIELDS = ("app_key", "app_secret", "session")


@dataclass(frozen=True)
class ShopSecrets:
    credentials: Credentials  # its gateway is filled in by the caller (environment or profile)
    tokens: TokenStore | None = None  # where a refreshable token lives; None: the run's token file
    source: str = "environment"  # named in errors: where the secrets came from


class CredentialsProvider(Protocol):
    """`names`: the profile's spec.env (role → environment variable name), defaults filled in."""

    def secrets(self, shop: str, names: Mapping[str, str]) -> ShopSecrets: ...

    def secret_values(self) -> list[str]:
        """Every secret it has read so far, masked in all output (reconciler/redaction.py)."""
        ...


class EnvironmentProvider:
    """Today's: the variables the profile names."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def secrets(self, shop: str, names: Mapping[str, str]) -> ShopSecrets:
        credentials = Credentials.from_env(
            self._env, app_key_var=names["app_key"], app_secret_var=names["app_secret"],
            session_var=names["session"], gateway_var=names["gateway"],
        )
        return ShopSecrets(credentials)

    def secret_values(self) -> list[str]:
        return []  # the variables the profiles name are masked by the client factory already


class FileProvider:
    """A JSON, YAML or TOML file (by its suffix; JSON otherwise):

        {"defaults": {"app_key": "…", "app_secret": "…"},
         "shops": {"shop-a": {"session": "…"}, "shop-b": {"app_key": "…", "app_secret": "…", "session": "…"}}}

    A shop's entry overrides `defaults` (an agency's one app, one session per seller). Without a
    session the shop's token comes from the token file, as with the environment. Read once, on
    first use; every value in it is a secret to mask (the app key too: it is harmless, but one
    rule for the whole file is easier to trust than a list)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._document: Mapping[str, Any] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FileProvider:
        path = env.get(CREDENTIALS_FILE_ENV)
        if not path:
            raise CredentialsError(
                f"a Shop profile names spec.credentials: file, and {CREDENTIALS_FILE_ENV} (the path of the "
                "credentials file) is not set; the path is the operator's to give, never a manifest's"
            )
        return cls(path)

    def secrets(self, shop: str, names: Mapping[str, str]) -> ShopSecrets:
        document = self._read()
        shops = document.get("shops") or {}
        entry = shops.get(shop) if isinstance(shops, Mapping) else None
        if not isinstance(entry, Mapping):
            raise CredentialsError(_("shop '{shop}': the credentials file {path} has no entry shops.{shop}").format(
                shop=shop, path=self.path))
        defaults = document.get("defaults") or {}
        merged = {**(defaults if isinstance(defaults, Mapping) else {}), **entry}
        missing = [name for name in ("app_key", "app_secret") if not _text(merged.get(name))]
        if missing:
            raise CredentialsError(_("shop '{shop}': the credentials file {path} gives no {fields} (in shops.{shop} or "
                                     "defaults)").format(shop=shop, path=self.path, fields=_(" or ").join(missing)))
        credentials = Credentials(_text(merged["app_key"]), _text(merged["app_secret"]), _text(merged.get("session")) or None)
        return ShopSecrets(credentials, source=f"the credentials file {self.path}")

    def secret_values(self) -> list[str]:
        document = self._document or {}
        sections = [document.get("defaults"), *((document.get("shops") or {}).values())]
        return [_text(value) for section in sections if isinstance(section, Mapping)
                for value in section.values() if _text(value)]

    def _read(self) -> Mapping[str, Any]:
        with self._lock:
            if self._document is None:
                self._document = self._parse()
            return self._document

    def _parse(self) -> Mapping[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CredentialsError(_("cannot read the credentials file {path} ({variable}): {error}").format(
                path=self.path, variable=CREDENTIALS_FILE_ENV, error=exc.strerror or type(exc).__name__)) from None
        suffix = self.path.suffix.lower()
        try:
            if suffix in (".yaml", ".yml"):
                document = yaml.safe_load(text)
            elif suffix == ".toml":
                document = tomllib.loads(text)
            else:
                document = json.loads(text)
        except (ValueError, yaml.YAMLError) as exc:
            # The parser's message may quote the line, and the line may hold a secret: name the kind only.
            raise CredentialsError(_("the credentials file {path} is not valid {format} ({error})").format(
                path=self.path, format=suffix.lstrip(".") or "JSON", error=type(exc).__name__)) from None
        if not isinstance(document, Mapping) or not isinstance(document.get("shops", {}), Mapping):
            raise CredentialsError(_("the credentials file {path} must be a mapping with a 'shops' mapping").format(path=self.path))
        return document


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)
