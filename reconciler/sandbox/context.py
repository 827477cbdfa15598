"""The handler contract: what a method handler gets (:class:`CallContext`) and how a method is
registered (:class:`MethodSpec`).

Below the families and the gateway, above the store and the session table it hands out, so
neither of those imports it back (protocol.py held it once, and store.py / auth.py imported
protocol.py: an import circle).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.errors import BusinessError, internal_error
from reconciler.sandbox.sessions import SessionTable
from reconciler.sandbox.store import Store


@dataclass(frozen=True)
class CallContext:
    """What a method handler gets: the business params of one call and the shop it acts for."""

    method: str
    params: Mapping[str, str]  # business params only, raw strings as received
    shop: str | None  # seller nick resolved from the session; None for session-less methods
    now_ms: int  # the sandbox clock, shared with the timestamp check
    store: Store
    sessions: SessionTable | None = None  # the gateway's session table (token methods issue into it)
    app_key: str = ""  # the calling app: session-less account methods (Taoke) keep state per app

    def namespace(self, name: str) -> dict[str, Any]:
        """The shop's own slice of state for one method family (e.g. "itempool")."""
        if self.shop is None:
            raise internal_error(f"{self.method} has no session, so it has no shop state")
        return self.store.namespace(self.shop, name)


Handler = Callable[[CallContext], dict[str, Any]]


@dataclass(frozen=True)
class MethodSpec:
    """One TOP method the sandbox implements."""

    name: str
    handler: Handler
    needs_session: bool = True
    writes: bool = False  # True: a successful call changed state, so the data file is rewritten
    secret_params: tuple[str, ...] = ()  # business params the call log masks (auth codes, refresh tokens)
    # When set, a BusinessError is answered as these fields in a successful envelope (TOP's
    # item-pool family: result.success=false + error_code/message), not as error_response.
    refusal_in_body: Callable[[BusinessError], dict[str, Any]] | None = None
    taoke_app: bool = False  # only a Taoke (Alimama) app may call it; any other app gets code 11
