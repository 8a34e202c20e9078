"""`[scan]` word lists and sense cues: packaged defaults, the admin's own, and mistakes explained in Chinese."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings
from handlers.scanning import engine_for

RULE = '[[rules]]\nname = "rival"\nlabel = "竞品"\nkind = "risk"\nkeywords = ["对手", "友商"]\n'


def test_a_config_without_word_lists_reads_with_the_packaged_defaults(write_config):
    settings = load_settings(write_config("[scan]\nnegations = [\"不\"]\n" + RULE, rules=False), environ={})
    assert ("对手", ) == tuple(kw for kw, _ in settings.scan.senses if kw == "对手")
    engine = engine_for(settings)
    assert engine.rules_fired("比赛的对手很强") == []  # default cue 比赛
    assert engine.rules_fired("友商那边我们没接触过") == []  # default after_negations
    assert engine.rules_fired("对手降价了") == ["rival"]


def test_the_admins_cues_replace_the_defaults_and_a_rule_adds_its_own(write_config):
    config = write_config('[scan.senses]\n"友商" = ["报纸"]\n' + RULE + 'senses = { "对手" = ["辩论"] }\n', rules=False)
    engine = engine_for(load_settings(config, environ={}))
    assert engine.rules_fired("友商的报纸") == []
    assert engine.rules_fired("比赛的对手很强") == ["rival"]  # the defaults were replaced
    assert engine.rules_fired("辩论的对手很强") == []  # the rule's own cue


@pytest.mark.parametrize(
    ("toml", "key", "message"),
    [
        ('[scan]\nsenses = ["比赛"]\n', "scan.senses", "应当是一个表"),
        ('[scan.senses]\n"对手" = [1]\n', "scan.senses.对手", "应当是非空字符串的列表"),
        ('[scan]\nafter_negations = "算了"\nneutral_words = [""]\n', "scan.neutral_words", "必须是非空字符串组成的数组"),
        ('[scan]\nclose_remind_hours = [72, "soon"]\n', "scan.close_remind_hours", "应当是正整数（小时）的列表"),
        ('[scan]\ndigest_hour = 24\n', "scan.digest_hour", "应当是0 到 23 之间的整点"),
        ('[scan]\nreport_weekday = 0\n', "scan.report_weekday", "1 = 星期一"),
        ('', "rules[1] (rival).notify_mode", "应当是 \"each\"（每条消息发卡片）或 \"daily\""),
    ],
)
def test_a_bad_word_list_is_refused_naming_the_key(write_config, toml, key, message):
    rule = RULE + ('notify_mode = "weekly"\n' if key.endswith("notify_mode") else "")
    with pytest.raises(ConfigError) as err:
        load_settings(write_config(toml + rule, rules=False), environ={})
    assert any(p.key == key and message in p.message for p in err.value.problems), err.value.problems
