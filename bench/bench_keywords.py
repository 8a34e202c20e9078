"""Benchmark the keyword engine against plain jieba segmentation of every line.

Run from the repository root: ``python bench/bench_keywords.py [--lines N] [--seed S]``.
Generates realistic chat lines (most without any keyword), times ``KeywordEngine.scan`` and
``jieba.lcut`` over all of them, and checks that the engine's hits equal ``reference_scan``'s.
Exits with status 1 if the hits differ or the engine is less than 20x faster.
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jieba

from bot.config import load_settings
from bot.rules_cli import OUTPUT_CHUNK
from handlers.keywords import KeywordEngine, ScanWords, reference_scan, rules_test_json
from handlers.scanning import reading_words

RULES_FILE = Path(__file__).resolve().parents[1] / "tests" / "data" / "keyword_rules.toml"
TARGET_SPEEDUP = 20.0

# Everyday chat with no keyword at all.
NEUTRAL = (
    "好的", "收到", "谢谢", "辛苦了", "没问题", "稍等一下", "我在开会，晚点回你", "明天上午十点电话沟通",
    "合同盖章版已经寄出了", "发票抬头用我们集团的名称", "物流单号发我一下", "安装师傅几点到",
    "设备昨天已经调试完毕", "技术参数我转给工程师看了", "培训安排在周五下午", "会议纪要我整理好了",
    "下周三方便来厂里吗", "我们领导下午在办公室", "这个型号的功率是多大", "交货期大概要多久",
    "图纸我晚上再确认一下", "现场的电压是三百八", "上次的问题已经解决了", "售后电话是哪个",
    "麻烦把资料发到群里", "我们内部先讨论一下", "项目负责人换成了王工", "产线下个月扩建",
    "质量整体还可以", "仓库那边已经收货了", "新来的采购姓李", "周末不用加班吧", "你们几点下班",
    "说明书有电子版吗", "能不能派个工程师过来", "设备噪音有点大", "这周事情比较多",
    "好久不见，最近怎么样", "不好意思刚才在忙", "没关系，不着急", "我们老板对效果很满意",
    "先这样，有事再联系", "检测报告出来了吗", "运输途中有没有保险", "系统昨晚升级了",
)
# Lines that contain a keyword as a substring, but not as a word (they reach the segmenter).
TRAPS = (
    "方案是针对手机行业的", "对手表的防水等级有要求", "同样品牌的我们也在用", "这样机器就不会停机了",
    "本月结算完成后再安排", "国庆大家都告别家人回来上班了", "部分期待已久的功能上线了",
    "这份礼物太贵重了", "价格表现一直很稳定", "这件事你们便宜行事", "这款产品的模样品质都不错",
    "同样机型我们买过", "大部分期间都在出差", "应对手段要提前准备",
)
# Customer messages that mention a keyword: plain, negated, conditional, compound.
KEYWORD = (
    "能不能再便宜一点", "说实话价格太贵了", "有没有打折的活动", "折扣能给到多少", "你们有什么优惠政策",
    "友商报的价比你们低", "别家都给了九折", "竞品上个月来做过演示", "竞争对手已经把样机送来了",
    "我们在考虑换供应商", "合同到期后打算终止合作", "账期能不能放到六十天", "可以月结吗",
    "这批设备能分期吗", "分期付款怎么算", "麻烦寄两份样品过来", "先发一台样机给我们测试",
    "把报价单发我邮箱", "最新的价格表给一份", "这个型号多少钱", "方便的话先报个价",
    "再不降价我们就换一家了", "如果不给折扣这单就黄了", "样品就不用寄了", "我们目前不打算换供应商",
    "暂时没有考虑别家", "折扣就不用了", "价格方面我们不会再砍价了", "要不要考虑分期",
    "付款方式有哪几种", "有没有试用装", "采购部下周会正式询价", "解约的流程走完了",
)
SEPARATORS = ("，", "。", "！", "？", " ", "", "，", "。")


@dataclass(frozen=True)
class BenchRule:
    """Minimal rule object for the engine."""

    name: str
    kind: str
    keywords: tuple[str, ...]
    exclude: tuple[str, ...] = ()


def load_rules(path: Path = RULES_FILE) -> tuple[list[BenchRule], list[str], ScanWords]:
    """Read rules, negations and (through the config reader, with its defaults) the [scan] word lists."""
    with path.open("rb") as fh:
        cfg = tomllib.load(fh)
    rules = [BenchRule(r["name"], r["kind"], tuple(r["keywords"])) for r in cfg["rules"]]
    return rules, list(cfg["scan"]["negations"]), reading_words(load_settings(path, environ={}).scan)


def make_lines(n: int, seed: int, keyword_share: float = 0.10, trap_share: float = 0.03) -> list[str]:
    """Build n chat lines of 1-4 fragments; a share of them gets a keyword or a keyword-like trap."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        parts = [rng.choice(NEUTRAL) for _ in range(rng.choice((1, 1, 2, 3)))]
        roll = rng.random()
        if roll < keyword_share:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(KEYWORD))
        elif roll < keyword_share + trap_share:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(TRAPS))
        line = parts[0]
        for part in parts[1:]:
            line += rng.choice(SEPARATORS) + part
        lines.append(line + rng.choice(("", "", "。", "？", "~")))
    return lines


