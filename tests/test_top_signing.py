"""Known-answer tests for TOP signatures.

Expected values were computed in a shell, independently of reconciler.top.signing, from the
hand-written concatenated string (keys sorted, key+value, `sign` and empty values left out):

    S='app_key12345678formatjsonmethodtaobao.time.getsign_methodmd5timestamp2026-06-18 00:00:00v2.0'
    printf '%s' "helloworld${S}helloworld" | md5sum                       # md5
    printf '%s' "$S_hmac" | openssl dgst -md5 -hmac helloworld            # hmac (sign_methodhmac)
    printf '%s' "$S_sha"  | openssl dgst -sha256 -hmac helloworld         # hmac-sha256

    C='item_ids1,2title618商品池满30-12'                                    # UTF-8 shell, secret 密钥
    printf '%s' "密钥${C}密钥" | md5sum
    printf '%s' "$C" | openssl dgst -md5 -hmac 密钥
    printf '%s' "$C" | openssl dgst -sha256 -hmac 密钥
"""

from __future__ import annotations

import pytest

from reconciler.top.signing import sign, string_to_sign

SECRET = "helloworld"


def system_params(sign_method: str) -> dict[str, str]:
    return {
        "method": "taobao.time.get",
        "app_key": "12345678",
        "timestamp": "2026-06-18 00:00:00",
        "format": "json",
        "v": "2.0",
        "sign_method": sign_method,
    }


@pytest.mark.parametrize(
    ("sign_method", "expected"),
    [
        ("md5", "F1F9F25A8D50CE58A0DC20C8AAF1B7CA"),
        ("hmac", "5A11FAEE712D864FB99E54AAFE96A962"),
        ("hmac-sha256", "00FF38A015719FA4E93CEA68D21552FF9C586CAA41D9E0F397FC3945F282EF4B"),
    ],
)
def test_known_answer_system_params(sign_method: str, expected: str) -> None:
    assert sign(system_params(sign_method), SECRET, sign_method) == expected


CHINESE_PARAMS = {
    "title": "618商品池满30-12",
    "item_ids": "1,2",
    "memo": "",  # empty: must be skipped
    "sign": "IGNORED",  # the signature itself is never signed
}


@pytest.mark.parametrize(
    ("sign_method", "expected"),
    [
        ("md5", "FCED6A0057DA05F5EF5308E26C0DC8DC"),
        ("hmac", "94CC60D4AD6DB571EBCF6293C457FFC2"),
        ("hmac-sha256", "238DD09CCF2954BF37F44DA67BF004F934F31C7E734E307A245EF0E302972C5C"),
    ],
)
def test_known_answer_non_ascii_with_empty_value_and_sign_skipped(sign_method: str, expected: str) -> None:
    assert sign(CHINESE_PARAMS, "密钥", sign_method) == expected


def test_empty_value_is_skipped() -> None:
    with_empty = {"a": "1", "b": "", "c": "3"}
    without = {"a": "1", "c": "3"}
    assert string_to_sign(with_empty) == "a1c3"
    for method in ("md5", "hmac", "hmac-sha256"):
        assert sign(with_empty, SECRET, method) == sign(without, SECRET, method)


def test_string_to_sign_sorts_keys_and_uses_raw_values() -> None:
    assert string_to_sign({"b": "x y", "a": "中", "sign": "S"}) == "a中bx y"


def test_signature_is_upper_hex() -> None:
    signature = sign({"a": "1"}, SECRET, "hmac-sha256")
    assert signature == signature.upper() and len(signature) == 64


def test_unknown_sign_method_is_refused() -> None:
    with pytest.raises(ValueError, match="sha1"):
        sign({"a": "1"}, SECRET, "sha1")
