"""check-config catches approval chains that can never work, and accepts the documented one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from tests.approvals.conftest import CHAIN_TOML


def chain(steps: str, sla: str = "24") -> str:
    return f'\n[[approvals]]\nkind = "quote"\nsla_hours = {sla}\nsteps = [\n{steps}\n]\n'


def test_the_documented_chain_passes(write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(write_config(CHAIN_TOML))]) == 0
    assert "2 approval chains" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("steps", "sla", "problem"),
    [
        ('{ approver = "manager:3" }', "24", "steps[1].approver: [[users]] 里没有人有 3 级上级，'manager:3' 永远找不到审批人"),
        ('{ approver = "manager:2" }, { approver = "manager" }', "24", "steps[2].approver: 'manager' 排在 manager:2 之后；审批流里上级的级别必须逐步升高"),
        ('{ approver = "manager" }, { approver = "manager" }', "24", "steps[2].approver: 'manager' 已经是 steps[1] 的审批人"),
        ('{ approver = "user:zhaoliu" }, { approver = "user:zhaoliu", min_amount = 1 }', "24", "'user:zhaoliu' 已经是 steps[1] 的审批人"),
        ('{ approver = "manager", min_amount = 500000, max_amount = 100000 }', "24", "steps[1].min_amount: 比 max_amount 还大（500000 > 100000）"),
        ('{ approver = "manager", sla_hours = 0 }', "24", "approvals[1] (quote).steps[1].sla_hours: 不能小于 1，现在是 0"),
        ('{ approver = "manager" }', "0", "approvals[1] (quote).sla_hours: 不能小于 1，现在是 0"),
        ('{ approver = "role:legal" }', "24", "没有哪个用户的 role 是 'legal'"),
        ('{ approver = "user:nobody" }', "24", "用户 'nobody' 不存在"),
        ('{ approver = "boss" }', "24", "不认识的审批人 'boss'"),
    ],
)
def test_broken_chains_are_reported(write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str],
                                    steps: str, sla: str, problem: str) -> None:
    assert main(["check-config", str(write_config(chain(steps, sla)))]) == 2
    assert problem in capsys.readouterr().out


def test_sla_hours_must_be_positive(write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(write_config("[sla]\nunclaimed_hours = 0\n"))]) == 2
    assert "sla.unclaimed_hours: 不能小于 1，现在是 0" in capsys.readouterr().out
