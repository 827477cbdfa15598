"""Reading inside TOP's answers: lists in either of TOP's two shapes, and sub codes.

Lists. Without `simplify=true` TOP wraps every list, nested ones too, in an object holding the
array under its item element name: `{"coupons": {"coupon": [...]}}`, and an activity's
`"terminals": {"number": [1, 2]}`. With `simplify=true` (what the client sends) lists are bare
arrays. Sources: ../shared/top-api/shapes/README.md ("The two JSON shapes"), TOP's Java SDK
(`@ApiListField("coupons") @ApiField("coupon")`: every list read as json[list][item]). A gateway or
proxy that drops `simplify` must not break a plan, so every list a kind reads goes through
`top_list`, which accepts both, and also what a JSON rendering of TOP's XML gives for a list of one
(the lone object) and for an empty list (the field absent, or an empty wrapper `{}`).

Sub codes. TOP often appends a detail to a sub code: `isv.activity-not-exist:activityId`
(promotionmisc pages), so sub codes are compared by prefix, never by equality.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from reconciler.errors import TopError, TopShapeError

BUSINESS_ERROR_CODE = 15
REMOTE_ERROR_CODE = 50
# What separates a sub code from its detail on TOP: "isv.activity-not-exist:activityId".
_SUB_CODE_DETAIL = ":"


def top_list(value: Any, item: str, *, where: str = "answer") -> list[Any]:
    """The elements of a TOP list field in either shape.

    `item` is the element name TOP wraps the list in (`coupon` for `coupons`, `number` for a
    Number[] field); it is what tells a wrapper `{"coupon": [...]}` from a list of one object.
    Plain-value lists may also come comma-joined in one string ("1,2"). Anything else is an
    answer we do not understand: TopShapeError, never a silent empty list.
    """
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    if isinstance(value, Mapping):
        if item in value and len(value) == 1:
            return top_list(value[item], item, where=where)
        if not value:
            return []  # an empty wrapper
        return [value]  # a list of one, as a JSON rendering of TOP's XML gives it
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return [value]
    raise TopShapeError(where, msg=f"expected a list of {item!r}, got a {type(value).__name__}")


def top_rows(value: Any, item: str, *, where: str = "answer") -> list[Mapping[str, Any]]:
    """A list of objects (rows) in either shape; a non-object element is an answer we do not understand."""
    rows = top_list(value, item, where=where)
    for row in rows:
        if not isinstance(row, Mapping):
            raise TopShapeError(where, msg=f"expected {item!r} objects, got a {type(row).__name__}")
    return rows


def sub_code_is(sub_code: str | None, expected: str) -> bool:
    """True when `sub_code` is `expected`, with or without TOP's `:detail` suffix."""
    if not sub_code:
        return False
    return sub_code == expected or sub_code.startswith(expected + _SUB_CODE_DETAIL)


def is_business_refusal(error: TopError) -> bool:
    """A business rule refused the call: code 15 "Remote service error", or code 50 with an isv.*
    sub code, which TOP also sends for business refusals (code 50 alone is a platform fault)."""
    sub_code = error.sub_code or ""
    return error.code == BUSINESS_ERROR_CODE or (error.code == REMOTE_ERROR_CODE and sub_code.startswith("isv."))

