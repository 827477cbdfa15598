"""The credentials providers of one run, by the name a Shop profile gives (`spec.credentials`).

The environment and file providers live in reconciler/top/providers.py; the store provider joins
top/ (the Token, the TokenStore protocol a SellerSession refreshes through) and state/ (the sealed
seller_tokens table), which may not import each other (.importlinter), so it is put together
here, at the edge where clients are built (reconciler/connect.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from reconciler.errors import ReconcilerError
from reconciler.top.credentials import Credentials
from reconciler.top.providers import (
    PROVIDERS,
    CredentialsProvider,
    EnvironmentProvider,
    FileProvider,
    ShopSecrets,
)
from reconciler.top.tokens import Token

if TYPE_CHECKING:
    from reconciler.state.seller_tokens import SealedTokens


class StoreTokens:
    """The TokenStore (reconciler/top/tokens.py) of one app's sealed tokens in the state store."""

    def __init__(self, table: SealedTokens, app_key: str) -> None:
        self._table = table
        self._app_key = app_key

    @property
    def where(self) -> str:
        return self._table.where

    def load(self, shop: str) -> Token | None:
        data = self._table.load(self._app_key, shop)
        return None if data is None else Token.from_json(data)

    @contextmanager
    def locked(self, shop: str = "") -> Iterator[None]:
        with self._table.locked(self._app_key, shop):
            yield

    def save_while_locked(self, shop: str, token: Token) -> None:
        self._table.save(self._app_key, shop, token.to_json())

    def save(self, shop: str, token: Token) -> None:
        with self.locked(shop):
            self.save_while_locked(shop, token)


class StoreProvider:
    """App key and secret from the variables the profile names (an agency's one app); the seller's
    token from the state store, never from a session variable (one source, so workers agree)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._table: SealedTokens | None = None

    def secrets(self, shop: str, names: Mapping[str, str]) -> ShopSecrets:
        app = Credentials.from_env(self._env, app_key_var=names["app_key"], app_secret_var=names["app_secret"],
                                   session_var="", gateway_var=names["gateway"])
        return ShopSecrets(app, StoreTokens(self.table(), app.app_key), source=self.table().where)

    def table(self) -> SealedTokens:
        if self._table is None:
            try:  # the PostgreSQL driver and cryptography are the [postgres] extra (pyproject.toml)
                from reconciler.state.seller_tokens import SealedTokens
            except ImportError as exc:
                raise ReconcilerError(
                    f"spec.credentials: store needs the PostgreSQL extra ({exc.name} is missing): "
                    "pip install 'campaign-reconciler[postgres]'"
                ) from None
            self._table = SealedTokens.from_env(self._env)
        return self._table

    def secret_values(self) -> list[str]:
        return []  # tokens read through it are remembered by their SellerSession

    def close(self) -> None:
        if self._table is not None:
            self._table.close()


class Providers:
    """One provider of each kind per run, built on first use (a run whose shops all use the
    environment never needs a credentials file or a token key)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._built: dict[str, CredentialsProvider] = {}

    def __call__(self, name: str) -> CredentialsProvider:
        if name not in PROVIDERS:
            raise ReconcilerError(f"unknown credentials provider {name!r}; known: {', '.join(PROVIDERS)}")
        if name not in self._built:
            self._built[name] = self._build(name)
        return self._built[name]

    def _build(self, name: str) -> CredentialsProvider:
        if name == "file":
            return FileProvider.from_env(self._env)
        if name == "store":
            return StoreProvider(self._env)
        return EnvironmentProvider(self._env)

    def secret_values(self) -> list[str]:
        return [value for provider in list(self._built.values()) for value in provider.secret_values()]

    def close(self) -> None:
        for provider in self._built.values():
            if isinstance(provider, StoreProvider):
                provider.close()
