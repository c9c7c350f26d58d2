"""Against the simulator's hidden truth: the store experience score ranks shops like their
true quality, and small shops are ranked better and swing less than plain rates would."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.scoring.conftest import SimWarehouse, simulated_warehouse
from trustflow.simulate import config_for
from trustflow.simulate.score_quality import evaluate

#: Many small shops: more shops than the buyers can keep busy.
MANY_SMALL_SHOPS = replace(
    config_for("small", seed=3, days=40), shops=400, creators=300, buyers=16_000
)


@pytest.fixture(scope="module")
def small_shops_market(tmp_path_factory: pytest.TempPathFactory) -> SimWarehouse:
    return simulated_warehouse(MANY_SMALL_SHOPS, tmp_path_factory.mktemp("small-shops"))


def test_store_score_ranks_shops_with_30_orders_like_their_true_quality(
    sim_warehouse: SimWarehouse,
) -> None:
    quality = evaluate(sim_warehouse.root, sim_warehouse.truth, days=1)
    assert quality.large_shops >= 100
    assert quality.spearman_store_vs_truth >= 0.8


def test_small_shops_are_ranked_better_and_move_less_than_with_raw_rates(
    small_shops_market: SimWarehouse,
) -> None:
    quality = evaluate(small_shops_market.root, small_shops_market.truth, days=7)
    assert quality.small_shops >= 100
    assert quality.small_shop_rank_gain > 0
    assert quality.small_shop_stability_gain > 1.5
