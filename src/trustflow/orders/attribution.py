"""Attribution the platform vouches for: signed, expiring tokens bound to one buyer.

Who sold an order (the channel, the surface it came from, the creator and the content) decides
who earns commission and whose score it counts in, so it never comes from the order's body.
The places a buyer meets goods hand out a token instead: each feed item, a live room or short
video the buyer opens, a shop page. The token names what the server knew when it handed it
out, for this buyer only, until it expires; the order hands it back. A token that is forged,
expired, another buyer's, or for other goods does not apply, and the order is a plain
product-card sale (``shelf_card``): no creator, no commission.

A token reads ``1.<fields>.<mac>``: the version, the fields as integers joined by dots, and a
keyed BLAKE2b MAC of both (128 bits, URL-safe Base64). It is short enough to sit in every feed
item and cheap to mint (about a microsecond).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy.orm import Session

from trustflow.catalog.models import Shop, ShopStatus
from trustflow.content.models import LiveSession, LiveStatus, ShortVideo
from trustflow.errors import Conflict, ErrorCode, InvalidInput, NotFound
from trustflow.orders.models import ContentKind
from trustflow.vocabulary import Channel, Surface

__all__ = [
    "MAX_TOKEN_LENGTH",
    "SHELF_CHANNEL",
    "UNATTRIBUTED_CHANNEL",
    "Attribution",
    "TokenSigner",
    "channel_field",
    "rest_fields",
    "room_attribution",
    "source_attribution",
    "token_head",
]

#: the longest token accepted (a real one is under 90 characters)
MAX_TOKEN_LENGTH = 200
#: what an order no valid token vouches for counts as: a sale from the product card (商品卡)
UNATTRIBUTED_CHANNEL = Channel.SHELF_CARD

T = TypeVar("T")

_VERSION = b"1"
_CHANNELS = list(Channel)
_SURFACES = list(Surface)
_KINDS = list(ContentKind)
_FIELDS = 9
_SHAPE = re.compile(rb"1((?:\.[0-9]{1,19}){%d})\.([A-Za-z0-9_-]{22})" % _FIELDS)


@dataclass(frozen=True)
class Attribution:
    """What a token vouches for. ``shop_id``/``product_id`` narrow it to one shop's or one
    product's goods (None: any the source sells)."""

    buyer_id: int
    channel: Channel
    expires_at: datetime
    surface: Surface | None = None
    creator_id: int | None = None
    content_kind: ContentKind | None = None
    content_id: int | None = None
    shop_id: int | None = None
    product_id: int | None = None

    def covers(self, *, shop_id: int, product_id: int) -> bool:
        """Does it vouch for goods of this shop and product?"""
        return self.shop_id in (None, shop_id) and self.product_id in (None, product_id)


def _code(value: T | None, members: list[T]) -> int:
    return 0 if value is None else members.index(value) + 1


def _member(code: int, members: list[T]) -> T | None:
    if code == 0:
        return None
    if code > len(members):
        raise ValueError("unknown code")
    return members[code - 1]


# A token's fields, in order: buyer, surface, expiry (Unix seconds), channel, creator, content
# kind, content id, shop, product (0: none). Serving writes many tokens for one buyer and
# surface, so the fields that stay the same for a request come first.


def token_head(buyer_id: int, surface: Surface | None, expires_at: datetime) -> bytes:
    """The fields one buyer's tokens in one answer share."""
    return b"%s.%d.%d.%d" % (
        _VERSION,
        buyer_id,
        _code(surface, _SURFACES),
        int(expires_at.timestamp()),
    )


def channel_field(channel: Channel) -> bytes:
    return b".%d" % _code(channel, _CHANNELS)


def rest_fields(
    *,
    creator_id: int | None = None,
    content_kind: ContentKind | None = None,
    content_id: int | None = None,
    shop_id: int | None = None,
    product_id: int | None = None,
) -> bytes:
    """The fields after the channel: what one item vouches for."""
    return b".%d.%d.%d.%d.%d" % (
        creator_id or 0,
        _code(content_kind, _KINDS),
        content_id or 0,
        shop_id or 0,
        product_id or 0,
    )


