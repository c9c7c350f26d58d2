"""The day-by-day loop of a simulated marketplace, driving the real engine.

Every change goes through the engine's services (their bulk paths), so simulated data obeys
every rule of the core. Traffic comes from a :class:`~trustflow.simulate.policies.FeedPolicy`;
behaviour (who clicks, buys, returns, reviews) is drawn from the hidden truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from trustflow.accounts import bulk as accounts_bulk
from trustflow.aftersales import bulk as aftersales_bulk
from trustflow.aftersales.models import (
    ActorRole,
    AfterSalesKind,
    AfterSalesReason,
    DisputeOutcome,
    ResponsibleParty,
)
from trustflow.aftersales.rules import Actor
from trustflow.aftersales.settlement import settle_commissions
from trustflow.bulk import IntArray, fetch_by_ids, sorted_lookup, table
from trustflow.campaigns import bulk as campaigns_bulk
from trustflow.catalog import bulk as catalog_bulk
from trustflow.catalog.models import Sku
from trustflow.content import bulk as content_bulk
from trustflow.db import transaction
from trustflow.orders import bulk as orders_bulk
from trustflow.orders.models import CancelReason, ContentKind, Order
from trustflow.simulate import outcomes
from trustflow.simulate import population as population_mod
from trustflow.simulate.config import SimConfig
from trustflow.simulate.festival import Festival
from trustflow.simulate.logistics import journeys
from trustflow.simulate.policies import BaselinePolicy, Candidates, FeedPolicy, Shown
from trustflow.simulate.population import Population
from trustflow.simulate.truth import OrderTruth
from trustflow.traffic import service as traffic_service
from trustflow.units import DAY, HOUR
from trustflow.vocabulary import Channel, ItemKind, Surface

#: (hour of day, share of the day's traffic, whether live rooms are on air)
BATCHES = ((10.0, 0.28, False), (15.0, 0.27, False), (20.5, 0.45, True))
LIVE_START, LIVE_END = 19 * HOUR, 23 * HOUR
SURFACES = [s.value for s in Surface]
SHELF_CHANNEL = {
    "search": Channel.SHELF_SEARCH,
    "mall": Channel.SHELF_MALL,
    "shop": Channel.SHELF_SHOP,
    "featured": Channel.SHELF_CARD,
}


def _dt(seconds: npt.ArrayLike) -> list[datetime]:
    return [datetime.fromtimestamp(int(s), UTC) for s in np.atleast_1d(seconds)]


@dataclass
class Content:
    """Today's live rooms and short videos, with the products each one links."""

    kind: ItemKind
    ids: IntArray
    creator: IntArray  # index into creators, -1 for a shop's own
    shop: IntArray  # index into shops, -1 for a creator's
    product_start: IntArray
    product_count: IntArray
    products: IntArray  # flat product indices

    @classmethod
    def empty(cls, kind: ItemKind) -> Content:
        z = np.zeros(0, dtype=np.int64)
        return cls(kind, z, z, z, z, z, z)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Queue:
    """Actions due in the future: ids, due times (epoch seconds) and extra columns."""

    due: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cols: dict[str, np.ndarray] = field(default_factory=dict)

    def push(self, due: IntArray, **cols: np.ndarray) -> None:
        if len(due) == 0:
            return
        self.due = np.concatenate([self.due, due.astype(np.int64)])
        for k, v in cols.items():
            self.cols[k] = np.concatenate([self.cols[k], v]) if k in self.cols else v

    def pop_until(self, t: int) -> tuple[IntArray, dict[str, np.ndarray]]:
        now = self.due < t
        taken = {k: v[now] for k, v in self.cols.items()}
        due = self.due[now]
        self.due = self.due[~now]
        self.cols = {k: v[~now] for k, v in self.cols.items()}
        order = np.argsort(due, kind="stable")
        return due[order], {k: v[order] for k, v in taken.items()}


@dataclass
class DayStats:
    day: int
    orders: int = 0
    refused: int = 0
    impressions: int = 0


