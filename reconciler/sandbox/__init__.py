"""Local TOP emulator: a real HTTP server speaking the TOP protocol, with in-memory shops.

Layer rule: imports nothing from ``reconciler`` outside this package (not top, engine or
kinds), so the client and the sandbox implement the protocol independently and contract tests
catch a mistake on either side.

    server.py          HTTP routes, SandboxServer, serve()    (composition root)
    methods.py         registry: method name -> handler (finds every module of families/)
    families/          one module per method family (auth, coupons, items, itempool,
                       promotionmisc, tbk), each exposing METHODS
    protocol.py        gateway checks, signatures, envelopes
    faults.py          injected faults: latency, isp errors, call-limit bans, expiry, lost answers,
                       hangs, business refusals as code 50
    request_params.py  the strict request check every call passes first, from TOP's pages
    shapes.py          TOP's two answer shapes: handlers answer simplify=true; wrap_lists makes the other
    params.py          the one parameter parser handlers read their params with (form values and
                       fields of JSON object params; missing = code 40, malformed = code 41)
    context.py         the handler contract: CallContext, MethodSpec
    store.py           per-shop state (+ atomic JSON file) and the call log
    sessions.py        the gateway's session table (tokens issued and refreshed)
    errors.py          ApiError and the refusal helpers (codes 40 / 41 / 15)
    codec.py           JSON with exact decimals; TOP's GMT+8 wall-time format
    specs.py           the packaged evidence (evidence/shapes, evidence/methods) + shape_overlay.json

Layers, top down (the ``sandbox-layers`` contract of .importlinter): server → methods →
(families | request_params | protocol | faults | shapes) → params → context → (store | sessions)
→ (errors | codec | specs). A module imports only from layers below its own; modules sharing a
layer do not import each other, so a family never reaches into the gateway, and no family
imports another (``sandbox-families``). tests/test_architecture.py checks there is no import circle.

Evidence: ``evidence/`` holds byte-identical copies of ../shared/top-api/{shapes,methods}/*.json
(package data, read with importlib.resources); ``shape_overlay.json`` is ours, with its sources.
"""

from reconciler.sandbox.server import (
    DEMO_ALIMAMA_APP_SECRET,
    DEMO_APP_KEY,
    DEMO_APP_SECRET,
    DEMO_SESSION,
    SandboxServer,
    serve,
)
from reconciler.sandbox.families.tbk import DEMO_ALIMAMA_APP_KEY

__all__ = [
    "DEMO_ALIMAMA_APP_KEY", "DEMO_ALIMAMA_APP_SECRET", "DEMO_APP_KEY", "DEMO_APP_SECRET", "DEMO_SESSION",
    "SandboxServer", "serve",
]
