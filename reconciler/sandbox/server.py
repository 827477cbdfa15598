"""The sandbox HTTP server: TOP's ``/router/rest`` gateway on loopback, plus test endpoints.

Routes:
    GET|POST /router/rest          the TOP gateway (params merged from query string and form body)
    GET      /_sandbox/calls       {"calls": [{method, params, session (shop nick), ok, at, app,
                                   session_sent}, ...]}
    POST     /_sandbox/calls/clear clear the call log only
    POST     /_sandbox/reset       clear all state, the call log and a fixed business clock
    GET      /_sandbox/state       the whole store, for debugging tests
    GET|POST /_sandbox/faults      read / replace the injected faults (JSON; see faults.py)
    GET|POST /_sandbox/clock       read / set the business clock: {"at": "2027-11-10T20:00:00+08:00"}
                                   fixes the moment the business rules see (an end time in the
                                   past, a coupon's six months, a gift's send window), {"at": null}
                                   returns them to the real clock. Signatures, timestamps, tokens,
                                   time.get and the call log keep the protocol clock (faults'
                                   clock_offset), so a client needs no change to run on it.
    POST     /_sandbox/items       set up a shop's items (JSON body; see families/items.setup_items)
    POST     /_sandbox/tlj/usage   set a Taoke cash gift's figures (JSON body; see families/tbk.record_usage)
Anything else is 404.

A gateway call runs: the gateway checks (protocol.check_request), faults, the strict request
check against TOP's page (request_params.py), the handler, then the answer's shape: handlers
answer the ``simplify=true`` form and, without ``simplify=true``, shapes.wrap_lists wraps every
list. A business refusal (errors.BusinessError) is code 15, or in the body for the families
that report it there (families/itempool.py), or code 50 under the ``refusal_code_50`` fault.

Only ``application/x-www-form-urlencoded`` bodies are read (multipart uploads are not needed by
any emulated method). Every call is handled under the store lock, so calls are serialised and
the call log is in arrival order.
"""

from __future__ import annotations

import email.utils
import io
import json
import logging
import signal
import socket
import threading
import time
from datetime import datetime, timezone
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from reconciler.sandbox.arrival import StampedReader
from reconciler.sandbox.codec import json_dumps, json_loads
from reconciler.sandbox.context import CallContext, MethodSpec
from reconciler.sandbox.errors import ApiError, BusinessError, internal_error
from reconciler.sandbox.families.items import setup_items
from reconciler.sandbox.families.tbk import DEMO_ALIMAMA_APP_KEY, record_usage
from reconciler.sandbox.faults import HANG, FaultError, Faults, FaultSettings
from reconciler.sandbox.methods import REGISTRY
from reconciler.sandbox.protocol import business_params, check_request, error_body, new_request_id, success_body, wants_simplify
from reconciler.sandbox.request_params import check_request_params
from reconciler.sandbox.sessions import DEFAULT_ACCESS_TTL_S, SessionTable
from reconciler.sandbox.shapes import wrap_lists
from reconciler.sandbox.store import CallLog, CallRecord, Store

logger = logging.getLogger(__name__)

# Fixed, documented demo credentials: the sandbox is a local toy, these guard nothing.
DEMO_APP_KEY = "12345678"
DEMO_APP_SECRET = "sandbox-app-secret"
DEMO_SESSION = "sandbox-session-demo-shop"
OTHER_SESSION = "sandbox-session-other-shop"
# A second app, the demo promoter's Alimama (Taoke) app: taobao.tbk.dg.vegas.tlj.* are called with
# it and no session (see families/tbk.py); the seller's app above is refused for them (code 11). Its key,
# DEMO_ALIMAMA_APP_KEY ("23456789"), lives in families/tbk.py, whose usage endpoint defaults to it.
DEMO_ALIMAMA_APP_SECRET = "sandbox-alimama-secret"

