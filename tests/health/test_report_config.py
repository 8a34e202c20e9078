"""[report] in the config: defaults, an override, and the Chinese message for each mistake."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, settings_from_mapping


def test_defaults_are_friday_17_and_the_seed_thresholds() -> None:
    report = settings_from_mapping({}, "x.toml").report
    assert (report.weekday, report.hour) == (5, 17)
    assert report.threshold("approval_within_5wd_share") == (0.85, 0.70)
    assert report.threshold("lead_first_contact_share") == (0.90, 0.80)


def test_an_override_replaces_one_threshold() -> None:
    report = settings_from_mapping({"report": {"weekday": 1, "thresholds": {"pei": [0.2, 0.3]}}}, "x.toml").report
    assert report.weekday == 1 and report.threshold("pei") == (0.2, 0.3)
    assert report.threshold("approval_within_5wd_share") == (0.85, 0.70)


@pytest.mark.parametrize(("raw", "key", "words"), [
    ({"weekday": 8}, "report.weekday", "1 到 7"),
    ({"hour": 24}, "report.hour", "0 到 23"),
    ({"thresholds": {"pie": [1, 2]}}, "report.thresholds.pie", "pei"),
    ({"thresholds": {"pei": 0.1}}, "report.thresholds.pei", "[绿线, 黄线]"),
    ({"when": "friday"}, "report.when", ""),
])
def test_each_mistake_names_the_key(raw: dict[str, object], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"report": raw}, "x.toml")
    problems = err.value.problems
    assert [p.key for p in problems] == [key]
    assert words in problems[0].message


def test_proposal_stages_default_to_the_first_two_and_may_be_chosen() -> None:
    from handlers.health.deal_facts import proposal_stages

    assert proposal_stages(settings_from_mapping({}, "x.toml")) == ("需求确认", "方案提交")
    chosen = settings_from_mapping({"report": {"proposal_stages": ["方案提交", "方案确认"]}}, "x.toml")
    assert proposal_stages(chosen) == ("方案提交", "方案确认")


@pytest.mark.parametrize(("value", "words"), [
    (["需求确认"], "两个不同的阶段名"),
    (["需求确认", "需求确认"], "两个不同的阶段名"),
    (["需求确认", "方案评审"], "'方案评审' 不是 [[stages]] 里的阶段"),
    ("需求确认", "两个不同的阶段名"),
    ([1, 2], "非空字符串"),
])
def test_a_wrong_proposal_stage_names_the_key(value: object, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"report": {"proposal_stages": value}}, "x.toml")
    assert [(p.key, words in p.message) for p in err.value.problems] == [("report.proposal_stages", True)]
