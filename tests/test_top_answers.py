"""Reading lists and sub codes inside TOP's answers, in both of TOP's shapes.

The shapes are TOP's, not ours: ../shared/top-api/shapes/README.md ("The two JSON shapes") and
its examples; item names such as error_message for failure_buyers come from the SDK specs.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from reconciler.errors import TopPermanentError, TopShapeError
from reconciler.top.answers import is_business_refusal, sub_code_is, top_list, top_rows

ROWS = [{"sku_code": "6901234567890"}, {"sku_code": "6901234567891"}]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ROWS, ROWS),  # simplify=true: a bare array
        ({"item_pool_sku": ROWS}, ROWS),  # TOP's default: {"<item>": [...]}
        ({"item_pool_sku": ROWS[0]}, ROWS[:1]),  # a list of one as a JSON rendering of XML gives it
        (ROWS[0], ROWS[:1]),
        ({}, []),  # an empty wrapper
        (None, []),  # TOP leaves empty lists out
        ({"item_pool_sku": []}, []),
    ],
)
def test_rows_in_either_shape(value: object, expected: list[dict[str, str]]) -> None:
    assert top_rows(value, "item_pool_sku") == expected


def test_a_wrapper_is_told_from_a_row_by_its_item_name() -> None:
    # A row with one field is a row, not a wrapper, unless that field is the list's item name.
    assert top_rows({"coupon_id": 7}, "coupon") == [{"coupon_id": 7}]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([1, 2], [1, 2]),
        ({"number": [1, 2]}, [1, 2]),  # Java SDK: Number[] items are "number"
        ({"number": 1}, [1]),
        ("1,2", ["1", "2"]),  # plain values, comma-joined
        (Decimal("1"), [Decimal("1")]),
    ],
)
def test_plain_value_lists(value: object, expected: list[object]) -> None:
    assert top_list(value, "number") == expected


@pytest.mark.parametrize("value", [True, 1.5, object()])
def test_anything_else_stops_instead_of_reading_as_empty(value: object) -> None:
    with pytest.raises(TopShapeError, match="expected a list of 'number'"):
        top_list(value, "number", where="terminals")


def test_rows_must_be_objects() -> None:
    with pytest.raises(TopShapeError, match="expected 'coupon' objects"):
        top_rows({"coupon": [1, 2]}, "coupon")


@pytest.mark.parametrize(
    ("sub_code", "matches"),
    [
        ("isv.activity-not-exist", True),
        ("isv.activity-not-exist:activityId", True),  # the promotionmisc pages' form
        ("isv.activity-not-exists", False),
        ("isv.activity", False),
        (None, False),
    ],
)
def test_sub_codes_match_with_or_without_their_detail(sub_code: str | None, matches: bool) -> None:
    assert sub_code_is(sub_code, "isv.activity-not-exist") is matches


@pytest.mark.parametrize(
    ("code", "sub_code", "refusal"),
    [
        (15, "isv.item-not-exist", True),
        (15, None, True),
        (50, "isv.item-not-exist", True),  # TOP sends business refusals as code 50 too
        (50, None, False),  # code 50 alone is a platform fault
        (50, "isp.top-remote-unknown-error", False),
        (41, "isv.invalid-parameter", False),
    ],
)
def test_business_refusals(code: int, sub_code: str | None, refusal: bool) -> None:
    error = TopPermanentError("taobao.item.seller.get", code=code, sub_code=sub_code)
    assert is_business_refusal(error) is refusal
