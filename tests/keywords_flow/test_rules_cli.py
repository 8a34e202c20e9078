"""`salesbot rules test FILE`: one JSON object per input line, in order, as admins try rules out."""

from __future__ import annotations

import json

import pytest

from bot.cli import main


def test_prints_one_json_object_per_line_in_order(write_config, tmp_path, capsys):
    config = write_config()
    sample = tmp_path / "sample.txt"
    sample.write_bytes("再不降价我们就换一家\r\n样品不用寄了\n\n针对手机的方案，友商便宜很多\n".encode())
    assert main(["rules", "test", "--config", str(config), str(sample)]) == 0
    out = capsys.readouterr().out
    assert "降价" in out  # ensure_ascii=False: Chinese as is
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in rows] == ["再不降价我们就换一家", "样品不用寄了", "", "针对手机的方案，友商便宜很多"]
    assert [r["rules"] for r in rows] == [["churn", "price_cut"], [], [], ["competitor", "price_cut"]]
    assert [r["labels"] for r in rows] == [["流失风险", "降价压力"], [], [], ["竞品威胁", "降价压力"]]
    assert rows[0]["hits"] == [
        {"rule": "price_cut", "keyword": "降价", "start": 2, "end": 4, "label": "降价压力"},
        {"rule": "churn", "keyword": "换一家", "start": 7, "end": 10, "label": "流失风险"},
    ]


def test_the_config_given_is_the_one_tested(write_config, tmp_path, capsys):
    config = write_config('[[rules]]\nname = "rise"\nlabel = "涨价"\nkind = "risk"\nkeywords = ["涨价"]\n',
                          rules=False)
    sample = tmp_path / "sample.txt"
    sample.write_text("听说你们要涨价\n友商便宜\n", encoding="utf-8")
    assert main(["rules", "test", "--config", str(config), str(sample)]) == 0
    assert [json.loads(line)["rules"] for line in capsys.readouterr().out.splitlines()] == [["rise"], []]


def test_a_missing_or_unreadable_file_is_refused(write_config, tmp_path, capsys):
    config = str(write_config())
    assert main(["rules", "test", "--config", config, str(tmp_path / "nope.txt")]) == 1
    err = capsys.readouterr()
    assert err.out == "" and "nope.txt: no such file" in err.err
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    assert main(["rules", "test", "--config", config, str(latin)]) == 1
    assert "not UTF-8 text" in capsys.readouterr().err
    assert main(["rules", "test", "--config", config, str(tmp_path)]) == 1
    assert "is a directory" in capsys.readouterr().err


def test_a_bad_config_is_refused_with_its_problems(write_config, tmp_path, capsys):
    config = write_config('[scan]\ncooldown_hours = "soon"\n', rules=False)
    sample = tmp_path / "sample.txt"
    sample.write_text("友商便宜\n", encoding="utf-8")
    assert main(["rules", "test", "--config", str(config), str(sample)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "scan.cooldown_hours: 必须是数字，现在是 'soon'" in captured.err


@pytest.mark.parametrize("name", ["keyword_eval_public.jsonl", "keyword_eval_public2.jsonl"])
def test_rules_test_meets_the_quality_bar_on_the_public_labelled_set(tmp_path, capsys, name):
    """The admin's tool itself, run on the shared labelled sets with their rules file as the config."""
    from pathlib import Path

    data = Path(__file__).parents[1] / "data"
    labelled = [json.loads(line) for line in (data / name).read_text(encoding="utf-8").splitlines()]
    sample = tmp_path / "chat.txt"
    sample.write_text("".join(item["text"] + "\n" for item in labelled), encoding="utf-8")
    assert main(["rules", "test", "--config", str(data / "keyword_rules.toml"), str(sample)]) == 0
    fired = [set(json.loads(line)["rules"]) for line in capsys.readouterr().out.splitlines()]
    expected = [set(item["rules"]) for item in labelled]
    true_pos = sum(len(f & e) for f, e in zip(fired, expected, strict=True))
    precision = true_pos / sum(len(f) for f in fired)
    recall = true_pos / sum(len(e) for e in expected)
    assert precision >= 0.97 and recall >= 0.97, (precision, recall)


def test_explain_says_in_chinese_which_word_decided_each_line(write_config, tmp_path, capsys):
    config = write_config()
    sample = tmp_path / "sample.txt"
    sample.write_text("没有折扣，我们就不续了\n价格表收到了，不用再发了\n比赛的对手很强\n针对手机的方案\n好的\n",
                      encoding="utf-8")
    assert main(["rules", "test", "--explain", "--config", str(config), str(sample)]) == 0
    out = capsys.readouterr().out
    blocks = out.split("「")[1:]
    assert "没有折扣，我们就不续了」 → 触发：降价压力（price_cut）" in out
    assert "「没有」是条件，下一小句说了后果" in out
    assert "价格表收到了，不用再发了」 → 不触发任何规则" in out
    assert "下一小句的「不用」表示不要了，不触发" in out
    assert "同一小句有「比赛」，这里的「对手」是别的意思，不触发" in out
    assert "「对手」横跨「针对」「手机」几个词，不算提到" in out  # a fragment of other words
    assert "好的」 → 不触发任何规则\n  没有出现任何关键词" in out
    assert blocks and "{" not in out  # text for people, not JSON
