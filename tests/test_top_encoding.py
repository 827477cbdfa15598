from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.top.encoding import encode_params, encode_value, format_top_time

UTC = dt.timezone.utc


def test_dict_becomes_compact_json_with_non_ascii_kept() -> None:
    encoded = encode_params({"activity": {"title": "618满减", "limit": 20, "on": True, "x": None}})
    assert encoded == {"activity": '{"title":"618满减","limit":20,"on":true,"x":null}'}


def test_nested_decimals_stay_exact_json_numbers() -> None:
    encoded = encode_params({"rule": {"fee": Decimal("0.10"), "big": Decimal("1E+2"), "tiny": Decimal("1E-7")}})
    assert encoded["rule"] == '{"fee":0.10,"big":100,"tiny":0.0000001}'
    decoded = json.loads(encoded["rule"], parse_float=Decimal)
    assert decoded["fee"] == Decimal("0.10")


def test_list_of_dicts_becomes_json() -> None:
    encoded = encode_params({"items": [{"sku": "6901234", "fix_price": Decimal("990")}, {"sku": "2"}]})
    assert encoded["items"] == '[{"sku":"6901234","fix_price":990},{"sku":"2"}]'


def test_nested_datetime_goes_to_gmt8_string() -> None:
    moment = dt.datetime(2026, 6, 17, 16, 0, tzinfo=UTC)
    assert encode_params({"w": {"start": moment}}) == {"w": '{"start":"2026-06-18 00:00:00"}'}


def test_plain_lists_and_tuples_are_comma_joined() -> None:
    assert encode_params({"ids": [1, 2, "3"], "t": (Decimal("1.5"), True)}) == {"ids": "1,2,3", "t": "1.5,true"}


def test_comma_inside_a_joined_element_is_refused() -> None:
    with pytest.raises(ValueError, match="ids"):
        encode_params({"ids": ["a,b", "c"]})


def test_scalars() -> None:
    encoded = encode_params({"b": True, "f": False, "i": 7, "d": Decimal("12.50"), "s": "中文", "e": Decimal("1E+3")})
    assert encoded == {"b": "true", "f": "false", "i": "7", "d": "12.50", "s": "中文", "e": "1000"}


def test_none_and_empty_are_dropped() -> None:
    assert encode_params({"a": None, "b": "", "c": [], "d": "x"}) == {"d": "x"}


def test_aware_datetime_converted_to_gmt8() -> None:
    moment = dt.datetime(2026, 6, 18, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert encode_params({"start": moment}) == {"start": "2026-06-18 13:00:00"}


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        encode_params({"start": dt.datetime(2026, 6, 18)})
    with pytest.raises(ValueError, match="naive"):
        encode_params({"w": {"start": dt.datetime(2026, 6, 18)}})


@pytest.mark.parametrize("value", [1.5, {"fee": 0.1}, [{"fee": 0.1}]])
def test_float_is_refused_anywhere(value: object) -> None:
    with pytest.raises(TypeError, match="Decimal"):
        encode_params({"p": value})


def test_non_finite_decimal_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_value(Decimal("NaN"))
    with pytest.raises(ValueError):
        encode_value({"x": Decimal("Infinity")})


def test_error_names_parameter_but_not_value() -> None:
    with pytest.raises(TypeError) as info:
        encode_params({"secret_thing": {"inner": object()}})
    assert "secret_thing.inner" in str(info.value)


def test_format_top_time() -> None:
    assert format_top_time(dt.datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)) == "2026-01-01 08:00:05"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**9, max_value=10**9))
def test_decimal_round_trips_exactly_through_json(number: Decimal) -> None:
    encoded = encode_params({"p": {"v": number}})["p"]
    assert json.loads(encoded, parse_float=Decimal, parse_int=Decimal)["v"] == number
