"""Config loading: defaults, environment overrides, and refusals that name file, key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import DEFAULT_SOURCE, ConfigError, load_settings

GOOD_WECOM = 'corp_id = "ww1"\nsecret = "s"\ntoken = "t"\nencoding_aes_key = "' + "a" * 43 + '"\n'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    return [str(p) for p in info.value.problems]


def test_embedded_default_when_no_file(tmp_path: Path):
    settings = load_settings(environ={}, cwd=tmp_path)
    assert settings.source == DEFAULT_SOURCE
    assert settings.database.url == "sqlite:///salesbot.db"
    assert not settings.wecom.enabled and not settings.dingtalk.enabled
    assert {r.name for r in settings.rules} >= {"competitor", "price_cut", "churn"}


def test_lookup_order_env_then_local_file(tmp_path: Path):
    (tmp_path / "config.toml").write_text('[server]\nport = 9001\n', encoding="utf-8")
    assert load_settings(environ={}, cwd=tmp_path).server.port == 9001
    other = tmp_path / "other.toml"
    other.write_text('[server]\nport = 9002\n', encoding="utf-8")
    assert load_settings(environ={"SALESBOT_CONFIG": str(other)}, cwd=tmp_path).server.port == 9002


def test_environment_overrides_any_key(tmp_path: Path):
    path = _write(tmp_path, "[wecom]\n" + GOOD_WECOM)
    env = {"SALESBOT_WECOM__SECRET": "from-env", "SALESBOT_SERVER__MAX_BODY_BYTES": "2048",
           "SALESBOT_DINGTALK__TIMEOUT_SECONDS": "2.5"}
    settings = load_settings(path, environ=env)
    assert settings.wecom.secret == "from-env"
    assert settings.server.max_body_bytes == 2048
    assert settings.dingtalk.timeout_seconds == 2.5


def test_settings_are_frozen():
    settings = load_settings(environ={}, cwd=Path("/nonexistent"))
    with pytest.raises(AttributeError):
        settings.server.port = 1  # type: ignore[misc]


def test_toml_syntax_error_names_the_line(tmp_path: Path):
    path = _write(tmp_path, '[server]\nport = 8000\npublic_url = "http://x\n')
    [problem] = _problems(path)
    assert str(path) in problem and "line 3" in problem


def test_aes_key_must_be_43_characters(tmp_path: Path):
    path = _write(tmp_path, '[wecom]\ncorp_id = "ww1"\nsecret = "s"\ntoken = "t"\nencoding_aes_key = "short"\n')
    assert _problems(path) == [f"{path}: wecom.encoding_aes_key: 必须正好 43 个字符，现在是 5 个"]


def test_unknown_rule_kind(tmp_path: Path):
    path = _write(tmp_path, '[[rules]]\nname = "x"\nkind = "alarm"\nkeywords = ["a"]\n')
    assert _problems(path) == [f"{path}: rules[1] (x).kind: 只能是 risk、todo 或 change，现在是 'alarm'"]


def test_manager_must_exist_and_ids_be_unique(tmp_path: Path):
    path = _write(tmp_path, '[[users]]\nid = "a"\nname = "A"\nmanager = "ghost"\n'
                            '[[users]]\nid = "a"\nname = "A2"\n')
    problems = _problems(path)
    assert f"{path}: users[2] (a).id: 用户 id 'a' 重复（第一次出现在 users[1] (a)）" in problems
    assert f"{path}: users[1] (a).manager: 上级 'ghost' 不存在：[[users]] 里没有这个 id" in problems


def test_every_problem_is_reported_at_once(tmp_path: Path):
    path = _write(tmp_path, '[server]\nmax_body_bytes = "lots"\nprot = 1\n[database]\nurl = "mysql://x"\n')
    problems = _problems(path)
    assert len(problems) == 3
    assert any("server.prot: 没有这个键，是不是 'port'？" in p for p in problems)
    assert any("database.url" in p for p in problems)


def test_unresolvable_approver_is_caught(tmp_path: Path):
    path = _write(tmp_path, '[[users]]\nid = "a"\nname = "A"\n'
                            '[[approvals]]\nkind = "quote"\nsteps = [{ approver = "role:legal" }]\n')
    assert _problems(path) == [f"{path}: approvals[1] (quote).steps[1].approver: 没有哪个用户的 role 是 'legal'"]


def test_check_config_command(tmp_path: Path, capsys):
    good = tmp_path / "good.toml"
    good.write_text('[server]\nport = 8001\n', encoding="utf-8")
    assert main(["check-config", str(good)]) == 0
    assert "ok" in capsys.readouterr().out
    bad = _write(tmp_path, '[[rules]]\nname = "x"\nkind = "alarm"\nkeywords = ["a"]\n')
    assert main(["check-config", str(bad)]) == 2
    assert f"{bad}: rules[1] (x).kind" in capsys.readouterr().out
    assert main(["check-config", str(tmp_path / "missing.toml")]) == 2
    assert "文件不存在" in capsys.readouterr().out


def test_example_config_is_valid():
    example = Path(__file__).parents[2] / "config.example.toml"
    settings = load_settings(example, environ={})
    assert settings.users and settings.rules and settings.approvals
