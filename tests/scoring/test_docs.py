"""docs/scores.md publishes the rules the code runs: the tables must match rules.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trustflow.scoring import rules
from trustflow.scoring.models import ScoreKind

DOC = Path(__file__).parents[2] / "docs" / "scores.md"
SECTIONS = {
    ScoreKind.PRODUCT: "## Product score",
    ScoreKind.STORE: "## Store experience score",
    ScoreKind.CREATOR: "## Creator reputation score",
}


def _section(heading: str) -> str:
    text = DOC.read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def _percent(cell: str) -> float:
    return float(cell.strip().rstrip("%")) / 100


def _rows(section: str) -> dict[str, list[str]]:
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `(\w+)` \|(.*)\|$", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return rows


@pytest.mark.parametrize("kind", list(SECTIONS))
def test_each_metric_is_published_with_its_dimension_weight_and_floor(kind: ScoreKind) -> None:
    definition = rules.DEFINITIONS[kind]
    rows = _rows(_section(SECTIONS[kind]).split("Category weights")[0])
    assert list(rows) == [m.name for m in definition.metrics]
    for metric in definition.metrics:
        dimension, weight, floor, _ = rows[metric.name]
        assert dimension == metric.dimension
        assert _percent(weight) == pytest.approx(metric.weight)
        assert _percent(floor) == pytest.approx(metric.floor)
    assert sum(m.weight for m in definition.metrics) == pytest.approx(1.0)


def test_category_weights_and_tiers_are_published() -> None:
    store = _section(SECTIONS[ScoreKind.STORE])
    overrides = _rows(store.split("Category weights")[1])
    for weights in rules.CATEGORY_WEIGHTS.values():
        assert {k: _percent(v[0]) for k, v in overrides.items()} == pytest.approx(weights)
        assert sum(weights.values()) == pytest.approx(1.0)
    tiers = _section("## Tiers")
    for tier, lowest in rules.TIERS[:-1]:
        assert f"| {tier.value} | ≥ {lowest:g} |" in tiers
    summary = DOC.read_text()
    for definition in rules.DEFINITIONS.values():
        assert f"{definition.window_days} days" in summary
        assert f"{definition.min_sample} paid orders" in summary