class Simulation:
    """A marketplace that lives day by day. ``run`` returns the per-day statistics."""

    def __init__(
        self,
        config: SimConfig,
        factory: sessionmaker[Session],
        *,
        policy: FeedPolicy | None = None,
        festival: Festival | None = None,
    ) -> None:
        self.config = config
        #: a festival run inside the simulated days (``trustflow demo --festival``), if any
        self.festival = festival
        #: the time (epoch seconds) of the batch being served: prices depend on it
        self._now = 0
        self.factory = factory
        self.policy: FeedPolicy = policy or BaselinePolicy()
        self.rng = np.random.default_rng(config.seed)
        #: draws the shadow replicates behind order_truth, apart from the marketplace's own
        #: draws (so how many replicates there are changes nothing the marketplace does)
        self.truth_rng = np.random.default_rng([config.seed, 2])
        self.start = int(config.start.timestamp())
        self.pop: Population | None = None
        self.queues: dict[str, Queue] = {}
        self.stats: list[DayStats] = []
        self.sat_key = np.zeros(0, dtype=np.int64)
        self.sat_day = np.zeros(0, dtype=np.int64)
        self._key_seq = 0
        # what the simulator remembers of each order it placed, indexed by order id
        self.o_buyer = np.zeros(0, dtype=np.int64)
        self.o_product = np.zeros(0, dtype=np.int64)
        #: the product of the order's second line (-1: an order of one line)
        self.o_addon = np.zeros(0, dtype=np.int64)
        self.o_creator = np.zeros(0, dtype=np.int64)
        self.o_channel = np.zeros(0, dtype="<U16")
        #: whether the order was paid; when its parcel arrives (or would, epoch seconds)
        #: and whether that is after its deliver_by
        self.o_paid = np.zeros(0, dtype=bool)
        self.o_arrives = np.zeros(0, dtype=np.int64)
        self.o_late = np.zeros(0, dtype=bool)
        #: the first line was reviewed while the parcel was overdue: not again on arrival
        self.o_overdue_review = np.zeros(0, dtype=bool)
        #: order_truth: the probabilities as of payment
        self.o_p_late = np.zeros(0)
        self.o_p_bad_review = np.zeros(0)

    # -- set-up -------------------------------------------------------------------------
    def build(self) -> Population:
        with transaction(self.factory) as session:
            self.pop = population_mod.build(session, self.config, self.rng, self.config.start)
        pop = self.pop
        rng = self.rng
        self.creator_live_p = np.clip(
            rng.beta(4, 4 / self.config.creator_live_days_share - 4, len(pop.creator_ids)), 0, 1
        )
        kind_boost = np.where(np.isin(pop.shop_kind, ["brand", "fast_brand"]), 1.3, 0.8)
        self.shop_live_p = np.clip(
            rng.beta(4, 4 / self.config.shop_live_days_share - 4, len(pop.shop_ids)) * kind_boost,
            0,
            1,
        )
        # buyer * n_shops + shop, sorted: who follows which shop
        self.shop_follow_key = np.sort(
            pop.shop_follow_buyer * len(pop.shop_ids) + pop.shop_follow_shop
        )
        for name in (
            "cancel",
            "overdue_review",
            "ship",
            "pick_up",
            "deliver",
            "confirm",
            "review",
            "request",
            "approve",
            "reject",
            "escalate",
            "arbitrate",
            "return_shipped",
            "return_received",
            "chat",
        ):
            self.queues[name] = Queue()
        return pop

    # -- the loop -------------------------------------------------------------------------
    def run(self, on_day: Callable[[DayStats], None] | None = None) -> list[DayStats]:
        if self.pop is None:
            self.build()
        for d in range(self.config.days):
            stats = self.run_day(d)
            self.stats.append(stats)
            if on_day is not None:
                on_day(stats)
        return self.stats

    def run_day(self, d: int) -> DayStats:
        assert self.pop is not None
        stats = DayStats(day=d)
        t0 = self.start + d * DAY
        if d > 0 and d % 7 == 0:
            self.pop.logistics.drift(self.rng)
        if self.festival is not None:
            self.festival.before_day(d, self.pop)
        with transaction(self.factory) as session:
            if self.festival is not None:
                self.festival.begin_day(session, d, self.pop)
            self._catalog_moves(session, t0)
            lives, videos = self._content(session, t0)
            self.policy.refresh(session, at=_dt(t0)[0])
            served = 0.0
            for hour, share, live_on in BATCHES:
                at = t0 + int(hour * HOUR)
                self._traffic_batch(
                    session, d, at, (served, share), lives if live_on else None, videos, stats
                )
                served += share
            if len(lives):
                content_bulk.end_lives(session, lives.ids, at=_dt(t0 + LIVE_END)[0])
            self._fulfil_and_react(session, d, t0 + DAY)
            if self.festival is not None:
                self.festival.end_of_day(session, d)
            # the nightly job: creators are paid for orders past their after-sales window
            settle_commissions(session, at=_dt(t0 + DAY)[0])
        return stats

    def order_truth(self) -> OrderTruth:
        """Every paid order's hidden truth, as of its payment."""
        assert self.pop is not None
        ids = np.flatnonzero(self.o_paid).astype(np.int64)
        return OrderTruth(
            order_id=ids,
            p_late=self.o_p_late[ids],
            p_bad_review=self.o_p_bad_review[ids],
            abusive=self.pop.buyer_abusive[self.o_buyer[ids]],
        )

    # -- catalog --------------------------------------------------------------------------
    def _catalog_moves(self, session: Session, t0: int) -> None:
        pop, rng, cfg = self.pop, self.rng, self.config
        assert pop is not None
        at = _dt(t0 + 8 * HOUR)[0]
        n = len(pop.sku_ids)
        moving = np.flatnonzero(rng.random(n) < cfg.price_change_share)
        if len(moving):
            new_price = np.maximum(
                100,
                (pop.product_price_fen[moving] * rng.uniform(0.85, 1.15, len(moving)))
                .round(-1)
                .astype(np.int64),
            )
            catalog_bulk.change_prices(session, pop.sku_ids[moving], new_price, at=at)
            pop.product_price_fen[moving] = new_price
        skus = table(Sku)
        low = np.array(
            session.execute(select(skus.c.id).where(skus.c.stock < 100)).scalars().all(),
            dtype=np.int64,
        )
        if len(low):
            catalog_bulk.restock(session, low, np.full(len(low), 1000, dtype=np.int64))
        launching = np.flatnonzero(rng.random(len(pop.shop_ids)) < cfg.new_product_rate)
        if len(launching):
            self._launch_products(session, launching, at)

    def _launch_products(self, session: Session, shops: IntArray, at: datetime) -> None:
        pop, rng = self.pop, self.rng
        assert pop is not None
        cat = pop.shop_category[shops]
        low, high = pop.price_range[cat, 0], pop.price_range[cat, 1]
        price = np.exp(np.log(low) + rng.random(len(shops)) * np.log(high / low)) * 100
        price_fen = np.maximum(100, price.round(-1).astype(np.int64))
        start = len(pop.product_ids)
        pids, sids = catalog_bulk.list_products_with_skus(
            session,
            pop.shop_ids[shops],
            [f"Product {start + i + 1}" for i in range(len(shops))],
            pop.category_ids[cat],
            price_fen,
            np.full(len(shops), 800, dtype=np.int64),
            at=at,
        )
        quality = np.clip(
            pop.truth.shop_quality[shops] + rng.normal(0, 0.07, len(shops)), 0.02, 0.99
        )
        pop.product_ids = np.concatenate([pop.product_ids, pids])
        pop.sku_ids = np.concatenate([pop.sku_ids, sids])
        pop.product_shop = np.concatenate([pop.product_shop, shops])
        pop.product_category = np.concatenate([pop.product_category, cat])
        pop.product_price_fen = np.concatenate([pop.product_price_fen, price_fen])
        pop.truth.product_id = pop.product_ids
        pop.truth.product_quality = np.concatenate([pop.truth.product_quality, quality])

    # -- content --------------------------------------------------------------------------
    def _content(self, session: Session, t0: int) -> tuple[Content, Content]:
        pop, rng, cfg = self.pop, self.rng, self.config
        assert pop is not None
        n_creators, n_shops = len(pop.creator_ids), len(pop.shop_ids)
        sel_product = pop.offer_product[pop.selection_offer]
        order = np.argsort(pop.selection_creator, kind="stable")
        sel_c, sel_p = pop.selection_creator[order], sel_product[order]
        c_start = np.searchsorted(sel_c, np.arange(n_creators))
        c_count = np.searchsorted(sel_c, np.arange(n_creators), side="right") - c_start
        p_order = np.argsort(pop.product_shop, kind="stable")
        s_start = np.searchsorted(pop.product_shop[p_order], np.arange(n_shops))
        s_count = (
            np.searchsorted(pop.product_shop[p_order], np.arange(n_shops), side="right") - s_start
        )

        def rooms(
            hosts_c: IntArray, hosts_s: IntArray, per_room: int
        ) -> tuple[list[list[int]], IntArray]:
            products: list[list[int]] = []
            for c, s in zip(hosts_c.tolist(), hosts_s.tolist(), strict=True):
                pool = (
                    sel_p[c_start[c] : c_start[c] + c_count[c]]
                    if c >= 0
                    else p_order[s_start[s] : s_start[s] + s_count[s]]
                )
                k = min(per_room, len(pool))
                products.append(rng.choice(pool, size=k, replace=False).tolist() if k else [])
            return products, np.array([len(p) for p in products], dtype=np.int64)

        def publish(
            kind: ItemKind,
            creators: IntArray,
            shops: IntArray,
            per_item: int,
            post: Callable[..., IntArray],
            at: int,
        ) -> Content:
            host_c = np.concatenate([creators, np.full(len(shops), -1)])
            host_s = np.concatenate([np.full(len(creators), -1), shops])
            products, counts = rooms(host_c, host_s, per_item)
            ids = post(
                session,
                np.where(host_c >= 0, pop.creator_ids[np.maximum(host_c, 0)], 0),
                np.where(host_s >= 0, pop.shop_ids[np.maximum(host_s, 0)], 0),
                [pop.product_ids[p].tolist() for p in products],
                at=_dt(at)[0],
            )
            return Content(
                kind,
                ids,
                host_c,
                host_s,
                np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64),
                counts,
                np.array([p for ps in products for p in ps], dtype=np.int64),
            )

        lives = publish(
            ItemKind.LIVE_SESSION,
            np.flatnonzero((rng.random(n_creators) < self.creator_live_p) & (c_count > 0)),
            np.flatnonzero(rng.random(n_shops) < self.shop_live_p),
            cfg.products_per_room,
            content_bulk.go_live,
            t0 + LIVE_START,
        )
        videos = publish(
            ItemKind.SHORT_VIDEO,
            np.flatnonzero((rng.random(n_creators) < cfg.video_share) & (c_count > 0)),
            np.flatnonzero(rng.random(n_shops) < cfg.video_share * 0.6),
            2,
            content_bulk.post_videos,
            t0 + 9 * HOUR,
        )
        return lives, videos

    # -- traffic and orders ---------------------------------------------------------------
    def _pool(self, parts: list[Content]) -> Content:
        if not parts:
            return Content.empty(ItemKind.PRODUCT_CARD)
        offsets = np.cumsum([0] + [len(p.products) for p in parts[:-1]])
        return Content(
            ItemKind.PRODUCT_CARD,  # mixed: the caller keeps each element's kind
            np.concatenate([p.ids for p in parts]),
            np.concatenate([p.creator for p in parts]),
            np.concatenate([p.shop for p in parts]),
            np.concatenate([p.product_start + o for p, o in zip(parts, offsets, strict=True)]),
            np.concatenate([p.product_count for p in parts]),
            np.concatenate([p.products for p in parts]),
        )

    def _cards(self) -> Content:
        pop = self.pop
        assert pop is not None
        n = len(pop.product_ids)
        return Content(
            ItemKind.PRODUCT_CARD,
            pop.product_ids,
            np.full(n, -1),
            pop.product_shop,
            np.arange(n, dtype=np.int64),
            np.ones(n, dtype=np.int64),
            np.arange(n, dtype=np.int64),
        )

    def _surface_pool(self, surface: str, lives: Content | None, videos: Content) -> list[Content]:
        if surface in ("follow", "discover"):
            return [lives] if lives is not None else [videos]
        if surface == "featured":
            return [lives] if lives is not None else [videos, self._cards()]
        if surface == "short_video_to_live":
            return [videos]
        return [self._cards()]

    def _hosts(self, content: Content) -> tuple[IntArray, IntArray]:
        """Store ids of each element's shop and creator (0 where none), as policies see them."""
        pop = self.pop
        assert pop is not None
        shop_db = np.where(content.shop >= 0, pop.shop_ids[np.maximum(content.shop, 0)], 0)
        creator_db = np.where(
            content.creator >= 0, pop.creator_ids[np.maximum(content.creator, 0)], 0
        )
        return shop_db.astype(np.int64), creator_db.astype(np.int64)

    def _candidates(self, surface: str, part: Content) -> Candidates:
        shop_db, creator_db = self._hosts(part)
        return Candidates(Surface(surface), part.kind, part.ids, shop_db, creator_db)

    def _weights(self, surface: str, parts: list[Content]) -> tuple[np.ndarray, np.ndarray]:
        """Each element's weight, and the part of it that is reward traffic."""
        weights, reward = [], []
        for part in parts:
            allocation = self.policy.allocate(self._candidates(surface, part))
            weights.append(np.asarray(allocation.weights, dtype=np.float64))
            reward.append(allocation.reward_part())
        if not weights:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(weights), np.concatenate(reward)

    def _traffic_batch(
        self,
        session: Session,
        d: int,
        at: int,
        supply: tuple[float, float],
        lives: Content | None,
        videos: Content,
        stats: DayStats,
    ) -> None:
        """Serve one batch of traffic on every surface, and turn some of it into orders.
        ``supply`` is (the share of the day's traffic served before, this batch's share).

        Impressions are not drawn one by one: by Poisson splitting, each viewer's impressions
        of each candidate are independent Poisson counts. The few that could become orders are
        drawn explicitly (thinned by an upper bound of the conversion rate, then accepted
        exactly), the rest only as counts per candidate. Exact in distribution, and the cost
        grows with orders and candidates, not with impressions.
        """
        pop, rng, cfg = self.pop, self.rng, self.config
        assert pop is not None
        self._now = at
        n_b, n_creators = len(pop.buyer_ids), len(pop.creator_ids)
        supply_served, share = supply
        per_buyer = (
            pop.buyer_activity * cfg.sessions_per_buyer * cfg.impressions_per_session * share
        )
        follow_keys = np.sort(pop.follow_buyer * n_creators + pop.follow_creator)
        buys: list[dict[str, np.ndarray]] = []
        offer = {surface: self._surface_pool(surface, lives, videos) for surface in SURFACES}
        begin_batch = getattr(self.policy, "begin_batch", None)
        if begin_batch is not None:
            begin_batch(
                at=_dt(at)[0],
                supply_share=share,
                supply_served=supply_served,
                on_offer=[
                    self._candidates(s, part) for s, parts in offer.items() for part in parts
                ],
            )
        for surface in SURFACES:
            parts = offer[surface]
            pool = self._pool(parts)
            if len(pool) == 0:
                continue
            kinds = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
            part_kind = [p.kind for p in parts]
            weights, reward_weights = self._weights(surface, parts)
            weights = np.where(pool.product_count > 0, weights, 0.0)
            reward_weights = np.where(pool.product_count > 0, reward_weights, 0.0)
            boost_weights = self._boost_weights(pool, kinds, part_kind, weights)
            weights = weights + boost_weights
            bound = self._conversion_bound(surface, pool)
            lam = per_buyer * cfg.surface_share[surface]
            viewer_group, n_groups, edge_group, edge_elem = self._edges(surface, pool, follow_keys)
            w = weights[edge_elem]
            keep = w > 0
            edge_group, edge_elem, w = edge_group[keep], edge_elem[keep], w[keep]
            w_total = np.bincount(edge_group, weights=w, minlength=n_groups)
            w_bound = np.bincount(edge_group, weights=w * bound[edge_elem], minlength=n_groups)
            has = w_total[viewer_group] > 0
            ratio = np.divide(w_bound, w_total, out=np.zeros(n_groups), where=w_total > 0)
            # A: impressions that might convert, drawn one by one
            viewers = np.repeat(
                np.arange(n_b), rng.poisson(np.where(has, lam * ratio[viewer_group], 0.0))
            )
            elem = sample_grouped(
                viewer_group[viewers], edge_group, edge_elem, w * bound[edge_elem], rng
            )
            served = elem >= 0
            viewers, elem = viewers[served], elem[served]
            # B: all other impressions, as counts per candidate
            demand = np.bincount(viewer_group, weights=np.where(has, lam, 0.0), minlength=n_groups)
            rest = rng.poisson(
                demand[edge_group]
                * w
                * (1 - bound[edge_elem])
                / np.maximum(w_total[edge_group], 1e-300)
            )
            shown = np.bincount(elem, minlength=len(pool)) + np.bincount(
                edge_elem, weights=rest, minlength=len(pool)
            ).astype(np.int64)
            reward = self._reward_share(shown, weights, reward_weights)
            boost = self._reward_share(shown - reward, weights - reward_weights, boost_weights)
            self._log_impressions(
                session, surface, pool, kinds, part_kind, shown, reward, at, stats, boost
            )
            if len(elem) == 0:
                continue
            pick = pool.product_start[elem] + (
                rng.random(len(elem)) * pool.product_count[elem]
            ).astype(np.int64)
            product = pool.products[pick]
            p = self._conversion(surface, viewers, elem, pool, product, follow_keys)
            bought = rng.random(len(p)) * bound[elem] < p
            if bought.any():
                e = elem[bought]
                buys.append(
                    {
                        "buyer": viewers[bought],
                        "product": product[bought],
                        "creator": pool.creator[e],
                        "shop_host": pool.shop[e],
                        "kind": np.array([part_kind[int(k)].value for k in kinds[e]]),
                        "content": pool.ids[e],
                        "surface": np.full(int(bought.sum()), surface),
                    }
                )
        if buys:
            self._place(
                session, d, at, {k: np.concatenate([b[k] for b in buys]) for k in buys[0]}, stats
            )

    def _edges(
        self, surface: str, pool: Content, follow_keys: IntArray
    ) -> tuple[IntArray, int, IntArray, IntArray]:
        """Who can see what: each viewer's group, and the (group, element) pairs of the surface.

        The follow page shows each viewer the rooms it follows; search shows the viewer's
        category; the shop page shows shops the viewer follows or was happy with; the other
        surfaces show everyone everything.
        """
        pop = self.pop
        assert pop is not None
        n_b, n_shops, n_creators = len(pop.buyer_ids), len(pop.shop_ids), len(pop.creator_ids)
        everyone = np.arange(n_b)
        if surface == "follow":
            by_creator = np.full(n_creators, -1)
            c_elems = np.flatnonzero(pool.creator >= 0)
            by_creator[pool.creator[c_elems]] = c_elems
            by_shop = np.full(n_shops, -1)
            s_elems = np.flatnonzero(pool.shop >= 0)
            by_shop[pool.shop[s_elems]] = s_elems
            edge_buyer = np.concatenate(
                [follow_keys // n_creators, self.shop_follow_key // n_shops]
            )
            edge_elem = np.concatenate(
                [
                    by_creator[follow_keys % n_creators],
                    by_shop[self.shop_follow_key % n_shops],
                ]
            )
            keep = edge_elem >= 0
            return everyone, n_b, edge_buyer[keep], edge_elem[keep]
        if surface == "search":
            category = pop.product_category[pool.products[pool.product_start]]
            return pop.buyer_category, len(pop.category_ids), category, np.arange(len(pool))
        if surface == "shop":
            keys = _union(self.shop_follow_key, self.sat_key)
            kb, ks = keys // n_shops, keys % n_shops
            order = np.argsort(pop.product_shop, kind="stable")
            start = np.searchsorted(pop.product_shop[order], ks)
            count = np.searchsorted(pop.product_shop[order], ks, side="right") - start
            within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
            return everyone, n_b, np.repeat(kb, count), order[np.repeat(start, count) + within]
        return (
            np.zeros(n_b, dtype=np.int64),
            1,
            np.zeros(len(pool), dtype=np.int64),
            np.arange(len(pool)),
        )

    def _appeal(self, product: IntArray, viewers: IntArray | None = None) -> np.ndarray:
        """How much a product's quality and price pull a buyer, before who shows it: the
        price the buyer sees (a festival's campaign price in its main window, unless the
        viewer is in its holdout; without ``viewers``, the lowest anyone sees)."""
        pop = self.pop
        assert pop is not None
        cat = pop.product_category[product]
        reference = np.sqrt(pop.price_range[cat, 0] * pop.price_range[cat, 1]) * 100
        price = pop.product_price_fen[product]
        if self.festival is not None:
            price = self.festival.price_fen(product, price, self._now, viewers)
        return np.asarray(
            np.exp(3.0 * (self._quality(product) - 0.75)) * (reference / price) ** 0.35
        )

    def _content_factor(self, pool: Content, elem: IntArray, shop: IntArray) -> np.ndarray:
        truth = self.pop.truth  # type: ignore[union-attr]
        creator = pool.creator[elem]
        return np.where(
            creator >= 0,
            0.5 + truth.creator_content[np.maximum(creator, 0)],
            np.where(pool.product_count[elem] > 1, 0.75 + 0.5 * truth.shop_service[shop], 1.0),
        )

    def _conversion_bound(self, surface: str, pool: Content) -> np.ndarray:
        """An upper bound of each element's conversion rate, over its products and viewers."""
        cfg = self.config
        bound = np.zeros(len(pool))
        live = np.flatnonzero(pool.product_count > 0)
        if len(live) == 0:
            return bound
        appeal = self._appeal(pool.products)
        best = np.maximum.reduceat(appeal, pool.product_start[live])
        shop = self.pop.product_shop[pool.products[pool.product_start[live]]]  # type: ignore[union-attr]
        shop = np.where(pool.shop[live] >= 0, pool.shop[live], shop)
        # service enters only shop rooms: bound it by its best value there
        content = np.where(
            pool.creator[live] >= 0,
            0.5 + self.pop.truth.creator_content[np.maximum(pool.creator[live], 0)],  # type: ignore[union-attr]
            np.where(pool.product_count[live] > 1, 1.25, 1.0),
        )
        bound[live] = np.minimum(
            0.6,
            cfg.base_conversion[surface]
            * best
            * content
            * cfg.fan_affinity
            * cfg.repurchase_affinity,
        )
        return bound

    def _conversion(
        self,
        surface: str,
        viewers: IntArray,
        elem: IntArray,
        pool: Content,
        product: IntArray,
        follow_keys: IntArray,
    ) -> np.ndarray:
        pop, cfg = self.pop, self.config
        assert pop is not None
        n_shops, n_creators = len(pop.shop_ids), len(pop.creator_ids)
        creator, host_shop = pool.creator[elem], pool.shop[elem]
        shop = pop.product_shop[product]
        follows_host = np.where(
            creator >= 0,
            _contains(follow_keys, viewers * n_creators + np.maximum(creator, 0)),
            _contains(self.shop_follow_key, viewers * n_shops + np.maximum(host_shop, 0))
            & (host_shop >= 0),
        )
        satisfied = _contains(self.sat_key, viewers * n_shops + shop)
        p = (
            cfg.base_conversion[surface]
            * self._appeal(product, viewers)
            * self._content_factor(pool, elem, shop)
            * np.where(follows_host, cfg.fan_affinity, 1.0)
            * np.where(satisfied, cfg.repurchase_affinity, 1.0)
        )
        return np.asarray(np.minimum(p, 0.6), dtype=np.float64)

    def _boost_weights(
        self, pool: Content, kinds: np.ndarray, part_kind: list[ItemKind], weights: np.ndarray
    ) -> np.ndarray:
        """The festival boost's extra weight on each element (0 without a festival): the
        rooms and videos of boosted shops and the cards of registered products, while the
        shop's promise of the day lasts."""
        if self.festival is None or len(pool) == 0:
            return np.zeros(len(pool))
        is_card = np.array([part_kind[int(k)] is ItemKind.PRODUCT_CARD for k in kinds])
        first = pool.products[np.minimum(pool.product_start, max(len(pool.products) - 1, 0))]
        product = np.where(is_card, first, -1)
        return np.asarray(weights * self.festival.boost_weight(pool.shop, product, is_card))

    def _reward_share(self, shown: IntArray, weights: np.ndarray, reward: np.ndarray) -> IntArray:
        """How many of each element's impressions are reward traffic: each one is, with
        probability reward weight ÷ weight."""
        if not (reward > 0).any():
            return np.zeros(len(shown), dtype=np.int64)
        p = np.clip(np.divide(reward, weights, out=np.zeros(len(shown)), where=weights > 0), 0, 1)
        return self.rng.binomial(shown, p).astype(np.int64)

    def _log_impressions(
        self,
        session: Session,
        surface: str,
        pool: Content,
        kinds: np.ndarray,
        part_kind: list[ItemKind],
        shown: IntArray,
        reward: IntArray,
        at: int,
        stats: DayStats,
        boost: IntArray,
    ) -> None:
        """Log each element's organic impressions, and its reward impressions in rows of
        their own under the policy's plan and the festival's boost under the campaign's;
        tell a policy that listens what was shown."""
        stats.impressions += int(shown.sum())
        plan = getattr(self.policy, "reward_plan", None)
        if not plan:
            reward = np.zeros_like(shown)
        organic = shown - reward - boost
        rows, paid, boosted = np.flatnonzero(organic), np.flatnonzero(reward), np.flatnonzero(boost)
        elems = np.concatenate([rows, paid, boosted])
        plans: list[str | None] = [None] * len(rows)
        plans += [plan] * len(paid)
        if len(boosted):
            assert self.festival is not None
            plans += [self.festival.plan] * len(boosted)
            self.festival.delivered_to(pool.shop[boosted], boost[boosted])
        traffic_service.log_impression_counts(
            session,
            [Surface(surface)] * len(elems),
            [part_kind[int(k)] for k in kinds[elems]],
            pool.ids[elems].tolist(),
            np.concatenate([organic[rows], reward[paid], boost[boosted]]).tolist(),
            shown_at=_dt(at)[0],
            reward_plan=plans if plan or len(boosted) else None,
            plan_version=self.policy.name,
        )
        observe = getattr(self.policy, "observe", None)
        if observe is not None:
            shop_db, creator_db = self._hosts(pool)
            observe(Shown(Surface(surface), shop_db, creator_db, shown, reward))

    def _place(
        self, session: Session, d: int, at: int, buy: dict[str, np.ndarray], stats: DayStats
    ) -> None:
        pop, rng, cfg = self.pop, self.rng, self.config
        assert pop is not None
        n = len(buy["buyer"])
        creator, kind = buy["creator"], buy["kind"]
        is_card = kind == ItemKind.PRODUCT_CARD.value
        channel = [
            SHELF_CHANNEL[s]
            if card
            else (Channel.DISTRIBUTION if c >= 0 else Channel.SELF_BROADCAST)
            for s, card, c in zip(buy["surface"], is_card, creator, strict=True)
        ]
        qty = 1 + (rng.random(n) < 0.12) + (rng.random(n) < 0.03)
        goods = pop.product_price_fen[buy["product"]] * qty
        mdisc = np.where(
            rng.random(n) < 0.15, (goods * rng.uniform(0.05, 0.1, n)).astype(np.int64), 0
        )
        pdisc = np.where(
            rng.random(n) < 0.05, (goods * rng.uniform(0.03, 0.08, n)).astype(np.int64), 0
        )
        keys = [f"sim-{self._key_seq + i}" for i in range(n)]
        self._key_seq += n
        addon = self._addons(buy["product"], creator)
        # an order's second line comes after all first lines, and repeats its order's
        # buyer, key, channel and content
        more = np.flatnonzero(addon >= 0)
        rows = np.concatenate([np.arange(n), more])
        products = np.concatenate([buy["product"], addon[more]])
        content_kind = [None if c else ContentKind(k) for k, c in zip(kind, is_card, strict=True)]
        batch = orders_bulk.OrderBatch(
            buyer_id=pop.buyer_ids[buy["buyer"][rows]],
            sku_id=pop.sku_ids[products],
            quantity=np.concatenate([qty, np.ones(len(more))]).astype(np.int64),
            channel=[channel[r] for r in rows.tolist()],
            idempotency_key=[keys[r] for r in rows.tolist()],
            creator_id=np.where(creator >= 0, pop.creator_ids[np.maximum(creator, 0)], 0)[rows],
            content_kind=[content_kind[r] for r in rows.tolist()],
            content_id=np.where(is_card, 0, buy["content"])[rows],
            surface=list(buy["surface"][rows]),
            merchant_discount_fen=np.concatenate([mdisc, np.zeros(len(more), dtype=np.int64)]),
            platform_discount_fen=np.concatenate([pdisc, np.zeros(len(more), dtype=np.int64)]),
            head=rows,
        )
        if self.festival is not None and self.festival.on_sale(at):
            # the festival's campaign prices and coupon, by the campaigns' bulk path
            result, _ = campaigns_bulk.place_batch(session, batch, at=_dt(at)[0])
        else:
            result = orders_bulk.place_orders(session, batch, at=_dt(at)[0])
        result.order_id = result.order_id[:n]
        placed = result.order_id > 0
        stats.orders += int(placed.sum())
        stats.refused += sum(1 for i in result.refused if i < n)
        ids = result.order_id[placed]
        self._remember(ids, buy, placed, channel, addon)
        unpaid = rng.random(len(ids)) < cfg.unpaid_share
        pay_at = at + 60
        paid = orders_bulk.advance_orders(session, ids[~unpaid], "pay", _dt(pay_at)[0])
        self.queues["cancel"].push(np.full(int(unpaid.sum()), at + DAY - 1), order=ids[unpaid])
        self._schedule_fulfilment(session, paid, pay_at)

    def _addons(self, product: IntArray, creator: IntArray) -> IntArray:
        """The product each order's buyer adds as a second line (-1: none): with probability
        ``multi_item_share``, another product of the same shop, for sales not credited to a
        creator (a creator's offer covers the product it was made for)."""
        pop, rng = self.pop, self.rng
        assert pop is not None
        n = len(product)
        by_shop = np.argsort(pop.product_shop, kind="stable")
        shops = pop.product_shop[by_shop]
        shop = pop.product_shop[product]
        start = np.searchsorted(shops, shop, side="left")
        count = np.searchsorted(shops, shop, side="right") - start
        rank = np.empty(len(by_shop), dtype=np.int64)
        rank[by_shop] = np.arange(len(by_shop))
        wants = (rng.random(n) < self.config.multi_item_share) & (creator < 0) & (count > 1)
        # a position among the shop's other products, skipping the one already bought
        k = (rng.random(n) * np.maximum(count - 1, 1)).astype(np.int64)
        own = rank[product] - start
        k = np.where(k >= own, k + 1, k)
        pick = by_shop[np.minimum(start + k, len(by_shop) - 1)]
        return np.where(wants, pick, -1).astype(np.int64)

    def _remember(
        self,
        ids: IntArray,
        buy: dict[str, np.ndarray],
        placed: np.ndarray,
        channel: list[Channel],
        addon: IntArray,
    ) -> None:
        size = int(ids.max()) + 1 if len(ids) else 0
        if size > len(self.o_buyer):
            grow = size - len(self.o_buyer)
            self.o_buyer = np.r_[self.o_buyer, np.zeros(grow, dtype=np.int64)]
            self.o_product = np.r_[self.o_product, np.zeros(grow, dtype=np.int64)]
            self.o_addon = np.r_[self.o_addon, np.full(grow, -1, dtype=np.int64)]
            self.o_creator = np.r_[self.o_creator, np.full(grow, -1, dtype=np.int64)]
            self.o_channel = np.r_[self.o_channel, np.full(grow, "", dtype="<U16")]
            self.o_paid = np.r_[self.o_paid, np.zeros(grow, dtype=bool)]
            self.o_arrives = np.r_[self.o_arrives, np.zeros(grow, dtype=np.int64)]
            self.o_late = np.r_[self.o_late, np.zeros(grow, dtype=bool)]
            self.o_overdue_review = np.r_[self.o_overdue_review, np.zeros(grow, dtype=bool)]
            self.o_p_late = np.r_[self.o_p_late, np.zeros(grow)]
            self.o_p_bad_review = np.r_[self.o_p_bad_review, np.zeros(grow)]
        self.o_buyer[ids] = buy["buyer"][placed]
        self.o_product[ids] = buy["product"][placed]
        self.o_addon[ids] = addon[placed]
        self.o_creator[ids] = buy["creator"][placed]
        self.o_channel[ids] = np.array([c.value for c in channel])[placed]

    def _schedule_fulfilment(self, session: Session, paid: IntArray, paid_at: int) -> None:
        """Each paid parcel's journey, drawn from its shop's traits this week and its buyer's
        region, against the ``deliver_by`` the engine promised; the overdue reviews it brings;
        and the order's hidden truth (the same draw, replicated)."""
        pop, rng, cfg = self.pop, self.rng, self.config
        assert pop is not None
        if len(paid) == 0:
            return
        orders = table(Order)
        promised = dict(
            fetch_by_ids(session, select(orders.c.id, orders.c.deliver_by), orders.c.id, paid)
        )
        due = np.array([int(promised[o].timestamp()) for o in paid.tolist()], dtype=np.int64)
        shop = pop.product_shop[self.o_product[paid]]
        region = pop.buyer_region[self.o_buyer[paid]]
        traits = pop.logistics.now(shop)
        home = pop.logistics.home[shop]
        trip = journeys(rng, *traits, home, region)
        ship = paid_at + (trip.handover * HOUR).astype(np.int64)
        pick = paid_at + (trip.pickup * HOUR).astype(np.int64)
        arrives = paid_at + (trip.arrival * HOUR).astype(np.int64)
        self.queues["ship"].push(ship, order=paid)
        self.queues["pick_up"].push(pick, order=paid)
        self.queues["deliver"].push(arrives, order=paid)
        self.o_paid[paid] = True
        self.o_arrives[paid] = arrives
        self.o_late[paid] = arrives > due
        # a buyer still waiting past the promise may say so (the line is then not reviewed
        # again when the parcel comes)
        review_at = due + (outcomes.overdue_review_hours(rng, len(paid)) * HOUR).astype(np.int64)
        overdue = (
            (arrives > due)
            & (rng.random(len(paid)) < outcomes.OVERDUE_REVIEW_RATE)
            & (arrives > review_at)
        )
        self.o_overdue_review[paid[overdue]] = True
        self.queues["overdue_review"].push(
            review_at[overdue],
            order=paid[overdue],
            stars=np.where(
                pop.buyer_abusive[self.o_buyer[paid[overdue]]],
                1,
                outcomes.overdue_stars(rng, int(overdue.sum())),
            ),
        )
        product = self.o_product[paid]
        quality = self._quality(product)
        capped = self._after_sales_chance(paid, product, abusive=False) * (
            1 - cfg.no_reason_return_rate
        )
        p_late, p_bad = outcomes.order_truth(
            self.truth_rng,
            traits,
            home,
            region,
            (due - paid_at) / HOUR,
            quality,
            capped,
            cfg.review_rate,
        )
        self.o_p_late[paid] = p_late
        self.o_p_bad_review[paid] = p_bad
        chat = rng.random(len(paid)) < cfg.chat_rate
        service = pop.truth.shop_service[shop[chat]]
        seconds = rng.lognormal(np.log(30 + 3000 * (1 - service) ** 2), 0.8)
        seconds = np.where(rng.random(int(chat.sum())) < 0.25 * (1 - service), -1, seconds)
        self.queues["chat"].push(
            paid_at + (rng.uniform(0.1, 36, int(chat.sum())) * HOUR).astype(np.int64),
            buyer=self.o_buyer[paid[chat]],
            shop=shop[chat],
            seconds=seconds.astype(np.int64),
        )

    # -- after the sale ---------------------------------------------------------------------
    def _fulfil_and_react(self, session: Session, d: int, t_end: int) -> None:
        q = self.queues
        due, cols = q["cancel"].pop_until(t_end)
        if len(due):  # the orders left unpaid
            orders_bulk.advance_orders(
                session, cols["order"], "cancel", _dt(due), reason=CancelReason.UNPAID_TIMEOUT
            )
        # before the day's deliveries: each of these parcels is still on its way at the time
        due, cols = q["overdue_review"].pop_until(t_end)
        if len(due):
            aftersales_bulk.submit_reviews(session, cols["order"], cols["stars"], _dt(due))
        for action in ("ship", "pick_up"):
            due, cols = q[action].pop_until(t_end)
            if len(due):
                orders_bulk.advance_orders(session, cols["order"], action, _dt(due))
        due, cols = q["deliver"].pop_until(t_end)
        if len(due):
            done = orders_bulk.advance_orders(session, cols["order"], "deliver", _dt(due))
            delivered_at = dict(zip(cols["order"].tolist(), due.tolist(), strict=True))
            self._react_to_delivery(
                session, d, done, np.array([delivered_at[int(o)] for o in done], dtype=np.int64)
            )
        due, cols = q["confirm"].pop_until(t_end)
        if len(due):
            orders_bulk.advance_orders(session, cols["order"], "confirm_receipt", _dt(due))
        due, cols = q["review"].pop_until(t_end)
        if len(due):
            aftersales_bulk.submit_reviews(
                session, cols["order"], cols["stars"], _dt(due), line_no=cols["line"]
            )
        self._after_sales(session, t_end)
        due, cols = q["chat"].pop_until(t_end)
        if len(due):
            pop = self.pop
            assert pop is not None
            aftersales_bulk.record_chats(
                session,
                pop.buyer_ids[cols["buyer"]],
                pop.shop_ids[cols["shop"]],
                _dt(due),
                cols["seconds"],
            )

    def _react_to_delivery(
        self, session: Session, d: int, orders: IntArray, delivered: IntArray
    ) -> None:
        """What each buyer does once the parcel arrives: confirm, review, ask for after-sales,
        follow, come back. All of it is drawn from the hidden truth."""
        pop, rng = self.pop, self.rng
        assert pop is not None
        if len(orders) == 0:
            return
        n = len(orders)
        buyer, product = self.o_buyer[orders], self.o_product[orders]
        creator, channel = self.o_creator[orders], self.o_channel[orders]
        shop = pop.product_shop[product]
        quality = self._quality(product)
        requesting, reviews, stars = self._line_reactions(orders, delivered, 1)
        two = np.flatnonzero(self.o_addon[orders] >= 0)
        if len(two):  # the second line is reviewed and returned on its own product's merits
            self._line_reactions(orders[two], delivered[two], 2)
        confirm_in = np.where(rng.random(n) < 0.7, rng.uniform(1, 5, n), 7.0) * DAY
        self.queues["confirm"].push((delivered + confirm_in).astype(np.int64), order=orders)

        satisfied = (
            ~requesting
            & ~self.o_overdue_review[orders]
            & ((reviews & (stars >= 4)) | (~reviews & (quality > 0.7)))
        )
        self._remember_satisfaction(buyer[satisfied], shop[satisfied], d)
        follow_roll = rng.random(n)
        new_creator_fans = satisfied & (creator >= 0) & (follow_roll < 0.08)
        if new_creator_fans.any():
            accounts_bulk.follow_creators(
                session,
                pop.buyer_ids[buyer[new_creator_fans]],
                pop.creator_ids[creator[new_creator_fans]],
                at=_dt(int(delivered.max()))[0],
            )
            n_c = len(pop.creator_ids)
            keys = _union(
                pop.follow_buyer * n_c + pop.follow_creator,
                buyer[new_creator_fans] * n_c + creator[new_creator_fans],
            )
            pop.follow_buyer, pop.follow_creator = keys // n_c, keys % n_c
        shop_p = np.where(
            channel == Channel.SELF_BROADCAST.value, 0.12, np.where(creator >= 0, 0.0, 0.03)
        )
        new_shop_fans = satisfied & (follow_roll < shop_p)
        if new_shop_fans.any():
            catalog_bulk.follow_shops(
                session,
                pop.buyer_ids[buyer[new_shop_fans]],
                pop.shop_ids[shop[new_shop_fans]],
                at=_dt(int(delivered.max()))[0],
            )
            n_s = len(pop.shop_ids)
            self.shop_follow_key = _union(
                self.shop_follow_key, buyer[new_shop_fans] * n_s + shop[new_shop_fans]
            )

    def _line_reactions(
        self, orders: IntArray, delivered: IntArray, line_no: int
    ) -> tuple[np.ndarray, np.ndarray, IntArray]:
        """Whether the buyer asks for after-sales on line ``line_no`` of each order, and
        reviews it with how many stars, drawn from the hidden truth of the line's product,
        the seller's honesty and the parcel's lateness; queued for their time."""
        pop, rng, cfg = self.pop, self.rng, self.config
        assert pop is not None
        n = len(orders)
        buyer = self.o_buyer[orders]
        product = self.o_product[orders] if line_no == 1 else self.o_addon[orders]
        creator = self.o_creator[orders]
        shop = pop.product_shop[product]
        quality = self._quality(product)
        abusive = pop.buyer_abusive[buyer]
        honesty = self._honesty(orders, product)
        late = self.o_late[orders]

        wants = rng.random(n) < self._after_sales_chance(orders, product, abusive=abusive)
        no_reason = ~abusive & (rng.random(n) < cfg.no_reason_return_rate)
        w_quality, w_desc, w_damage = 3 * (1 - quality), 2 * (1 - honesty), np.full(n, 0.15)
        total = w_quality + w_desc + w_damage
        u = rng.random(n) * total
        reason = np.where(
            u < w_quality,
            "quality",
            np.where(u < w_quality + w_desc, "not_as_described", "damaged_in_transit"),
        )
        reason = np.where(abusive, "quality", reason)
        requesting = wants | no_reason
        reason = np.where(no_reason & ~wants, "no_reason_7day", reason)
        k = rng.random(n)
        kind = np.where(
            reason == "no_reason_7day",
            "return_refund",
            np.where(
                abusive | (k < 0.45), "refund_only", np.where(k < 0.9, "return_refund", "exchange")
            ),
        )
        req_at = delivered + (rng.uniform(0.2, 4, n) * DAY).astype(np.int64)
        idx = np.flatnonzero(requesting)
        self.queues["request"].push(
            req_at[idx],
            order=orders[idx],
            line=np.full(len(idx), line_no, dtype=np.int64),
            kind=kind[idx],
            reason=reason[idx],
            abusive=abusive[idx],
            shop=shop[idx],
            creator_fault=(creator[idx] >= 0)
            & (reason[idx] == "not_as_described")
            & (honesty[idx] < 0.75),
        )

        reviews = rng.random(n) < np.where(abusive, 0.9, cfg.review_rate)
        if line_no == 1:  # a line reviewed while its parcel was overdue is not reviewed again
            reviews &= ~self.o_overdue_review[orders]
        stars = outcomes.stars(rng, quality, late, requesting & ~no_reason)
        stars = np.where(abusive, 1, stars)
        r_idx = np.flatnonzero(reviews)
        self.queues["review"].push(
            delivered[r_idx] + (rng.uniform(0.3, 3, len(r_idx)) * DAY).astype(np.int64),
            order=orders[r_idx],
            line=np.full(len(r_idx), line_no, dtype=np.int64),
            stars=stars[r_idx],
        )
        return requesting, reviews, stars

    def _quality(self, product: IntArray) -> np.ndarray:
        """Each product's goods quality this week: its own, moved by its shop's drift."""
        pop = self.pop
        assert pop is not None
        drift = pop.logistics.quality_dev[pop.product_shop[product]]
        return np.asarray(np.clip(pop.truth.product_quality[product] + drift, 0.02, 0.99))

    def _honesty(self, orders: IntArray, product: IntArray) -> np.ndarray:
        """Honesty of whoever described the goods: the creator who sold them, else the shop."""
        pop = self.pop
        assert pop is not None
        creator = self.o_creator[orders]
        return np.asarray(
            np.where(
                creator >= 0,
                pop.truth.creator_honesty[np.maximum(creator, 0)],
                pop.truth.shop_honesty[pop.product_shop[product]],
            )
        )

    def _after_sales_chance(
        self, orders: IntArray, product: IntArray, *, abusive: np.ndarray | bool
    ) -> np.ndarray:
        """Probability the buyer asks for after-sales on a line (besides no-reason returns):
        poor goods and a dishonest description drive it; abusive buyers ask half the time."""
        cfg = self.config
        return np.asarray(
            np.where(
                abusive,
                0.5,
                cfg.after_sales_base
                + cfg.after_sales_quality_slope * (1 - self._quality(product))
                + 0.15 * (1 - self._honesty(orders, product)),
            ),
            dtype=np.float64,
        )

    def _remember_satisfaction(self, buyers: IntArray, shops: IntArray, d: int) -> None:
        assert self.pop is not None
        keys = buyers * len(self.pop.shop_ids) + shops
        all_keys = np.concatenate([self.sat_key, keys])
        all_days = np.concatenate([self.sat_day, np.full(len(keys), d)])
        fresh = all_days > d - self.config.satisfaction_memory_days
        all_keys, all_days = all_keys[fresh], all_days[fresh]
        order = np.lexsort((-all_days, all_keys))
        all_keys, all_days = all_keys[order], all_days[order]
        first = np.ones(len(all_keys), dtype=bool)
        first[1:] = all_keys[1:] != all_keys[:-1]
        self.sat_key, self.sat_day = all_keys[first], all_days[first]

    def _after_sales(self, session: Session, t_end: int) -> None:
        pop, rng, cfg, q = self.pop, self.rng, self.config, self.queues
        assert pop is not None
        due, c = q["request"].pop_until(t_end)
        if len(due):
            ids = aftersales_bulk.request_after_sales(
                session,
                c["order"],
                [AfterSalesKind(k) for k in c["kind"]],
                [AfterSalesReason(r) for r in c["reason"]],
                _dt(due),
                actor=_AFTER_SALES_ACTOR["request"],
                line_no=c["line"],
            )
            ok = ids > 0
            ids, due = ids[ok], due[ok]
            c = {k: v[ok] for k, v in c.items()}
            service = pop.truth.shop_service[c["shop"]]
            n = len(ids)
            approve = rng.random(n) < np.where(c["abusive"], 0.5, 0.55 + 0.45 * service)
            handled = due + ((2 + 70 * (1 - service)) * HOUR).astype(np.int64)
            q["approve"].push(handled[approve], req=ids[approve], kind=c["kind"][approve])
            q["reject"].push(handled[~approve], req=ids[~approve])
            escalate = ~approve & (rng.random(n) < np.where(c["abusive"], 0.8, cfg.escalation_rate))
            responsible = np.where(
                c["abusive"],
                ResponsibleParty.BUYER.value,
                np.where(
                    c["creator_fault"],
                    ResponsibleParty.CREATOR.value,
                    np.where(
                        c["reason"] == "damaged_in_transit",
                        ResponsibleParty.CARRIER.value,
                        np.where(
                            c["reason"] == "no_reason_7day",
                            ResponsibleParty.BUYER.value,
                            ResponsibleParty.MERCHANT.value,
                        ),
                    ),
                ),
            )
            buyer_wins = ~c["abusive"] & (c["reason"] != "no_reason_7day")
            q["escalate"].push(handled[escalate] + DAY, req=ids[escalate])
            q["arbitrate"].push(
                handled[escalate] + 3 * DAY,
                req=ids[escalate],
                buyer_wins=buyer_wins[escalate],
                responsible=responsible[escalate],
                kind=c["kind"][escalate],
            )
        for action in ("approve", "reject", "escalate"):
            due, c = q[action].pop_until(t_end)
            if not len(due):
                continue
            for t in np.unique(due // HOUR):
                at = due // HOUR == t
                done = aftersales_bulk.advance_requests(
                    session,
                    c["req"][at],
                    action,
                    _dt(t * HOUR)[0],
                    actor=_AFTER_SALES_ACTOR[action],
                )
                if action == "approve":
                    returns = np.isin(c["req"][at], done) & (c["kind"][at] != "refund_only")
                    self._schedule_returns(c["req"][at][returns], int(t * HOUR))
        due, c = q["arbitrate"].pop_until(t_end)
        for wins in (True, False):
            for responsible in np.unique(c.get("responsible", np.zeros(0, dtype="<U16"))):
                sel = (c["buyer_wins"] == wins) & (c["responsible"] == responsible)
                if not sel.any():
                    continue
                if wins and responsible == ResponsibleParty.BUYER.value:
                    continue
                done = aftersales_bulk.advance_requests(
                    session,
                    c["req"][sel],
                    "arbitrate",
                    _dt(int(due[sel].max()))[0],
                    actor=_AFTER_SALES_ACTOR["arbitrate"],
                    outcome=DisputeOutcome.BUYER_WON if wins else DisputeOutcome.MERCHANT_WON,
                    responsible_party=ResponsibleParty(responsible),
                )
                if wins:
                    returns = np.isin(c["req"][sel], done) & (c["kind"][sel] != "refund_only")
                    self._schedule_returns(c["req"][sel][returns], int(due[sel].max()))
        for action in ("return_shipped", "return_received"):
            due, c = q[action].pop_until(t_end)
            for t in np.unique(due // DAY):
                at = due // DAY == t
                aftersales_bulk.advance_requests(
                    session,
                    c["req"][at],
                    action,
                    _dt(int(due[at].max()))[0],
                    actor=_AFTER_SALES_ACTOR[action],
                )

    def _schedule_returns(self, requests: IntArray, at: int) -> None:
        if len(requests) == 0:
            return
        rng = self.rng
        shipped = at + (rng.uniform(1, 3, len(requests)) * DAY).astype(np.int64)
        received = shipped + (rng.uniform(2, 4, len(requests)) * DAY).astype(np.int64)
        self.queues["return_shipped"].push(shipped, req=requests)
        self.queues["return_received"].push(received, req=requests)


#: Whom the simulator stands in for in each after-sales action: a role without an id, as one
#: batch spans many buyers or merchants.
_AFTER_SALES_ACTOR: dict[str, Actor] = {
    "request": Actor(ActorRole.BUYER),
    "approve": Actor(ActorRole.MERCHANT),
    "reject": Actor(ActorRole.MERCHANT),
    "escalate": Actor(ActorRole.BUYER),
    "arbitrate": Actor(ActorRole.PLATFORM),
    "return_shipped": Actor(ActorRole.BUYER),
    "return_received": Actor(ActorRole.MERCHANT),
}


def _union(a: IntArray, b: IntArray) -> IntArray:
    """Sorted distinct keys of both arrays (a sort beats hashing for these int keys)."""
    keys = np.concatenate([a, b])
    keys.sort(kind="stable")
    keep = np.ones(len(keys), dtype=bool)
    keep[1:] = keys[1:] != keys[:-1]
    return keys[keep]


def _contains(sorted_keys: IntArray, keys: IntArray) -> np.ndarray:
    return sorted_lookup(sorted_keys, keys) >= 0


def sample_grouped(
    slot_group: IntArray,
    edge_group: IntArray,
    edge_elem: IntArray,
    edge_weight: np.ndarray,
    rng: np.random.Generator,
) -> IntArray:
    """For each slot, one element among the edges of its group, in proportion to weight
    (-1 where the group has none). Vectorised: one cumulative sum, one binary search."""
    if len(edge_group) == 0:
        return np.full(len(slot_group), -1, dtype=np.int64)
    order = np.argsort(edge_group, kind="stable")
    g, e, w = edge_group[order], edge_elem[order], edge_weight[order].astype(np.float64)
    cw = np.cumsum(w)
    start = np.searchsorted(g, slot_group, side="left")
    end = np.searchsorted(g, slot_group, side="right")
    has = end > start
    base = np.where(start > 0, cw[np.maximum(start - 1, 0)], 0.0)
    total = cw[np.maximum(end - 1, 0)] - base
    target = base + rng.random(len(slot_group)) * total
    idx = np.clip(np.searchsorted(cw, target, side="right"), start, np.maximum(end - 1, 0))
    return np.where(has & (total > 0), e[np.minimum(idx, len(e) - 1)], -1).astype(np.int64)
