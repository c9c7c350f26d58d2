"""Marketplace figures for operators: what the dashboard at ``/`` draws."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from trustflow.accounts import access
from trustflow.analytics import summary as analytics
from trustflow.api.deps import PrincipalDep, SessionDep
from trustflow.api.error_responses import ERROR_RESPONSES

router = APIRouter(tags=["analytics"], responses=ERROR_RESPONSES)


@router.get("/analytics/overview")
def overview(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """GMV by field and day, orders, refunds, top shops and traffic by surface (operators)."""
    access.require_operator(principal)
    return {
        "summary": analytics.marketplace_summary(session),
        "daily": [
            {
                "day": r.day.isoformat(),
                "field": r.field,
                "orders": r.orders,
                "gmv_yuan": analytics.yuan(r.gmv_fen),
            }
            for r in analytics.daily(session)
        ],
        "daily_refunds": [
            {"day": d.isoformat(), "refunds": n} for d, n in analytics.daily_refunds(session)
        ],
        "top_shops": analytics.top_shops(session),
    }
