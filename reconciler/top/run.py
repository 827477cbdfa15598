"""What every TOP client of one run shares: the settings read once from the environment, and one
QPS budget per app key (shops that share an app share its quota; with TOP_QPS_SHARED, every
worker of the app shares it through `shared`, which reconciler.connect takes from the state store)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from reconciler.top.client import TopClient
from reconciler.top.credentials import Credentials
from reconciler.top.ratelimit import Budgets, SharedSlots
from reconciler.top.settings import ClientSettings
from reconciler.top.tokens import SellerSession, TokenStore, session_for


class TopRun:
    def __init__(
        self, env: Mapping[str, str] = os.environ, settings: ClientSettings | None = None,
        shared: Callable[[str], SharedSlots] | None = None,
    ) -> None:
        # `settings`: read once by the CLI (reconciler/settings.py); else from `env` here.
        # `shared`: app key -> the slots every worker of that app shares (None: this process only).
        self.settings = settings if settings is not None else ClientSettings.from_env(env)
        self._budgets = Budgets(self.settings.qps, shared)

    def open(
        self, credentials: Credentials, *, shop: str, session_var: str, sign_method: str, read_only: bool,
        tokens: TokenStore | None = None,
    ) -> TopClient:
        # `tokens`: where the shop's credentials provider keeps its refreshable token (None: the token file).
        store = tokens if tokens is not None else self.settings.token_file
        session = session_for(shop, credentials.session, session_var=session_var, token_file=store)
        return self._client(credentials, session, sign_method=sign_method, read_only=read_only)

    def open_app(self, credentials: Credentials, *, sign_method: str, read_only: bool) -> TopClient:
        """A client for an app that calls on its own account, not a seller's (a shop's Taoke app):
        it sends no session, so there is no token to read from the token file or to refresh."""
        if credentials.session is not None:
            raise ValueError("an app's own client must not carry a seller session")
        return self._client(credentials, SellerSession.fixed(None), sign_method=sign_method, read_only=read_only)

    def _client(self, credentials: Credentials, session: SellerSession, *, sign_method: str, read_only: bool) -> TopClient:
        return TopClient(
            credentials,
            sign_method=sign_method,
            read_only=read_only,
            timeout=self.settings.timeout,
            retry=self.settings.retry,
            budget=self._budgets.for_app(credentials.app_key),
            concurrency=self.settings.workers,
            session=session,
            simplify=self.settings.simplify,
        )

    def close(self) -> None:
        self._budgets.close()
