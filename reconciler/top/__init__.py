"""TOP client layer: signing, encoding, envelope parsing and the HTTP client, with retries
(retry.py), the app's QPS budget (ratelimit.py), seller tokens (tokens.py), clock-skew correction
(clock.py) and the run's settings (settings.py, run.py). Imports only reconciler.errors."""

from reconciler.top.client import CallStats, TopClient
from reconciler.top.credentials import DEFAULT_GATEWAY, Credentials, CredentialsError, redact
from reconciler.top.encoding import encode_params, format_top_time
from reconciler.top.envelope import TopDailyQuotaError, classify_error, parse_response, response_key
from reconciler.top.methods import READ_METHODS, is_write
from reconciler.top.signing import SIGN_METHODS, sign

__all__ = [
    "DEFAULT_GATEWAY",
    "READ_METHODS",
    "SIGN_METHODS",
    "CallStats",
    "Credentials",
    "CredentialsError",
    "TopClient",
    "TopDailyQuotaError",
    "classify_error",
    "encode_params",
    "format_top_time",
    "is_write",
    "parse_response",
    "redact",
    "response_key",
    "sign",
]
