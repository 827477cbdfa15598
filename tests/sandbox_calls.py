"""Raw TOP calls to the sandbox for its contract tests: signed here with hashlib/hmac (never with
reconciler.top), sent over real HTTP as the official SDKs send them (system params in the query,
business params as a form body), answers returned as parsed JSON."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, SandboxServer

OTHER_SESSION = "sandbox-session-other-shop"
GMT8 = timezone(timedelta(hours=8))


def gmt8(moment: datetime) -> str:
    return moment.astimezone(GMT8).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class RawTop:
    server: SandboxServer
    http: httpx.Client

    def call(
        self, method: str, business: dict[str, Any] | None = None, *, session: str | None = DEMO_SESSION,
        app: tuple[str, str] = (DEMO_APP_KEY, DEMO_APP_SECRET),
    ) -> dict[str, Any]:
        """`app` is (app key, secret): the seller's demo app unless told; `session` None sends none."""
        app_key, app_secret = app
        system = {
            "method": method,
            "app_key": app_key,
            "timestamp": gmt8(datetime.now(GMT8)),
            "format": "json",
            "v": "2.0",
            "sign_method": "md5",
        }
        if session is not None:
            system["session"] = session
        body = {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in (business or {}).items()}
        text = "".join(f"{k}{v}" for k, v in sorted({**system, **body}.items()) if v != "")
        secret = app_secret.encode()
        system["sign"] = hashlib.md5(secret + text.encode() + secret).hexdigest().upper()
        response = self.http.post(self.server.gateway, params=system, data=body)
        assert response.status_code == 200
        payload: dict[str, Any] = response.json()
        return payload

    def ok(self, method: str, business: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        payload = self.call(method, business, **kw)
        key = method.removeprefix("taobao.").replace(".", "_") + "_response"
        assert key in payload, payload
        fields: dict[str, Any] = payload[key]
        fields.pop("request_id")
        return fields

    def error(self, method: str, business: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        payload = self.call(method, business, **kw)
        assert list(payload) == ["error_response"], payload
        fields: dict[str, Any] = payload["error_response"]
        assert fields.pop("request_id")
        return fields

    def setup(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(f"{self.server.url}{path}", json=body)
        assert response.status_code == 200, response.text
        payload: dict[str, Any] = response.json()
        return payload

    def calls(self) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = self.http.get(f"{self.server.url}/_sandbox/calls").json()["calls"]
        return calls
