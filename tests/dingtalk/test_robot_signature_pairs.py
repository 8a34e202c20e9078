"""Robot signature pairs are keyed on (timestamp, sign) together: two robots (two secrets) that signed
in the same millisecond share a timestamp, and each one's retry must still find its own message."""

from __future__ import annotations

from datetime import timedelta

from storage.db import transaction
from storage.signatures import claim_signature
from tests.conftest import NOW


def test_pairs_sharing_a_timestamp_each_keep_their_own_message(factory):
    later = NOW + timedelta(hours=1)
    with transaction(factory) as s:
        assert claim_signature(s, "1700000000000", "sign-robot-a", "msg-a", NOW, later)
        assert claim_signature(s, "1700000000000", "sign-robot-b", "msg-b", NOW, later)
    with transaction(factory) as s:
        assert claim_signature(s, "1700000000000", "sign-robot-b", "msg-b", NOW, later)  # b's retry
        assert claim_signature(s, "1700000000000", "sign-robot-a", "msg-a", NOW, later)  # a's retry
        assert not claim_signature(s, "1700000000000", "sign-robot-b", "msg-a", NOW, later)  # b's pair replayed
        assert not claim_signature(s, "1700000000000", "sign-robot-a", "msg-b", NOW, later)
