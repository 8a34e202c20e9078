"""handlers/, storage/ and scheduler/ never load flask, wechatpy or dingtalk (STYLE.md's seams)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
FORBIDDEN = ("flask", "werkzeug", "wechatpy", "dingtalk", "dingtalk_stream", "requests")


def _modules(package: str) -> list[str]:
    return [f"{package}.{m.name}" for m in pkgutil.iter_modules([str(ROOT / package)])]


def test_core_packages_do_not_import_the_platform_edge():
    modules = [m for p in ("handlers", "storage", "scheduler") for m in _modules(p)]
    script = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    if m != 'storage.regen_initial': importlib.import_module(m)\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"platform modules leaked into the core: {out.stdout}"
