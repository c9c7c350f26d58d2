"""The engine never sees the simulator's hidden truth: no engine module imports it."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import trustflow

ADAPTERS = {"trustflow.cli"}  # the demo command runs the simulator; it is not engine code


def _modules() -> dict[str, Path]:
    root = Path(trustflow.__file__).parent
    found = {"trustflow": root / "__init__.py"}
    for info in pkgutil.walk_packages([str(root)], prefix="trustflow."):
        rel = info.name.removeprefix("trustflow.").replace(".", "/")
        path = root / rel / "__init__.py" if info.ispkg else root / f"{rel}.py"
        found[info.name] = path
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_engine_module_imports_the_simulator() -> None:
    modules = _modules()
    engine = {
        name: path
        for name, path in modules.items()
        if not name.startswith("trustflow.simulate") and name not in ADAPTERS
    }
    assert "trustflow.orders.service" in engine and "trustflow.traffic.plan.service" in engine
    offenders = {
        name: sorted(i for i in _imports(path) if i.startswith("trustflow.simulate"))
        for name, path in engine.items()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_simulator_reads_the_truth() -> None:
    readers = {
        name for name, path in _modules().items() if "trustflow.simulate.truth" in _imports(path)
    }
    assert readers and all(r.startswith("trustflow.simulate") for r in readers)
