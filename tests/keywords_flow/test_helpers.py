"""Small pieces of the flow: who a notify target means, and how the words are quoted."""

from __future__ import annotations

from sqlalchemy import select

from handlers.orgchart import owner_of, resolve_recipients
from handlers.scanning import quote_words
from storage import customers
from storage.models import User
from tests.conftest import NOW


def test_notify_targets_resolve_to_directory_users(ctx):
    zhangsan = ctx.session.get(User, "zhangsan")
    targets = ("owner", "manager", "director", "admin", "user:zhaoliu", "role:finance", "user:ghost", "role:nobody")
    assert resolve_recipients(ctx, targets, zhangsan) == ("zhangsan", "lisi", "wangwu", "sunqi", "zhaoliu")
    assert resolve_recipients(ctx, ("owner", "manager"), None) == ()
    assert resolve_recipients(ctx, ("director",), None) == ("wangwu",)  # no chain: every director


def test_an_owner_who_left_is_no_owner(ctx):
    customer = customers.create(ctx.session, "华为", "zhangsan", NOW, "test")
    assert owner_of(ctx, customer).id == "zhangsan"
    ctx.session.scalars(select(User).where(User.id == "zhangsan")).one().active = False
    assert owner_of(ctx, customer) is None


def test_quote_marks_every_span_on_one_line():
    assert quote_words("友商便宜\n很多", [(0, 2), (2, 4)]) == "【友商便宜】 很多"
    assert quote_words("再不降价我们就换一家", [(2, 4), (7, 10)]) == "再不【降价】我们就【换一家】"


def test_quote_cuts_long_words_around_the_first_keyword():
    text = "甲" * 100 + "降价" + "乙" * 100
    quoted = quote_words(text, [(100, 102)], limit=40)
    assert quoted.startswith("…") and quoted.endswith("…")
    assert "【降价】" in quoted and len(quoted) == 40 + 2 + 2  # window + brackets + ellipses
