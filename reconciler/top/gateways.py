"""Which gateways a manifest may send a shop's credentials to.

A Shop profile can name its gateway (`spec.gateway`), and Shop profiles arrive in pull requests
that the plan job runs with real credentials. Every call carries the session (the seller's access
token) and a signature, so a gateway chosen by a pull request could collect them. A gateway taken
from the manifests must therefore be one of TOP's own or on this machine (the sandbox); any other
gateway has to come from the environment, which the CI configuration sets and a pull request does not.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# TOP's documented gateways (TOP-PROTOCOL.md): the main one, eco, and the overseas one.
TOP_GATEWAY_HOSTS = frozenset({"gw.api.taobao.com", "eco.taobao.com", "api.taobao.com"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def manifest_gateway_allowed(url: str) -> bool:
    """True for https on a TOP gateway host, or http(s) on loopback (the local sandbox)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.username or parts.password:
        return False
    if host in LOOPBACK_HOSTS:
        return parts.scheme in ("http", "https")
    return parts.scheme == "https" and host in TOP_GATEWAY_HOSTS


def public_url(url: str) -> str:
    """scheme://host[:port]/path, for messages and headers: a URL's user, password, query (TOP's
    system params, the session among them) and fragment are dropped."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number
        return "(not a URL)"
    if not parts.scheme or not parts.hostname:
        return "(not a URL)"
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"
