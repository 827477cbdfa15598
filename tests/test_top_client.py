from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

import reconciler.top as top
from reconciler.errors import (
    ReadOnlyViolation,
    ReconcilerError,
    TopCallLimitError,
    TopError,
    TopPermanentError,
    TopTransportError,
)
from reconciler.top import Credentials, TopClient, redact
from reconciler.top.credentials import DEFAULT_GATEWAY, CredentialsError

SECRET = "app-secret-VALUE-123"
SESSION = "session-token-VALUE-456"
CREDS = Credentials(app_key="12345678", app_secret=SECRET, session=SESSION, gateway="https://gw.example.test/router/rest")
# 2026-06-17T16:00:00Z == 2026-06-18 00:00:00 GMT+8
FIXED_CLOCK: Callable[[], float] = lambda: 1781712000.0  # noqa: E731

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that remembers each request and answers with a fixed response."""

    def __init__(self, respond: Handler) -> None:
        self.requests: list[httpx.Request] = []
        self._respond = respond

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._respond(request)


def json_response(document: Any, status: int = 200) -> Handler:
    return lambda request: httpx.Response(status, content=json.dumps(document, ensure_ascii=False).encode())


def make_client(handler: Handler, **kwargs: Any) -> TopClient:
    return TopClient(CREDS, transport=httpx.MockTransport(handler), clock=FIXED_CLOCK, **kwargs)


def query_of(request: httpx.Request) -> dict[str, str]:
    return dict(request.url.params)


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode("ascii"), keep_blank_values=True))


def independent_sign(params: dict[str, str], secret: str, method: str) -> str:
    message = "".join(k + v for k, v in sorted(params.items()) if k != "sign" and v).encode()
    if method == "md5":
        return hashlib.md5(secret.encode() + message + secret.encode()).hexdigest().upper()
    digest = hashlib.md5 if method == "hmac" else hashlib.sha256
    return hmac.new(secret.encode(), message, digest).hexdigest().upper()


def assert_no_secrets(text: str) -> None:
    assert SECRET not in text and SESSION not in text


# --- request shape ----------------------------------------------------------------------------


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
def test_request_shape_and_signature(sign_method: str) -> None:
    recorder = Recorder(json_response({"promotion_coupon_add_response": {"coupon_id": 99}}))
    with make_client(recorder, sign_method=sign_method) as client:
        result = client.call(
            "taobao.promotion.coupon.add",
            {"denominations": 5, "condition": Decimal("30.00"), "title": "满30减5", "memo": None, "note": ""},
        )
    assert result == {"coupon_id": 99}
    (request,) = recorder.requests
    assert request.method == "POST"
    assert str(request.url).startswith("https://gw.example.test/router/rest?")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded;charset=UTF-8"
    query = query_of(request)
    assert query == {
        "method": "taobao.promotion.coupon.add",
        "app_key": "12345678",
        "session": SESSION,
        "timestamp": "2026-06-18 00:00:00",
        "format": "json",
        "v": "2.0",
        "sign_method": sign_method,
        "simplify": "true",  # the root-level shape, as TOP's newer SDKs ask for it
        "sign": query["sign"],
    }
    form = form_of(request)
    assert form == {"denominations": "5", "condition": "30.00", "title": "满30减5"}
    assert query["sign"] == independent_sign({**query, **form}, SECRET, sign_method)


def test_session_omitted_when_absent_and_empty_body_without_params() -> None:
    recorder = Recorder(json_response({"time_get_response": {"time": "2026-06-18 00:00:00"}}))
    creds = Credentials(app_key="k", app_secret="s")
    with TopClient(creds, transport=httpx.MockTransport(recorder), clock=FIXED_CLOCK) as client:
        assert client.call("taobao.time.get") == {"time": "2026-06-18 00:00:00"}
    (request,) = recorder.requests
    assert "session" not in query_of(request)
    assert request.content == b""
    assert request.url.host == "gw.api.taobao.com" and creds.gateway == DEFAULT_GATEWAY


def test_business_params_may_not_override_system_params() -> None:
    recorder = Recorder(json_response({}))
    with make_client(recorder) as client, pytest.raises(ValueError, match="session"):
        client.call("taobao.time.get", {"session": "other"})
    assert recorder.requests == []


def test_unknown_sign_method_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        TopClient(CREDS, sign_method="sha1")


# --- errors -----------------------------------------------------------------------------------


def test_error_response_is_typed() -> None:
    body = {"error_response": {"code": 7, "msg": "App Call Limited", "sub_code": "accesscontrol.limited-by-api-access-count", "sub_msg": "This ban will last for 3 more seconds", "request_id": "rid"}}
    with make_client(json_response(body)) as client, pytest.raises(TopCallLimitError) as info:
        client.call("taobao.promotion.coupons.get")
    assert info.value.ban_seconds == 3.0 and info.value.request_id == "rid"


def test_non_200_is_a_transport_error() -> None:
    with make_client(json_response({"x": 1}, status=502)) as client, pytest.raises(TopTransportError) as info:
        client.call("taobao.time.get")
    assert "502" in str(info.value)


def test_httpx_failure_is_a_transport_error_chained() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout(f"timed out talking to {request.url}", request=request)

    with make_client(fail) as client, pytest.raises(TopTransportError) as info:
        client.call("taobao.time.get")
    assert isinstance(info.value.__cause__, httpx.ConnectTimeout)
    assert "ConnectTimeout" in str(info.value)
    assert_no_secrets(str(info.value))


def _raise_read_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError(f"boom {request.url}", request=request)


ERROR_HANDLERS: list[Handler] = [
    json_response({"error_response": {"code": 27, "msg": "Invalid session", "sub_code": "invalid-sessionkey"}}),
    json_response({"error_response": {"code": 15, "msg": "Remote service error", "sub_code": "isp.top-remote-unknown-error"}}),
    json_response({"error_response": {"code": 7, "msg": "App Call Limited", "sub_code": "accesscontrol.limited-by-app-access-count"}}),
    json_response({"oops": True}, status=500),
    lambda request: httpx.Response(200, content=b"<html>not json</html>"),
    _raise_read_error,
]


@pytest.mark.parametrize("handler", ERROR_HANDLERS)
def test_secrets_absent_from_every_error(handler: Handler) -> None:
    with make_client(handler) as client, pytest.raises(TopError) as info:
        client.call("taobao.promotion.coupon.add", {"title": "x"})
    exc = info.value
    assert_no_secrets(str(exc))
    assert_no_secrets(repr(exc))
    assert_no_secrets(str(exc.args))


def test_secrets_absent_from_client_repr_and_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler.top")
    with make_client(json_response({"time_get_response": {"time": "t"}})) as client:
        client.call("taobao.time.get", {"marker": "PARAM-VALUE"})
        assert_no_secrets(repr(client))
    messages = [record.getMessage() for record in caplog.records if record.name == "reconciler.top"]
    assert len(messages) == 1 and messages[0].startswith("taobao.time.get took ")
    for text in messages:
        assert_no_secrets(text)
        assert "PARAM-VALUE" not in text


# --- read-only and stats ----------------------------------------------------------------------


def test_read_only_refuses_writes_before_any_io() -> None:
    recorder = Recorder(json_response({}))
    with make_client(recorder, read_only=True) as client:
        with pytest.raises(ReadOnlyViolation) as info:
            client.call("taobao.promotion.coupon.add", {"denominations": 5})
        assert client.stats.writes == 0
    assert recorder.requests == []
    assert isinstance(info.value, TopPermanentError)
    assert "is a write and this client is read-only (plan/validate/drift never write)" in str(info.value)
    assert_no_secrets(str(info.value))


def test_read_only_refuses_unknown_methods() -> None:
    recorder = Recorder(json_response({}))
    with make_client(recorder, read_only=True) as client, pytest.raises(ReadOnlyViolation):
        client.call("taobao.brand.new.method")
    assert recorder.requests == []


def test_read_only_allows_reads() -> None:
    recorder = Recorder(json_response({"promotion_coupons_get_response": {"total_results": 0}}))
    with make_client(recorder, read_only=True) as client:
        assert client.call("taobao.promotion.coupons.get") == {"total_results": 0}
    assert len(recorder.requests) == 1


def test_stats_count_reads_writes_and_methods() -> None:
    with make_client(json_response({})) as client:
        client.call("taobao.time.get")
        client.call("taobao.time.get")
        client.call("taobao.promotion.coupon.add", {"denominations": 5})
        assert (client.stats.reads, client.stats.writes) == (2, 1)
        assert client.stats.by_method == {"taobao.time.get": 2, "taobao.promotion.coupon.add": 1}


def test_close_closes_http_client() -> None:
    client = make_client(json_response({}))
    client.close()
    with pytest.raises(RuntimeError):
        client.call("taobao.time.get")


# --- methods ----------------------------------------------------------------------------------


def test_is_write() -> None:
    assert not top.is_write("taobao.time.get")
    assert not top.is_write("alibaba.wdk.marketing.itempool.queryitems")
    assert top.is_write("taobao.promotion.coupon.add")
    assert top.is_write("taobao.unknown.get")  # not listed: treated as a write


def test_read_methods_match_the_method_catalogue() -> None:
    from pathlib import Path

    catalogue = Path(__file__).resolve().parents[2] / "shared" / "top-api" / "methods"
    if not catalogue.is_dir():
        pytest.skip("shared method catalogue not present")
    names = {path.stem for path in catalogue.glob("*.json")}
    assert top.READ_METHODS <= names
    looks_read = {n for n in names if n.endswith(".get") or ".query" in n or n.endswith((".report", ".optional"))}
    assert looks_read == top.READ_METHODS


# --- credentials ------------------------------------------------------------------------------


def test_credentials_from_env() -> None:
    env = {"TOP_APP_KEY": "k", "TOP_APP_SECRET": SECRET, "TOP_SESSION": SESSION}
    creds = Credentials.from_env(env)
    assert creds == Credentials(app_key="k", app_secret=SECRET, session=SESSION, gateway=DEFAULT_GATEWAY)
    custom = Credentials.from_env({"A": "k", "B": "s", "G": "http://127.0.0.1:9/router/rest"}, app_key_var="A", app_secret_var="B", gateway_var="G")
    assert custom.gateway == "http://127.0.0.1:9/router/rest" and custom.session is None


@pytest.mark.parametrize(
    ("env", "missing"),
    [({"TOP_APP_SECRET": SECRET}, "TOP_APP_KEY"), ({"TOP_APP_KEY": "k", "TOP_APP_SECRET": ""}, "TOP_APP_SECRET")],
)
def test_credentials_missing_names_variable_only(env: dict[str, str], missing: str) -> None:
    with pytest.raises(CredentialsError) as info:
        Credentials.from_env({**env, "TOP_SESSION": SESSION})
    assert isinstance(info.value, ReconcilerError)
    assert missing in str(info.value)
    assert_no_secrets(str(info.value))


def test_credentials_repr_masks_secrets() -> None:
    for text in (repr(CREDS), str(CREDS), f"{CREDS}"):
        assert_no_secrets(text)
        assert "***" in text and "12345678" in text


def test_redact() -> None:
    creds = Credentials(app_key="k", app_secret="s/e cret", session="sess+ion")
    text = "a s/e cret b sess+ion c s%2Fe%20cret d sess%2Bion e s%2Fe+cret"
    assert redact(text, creds) == "a *** b *** c *** d *** e ***"


def test_redact_ignores_absent_session() -> None:
    assert redact("nothing here", Credentials(app_key="k", app_secret="zz")) == "nothing here"


def test_public_exports() -> None:
    assert set(top.__all__) == {
        "DEFAULT_GATEWAY", "READ_METHODS", "SIGN_METHODS", "CallStats", "Credentials", "CredentialsError",
        "TopClient", "TopDailyQuotaError", "classify_error", "encode_params", "format_top_time", "is_write",
        "parse_response", "redact", "response_key", "sign",
    }
