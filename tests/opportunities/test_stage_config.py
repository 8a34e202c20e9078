"""[[stages]] in the config: the documented defaults, and every mistake named in Chinese with its key."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import default_config_text, load_settings, settings_from_mapping
from handlers.settings import DEFAULT_STAGES, HandoffConfig


def test_without_stages_the_built_in_ones_apply_and_the_default_file_spells_them_out(
        write_config: Callable[..., Path]) -> None:
    assert load_settings(write_config(), environ={}).stages == DEFAULT_STAGES
    assert settings_from_mapping(tomllib.loads(default_config_text()), "default").stages == DEFAULT_STAGES
    example = Path(__file__).parents[2] / "config.example.toml"
    assert settings_from_mapping(tomllib.loads(example.read_text(encoding="utf-8")), "example").stages == DEFAULT_STAGES
    confirm = next(s for s in DEFAULT_STAGES if s.name == "方案确认")
    assert confirm.on_enter == (HandoffConfig("delivery", "实施资源预约"),)


def test_stages_from_the_config_replace_the_defaults(write_config: Callable[..., Path]) -> None:
    toml = """
[[stages]]
name = "初步接触"
evidence = ["会议纪要"]
max_days = 7
on_enter = [{ role = "solution", title = "方案评估" }]

[[stages]]
name = "成交"
evidence = ["合同"]
outcome = "won"

[[stages]]
name = "丢单"
outcome = "lost"
reasons = ["价格"]
"""
    stages = load_settings(write_config(toml), environ={}).stages
    assert [s.name for s in stages] == ["初步接触", "成交", "丢单"]
    assert stages[0].max_days == 7 and stages[0].on_enter == (HandoffConfig("solution", "方案评估"),)


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('[[stages]]\nname = "A"\noutcome = "won"\n[[stages]]\nname = "B"\noutcome = "draw"\n',
         "stages[2] (B).outcome: 只能是 won 或 lost 或不写，现在是 'draw'"),
        ('[[stages]]\nname = "A"\noutcome = "won"\n', '必须恰好有一个 outcome = "lost" 的阶段（输单）'),
        ('[[stages]]\nname = "A"\noutcome = "won"\n[[stages]]\nname = "B"\noutcome = "lost"\n',
         "stages[2] (B).reasons: 输单阶段至少要有一个输单原因"),
        ('[[stages]]\nname = "A"\nmax_days = -1\n', "stages[1] (A).max_days: 不能是负数"),
        ('[[stages]]\nname = "A"\ncustomer_stage = "done"\n', "stages[1] (A).customer_stage: 只能是"),
        ('[[stages]]\nname = "A"\non_enter = [{ role = "delivery" }]\n', "stages[1] (A).on_enter[1].title: 必须填写"),
        ('[[stages]]\nname = "A"\nevidnce = ["x"]\n', "stages[1] (A).evidnce"),
        ('[[stages]]\nname = "A"\n[[stages]]\nname = "A"\n', "阶段名 'A' 重复"),
    ],
)
def test_broken_stages_are_reported(write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str],
                                    toml: str, problem: str) -> None:
    assert main(["check-config", str(write_config(toml))]) == 2
    assert problem in capsys.readouterr().out


def test_an_unknown_rule_kind_names_change_among_the_choices(write_config: Callable[..., Path],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    toml = '[[rules]]\nname = "x"\nkind = "chnge"\nkeywords = ["新增"]\n'
    assert main(["check-config", str(write_config(toml, rules=False))]) == 2
    assert "只能是 risk、todo 或 change" in capsys.readouterr().out
