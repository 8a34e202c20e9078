"""The salesbot command behaves like the tools people know: options anywhere, group help, one exit code
for a bad config, times in the configured zone, quiet migrations, no colours in a pipe."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import EXIT_CONFIG, configure_output, main
from bot.config import load_settings
from bot.runtime import open_runtime
from handlers import timefmt

ROOT = Path(__file__).parents[2]


@pytest.fixture
def restore_zone() -> Iterator[None]:
    yield
    timefmt.use_zone(timefmt.DEFAULT_ZONE)


def _bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text('[[rules]]\nname = "x"\nkind = "riks"\nkeywords = ["a"]\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("argv", [
    ["--config", "{bad}", "tick"], ["tick", "--config", "{bad}"], ["check-config", "{bad}"],
    ["--config", "{bad}", "check-config"], ["db", "upgrade", "--config", "{bad}"], ["--config", "{bad}", "demo"],
    ["rules", "test", "-", "--config", "{bad}"], ["console", "--config", "{bad}"],
])
def test_an_invalid_config_is_one_exit_code_in_every_command_wherever_config_is_given(tmp_path: Path, capsys,
                                                                                       argv: list[str]):
    bad = _bad(tmp_path)
    assert main([a.replace("{bad}", str(bad)) for a in argv]) == EXIT_CONFIG == 2
    captured = capsys.readouterr()
    assert f"{bad}: rules[1] (x).kind: 只能是 risk、todo 或 change，现在是 'riks'" in captured.out + captured.err


def test_config_before_the_subcommand_is_used(write_config, capsys):
    path = write_config('timezone = "UTC"\n')  # lands in the fixture's [server] table
    assert main(["--config", str(path), "tick", "--at", "2026-11-22T09:00:00"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["at"] == "2026-11-22T09:00:00+00:00"


@pytest.mark.parametrize(("group", "action"), [("db", "upgrade"), ("rules", "test"), ("archive", "import")])
def test_a_command_group_alone_prints_its_own_help(group: str, action: str, capsys):
    assert main([group]) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"usage: salesbot {group} ") and action in out
    assert "serve" not in out  # not the top-level help


def test_tick_at_without_a_zone_is_the_configured_zone(tmp_path: Path, write_config, capsys, restore_zone):
    default = write_config()
    assert main(["tick", "--config", str(default), "--at", "2026-11-22T09:00:00"]) == 0
    assert '"at": "2026-11-22T09:00:00+08:00"' in capsys.readouterr().out  # Asia/Shanghai by default
    text = default.read_text(encoding="utf-8").replace("[server]\n", '[server]\ntimezone = "Europe/Berlin"\n', 1)
    berlin = tmp_path / "berlin.toml"
    berlin.write_text(text, encoding="utf-8")
    assert main(["tick", "--config", str(berlin), "--at", "2026-11-22T09:00:00"]) == 0
    assert '"at": "2026-11-22T09:00:00+01:00"' in capsys.readouterr().out
    assert main(["tick", "--config", str(berlin), "--at", "2026-11-22T09:00:00+08:00"]) == 0  # a zone given wins
    assert '"at": "2026-11-22T09:00:00+08:00"' in capsys.readouterr().out


def test_times_people_read_are_in_the_configured_zone(tmp_path: Path, write_config, restore_zone):
    at = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)
    assert timefmt.local_time(at) == "11-22 09:30"  # Asia/Shanghai unless configured otherwise
    text = write_config().read_text(encoding="utf-8").replace("[server]\n", '[server]\ntimezone = "Asia/Tokyo"\n', 1)
    path = tmp_path / "tokyo.toml"
    path.write_text(text, encoding="utf-8")
    with open_runtime(load_settings(path, environ={})):
        assert timefmt.local_time(at) == "11-22 10:30"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESBOT_")}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT)}, timeout=120, check=False)


def test_migration_steps_are_logged_only_with_verbose(tmp_path: Path):
    quiet = _run("db", "upgrade", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "alembic" not in quiet.stderr and "Running upgrade" not in quiet.stderr
    (tmp_path / "salesbot.db").unlink()
    loud = _run("-v", "db", "upgrade", cwd=tmp_path)
    assert loud.returncode == 0 and "Running upgrade  -> 0001" in loud.stderr
    assert "\x1b[" not in quiet.stdout + quiet.stderr + loud.stdout + loud.stderr


def test_no_ansi_colours_when_stderr_is_not_a_terminal(monkeypatch):
    import werkzeug.serving

    monkeypatch.setattr(werkzeug.serving, "_log_add_style", True)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a pipe or a file: not a terminal
    configure_output(0)
    assert werkzeug.serving._log_add_style is False
    assert werkzeug.serving._ansi_style("200", "bold") == "200"
