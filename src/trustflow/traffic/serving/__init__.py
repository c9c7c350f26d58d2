"""Feed serving under the active plan (:mod:`.server`). The names below are its public
surface."""

from trustflow.traffic.serving.server import (
    MAX_ITEMS,
    Feed,
    FeedItem,
    FeedServer,
    PlanSnapshot,
    segment_of,
)

__all__ = ["MAX_ITEMS", "Feed", "FeedItem", "FeedServer", "PlanSnapshot", "segment_of"]
