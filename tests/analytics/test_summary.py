"""Marketplace figures computed by the store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from tests import factories
from trustflow.accounts import service as accounts_service
from trustflow.analytics import summary as analytics
from trustflow.content import service as content_service
from trustflow.orders import service as orders_service
from trustflow.orders.models import ContentKind
from trustflow.vocabulary import Channel

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def _live_order(
    session: Session, buyer: int, sku: int, creator: int, live: int, key: str, at: datetime
) -> None:
    order = orders_service.place_order(
        session,
        orders_service.OrderRequest(
            buyer_id=buyer,
            sku_id=sku,
            quantity=1,
            channel=Channel.DISTRIBUTION,
            idempotency_key=key,
            creator_id=creator,
            content_kind=ContentKind.LIVE_SESSION,
            content_id=live,
        ),
        at=at,
    )
    orders_service.pay_order(session, order_id=order.id, idempotency_key=f"p-{key}", at=at)


def test_repurchase_and_fans_share_and_daily_fields(session: Session) -> None:
    cat = factories.category(session)
    seller = factories.seller(session, category_id=cat, price_fen=5_000, at=T0)
    creator, _ = factories.creator_selling(session, seller.product_id, at=T0)
    fan, stranger = factories.buyer(session, "fan"), factories.buyer(session, "stranger")
    accounts_service.follow_creator(session, buyer_id=fan, creator_id=creator, at=T0)
    live = content_service.schedule_live(
        session, creator_id=creator, product_ids=[seller.product_id], scheduled_at=T0
    )
    content_service.start_live(session, live_id=live.id, at=T0)
    _live_order(session, fan, seller.sku_id, creator, live.id, "f1", T0 + timedelta(hours=1))
    _live_order(session, stranger, seller.sku_id, creator, live.id, "s1", T0 + timedelta(hours=1))
    # the fan comes back 10 days later from the shelf; the stranger never does
    factories.paid_order(
        session, buyer_id=fan, sku_id=seller.sku_id, key="f2", at=T0 + timedelta(days=10)
    )
    factories.paid_order(
        session, buyer_id=stranger, sku_id=seller.sku_id, key="late", at=T0 + timedelta(days=40)
    )
    session.commit()

    summary = analytics.marketplace_summary(session)

    assert summary["orders"] == 4
    assert summary["days"] == 41
    assert str(summary["gmv_by_channel_yuan"]["distribution"]) == "100.00"
    assert str(summary["gmv_by_channel_yuan"]["shelf"]) == "100.00"
    assert summary["fans_order_share"] == 0.5  # one of the two live orders came from a fan
    # first orders in the first third of the run: the fan's (repeat within 30 days) and the
    # stranger's (repeat only after 39 days)
    assert summary["repurchase_rate_by_shop_kind"] == {"fast_brand": 0.5}
    days = {(r.day.isoformat(), r.field): r.orders for r in analytics.daily(session)}
    assert days == {
        ("2026-03-02", "distribution"): 2,
        ("2026-03-12", "shelf"): 1,
        ("2026-04-11", "shelf"): 1,
    }
