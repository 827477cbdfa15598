"""Which environment variables a Shop profile may name, and where a read-only run may send calls.

A Shop profile names the environment variables that hold a shop's credentials and gateway
(`spec.env`, `spec.taoke.env`), and profiles arrive in pull requests. The plan job's environment
also holds other values: the webhook URL, the state store's URL, the artifact signing key. A
profile that named one of those as its gateway would send the session and signed calls there; as
its app key, would send that value to TOP in the clear. So the operator, not the manifest,
decides which variables are credentials: every name must start with one of the prefixes in
RECONCILER_ENV_PREFIX (comma-separated; default `TOP_,ALIMAMA_`: TOP's seller app and the
shop's Alimama/Taoke app), and the CI keeps nothing else under those prefixes.

And in read-only runs (plan, drift, price, import: the runs a pull request triggers) the gateway
must be one of TOP's or this machine, wherever it came from (reconciler/top/gateways.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.top.gateways import manifest_gateway_allowed

PREFIX_VARIABLE = "RECONCILER_ENV_PREFIX"
DEFAULT_PREFIXES = ("TOP_", "ALIMAMA_")


def allowed_prefixes(env: Mapping[str, str]) -> tuple[str, ...]:
    configured = tuple(part.strip() for part in env.get(PREFIX_VARIABLE, "").split(",") if part.strip())
    return configured or DEFAULT_PREFIXES


def named_variables(settings: Mapping[str, Any]) -> dict[str, str]:
    """Every variable name a profile's settings carry, by the field that names it."""
    names = {f"spec.env.{role}": str(var) for role, var in settings["env"].items()}
    taoke = settings.get("taoke")
    if taoke:
        names.update({f"spec.taoke.env.{role}": str(var) for role, var in taoke["env"].items()})
    return names


def variable_problems(shop: str, settings: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    prefixes = allowed_prefixes(env)
    return [
        f"shop '{shop}': {field} names the environment variable {var}, which does not start with "
        f"{' or '.join(prefixes)} ({PREFIX_VARIABLE}); a Shop profile may only name variables the operator "
        "set aside for credentials and gateways"
        for field, var in sorted(named_variables(settings).items())
        if not var.startswith(prefixes)
    ]


def read_only_gateway_problem(shop: str, gateway: str) -> str | None:
    if manifest_gateway_allowed(gateway):
        return None
    return (f"shop '{shop}': a read-only run (plan, drift, price, import) sends credentials only to TOP's "
            "gateways or this machine, and this shop's gateway is another host; run apply for other gateways")
