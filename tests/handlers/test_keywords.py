"""Keyword engine: labelled public set, word boundaries, negation, excludes, fast path == reference."""

from __future__ import annotations

import json
import random
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import load_settings
from handlers.keywords import Hit, KeywordEngine, lexicon, mentions, reference_scan, rules_test_report
from handlers.keywords import engine as keywords
from handlers.scanning import reading_words

DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class Rule:
    """Minimal RuleLike for tests."""

    name: str
    kind: str
    keywords: tuple[str, ...]
    exclude: tuple[str, ...] = ()


def load_rules() -> tuple[list[Rule], list[str]]:
    """Rules and negations of the labelled evaluation set."""
    with (DATA / "keyword_rules.toml").open("rb") as fh:
        cfg = tomllib.load(fh)
    rules = [Rule(r["name"], r["kind"], tuple(r["keywords"])) for r in cfg["rules"]]
    return rules, list(cfg["scan"]["negations"])


def load_public(name: str = "keyword_eval_public.jsonl") -> list[tuple[str, set[str]]]:
    """(text, expected rules) pairs of a public labelled set."""
    with (DATA / name).open(encoding="utf-8") as fh:
        return [(d["text"], set(d["rules"])) for d in map(json.loads, fh) if d]


RULES, NEGATIONS = load_rules()
# The [scan] word lists a config without them gets: the packaged defaults.
WORDS = reading_words(load_settings(DATA / "keyword_rules.toml").scan)


@pytest.fixture(scope="module")
def engine() -> KeywordEngine:
    return KeywordEngine(RULES, NEGATIONS, WORDS)


@pytest.mark.parametrize("name", ["keyword_eval_public.jsonl", "keyword_eval_public2.jsonl"])
def test_public_set_precision_and_recall(engine: KeywordEngine, name: str) -> None:
    tp = fp = fn = 0
    for text, expected in load_public(name):
        got = set(engine.rules_fired(text))
        tp += len(got & expected)
        fp += len(got - expected)
        fn += len(expected - got)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"public set: precision={precision:.3f} recall={recall:.3f} (tp={tp} fp={fp} fn={fn})")
    assert precision >= 0.97 and recall >= 0.97, (precision, recall)


# Our own sentences (not from the public set) probing the same semantics.
WHOLE_WORD = [
    ("友商报的价比你们低", ["competitor"]),  # 友商 must beat the newspaper word 商报
    ("竞品价格便宜三成", ["competitor", "price_cut"]),  # 价格便宜 is one jieba token: tail of a compound
    ("分期付款可以吗", ["payment_terms"]),  # head of a compound
    ("有没有优惠券", ["price_cut"]),
    ("降价促销什么时候开始", ["price_cut"]),
    ("多少钱一台", ["quote_request"]),
    ("能月结吗", ["payment_terms"]),
    ("对手表的防水等级有要求吗", []),
    ("这次主要是对手机屏幕做检测", []),
    ("我们要对手机壳做跌落测试", []),
    ("告别家乡来这边工作", []),
    ("这个月结束前给答复", []),
    ("大部分期间都在出差", []),
    ("同样品牌的我们也在用", []),
    ("同样机型我们买过", []),
    ("太贵重的礼物不能收", []),
    ("价格表现一直很稳定", []),
    ("贪小便宜吃大亏", []),  # four-character idioms are opaque
    ("这样效果会大打折扣", []),
    ("能打折扣吗", ["price_cut"]),  # 打折扣 is a literal three-character phrase
]

