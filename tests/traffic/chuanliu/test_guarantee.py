"""Promised Chuanliu reward traffic is delivered: the pacer on its own, and a 30-day simulated
marketplace whose ledger, reconciled from the impressions log, lands on the promises."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select, text

from trustflow.config import Settings
from trustflow.db import session_factory, transaction
from trustflow.simulate import Simulation, config_for
from trustflow.simulate.pacing import Pacer, reward_weights
from trustflow.simulate.policies import REWARD_SURFACES, Allocation, ChuanliuPolicy
from trustflow.simulate.runner import fresh_store
from trustflow.traffic.chuanliu import ledger, rules
from trustflow.traffic.chuanliu.ledger import Reconciliation
from trustflow.traffic.chuanliu.models import ChuanliuLedger, PartyKind

#: The simulator's batches: (share of the day's supply served before, the batch's share).
BATCHES = ((0.0, 0.28), (0.28, 0.27), (0.55, 0.45))


# The control law ------------------------------------------------------------------------------


def test_the_law_spreads_what_is_left_over_the_rest_of_the_day() -> None:
    # 100 impressions left, a unit of weight brings 50 in this batch
    first = reward_weights([100.0], [50.0], supply_served=0.0, supply_share=0.25)
    last = reward_weights([100.0], [50.0], supply_served=0.6, supply_share=0.4)

    assert first.tolist() == [0.5]  # a quarter of the day's supply: plan 25 impressions
    assert last.tolist() == [2.0]  # the day's last batch: everything left, 100


def test_the_law_gives_nothing_when_nothing_is_left_or_nothing_can_be_delivered() -> None:
    weights = reward_weights(
        [0.0, -5.0, 10.0, 10.0],
        [50.0, 50.0, 0.0, 1e-6],
        supply_served=0.0,
        supply_share=0.5,
        max_weight=3.0,
    )

    assert weights.tolist() == [0.0, 0.0, 0.0, 3.0]


# The pacer in a world it does not know --------------------------------------------------------


@dataclass
class World:
    """A party's true delivery: ``rate`` × weight × κ impressions per batch (Poisson when
    ``rng`` is given), and κ per batch (0: nothing on offer)."""

    rate: float
    capacity: tuple[float, float, float] = (280.0, 270.0, 450.0)
    rng: np.random.Generator | None = None

    def day(self, pacer: Pacer, promised: float, *, present: bool = True, party: int = 0) -> float:
        promises = np.zeros(pacer.parties)
        promises[party] = promised
        pacer.start_day(promises, promises > 0)
        got_today = 0.0
        for slot, ((served, share), kappa) in enumerate(zip(BATCHES, self.capacity, strict=True)):
            capacity = np.zeros(pacer.parties)
            capacity[party] = kappa if present else 0.0
            weight = pacer.weights(
                slot, supply_served=served, supply_share=share, capacity=capacity
            )
            expected = weight * capacity * self.rate
            got = self.rng.poisson(expected).astype(float) if self.rng else expected
            pacer.record(got)
            got_today += float(got[party])
        return got_today


def test_the_pacer_learns_a_rate_it_was_not_told() -> None:
    pacer = Pacer()
    pacer.add_parties([0])
    world = World(rate=0.3)

    days = [world.day(pacer, 100.0) for _ in range(10)]

    assert days[0] != pytest.approx(100.0, rel=0.05)  # the first guess (rate 1) is far off
    assert days[-3:] == pytest.approx([100.0] * 3, rel=0.01)
    assert sum(days) == pytest.approx(1000.0, rel=0.01)


def test_the_pacer_lands_on_the_promise_through_noise() -> None:
    pacer = Pacer()
    pacer.add_parties([0])
    world = World(rate=0.6, rng=np.random.default_rng(3))

    delivered = sum(world.day(pacer, 200.0) for _ in range(30))

    assert delivered == pytest.approx(30 * 200.0, rel=0.01)


def test_a_shortfall_carries_into_the_next_days_target() -> None:
    pacer = Pacer(lead_days=0.0)
    pacer.add_parties([0])
    world = World(rate=1.0)

    missed = world.day(pacer, 100.0, present=False)
    pacer.start_day([120.0])

    assert missed == 0.0
    assert pacer.balance.tolist() == [100.0]
    assert pacer.target.tolist() == [220.0]


def test_a_finished_promise_gets_no_more_weight_and_an_overshoot_is_given_back() -> None:
    pacer = Pacer()
    pacer.add_parties([0, 0])
    pacer.start_day([50.0, 50.0])
    pacer.weights(0, supply_served=0.0, supply_share=0.5, capacity=[100.0, 100.0])
    pacer.record([60.0, 20.0])  # party 0 got more than its whole day in the first batch

    later = pacer.weights(1, supply_served=0.5, supply_share=0.5, capacity=[100.0, 100.0])
    pacer.record([0.0, 30.0])
    pacer.start_day([50.0, 50.0])

    assert later[0] == 0.0 and later[1] > 0.0
    assert pacer.balance.tolist() == [-10.0, 0.0]
    assert pacer.target.tolist() == [40.0, 50.0]


def test_a_party_without_a_promise_today_gets_nothing_and_keeps_its_balance() -> None:
    pacer = Pacer(lead_days=0.0)
    pacer.add_parties([0])
    World(rate=1.0).day(pacer, 80.0, present=False)

    pacer.start_day([0.0], [False])
    weight = pacer.weights(0, supply_served=0.0, supply_share=0.3, capacity=[300.0])
    pacer.record([0.0])
    pacer.start_day([10.0])

    assert weight.tolist() == [0.0]
    assert pacer.target.tolist() == [90.0]


def test_only_a_party_that_misses_days_is_allowed_a_lead() -> None:
    pacer = Pacer(lead_days=1.0)
    pacer.add_parties([0, 0])
    for _ in range(5):
        pacer.start_day([10.0, 10.0])
        pacer.weights(0, supply_served=0.0, supply_share=1.0, capacity=[100.0, 0.0])
        pacer.record([10.0, 0.0])

    pacer.start_day([10.0, 10.0])

    assert pacer.absence[0] == 0.0 and 0.6 < pacer.absence[1] < 0.7
    assert pacer.target[0] == 10.0  # always present: exactly its promise
    assert pacer.target[1] == pytest.approx(10.0 + 50.0 + 10.0 * pacer.absence[1])


def test_a_batch_is_spread_over_its_steps_by_what_each_can_bring() -> None:
    pacer = Pacer(precision=1.0)  # nothing brought forward: the plan follows supply
    pacer.add_parties([0, 0])
    pacer.start_day([1000.0, 1000.0])

    plan = pacer.open_batch(supply_served=0.0, supply_share=0.5, reachable=[True, False])
    first = pacer.step(0, capacity=[100.0, 0.0], later=[300.0, 0.0])
    pacer.record([125.0, 0.0])
    second = pacer.step(1, capacity=[300.0, 0.0])
    pacer.record([375.0, 0.0])
    pacer.open_batch(supply_served=0.5, supply_share=0.5, reachable=[True, True])
    last = pacer.step(2, capacity=[100.0, 100.0])

    assert plan.tolist() == [500.0, 0.0]  # half the day's supply; nothing to show: nothing
    assert first[0] * 100 == pytest.approx(125.0)  # a quarter of the batch's reach
    assert second[0] * 300 == pytest.approx(375.0)  # the rest of the batch
    assert (last * 100).tolist() == pytest.approx([500.0, 1000.0])  # the day's last batch


def test_a_young_promise_is_brought_forward_so_that_the_day_closes_precisely() -> None:
    pacer = Pacer()
    pacer.add_parties([0])
    world = World(rate=1.0)

    pacer.start_day([100.0])
    young = pacer.weights(0, supply_served=0.0, supply_share=0.28, capacity=[280.0])
    pacer.record(young * 280)
    for _ in range(8):
        world.day(pacer, 100.0)
    pacer.start_day([100.0])
    old = pacer.weights(0, supply_served=0.0, supply_share=0.28, capacity=[280.0])

    # The day's last step, whose noise nothing corrects, may be left what errs by 2% of the 100
    # promised so far (a noise of √4 = 2): all but that and a margin of two standard deviations
    # (100 − 4 − 2·√100) comes forward. With 1,000 promised, 400 may be left (an error of 20):
    # the day follows supply (28% of 100).
    assert young[0] * 280 == pytest.approx(76.0)
    assert old[0] * 280 == pytest.approx(28.0)


def test_a_partys_rate_is_its_groups_until_its_own_measurements_are_many() -> None:
    pacer = Pacer(prior_impressions=30.0, group_prior_impressions=300.0)
    pacer.add_parties([0, 0, 1])
    pacer.start_day([1000.0, 5.0, 1000.0])
    weight = pacer.weights(0, supply_served=0.0, supply_share=1.0, capacity=[100.0] * 3)
    pacer.record(weight * 100 * np.array([0.5, 0.0, 2.0]))  # the small party got nothing
    pacer.add_parties([0])

    rate = pacer.rate(0)

    # the shops' ratio of sums (500 of 1,005), itself shrunk towards all parties' (2,500 of
    # 2,005) by 300 pseudo-impressions
    everyone = 2500 / 2005
    group = (500 + 300) / (1005 + 300 / everyone)
    assert rate[0] == pytest.approx(0.5, rel=0.02)  # 500 of 1,000: its own
    assert rate[1] == pytest.approx(group, rel=0.1)  # 0 of 5 says little: near its group's
    assert rate[2] == pytest.approx(2.0, rel=0.01)  # alone in its group: its own, nearly
    assert rate[3] == pytest.approx(group)  # nothing measured yet: its group's


def test_the_weights_of_a_step_together_are_capped_and_the_rest_waits() -> None:
    pacer = Pacer()
    pacer.add_parties([0, 0])
    pacer.start_day([100.0, 300.0])
    pacer.open_batch(supply_served=0.0, supply_share=1.0, reachable=[True, True])

    weight = pacer.step(0, capacity=[1000.0, 1000.0], max_total=0.2)
    pacer.record(weight * 1000)

    assert weight.tolist() == pytest.approx([0.05, 0.15])  # 0.1 and 0.3, halved alike
    assert pacer.remaining.tolist() == pytest.approx([50.0, 150.0])
    assert pacer.rate(0).tolist() == pytest.approx([1.0, 1.0])  # the cap is not a low rate


def test_reward_weights_are_the_reward_part_of_the_weights() -> None:
    weights = np.array([2.0, 3.0, 4.0])

    fine = Allocation(weights, reward_weights=np.array([0.5, 0.0, 9.0]))
    coarse = Allocation(weights, reward_mask=np.array([True, False, False]))

    assert fine.reward_part().tolist() == [0.5, 0.0, 4.0]  # never more than the weight
    assert coarse.reward_part().tolist() == [2.0, 0.0, 0.0]
    assert Allocation(weights).reward_part().tolist() == [0.0, 0.0, 0.0]


# Thirty simulated days ------------------------------------------------------------------------

#: A small marketplace in which every creator posts a video every day, so that each promised
#: party has something to show daily and a miss is the pacer's, not an empty shelf's.
CONFIG = replace(
    config_for("small", seed=7, days=30), shops=20, creators=20, buyers=3000, video_share=1.0
)
#: A pool of about a sixth of organic traffic, so every party's promise is large enough to be
#: measured in per cent.
SETTINGS = Settings(chuanliu_reference_daily_impressions=1_000_000_000)


@dataclass
class Run:
    engine: Engine
    days: list[Reconciliation]
    #: (kind, party id) -> (promised, delivered) over the run, from the reconciled ledger.
    totals: dict[tuple[PartyKind, int], tuple[int, int]]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    engine, _ = fresh_store(Path(tmp_path_factory.mktemp("guarantee")))
    factory = session_factory(engine)
    Simulation(CONFIG, factory, policy=ChuanliuPolicy(settings=SETTINGS)).run()
    with transaction(factory) as session:
        days = [
            ledger.reconcile(session, (CONFIG.start + timedelta(days=d)).date())
            for d in range(CONFIG.days)
        ]
        totals = {
            (PartyKind(kind), int(party)): (int(promised), int(delivered))
            for kind, party, promised, delivered in session.execute(
                select(
                    ChuanliuLedger.party_kind,
                    ChuanliuLedger.party_id,
                    func.sum(ChuanliuLedger.promised_impressions),
                    func.sum(ChuanliuLedger.delivered_impressions),
                ).group_by(ChuanliuLedger.party_kind, ChuanliuLedger.party_id)
            )
        }
    return Run(engine, days, totals)


def test_a_handful_of_shops_and_creators_were_promised_reward_traffic(run: Run) -> None:
    shops = [k for k, (promised, _) in run.totals.items() if k[0] is PartyKind.SHOP and promised]
    creators = [k for k, (p, _) in run.totals.items() if k[0] is PartyKind.CREATOR and p]

    assert len(shops) >= 5 and len(creators) >= 5
    assert sum(d.promised for d in run.days) > 50_000


def test_every_party_is_delivered_its_promise_within_5_percent(run: Run) -> None:
    off = {
        f"{kind.value} {party}": f"{delivered} of {promised}"
        for (kind, party), (promised, delivered) in run.totals.items()
        if abs(delivered - promised) > 0.05 * promised
    }

    assert off == {}


def test_no_reward_impression_goes_to_a_party_without_a_promise(run: Run) -> None:
    assert [d.unattributed for d in run.days] == [0] * CONFIG.days


def test_reward_traffic_is_a_share_of_an_items_impressions_on_recommending_surfaces(
    run: Run,
) -> None:
    with run.engine.connect() as conn:
        surfaces = set(
            conn.execute(text("SELECT DISTINCT surface FROM impressions WHERE is_reward")).scalars()
        )
        # items shown in one batch with both organic and reward impressions
        split = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT item_kind, item_id, shown_at FROM impressions "
                "GROUP BY item_kind, item_id, shown_at, surface "
                "HAVING min(is_reward) = 0 AND max(is_reward) = 1)"
            )
        ).scalar()
        plans = set(
            conn.execute(
                text("SELECT DISTINCT reward_plan FROM impressions WHERE is_reward")
            ).scalars()
        )

    assert surfaces and surfaces <= {s.value for s in REWARD_SURFACES}
    assert split and split > 100
    assert plans == {rules.PLAN}
