"""Buyers report live rooms into a review queue; an upheld report costs the room's shop the
violation's points, once; governance counts what it did per day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests import factories
from trustflow.catalog import service as catalog_service
from trustflow.content import service as content_service
from trustflow.errors import Conflict, ErrorCode, IllegalTransition, InvalidInput
from trustflow.governance import identity, listings, penalties, reports
from trustflow.governance.models import ReportReason, ReportStatus

AT = datetime(2026, 3, 1, 20, tzinfo=UTC)


def _live_room(s: Session) -> tuple[factories.Seller, int]:
    seller = factories.seller(s, category_id=factories.category(s), at=AT)
    live = content_service.schedule_live(s, shop_id=seller.shop_id, scheduled_at=AT)
    content_service.start_live(s, live_id=live.id, at=AT)
    return seller, live.id


def test_an_upheld_report_costs_the_shop_its_points_once(session: Session) -> None:
    seller, live = _live_room(session)
    buyers = [factories.buyer(session, f"b{i}") for i in range(2)]
    first = content_service.report_live(
        session, buyer_id=buyers[0], live_id=live, reason=ReportReason.MISLEADING, at=AT
    )
    with pytest.raises(Conflict) as twice:
        content_service.report_live(
            session, buyer_id=buyers[0], live_id=live, reason=ReportReason.OTHER, at=AT
        )
    second = content_service.report_live(
        session, buyer_id=buyers[1], live_id=live, reason=ReportReason.COUNTERFEIT, at=AT
    )

    upheld = content_service.decide_live_report(
        session, report_id=first.id, uphold=True, reason="claims it cures colds", actor="op", at=AT
    )
    with pytest.raises(IllegalTransition):
        content_service.decide_live_report(
            session, report_id=first.id, uphold=True, reason="again", actor="op", at=AT
        )
    dismissed = content_service.decide_live_report(
        session,
        report_id=second.id,
        uphold=False,
        reason="the goods are genuine",
        actor="op",
        at=AT,
    )

    assert twice.value.code is ErrorCode.DUPLICATE
    assert (upheld.status, dismissed.status) == (ReportStatus.UPHELD, ReportStatus.DISMISSED)
    assert upheld.violation_id is not None and dismissed.violation_id is None
    standing = penalties.standing(session, seller.shop_id, AT)
    assert standing.points == penalties.VIOLATION_POINTS["live_room_misconduct"]
    # with the first report decided, the buyer may report the room again
    again = content_service.report_live(
        session, buyer_id=buyers[0], live_id=live, reason=ReportReason.OTHER, at=AT
    )
    assert again.status is ReportStatus.OPEN


def test_a_room_never_started_cannot_be_reported(session: Session) -> None:
    seller = factories.seller(session, category_id=factories.category(session), at=AT)
    live = content_service.schedule_live(session, shop_id=seller.shop_id, scheduled_at=AT)
    with pytest.raises(InvalidInput, match="has not started"):
        content_service.report_live(
            session,
            buyer_id=factories.buyer(session),
            live_id=live.id,
            reason=ReportReason.OTHER,
            at=AT,
        )


def test_governance_counts_what_it_did_each_day(session: Session) -> None:
    listings.register_brand(session, name="Nike", actor="op")
    seller, live = _live_room(session)
    next_day = AT + timedelta(days=1)
    catalog_service.create_product(session, shop_id=seller.shop_id, title="Nike Air", at=AT)
    catalog_service.create_product(session, shop_id=seller.shop_id, title="象牙 Nike", at=next_day)
    report = content_service.report_live(
        session,
        buyer_id=factories.buyer(session),
        live_id=live,
        reason=ReportReason.MISCONDUCT,
        at=AT,
    )
    content_service.decide_live_report(
        session, report_id=report.id, uphold=True, reason="abusive host", actor="op", at=next_day
    )
    merchant = identity.apply_merchant(
        session,
        name="Ban me",
        id_number="11010519491231002X",
        phone="13800138000",
        actor="op",
        at=AT,
    )
    assert not isinstance(merchant, identity.Refusal)
    catalog_service.ban_merchant(
        session, merchant_id=merchant.id, reason="fakes", actor="op", at=AT
    )
    identity.apply_merchant(
        session,
        name="Back again",
        id_number="11010519491231002X",
        phone="13900139000",
        actor="op",
        at=next_day,
    )

    stats = reports.daily_stats(session, AT.date(), next_day.date() + timedelta(days=1))

    assert [
        (
            s.day,
            s.interceptions,
            s.violations,
            s.applications_refused,
            s.reports_filed,
            s.reports_handled,
        )
        for s in stats
    ] == [
        (date(2026, 3, 1), 1, 0, 0, 1, 0),
        (date(2026, 3, 2), 2, 1, 1, 0, 1),
        (date(2026, 3, 3), 0, 0, 0, 0, 0),
    ]
    with pytest.raises(InvalidInput, match=r"1\.\.366 days"):
        reports.daily_stats(session, AT.date(), AT.date() - timedelta(days=1))