class TokenSigner:
    """Mints and checks tokens with one deployment's secret (``Settings.secret_bytes``)."""

    def __init__(self, secret: bytes, *, lifetime: timedelta) -> None:
        # a key of its own, so the secret can sign other things without tokens meaning them
        self._key = hashlib.blake2b(b"trustflow attribution token", key=secret[:64]).digest()[:32]
        self.lifetime = lifetime

    def _mac(self, body: bytes) -> bytes:
        digest = hashlib.blake2b(body, key=self._key, digest_size=16).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=")

    @staticmethod
    def fields_of(a: Attribution) -> bytes:
        """The token's body for ``a``: everything but the MAC."""
        return (
            token_head(a.buyer_id, a.surface, a.expires_at)
            + channel_field(a.channel)
            + rest_fields(
                creator_id=a.creator_id,
                content_kind=a.content_kind,
                content_id=a.content_id,
                shop_id=a.shop_id,
                product_id=a.product_id,
            )
        )

    def sign_token(self, body: bytes) -> bytes:
        """The token of a body of fields (:func:`token_head`, :func:`channel_field`,
        :func:`rest_fields`): the body and its MAC."""
        return body + b"." + self._mac(body)

    def issue(self, attribution: Attribution) -> str:
        return self.sign_token(self.fields_of(attribution)).decode()

    def expiry(self, at: datetime) -> datetime:
        """When a token handed out at ``at`` expires (whole seconds)."""
        return (at + self.lifetime).replace(microsecond=0)

    def verify(self, token: str, *, buyer_id: int, at: datetime) -> Attribution | None:
        """What ``token`` vouches for, if it is genuine, unexpired and ``buyer_id``'s; else
        None (the order is then unattributed; why is not the buyer's business)."""
        raw = token.encode("ascii", "replace")
        if len(raw) > MAX_TOKEN_LENGTH:
            return None
        match = _SHAPE.fullmatch(raw)
        if match is None:
            return None
        body = raw[: match.start(2) - 1]
        if not hmac.compare_digest(self._mac(body), match.group(2)):
            return None
        values = [int(v) for v in match.group(1)[1:].split(b".")]
        buyer, surface, expires, channel, creator, kind, content, shop, product = values
        if buyer != buyer_id or expires <= at.timestamp():
            return None
        try:
            found = Attribution(
                buyer_id=buyer,
                channel=_member(channel, _CHANNELS) or UNATTRIBUTED_CHANNEL,
                expires_at=datetime.fromtimestamp(expires, UTC),
                surface=_member(surface, _SURFACES),
                creator_id=creator or None,
                content_kind=_member(kind, _KINDS),
                content_id=content or None,
                shop_id=shop or None,
                product_id=product or None,
            )
        except (ValueError, OverflowError, OSError):  # a code we never issue
            return None
        return found


#: the channel a shelf surface's product card sells through
SHELF_CHANNEL = {
    Surface.SEARCH: Channel.SHELF_SEARCH,
    Surface.MALL: Channel.SHELF_MALL,
    Surface.SHOP: Channel.SHELF_SHOP,
}


def room_attribution(
    *,
    buyer_id: int,
    kind: ContentKind,
    content_id: int,
    shop_id: int | None,
    creator_id: int | None,
    expires_at: datetime,
    surface: Surface | None = None,
) -> Attribution:
    """A room's (a live session's or a short video's) token: a shop's own content sells
    that shop's goods (self-broadcast), a creator's sells as distribution."""
    if shop_id is not None:
        return Attribution(
            buyer_id=buyer_id,
            channel=Channel.SELF_BROADCAST,
            expires_at=expires_at,
            surface=surface,
            content_kind=kind,
            content_id=content_id,
            shop_id=shop_id,
        )
    return Attribution(
        buyer_id=buyer_id,
        channel=Channel.DISTRIBUTION,
        expires_at=expires_at,
        surface=surface,
        creator_id=creator_id,
        content_kind=kind,
        content_id=content_id,
    )


def source_attribution(
    session: Session,
    *,
    buyer_id: int,
    at: datetime,
    expires_at: datetime,
    live_session_id: int | None = None,
    short_video_id: int | None = None,
    shop_id: int | None = None,
) -> Attribution:
    """What a buyer who opened a live room, a short video or a shop page may be attributed
    to, as the store knows it now: the room must be live, the video posted, the shop open."""
    named = [v for v in (live_session_id, short_video_id, shop_id) if v is not None]
    if len(named) != 1:
        raise InvalidInput("name exactly one of live_session_id, short_video_id, shop_id")
    if live_session_id is not None:
        live = session.get(LiveSession, live_session_id)
        if live is None:
            raise NotFound(f"live session {live_session_id} not found")
        if live.status is not LiveStatus.LIVE:
            raise Conflict(f"live session {live.id} is not live", code=ErrorCode.CONTENT_NOT_LIVE)
        return room_attribution(
            buyer_id=buyer_id,
            kind=ContentKind.LIVE_SESSION,
            content_id=live.id,
            shop_id=live.shop_id,
            creator_id=live.creator_id,
            expires_at=expires_at,
        )
    if short_video_id is not None:
        video = session.get(ShortVideo, short_video_id)
        if video is None or video.posted_at > at:
            raise NotFound(f"short video {short_video_id} not found")
        return room_attribution(
            buyer_id=buyer_id,
            kind=ContentKind.SHORT_VIDEO,
            content_id=video.id,
            shop_id=video.shop_id,
            creator_id=video.creator_id,
            expires_at=expires_at,
        )
    assert shop_id is not None
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id} not found")
    if shop.status is not ShopStatus.ACTIVE:
        raise Conflict(f"shop {shop_id} is not active", code=ErrorCode.SHOP_NOT_ACTIVE)
    return Attribution(
        buyer_id=buyer_id,
        channel=Channel.SHELF_SHOP,
        expires_at=expires_at,
        surface=Surface.SHOP,
        shop_id=shop_id,
    )
