"""A 116-style festival inside the simulated month (``trustflow demo --festival 116``).

The festival runs through the engine's own actions, as a platform's campaign team and its
merchants would drive them (docs/simulator.md, "A festival"):

- day 0: the operator opens the campaign (registration, warm-up and main windows scaled into
  the run, a traffic budget and a subsidy budget) and a platform coupon (满99减10) paid from
  the subsidy budget;
- before registration opens, some merchants raise the list price of what they will register
  (先涨后降, the trick the 30-day-low rule exists for);
- registration: the nightly scores are computed (the gate reads them), then a share of shops
  register SKUs through :func:`trustflow.campaigns.festivals.register`, C-position offers for
  brands; the rules refuse some, with their numbers;
- when warm-up opens the operator approves what is pending, grants the approved C-position
  offers a product subsidy (商品补贴) and caps each brand's share of the subsidy budget;
- from warm-up to the end of the main window, boosted shops are promised boost traffic each
  day (:func:`trustflow.traffic.festival.promise_boosts`), delivered as reward traffic of the
  campaign's plan while the promise lasts, and reconciled at night;
- when the main venue opens, buyers claim the coupon; orders in the main window sell at
  campaign prices (less the subsidy, while the budget and the brand's cap last) and use the
  coupon (:mod:`trustflow.campaigns.bulk`); buyers see the campaign price, so registered
  goods convert better; claims settle every night.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from trustflow.analytics.campaign_lift import campaign_report
from trustflow.bulk import IntArray
from trustflow.campaigns import boosts, checkout, coupons, festivals, rules, subsidies
from trustflow.campaigns import bulk as campaigns_bulk
from trustflow.campaigns.models import (
    Campaign,
    CampaignBoost,
    CampaignRegistration,
    CouponIssuer,
    CouponKind,
    RegistrationStatus,
)
from trustflow.catalog import bulk as catalog_bulk
from trustflow.errors import Conflict, InvalidInput
from trustflow.scoring.models import Tier
from trustflow.scoring.service import compute_scores
from trustflow.simulate.population import Population
from trustflow.traffic import festival as traffic_festival
from trustflow.units import DAY, HOUR

__all__ = ["FESTIVALS", "MIN_FESTIVAL_DAYS", "Festival", "FestivalConfig", "festival_config"]

OPERATOR = "ops:festival"


@dataclass(frozen=True)
class FestivalConfig:
    """A festival's shape, in shares of the simulated days and of the population."""

    name: str
    #: where each window opens, as a share of the run: registration, warm-up, main, its end
    windows: tuple[float, float, float, float, float] = (0.17, 0.3, 0.47, 0.8, 0.8)
    min_tier: Tier = Tier.GOOD
    #: shops that register, SKUs each (at most), and the campaign price as a share of list
    registering_share: float = 0.6
    skus_per_shop: int = 2
    price_cut: tuple[float, float] = (0.75, 0.95)
    #: registrants who raised the list price a few days before registering (先涨后降)
    raise_share: float = 0.15
    raise_by: float = 1.25
    #: registrations asking more units than the SKU has in stock
    oversize_share: float = 0.08
    units: tuple[int, int] = (40, 240)
    #: brands register for the C-position plan: the benchmark price they declare, as a share
    #: of list, and the commission floor
    benchmark_cut: tuple[float, float] = (0.78, 0.95)
    commission_floor_bps: int = 1500
    #: C-position offers the platform subsidises (商品补贴): the unit subsidy as a share of
    #: the campaign price, and each subsidised shop's cap as a share of the subsidy budget
    c_position_subsidy: float = 0.08
    shop_subsidy_cap_share: float = 0.25
    #: buyers who claim the festival coupon when the main venue opens
    claim_share: float = 0.35
    coupon_threshold_fen: int = 9_900
    coupon_amount_fen: int = 1_000
    #: budgets per buyer of the marketplace: subsidy (fen) and boost impressions
    subsidy_fen_per_buyer: int = 80
    traffic_per_buyer: int = 60
    #: buyers the campaign keeps out to measure what it adds (basis points)
    holdout_bps: int = 1_000


FESTIVALS: dict[str, FestivalConfig] = {"116": FestivalConfig(name="116 shopping festival")}
#: A festival needs room for its windows and some history before registration.
MIN_FESTIVAL_DAYS = 10


def festival_config(name: str, days: int) -> FestivalConfig:
    """The festival called ``name``, checked to fit a run of ``days``."""
    if name not in FESTIVALS:
        raise InvalidInput(
            f"no festival {name!r}: one of {', '.join(sorted(FESTIVALS))}",
            festivals=sorted(FESTIVALS),
        )
    if days < MIN_FESTIVAL_DAYS:
        raise InvalidInput(
            f"a festival needs a run of at least {MIN_FESTIVAL_DAYS} days, not {days}",
            min_days=MIN_FESTIVAL_DAYS,
        )
    return FESTIVALS[name]