APP_SECRETS: Mapping[str, str] = {DEMO_APP_KEY: DEMO_APP_SECRET, DEMO_ALIMAMA_APP_KEY: DEMO_ALIMAMA_APP_SECRET}
TAOKE_APPS: frozenset[str] = frozenset({DEMO_ALIMAMA_APP_KEY})  # apps allowed the Taoke methods
# session key → seller nick; one session = one shop, and all state is scoped by shop.
SESSIONS: Mapping[str, str] = {DEMO_SESSION: "demo-shop", OTHER_SESSION: "other-shop"}

GATEWAY_PATH = "/router/rest"
FAULTS_PATH = "/_sandbox/faults"
CLOCK_PATH = "/_sandbox/clock"
TIME_GET = "taobao.time.get"  # answers the protocol clock: clients measure their skew with it


class Dispatcher:
    """Transport-free core: one TOP request (merged params) in, one JSON body out."""

    def __init__(
        self,
        store: Store,
        *,
        methods: Mapping[str, MethodSpec] = REGISTRY,
        app_secrets: Mapping[str, str] = APP_SECRETS,
        sessions: Mapping[str, str] = SESSIONS,
        taoke_apps: frozenset[str] = TAOKE_APPS,
        clock: Callable[[], float] = time.time,
        faults: FaultSettings | None = None,
    ) -> None:
        self.store = store
        self.calls = CallLog()
        self.methods = methods
        self.app_secrets = app_secrets
        self.taoke_apps = taoke_apps
        self.clock = clock  # replaceable so tests can move the sandbox's time
        self.faults = Faults()
        # The moment business rules see (epoch seconds), when a test fixed one; None: the protocol clock.
        self.business_at: float | None = None
        self.sessions = SessionTable(sessions, self.now_ms)
        self.set_faults(faults or FaultSettings())

    def set_faults(self, settings: FaultSettings) -> None:
        self.faults.configure(settings)
        self.sessions.access_ttl_s = self.faults.with_token_ttl(DEFAULT_ACCESS_TTL_S)

    def now(self) -> float:
        """The sandbox's clock in epoch seconds (a clock_offset fault skews it)."""
        return self.clock() + self.faults.clock_offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def business_now_ms(self) -> int:
        """The clock of the business rules: the fixed business moment, else the protocol clock."""
        return int(self.business_at * 1000) if self.business_at is not None else self.now_ms()

    def serve(self, params: Mapping[str, str], arrived: float | None = None) -> tuple[dict[str, Any] | None, str | None]:
        """One gateway request with the connection faults applied: (body, None) to answer, or
        (body or None, mode) when the answer is to be lost (mode: close / 502 / timeout / hang).
        `arrived`: when the request came in (time.monotonic()), which the call limit meters."""
        arrived = time.monotonic() if arrived is None else arrived
        method = params.get("method", "").strip()
        delay = self.faults.delay()
        if delay:
            time.sleep(delay)  # outside the store lock, so slow calls overlap as on TOP
        if self.faults.take_hang(method):
            return None, HANG  # not run at all
        body, ran = self._dispatch(params, arrived)
        drop = self.faults.take_drop(method, ran.writes) if ran is not None else None
        return body, drop

    def handle(self, params: Mapping[str, str]) -> dict[str, Any]:
        return self._dispatch(params)[0]

    def _dispatch(self, params: Mapping[str, str], arrived: float | None = None) -> tuple[dict[str, Any], MethodSpec | None]:
        """The body to answer, and the method when its handler ran and succeeded."""
        request_id = new_request_id()
        ran: MethodSpec | None = None
        with self.store.lock:
            now_ms = self.now_ms()
            if _value(params, "session") and self.faults.session_expiry_due():
                self.sessions.expire_all()
            try:
                spec, shop = check_request(
                    params, methods=self.methods, app_secrets=self.app_secrets, sessions=self.sessions, now_ms=now_ms
                )
                self._refuse_by_fault(spec, params, arrived)
                self._check_app(spec, params)
                simplify = wants_simplify(params)
                fields, refused = self._invoke(spec, params, shop, now_ms, simplify)
                body = success_body(spec.name, fields, request_id, simplify)
                # A refusal answered in the body is a successful envelope but no success: the call
                # log says not ok, and lost-answer faults (which follow successful runs) skip it.
                ok, ran = not refused, None if refused else spec
            except ApiError as error:
                body, ok = error_body(error, request_id), False
            self._record(params, ok, now_ms)
        return body, ran

    def _refuse_by_fault(self, spec: MethodSpec, params: Mapping[str, str], arrived: float | None) -> None:
        """Call limits first (TOP's gateway counts before it dispatches, by arrival: Faults.call_limit),
        then injected isp errors."""
        error = self.faults.call_limit(_value(params, "app_key"), arrived) or self.faults.injected_error(spec.name)
        if error is not None:
            raise error

    def _check_app(self, spec: MethodSpec, params: Mapping[str, str]) -> None:
        """A Taoke method called with an app that is not a Taoke (Alimama) app: TOP answers code 11
        ``isv.permission-api-package-limit`` when an app lacks a method's API package, e.g.
        {"code":11,"msg":"Insufficient isv permissions","sub_code":"isv.permission-api-package-limit",
        "sub_msg":"scope ids is 11022 11600 11863"} (public reports: github.com/ltt1987/alidayu/issues/4,
        github.com/aliyun-UED/aliyun-sdk-js/issues/109). The scope ids are the sandbox's own."""
        if spec.taoke_app and _value(params, "app_key") not in self.taoke_apps:
            raise ApiError(
                11, "Insufficient isv permissions", "isv.permission-api-package-limit",
                f"scope ids is 11655: {spec.name} is a Taoke (Alimama) method; call it with a Taoke app",
            )

    def _invoke(
        self, spec: MethodSpec, params: Mapping[str, str], shop: str | None, now_ms: int, simplify: bool
    ) -> tuple[dict[str, Any], bool]:
        """Check the params against TOP's page, run the handler, answer its refusal the way the
        method's family does, and shape the fields (handlers return the simplify=true form).
        Returns the fields and whether they are a refusal reported in the body."""
        business_ms = now_ms if spec.name == TIME_GET else self.business_now_ms()
        ctx = CallContext(
            spec.name, business_params(params), shop, business_ms, self.store, self.sessions,
            app_key=_value(params, "app_key"),
        )
        try:
            check_request_params(spec.name, ctx.params)
            refused = False
            try:
                fields = spec.handler(ctx)
            except BusinessError as refusal:
                fields, refused = self._refusal(spec, refusal), True
            else:
                if spec.writes:
                    self.store.save()
            return (fields if simplify else wrap_lists(spec.name, fields)), refused
        except ApiError:
            raise
        except Exception as exc:  # a sandbox bug must still answer in TOP's shape
            logger.exception("sandbox handler for %s failed", spec.name)
            raise internal_error(f"sandbox internal error in {spec.name}: {type(exc).__name__}") from exc

    def _refusal(self, spec: MethodSpec, refusal: BusinessError) -> dict[str, Any]:
        """A broken business rule: code 50 when a fault asks for it (TOP answers some refusals so),
        else in the body for the families that report it there, else code 15 as raised."""
        if self.faults.take_refusal_code_50(spec.name):
            raise ApiError(50, "Remote service error", refusal.sub_code, refusal.sub_msg) from refusal
        if spec.refusal_in_body is None:
            raise refusal
        return spec.refusal_in_body(refusal)

    def _record(self, params: Mapping[str, str], ok: bool, now_ms: int) -> None:
        method = params.get("method", "").strip()
        if not method:
            return
        shop = self.sessions.get(params.get("session", "").strip())
        recorded = business_params(params)
        spec = self.methods.get(method)
        for name in spec.secret_params if spec is not None else ():
            if name in recorded:
                recorded[name] = "***"  # auth codes and refresh tokens never enter the log
        self.calls.append(
            CallRecord(method, recorded, shop, ok, now_ms, app=_value(params, "app_key"),
                       session_sent=bool(_value(params, "session")))
        )

    def reset(self) -> None:
        """Clears shops, the call log and issued tokens; the faults in force stay."""
        with self.store.lock:
            self.store.reset()
            self.calls.clear()
            self.sessions.reset()
            self.business_at = None  # a fixed business moment is test state like the shops


