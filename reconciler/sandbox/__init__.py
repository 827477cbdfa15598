"""Local TOP emulator: a real HTTP server speaking the TOP protocol, with in-memory shops.

Layer rule: imports nothing from ``reconciler`` outside this package (not top, engine or
kinds), so the client and the sandbox implement the protocol independently and contract tests
catch a mistake on either side.

    server.py    HTTP routes, SandboxServer, serve()    (composition root)
    protocol.py  gateway checks, signatures, envelopes, error helpers, JSON codec
    store.py     per-shop state (+ atomic JSON file) and the call log
    methods.py   registry: method name -> handler
    itempool.py  alibaba.wdk.marketing.itempool.* handlers (business refusals in the body)
    coupons.py, items.py, promotionmisc.py, tbk.py   the other method families
    auth.py      taobao.top.auth.token.create / refresh, and the gateway's session table
    faults.py    injected faults: latency, isp errors, call-limit bans, expiry, lost answers, hangs,
                 business refusals as code 50
    params.py    reading top-level business params inside handlers
    request_params.py  the strict request check every call passes first, from TOP's pages
    shapes.py    TOP's two answer shapes: handlers answer simplify=true; wrap_lists makes the other
    specs.py     the packaged evidence (evidence/shapes, evidence/methods) + shape_overlay.json

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
from reconciler.sandbox.tbk import DEMO_ALIMAMA_APP_KEY

__all__ = [
    "DEMO_ALIMAMA_APP_KEY", "DEMO_ALIMAMA_APP_SECRET", "DEMO_APP_KEY", "DEMO_APP_SECRET", "DEMO_SESSION",
    "SandboxServer", "serve",
]
