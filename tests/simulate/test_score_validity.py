"""``bench.score_validity --quick`` runs end to end and prints the keys BENCH.md names."""

from __future__ import annotations

import json

import pytest
from bench import score_validity

KEYS = {
    "spearman_next_bad_review",
    "spearman_next_late",
    "best_raw_next_bad_review",
    "best_raw_next_late",
    "small_spearman_next_bad_review",
    "small_spearman_next_late",
    "small_best_raw_next_bad_review",
    "small_best_raw_next_late",
    "small_shop_gain_next_late",
    "interval_coverage_90",
    "simulate_seconds",
    "peak_rss_mb",
}


def test_the_quick_run_prints_every_key(capsys: pytest.CaptureFixture[str]) -> None:
    score_validity.main(["--quick"])

    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) >= KEYS
    assert 0 <= result["interval_coverage_90"] <= 1
    assert -1 <= result["spearman_next_late"] <= 1
    assert (result["scale"], result["days"], result["split_day"]) == ("small", 20, 10)
