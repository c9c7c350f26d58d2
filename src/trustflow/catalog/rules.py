"""Listing rules: what a product needs before buyers can see it.

A product with a brand name may be listed only once the shop has shown it may sell that brand
(品牌授权); this is the first line of the platform's counterfeit interception.
"""

from __future__ import annotations

from datetime import timedelta

from trustflow.catalog.models import ListingStatus

L = ListingStatus

#: Listing changes a merchant may make, and those reserved to the platform (blocking).
MERCHANT_LISTING_TRANSITIONS: dict[ListingStatus, frozenset[ListingStatus]] = {
    L.DRAFT: frozenset({L.LISTED}),
    L.LISTED: frozenset({L.DELISTED}),
    L.DELISTED: frozenset({L.LISTED}),
    L.BLOCKED: frozenset(),
}
OPERATOR_LISTING_TRANSITIONS: dict[ListingStatus, frozenset[ListingStatus]] = {
    L.DRAFT: frozenset({L.LISTED, L.BLOCKED}),
    L.LISTED: frozenset({L.DELISTED, L.BLOCKED}),
    L.DELISTED: frozenset({L.LISTED, L.BLOCKED}),
    L.BLOCKED: frozenset({L.DELISTED}),
}

#: Listing states a product has never been public in: to anyone but its shop it does not exist
#: (a buyer who orders a draft's SKU, or a rival who edits it, is told "not found"). A delisted
#: or blocked product was public; ordering it is refused as not on sale.
UNPUBLISHED: frozenset[ListingStatus] = frozenset({L.DRAFT})

#: The window for "lowest price in the last 30 days" (近30天最低价).
LOWEST_PRICE_WINDOW = timedelta(days=30)

MAX_PRICE_FEN = 100_000_000_00  # 100 million yuan: anything above is a typo, not a product
MAX_STOCK = 10_000_000
