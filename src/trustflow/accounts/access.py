"""Who may act in a role. Routers ask these questions; they never answer them.

Operators may do anything; every other caller acts as its own role and subject. What a caller
may see of a context's things is that context's rule, in its own ``access`` module
(:mod:`trustflow.catalog.access`, :mod:`trustflow.orders.access`,
:mod:`trustflow.aftersales.access`, :mod:`trustflow.scoring.access`,
:mod:`trustflow.traffic.access`).
"""

from __future__ import annotations

from trustflow.accounts.models import Role
from trustflow.accounts.principal import Principal
from trustflow.errors import Forbidden, NotFound


def require_role(principal: Principal, *roles: Role) -> None:
    if not principal.is_operator and principal.role not in roles:
        allowed = dict.fromkeys((Role.OPERATOR, *roles))  # operators always may; once each
        raise Forbidden(f"this needs one of: {', '.join(r.value for r in allowed)}")


def require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise Forbidden("operators only")


def acting_subject(principal: Principal, role: Role, requested: int | None) -> int:
    """The subject an action is for: the caller's own, or any one an operator names."""
    if principal.is_operator:
        if requested is None:
            raise NotFound(f"an operator must name the {role.value} to act for")
        return requested
    if principal.role is not role or principal.subject_id is None:
        raise Forbidden(f"only a {role.value} (or an operator) can do this")
    if requested is not None and requested != principal.subject_id:
        raise Forbidden(f"you cannot act for another {role.value}")
    return principal.subject_id
