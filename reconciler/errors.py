"""Every error the reconciler raises on purpose.

    ReconcilerError
     ├── ManifestError        bad input: carries one Problem per place (file, line, column, path)
     ├── SettingsError        a flag or setting that cannot be used (reconciler/settings.py)
     ├── PlanError            the plan cannot be made or would be unsafe
     │    ├── UnsafePlan           blocked by safety checks, price floors or unknown items: nothing sent
     │    ├── StalePlan            a saved plan whose live state moved since it was made
     │    └── ChecksumMismatch     the plan now differs from the reviewed checksum
     ├── StateError           the state store is unusable or locked
     │    └── ImportRefused        `import` cannot adopt the object (undeclared, ambiguous, already managed)
     ├── ApplyError           an apply stopped part-way (the report says what was done)
     │    └── NotApproved          apply was not confirmed (no terminal, or the answer was no)
     └── TopError             TOP answered with error_response, or could not be reached
          ├── TopRetryableError    isp.* faults, call limits, transport failures: worth retrying
          │    ├── TopCallLimitError    code 7 & co; ban_seconds from sub_msg
          │    ├── TopTransportError    network, timeout, non-200
          │    │    └── TopNotSentError      the request never reached TOP (connect failed): safe to re-send
          │    └── TopAmbiguousWriteError   a write may or may not have taken effect: look before re-sending
          └── TopPermanentError    isv.*, invalid session/arguments/permissions: fix, don't retry
               ├── ReadOnlyViolation    a write method was called through a read-only client
               ├── TopShapeError        an answer in a shape we do not understand (never read as empty)
               └── TopSessionError      no usable session (code 26/27 even after a refresh): re-authorise

Messages never contain secrets: the client builds them from the method name and TOP's
code/msg/sub_code/sub_msg only, never from request parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.i18n import _


class ReconcilerError(Exception):
    """Base of every error the reconciler raises deliberately; the CLI prints these without a traceback."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as precisely as the source allows."""

    file: str
    line: int | None
    column: int | None
    path: str  # JSON path of the field, e.g. "spec.stairs[0].discount.decrease"
    message: str  # what is wrong and what is allowed

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class ManifestError(ReconcilerError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SettingsError(ReconcilerError):
    pass


class PlanError(ReconcilerError):
    pass


class UnsafePlan(PlanError):
    """The plan must not be applied: each section names what blocked it (engine/reconcile.Review)."""

    def __init__(self, sections: list[str]) -> None:
        self.sections = list(sections)
        # The CLI says "error: " before the first section; each further one gets its own.
        rest = [_("error: {message}").format(message=section) for section in self.sections[1:]]
        super().__init__("\n".join(self.sections[:1] + rest))


class StalePlan(PlanError):
    """A saved plan whose live objects or state entries moved since it was made."""

    def __init__(self, path: str, moved: list[str]) -> None:
        self.path = path
        self.moved = list(moved)
        super().__init__(_("{path} is stale: what it was planned from changed, so its calls may no longer be right. "
                           "Run plan again.").format(path=path) + "\n  " + "\n  ".join(self.moved))


class ChecksumMismatch(PlanError):
    """apply --checksum: the plan made now is not the reviewed one."""

    def __init__(self, actual: str, expected: str, lines: list[str]) -> None:
        self.actual = actual
        self.expected = expected
        super().__init__("\n  ".join(lines))


class StateError(ReconcilerError):
    pass


class ImportRefused(StateError):
    """`reconciler import` cannot adopt the object: nothing was changed."""


class ApplyError(ReconcilerError):
    pass


class NotApproved(ApplyError):
    """The person at the terminal did not approve the apply, or there was no terminal to ask on."""


class TopError(ReconcilerError):
    """TOP refused or failed a call. `retryable` says whether waiting and re-sending may help."""

    retryable = False

    def __init__(
        self,
        method: str,
        code: int | None = None,
        msg: str = "",
        sub_code: str | None = None,
        sub_msg: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.method = method
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg
        self.request_id = request_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"{self.method}:"]
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.msg:
            parts.append(self.msg)
        if self.sub_code:
            parts.append(f"[{self.sub_code}]")
        if self.sub_msg:
            parts.append(f"- {self.sub_msg}")
        if self.request_id:
            parts.append(f"(request_id {self.request_id})")
        return " ".join(parts)


class TopRetryableError(TopError):
    retryable = True


class TopCallLimitError(TopRetryableError):
    def __init__(self, *args: object, ban_seconds: float | None = None, **kwargs: object) -> None:
        self.ban_seconds = ban_seconds
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class TopTransportError(TopRetryableError):
    pass


class TopNotSentError(TopTransportError):
    """The connection failed before the request went out, so TOP cannot have run it: even a write
    may be sent again."""


class TopAmbiguousWriteError(TopRetryableError):
    """A write failed after it may have reached TOP (read timeout, dropped connection, 5xx, isp.*).
    It may or may not have taken effect: the engine looks on TOP (the kind's recover()) before it
    sends it again, never blindly. The original failure is chained as __cause__."""


class TopPermanentError(TopError):
    pass


class ReadOnlyViolation(TopPermanentError):
    """Raised before any network traffic when a read-only client is asked to write."""


class TopShapeError(TopPermanentError):
    """TOP answered, but not in a shape the reconciler understands (a list that is neither a bare
    array nor TOP's {"<item>": [...]} wrapper, a missing object): reading it as empty could plan a
    duplicate create, so it stops the run instead."""


class TopSessionError(TopPermanentError):
    """TOP refuses the seller's session (missing, invalid or expired) and no refresh can fix it."""
