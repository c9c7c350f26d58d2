"""The plan as a serving process holds it (:class:`PlanSnapshot`), its pacing, and the buyers'
audience segments.

A plan never changes once stored, so a process loads it once: its candidates' scores
(``value × trust + potential``) and planned and promised impressions, its nodes' prices and
the day's supply curve, and the JSON the feed writes of it. Beside them the snapshot keeps the
shared pacing counts as this process last read them, plus what it served since.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trustflow.bulk import IntArray, sorted_lookup
from trustflow.orders.attribution import channel_field, rest_fields
from trustflow.orders.models import ContentKind
from trustflow.traffic.plan.models import CandidateKind, PlanCandidate, PlanNode, TrafficPlan
from trustflow.traffic.plan.service import HOURS, KINDS, SURFACES
from trustflow.traffic.serving.audience import host_key, precise_audience
from trustflow.vocabulary import SHELF_SURFACES, Channel, ItemKind

__all__ = [
    "CHUANLIU_CODE",
    "ITEM_KINDS",
    "PACE_DAMPING",
    "PACE_RANGE",
    "FloatArray",
    "PlanSnapshot",
    "segment_of",
]

FloatArray = npt.NDArray[np.float64]

#: pseudo-impressions that keep pacing calm while counts are small
PACE_DAMPING = 20.0
PACE_RANGE = (0.1, 10.0)
#: a reward impression's plan, as serving codes it: the Chuanliu plan's (a festival's is its
#: campaign id; 0: not a reward impression)
CHUANLIU_CODE = -1
#: what a feed shows, by whether the surface is a shelf: rooms, or cards
ITEM_KINDS = [ItemKind.LIVE_SESSION.value, ItemKind.PRODUCT_CARD.value]
_SHOP_ROOM = KINDS.index(CandidateKind.SHOP_ROOM)
_CREATOR_ROOM = KINDS.index(CandidateKind.CREATOR_ROOM)
_CARD = KINDS.index(CandidateKind.PRODUCT_CARD)


def segment_of(user_id: int, segments: int) -> int:
    """A buyer's audience segment: a stable hash bucket (Fibonacci hashing)."""
    return (((user_id * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 40) % segments


@dataclass
class PlanSnapshot:
    """One plan, loaded once per process (plans never change once stored)."""

    plan_id: int
    version: str
    segments: int
    temperature: float
    kind: IntArray
    entity_id: IntArray
    shop_id: IntArray
    score: FloatArray
    planned: FloatArray
    #: reward impressions promised: the Chuanliu promise and a festival's, together
    promised: FloatArray
    price: FloatArray  # (surfaces, hours, segments)
    #: cumulative share of the day's supply by minute, for rooms and for cards
    day_curve: dict[bool, FloatArray]
    index: dict[tuple[int, int], int]
    cards: IntArray  # the product cards, best score first
    #: the Chuanliu plan's precise audience (精准人群): buyer → promised rooms it goes to first
    precise: dict[int, list[int]] = field(default_factory=dict)
    #: of ``promised``, the Chuanliu promise (its reward impressions come first); the rest
    #: is the festival ``reward_campaign`` promised (None: all of it is Chuanliu's)
    chuanliu_promised: FloatArray | None = None
    reward_campaign: IntArray | None = None
    delivered: FloatArray = field(init=False)
    reward_delivered: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        self.delivered = np.zeros(len(self.kind))
        self.reward_delivered = np.zeros(len(self.kind))
        if self.chuanliu_promised is None:
            self.chuanliu_promised = self.promised
        if self.reward_campaign is None:
            self.reward_campaign = np.zeros(len(self.kind), dtype=np.int64)
        # rooms by host key, for looking up many live rooms at once (cards: no host, -1)
        shop_room, creator_room = self.kind == _SHOP_ROOM, self.kind == _CREATOR_ROOM
        host = np.where(
            shop_room | creator_room,
            host_key(self.entity_id * shop_room, self.entity_id * creator_room),
            -1,
        )
        self._host_order = np.argsort(host, kind="stable")
        self._host_sorted = host[self._host_order]
        # the feed's JSON up to the user id, by surface, and its prices, by surface, hour
        # and segment (floats as JSON writes them: their shortest repr)
        version = json.dumps(self.version)
        self.json_head = [
            f'{{"plan_version":{version},"surface":{json.dumps(s.value)},"user_id":'.encode()
            for s in SURFACES
        ]
        self.price_json = [
            [[repr(p).encode() for p in hour] for hour in surface]
            for surface in self.price.tolist()
        ]

    def item_fragments(self, idx: IntArray, item_ids: IntArray, *, shelf: bool) -> list[bytes]:
        """Each item's JSON as the feed shows it (``FeedItemOut``), up to its reward flag."""
        head = '{"item_kind":' + json.dumps(ITEM_KINDS[int(shelf)]) + ',"item_id":'
        kinds = [json.dumps(k.value) for k in KINDS]
        return [
            f'{head}{item},"candidate_kind":{kinds[kind]},"entity_id":{entity},'
            f'"shop_id":{shop or "null"},"score":{score!r},"reward":'.encode()
            for item, kind, entity, shop, score in zip(
                item_ids.tolist(),
                self.kind[idx].tolist(),
                self.entity_id[idx].tolist(),
                self.shop_id[idx].tolist(),
                self.score[idx].tolist(),
                strict=True,
            )
        ]

    def item_vouches(self, idx: IntArray, item_ids: IntArray, *, shelf: bool) -> list[bytes]:
        """What each item's attribution token vouches for (:mod:`trustflow.orders.attribution`):
        a room's channel, host and live session; a card's product and shop (its channel is
        the surface's, added per request)."""
        if shelf:
            return [
                rest_fields(shop_id=shop or None, product_id=product)
                for product, shop in zip(item_ids.tolist(), self.shop_id[idx].tolist(), strict=True)
            ]
        self_broadcast, distribution = (
            channel_field(Channel.SELF_BROADCAST),
            channel_field(Channel.DISTRIBUTION),
        )
        return [
            self_broadcast
            + rest_fields(content_kind=ContentKind.LIVE_SESSION, content_id=item, shop_id=host)
            if kind == _SHOP_ROOM
            else distribution
            + rest_fields(content_kind=ContentKind.LIVE_SESSION, content_id=item, creator_id=host)
            for item, kind, host in zip(
                item_ids.tolist(),
                self.kind[idx].tolist(),
                self.entity_id[idx].tolist(),
                strict=True,
            )
        ]

    def rooms_of(self, host: IntArray) -> IntArray:
        """The candidate index of each host's room (see :func:`.audience.host_key`), -1 if
        none."""
        return sorted_lookup(self._host_sorted, host, self._host_order)

    @classmethod
    def load(cls, session: Session, plan: TrafficPlan) -> PlanSnapshot:
        """The plan's candidates and nodes as serving holds them, and the precise audience of
        its promised rooms (:func:`.audience.precise_audience`)."""
        rows = session.execute(
            select(
                PlanCandidate.idx,
                PlanCandidate.kind,
                PlanCandidate.entity_id,
                PlanCandidate.shop_id,
                PlanCandidate.value_fen,
                PlanCandidate.multiplier,
                PlanCandidate.potential,
                PlanCandidate.planned_impressions,
                PlanCandidate.promised_impressions,
                PlanCandidate.campaign_promised_impressions,
                func.coalesce(PlanCandidate.campaign_id, 0),
            )
            .where(PlanCandidate.plan_id == plan.id)
            .order_by(PlanCandidate.idx)
        ).all()
        codes = {k: i for i, k in enumerate(KINDS)}
        kind = np.array([codes[r[1]] for r in rows], dtype=np.int64)
        entity = np.array([r[2] for r in rows], dtype=np.int64)
        shop = np.array([r[3] or 0 for r in rows], dtype=np.int64)
        score = np.array([r[4] * r[5] + r[6] for r in rows], dtype=np.float64)
        price = np.zeros((len(SURFACES), HOURS, plan.segments))
        supply = np.zeros((len(SURFACES), HOURS))
        order = {s: i for i, s in enumerate(SURFACES)}
        for surface, hour, segment, sup, pr in session.execute(
            select(
                PlanNode.surface, PlanNode.hour, PlanNode.segment, PlanNode.supply, PlanNode.price
            ).where(PlanNode.plan_id == plan.id)
        ):
            price[order[surface], hour, segment] = pr
            supply[order[surface], hour] += sup
        shelf = np.array([s in SHELF_SURFACES for s in SURFACES])
        curves = {}
        for is_shelf in (False, True):
            per_hour = supply[shelf == is_shelf].sum(axis=0)
            per_minute = np.repeat(per_hour / 60.0, 60)
            total = per_minute.sum()
            curves[is_shelf] = (
                np.cumsum(per_minute) / total if total > 0 else np.linspace(0, 1, 24 * 60)
            )
        cards = np.flatnonzero(kind == _CARD)
        chuanliu = np.array([r[8] for r in rows], dtype=np.float64)
        snapshot = cls(
            plan_id=plan.id,
            version=plan.version,
            segments=plan.segments,
            temperature=max(plan.temperature, 1e-9),
            kind=kind,
            entity_id=entity,
            shop_id=shop,
            score=score,
            planned=np.array([r[7] for r in rows], dtype=np.float64),
            promised=chuanliu + np.array([r[9] for r in rows], dtype=np.float64),
            chuanliu_promised=chuanliu,
            reward_campaign=np.array([r[10] for r in rows], dtype=np.int64),
            price=price,
            day_curve=curves,
            index={(int(k), int(e)): i for i, (k, e) in enumerate(zip(kind, entity, strict=True))},
            cards=cards[np.argsort(-score[cards], kind="stable")],
        )
        snapshot.precise = precise_audience(session, snapshot.promised_rooms(), plan.plan_day)
        return snapshot

    def promised_rooms(self) -> dict[int, int]:
        """The shop rooms with a Chuanliu promise: shop id → candidate index."""
        chuanliu = self.promised if self.chuanliu_promised is None else self.chuanliu_promised
        return {
            int(e): i
            for i, (k, e) in enumerate(
                zip(self.kind.tolist(), self.entity_id.tolist(), strict=True)
            )
            if k == _SHOP_ROOM and chuanliu[i] > 0
        }

    def reward_plan(self, candidate: int) -> int:
        """Whose reward the candidate's next reward impression is, by the shared count so far:
        -1 the Chuanliu plan's (its promise comes first), else the festival's campaign id."""
        assert self.chuanliu_promised is not None and self.reward_campaign is not None
        if self.reward_delivered[candidate] < self.chuanliu_promised[candidate]:
            return CHUANLIU_CODE
        return int(self.reward_campaign[candidate])

    def pace(
        self, idx: IntArray, now: datetime, shelf: bool
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Log pacing factor per candidate, and whether each is still owed reward traffic."""
        minute = now.hour * 60 + now.minute
        share = float(self.day_curve[shelf][minute])
        planned = self.planned[idx] * share
        pace = (planned + PACE_DAMPING) / (self.delivered[idx] + PACE_DAMPING)
        promised = self.promised[idx]
        owed = self.reward_delivered[idx] < promised
        reward_pace = (promised * share + PACE_DAMPING) / (
            self.reward_delivered[idx] + PACE_DAMPING
        )
        pace = np.where(owed, np.maximum(pace, reward_pace), pace)
        return np.log(np.clip(pace, *PACE_RANGE)), owed
