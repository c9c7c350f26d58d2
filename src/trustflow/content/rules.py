"""What a live session or a short video may link, and how a live session moves: one rule for
the service and the bulk path each.

A shop's own content links the shop's own products. A creator's content links listed products
of any shop (a creator sells others' goods through the distribution library). A product the host
could not see (another shop's draft or delisted product) is "not found", as a missing one is:
the answer tells nothing about what exists.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from trustflow.content.models import LiveStatus
from trustflow.state_machine import StateMachine, move

__all__ = [
    "LIVE_TRANSITIONS",
    "MAX_LINKED_PRODUCTS",
    "link_refusals",
]

MAX_LINKED_PRODUCTS = 200

#: A scheduled live session goes on air once, and ends once.
LIVE_TRANSITIONS: StateMachine[LiveStatus] = StateMachine(
    "live session",
    {
        "start": move({LiveStatus.SCHEDULED}, LiveStatus.LIVE),
        "end": move({LiveStatus.LIVE}, LiveStatus.ENDED),
    },
)

BoolArray = npt.NDArray[np.bool_]


def link_refusals(
    host_shop_id: npt.ArrayLike, product_shop_id: npt.ArrayLike, product_listed: npt.ArrayLike
) -> tuple[BoolArray, BoolArray]:
    """For each (host, product) link, element-wise: whether the product is unseen by the host
    (refuse as not found) and whether it is another shop's listed product linked by a shop
    (refuse as ``product_not_in_shop``). ``host_shop_id`` is 0 where a creator hosts."""
    host = np.asarray(host_shop_id, dtype=np.int64)
    own = np.asarray(product_shop_id, dtype=np.int64) == host
    listed = np.asarray(product_listed, dtype=np.bool_)
    return ~own & ~listed, ~own & listed & (host > 0)
