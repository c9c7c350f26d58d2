"""Listing rules: what a product needs before buyers can see it.

A product with a brand name may be listed only once the shop has shown it may sell that brand
(品牌授权); this is the first line of the platform's counterfeit interception.
"""

from __future__ import annotations

from datetime import timedelta

from trustflow.catalog.models import ListingStatus, ShopStatus
from trustflow.state_machine import StateMachine, move

__all__ = [
    "LOWEST_PRICE_WINDOW",
    "MAX_PRICE_FEN",
    "MAX_STOCK",
    "MERCHANT_LISTING_TRANSITIONS",
    "OPERATOR_LISTING_TRANSITIONS",
    "SHOP_TRANSITIONS",
    "UNPUBLISHED",
    "becoming",
]

L = ListingStatus

#: Listing changes a merchant may make, and those reserved to the platform (blocking, and
#: releasing a blocked product as delisted). Each action is named by the state it reaches.
MERCHANT_LISTING_TRANSITIONS: StateMachine[ListingStatus] = StateMachine(
    "product",
    {
        "become listed": move({L.DRAFT, L.DELISTED}, L.LISTED),
        "become delisted": move({L.LISTED}, L.DELISTED),
    },
)
OPERATOR_LISTING_TRANSITIONS: StateMachine[ListingStatus] = StateMachine(
    "product",
    {
        "become listed": move({L.DRAFT, L.DELISTED}, L.LISTED),
        "become delisted": move({L.LISTED, L.BLOCKED}, L.DELISTED),
        "become blocked": move({L.DRAFT, L.LISTED, L.DELISTED}, L.BLOCKED),
    },
)

#: What the platform may do to a shop: suspend, reinstate or close it; a closed shop stays
#: closed.
SHOP_TRANSITIONS: StateMachine[ShopStatus] = StateMachine(
    "shop",
    {
        "become active": move({ShopStatus.ACTIVE, ShopStatus.SUSPENDED}, ShopStatus.ACTIVE),
        "become suspended": move({ShopStatus.ACTIVE, ShopStatus.SUSPENDED}, ShopStatus.SUSPENDED),
        "become closed": move(ShopStatus, ShopStatus.CLOSED),
    },
)


def becoming(status: ListingStatus | ShopStatus) -> str:
    """The action that moves a product or shop to ``status``."""
    return f"become {status.value}"


#: Listing states a product has never been public in: to anyone but its shop it does not exist
#: (a buyer who orders a draft's SKU, or a rival who edits it, is told "not found"). A delisted
#: or blocked product was public; ordering it is refused as not on sale.
UNPUBLISHED: frozenset[ListingStatus] = frozenset({L.DRAFT})

#: The window for "lowest price in the last 30 days" (近30天最低价).
LOWEST_PRICE_WINDOW = timedelta(days=30)

MAX_PRICE_FEN = 100_000_000_00  # 100 million yuan: anything above is a typo, not a product
MAX_STOCK = 10_000_000
