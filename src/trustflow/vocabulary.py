"""The marketplace's shared vocabulary: enums several contexts name, below all of them.

Orders record the surface a sale came from, serving and the plan allocate surfaces, analytics
counts them; each imports the word from here rather than from the context that happens to own
a table using it. The values are stored in the database (and checked by its constraints):
changing one is a migration, not an edit.
"""

from __future__ import annotations

from enum import StrEnum


class Surface(StrEnum):
    """Where an impression is shown, and where a sale that followed it came from."""

    FOLLOW = "follow"
    FEATURED = "featured"
    DISCOVER = "discover"
    SHORT_VIDEO_TO_LIVE = "short_video_to_live"
    SEARCH = "search"
    MALL = "mall"
    SHOP = "shop"


#: the surfaces that show rooms (live sessions, and short videos leading to them)
ROOM_SURFACES = frozenset(
    {Surface.FOLLOW, Surface.FEATURED, Surface.DISCOVER, Surface.SHORT_VIDEO_TO_LIVE}
)
#: the shelf: surfaces that show product cards
SHELF_SURFACES = frozenset({Surface.SEARCH, Surface.MALL, Surface.SHOP})


class ItemKind(StrEnum):
    """What an impression showed."""

    LIVE_SESSION = "live_session"
    SHORT_VIDEO = "short_video"
    PRODUCT_CARD = "product_card"


class Channel(StrEnum):
    """Where the sale happened: the three fields of whole-domain operation (全域经营)."""

    SELF_BROADCAST = "self_broadcast"
    DISTRIBUTION = "distribution"
    SHELF_SEARCH = "shelf_search"
    SHELF_MALL = "shelf_mall"
    SHELF_SHOP = "shelf_shop"
    SHELF_CARD = "shelf_card"

    @property
    def is_shelf(self) -> bool:
        return self.value.startswith("shelf_")
