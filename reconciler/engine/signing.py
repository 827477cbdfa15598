"""The checksum file: the reviewed plan's checksum, signed so apply can tell it came from the plan job.

`reconciler plan --checksum-file FILE` writes the plan's checksum and, when RECONCILER_PLAN_SIGNING_KEY
is set, an HMAC-SHA256 of it made with that key:

    sha256:<the plan's checksum>
    hmac-sha256:<hex HMAC of "campaign-reconciler plan checksum v1\\n" + the checksum>

`reconciler apply --checksum-file FILE` applies only if the signature verifies with the same key.
The key lives in two GitHub environments only (the plan job's and the apply job's), so a pull
request's author, who can neither read it nor run code in those jobs, cannot make a checksum
file that apply accepts, even if they could upload an artifact of the expected name.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.i18n import _

KEY_VARIABLE = "RECONCILER_PLAN_SIGNING_KEY"
SIGNATURE_PREFIX = "hmac-sha256:"
_CONTEXT = "campaign-reconciler plan checksum v1\n"  # so the key signs nothing but plan checksums


class SignatureError(ReconcilerError):
    """The checksum file is unsigned, or its signature does not verify, or there is no key to check it."""


def signature(checksum: str, key: str) -> str:
    digest = hmac.new(key.encode("utf-8"), (_CONTEXT + checksum).encode("utf-8"), hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def write_checksum_file(path: str, checksum: str, env: Mapping[str, str]) -> bool:
    """Write the checksum (signed when the key is set); True when it was signed."""
    key = env.get(KEY_VARIABLE)
    lines = [checksum] + ([signature(checksum, key)] if key else [])
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bool(key)


def read_checksum_file(path: str, env: Mapping[str, str]) -> str:
    """The checksum in `path`, once its signature verifies with the key in `env`."""
    key = env.get(KEY_VARIABLE)
    if not key:
        raise SignatureError(_("{variable} is not set, so the signature of {path} cannot be checked; nothing was applied").format(
            variable=KEY_VARIABLE, path=path))
    try:
        lines = Path(path).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError) as exc:
        raise SignatureError(_("cannot read the checksum file {path}: {error}").format(path=path, error=type(exc).__name__)) from None
    if len(lines) != 2 or not lines[0].startswith("sha256:") or not lines[1].startswith(SIGNATURE_PREFIX):
        raise SignatureError(_("{path} is not a signed checksum file (`reconciler plan --checksum-file` with {variable} set "
                               "writes one); nothing was applied").format(path=path, variable=KEY_VARIABLE))
    checksum, signed = lines
    if not hmac.compare_digest(signed, signature(checksum, key)):
        raise SignatureError(_("the signature in {path} does not verify: it was not made by the plan job (or the keys differ); "
                               "nothing was applied").format(path=path))
    return checksum
