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
        ('{ approver = "manager:3" }', "24", "nobody has 3 levels of managers"),
        ('{ approver = "manager:2" }, { approver = "manager" }', "24", "manager levels must increase"),
        ('{ approver = "manager" }, { approver = "manager" }', "24", "already decides"),
        ('{ approver = "user:zhaoliu" }, { approver = "user:zhaoliu", min_amount = 1 }', "24", "already decides"),
        ('{ approver = "manager", min_amount = 500000, max_amount = 100000 }', "24", "greater than max_amount"),
        ('{ approver = "manager", sla_hours = 0 }', "24", "steps[0].sla_hours: must be at least 1"),
        ('{ approver = "manager" }', "0", "approvals[0].sla_hours: must be at least 1"),
        ('{ approver = "role:legal" }', "24", "no user has role 'legal'"),
        ('{ approver = "user:nobody" }', "24", "user 'nobody' does not exist"),
        ('{ approver = "boss" }', "24", "unknown approver 'boss'"),
    ],
)
def test_broken_chains_are_reported(write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str],
                                    steps: str, sla: str, problem: str) -> None:
    assert main(["check-config", str(write_config(chain(steps, sla)))]) == 1
    assert problem in capsys.readouterr().out


def test_sla_hours_must_be_positive(write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(write_config("[sla]\nunclaimed_hours = 0\n"))]) == 1
    assert "sla.unclaimed_hours: must be at least 1" in capsys.readouterr().out
