"""Health tests: the shared directory plus 小明, a second rep below 李四, and four weeks of records."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
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
