"""The sandbox's one parameter parser (reconciler/sandbox/params.py), without the HTTP server:
every reader answers a missing parameter with code 40 and a malformed one with code 41, naming
the parameter (or the JSON path of a field) first, as TOP-PROTOCOL.md's table says (issue 18.4:
the families used to disagree, 40 in two and 41 in two others)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from reconciler.sandbox import params
from reconciler.sandbox.context import CallContext
from reconciler.sandbox.errors import ApiError
from reconciler.sandbox.store import Store


def ctx(**values: str) -> CallContext:
    return CallContext(method="test.method", params=values, shop="demo-shop", now_ms=0, store=Store())


def refusal(read: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        read()
    return caught.value.code, caught.value.sub_msg or ""


READERS: list[tuple[str, Callable[[CallContext], Any]]] = [
    ("text", lambda c: params.text(c, "p", required=True)),
    ("long", lambda c: params.long(c, "p", required=True)),
    ("one_of", lambda c: params.one_of(c, "p", (1, 2), required=True)),
    ("boolean", lambda c: params.boolean(c, "p", required=True)),
    ("yuan", lambda c: params.yuan(c, "p", required=True)),
    ("top_time", lambda c: params.top_time(c, "p", required=True)),
    ("day", lambda c: params.day(c, "p", required=True)),
    ("json_object", lambda c: params.json_object(c, "p")),
]


@pytest.mark.parametrize(("reader", "read"), READERS, ids=[name for name, _ in READERS])
@pytest.mark.parametrize("sent", [None, "", "   "])
def test_every_reader_answers_a_missing_parameter_with_code_40(
    reader: str, read: Callable[[CallContext], Any], sent: str | None
) -> None:
    call = ctx() if sent is None else ctx(p=sent)  # empty is absent: TOP does not even sign it
    assert refusal(lambda: read(call)) == (40, "p: is required")


@pytest.mark.parametrize(
    ("read", "sent", "says"),
    [
        (lambda c: params.long(c, "p"), "7.5", "p: must be a whole number"),
        (lambda c: params.long(c, "p", minimum=1), "0", "p: must be at least 1"),
        (lambda c: params.one_of(c, "p", (1, 2)), "3", "p: must be one of 1, 2"),
        (lambda c: params.boolean(c, "p"), "yes", "p: must be true or false"),
        (lambda c: params.yuan(c, "p"), "5.001", "p: must be an amount in yuan"),
        (lambda c: params.top_time(c, "p"), "2027-06-18T00:00:00+08:00", "p: must be yyyy-MM-dd HH:mm:ss"),
        (lambda c: params.day(c, "p"), "2027/06/18", "p: must be a day written yyyy-MM-dd"),
        (lambda c: params.names(c, "p", 2), "a,,b", "p: has an empty entry"),
        (lambda c: params.names(c, "p", 2), "a,b,c", "p: lists 3 entries; at most 2"),
        (lambda c: params.text(c, "p", max_length=3), "abcd", "p: must be at most 3 characters"),
        (lambda c: params.json_object(c, "p"), "{", "p: is not valid JSON"),
        (lambda c: params.json_object(c, "p"), "[]", "p: must be a JSON object"),
        (lambda c: params.json_array(c, "p"), "{}", "p: must be a JSON array"),
    ],
)
def test_a_malformed_parameter_is_code_41_naming_it(read: Callable[[CallContext], Any], sent: str, says: str) -> None:
    code, sub_msg = refusal(lambda: read(ctx(p=sent)))
    assert code == 41 and sub_msg.startswith(says), sub_msg


def test_optional_readers_answer_none_or_empty_when_absent() -> None:
    call = ctx()
    assert params.text(call, "p") is None and params.long(call, "p") is None
    assert params.flag(call, "p") is False and params.names(call, "p", 5) == []
    assert params.json_array(call, "p") == []


def test_fields_of_a_json_object_name_their_path_and_a_missing_one_is_code_40() -> None:
    request = params.json_object(ctx(p='{"stairs": [{"is_amount": true, "note": null}]}'), "p")
    stair = (params.Fields(request, "p").children("stairs", required=True) or [])[0]
    assert stair.boolean("is_amount") is True
    assert stair.text("note") is None  # JSON null is "not set", as Java SDKs omit it
    assert refusal(lambda: stair.integer("amount", required=True)) == (40, "p.stairs[0].amount: is required")
    stair.data["number"] = "x"
    code, sub_msg = refusal(lambda: stair.integer("number"))
    assert code == 41 and sub_msg.startswith("p.stairs[0].number: must be an integer"), sub_msg
