"""A command imports what it runs: `salesbot rules test` starts without the web stack, the database or
the platforms' SDKs (it took 2.2 s of CPU when every plug-in loaded first; about 0.5 s now)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
HEAVY = ("flask", "sqlalchemy", "alembic", "wechatpy", "dingtalk", "dingtalk_stream", "aiohttp", "requests",
         "apscheduler", "jinja2")

SCRIPT = """
import json, sys
from bot.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _run(*argv: str) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, *argv], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_rules_test_loads_neither_the_web_stack_nor_the_database(write_config, tmp_path: Path):
    sample = tmp_path / "sample.txt"
    sample.write_text("客户说友商更便宜\n", encoding="utf-8")
    run = _run("rules", "test", "--config", str(write_config()), str(sample))
    assert run["code"] == 0
    assert [m for m in HEAVY if m in run["loaded"]] == []
    assert "jieba" in run["loaded"]  # it did scan


def test_help_still_lists_every_plug_in_command(tmp_path: Path):
    out = subprocess.run([sys.executable, "-m", "bot.cli", "--help"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    for command in ("archive", "dingtalk-stream", "rules", "console", "demo", "outbox", "leads", "org", "report"):
        assert f"    {command} " in out or f"    {command}\n" in out, command


def test_the_app_factory_is_still_bot_create_app(tmp_path: Path):
    """gunicorn 'bot:create_app()': the package's create_app loads the app when called."""
    script = "import sys, bot; print('flask' in sys.modules); app = bot.create_app(); print(type(app).__name__)"
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "Flask"]
