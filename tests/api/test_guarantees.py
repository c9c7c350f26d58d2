"""A line's guarantees over the API: the order's buyer and operators read them; nobody else
learns the order exists."""

from __future__ import annotations

from tests import factories
from tests.api.conftest import World
from trustflow.orders import service as orders_service

API = "/api/v1"


def test_the_buyer_reads_its_lines_guarantees_and_others_do_not(world: World) -> None:
    factory = world.client.app.state.session_factory  # type: ignore[attr-defined]
    with factory() as s:
        order = factories.paid_order(s, buyer_id=world.buyer_id, sku_id=world.a.sku_id, key="g")
        line = orders_service.order_lines(s, order.id)[0].id
        s.commit()
    path = f"{API}/orders/{order.id}/lines/{line}/guarantees"

    own = world.client.get(path + "?kind=return_refund&reason=quality", headers=world.as_("buyer"))
    shop = world.client.get(path, headers=world.as_("merchant_a"))
    other = world.client.get(path, headers=world.as_("other_buyer"))
    rival = world.client.get(path, headers=world.as_("merchant_b"))

    assert own.status_code == 200, own.text
    answers = {a["rule"]: a for a in own.json()}
    assert list(answers) == [
        "no_reason_return",
        "refund_without_return",
        "fast_refund",
        "return_shipping",
        "authenticity",
        "used_phone_warranty",
    ]
    assert answers["no_reason_return"]["reason"] == "the order has not been delivered"
    assert answers["return_shipping"]["amount_fen"] == 1_000
    # the reasons tell the buyer's history on the whole platform: not even the shop reads them
    assert shop.status_code == 403
    assert other.status_code == rival.status_code == 404
