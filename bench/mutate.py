"""Mutation testing of the security- and money-critical code: do the tests notice when a guard goes?

    python bench/mutate.py                       # every module in TARGETS
    python bench/mutate.py --module storage/leases.py --module bot/wecom_crypto.py
    python bench/mutate.py --list                # the table below

Each target is mutated by mutmut (3.x) and checked by only the tests named beside it. A target runs
in its own scratch copy of the project (under $TMPDIR/salesbot-mutate/, never in the work tree), so
targets do not share mutmut's cache and every run starts from scratch. Per mutant, mutmut runs only
those of the target's tests that reached the mutated function, in a forked process with a CPU-time
limit (`--timeout-multiplier` x the tests' clean duration, plus a constant).

Restricting a target to the functions that decide: give `functions` (names, `Class.method` for a
method); only their mutants are run and counted. Files move (issue 10 restructures the code): update
the path, the functions and the tests of an entry here; the rest of the script does not change.

mutmut does not mutate decorated functions (a copy would register a route or a command twice); the
scratch copy therefore turns each decorated top-level function of a target into a plain function
re-wrapped at the end of the module (`f = router.command(...)(f)`), line numbers unchanged.

Prints per target: killed / survived / timeout / no-tests counts, the score (killed + timeout over
mutants tried), and every survivor as `file:line  original  ->  mutant`. Exit status 1 when the total
score is under --fail-under (default 0: report only).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage", "scheduler")


@dataclass(frozen=True)
class Target:
    path: str  # the file to mutate
    tests: tuple[str, ...]  # the tests that guard it (paths or node ids)
    functions: tuple[str, ...] = ()  # only these functions (empty: the whole module)
    why: str = ""


APPROVAL_TESTS = ("tests/approvals/test_approval_flow.py", "tests/approvals/test_guards.py",
                  "tests/approvals/test_decision_race.py")
TODO_TESTS = ("tests/keywords_flow/test_todo_flow.py", "tests/keywords_flow/test_todo_close_race.py",
              "tests/keywords_flow/test_todo_guards.py")
OUTBOX_TESTS = ("tests/foundation/test_outbox.py", "tests/foundation/test_delivery_guards.py",
                "tests/foundation/test_delivery_batches.py")
ESCALATION_TESTS = ("tests/approvals/test_escalation.py", "tests/approvals/test_escalation_guards.py",
                    "tests/approvals/test_escalation_reschedule.py")
RISK_TESTS = ("tests/keywords_flow/test_risk_feedback.py", "tests/keywords_flow/test_risk_flow.py")
# Slow tests (real servers, subprocesses) whose guards faster tests in the same files also pin.
DESELECT = ("tests/wecom/test_callback.py::test_oversized_chunked_body_is_413_on_a_real_server",
            "tests/wecom/test_callback.py::test_concurrent_requests_and_retries_are_each_stored_once")
# Lines whose mutants only change what a log line or an English exception message says: the status
# code, the refusal and the stored state do not depend on them. Chinese replies (Refusal, UsageError)
# are what users read, so those stay mutated.
QUIET_LINES = (r"^\s*log\.\w+\(",
               r"^\s*raise (BadSignature|MalformedRequest|CallbackError|SignatureError|MalformedError|UnsafeXmlError)\(")

# module -> the tests that must kill its mutants. Keep this table up to date when files move.
TARGETS: tuple[Target, ...] = (
    Target("bot/wecom_crypto.py", ("tests/wecom/test_crypto.py", "tests/wecom/test_crypto_guards.py",
                                   "tests/wecom/test_envelope_hardening.py", "tests/wecom/test_callback.py"),
           ("WeComCrypto.verify", "WeComCrypto.decrypt", "WeComCrypto.check_url", "WeComCrypto.open_envelope",
            "_unpad", "parse_xml", "_XmlReader.parse", "_XmlReader._start"),
           "WeCom signature, padding, length and CorpID checks; XML envelope limits and refusals"),
    Target("bot/wecom.py", ("tests/wecom/test_callback.py", "tests/wecom/test_callback_guards.py",
                             "tests/wecom/test_crypto.py"),
           ("callback", "_arg", "_check_fresh"),
           "the callback view: signature first, freshness window, 403 vs 400"),
    Target("bot/dingtalk_sign.py", ("tests/dingtalk/test_sign.py", "tests/dingtalk/test_sign_guards.py",
                                    "tests/dingtalk/test_event_window.py",
                                    "tests/dingtalk/test_events_http.py", "tests/dingtalk/test_events_edge.py",
                                    "tests/dingtalk/test_robot_http.py"),
           ("verify_robot_sign", "robot_sign", "check_event_fresh", "EventCrypto.signature", "EventCrypto.decrypt",
            "_encrypt_field"),
           "robot HMAC + one-hour window; event SHA1 signature, freshness and app key"),
    Target("bot/dingtalk.py", ("tests/dingtalk/test_robot_http.py", "tests/dingtalk/test_events_http.py",
                               "tests/dingtalk/test_sign_guards.py", "tests/dingtalk/test_view_guards.py",
                               "tests/dingtalk/test_robot_replay.py", "tests/dingtalk/test_channel.py"),
           ("robot_view", "events_view", "DingTalkChannel.__init__", "DingTalkChannel._usable_webhook"),
           "the two views' verification; sessionWebhook only on DingTalk's hosts and while valid"),
    Target("storage/signatures.py", ("tests/dingtalk/test_robot_replay.py",
                                     "tests/dingtalk/test_robot_signature_pairs.py"), ("claim_signature",),
           "a robot (timestamp, sign) pair is accepted once: replay refused"),
    Target("bot/card_text.py", ("tests/approvals/test_card_injection.py",),
           ("inert_scheme", "inert_markdown", "inert_card"),
           "quoted customer text cannot become a link, image or markup in a card"),
    Target("bot/inbound_limits.py", ("tests/dingtalk/test_id_lengths.py", "tests/dingtalk/test_review_body_limit.py"),
           ("oversized_field",), "inbound fields longer than their columns are refused, not cut"),
    Target("bot/log_safety.py", ("tests/dingtalk/test_log_injection.py", "tests/dingtalk/test_log_arguments.py"),
           ("escape", "_escape_char", "_escaped_args"),
           "attacker text cannot forge log lines"),
    Target("storage/customers.py", ("tests/foundation/test_name_lookalikes.py", "tests/approvals/test_typed_input.py",
                                    "tests/foundation/test_customer_card.py"),
           ("normal_name", "name_key", "by_name", "claim_silence"),
           "one customer per normalised name; a silence level claimed once"),
    Target("handlers/names.py", ("tests/approvals/test_typed_input.py", "tests/approvals/test_typed_names.py"),
           ("typed_customer_name",),
           "typed customer names: refused when empty, too long or control characters"),
    Target("handlers/commands.py", ("tests/keywords_flow/test_todo_codes.py", "tests/approvals/test_typed_input.py"),
           ("parse_code",), "approval / to-do codes: only the expected prefix and a positive number"),
    Target("handlers/approvals/commands.py", APPROVAL_TESTS,
           ("_decidable", "approve", "reject", "withdraw", "_resubmit"),
           "who may decide, withdraw and resubmit an approval"),
    Target("storage/approvals.py", APPROVAL_TESTS + ESCALATION_TESTS,
           ("decide_step", "close", "current_step", "has_approved", "set_escalation"),
           "conditional UPDATEs behind decisions and escalation levels"),
    Target("handlers/todos.py", TODO_TESTS,
           ("complete_todo", "_why_not_complete", "claim_todo", "_why_not_claim"),
           "who may complete (完成) or claim (认领) a to-do"),
    Target("storage/todos.py", TODO_TESTS + ESCALATION_TESTS, ("close", "claim", "move_escalation"),
           "the to-do close/claim races; an escalation level moved once"),
    Target("handlers/risk_feedback.py", RISK_TESTS, ("_vote", "_event_of", "close_risk"),
           "who may vote on or close (结案) a risk"),
    Target("storage/risks.py", RISK_TESTS, ("vote", "close"), "one vote per person; a risk closed once"),
    Target("storage/queues.py", OUTBOX_TESTS + ("tests/foundation/test_claim_guards.py", "tests/throughput/test_backlog.py",
                                                "tests/foundation/test_review_inbound_claims.py",
                                                "tests/foundation/test_inbound_failure.py"),
           ("claim_outbox", "renew_outbox_claim", "finish_outbox", "claim_inbound", "claim_inbound_rows",
            "_due_inbound_ids", "defer_target"),
           "outbox and inbound claims, leases, renewal and rate-limit deferral"),
    Target("scheduler/delivery.py", OUTBOX_TESTS + ("tests/wecom/test_delivery_guarantees.py",),
           ("deliver_due", "_deliver_one", "_budget_for", "_defer", "_failed", "_give_up"),
           "renewal at half the lease, retry window, permanent vs transient failures, rate limits"),
    Target("storage/directory.py", ("tests/foundation/test_identities.py", "tests/foundation/test_leaver_stays_gone.py"),
           ("sync_users", "_left_elsewhere"), "who is an active member: [[users]] sync; a leaver stays inactive"),
    Target("storage/leases.py", ("tests/foundation/test_scheduler.py", "tests/foundation/test_lease_guards.py"),
           ("acquire",), "one scheduler at a time; take-over only after expiry (release has no caller)"),
    Target("handlers/approvals/escalation.py", ESCALATION_TESTS, ("escalate_waiting_steps", "_escalate_step"),
           "approval-step escalation levels claimed once; dedupe on repeated ticks"),
    Target("handlers/todo_escalation.py", ESCALATION_TESTS,
           ("escalate_overdue_todos", "_escalate_owned", "_escalate_unclaimed"),
           "to-do escalation: one level per check, rescheduling, unclaimed to-dos"),
    Target("handlers/customer_silence.py", ESCALATION_TESTS, ("recycle_silent", "_remind_silent", "_release"),
           "silent customers: reminded once, released to the pool once"),
    Target("handlers/sla.py", ESCALATION_TESTS, ("due_rows",), "each due row handled once per tick"),
    Target("handlers/outbox.py", ESCALATION_TESTS + OUTBOX_TESTS, ("_queue", "_collapse"),
           "the per-recipient dedupe key escalation relies on"),
)


# ------------------------------------------------------------------------------------------ scratch copy


def make_workdir(base: Path, target: Target, args: argparse.Namespace) -> Path:
    """A fresh copy of the project for one target, with mutmut's config and the target desugared."""
    work = base / re.sub(r"[^A-Za-z0-9]+", "_", target.path)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "mutants")
    for name in (*PACKAGES, "tests"):
        shutil.copytree(ROOT / name, work / name, ignore=ignore)
    tests = [t for t in target.tests if (ROOT / t.split("::")[0]).exists()]
    conf = {
        "source_paths": list(PACKAGES), "only_mutate": [target.path],
        "pytest_add_cli_args_test_selection": tests + [a for d in DESELECT for a in ("--deselect", d)],
        "do_not_mutate_patterns": list(QUIET_LINES),
        "pytest_add_cli_args": ["-p", "no:cacheprovider"],
        "timeout_multiplier": args.timeout_multiplier, "timeout_constant": args.timeout_constant,
        "use_git_change_detection": False,
    }
    body = (ROOT / "pyproject.toml").read_text(encoding="utf-8") + "\n[tool.mutmut]\n"
    body += "".join(f"{k} = {json.dumps(v)}\n" for k, v in conf.items())  # JSON scalars and lists are TOML
    (work / "pyproject.toml").write_text(body, encoding="utf-8")
    src = work / target.path
    src.write_text(undecorate(src.read_text(encoding="utf-8")), encoding="utf-8")
    return work


