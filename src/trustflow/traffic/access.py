"""Who may read a feed: buyers their own, operators (the feed front ends) anyone's. The feed
route and its fast path (:mod:`trustflow.api.fast_feed`) ask this one question."""

from __future__ import annotations

from trustflow.accounts.models import Role
from trustflow.accounts.principal import Principal

__all__ = ["may_read_feed"]


def may_read_feed(principal: Principal, user_id: int) -> bool:
    """Whether ``principal`` may fetch the feed ``user_id`` sees."""
    return principal.is_operator or principal.is_(Role.BUYER, user_id)