NEGATION = [
    ("样品我们这边暂时不需要了", []),  # post-negation three tokens after the keyword
    ("样机别寄了", []),
    ("价格表就不必发了", []),
    ("我们不再找别家了", []),
    ("暂不考虑其他厂家", []),
    ("从来没想过换供应商", []),
    ("我们绝不会找别家", []),
    ("不算太贵", []),
    ("要不我们换一家", ["churn"]),  # 要不 (how about) is not a negation
    ("样品不用了，麻烦发一下报价单", ["quote_request"]),  # negation stays in its clause
    ("我们不考虑换一家，但希望再降价", ["price_cut"]),
    ("竞品没有你们好", ["competitor"]),  # plain negations do not act backwards
    ("不知道竞品怎么样", ["competitor"]),  # 不知道 is not a negation of what follows
    ("没想到竞品这么便宜", ["competitor", "price_cut"]),
    ("能不能再便宜点", ["price_cut"]),  # A-not-A question
    ("你们要不要考虑分期", ["payment_terms"]),
    ("会不会降价", ["price_cut"]),
    ("是不是太贵了", ["price_cut"]),
]

CONDITIONAL = [
    ("要是再不给优惠我们就找友商了", ["competitor", "price_cut"]),
    ("不降价的话我们就换供应商", ["churn", "price_cut"]),
    ("没有折扣的话我们就换一家", ["churn", "price_cut"]),
    ("如果不降价，我们就换一家", ["churn", "price_cut"]),
    ("不给折扣这单就黄了", ["price_cut"]),
    ("质量没问题的话就不用打折", []),  # the negation after 就 is the customer's answer
    ("不降价的话就不用谈了", ["price_cut"]),  # a post-negation does not reach back into the condition
    ("如果降价就不用换供应商", ["price_cut"]),
    ("样品的话就不用了", []),  # topic 的话, no condition: the post-negation applies
]


# Clause-aware reading (issue 15): our own sentences of the kinds keyword_eval_public2.jsonl holds.
CLAUSES = [
    ("没有优惠，我们就不签了", ["price_cut"]),  # condition before the comma, consequence after it
    ("报价单收到了，先不用发了", []),  # a dismissal opening the next clause reaches back
    ("价格表发我，不用太急", ["quote_request"]),  # 不用太急 dismisses the hurry, not the thing
    ("账期的事免了", []),
    ("别家那边我们没联系过", []),  # a negation after other words
    ("报价单到现在都没发过来", ["quote_request"]),  # 没 negates 发, the customer still waits
    ("难道不能分期吗", ["payment_terms"]),  # a question asking for the thing
    ("就没有优惠券吗？", ["price_cut"]),
    ("不仅要样机，还要培训", ["sample"]),  # fixed words with 不 that negate nothing
    ("不管怎样都得降价", ["price_cut"]),
    ("不是不想换供应商", ["churn"]),
    ("非降价不可", ["price_cut"]),
    ("竞品的方案我们没看过", []),  # 没 + …过: never dealt with it
    ("样品我们从没用过", []),
    ("我们没打算解约", []),  # a dismissal starting with a negation also negates forwards
    ("要是没有折扣，我们就不考虑了", ["price_cut"]),  # a consequence does not dismiss its condition
    ("不给账期，这单没法做", ["payment_terms"]),
    ("样品麻烦寄一下，不用太多", ["sample"]),  # 不用太… is about the amount
    ("还没收到样品", ["sample"]),  # 没 negates the event verb 收到: still waiting
    ("你们一直没发报价单", ["quote_request"]),
    ("不用寄样品", []),  # "not needed" words negate the thing whatever the verb
    ("没有找过竞品", []),
]
SENSES = [
    ("产品效果不能打折扣", []),  # cue words from [scan.senses]
    ("服务费能打折吗", ["price_cut"]),  # 服务费 is a 费, not a 服务: no cue
    ("第一期分期验收", []),
    ("篮球赛的对手很强", []),
    ("换一家酒店住吧", []),
    ("再涨价我们就换一家", ["churn"]),
]


@pytest.mark.parametrize(("text", "expected"), WHOLE_WORD + NEGATION + CONDITIONAL + CLAUSES + SENSES)
def test_own_sentences(engine: KeywordEngine, text: str, expected: list[str]) -> None:
    assert engine.rules_fired(text) == expected


