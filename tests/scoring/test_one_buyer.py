"""One buyer cannot move a rival shop's score with chats, however it sends them; many honest
buyers still can. Built through the real services and the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Role
from trustflow.aftersales import bulk as aftersales_bulk
from trustflow.aftersales import rules as aftersales_rules
from trustflow.aftersales import service as aftersales_service
from trustflow.aftersales.models import ChatThread
from trustflow.api.app import create_app
from trustflow.bulk import insert_many, table
from trustflow.db import transaction
from trustflow.errors import Conflict, ErrorCode
from trustflow.scoring import service as scoring
from trustflow.scoring.models import ScoreKind

NOW = datetime(2026, 3, 1, tzinfo=UTC)
START = NOW - timedelta(days=12)
#: when the attack and the honest slow chats happen: long enough before NOW to be late
ATTACK = NOW - timedelta(hours=2)
FLOOD = 200


@dataclass
class Market:
    rival: factories.Seller
    attacker: int  # a buyer of another shop, never of the rival
    customer: int  # a customer of the rival, whose one chat was answered at once
    quiet_customers: list[int]  # customers of the rival who have not chatted
    attacker_key: str


def _market(factory: sessionmaker[Session]) -> Market:
    """Three shops in one category, each with 16 customers; 10 of each shop's customers
    chatted with it, and it left 2 of those (3 at the rival) without a timely answer."""
    with transaction(factory) as s:
        cat = factories.category(s)
        shops = [
            factories.seller(
                s, category_id=cat, name=name, stock=1000, at=START - timedelta(days=1)
            )
            for name in ("Rival", "Other", "Third")
        ]
        customers: dict[int, list[int]] = {}
        for shop_index, sold in enumerate(shops):
            customers[sold.shop_id] = []
            for i in range(16):
                buyer = factories.buyer(s, f"buyer {shop_index}-{i}")
                customers[sold.shop_id].append(buyer)
                at = START + timedelta(hours=i)
                factories.delivered_orders(
                    s, sold, buyer_id=buyer, count=1, start=at, stars=[5], key=f"o{buyer}-"
                )
                if i < 10:
                    thread = aftersales_service.open_chat(
                        s, buyer_id=buyer, shop_id=sold.shop_id, at=at + timedelta(days=1)
                    )
                    slow = i < (3 if shop_index == 0 else 2)
                    aftersales_service.respond_chat(
                        s,
                        thread_id=thread.id,
                        at=thread.first_message_at + timedelta(seconds=900 if slow else 30),
                    )
        rival, other = shops[0], shops[1]
        attacker = factories.buyer(s, "attacker")
        factories.delivered_orders(s, other, buyer_id=attacker, count=1, start=START, key="a")
        key = accounts_service.create_api_key(s, role=Role.BUYER, subject_id=attacker)[1]
    return Market(
        rival=rival,
        attacker=attacker,
        customer=customers[rival.shop_id][5],
        quiet_customers=customers[rival.shop_id][10:],
        attacker_key=key,
    )


def _published(
    engine: Engine, factory: sessionmaker[Session], wh: Path, shop_id: int
) -> dict[str, float]:
    scoring.compute_scores(engine, wh, as_of=NOW)
    with factory() as s:
        score = scoring.get_score(s, ScoreKind.STORE, shop_id)
        assert score is not None
        chat = next(m for m in score.detail["metrics"] if m["metric"] == "slow_chat_rate")
        return {
            "score": round(score.score, 2),
            "slow_chat_rate": round(chat["rate"], 2),
            "slow_chats": chat["defects"],
            "chats": chat["opportunities"],
        }


def _chats_to(factory: sessionmaker[Session], buyer_id: int, shop_id: int) -> int:
    with factory() as s:
        return int(
            s.scalar(
                select(func.count()).where(
                    ChatThread.buyer_id == buyer_id, ChatThread.shop_id == shop_id
                )
            )
            or 0
        )


def _unanswered_flood(buyer_id: int, shop_id: int) -> list[dict[str, object]]:
    """FLOOD chats, one an hour back from ATTACK (after every honest chat), none answered."""
    return [
        {
            "buyer_id": buyer_id,
            "shop_id": shop_id,
            "order_id": None,
            "first_message_at": ATTACK - timedelta(hours=i),
            "first_response_at": None,
            "first_response_seconds": None,
            "updated_at": ATTACK - timedelta(hours=i),
        }
        for i in range(FLOOD)
    ]


def test_one_buyer_cannot_move_a_rivals_score_but_many_buyers_do(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = _market(factory)
    rival = market.rival.shop_id
    wh = tmp_path / "wh"
    before = _published(engine, factory, wh, rival)
    assert (before["slow_chats"], before["chats"]) == (3, 10)

    # Through the API, with its limits in force: the flood is cut at the per-shop cap.
    monkeypatch.setattr(aftersales_service, "utcnow", lambda: ATTACK)
    with TestClient(create_app(engine)) as client:
        codes = [
            client.post(
                "/api/v1/chats",
                json={"shop_id": rival},
                headers={"X-API-Key": market.attacker_key},
            ).status_code
            for _ in range(FLOOD)
        ]
        refusal = client.post(
            "/api/v1/chats", json={"shop_id": rival}, headers={"X-API-Key": market.attacker_key}
        ).json()["error"]
    cap = aftersales_rules.CHATS_PER_SHOP_PER_DAY
    assert codes == [201] * cap + [409] * (FLOOD - cap)
    assert refusal["code"] == ErrorCode.BUYER_LIMIT_REACHED
    assert refusal["details"]["retry_after_seconds"] == 24 * 3600
    assert _chats_to(factory, market.attacker, rival) == cap

    # Through the bulk path: the same cap, per 24 hours.
    flood = _unanswered_flood(market.attacker, rival)[cap:]  # the API's 5 are at ATTACK
    with transaction(factory) as s:
        recorded = aftersales_bulk.record_chats(
            s,
            np.full(len(flood), market.attacker),
            np.full(len(flood), rival),
            [row["first_message_at"] for row in flood],  # type: ignore[misc]
            np.full(len(flood), -1),
        )
    days = {(ATTACK - row["first_message_at"]).days for row in flood}  # type: ignore[operator]
    assert 0 < recorded <= cap * len(days) < len(flood)

    # Written straight into the store, past every cap: the attacker, and a customer of the
    # rival who floods it after one answered chat.
    with transaction(factory) as s:
        insert_many(s, table(ChatThread), _unanswered_flood(market.attacker, rival))
        insert_many(s, table(ChatThread), _unanswered_flood(market.customer, rival))
    assert _chats_to(factory, market.attacker, rival) == cap + recorded + FLOOD

    assert _published(engine, factory, wh, rival) == before

    # Honest customers the rival leaves waiting do move it: one voice each.
    with transaction(factory) as s:
        for buyer in market.quiet_customers[:4]:
            aftersales_service.open_chat(s, buyer_id=buyer, shop_id=rival, at=ATTACK)
    after = _published(engine, factory, wh, rival)
    assert (after["slow_chats"], after["chats"]) == (3 + 4, 10 + 4)
    assert after["slow_chat_rate"] > before["slow_chat_rate"]
    assert after["score"] < before["score"]


def test_a_buyer_opens_at_most_the_daily_chats_with_one_shop(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        cat = factories.category(s)
        shop = factories.seller(s, category_id=cat, name="S", at=START).shop_id
        elsewhere = factories.seller(s, category_id=cat, name="T", at=START).shop_id
        buyer = factories.buyer(s)
        cap = aftersales_rules.CHATS_PER_SHOP_PER_DAY
        for i in range(cap):
            aftersales_service.open_chat(
                s, buyer_id=buyer, shop_id=shop, at=START + timedelta(hours=i)
            )
        refused_at = START + timedelta(hours=cap)
        with pytest.raises(Conflict) as refused:
            aftersales_service.open_chat(s, buyer_id=buyer, shop_id=shop, at=refused_at)
        # another shop is another conversation
        aftersales_service.open_chat(s, buyer_id=buyer, shop_id=elsewhere, at=refused_at)
        # the first thread leaves the 24 hours: one more may open
        aftersales_service.open_chat(
            s, buyer_id=buyer, shop_id=shop, at=START + aftersales_rules.CHAT_LIMIT_WINDOW
        )
    assert refused.value.code is ErrorCode.BUYER_LIMIT_REACHED
    assert (
        refused.value.details["retry_after_seconds"]
        == (START + aftersales_rules.CHAT_LIMIT_WINDOW - refused_at).total_seconds()
    )
    assert _chats_to(factory, buyer, shop) == cap + 1
