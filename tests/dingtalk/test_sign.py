"""The crypto is pinned by DingTalk's published vectors (PROTOCOLS.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from dingtalk.crypto import DingTalkCrypto

from bot.dingtalk_sign import BadSignature, EventCrypto, MalformedRequest, robot_sign, verify_robot_sign
from tests.dingtalk.conftest import AES_KEY, APP_KEY, EVENT_TOKEN

# DingTalk robot sign vector
SIGN_TIMESTAMP, SIGN_SECRET = "1577262236757", "this is secret"
SIGN = "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="
SIGNED_AT = datetime.fromtimestamp(1577262236.757, tz=UTC)

# DingTalk event vector (official callback-crypto sample)
VECTOR = dict(
    signature="03044561471240d4a14bb09372dfcfd4fd0e40cb", timestamp="1608001896814", nonce="WL4PK6yA",
    encrypt="0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZ"
            "eKju4yhELOFchzNukR+t8SB/qk4ROMu3",
)


def test_robot_sign_vector():
    assert robot_sign(SIGN_TIMESTAMP, SIGN_SECRET) == SIGN


def test_robot_sign_accepted_within_the_hour():
    verify_robot_sign(SIGN_TIMESTAMP, SIGN, SIGN_SECRET, SIGNED_AT + timedelta(minutes=59))
    verify_robot_sign(SIGN_TIMESTAMP, SIGN, SIGN_SECRET, SIGNED_AT - timedelta(minutes=59))


@pytest.mark.parametrize(
    ("timestamp", "sign", "secret", "now"),
    [
        (SIGN_TIMESTAMP, SIGN, SIGN_SECRET, SIGNED_AT + timedelta(hours=2)),  # replayed later
        (SIGN_TIMESTAMP, SIGN, SIGN_SECRET, SIGNED_AT - timedelta(minutes=61)),  # from the future
        (SIGN_TIMESTAMP, SIGN, "another secret", SIGNED_AT),
        (SIGN_TIMESTAMP, SIGN[:-2] + "A=", SIGN_SECRET, SIGNED_AT),
        (None, SIGN, SIGN_SECRET, SIGNED_AT),
        (SIGN_TIMESTAMP, None, SIGN_SECRET, SIGNED_AT),
        ("yesterday", SIGN, SIGN_SECRET, SIGNED_AT),
    ],
)
def test_robot_sign_refused(timestamp, sign, secret, now):
    with pytest.raises(BadSignature):
        verify_robot_sign(timestamp, sign, secret, now)


def _body(encrypt: str) -> bytes:
    return json.dumps({"encrypt": encrypt}).encode()


def test_official_event_vector_decrypts_to_check_url():
    crypto = EventCrypto(EVENT_TOKEN, AES_KEY, APP_KEY)
    event = crypto.decrypt(VECTOR["signature"], VECTOR["timestamp"], VECTOR["nonce"], _body(VECTOR["encrypt"]))
    assert event == {"EventType": "check_url"}


def test_event_signature_and_app_key_are_checked():
    crypto = EventCrypto(EVENT_TOKEN, AES_KEY, APP_KEY)
    with pytest.raises(BadSignature):
        crypto.decrypt("0" * 40, VECTOR["timestamp"], VECTOR["nonce"], _body(VECTOR["encrypt"]))
    other_app = EventCrypto(EVENT_TOKEN, AES_KEY, "dingsomeotherapp")
    with pytest.raises(BadSignature):
        other_app.decrypt(VECTOR["signature"], VECTOR["timestamp"], VECTOR["nonce"], _body(VECTOR["encrypt"]))


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", json.dumps({"encrypt": 5}).encode()])
def test_event_envelope_without_encrypt_is_malformed(body):
    with pytest.raises(MalformedRequest):
        EventCrypto(EVENT_TOKEN, AES_KEY, APP_KEY).decrypt("sig", "1", "n", body)


def test_correctly_signed_garbage_ciphertext_is_malformed():
    crypto = EventCrypto(EVENT_TOKEN, AES_KEY, APP_KEY)
    garbage = "bm90IGEgY2lwaGVydGV4dA=="
    with pytest.raises(MalformedRequest):
        crypto.decrypt(crypto.signature("1", "n", garbage), "1", "n", _body(garbage))


def test_success_reply_verifies_with_the_sdk():
    reply = EventCrypto(EVENT_TOKEN, AES_KEY, APP_KEY).encrypt_reply("success", 1608001896999)
    assert set(reply) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
    sdk = DingTalkCrypto(EVENT_TOKEN, AES_KEY, APP_KEY)
    assert sdk.decrypt_encrypt_str(reply["msg_signature"], reply["timeStamp"], reply["nonce"],
                                   reply["encrypt"]) == "success"