def test_hits_carry_offsets_and_drop_fragments_of_longer_hits(engine: KeywordEngine) -> None:
    text = "好的。竞争对手已经把样机送来了"
    hits = engine.scan(text)
    assert hits == [Hit("competitor", "竞争对手", 3, 7), Hit("sample", "样机", 10, 12)]
    assert all(text[h.start : h.end] == h.keyword for h in hits)


def test_hits_sorted_one_per_rule_and_start(engine: KeywordEngine) -> None:
    hits = engine.scan("折扣和优惠都要，样品也要，折扣再谈")
    assert [h.start for h in hits] == sorted(h.start for h in hits)
    assert len({(h.rule, h.start) for h in hits}) == len(hits)
    assert [(h.rule, h.keyword) for h in hits] == [
        ("price_cut", "折扣"),
        ("price_cut", "优惠"),
        ("sample", "样品"),
        ("price_cut", "折扣"),
    ]


def test_exclude_cancels_hits_in_the_same_clause_only() -> None:
    rules = [Rule("sample", "todo", ("样品",), exclude=("展厅", "样品间"))]
    engine = KeywordEngine(rules, NEGATIONS, WORDS)
    assert engine.scan("样品放在展厅里") == []
    assert engine.scan("我们参观了样品间") == []  # the exclude phrase covers the keyword
    assert engine.scan("样品放在展厅里，另外再寄两份样品") == [Hit("sample", "样品", 14, 16)]
    assert engine.scan("麻烦寄两份样品") == [Hit("sample", "样品", 5, 7)]


def test_exclude_is_per_rule() -> None:
    rules = [
        Rule("price_cut", "risk", ("便宜",), exclude=("便宜点就行",)),
        Rule("cheap_any", "todo", ("便宜",)),
    ]
    engine = KeywordEngine(rules, NEGATIONS, WORDS)
    assert engine.rules_fired("能便宜点就行") == ["cheap_any"]
    assert engine.rules_fired("能不能便宜一些") == ["cheap_any", "price_cut"]


def test_engines_with_different_rules_coexist() -> None:
    """Each engine segments with its own words: 友商 is a word for one engine only."""
    competitor = KeywordEngine([Rule("competitor", "risk", ("友商",))], NEGATIONS, WORDS)
    press = KeywordEngine([Rule("press", "todo", ("商报",))], NEGATIONS, WORDS)
    text = "友商报的价比你们低"
    assert competitor.rules_fired(text) == ["competitor"]
    assert press.rules_fired(text) == ["press"]
    assert competitor.rules_fired(text) == ["competitor"]


def test_rebuild_is_cheap_and_base_dictionary_is_shared(engine: KeywordEngine) -> None:
    assert lexicon.dictionary_parts() is lexicon.dictionary_parts()
    t0 = time.perf_counter()
    rebuilt = KeywordEngine([*RULES, Rule("warranty", "todo", ("延保", "质保期"))], NEGATIONS, WORDS)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, elapsed
    assert rebuilt.rules_fired("质保期能延长吗") == ["warranty"]
    assert engine.rules_fired("质保期能延长吗") == []


def test_empty_inputs(engine: KeywordEngine) -> None:
    assert engine.scan("") == []
    assert engine.scan("，。 ") == []
    assert KeywordEngine([], NEGATIONS, WORDS).scan("样品") == []
    assert reference_scan([], NEGATIONS, "样品，不用", WORDS) == []
    assert KeywordEngine([Rule("blank", "todo", ("", " "))], []).scan("样品") == []


def test_rules_test_report_one_dict_per_line(engine: KeywordEngine) -> None:
    lines = ["把报价单发我邮箱\n", "好的\n", "再不降价我们就换一家了"]
    report = list(rules_test_report(engine, lines))
    assert [d["text"] for d in report] == ["把报价单发我邮箱", "好的", "再不降价我们就换一家了"]
    assert report[0] == {
        "text": "把报价单发我邮箱",
        "rules": ["quote_request"],
        "hits": [{"rule": "quote_request", "keyword": "报价单", "start": 1, "end": 4}],
    }
    assert report[1]["rules"] == [] and report[1]["hits"] == []
    assert report[2]["rules"] == ["churn", "price_cut"]
    json.dumps(report, ensure_ascii=False)


