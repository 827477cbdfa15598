"""Seller authorisation as the sandbox emulates it: ``taobao.top.auth.token.create`` and
``taobao.top.auth.token.refresh``, issuing into the gateway's session table (sessions.py).

* ``token.create`` takes one of the demo authorisation codes in :data:`DEMO_AUTH_CODES`. Unlike
  TOP's one-time codes they can be used again, so the README demo can be repeated.
* ``token.refresh`` rotates the refresh token: the old one stops working, the old access token
  stays valid until it expires.
* ``code`` / ``refresh_token`` absent or empty: code 40 (their pages mark them required; the
  strict check in request_params.py answers it first, the handler reads them with params.py).
* Both answer ``token_result`` as a JSON *string* inside the envelope (TOP-PROTOCOL.md "Tokens").
* A code or refresh token that is unknown, used up or expired answers code 15 with
  ``isv.invalid-code`` / ``isv.refresh-token-invalid`` (TOP documents no sub_code; these are ours).
* Codes and refresh tokens are secrets: the call log masks them (``MethodSpec.secret_params``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconciler.sandbox import params
from reconciler.sandbox.context import CallContext, MethodSpec
from reconciler.sandbox.errors import business_error, internal_error
from reconciler.sandbox.sessions import SessionTable

DEMO_AUTH_CODES: Mapping[str, str] = {
    "sandbox-code-demo-shop": "demo-shop",
    "sandbox-code-other-shop": "other-shop",
}


def _sessions(ctx: CallContext) -> SessionTable:
    if ctx.sessions is None:
        raise internal_error(f"{ctx.method}: the sandbox was started without a session table")
    return ctx.sessions


def _answer(result: Mapping[str, Any]) -> dict[str, Any]:
    # A JSON string inside the JSON envelope, as TOP sends it: clients must decode twice.
    return {"token_result": json.dumps(result, ensure_ascii=False, separators=(",", ":"))}


def token_create(ctx: CallContext) -> dict[str, Any]:
    code = params.text(ctx, "code", required=True) or ""
    shop = DEMO_AUTH_CODES.get(code)
    if shop is None:
        raise business_error("invalid-code", "the authorisation code is unknown or expired")
    return _answer(_sessions(ctx).issue(shop))


def token_refresh(ctx: CallContext) -> dict[str, Any]:
    refresh_token = params.text(ctx, "refresh_token", required=True) or ""
    return _answer(_sessions(ctx).refresh(refresh_token))


METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("taobao.top.auth.token.create", token_create, needs_session=False, secret_params=("code",)),
    MethodSpec("taobao.top.auth.token.refresh", token_refresh, needs_session=False, secret_params=("refresh_token",)),
)
