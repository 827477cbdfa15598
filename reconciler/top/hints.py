"""What to check when a TOP call fails before any business logic ran: the gateway cannot be
reached, the signature is wrong, the session is refused. One line of advice per case, so the
error names the likely cause instead of leaving the operator with a bare code.

Codes from TOP's platform error list (/work/shared/TOP-PROTOCOL.md): 25 invalid signature
(the app secret does not match the app key), 26 missing session, 27 invalid session.
"""

from __future__ import annotations

from reconciler.errors import TopError, TopTransportError
from reconciler.i18n import _

INVALID_SIGNATURE = 25
SESSION_CODES = frozenset({26, 27})


def advice(exc: TopError) -> str | None:
    """What to check for `exc`, or None when TOP's own message is all there is to say."""
    if isinstance(exc, TopTransportError) and exc.msg.startswith("transport error"):
        return _("check the gateway URL (TOP_GATEWAY, or the variable the Shop profile's env.gateway names) "
                 "and that it is reachable from here: proxy, firewall, the sandbox running for a local URL")
    if exc.code == INVALID_SIGNATURE:
        return _("TOP could not verify the signature: check the app secret (TOP_APP_SECRET, or the variable "
                 "the Shop profile's env.app_secret names) belongs to the app key, and the sign method")
    if exc.code in SESSION_CODES:
        return _("TOP refuses the seller session: check TOP_SESSION (or the variable the Shop profile's "
                 "env.session names) is this shop's, and authorise the app again if it expired")
    return None