def best_times(fns: Sequence[Callable[[], object]], repeat: int = 5) -> list[float]:
    """Best wall time of each fn over `repeat` interleaved rounds, garbage collector paused (as timeit)."""
    best = [float("inf")] * len(fns)
    gc.disable()
    try:
        for _ in range(repeat):
            for i, fn in enumerate(fns):
                t0 = time.perf_counter()
                fn()
                best[i] = min(best[i], time.perf_counter() - t0)
    finally:
        gc.enable()
    return best


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a short report; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261102)
    parser.add_argument("--keyword-share", type=float, default=0.10, help="lines with a keyword")
    parser.add_argument("--trap-share", type=float, default=0.03, help="lines with a keyword-like trap")
    args = parser.parse_args(argv)

    rules, negations, words = load_rules()
    lines = make_lines(args.lines, args.seed, args.keyword_share, args.trap_share)
    t0 = time.perf_counter()
    engine = KeywordEngine(rules, negations, words)
    engine.scan("友商")  # the dictionary is loaded on first use
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    KeywordEngine([*rules, BenchRule("extra", "todo", ("安装费", "延保"))], negations, words).scan("延保")
    rebuild = time.perf_counter() - t0
    for line in lines[:200]:  # warm-up of both tokenizers
        engine.scan(line)
        jieba.lcut(line)

    def through_rules_test() -> None:
        """What `salesbot rules test` does per line: scan, one JSON object, written in chunks as cmd_rules_test does."""
        out = io.StringIO()
        chunk: list[str] = []
        for text in rules_test_json(engine, lines):
            chunk.append(text)
            if len(chunk) >= OUTPUT_CHUNK:
                out.write("\n".join(chunk) + "\n")
                chunk.clear()
        out.write("\n".join(chunk) + "\n")

    t_engine, t_jieba, t_cli = best_times(
        [lambda: [engine.scan(line) for line in lines], lambda: [jieba.lcut(line) for line in lines],
         through_rules_test]
    )
    results = [engine.scan(line) for line in lines]
    t0 = time.perf_counter()
    reference = [reference_scan(rules, negations, line, words) for line in lines]
    t_reference = time.perf_counter() - t0
    mismatches = [line for line, hits, ref in zip(lines, results, reference, strict=True) if hits != ref]
    fired = Counter(rule for hits in results for rule in {h.rule for h in hits})
    speedup = t_jieba / t_engine
    cli_speedup = t_jieba / t_cli

    candidates = sum(1 for line in lines if any(kw in line for r in rules for kw in r.keywords))
    print(f"lines: {len(lines)}  containing a keyword substring: {candidates}  with hits: {sum(1 for h in results if h)}")
    print(f"lines fired by rule: {dict(sorted(fired.items()))}")
    print(f"engine build: {build:.2f} s (first, loads jieba)  rebuild with new words: {rebuild * 1000:.0f} ms")
    print(f"engine scan:  {t_engine:.3f} s  ({t_engine / len(lines) * 1e6:.1f} us/line)")
    print(f"jieba.lcut:   {t_jieba:.3f} s  ({t_jieba / len(lines) * 1e6:.1f} us/line)")
    print(f"reference:    {t_reference:.3f} s  (segments every line, one run)")
    print(f"rules test:   {t_cli:.3f} s  ({t_cli / len(lines) * 1e6:.1f} us/line: scan + JSON + print)")
    print(f"speedup:      {speedup:.1f}x  over jieba.lcut  (target >= {TARGET_SPEEDUP:.0f}x)")
    print(f"through rules test: {cli_speedup:.1f}x  over jieba.lcut  (target >= {TARGET_SPEEDUP:.0f}x)")
    print(f"engine == reference_scan on all lines: {not mismatches}")
    for line in mismatches[:5]:
        print("  MISMATCH:", line, engine.scan(line), reference_scan(rules, negations, line, words))
    return 0 if not mismatches and min(speedup, cli_speedup) >= TARGET_SPEEDUP else 1


if __name__ == "__main__":
    sys.exit(main())
