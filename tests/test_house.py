"""The house rules the code keeps (DESIGN.md): no import circle (type-only ones included),
no class defined inside a function, sweep.json read only through record.py, and the plan
imported without torch."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "sweeplab"


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.add(full if full in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in modules and m != name}


def test_no_import_circle_not_even_one_for_type_hints():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    circles = []

    def visit(node: str, path: list[str], done: set[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                circles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in done:
                visit(nxt, path + [nxt], done)
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name], done)
    assert circles == []


def test_no_class_is_defined_inside_a_function():
    nested = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                nested += [
                    f"{path.relative_to(SRC)}:{c.lineno} {c.name}"
                    for c in ast.walk(node)
                    if isinstance(c, ast.ClassDef)
                ]
    assert nested == []


def test_sweep_json_is_read_only_through_the_record_module():
    pattern = re.compile(r"meta\.get|meta\[")
    readers = [
        f"{p.relative_to(SRC)}:{n}"
        for p in SRC.rglob("*.py")
        if p.name != "record.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert readers == []


def test_ray_private_names_are_reached_only_in_ray_internals():
    pattern = re.compile(
        r"ray\.\w+(\.\w+)*\._|_internal\b|_private\b|\._local_tuner|ENV_VARS_TO_PROPAGATE|\._ot_"
        r"|_force_on_current_node|_stopped_trials|_supports_buffered_results|\._live_trials"
    )
    reaches = [
        f"{p.relative_to(SRC)}:{n}"
        for p in SRC.rglob("*.py")
        if p.name != "ray_internals.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert reaches == []


def test_the_plan_and_the_readers_import_neither_torch_nor_ray():
    code = (
        "import sys; import sweeplab.plan, sweeplab.record, sweeplab.analysis.load, sweeplab.dashboard.data; "
        "print(sorted(m for m in ('torch', 'ray') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
