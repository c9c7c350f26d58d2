"""Scores over the API: tiers are public, the detail is the owner's, appeals are the
merchant's to file and the platform's to decide."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests import factories
from tests.api.conftest import World
from trustflow.aftersales.models import Review
from trustflow.db import session_factory, transaction
from trustflow.scoring.models import (
    EntityScore,
    ScoreKind,
    ScoreStatus,
    ScoreVersion,
    Tier,
    VersionState,
)
from trustflow.scoring.service import compute_scores

API = "/api/v1"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def scored(world: World, engine: Engine, tmp_path: Path) -> World:
    with transaction(session_factory(engine)) as s:
        factories.delivered_orders(
            s,
            world.a,
            buyer_id=world.buyer_id,
            count=6,
            start=NOW - timedelta(days=8),
            stars=[5, 5, 1, 5, 4, 5],
        )
    compute_scores(engine, tmp_path / "wh", as_of=NOW)
    return world


def test_the_owner_sees_the_breakdown_and_others_only_the_tier(scored: World) -> None:
    c, shop = scored.client, scored.a.shop_id
    mine = c.get(f"{API}/scores/shops/{shop}", headers=scored.as_("merchant_a")).json()
    assert mine["status"] == "provisional" and mine["sample"] == 6 and mine["min_sample"] == 30
    assert mine["lower"] <= mine["score"] <= mine["upper"]
    assert {m["metric"] for m in mine["breakdown"]} >= {"bad_review_rate", "late_pickup_rate"}
    assert all(h["gain"] > 0 and "points" in h["text"] for h in mine["hints"])
    # 6 orders: the shop reached back to its longest window, and says so; its dimensions
    # together make the score
    assert mine["window_days"] == 180 and 0 < mine["known_share"] <= 1
    dims = {d["dimension"]: d for d in mine["dimensions"]}
    assert {"product", "logistics"} <= set(dims)
    assert sum(d["weight"] * d["points"] for d in dims.values()) == pytest.approx(
        mine["score"], abs=0.05
    )

    theirs = c.get(f"{API}/scores/shops/{shop}", headers=scored.as_("merchant_b")).json()
    assert theirs["tier"] == mine["tier"]
    assert theirs["score"] is None and theirs["breakdown"] is None and theirs["hints"] is None
    assert theirs["dimensions"] is None and theirs["window_days"] is None

    product = c.get(
        f"{API}/scores/products/{scored.a.product_id}", headers=scored.as_("operator")
    ).json()
    assert product["kind"] == "product" and product["score"] is not None

    none = c.get(f"{API}/scores/shops/{scored.b.shop_id}", headers=scored.as_("merchant_b"))
    assert none.json()["status"] == "no_score" and none.json()["tier"] is None
    assert c.get(f"{API}/scores/shops/999999", headers=scored.as_("buyer")).status_code == 404
    assert c.get(f"{API}/scores/shelves/1", headers=scored.as_("buyer")).status_code == 422


def test_history_and_eligibility_are_the_owners(scored: World) -> None:
    c, shop = scored.client, scored.a.shop_id
    history = c.get(f"{API}/scores/shops/{shop}/history", headers=scored.as_("merchant_a"))
    assert history.status_code == 200 and len(history.json()) == 1
    denied = c.get(f"{API}/scores/shops/{shop}/history", headers=scored.as_("merchant_b"))
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"

    gates = c.get(f"{API}/scores/shops/{shop}/eligibility", headers=scored.as_("merchant_a"))
    body = gates.json()
    assert body["rewards"]["allowed"] is True
    # six orders and an excellent score: provisional, not yet proven (in both languages)
    excellent = body["campaign_excellent"]
    assert (excellent["allowed"], excellent["code"]) == (False, "score_provisional")
    assert "24 more paid orders in the window (30 in all)" in excellent["reason"]
    assert "还需 24 笔已付款订单（共 30 笔）" in excellent["reason_zh"]


def test_definitions_are_public(scored: World) -> None:
    body = scored.client.get(f"{API}/scores/definitions", headers=scored.as_("buyer")).json()
    assert [d["kind"] for d in body["definitions"]] == ["product", "store", "creator"]
    assert [t["tier"] for t in body["tiers"]] == ["excellent", "good", "fair", "low"]


def test_appeals_are_filed_by_the_owner_and_decided_by_the_platform(
    scored: World, engine: Engine
) -> None:
    c = scored.client
    with session_factory(engine)() as s:
        review_id = s.scalar(select(Review.id).where(Review.stars == 1))
    body = {
        "shop_id": scored.a.shop_id,
        "defect_kind": "review",
        "defect_id": review_id,
        "reason": "the photo shows another shop's goods",
    }
    assert (
        c.post(f"{API}/scores/appeals", json=body, headers=scored.as_("merchant_b")).status_code
        == 403
    )
    wrong_shop = {**body, "shop_id": scored.b.shop_id}
    r = c.post(f"{API}/scores/appeals", json=wrong_shop, headers=scored.as_("merchant_b"))
    assert r.status_code == 403  # not a defect of shop B
    filed = c.post(f"{API}/scores/appeals", json=body, headers=scored.as_("merchant_a"))
    assert filed.status_code == 201 and filed.json()["status"] == "pending"
    again = c.post(f"{API}/scores/appeals", json=body, headers=scored.as_("merchant_a"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate"

    listed = c.get(f"{API}/scores/appeals", headers=scored.as_("merchant_b")).json()
    assert listed["items"] == []
    appeal_id = filed.json()["id"]
    decision = {"upheld": True, "note": "waybill checked"}
    url = f"{API}/scores/appeals/{appeal_id}/decision"
    assert c.post(url, json=decision, headers=scored.as_("merchant_a")).status_code == 403
    decided = c.post(url, json=decision, headers=scored.as_("operator"))
    assert decided.status_code == 200 and decided.json()["status"] == "upheld"
    assert c.post(url, json=decision, headers=scored.as_("operator")).status_code == 409


@pytest.mark.parametrize(
    "change",
    [
        {"defect_kind": "tweet"},
        {"reason": ""},
        {"reason": "x" * 2001},
        {"defect_id": 0},
        {"shop_id": "one"},
    ],
)
def test_bad_appeals_are_refused_with_a_clear_error(
    scored: World, change: dict[str, object]
) -> None:
    body = {"shop_id": scored.a.shop_id, "defect_kind": "review", "defect_id": 1, "reason": "r"}
    r = scored.client.post(
        f"{API}/scores/appeals", json={**body, **change}, headers=scored.as_("merchant_a")
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"


def test_an_appeal_against_an_unknown_defect_is_not_found(scored: World) -> None:
    body = {
        "shop_id": scored.a.shop_id,
        "defect_kind": "after_sales",
        "defect_id": 424242,
        "reason": "no such request",
    }
    r = scored.client.post(f"{API}/scores/appeals", json=body, headers=scored.as_("merchant_a"))
    assert r.status_code == 404


@pytest.fixture
def burst(world: World, engine: Engine, tmp_path: Path) -> World:
    start = NOW.replace(hour=0, minute=0, second=0) - timedelta(days=6)
    with transaction(session_factory(engine)) as s:
        factories.delivered_orders(
            s,
            world.a,
            buyer_id=world.buyer_id,
            count=3,
            start=start - timedelta(days=3),
            stars=[5] * 3,
        )
        for i in range(6):
            factories.delivered_orders(
                s,
                world.a,
                buyer_id=factories.buyer(s, f"b{i}"),
                count=1,
                start=start + timedelta(hours=i),
                stars=[1],
                key=f"burst{i}",
            )
    compute_scores(engine, tmp_path / "wh", as_of=NOW)
    return world


def test_held_bursts_are_listed_for_their_shop_and_judged_by_the_platform(burst: World) -> None:
    c = burst.client
    mine = c.get(f"{API}/scores/bursts", headers=burst.as_("merchant_a")).json()["items"]
    assert [(b["shop_id"], b["bad_reviews"]) for b in mine] == [(burst.a.shop_id, 6)]
    assert c.get(f"{API}/scores/bursts", headers=burst.as_("merchant_b")).json()["items"] == []

    verdict = {"shop_id": burst.a.shop_id, "day": mine[0]["day"], "verdict": "dismissed"}
    url = f"{API}/scores/bursts/decision"
    assert c.post(url, json=verdict, headers=burst.as_("merchant_a")).status_code == 403
    decided = c.post(url, json=verdict, headers=burst.as_("operator"))
    assert decided.status_code == 200 and decided.json()["verdict"] == "dismissed"
    again = c.post(url, json=verdict, headers=burst.as_("operator"))
    assert again.status_code == 409
    assert c.get(f"{API}/scores/bursts", headers=burst.as_("operator")).json()["items"] == []

    unknown = {**verdict, "day": "2020-01-01"}
    assert c.post(url, json=unknown, headers=burst.as_("operator")).status_code == 404
    for bad in ({"verdict": "maybe"}, {"day": "yesterday"}, {"shop_id": 0}):
        r = c.post(url, json={**verdict, **bad}, headers=burst.as_("operator"))
        assert r.status_code == 422


def test_a_restricted_creator_is_refused_an_offer_over_the_api(
    world: World, engine: Engine
) -> None:
    with transaction(session_factory(engine)) as s:
        version = ScoreVersion(as_of=NOW, engine="test", state=VersionState.ACTIVE)
        s.add(version)
        s.flush()
        s.add(
            EntityScore(
                version_id=version.id,
                kind=ScoreKind.CREATOR,
                entity_id=world.creator_id,
                score=40.0,
                lower=35.0,
                upper=45.0,
                sample=100,
                status=ScoreStatus.SCORED,
                tier=Tier.LOW,
                restricted=True,
                detail={},
            )
        )
    c = world.client
    body = {"product_id": world.b.product_id, "commission_bps": 2500}
    offer = c.post(f"{API}/offers", json=body, headers=world.as_("merchant_b")).json()

    refused = c.post(
        f"{API}/offers/{offer['id']}/selections", json={}, headers=world.as_("creator")
    )

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "score_restricted"
    assert refused.json()["error"]["message"] == (
        f"creator {world.creator_id} has a score of 40.0 (low) and is restricted"
    )
