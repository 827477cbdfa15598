"""The answers a refused call gets: ``error_response {code, msg, sub_code, sub_msg}``.

The bottom of the sandbox: every layer may raise these, and this module imports nothing of the
sandbox. Codes as TOP-PROTOCOL.md's table gives them: 40 a required argument missing, 41 an
argument malformed or out of range, 15 a broken business rule (``isv.*``) or a remote fault
(``isp.*``). Which family answers a broken rule in the body instead is ``MethodSpec.refusal_in_body``
(context.py).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer of the form ``error_response {code, msg, sub_code, sub_msg}``."""

    def __init__(self, code: int, msg: str, sub_code: str | None = None, sub_msg: str | None = None) -> None:
        super().__init__(f"{code} {msg} {sub_code or ''} {sub_msg or ''}".strip())
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.sub_code is not None:
            fields["sub_code"] = self.sub_code
        if self.sub_msg is not None:
            fields["sub_msg"] = self.sub_msg
        return fields


def missing_argument(field: str, why: str = "") -> ApiError:
    """A required parameter (or a field its flag or mode needs) is absent or empty: code 40, as TOP
    checks declared required fields before the method runs (TOP-PROTOCOL.md: 40 Missing Required
    Arguments). ``sub_msg`` names it first: ``<field>: is required[ <why>]``."""
    detail = f"is required {why}".strip()
    return ApiError(40, "Missing Required Arguments", "isv.missing-parameter", f"{field}: {detail}")


def invalid_argument(field: str, problem: str) -> ApiError:
    """A request parameter is malformed or out of range (the caller must fix it): code 41."""
    return ApiError(41, "Invalid Arguments", "isv.invalid-parameter", f"{field}: {problem}")


class BusinessError(ApiError):
    """A well-formed request broke a business rule. Answered as ``error_response`` code 15 with
    sub_code ``isv.<rule>``, unless the method reports refusals inside a successful envelope
    (``MethodSpec.refusal_in_body``, the item-pool family) or a fault turns it into code 50."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(15, "Remote service error", f"isv.{rule}", message)
        self.rule = rule
        self.message = message


def business_error(rule: str, message: str) -> BusinessError:
    """A well-formed request broke a business rule; ``rule`` becomes sub_code ``isv.<rule>``."""
    return BusinessError(rule, message)


def internal_error(message: str) -> ApiError:
    """A sandbox bug: answered the way TOP answers its own faults (isp.*, retryable)."""
    return ApiError(15, "Remote service error", "isp.top-remote-unknown-error", message)
