"""Who may list score appeals and held review bursts: the managers of the shop they concern,
and operators. Routers ask these questions; they never answer them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from trustflow.accounts.principal import Principal
from trustflow.catalog.access import managed_shop_ids
from trustflow.scoring import service as scoring_service
from trustflow.scoring.models import ReviewBurst, ScoreAppeal


def _of_managed_shops(
    session: Session, principal: Principal, stmt: Select[Any], shop_id: InstrumentedAttribute[int]
) -> Select[Any]:
    if principal.is_operator:
        return stmt
    return stmt.where(shop_id.in_(managed_shop_ids(session, principal) or []))


def visible_appeals(session: Session, principal: Principal) -> Select[Any]:
    """The appeals the principal may list: its shops' (every one for an operator)."""
    return _of_managed_shops(session, principal, select(ScoreAppeal), ScoreAppeal.shop_id)


def visible_pending_bursts(session: Session, principal: Principal) -> Select[Any]:
    """The held bursts awaiting a verdict (:func:`trustflow.scoring.service.pending_bursts`,
    newest first) that the principal may list: its shops' (every one for an operator)."""
    return _of_managed_shops(
        session, principal, scoring_service.pending_bursts(session), ReviewBurst.shop_id
    )
