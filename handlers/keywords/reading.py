"""Reading a keyword mention in its sentence: negations, conditions, questions, dismissals, other senses.

The engine finds whole-word mentions; this module decides, from the tokens of the mention's clause
and of the clause after it, whether the customer means the thing. Every decision carries a reason
in Chinese for `salesbot rules test --explain`.

The grammar markers below are fixed Chinese grammar; the word lists an admin may tune (negations,
dismissals, neutral words, sense cues) come from `[scan]` in the config.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# A negation after one of these (with no consequence marker in between) is part of a condition.
CONDITION_OPENERS = frozenset(
    {"如果", "要是", "假如", "假设", "假若", "若", "若是", "倘若", "如若", "万一", "一旦", "只要", "除非"}
)
# A negation followed by one of these in the same clause is the condition of a demand.
CONDITION_CLOSERS = frozenset({"就", "的话", "否则", "不然", "那么"})
# A clause after a negated mention that opens with or holds one of these makes the negation a
# condition across the comma (没有折扣，我们就不续了).
CONSEQUENCE_MARKERS = frozenset({"就", "才", "那就", "否则", "不然", "那么", "只能", "只好", "只有", "没法", "无法", "很难"})
# "没 + 看过/用过…" after a keyword: the customer never dealt with it (友商的方案我们没看过).
EXPERIENCE_NEGATIONS = frozenset({"没", "没有", "从没", "从来没", "从未", "未曾"})
EXPERIENCE_SUFFIX = "过"
# 就 followed by one of these is "that's it", not a consequence (暂时没有考虑别家，就这样吧).
NOT_CONSEQUENCE_AFTER = frozenset({"这样", "这么", "好", "行", "可以", "先", "算了"})
# "再不降价…": 再 right before the negation makes it conditional.
CONDITION_PREFIX = "再"
# Tokens allowed between a negation and the keyword it negates, before and after the keyword.
MAX_NEGATION_GAP = 3
MAX_AFTER_GAP = 4
# Words that may open the next clause before a dismissal that reaches back (价格表收到了，先不用发了).
LEAD_WORDS = frozenset({"先", "就", "也", "都", "那", "那就", "就先", "暂时", "目前", "还是", "这个", "那个", "这边", "我们", "我"})
# A clause ending in one of these, or followed by a question mark, is a question.
QUESTION_ENDINGS = ("吗", "么", "嘛", "呢")
QUESTION_MARKS = frozenset("？?")
RHETORICAL_OPENERS = ("难道",)


@dataclass(frozen=True, slots=True)
class Clause:
    """A clause's tokens and offsets into the whole text, and the delimiter that ends it ('' at the end)."""

    words: Sequence[str]
    starts: Sequence[int]
    text: str
    delimiter: str

    @property
    def is_question(self) -> bool:
        body = self.text.rstrip("了的啊呀哦")
        return (
            self.delimiter in QUESTION_MARKS
            or body.endswith(QUESTION_ENDINGS)
            or any(self.text.startswith(o) or o in self.words for o in RHETORICAL_OPENERS)
        )


