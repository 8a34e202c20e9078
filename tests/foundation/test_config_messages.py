"""Every kind of config mistake gives one Chinese message: the file, the key as written (entries counted
from 1, with the entry's name), and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings

# A small valid file: a three-level org, one rule, a chain that needs two levels of managers.
BASE = '''
[server]
public_url = "https://salesbot.example.com"

[[users]]
id = "zhangsan"
name = "张三"
manager = "lisi"
wecom_userid = "zs"

[[users]]
id = "lisi"
name = "李四"
role = "manager"
manager = "wangwu"

[[users]]
id = "wangwu"
name = "王五"
role = "director"

[[rules]]
name = "competitor"
label = "竞品威胁"
kind = "risk"
keywords = ["友商"]

[[approvals]]
kind = "quote"
steps = [{ approver = "manager" }, { approver = "manager:2", min_amount = 500000 }]

[[approvals]]
kind = "contract"
steps = [{ approver = "manager" }, { approver = "manager:2" }]
'''

RULE = '\n[[rules]]\nname = "sample"\nkind = "todo"\nkeywords = ["样品"]\n'

# (what the admin did: (old, new) replaced in BASE, or text appended) -> the one message, after "<file>: "
CASES = [
    (("[server]", "[sever]"), "sever: 没有这个段，是不是 'server'？"),
    (("[server]", "[server]\nprot = 8000"), "server.prot: 没有这个键，是不是 'port'？"),
    (("[server]", "[server]\nport = \"八千\""), "server.port: 必须是数字，现在是 '八千'"),
    (("[server]", "[server]\nport = true"), "server.port: 必须是数字，现在是布尔值（true/false）"),
    (("[server]", "[server]\nport = 80.5"), "server.port: 必须是整数，现在是 80.5"),
    (("[server]", "[server]\nport = -1"), "server.port: 不能是负数，现在是 -1"),
    (("[server]", "[server]\nhost = [\"a\"]"), "server.host: 必须是字符串（用双引号括起来），现在是数组"),
    (("https://salesbot.example.com", "salesbot.example.com"),
     "server.public_url: 必须以 http:// 或 https:// 开头，现在是 'salesbot.example.com'"),
    (("[server]", "[server]\ntimezone = \"Beijing\""),
     "server.timezone: 不认识的时区 'Beijing'；请写 IANA 时区名，例如 Asia/Shanghai"),
    ('\n[database]\nurl = "mysql://x"\n', "database.url: 必须是 sqlite:// 或 postgresql:// 开头的连接串，现在是 'mysql'"),
    ('\n[wecom]\ncorp_id = "ww1"\nsecret = "s"\ntoken = "t"\nencoding_aes_key = "short"\n',
     "wecom.encoding_aes_key: 必须正好 43 个字符，现在是 5 个"),
    ('\n[wecom]\ncorp_id = "ww1"\nsecret = "s"\n',
     "wecom: 填了 corp_id，还需要填 token 和 encoding_aes_key 才能接收企业微信的回调"),
    ('\n[wecom.archive]\nsdk_path = "/opt/x.so"\n', "wecom.archive: sdk_path 和 private_key_path 必须同时填写"),
    (('manager = "lisi"', 'manager = "lisl"'),
     "users[1] (zhangsan).manager: 上级 'lisl' 不存在：[[users]] 里没有这个 id，是不是 'lisi'？"),
    (('manager = "lisi"', 'manager = "zhangsan"'), "users[1] (zhangsan).manager: 不能是自己的上级"),
    (('role = "director"', 'role = "director"\nmanager = "zhangsan"'),
     "users[1] (zhangsan).manager: 上级关系成环：zhangsan → lisi → wangwu → zhangsan（一个人不能是自己的间接上级）"),
    ('\n[[users]]\nid = "lisi"\nname = "李四（重名）"\n', "users[4] (lisi).id: 用户 id 'lisi' 重复（第一次出现在 users[2] (lisi)）"),
    (('role = "manager"', 'role = "manager"\nwecom_userid = "zs"'), "users[2] (lisi).wecom_userid: 'zs' 已经是用户 'zhangsan' 的 wecom_userid"),
    (('id = "zhangsan"\nname = "张三"', 'name = "张三"'), "users[1].id: 必须填写（用户的唯一标识）"),
    (('role = "manager"', 'role = "manager"\nprefer = "qq"'), "users[2] (lisi).prefer: 只能是 wecom 或 dingtalk，现在是 'qq'"),
    (('kind = "risk"', 'kind = "riks"'), "rules[1] (competitor).kind: 只能是 risk、todo 或 change，现在是 'riks'"),
    (('kind = "risk"', 'kind = "risk"\nseverity = "urgent"'),
     "rules[1] (competitor).severity: 只能是 low、medium 或 high，现在是 'urgent'"),
    (('keywords = ["友商"]', "keywords = [1, 2]"), 'rules[1] (competitor).keywords: 必须是非空字符串组成的数组，例如 ["竞品", "友商"]'),
    (('keywords = ["友商"]', "keywords = []"), "rules[1] (competitor).keywords: 至少要有一个关键词"),
    (('keywords = ["友商"]', 'keywords = ["友商"]\nnotify = ["boss"]'),
     "rules[1] (competitor).notify: 不认识的接收人 'boss'；可以写 owner、manager、director、admin、user:<id> 或 role:<角色>"),
    (('keywords = ["友商"]', 'keywords = ["友商"]\ncolour = "red"'), "rules[1] (competitor).colour: 没有这个键（拼写错误？）"),
    (RULE.replace('name = "sample"\n', ""), "rules[2].name: 必须填写（规则的唯一标识，英文）"),
    (RULE.replace("sample", "competitor"), "rules[2] (competitor).name: 规则名 'competitor' 重复（第一次出现在 rules[1] (competitor)）"),
    (('kind = "contract"', 'kind = "order"'), "approvals[2] (order).kind: 只能是 quote 或 contract，现在是 'order'"),
    (('kind = "contract"', 'kind = "quote"'), "approvals[2] (quote).kind: 'quote' 的审批流前面已经定义过了（每种单据只能有一段）"),
    (('[{ approver = "manager" }, { approver = "manager:2" }]', "[]"),
     'approvals[2] (contract).steps: 必须是非空的步骤数组，例如 steps = [{ approver = "manager" }]'),
    (('[{ approver = "manager" }, { approver = "manager:2" }]', '["manager"]'),
     'approvals[2] (contract).steps[1]: 必须是内联表，例如 { approver = "manager" }'),
    (('{ approver = "manager:2" }]', '{ approver = "manager:3" }]'),
     "approvals[2] (contract).steps[2].approver: [[users]] 里没有人有 3 级上级，'manager:3' 永远找不到审批人"),
    (('{ approver = "manager:2" }]', '{ approver = "user:wangwuu" }]'),
     "approvals[2] (contract).steps[2].approver: 用户 'wangwuu' 不存在：[[users]] 里没有这个 id，是不是 'wangwu'？"),
    (('min_amount = 500000 }', 'min_amount = 500000, max_amount = 100 }'),
     "approvals[1] (quote).steps[2].min_amount: 比 max_amount 还大（500000 > 100）"),
    ("\n[sla]\nsilent_remind_days = 30\nsilent_release_days = 30\n",
     "sla.silent_release_days: 必须大于 silent_remind_days（30），现在是 30"),
    ("\n[delivery]\nmax_attempts = -1\n", "delivery.max_attempts: 不能是负数，现在是 -1"),
    ("\n[scan]\ncooldown_hours = \"soon\"\n", "scan.cooldown_hours: 必须是数字，现在是 'soon'"),
    ("\n[worker]\ntick_second = 5\n", "worker.tick_second: 没有这个键，是不是 'tick_seconds'？"),
]


def _apply(change: str | tuple[str, str]) -> str:
    if isinstance(change, tuple):
        old, new = change
        assert old in BASE
        return BASE.replace(old, new, 1)
    return BASE + change


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    return [str(p) for p in info.value.problems]


def test_the_base_file_is_valid(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(BASE, encoding="utf-8")
    assert len(load_settings(path, environ={}).users) == 3


@pytest.mark.parametrize(("change", "message"), CASES, ids=[c[1].split(":")[0] for c in CASES])
def test_one_chinese_message_per_mistake(tmp_path: Path, change: str | tuple[str, str], message: str):
    path = tmp_path / "config.toml"
    path.write_text(_apply(change), encoding="utf-8")
    assert _problems(path) == [f"{path}: {message}"]


def test_several_mistakes_give_one_message_each_and_check_config_prints_them(tmp_path: Path, capsys):
    text = _apply(('manager = "lisi"', 'manager = "lisl"')).replace('kind = "risk"', 'kind = "riks"')
    path = tmp_path / "config.toml"
    path.write_text(text + "\n[sla]\nunclaimed_hours = 0\n", encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: rules[1] (competitor).kind: 只能是 risk、todo 或 change，现在是 'riks'",
        f"{path}: sla.unclaimed_hours: 不能小于 1，现在是 0",
        f"{path}: users[1] (zhangsan).manager: 上级 'lisl' 不存在：[[users]] 里没有这个 id，是不是 'lisi'？",
    ]


def test_syntax_error_names_the_file_and_line(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text('[server]\nport = 8000\npublic_url = "http://x\n', encoding="utf-8")
    [problem] = _problems(path)
    assert problem.startswith(f"{path}: line 3: TOML 语法错误（")


def test_unreadable_files(tmp_path: Path):
    assert _problems(tmp_path / "missing.toml") == [f"{tmp_path / 'missing.toml'}: file: 文件不存在"]
    gbk = tmp_path / "gbk.toml"
    gbk.write_bytes("# 配置\n".encode("gbk"))
    assert _problems(gbk) == [f"{gbk}: file: 不是 UTF-8 编码的文本，请用 UTF-8 保存"]
