"""Every state machine has one shape; its refusals keep their code and message."""

from __future__ import annotations

import pytest

from trustflow.aftersales import rules as aftersales_rules
from trustflow.aftersales.models import AfterSalesKind, DisputeOutcome
from trustflow.catalog import rules as catalog_rules
from trustflow.catalog.models import ListingStatus, ShopStatus
from trustflow.errors import ErrorCode, IllegalTransition
from trustflow.orders import rules as order_rules
from trustflow.orders.models import OrderStatus


def test_a_refusal_names_the_entity_its_state_and_the_action() -> None:
    with pytest.raises(IllegalTransition) as err:
        order_rules.TRANSITIONS.require("pay", OrderStatus.PAID)

    assert err.value.code is ErrorCode.ILLEGAL_TRANSITION
    assert str(err.value) == "order in state 'paid' cannot pay"


def test_an_unknown_action_is_refused_as_illegal_not_as_a_crash() -> None:
    assert not catalog_rules.MERCHANT_LISTING_TRANSITIONS.allows(
        "become blocked", ListingStatus.LISTED
    )
    with pytest.raises(IllegalTransition, match="cannot become draft"):
        catalog_rules.OPERATOR_LISTING_TRANSITIONS.require(
            catalog_rules.becoming(ListingStatus.DRAFT), ListingStatus.LISTED
        )


def test_a_closed_shop_stays_closed_and_the_others_move_freely() -> None:
    shops = catalog_rules.SHOP_TRANSITIONS
    for current in ShopStatus:
        for target in ShopStatus:
            allowed = shops.allows(catalog_rules.becoming(target), current, target)
            assert allowed is (current is not ShopStatus.CLOSED or target is ShopStatus.CLOSED)


@pytest.mark.parametrize("kind", list(AfterSalesKind))
@pytest.mark.parametrize("outcome", [None, *DisputeOutcome])
def test_after_sales_targets_are_among_the_declared_ones(
    kind: AfterSalesKind, outcome: DisputeOutcome | None
) -> None:
    machine = aftersales_rules.TRANSITIONS
    for action, move in machine.moves.items():
        if (action == "arbitrate") != (outcome is not None):
            continue
        assert aftersales_rules.target_after(action, kind, outcome) in move.targets
