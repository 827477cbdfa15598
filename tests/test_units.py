"""The unit traps: yuan vs fen, rates as 600-style permille, times with offsets, no float anywhere."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.kinds.units import (
    GMT8,
    UnitError,
    epoch_ms_to_iso,
    fen_text,
    fen_to_yuan,
    from_epoch_ms,
    share_to_permille,
    parse_iso,
    rate_to_permille,
    to_epoch_ms,
    to_top_datetime,
    yuan_exact,
    yuan_to_fen,
)


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [("12.00", 1200), ("0.01", 1), ("9.9", 990), ("30", 3000), (Decimal("0.29"), 29), ("19.99", 1999)],
)
def test_yuan_to_fen_is_exact(yuan: object, fen: int) -> None:
    assert yuan_to_fen(yuan) == fen


def test_float_trap_0_29_is_not_28_fen() -> None:
    # int(0.29 * 100) == 28 with floats; the whole point of Decimal.
    assert yuan_to_fen("0.29") == 29
    with pytest.raises(UnitError):
        yuan_to_fen(0.29)


@pytest.mark.parametrize("bad", ["12.345", "0.001", "abc"])
def test_yuan_with_more_than_two_decimals_is_refused(bad: str) -> None:
    with pytest.raises(UnitError):
        yuan_to_fen(bad)


def test_fen_back_to_yuan_and_yuan_exact() -> None:
    assert fen_to_yuan(1250) == Decimal("12.50")
    assert str(yuan_exact("1.5")) == "1.50"


@pytest.mark.parametrize(("rate", "permille"), [("0.6", 600), (Decimal("0.85"), 850), ("0.955", 955), ("0.1", 100)])
def test_rates_are_permille(rate: object, permille: int) -> None:
    assert rate_to_permille(rate) == permille


@pytest.mark.parametrize("bad", ["0", "1", "1.2", "-0.5", "0.6001"])
def test_rates_outside_0_1_or_too_precise_are_refused(bad: str) -> None:
    with pytest.raises(UnitError):
        rate_to_permille(bad)


def test_times_need_an_offset_and_convert_to_gmt8() -> None:
    moment = parse_iso("2027-06-18T00:00:00+08:00")
    assert to_epoch_ms(moment) == 1813248000000
    assert to_top_datetime(parse_iso("2027-06-17T16:00:00Z")) == "2027-06-18 00:00:00"
    assert epoch_ms_to_iso(1813248000000) == "2027-06-18T00:00:00+08:00"
    with pytest.raises(UnitError, match="no UTC offset"):
        parse_iso("2027-06-18T00:00:00")


@given(st.integers(min_value=0, max_value=10**10))
def test_fen_round_trip(fen: int) -> None:
    assert yuan_to_fen(str(fen_to_yuan(fen))) == fen


@given(st.integers(min_value=0, max_value=4102444800000))
def test_epoch_ms_round_trips_through_iso(epoch_ms: int) -> None:
    assert to_epoch_ms(parse_iso(epoch_ms_to_iso(epoch_ms))) == epoch_ms


def test_epoch_ms_become_aware_gmt8_times() -> None:
    assert from_epoch_ms(1813248000000) == datetime(2027, 6, 18, tzinfo=GMT8)
    assert from_epoch_ms(1813248000000).utcoffset() == GMT8.utcoffset(None)


@pytest.mark.parametrize(("share", "permille"), [(Decimal("0.5"), 500), ("1", 1000), ("0.333", 333)])
def test_list_price_shares_are_permille_and_may_be_whole(share: object, permille: int) -> None:
    assert share_to_permille(share) == permille


@pytest.mark.parametrize("bad", ["0", "1.01", "-0.5", "0.3333"])
def test_shares_outside_0_1_or_too_precise_are_refused(bad: str) -> None:
    with pytest.raises(UnitError):
        share_to_permille(bad)


def test_fen_amounts_with_fractions_are_cut_and_marked() -> None:
    assert fen_text(1200) == "12.00"
    assert fen_text(Fraction(2000, 3)) == "6.66…"  # 6.666… cut, not rounded to 6.67
    assert fen_text(Fraction(-1507, 100)) == "-0.15…"
