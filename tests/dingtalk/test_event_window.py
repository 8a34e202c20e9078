"""The DingTalk event freshness window is inclusive: an event signed exactly one hour ago or ahead is
accepted, one millisecond further is refused as a possible replay."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.dingtalk_sign import BadSignature, check_event_fresh
from tests.conftest import NOW
from tests.dingtalk.conftest import ms

MS = timedelta(milliseconds=1)


@pytest.mark.parametrize("offset", [timedelta(hours=1), -timedelta(hours=1), timedelta(0)])
def test_an_event_at_the_edge_of_the_window_is_accepted(offset):
    check_event_fresh(str(ms(NOW - offset)), NOW)


@pytest.mark.parametrize("offset", [timedelta(hours=1) + MS, -timedelta(hours=1) - MS])
def test_an_event_just_outside_the_window_is_refused(offset):
    with pytest.raises(BadSignature):
        check_event_fresh(str(ms(NOW - offset)), NOW)