@dataclass
class Festival:
    """One festival driven through a simulated run (see the module's text)."""

    config: FestivalConfig
    engine: Engine
    start: int
    days: int
    seed: int
    campaign_id: int = 0
    coupon_id: int = 0
    rng: np.random.Generator = field(init=False)
    #: the days each window opens (registration, warm-up, main) and the main window's end
    reg_day: int = field(init=False)
    warmup_day: int = field(init=False)
    main_day: int = field(init=False)
    end_day: int = field(init=False)
    #: products (indices) to register, chosen before registration; raised ones among them
    chosen: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    raised: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: campaign price per product index (0: none) in the main window
    sale_price: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: today's boost: promised and delivered so far per shop index, boosted products
    promised: np.ndarray = field(default_factory=lambda: np.zeros(0))
    delivered: np.ndarray = field(default_factory=lambda: np.zeros(0))
    boosted_products: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: per shop, how strongly the boost weighs: moved each night by what the day delivered
    #: against its promise (a slow pacer: the feed learns what it takes to keep a promise)
    gain: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: per buyer index: kept out of the campaign (its holdout)
    held_out: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    plan: str = ""

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng([self.seed, 3])
        reg, warm, main, end, _ = self.config.windows
        self.reg_day = max(1, round(reg * self.days))
        self.warmup_day = max(self.reg_day + 1, round(warm * self.days))
        self.main_day = max(self.warmup_day + 1, round(main * self.days))
        self.end_day = min(self.days, max(self.main_day + 1, round(end * self.days)))

    def _at(self, day: int, hour: float = 0.0) -> datetime:
        return datetime.fromtimestamp(self.start + day * DAY + int(hour * HOUR), UTC)

    # -- the day's steps ---------------------------------------------------------------------
    def before_day(self, d: int, pop: Population) -> None:
        """Outside the day's transaction: the nightly scores the registration gate reads."""
        if d == self.reg_day:
            warehouse = Path(tempfile.mkdtemp(prefix="festival-scores-"))
            try:
                compute_scores(self.engine, warehouse, as_of=self._at(d))
            finally:
                shutil.rmtree(warehouse, ignore_errors=True)

    def begin_day(self, session: Session, d: int, pop: Population) -> None:
        """The festival's actions at the start of day ``d``, in the day's transaction."""
        n_shops = len(pop.shop_ids)
        if len(self.promised) != n_shops:
            self.promised = np.zeros(n_shops)
            self.delivered = np.zeros(n_shops)
            self.gain = np.ones(n_shops)
        kept = (self.promised > 0) & (self.delivered > 0)
        self.gain[kept] *= np.clip(self.promised[kept] / self.delivered[kept], 0.5, 2.0)
        self.gain = np.clip(self.gain, 0.25, 16.0)
        if d == 0:
            self._open(session, pop)
        if d == max(0, self.reg_day - 3):
            self._choose_and_raise(session, pop)
        if d == self.reg_day:
            self._register(session, pop)
        if d == self.warmup_day:
            self._review(session)
        if d == self.main_day:
            self._claim(session, pop)
        self.promised[:] = 0
        self.delivered[:] = 0
        if self.warmup_day <= d < self.end_day:
            self._promise(session, d, pop)

    def end_of_day(self, session: Session, d: int) -> None:
        """At night: reconcile the day's boost; settle the claims of the day's checkouts."""
        if self.warmup_day <= d < self.end_day:
            traffic_festival.reconcile_boosts(session, self.campaign_id, self._day(d))
        if d >= self.main_day:
            at = self._at(d + 1) - _SECOND
            checkout.settle_claims(session, at=at)
            coupons.expire_claims(session, at=at)

    def _day(self, d: int) -> date:
        return self._at(d).date()

    # -- the operator and the merchants --------------------------------------------------------
    def _open(self, session: Session, pop: Population) -> None:
        cfg = self.config
        buyers = len(pop.buyer_ids)
        campaign = festivals.create_campaign(
            session,
            festivals.CampaignSpec(
                name=cfg.name,
                registration_from=self._at(self.reg_day),
                registration_to=self._at(self.warmup_day),
                warmup_from=self._at(self.warmup_day),
                main_from=self._at(self.main_day),
                main_to=self._at(self.end_day),
                min_tier=cfg.min_tier,
                traffic_budget=cfg.traffic_per_buyer * buyers,
                subsidy_budget_fen=cfg.subsidy_fen_per_buyer * buyers,
                holdout_bps=cfg.holdout_bps,
            ),
            actor=OPERATOR,
            at=self._at(0, 1),
        )
        self.campaign_id = campaign.id
        self.plan = boosts.reward_plan(campaign.id)
        self.held_out = rules.in_holdout(campaign.id, pop.buyer_ids, cfg.holdout_bps)
        coupon = coupons.create_coupon(
            session,
            coupons.CouponSpec(
                name=f"{cfg.name}: {cfg.coupon_amount_fen // 100} off"
                f" {cfg.coupon_threshold_fen // 100}",
                issuer=CouponIssuer.PLATFORM,
                kind=CouponKind.FULL_REDUCTION,
                budget_fen=campaign.subsidy_budget_fen,
                budget_count=buyers,
                valid_from=self._at(self.main_day),
                valid_to=self._at(self.end_day),
                threshold_fen=cfg.coupon_threshold_fen,
                amount_fen=cfg.coupon_amount_fen,
                campaign_id=campaign.id,
            ),
            actor=OPERATOR,
            at=self._at(0, 1),
        )
        self.coupon_id = coupon.id

    def _choose_and_raise(self, session: Session, pop: Population) -> None:
        """Which products each registering shop will put forward; some raise their list
        price now, to show a deeper cut at registration."""
        cfg, rng = self.config, self.rng
        shops = np.flatnonzero(rng.random(len(pop.shop_ids)) < cfg.registering_share)
        chosen = []
        for shop in shops.tolist():
            own = np.flatnonzero(pop.product_shop == shop)
            if len(own):
                k = min(cfg.skus_per_shop, len(own))
                chosen.extend(rng.choice(own, size=k, replace=False).tolist())
        self.chosen = np.array(sorted(chosen), dtype=np.int64)
        self.raised = self.chosen[rng.random(len(self.chosen)) < cfg.raise_share]
        if len(self.raised):
            price = (pop.product_price_fen[self.raised] * cfg.raise_by).round(-1).astype(np.int64)
            catalog_bulk.change_prices(
                session, pop.sku_ids[self.raised], price, at=self._at(max(0, self.reg_day - 3), 8)
            )
            pop.product_price_fen[self.raised] = price

    def _register(self, session: Session, pop: Population) -> None:
        cfg, rng = self.config, self.rng
        at = self._at(self.reg_day, 10)
        raised = set(self.raised.tolist())
        for product in self.chosen.tolist():
            shop = int(pop.product_shop[product])
            price = int(pop.product_price_fen[product])
            cut = 0.9 if product in raised else rng.uniform(*cfg.price_cut)
            units = int(rng.integers(*cfg.units))
            if rng.random() < cfg.oversize_share:
                units = 5_000  # more than any SKU holds
            c_position = pop.shop_kind[shop] == "brand"
            request = festivals.RegistrationRequest(
                sku_id=int(pop.sku_ids[product]),
                campaign_price_fen=max(100, int(round(price * cut, -1))),
                quantity=units,
                c_position=bool(c_position),
                benchmark_price_fen=int(round(price * rng.uniform(*cfg.benchmark_cut), -1))
                if c_position
                else None,
                commission_floor_bps=cfg.commission_floor_bps if c_position else None,
                commission_bps=int(rng.integers(1000, 3000)) if c_position else 0,
            )
            try:
                festivals.register(
                    session,
                    campaign_id=self.campaign_id,
                    request=request,
                    at=at,
                    actor=f"merchant:{int(pop.shop_ids[shop])}",
                )
            except Conflict:
                continue  # the same SKU twice: the merchant is told, and moves on

    def _review(self, session: Session) -> None:
        pending = session.scalars(
            select(CampaignRegistration.id).where(
                CampaignRegistration.campaign_id == self.campaign_id,
                CampaignRegistration.status == RegistrationStatus.PENDING,
            )
        ).all()
        for registration_id in pending:
            festivals.review(
                session,
                registration_id=registration_id,
                approve=True,
                reason="meets every rule; the venue has room",
                actor=OPERATOR,
                at=self._at(self.warmup_day, 0.5),
            )
        self._subsidise(session)

    def _subsidise(self, session: Session) -> None:
        """The platform pays part of each approved C-position offer, each brand's share of
        the subsidy budget capped so one cannot take it all."""
        cfg, at = self.config, self._at(self.warmup_day, 0.6)
        offers = session.execute(
            select(
                CampaignRegistration.id,
                CampaignRegistration.shop_id,
                CampaignRegistration.campaign_price_fen,
            )
            .where(
                CampaignRegistration.campaign_id == self.campaign_id,
                CampaignRegistration.status == RegistrationStatus.APPROVED,
                CampaignRegistration.c_position.is_(True),
            )
            .order_by(CampaignRegistration.id)
        ).all()
        budget = session.get_one(Campaign, self.campaign_id).subsidy_budget_fen
        for registration_id, _, price in offers:
            subsidies.grant_subsidy(
                session,
                registration_id=registration_id,
                unit_subsidy_fen=min(price - 1, max(1, round(price * cfg.c_position_subsidy))),
                reason="C-position brand offer: the platform pays part of the price",
                actor=OPERATOR,
                at=at,
            )
        for shop in sorted({int(shop) for _, shop, _ in offers}):
            subsidies.set_shop_cap(
                session,
                campaign_id=self.campaign_id,
                shop_id=shop,
                cap_fen=int(budget * cfg.shop_subsidy_cap_share),
                reason="one brand's share of the subsidy budget",
                actor=OPERATOR,
                at=at,
            )

    def _claim(self, session: Session, pop: Population) -> None:
        claiming = np.flatnonzero(self.rng.random(len(pop.buyer_ids)) < self.config.claim_share)
        campaigns_bulk.claim_coupon_bulk(
            session,
            coupon_id=self.coupon_id,
            buyer_ids=pop.buyer_ids[claiming],
            at=self._at(self.main_day, 0.1),
        )
        approved = session.execute(
            select(
                CampaignRegistration.sku_id,
                # what buyers pay: the campaign price less the platform's subsidy
                CampaignRegistration.campaign_price_fen - CampaignRegistration.unit_subsidy_fen,
            ).where(
                CampaignRegistration.campaign_id == self.campaign_id,
                CampaignRegistration.status == RegistrationStatus.APPROVED,
            )
        ).all()
        self.sale_price = np.zeros(len(pop.sku_ids), dtype=np.int64)
        index = {int(s): i for i, s in enumerate(pop.sku_ids.tolist())}
        for sku, price in approved:
            self.sale_price[index[int(sku)]] = int(price)

    def _promise(self, session: Session, d: int, pop: Population) -> None:
        traffic_festival.promise_boosts(session, self.campaign_id, self._day(d))
        rows = session.execute(
            select(CampaignBoost.shop_id, CampaignBoost.promised_impressions).where(
                CampaignBoost.campaign_id == self.campaign_id,
                CampaignBoost.day == self._day(d),
            )
        ).all()
        index = {int(s): i for i, s in enumerate(pop.shop_ids.tolist())}
        for shop, promised in rows:
            self.promised[index[int(shop)]] = promised
        _, products = boosts.festival_boosts(session, self._day(d), campaign_id=self.campaign_id)
        self.boosted_products = np.isin(pop.product_ids, list(products))

    # -- what the market asks -------------------------------------------------------------------
    def on_sale(self, t: int) -> bool:
        """Whether the main window holds epoch second ``t``."""
        return self.start + self.main_day * DAY <= t < self.start + self.end_day * DAY

    def price_fen(
        self, product: IntArray, list_fen: IntArray, t: int, viewers: IntArray | None = None
    ) -> IntArray:
        """What buyers see a product sell for at ``t``: its campaign price in the main window
        (while the registration's units last, the checkout decides), else its list price;
        ``viewers`` (buyer indices, one per product) in the holdout see the list price."""
        if not self.on_sale(t) or len(self.sale_price) == 0:
            return list_fen
        offer = self.sale_price[np.minimum(product, len(self.sale_price) - 1)]
        known = product < len(self.sale_price)
        if viewers is not None:
            known &= ~self.held_out[viewers]
        return np.where(known & (offer > 0), np.minimum(offer, list_fen), list_fen)

    def boost_weight(self, shop: IntArray, product: IntArray, is_card: np.ndarray) -> np.ndarray:
        """The extra weight factor (FESTIVAL_BOOST − 1, times the shop's gain; or 0) of
        elements hosted by ``shop`` (rooms, videos) or showing ``product`` (cards), while
        the shop's promise of the day lasts."""
        if not self.promised.any():
            return np.zeros(len(shop))
        owner = np.maximum(shop, 0)
        open_ = (shop >= 0) & (self.delivered[owner] < self.promised[owner])
        boosted_card = np.where(
            product >= 0,
            self.boosted_products[np.clip(product, 0, len(self.boosted_products) - 1)],
            False,
        )
        on = open_ & np.where(is_card, boosted_card, True)
        return np.where(on, (boosts.FESTIVAL_BOOST - 1) * self.gain[owner], 0.0)

    def delivered_to(self, shop: IntArray, impressions: IntArray) -> None:
        np.add.at(self.delivered, shop[shop >= 0], impressions[shop >= 0])

    def results(self, session: Session) -> dict[str, Any]:
        """The campaign's results, with its incremental GMV from the holdout."""
        return campaign_report(session, self.campaign_id)


_SECOND = timedelta(seconds=1)