def _value(params: Mapping[str, str], name: str) -> str:
    return params.get(name, "").strip()


class _HTTPServer(ThreadingHTTPServer):
    """Threaded server that remembers open connections so stop() can cut keep-alive clients."""

    daemon_threads = True
    # socketserver's listen backlog is 5: a fleet of workers opening connections at once overflowed
    # it, and a dropped SYN is sent again only after a second, so a call went out on time and
    # reached the sandbox 1.1 s later (measured, issue 20.6), into a second full of later calls.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            open_connections = list(self._connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: benchmarks make many calls per connection
    timeout = 60  # idle keep-alive connections release their thread eventually
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms ACK stalls
    server: _HTTPServer
    _stamps: StampedReader | None = None

    def setup(self) -> None:
        super().setup()
        # Read through a reader that knows when each request arrived (arrival.py: the call limit's clock).
        if StampedReader.enable(self.connection):
            self.rfile.close()
            self._stamps = StampedReader(self.connection)
            self.rfile = io.BufferedReader(self._stamps)

    def handle_one_request(self) -> None:
        if self._stamps is not None:
            self._stamps.expect()
        super().handle_one_request()

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, verb: str) -> None:
        stamped = self._stamps.arrived if self._stamps is not None else None
        arrived = time.monotonic() if stamped is None else stamped  # the call limit's clock
        url = urlsplit(self.path)
        body = self._read_body()
        dispatcher = self.server.dispatcher
        if url.path == GATEWAY_PATH:
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            if self._is_form():
                params.update(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
            self._answer(*dispatcher.serve(params, arrived))
            return
        if url.path == FAULTS_PATH:
            self._faults(verb, body)
            return
        if url.path == CLOCK_PATH:
            self._clock(verb, body)
            return
        setup = _SETUP_ROUTES.get(url.path)
        if setup is not None and verb == "POST":
            self._set_up(setup, body)
            return
        admin = _ADMIN_ROUTES.get(url.path)
        if admin is None:
            self._send_json(404, {"error": f"no such path {url.path}; the gateway is {GATEWAY_PATH}"})
        elif admin[0] != verb:
            self._send_json(405, {"error": f"use {admin[0]} for {url.path}"})
        else:
            self._send_json(200, admin[1](dispatcher))

    def _set_up(self, setup: Callable[[Store, Mapping[str, Any]], dict[str, Any]], body: bytes) -> None:
        try:
            payload = json_loads(body.decode("utf-8") or "{}")
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            self._send_json(200, setup(self.server.dispatcher.store, payload))
        except (ValueError, TypeError, KeyError) as exc:
            self._send_json(400, {"error": str(exc)})

    def _answer(self, body: dict[str, Any] | None, drop: str | None) -> None:
        if drop is None and body is not None:
            self._send_json(200, body)
            return
        if drop == "502":
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if drop in ("timeout", HANG):
            time.sleep(self.server.dispatcher.faults.settings.hang_seconds)
        self.close_connection = True  # no answer: the client sees the connection close

    def _faults(self, verb: str, body: bytes) -> None:
        dispatcher = self.server.dispatcher
        if verb == "POST":
            try:
                # Plain json: fault settings are seconds and rates, not money.
                dispatcher.set_faults(FaultSettings.from_json(json.loads(body.decode("utf-8") or "{}")))
            except (FaultError, ValueError) as exc:
                self._send_json(400, {"error": str(exc)})
                return
        data = json.dumps({"faults": dispatcher.faults.settings.to_json()}).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _clock(self, verb: str, body: bytes) -> None:
        dispatcher = self.server.dispatcher
        if verb == "POST":
            try:
                payload = json.loads(body.decode("utf-8") or "{}")
                at = payload.get("at") if isinstance(payload, dict) else None
                if at is None:
                    moment = None
                else:
                    parsed = datetime.fromisoformat(str(at))
                    if parsed.tzinfo is None:
                        raise ValueError(f"{at!r} needs a UTC offset, e.g. 2027-11-10T20:00:00+08:00")
                    moment = parsed.timestamp()
            except ValueError as exc:
                self._send_json(400, {"error": str(exc)})
                return
            with dispatcher.store.lock:
                dispatcher.business_at = moment
        at_ms = dispatcher.business_at
        shown = datetime.fromtimestamp(at_ms, timezone.utc).isoformat() if at_ms is not None else None
        self._send_json(200, {"at": shown})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _is_form(self) -> bool:
        content_type = self.headers.get("Content-Type", "application/x-www-form-urlencoded")
        return content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"

    def _send_json(self, status: int, payload: Any) -> None:
        data = json_dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: the query string holds the session.
        logger.debug("%s %s %s %s", self.address_string(), self.command, urlsplit(self.path).path, code)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the sandbox clock, so a skewed sandbox is skewed everywhere.
        return email.utils.formatdate(self.server.dispatcher.now() if timestamp is None else timestamp, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        logger.debug("%s " + format, self.address_string(), *args)


def _calls(dispatcher: Dispatcher) -> dict[str, Any]:
    return {"calls": dispatcher.calls.as_json()}


def _clear_calls(dispatcher: Dispatcher) -> dict[str, Any]:
    dispatcher.calls.clear()
    return {"ok": True}


def _reset(dispatcher: Dispatcher) -> dict[str, Any]:
    dispatcher.reset()
    return {"ok": True}


def _state(dispatcher: Dispatcher) -> dict[str, Any]:
    return dispatcher.store.snapshot()


_ADMIN_ROUTES: dict[str, tuple[str, Callable[[Dispatcher], dict[str, Any]]]] = {
    "/_sandbox/calls": ("GET", _calls),
    "/_sandbox/calls/clear": ("POST", _clear_calls),
    "/_sandbox/reset": ("POST", _reset),
    "/_sandbox/state": ("GET", _state),
}


# Test set-up: POST with a JSON body, run against the store (each takes the store lock itself).
_SETUP_ROUTES: dict[str, Callable[[Store, Mapping[str, Any]], dict[str, Any]]] = {
    "/_sandbox/items": setup_items,
    "/_sandbox/tlj/usage": record_usage,
}


class SandboxServer:
    """A running (or startable) sandbox; binds its port on construction so ``url`` is known."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, data_file: str | None = None, faults: FaultSettings | None = None,
        sessions: Mapping[str, str] = SESSIONS,
    ) -> None:
        # `sessions`: the fixed session keys and their shops (the demo shops by default; the fleet
        # benchmark, bench/bench_fleet.py, serves hundreds of shops from one sandbox).
        self.store = Store(data_file)
        self.dispatcher = Dispatcher(self.store, faults=faults, sessions=sessions)
        self._httpd = _HTTPServer((host, port), self.dispatcher)
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server
        return f"http://{host}:{port}"

    @property
    def gateway(self) -> str:
        return self.url + GATEWAY_PATH

    def start(self) -> None:
        """Serve in a daemon thread; the socket already listens, so callers may connect at once."""
        if self._thread is not None:
            return
        # A short poll interval makes stop() quick: tests start and stop a sandbox per test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="top-sandbox", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()  # only safe while serve_forever runs, hence the guard
            self._thread.join()
            self._thread = None
        self._close()

    def serve_forever(self) -> None:
        """Block serving; Ctrl-C or SIGTERM stops cleanly."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            self._httpd.serve_forever()
        except KeyboardInterrupt:
            logger.info("sandbox stopping")
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same clean path as Ctrl-C.
    raise KeyboardInterrupt


def serve(host: str, port: int, data_file: str | None, faults: FaultSettings | None = None) -> None:
    """Run the sandbox in the foreground (the CLI's ``reconciler sandbox serve``)."""
    server = SandboxServer(host, port, data_file, faults)
    print(f"sandbox listening on {server.gateway} (app_key {DEMO_APP_KEY}; Taoke app_key {DEMO_ALIMAMA_APP_KEY})",
          flush=True)
    if faults is not None and faults.to_json():
        print(f"faults: {json.dumps(faults.to_json(), sort_keys=True)}", flush=True)
    server.serve_forever()
