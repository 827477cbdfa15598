"""Which app calls which TOP method: one shop's calls, each sent through the client of its app.

A shop's calls go out with the seller's app and the seller's session, except the Taoke
(Alimama) promoter methods: TOP's SDKs call ``taobao.tbk.dg.vegas.tlj.create/stop/report``
with a Taoke app's key and the gift's ``adzone_id`` and *no* session. Evidence: TOP's generated Go
SDK sends them with ``Client.Execute(...)`` and no session (github.com/toodo-fun/topsdk,
``ability1826/Ability1826.go``), while seller methods of that generated SDK take one
(``ExecuteWithSession("taobao.promotion.activity.get", ..., session)`` in
github.com/qcfengdaai/topsdk ``ability641/Ability641.go``, another copy); TOP's Python SDK request
``top.api.TbkDgVegasTljReportRequest`` holds only ``adzone_id`` and ``rights_id``. The Shop
profile names that app (``spec.taoke``); its client is built without a session, so it never
refreshes a token either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.top.client import CallStats, TopClient

# Methods called with the shop's Taoke (Alimama) app and no seller session. Listed by hand, like
# reconciler.top.methods: a method missing here goes out with the seller's app, and TOP refuses it.
TAOKE_METHODS: frozenset[str] = frozenset(
    {
        "taobao.tbk.dg.vegas.tlj.create",
        "taobao.tbk.dg.vegas.tlj.stop",
        "taobao.tbk.dg.vegas.tlj.report",
    }
)


def uses_taoke_app(method: str) -> bool:
    return method in TAOKE_METHODS


class ShopCaller:
    """A shop's calls, each through its app's client. Both clients are opened on first use, so a
    shop without Taoke cash gifts never needs the Taoke app's credentials, and one with only
    gifts never needs the seller's."""

    def __init__(self, seller: Callable[[], TopClient], taoke: Callable[[], TopClient]) -> None:
        self._open = {"seller": seller, "taoke": taoke}
        self._clients: dict[str, TopClient] = {}
        # The plan reads several kinds at once (engine/reads.py): one client per app, however many
        # threads make the first call (a second one would count its calls apart).
        self._opening = threading.Lock()

    def client(self, app: str) -> TopClient:
        """The client of `app` ("seller" or "taoke"), opened now if it was not yet."""
        with self._opening:
            if app not in self._clients:
                self._clients[app] = self._open[app]()
            return self._clients[app]

    def _for(self, method: str) -> TopClient:
        return self.client("taoke" if uses_taoke_app(method) else "seller")

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._for(method).call(method, params)

    def call_many(
        self, method: str, params_list: Sequence[Mapping[str, Any] | None], *, return_exceptions: bool = False,
        each: Callable[[dict[str, Any]], Any] | None = None,
    ) -> list[Any]:
        return self._for(method).call_many(method, params_list, return_exceptions=return_exceptions, each=each)

    @property
    def stats(self) -> CallStats:
        """Calls so far through both apps (the plan counts its reads from this)."""
        total = CallStats()
        for client in list(self._clients.values()):
            total.reads += client.stats.reads
            total.writes += client.stats.writes
            for method, count in client.stats.by_method.items():
                total.by_method[method] = total.by_method.get(method, 0) + count
        return total

    def opened(self) -> list[TopClient]:
        return list(self._clients.values())
