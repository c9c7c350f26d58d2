"""The newcomer's map in docs/architecture.md names files that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Where each rule lives"


def _map_rows() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]


def test_every_file_the_map_names_exists() -> None:
    rows = _map_rows()[1:]  # the header row apart
    named = [p for row in rows for p in re.findall(r"`([^`]+\.py)`", row)]

    assert len(rows) >= 20 and len(named) >= 30
    missing = [p for p in named if not (ROOT / "src" / "trustflow" / p).is_file()]
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_every_rule_names_a_file_or_the_issue_that_builds_it() -> None:
    for row in _map_rows()[1:]:
        where = row.split("|")[2]
        assert re.search(r"`[^`]+\.py`", where) or re.search(r"issue \d+", where), row
