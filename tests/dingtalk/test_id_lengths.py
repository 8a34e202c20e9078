"""Platform ids are checked against their columns at the edge: an id exactly as long as its column is
accepted, one character more is a 400 naming the field (never a handler failing later on PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.dingtalk.conftest import post_robot, robot_payload

# (field named in the refusal, column length, payload keyword building that field)
FIELDS = [("msgId", 128, "msg_id"), ("sender", 128, "staff_id"), ("conversation", 200, "conversation")]


def _payload(keyword: str, value: str) -> dict:
    args = {"msg_id": "m-len", keyword: value}
    return robot_payload("你好", args.pop("msg_id"), **args)


@pytest.mark.parametrize(("field", "length", "keyword"), FIELDS)
def test_an_id_as_long_as_its_column_is_accepted(client, field, length, keyword):
    assert post_robot(client, _payload(keyword, "a" * length)).status_code == 200


@pytest.mark.parametrize(("field", "length", "keyword"), FIELDS)
def test_an_id_one_character_longer_is_refused_naming_the_field(client, field, length, keyword):
    response = post_robot(client, _payload(keyword, "a" * (length + 1)))
    assert response.status_code == 400
    assert f"{field} is {length + 1} characters (at most {length})" in response.get_data(as_text=True)
