"""Health tests: the shared directory plus 小明, a second rep below 李四, and four weeks of records."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from handlers.context import Context
from handlers.leads_sla import check_first_contact
from handlers.opportunities.escalation import flag_stale_opportunities
from storage.db import transaction
from tests.health import seed

XIAOMING = """
[[users]]
id = "xiaoming"
name = "小明"
role = "rep"
manager = "lisi"
dingtalk_userid = "ding_xiaoming"
"""

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")

# Friday 2026-11-06 17:00 China time: the default report time of week 2026-W45.
FRIDAY = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)
MONDAY = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # 2026-11-02 00:00 China time


def h(day: int, hour: int) -> datetime:
    """A UTC time in November 2026 (October for day <= 0 is not needed: use datetime directly)."""
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def settings(write_config: Callable[..., Path]) -> Settings:
    return load_settings(write_config(XIAOMING), environ={})


@pytest.fixture
def week_data(runtime, factory) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The hand-counted week: see test_metrics for each figure."""
    ids: dict[str, int] = {}
    with transaction(factory) as s:
        c1 = seed.customer(s, "星河科技", "zhangsan", h(1, 0))
        c2 = seed.customer(s, "远航贸易", "xiaoming", h(1, 0))
        seed.customer(s, "沉默客户", "zhangsan", datetime(2026, 8, 1, tzinfo=UTC), last=datetime(2026, 9, 1, tzinfo=UTC))
        gone = seed.customer(s, "回收客户", "zhangsan", datetime(2026, 8, 1, tzinfo=UTC))
        seed.released(s, gone, "zhangsan", h(4, 1))
        ids["A"] = seed.approval(s, c1, "zhangsan", h(2, 2), hold=[("lisi", 10), ("wangwu", 20)]).id
        ids["B"] = seed.approval(s, c1, "zhangsan", datetime(2026, 10, 26, 2, tzinfo=UTC), hold=[("lisi", 170)],
                                 status="rejected").id
        ids["C"] = seed.approval(s, c2, "xiaoming", h(3, 2), hold=[("lisi", 4)]).id
        ids["D"] = seed.approval(s, c2, "xiaoming", h(4, 0), hold=[], pending="wangwu", note="", escalation=2).id
        created = h(2, 3)
        seed.todo(s, "zhangsan", created, h(3, 8), h(3, 6))
        seed.todo(s, "zhangsan", created, h(4, 8), h(5, 1))
        ids["T3"] = seed.todo(s, "zhangsan", created, h(4, 8), escalation=1, title="寄样品").id
        seed.todo(s, "zhangsan", created, h(10, 8))
        ids["T5"] = seed.todo(s, "zhangsan", datetime(2026, 10, 19, tzinfo=UTC), datetime(2026, 10, 20, tzinfo=UTC),
                              title="报价跟进").id
        seed.todo(s, None, h(1, 0), h(10, 0), role="finance", c=c1, title="开票")
        seed.todo(s, "zhaoliu", datetime(2026, 10, 31, tzinfo=UTC), None, role="finance", c=c1,
                  claimed=datetime(2026, 10, 31, 5, tzinfo=UTC), title="对账")
        seed.risk(s, c1, h(3, 0))
        seed.risk(s, c1, h(3, 1), severity="medium")
        seed.risk(s, c1, h(4, 0), status="closed", outcome="已签单")
    return ids


def oct_(day: int, hour: int) -> datetime:
    return datetime(2026, 10, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def deal_data(runtime, factory, settings: Settings) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Leads and opportunities of the hand-counted week, in time order (see test_deal_metrics)."""
    ids: dict[str, int] = {}
    with transaction(factory) as s:
        def at(day: int, hour: int, month: int = 11) -> Context:
            return seed.at(s, settings, datetime(2026, month, day, hour, tzinfo=UTC))

        c = {n: seed.customer(s, n, owner, oct_(1, 0)) for n, owner in
             (("甲方一", "zhangsan"), ("甲方二", "xiaoming"), ("甲方三", "zhangsan"), ("甲方四", "zhangsan"))}
        o4 = seed.opportunity(at(10, 0, 10), c["甲方四"], "zhangsan", "四期扩容", 400000)
        seed.move(at(12, 0, 10), o4, "方案提交")
        o3 = seed.opportunity(at(19, 8, 10), c["甲方三"], "zhangsan", "三号项目", 300000)
        o1 = seed.opportunity(at(20, 0, 10), c["甲方一"], "zhangsan", "一号项目", 100000)
        l6 = seed.lead(at(30, 20, 10), "上周线索公司", "zhangsan")
        seed.contact(at(31, 10, 10), l6)
        l7 = seed.lead(at(1, 10), "周日线索公司", "zhangsan")
        seed.contact(at(2, 0), l7)
        o2 = seed.opportunity(at(2, 0), c["甲方二"], "xiaoming", "二号项目", 200000)
        l1 = seed.lead(at(2, 2), "星光科技", "zhangsan")
        l2 = seed.lead(at(2, 3), "明月贸易", "zhangsan")
        seed.contact(at(2, 5), l1)
        seed.evidence(at(2, 6), o1, "会议纪要")
        l3 = seed.lead(at(3, 0), "远山制造", "xiaoming")
        seed.move(at(3, 0), o1, "方案提交")
        flag_stale_opportunities(at(3, 1))  # O3 and O4 turn yellow
        seed.contact(at(3, 9), l2)
        l4 = seed.lead(at(4, 0), "大河物流", "zhangsan")
        check_first_contact(at(4, 1))  # L3 not contacted in 24 h: reminder
        seed.reassign(at(4, 2), l4, "xiaoming")
        seed.contact(at(4, 4), l4)
        seed.move(at(4, 12), o2, "方案提交")
        seed.move(at(5, 0), o4, "价格谈判", actor="lisi", override="客户急需报价")
        check_first_contact(at(5, 1))  # L3 not contacted in 48 h: back to the pool
        l5 = seed.lead(at(6, 0), "今早线索公司", "xiaoming")
        for name, row in (("L1", l1), ("L2", l2), ("L3", l3), ("L4", l4), ("L5", l5), ("L6", l6), ("L7", l7),
                          ("O1", o1), ("O2", o2), ("O3", o3), ("O4", o4)):
            ids[name] = row.id
    return ids


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER or ""), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()



__all__ = ["FRIDAY", "MONDAY", "h", "timedelta"]