KEEP_DECORATORS = {"staticmethod", "classmethod", "property"}


def undecorate(source: str) -> str:
    """Comment out the decorators of top-level functions and re-apply them at the end of the module.

    `@a @b def f` is `f = a(b(f))`; applying it after the module body (instead of right after the def)
    only changes when the decorator runs, which for our registries (router, scheduled checks) is still
    at import. Line numbers stay as they were."""
    lines = source.splitlines()
    tail: list[str] = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef) or not node.decorator_list:
            continue
        if any(isinstance(d, ast.Name) and d.id in KEEP_DECORATORS for d in node.decorator_list):
            continue
        wrapped = node.name
        for dec in reversed(node.decorator_list):
            wrapped = f"({ast.get_source_segment(source, dec)})({wrapped})"
            for i in range(dec.lineno - 1, dec.end_lineno or dec.lineno):
                lines[i] = "# (mutate.py) " + lines[i]
        tail.append(f"{node.name} = {wrapped}")
    return "\n".join(lines + ["", *tail]) + "\n"


# ------------------------------------------------------------------------------------------ running


def module_of(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def mutant_pattern(target: Target, function: str) -> str:
    cls, _, name = function.rpartition(".")
    mangled = f"xǁ{cls}ǁ{name}" if cls else f"x_{name}"
    return f"{module_of(target.path)}.{mangled}__mutmut_*"


def run_mutmut(work: Path, target: Target, args: argparse.Namespace) -> float:
    env = {k: v for k, v in os.environ.items() if k != "SALESBOT_TEST_DATABASE_URL"}  # SQLite: fast, local
    mutmut = Path(sys.executable).with_name("mutmut")
    cmd = [str(mutmut if mutmut.exists() else "mutmut"), "run", "--max-children", str(args.max_children)]
    cmd += [mutant_pattern(target, f) for f in target.functions]
    started = time.monotonic()
    with open(work / "mutmut.log", "w", encoding="utf-8") as log:
        done = subprocess.run(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = (work / "mutmut.log").read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed on {target.path} (exit {done.returncode}); see {work}/mutmut.log\n{tail}")
    return time.monotonic() - started


@dataclass
class Result:
    target: Target
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    survivors: list[str] = field(default_factory=list)

    @property
    def tried(self) -> int:
        return sum(n for s, n in self.counts.items() if s not in ("not checked", "skipped"))

    @property
    def detected(self) -> int:
        return self.counts.get("killed", 0) + self.counts.get("timeout", 0)


def collect(work: Path, target: Target, seconds: float) -> Result:
    from mutmut.stats import status_by_exit_code

    meta = json.loads((work / "mutants" / (target.path + ".meta")).read_text(encoding="utf-8"))
    patterns = [re.compile(re.escape(mutant_pattern(target, f)).replace(r"\*", ".*") + "$") for f in target.functions]
    result = Result(target, seconds)
    for key, code in sorted(meta["exit_code_by_key"].items(), key=lambda kv: _natural(kv[0])):
        if patterns and not any(p.match(key) for p in patterns):
            continue
        status = status_by_exit_code[code]
        result.counts[status] = result.counts.get(status, 0) + 1
        if status in ("survived", "no tests", "suspicious"):
            result.survivors.append(describe(work, target, key, status))
    return result


def _natural(key: str) -> tuple[str, int]:
    head, _, num = key.rpartition("__mutmut_")
    return head, int(num) if num.isdigit() else 0


def describe(work: Path, target: Target, key: str, status: str) -> str:
    """`path:line  original  ->  mutant` for one mutant, read from mutmut's generated file."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    cwd = os.getcwd()
    os.chdir(work)
    try:
        diff = get_diff_for_mutant(key, path=target.path).splitlines()
    finally:
        os.chdir(cwd)
    removed = [d[1:] for d in diff[2:] if d.startswith("-")]
    added = [d[1:] for d in diff[2:] if d.startswith("+")]
    line = _line_of(target, key, removed[0] if removed else "")
    before = " / ".join(s.strip() for s in removed) or "?"
    after = " / ".join(s.strip() for s in added) or "(removed)"
    tag = "" if status == "survived" else f" [{status}]"
    return f"{target.path}:{line}{tag}  {before}  ->  {after}   ({key.rpartition('.')[2]})"


def _line_of(target: Target, key: str, text: str) -> int | str:
    """The line of `text` inside the mutated function in the original file."""
    source = (ROOT / target.path).read_text(encoding="utf-8")
    mangled = key.rpartition(".")[2].partition("__mutmut_")[0]
    cls, name = (mangled[2:].split("ǁ")[:2] if mangled.startswith("xǁ") else ("", mangled[2:]))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and cls and node.name == cls:
            node = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == name), node)
        if isinstance(node, ast.FunctionDef) and node.name == name:
            lines = source.splitlines()
            for i in range(node.lineno - 1, node.end_lineno or node.lineno):
                if lines[i].strip() == text.strip():
                    return i + 1
            return node.lineno
    return "?"


# ------------------------------------------------------------------------------------------ report


def report(results: list[Result]) -> float:
    print()
    print(f"{'module':<26} {'killed':>6} {'surv':>5} {'t/o':>4} {'none':>5} {'score':>7} {'time':>6} {'unrun':>5}")
    for r in results:
        c = r.counts
        score = 100 * r.detected / r.tried if r.tried else 0.0
        print(f"{r.target.path:<26} {c.get('killed', 0):>6} {c.get('survived', 0):>5} {c.get('timeout', 0):>4} "
              f"{c.get('no tests', 0):>5} {score:>6.1f}% {r.seconds:>5.0f}s {c.get('not checked', 0):>5}")
    tried = sum(r.tried for r in results)
    detected = sum(r.detected for r in results)
    total = 100 * detected / tried if tried else 0.0
    print(f"{'total':<26} {detected:>6} of {tried} mutants killed: {total:.1f}%")
    survivors = [s for r in results for s in r.survivors]
    if survivors:
        print(f"\nsurvivors ({len(survivors)}):")
        for s in survivors:
            print("  " + s)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", default=[],
                        help="a target's path (or a unique part of it); repeatable; default: all")
    parser.add_argument("--list", action="store_true", help="print the module -> tests table and exit")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested in parallel (default 2)")
    parser.add_argument("--timeout-multiplier", type=float, default=3.0,
                        help="per-mutant CPU limit: this x (tests' clean time + constant) x 2 (default 3)")
    parser.add_argument("--timeout-constant", type=float, default=2.0, help="seconds (default 2)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "salesbot-mutate")
    parser.add_argument("--fail-under", type=float, default=0.0, help="exit 1 below this total score (%%)")
    parser.add_argument("--report-only", action="store_true",
                        help="do not run: report the results left in --workdir by earlier runs")
    args = parser.parse_args(argv)

    if args.list:
        for t in TARGETS:
            print(f"{t.path}  [{', '.join(t.functions) or 'whole module'}]\n    {t.why}\n    tests: {' '.join(t.tests)}")
        return 0
    chosen = [t for t in TARGETS if not args.module or any(m == t.path or m in t.path for m in args.module)]
    if not chosen:
        parser.error(f"no target matches {args.module}; see --list")
    results = []
    for target in chosen:
        work = args.workdir / re.sub(r"[^A-Za-z0-9]+", "_", target.path)
        if args.report_only:
            if not (work / "mutants" / (target.path + ".meta")).exists():
                print(f"{target.path}: no earlier run in {work}")
                continue
            results.append(collect(work, target, 0.0))
            continue
        print(f"mutating {target.path} ...", flush=True)
        work = make_workdir(args.workdir, target, args)
        seconds = run_mutmut(work, target, args)
        result = collect(work, target, seconds)
        results.append(result)
        print(f"  {result.detected}/{result.tried} killed in {seconds:.0f}s", flush=True)
    total = report(results)
    return 1 if total < args.fail_under else 0


if __name__ == "__main__":
    sys.exit(main())