NEUTRAL = ["好的", "收到", "谢谢", "不好意思", "没关系", "明天上午开会", "合同已经盖章", "3.5折", "A4纸", "iPhone15"]
SEPARATORS = ["", "，", "。", " ", "！", "、", "“", "”", "\n", "~"]


def generated_lines(n: int, seed: int) -> list[str]:
    """Chat-like lines mixing labelled sentences, our probes and fillers with varied punctuation."""
    rng = random.Random(seed)
    pool = [text for text, _ in load_public() + load_public("keyword_eval_public2.jsonl")]
    pool += [t for t, _ in WHOLE_WORD + NEGATION + CONDITIONAL + CLAUSES + SENSES]
    lines = []
    for _ in range(n):
        parts = [rng.choice(pool if rng.random() < 0.5 else NEUTRAL) for _ in range(rng.randint(1, 4))]
        lines.append("".join(part + rng.choice(SEPARATORS) for part in parts))
    return lines


def test_engine_equals_reference_scan_on_generated_lines(engine: KeywordEngine) -> None:
    lines = generated_lines(400, seed=7)
    mismatches = [line for line in lines if engine.scan(line) != reference_scan(RULES, NEGATIONS, line, WORDS)]
    assert mismatches == []
    assert sum(1 for line in lines if engine.scan(line)) > 100


def test_engine_equals_reference_with_latin_and_exclude_rules() -> None:
    rules = [
        Rule("device", "todo", ("iPhone", "A4", "样品间")),
        Rule("sample", "todo", ("样品", "样机"), exclude=("展厅",)),
    ]
    engine = KeywordEngine(rules, NEGATIONS, WORDS)
    lines = generated_lines(200, seed=11) + ["iPhone15样品", "A4纸样品间", "BA4 样品在展厅", "样品间iPhone"]
    assert [engine.scan(line) for line in lines] == [reference_scan(rules, NEGATIONS, line, WORDS) for line in lines]


def test_segment_cache_is_bounded_and_changes_no_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeated stretches are segmented once; a full cache is emptied, and hits never change."""
    monkeypatch.setattr(mentions, "SEGMENT_CACHE_SIZE", 3)
    monkeypatch.setattr(keywords, "CLAUSE_CACHE_SIZE", 3)
    engine = KeywordEngine(RULES, NEGATIONS, WORDS)
    lines = generated_lines(300, seed=13)
    expected = [reference_scan(RULES, NEGATIONS, line, WORDS) for line in lines]
    assert [engine.scan(line) for line in lines] == expected  # cold, constantly evicted
    assert len(engine._finder._segments) <= 3 and len(engine._clause_hits) <= 3
    assert [engine.scan(line) for line in lines] == expected  # again, from whatever is cached
    assert engine.scan("友商报的价比你们低") == engine.scan("友商报的价比你们低") == [Hit("competitor", "友商", 0, 2)]


def test_a_fresh_process_scans_a_line_without_loading_the_whole_dictionary(tmp_path: Path) -> None:
    """Start-up of `rules test`: once the partitioned dictionary cache exists, a new process loads the
    parts of the characters it meets, never jieba's 500 000-word dictionary."""
    import subprocess
    import sys

    lexicon.dictionary_parts()  # makes sure the cache file exists
    script = (
        "import time\n"
        "from handlers.keywords import KeywordEngine, lexicon\n"
        "from tests.handlers.test_keywords import RULES, NEGATIONS, WORDS\n"
        "t = time.process_time()\n"
        "hits = KeywordEngine(RULES, NEGATIONS, WORDS).rules_fired('友商便宜，样品不用寄了')\n"
        "print(hits, lexicon._base is None, time.process_time() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert out[:3] == ["['competitor',", "'price_cut']", "True"]
    assert float(out[-1]) < 1.5, out  # CPU seconds; loading the full dictionary alone costs about that
