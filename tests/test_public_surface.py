"""Each context says what it offers: what other modules use from a context's ``service``,
``bulk`` and ``rules`` is in that module's ``__all__``, and everything there exists."""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
SURFACES = sorted(
    ".".join(path.relative_to(SRC).with_suffix("").parts)
    for name in ("service", "bulk", "rules", "flows")
    for path in (SRC / "trustflow").glob(f"*/**/{name}.py")
)


def _used_from_outside() -> dict[str, set[str]]:
    used: dict[str, set[str]] = defaultdict(set)
    for path in (SRC / "trustflow").rglob("*.py"):
        here = ".".join(path.relative_to(SRC).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in SURFACES:
                used[node.module].update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    if f"{node.module}.{a.name}" in SURFACES:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and aliases.get(node.value.id, here) != here
            ):
                used[aliases[node.value.id]].add(node.attr)
    return used


USED = _used_from_outside()


@pytest.mark.parametrize("module", SURFACES)
def test_a_context_module_exports_what_others_use_and_nothing_missing(module: str) -> None:
    loaded = importlib.import_module(module)
    exported = set(getattr(loaded, "__all__", ()))

    assert USED[module] <= exported, f"{module}: add to __all__: {USED[module] - exported}"
    assert all(hasattr(loaded, name) for name in exported)