@dataclass(frozen=True, slots=True)
class Negation:
    first: int
    last: int
    phrase: str
    forward: bool  # negates what follows (不, 没有, 不打算)
    backward: bool  # also cancels a keyword before it (不用, 算了)
    conditional: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a mention fires, why (in Chinese), and the word that decided (a negation or cue)."""

    fired: bool
    reason: str
    word: str = ""


class Reader:
    """Reads mentions with one engine's word lists; stateless after construction."""

    def __init__(
        self,
        forward: frozenset[str],
        backward: frozenset[str],
        neutral: frozenset[str],
        senses: dict[str, tuple[str, ...]],
        event_verbs: frozenset[str] = frozenset(),
    ) -> None:
        self.event_verbs = event_verbs
        # A dismissal that starts with a negation also negates what follows (没打算 / 没考虑过 + 解约).
        self.forward = forward | {p for p in backward if any(p.startswith(f) for f in forward)}
        self.backward = backward
        self.neutral = neutral
        self.senses = senses
        index: dict[str, list[str]] = {}
        for word in sorted(forward | backward | neutral, key=lambda w: (-len(w), w)):
            index.setdefault(word[0], []).append(word)
        self.index = {ch: tuple(ws) for ch, ws in index.items()}

    def negations(self, clause: Clause) -> list[Negation]:
        """The clause's negation phrases made of whole tokens; neutral words and A-not-A removed."""
        words, starts = clause.words, clause.starts
        ends = {st + len(w): i for i, (w, st) in enumerate(zip(words, starts, strict=True))}
        found: list[Negation] = []
        i = 0
        base = starts[0] if starts else 0
        while i < len(words):
            phrases = self.index.get(words[i][0])
            match = None
            if phrases is not None:
                offset = starts[i] - base
                for phrase in phrases:
                    if not clause.text.startswith(phrase, offset):
                        continue
                    last = ends.get(starts[i] + len(phrase))
                    if last is None and phrase in self.neutral:  # 不是不想: a neutral word swallows 不想
                        last = bisect_right(starts, starts[i] + len(phrase) - 1) - 1
                    if last is not None:
                        match = phrase, last
                        break
            if match is None:
                i += 1
                continue
            phrase, last = match
            if phrase not in self.neutral and not _is_a_not_a(clause.text, starts[i] - base):
                experienced = (phrase in EXPERIENCE_NEGATIONS and last + 1 < len(words)
                               and words[last + 1].endswith(EXPERIENCE_SUFFIX))
                found.append(
                    Negation(i, last, phrase, phrase in self.forward, phrase in self.backward or experienced,
                             _is_conditional(words, i, last))
                )
            i = last + 1
        return found

    def read(
        self,
        keyword: str,
        first: int,
        last: int,
        clause: Clause,
        following: Callable[[], Clause | None],
        exclude: Sequence[str],
        rule_senses: dict[str, tuple[str, ...]],
        negs: list[Negation] | None = None,
    ) -> Verdict:
        """Decide one mention of `keyword` at tokens first..last of `clause` (`negs`: its negations, if known)."""
        for phrase in exclude:
            if phrase in clause.text:
                return Verdict(False, f"同一小句有排除短语「{phrase}」，不触发", phrase)
        cues = (*self.senses.get(keyword, ()), *rule_senses.get(keyword, ()))
        if cues:
            for cue in cues:
                # a compound counts as its last part: 服务质量 is a 质量, 服务费 is no 服务
                if cue in clause.text and any(w.endswith(cue) for w in clause.words):
                    return Verdict(False, f"同一小句有「{cue}」，这里的「{keyword}」是别的意思，不触发", cue)
        if negs is None:
            negs = self.negations(clause)
        conditions = _condition_spans(clause.words, [n.first for n in negs if n.conditional]
                                      + [i for i, w in enumerate(clause.words) if w in CONDITION_OPENERS])
        kept = ""
        # a clause that is a condition (如果…, or a conditional negation) is not dismissed by its consequence
        in_condition = any(w in CONDITION_OPENERS for w in clause.words)
        for n in reversed(negs):  # the nearest negation before the mention decides
            if not (n.forward and n.last < first and first - n.last - 1 <= MAX_NEGATION_GAP):
                continue
            # a plain negation before an event verb negates the event (还没收到样品); "not wanted"
            # words (不用寄样品) negate the thing whatever the verb
            verb = None if n.backward else next(
                (w for w in clause.words[n.last + 1 : first] if w in self.event_verbs), None)
            if verb is not None:
                kept = f"「{n.phrase}」否定的是动词「{verb}」，不是「{keyword}」，仍触发"
            elif n.conditional:
                kept = f"「{n.phrase}」在条件里（…就/的话），客户是在要求，仍触发"
                in_condition = True
            elif clause.is_question:
                kept = f"「{n.phrase}」在问句里，是在问有没有、要这个东西，仍触发"
            elif self._consequence_follows(following()):
                kept = f"「{n.phrase}」是条件，下一小句说了后果（就…），客户是在要求，仍触发"
                in_condition = True
            else:
                return Verdict(False, f"被前面的否定词「{n.phrase}」否定，不触发", n.phrase)
            break
        for n in negs:
            if not (n.backward and n.first > last and n.first - last - 1 <= MAX_AFTER_GAP) or n.conditional:
                continue
            if any(start <= first < closer < n.first for start, closer in conditions):
                kept = kept or f"后面的「{n.phrase}」只管条件之后的话，不否定条件里的关键词，仍触发"
                continue
            return Verdict(False, f"后面的「{n.phrase}」表示不要了，不触发", n.phrase)
        nxt = following() if self.backward else None
        if nxt is not None and not clause.is_question and not in_condition:
            dismissal = self._leading_dismissal(nxt)
            if dismissal is not None:
                return Verdict(False, f"下一小句的「{dismissal}」表示不要了，不触发", dismissal)
        if kept:
            return Verdict(True, kept)
        after = next((n for n in negs if n.first > last), None)
        if after is not None:
            return Verdict(True, f"「{after.phrase}」否定的是后面的动词，不是「{keyword}」，仍触发", after.phrase)
        return Verdict(True, f"整词提到「{keyword}」，触发")

    def _leading_dismissal(self, clause: Clause) -> str | None:
        """A dismissal opening the clause (after lead words only), reaching back to the clause before."""
        negs = self.negations(clause)
        for n in negs:
            if not n.backward or n.conditional:
                return None
            if all(w in LEAD_WORDS for w in clause.words[: n.first]):
                return n.phrase
            return None
        return None

    @staticmethod
    def _consequence_follows(clause: Clause | None) -> bool:
        if clause is None:
            return False
        words = clause.words
        for i, word in enumerate(words):
            if word in CONSEQUENCE_MARKERS:
                return not (word == "就" and i + 1 < len(words) and words[i + 1] in NOT_CONSEQUENCE_AFTER)
        return False


def _condition_spans(words: Sequence[str], starts: list[int]) -> tuple[tuple[int, int], ...]:
    """(start, closer) token spans of the conditions opening at `starts` and closed in the clause."""
    spans = []
    for start in sorted(starts):
        closer = next((j for j in range(start + 1, len(words)) if words[j] in CONDITION_CLOSERS), None)
        if closer is not None:
            spans.append((start, closer))
    return tuple(spans)


def _is_a_not_a(text: str, pos: int) -> bool:
    """True for the A-not-A question form (能不能, 有没有, 要不要): not a negation."""
    return 0 < pos and pos + 1 < len(text) and text[pos - 1] == text[pos + 1]


def _is_conditional(words: Sequence[str], first: int, last: int) -> bool:
    """True if the negation at tokens first..last is part of a condition in its clause."""
    if first > 0 and words[first - 1] == CONDITION_PREFIX:
        return True
    if any(w in CONDITION_CLOSERS for w in words[last + 1 :]):
        return True
    for word in reversed(words[:first]):
        if word in CONDITION_CLOSERS:
            return False
        if word in CONDITION_OPENERS:
            return True
    return False
