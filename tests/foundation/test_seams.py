"""The seams of STYLE.md, checked on the code itself.

handlers/, storage/ and scheduler/ never load flask, wechatpy or dingtalk; and the project's own
imports only look down (storage < handlers < scheduler < bot), with no cycle between modules — not
even one closed by an import inside a function or by importing a module named in a string.
"""

from __future__ import annotations

import argparse
import ast
import pkgutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
FORBIDDEN = ("flask", "werkzeug", "wechatpy", "dingtalk", "dingtalk_stream", "requests")
LAYERS = ("storage", "handlers", "scheduler", "bot")  # each may import only itself and those before it


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


# ------------------------------------------------------------------------------------ the import graph


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    deferred: bool  # inside a function (or a class body): runs later than the module's own imports


def project_sources() -> dict[str, str]:
    """module name -> source of every module under the four packages (migrations excluded)."""
    sources = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            sources[name] = path.read_text(encoding="utf-8")
    return sources


def _resolve(name: str, modules: Mapping[str, str]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(tree: ast.AST, deferred: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement, with whether it sits inside a function or class (TYPE_CHECKING counts)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, deferred
        inner = deferred or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
        yield from _imports(node, inner)


def import_edges(sources: Mapping[str, str]) -> list[Edge]:
    """The project's own imports as edges between its modules."""
    edges = []
    for module, source in sources.items():
        for node, deferred in _imports(ast.parse(source)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif node.level == 0 and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue  # relative imports: the project has none
            for name in names:
                target = _resolve(name, sources)
                if target is not None and target != module:
                    edges.append(Edge(module, target, node.lineno, deferred))
    return edges


def upward_imports(edges: list[Edge]) -> list[str]:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    return [f"{e.source}:{e.line} imports {e.target}" for e in edges
            if rank[e.target.split(".")[0]] > rank[e.source.split(".")[0]]]


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def dynamic_imports(sources: Mapping[str, str]) -> dict[str, list[int]]:
    """Modules that import by a computed name (importlib.import_module, __import__), with the lines."""
    found: dict[str, list[int]] = {}
    for module, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                if name in ("import_module", "__import__"):
                    found.setdefault(module, []).append(node.lineno)
    return found


def test_imports_only_look_down():
    """storage imports nothing above it, handlers nothing from scheduler, and none of them imports bot."""
    assert upward_imports(import_edges(project_sources())) == []


def test_no_import_cycle_between_modules():
    assert cycles(import_edges(project_sources())) == []


def test_no_import_inside_a_function_closes_a_cycle():
    """A deferred import may save start-up time, but never hide a cycle: without it the graph is the same."""
    edges = import_edges(project_sources())
    hiding = [f"{e.source}:{e.line} imports {e.target}" for e in edges if e.deferred
              and any(e.source in c and e.target in c for c in cycles(edges))]
    assert hiding == []


def test_nothing_imports_a_module_by_a_computed_name():
    """Registration is explicit: a module named in a string is invisible to mypy and to the graph above."""
    assert dynamic_imports(project_sources()) == {}


def test_every_cli_plug_in_module_is_registered():
    """bot.cli lists each plug-in module with the commands it adds (imported when one of them runs): one
    left out has no commands, and a command missing from its entry would never load."""
    from bot import cli
    from bot.cli_common import sub_command

    defining = {m for m, source in project_sources().items()
                if any(isinstance(n, ast.FunctionDef) and n.name == "add_commands" for n in ast.parse(source).body)}
    assert {p.load().__module__ for p in cli.PLUGIN_COMMANDS} == defining
    for plug_in in cli.PLUGIN_COMMANDS:
        sub = argparse.ArgumentParser().add_subparsers()
        plug_in.load()(sub, sub_command)
        assert set(sub.choices) == set(plug_in.commands), plug_in.load().__module__
    assert "bot.cli" not in {e.target for e in import_edges(project_sources())}, "plug-ins import bot.cli_common"


def test_the_checks_see_what_they_are_meant_to_catch():
    """The graph checks fail on an edge importing upwards, a cycle, and a cycle hidden in a function."""
    sources = project_sources()
    upward = dict(sources)
    upward["handlers.context"] += "\nfrom bot.config import Settings\n"
    assert "handlers.context:" in " ".join(upward_imports(import_edges(upward)))
    cyclic = dict(sources)
    cyclic["handlers.commands"] += "\n\ndef _later():\n    from handlers import todos\n"
    edges = import_edges(cyclic)
    assert any({"handlers.commands", "handlers.todos"} <= set(c) for c in cycles(edges))
    assert any(e.deferred and e.source == "handlers.commands" and e.target == "handlers.todos" for e in edges)
    dynamic = dict(sources)
    dynamic["handlers.pipeline"] += "\nimport importlib\nimportlib.import_module('handlers.risk')\n"
    assert "handlers.pipeline" in dynamic_imports(dynamic)


# ------------------------------------------------------------------------------------ registration


def _registers_something(source: str) -> bool:
    """Whether a module registers a command (@router.command) or a platform event handler (@on_event)."""
    return any(isinstance(node, ast.Call) and ast.unparse(node.func).endswith(("router.command", "on_event"))
               for node in ast.walk(ast.parse(source)))


def test_every_module_that_registers_handlers_is_in_the_registry():
    """Forgetting a module in handlers/registry.py would make its commands silently never exist."""
    from handlers import registry

    registering = {m for m, s in project_sources().items() if m.startswith("handlers.") and _registers_something(s)}
    registering -= {"handlers.commands"}  # the router's own 帮助
    listed = {m.__name__ for m in registry.HANDLER_MODULES}
    assert registering == listed


# ------------------------------------------------------------------------------------ rules beside their domain


def test_no_module_borrows_another_modules_private_helpers():
    """A name starting with _ is its module's own; needing it elsewhere means it belongs lower down."""
    borrowed = []
    for module, source in project_sources().items():
        for node, _ in _imports(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LAYERS:
                borrowed += [f"{module}:{node.lineno} {node.module}.{a.name}" for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__")]
    assert borrowed == []


def test_the_scheduler_runs_escalation_rules_it_does_not_own():
    """scheduler/escalation.py calls the domain's rules; the queries live in storage, the rules in handlers."""
    edges = [e for e in import_edges(project_sources()) if e.source == "scheduler.escalation"]
    tree = ast.parse((ROOT / "scheduler" / "escalation.py").read_text(encoding="utf-8"))
    third_party = {n.module or "" for n, _ in _imports(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n, _ in _imports(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not [m for m in third_party if m.split(".")[0] == "sqlalchemy"]
    assert not [e.target for e in edges if e.target.startswith("storage.")]
