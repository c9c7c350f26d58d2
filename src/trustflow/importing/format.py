"""The history import format, versions 1 and 2: every file, column, type and constraint.

A directory holds one file per kind of thing (``shops.csv`` or ``shops.parquet``, never
both); every file is optional, but a row may only name things that are in the directory or
already in the store. Each row carries the id its source system gave it (``shop_id`` in
``shops``); references name those ids (``shop_id`` in ``products``). docs/import.md is this
module written out for people, and a test holds the two together.

Version 2 (:data:`FILES`) holds orders of several lines (``order_lines``) and the checkouts
they were placed in (``checkouts``); a directory declares it in ``format.json``
(``{"version": 2}``). A directory without that file is version 1 (:data:`FILES_V1`), as every
directory written before version 2 is: an order of one SKU, its goods on the order's row,
read as an order of one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from trustflow.aftersales.models import (
    AfterSalesKind,
    AfterSalesReason,
    AfterSalesStatus,
    DisputeOutcome,
    ResponsibleParty,
)
from trustflow.catalog.models import ListingStatus, ShopKind, ShopStatus
from trustflow.content.models import LiveStatus
from trustflow.db import EXTERNAL_ID_LENGTH
from trustflow.orders.models import CancelReason, ContentKind
from trustflow.orders.rules import MAX_LINES, MAX_QUANTITY
from trustflow.types import MAX_FEN
from trustflow.vocabulary import Channel, ItemKind, Surface

__all__ = [
    "FILES",
    "FILES_V1",
    "FORMAT_VERSION",
    "PAIRS",
    "VERSIONS",
    "VERSION_FILE",
    "Column",
    "FileSpec",
    "ImportCode",
    "files",
    "spec",
]

#: The version ``trustflow export-history`` and ``--example`` write.
FORMAT_VERSION = 2
#: The file in which a directory declares its version (none: version 1).
VERSION_FILE = "format.json"

Kind = Literal["id", "ref", "int", "time", "text", "enum", "bool"]


class ImportCode(StrEnum):
    """Why a row was refused: stable codes a loader's operator can branch on."""

    MISSING_FILE_COLUMN = "missing_column"
    UNKNOWN_FILE_COLUMN = "unknown_column"
    TWO_FILES = "two_files"
    UNREADABLE = "unreadable_file"
    MISSING_VALUE = "missing_value"
    BAD_VALUE = "bad_value"
    TIME_WITHOUT_ZONE = "time_without_zone"
    TIME_OUT_OF_RANGE = "time_out_of_range"
    TIME_IN_FUTURE = "time_in_future"
    OUT_OF_RANGE = "out_of_range"
    TOO_LONG = "too_long"
    NOT_ALLOWED = "value_not_allowed"
    DUPLICATE_ID = "duplicate_id"
    DUPLICATE_VALUE = "duplicate_value"
    DUPLICATE_COLUMN = "duplicate_column"
    UNKNOWN_REFERENCE = "unknown_reference"
    AMOUNTS_INCONSISTENT = "amounts_inconsistent"
    CREATOR_IFF_DISTRIBUTION = "creator_iff_distribution"
    PROMISE_INCONSISTENT = "promise_inconsistent"
    HISTORY_OUT_OF_ORDER = "history_out_of_order"
    REFUND_EXCEEDS_PAYMENT = "refund_exceeds_payment"
    ONE_REVIEW_PER_ORDER = "one_review_per_order"
    ONE_REVIEW_PER_LINE = "one_review_per_line"
    UNSUPPORTED_VERSION = "unsupported_version"
    NO_LINES = "no_lines"
    ONE_SHOP_PER_ORDER = "one_shop_per_order"
    LINE_OF_ANOTHER_ORDER = "line_of_another_order"
    PART_REFUSED = "part_refused"
    CHECKOUT_INCONSISTENT = "checkout_inconsistent"
    ONE_FOLLOW_TARGET = "one_follow_target"
    ONE_HOST = "one_host"
    CONTENT_IFF_KIND = "content_iff_kind"
    SHOP_NAME_TAKEN = "shop_name_taken"
    SHOP_NAME_CONFUSABLE = "shop_name_confusable"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Column:
    """One column of a file. ``required``: a row must give a value; otherwise an empty cell
    takes ``default`` (or stays empty). ``ref``: the file whose id this names."""

    name: str
    kind: Kind
    doc: str
    required: bool = False
    ref: str | None = None
    low: int | None = None
    high: int | None = None
    max_length: int | None = None
    values: tuple[str, ...] = ()
    default: int | str | bool | None = None
    #: a reference whose file depends on another column's value: (that column, its value
    #: -> the file), e.g. an impression's item is a product, a live session or a video
    ref_by: tuple[str, tuple[tuple[str, str], ...]] | None = None
    #: a time that may lie after the import (a promise, a schedule, an offer's end); any
    #: other time is something that happened, so it may not
    ahead: bool = False
    #: a name people read: judged and normalised as the store judges names
    #: (:func:`trustflow.names.normalise_name`)
    readable: bool = False

    def targets(self) -> tuple[str, ...]:
        """The files this column may name."""
        if self.ref is not None:
            return (self.ref,)
        return tuple(f for _, f in self.ref_by[1]) if self.ref_by else ()


@dataclass(frozen=True)
class FileSpec:
    """One file: its name (without extension), its id column and columns, what it holds."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    rules: tuple[tuple[ImportCode, str], ...] = field(default_factory=tuple)

    @property
    def key(self) -> Column | None:
        """The column holding the row's own id (None: the file has no ids of its own)."""
        return next((c for c in self.columns if c.kind == "id"), None)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def thing(self) -> str:
        """What one row is, in words: ``categories`` holds a category."""
        return self.name[:-3] + "y" if self.name.endswith("ies") else self.name[:-1]


def _values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(m.value for m in enum)


_CONTENT = (
    (ContentKind.LIVE_SESSION.value, "live_sessions"),
    (ContentKind.SHORT_VIDEO.value, "short_videos"),
)
_ITEMS = (
    (ItemKind.PRODUCT_CARD.value, "products"),
    (ItemKind.LIVE_SESSION.value, "live_sessions"),
    (ItemKind.SHORT_VIDEO.value, "short_videos"),
)


def _id(name: str, what: str) -> Column:
    return Column(name, "id", f"the {what}'s id in the source system", required=True)


def _ref(name: str, target: str, *, required: bool = True, doc: str = "") -> Column:
    return Column(name, "ref", doc or f"the {target[:-1]} (its id)", required=required, ref=target)


def _time(name: str, doc: str, *, required: bool = False, ahead: bool = False) -> Column:
    return Column(name, "time", doc, required=required, ahead=ahead)


def _text(name: str, doc: str, length: int, *, required: bool = False) -> Column:
    return Column(name, "text", doc, required=required, max_length=length, default="")


def _name(name: str, doc: str, length: int, *, required: bool = True) -> Column:
    """A name people read (a shop's, a buyer's, a product's title, a brand)."""
    return Column(
        name, "text", doc, required=required, max_length=length, default="", readable=True
    )


_CATALOGUE: tuple[FileSpec, ...] = (
    FileSpec(
        "categories",
        "Product categories; scores are benchmarked within the categories a shop sells in, and "
        "a thin category leans on its parent's.",
        (
            _id("category_id", "category"),
            Column(
                "code", "text", "a short code, unique", required=True, max_length=40, default=""
            ),
            _name("name", "its name", 80),
            _ref(
                "parent_id",
                "categories",
                required=False,
                doc="the category it sits under, if any (a thin category's benchmark leans on it)",
            ),
        ),
    ),
    FileSpec(
        "merchants",
        "The businesses that own shops.",
        (
            _id("merchant_id", "merchant"),
            _name("name", "its name", 120),
            _time("created_at", "when it joined (default: the import's time)"),
        ),
    ),
    FileSpec(
        "creators",
        "Creators who sell others' goods for a commission.",
        (
            _id("creator_id", "creator"),
            _name("name", "its name", 120),
            Column("fans", "int", "its followers", low=0, high=10**12, default=0),
            _time("created_at", "when it joined (default: the import's time)"),
        ),
    ),
    FileSpec(
        "buyers",
        "Buyers.",
        (
            _id("buyer_id", "buyer"),
            _name("name", "a display name", 120),
            Column("region", "text", "where parcels go (a region code)", max_length=32),
            _time("created_at", "when it joined (default: the import's time)"),
        ),
    ),
    FileSpec(
        "shops",
        "Shops, each owned by a merchant. Names are judged as the store judges a new shop's"
        " name: one that looks like another shop's is refused.",
        (
            _id("shop_id", "shop"),
            _ref("merchant_id", "merchants"),
            _name("name", "its name", 120),
            Column(
                "kind",
                "enum",
                "brand, fast brand, source...",
                values=_values(ShopKind),
                default=ShopKind.OTHER.value,
            ),
            _ref("category_id", "categories", doc="its main category"),
            Column(
                "status",
                "enum",
                "whether it trades",
                values=_values(ShopStatus),
                default=ShopStatus.ACTIVE.value,
            ),
            Column(
                "handling_hours",
                "int",
                "hours it promises to hand a paid order to the carrier",
                low=1,
                high=720,
                default=48,
            ),
            _time("created_at", "when it opened (default: the import's time)"),
        ),
    ),
    FileSpec(
        "products",
        "Products, each listed by one shop. ``product_key`` names the goods: listings of"
        " several shops selling the same goods share it.",
        (
            _id("product_id", "product"),
            _ref("shop_id", "shops"),
            _ref(
                "category_id",
                "categories",
                required=False,
                doc="its category (default: the shop's)",
            ),
            _name("title", "its title", 200),
            _name("brand", "its brand, if any", 80, required=False),
            Column(
                "product_key",
                "text",
                "the goods it sells, shared across shops",
                max_length=EXTERNAL_ID_LENGTH,
            ),
            Column(
                "status",
                "enum",
                "whether buyers see it",
                values=_values(ListingStatus),
                default=ListingStatus.LISTED.value,
            ),
            _time("created_at", "when it was created (default: the import's time)"),
        ),
    ),
    FileSpec(
        "skus",
        "The purchasable variants of products, at today's price and stock.",
        (
            _id("sku_id", "SKU"),
            _ref("product_id", "products"),
            _text("spec", "what tells it from its siblings (size, colour)", 120),
            Column("price_fen", "int", "today's price in fen", required=True, low=1, high=MAX_FEN),
            Column("stock", "int", "units on hand", low=0, high=10**9, default=0),
        ),
    ),
    FileSpec(
        "offers",
        "The distribution library (分销库): a product offered to creators at a commission.",
        (
            _id("offer_id", "offer"),
            _ref("product_id", "products"),
            Column(
                "commission_bps",
                "int",
                "the commission in basis points",
                required=True,
                low=0,
                high=9_000,
            ),
            _time("valid_from", "from when it applies", required=True, ahead=True),
            _time("valid_until", "until when (exclusive), if it ends", ahead=True),
            _time("created_at", "when it was published (default: the import's time)"),
        ),
    ),
    FileSpec(
        "creator_selections",
        "Offers creators picked to sell; one already in the store is kept as is.",
        (
            _ref("creator_id", "creators"),
            _ref("offer_id", "offers"),
            _time("created_at", "when it was picked (default: the import's time)"),
        ),
    ),
    FileSpec(
        "live_sessions",
        "Live rooms, hosted by a creator or a shop.",
        (
            _id("live_session_id", "live session"),
            _ref("creator_id", "creators", required=False, doc="its host, if a creator"),
            _ref("shop_id", "shops", required=False, doc="its host, if a shop"),
            _name("title", "its title", 200, required=False),
            Column("status", "enum", "where it stands", required=True, values=_values(LiveStatus)),
            _time("scheduled_at", "when it was scheduled", required=True, ahead=True),
            _time("started_at", "when it went live"),
            _time("ended_at", "when it ended"),
        ),
        (
            (ImportCode.ONE_HOST, "exactly one of creator_id or shop_id"),
            (
                ImportCode.HISTORY_OUT_OF_ORDER,
                "started no earlier than scheduled... ended after"
                " it started; live rooms have started and not ended, ended ones have ended",
            ),
        ),
    ),
    FileSpec(
        "live_session_products",
        "The products a live room showed; one already in the store is kept as is.",
        (_ref("live_session_id", "live_sessions"), _ref("product_id", "products")),
    ),
    FileSpec(
        "short_videos",
        "Short videos, posted by a creator or a shop.",
        (
            _id("short_video_id", "short video"),
            _ref("creator_id", "creators", required=False, doc="its host, if a creator"),
            _ref("shop_id", "shops", required=False, doc="its host, if a shop"),
            _name("title", "its title", 200, required=False),
            _ref(
                "clipped_from_live_id",
                "live_sessions",
                required=False,
                doc="the live session it was clipped from, if any",
            ),
            _time("posted_at", "when it was posted", required=True),
        ),
        ((ImportCode.ONE_HOST, "exactly one of creator_id or shop_id"),),
    ),
    FileSpec(
        "short_video_products",
        "The products a short video linked; one already in the store is kept as is.",
        (_ref("short_video_id", "short_videos"), _ref("product_id", "products")),
    ),
)


def _money(name: str, doc: str, *, required: bool = False) -> Column:
    if required:
        return Column(name, "int", doc, required=True, low=0, high=MAX_FEN)
    return Column(name, "int", doc, low=0, high=MAX_FEN, default=0)


def _goods(what: str) -> tuple[Column, ...]:
    """What was bought and at what price: an order's in version 1, a line's in version 2."""
    return (
        _ref("sku_id", "skus"),
        Column("quantity", "int", "units bought", required=True, low=1, high=MAX_QUANTITY),
        _money("unit_price_fen", "the unit price paid, before discounts", required=True),
        _money("merchant_discount_fen", f"the merchant's discount on the {what}"),
        _money("platform_discount_fen", f"the platform's subsidy on the {what}"),
    )


def _commission(what: str) -> tuple[Column, ...]:
    return (
        Column(
            "commission_bps",
            "int",
            f"the creator's commission in basis points on the {what} (distribution orders only)",
            low=0,
            high=9_000,
            default=0,
        ),
        _ref(
            "offer_id",
            "offers",
            required=False,
            doc="the distribution offer the commission came from, if known",
        ),
    )


_SOLD = (
    Column(
        "channel",
        "enum",
        "how it was sold",
        values=_values(Channel),
        default=Channel.SHELF_CARD.value,
    ),
    _ref(
        "creator_id",
        "creators",
        required=False,
        doc="the creator who sold it (distribution orders only)",
    ),
)
_FROM = (
    Column("surface", "enum", "where the buyer was", values=_values(Surface)),
    Column(
        "content_kind",
        "enum",
        "the content it was sold from, if any",
        values=_values(ContentKind),
    ),
    Column(
        "content_id",
        "ref",
        "that live session's or short video's id",
        ref_by=("content_kind", _CONTENT),
    ),
)
_HISTORY = (
    Column("ship_to_region", "text", "the destination region", max_length=32),
    _time("created_at", "when it was placed", required=True),
    _time(
        "ship_by",
        "the promised hand-over time (default: placement plus the shop's handling hours)",
        ahead=True,
    ),
    _time("deliver_from", "the promised delivery window's start", ahead=True),
    _time("deliver_by", "the promised delivery window's end", ahead=True),
    _time("paid_at", "when it was paid"),
    _time("shipped_at", "when the shop handed it to the carrier"),
    _time("picked_up_at", "when the carrier scanned it"),
    _time("delivered_at", "when it was delivered"),
    _time("received_at", "when the buyer confirmed receipt"),
    _time("cancelled_at", "when it was cancelled (before delivery)"),
    Column("cancel_reason", "enum", "why it was cancelled", values=_values(CancelReason)),
)
_ORDER_RULES = (
    (
        ImportCode.CREATOR_IFF_DISTRIBUTION,
        "a creator for distribution orders, and only for them",
    ),
    (
        ImportCode.PROMISE_INCONSISTENT,
        "a delivery window has both ends, in order, after ship-by",
    ),
    (
        ImportCode.HISTORY_OUT_OF_ORDER,
        "the times present are a path the state machine"
        " allows, each no earlier than the one before; a cancellation reason only on"
        " a cancelled order",
    ),
)
_AMOUNTS = (ImportCode.AMOUNTS_INCONSISTENT, "discounts exceed the goods amount")
_ORDERS_DOC = (
    "Orders with the prices actually paid and the history that happened to them: each"
    " time present is one event, and together they must be a path the order's state"
    " machine allows, in time order."
)

ORDERS_V1 = FileSpec(
    "orders",
    _ORDERS_DOC + " An order is one SKU.",
    (
        _id("order_id", "order"),
        _ref("buyer_id", "buyers"),
        *_goods("order"),
        _SOLD[0],
        _SOLD[1],
        _commission("order")[0],
        _commission("order")[1],
        *_FROM,
        *_HISTORY,
    ),
    (_AMOUNTS, *_ORDER_RULES),
)

ORDERS = FileSpec(
    "orders",
    _ORDERS_DOC + " An order is one shop's, sold one way (channel, creator, content) for all"
    " its lines; its goods are its lines (``order_lines``), and its amounts their sums.",
    (
        _id("order_id", "order"),
        _ref("buyer_id", "buyers"),
        _ref(
            "checkout_id",
            "checkouts",
            required=False,
            doc="the checkout it was placed in, if any (the same buyer's)",
        ),
        *_SOLD,
        *_FROM,
        *_HISTORY,
    ),
    (
        (ImportCode.NO_LINES, "an order has at least one line"),
        (
            ImportCode.CHECKOUT_INCONSISTENT,
            "an order of a checkout is its buyer's, placed no earlier than the checkout",
        ),
        (
            ImportCode.PART_REFUSED,
            "an order is written whole: one of its lines refused refuses it, and the"
            " other orders of its checkout",
        ),
        *_ORDER_RULES,
    ),
)

CHECKOUTS = FileSpec(
    "checkouts",
    "Carts checked out at once (父订单): one buyer's orders, across shops, placed together."
    " Its status and amounts are derived from its orders: paid once any was paid (the"
    " amounts paid), expired when all were cancelled unpaid, else awaiting payment.",
    (
        _id("checkout_id", "checkout"),
        _ref("buyer_id", "buyers"),
        _time("created_at", "when it was placed", required=True),
    ),
    (
        (ImportCode.NO_LINES, "a checkout has at least one order (in the files or the store)"),
        (
            ImportCode.PART_REFUSED,
            "a checkout is written whole: one of its orders refused refuses it",
        ),
    ),
)

ORDER_LINES = FileSpec(
    "order_lines",
    "The lines of orders: one SKU each, at the price actually paid, with its discounts and"
    " the creator's commission frozen for it. An order's lines are all in the file with it.",
    (
        _id("line_id", "line"),
        _ref("order_id", "orders"),
        Column(
            "line_no",
            "int",
            "its place in the order: 1, 2, ... (1 is the line the order is listed under)",
            required=True,
            low=1,
            high=MAX_LINES,
        ),
        *_goods("line"),
        *_commission("line"),
    ),
    (
        _AMOUNTS,
        (ImportCode.DUPLICATE_VALUE, "line_no is unique within its order"),
        (ImportCode.ONE_SHOP_PER_ORDER, "every line's SKU is a product of the same shop"),
        (
            ImportCode.CREATOR_IFF_DISTRIBUTION,
            "a commission only on a line of a distribution order",
        ),
        (
            ImportCode.CONFLICT,
            "no line is added to an order an earlier run imported",
        ),
    ),
)


def _line_ref() -> Column:
    return _ref(
        "line_id",
        "order_lines",
        required=False,
        doc="the line of the order it is about (required when the order has several)",
    )


_REVIEW = (
    Column("stars", "int", "1 to 5", required=True, low=1, high=5),
    _text("text", "what the buyer wrote", 2000),
    _time("created_at", "when it was written", required=True),
)
_LINE_RULES = (
    (
        ImportCode.LINE_OF_ANOTHER_ORDER,
        "the line named is one of the order's",
    ),
    (
        ImportCode.MISSING_VALUE,
        "a line_id for an order of several lines",
    ),
)

REVIEWS_V1 = FileSpec(
    "reviews",
    "Buyers' reviews, one per order at most. A review written before its order was"
    " delivered is kept and flagged ``before_delivery``, not dropped.",
    (_id("review_id", "review"), _ref("order_id", "orders"), *_REVIEW),
    (
        (ImportCode.ONE_REVIEW_PER_ORDER, "an order has one review at most"),
        (ImportCode.MISSING_VALUE, "the order has one line (a version 1 file names no line)"),
    ),
)

REVIEWS = FileSpec(
    "reviews",
    "Buyers' reviews, one per line of an order at most. A review written before its order"
    " was delivered is kept and flagged ``before_delivery``, not dropped.",
    (_id("review_id", "review"), _ref("order_id", "orders"), _line_ref(), *_REVIEW),
    (
        (ImportCode.ONE_REVIEW_PER_LINE, "a line has one review at most"),
        *_LINE_RULES,
    ),
)

AFTER_SALES_V1 = FileSpec(
    "after_sales",
    "After-sales requests (returns, refunds, exchanges) and where they ended.",
    (
        _id("request_id", "after-sales request"),
        _ref("order_id", "orders"),
        Column(
            "kind",
            "enum",
            "what the buyer asked for",
            required=True,
            values=_values(AfterSalesKind),
        ),
        Column("reason", "enum", "why", required=True, values=_values(AfterSalesReason)),
        Column(
            "status", "enum", "where it stands", required=True, values=_values(AfterSalesStatus)
        ),
        Column("refund_fen", "int", "the refund asked for", low=0, high=MAX_FEN, default=0),
        Column(
            "responsible_party",
            "enum",
            "whose fault (default: presumed from the reason)",
            values=_values(ResponsibleParty),
        ),
        Column(
            "dispute_outcome",
            "enum",
            "an arbitration's outcome",
            values=_values(DisputeOutcome),
        ),
        _time("created_at", "when it was opened", required=True),
        _time("handled_at", "when the merchant first answered"),
        _time("resolved_at", "when it ended"),
    ),
    (
        (
            ImportCode.REFUND_EXCEEDS_PAYMENT,
            "refunds of an order add up to at most its payment",
        ),
        (ImportCode.HISTORY_OUT_OF_ORDER, "opened, then answered, then ended"),
    ),
)

AFTER_SALES = FileSpec(
    "after_sales",
    "After-sales requests (returns, refunds, exchanges) of a line of an order, and where they"
    " ended.",
    (
        *AFTER_SALES_V1.columns[:2],
        _line_ref(),
        Column(
            "quantity",
            "int",
            "units of the line it is about (default: all of them)",
            low=1,
            high=MAX_QUANTITY,
        ),
        *AFTER_SALES_V1.columns[2:],
    ),
    (
        (
            ImportCode.REFUND_EXCEEDS_PAYMENT,
            "refunds of an order add up to at most its payment, and of a line to at most"
            " the line's",
        ),
        (ImportCode.OUT_OF_RANGE, "quantity at most the line's"),
        *_LINE_RULES,
        (ImportCode.HISTORY_OUT_OF_ORDER, "opened, then answered, then ended"),
    ),
)

_TAIL: tuple[FileSpec, ...] = (
    FileSpec(
        "chats",
        "Buyers' chats with shops and how fast the shop first answered.",
        (
            _id("chat_id", "chat"),
            _ref("buyer_id", "buyers"),
            _ref("shop_id", "shops"),
            _ref("order_id", "orders", required=False, doc="the order it is about, if any"),
            _time("first_message_at", "the buyer's first message", required=True),
            _time("first_response_at", "the shop's first answer, if any"),
        ),
        ((ImportCode.HISTORY_OUT_OF_ORDER, "answered after it was asked"),),
    ),
    FileSpec(
        "follows",
        "Buyers following creators or shops; a follow already in the store is kept as is.",
        (
            _ref("buyer_id", "buyers"),
            _ref("creator_id", "creators", required=False),
            _ref("shop_id", "shops", required=False),
            _time("created_at", "when (default: the import's time)"),
        ),
        ((ImportCode.ONE_FOLLOW_TARGET, "exactly one of creator_id or shop_id"),),
    ),
    FileSpec(
        "impressions",
        "What buyers were shown, counted: one row may stand for many showings of one item"
        " (``count``).",
        (
            _id("impression_id", "impression row"),
            Column("surface", "enum", "where it was shown", required=True, values=_values(Surface)),
            Column("item_kind", "enum", "what was shown", required=True, values=_values(ItemKind)),
            Column(
                "item_id",
                "ref",
                "the product's, live session's or short video's id",
                required=True,
                ref_by=("item_kind", _ITEMS),
            ),
            _ref("buyer_id", "buyers", required=False, doc="who saw it, if known"),
            _time("shown_at", "when", required=True),
            Column(
                "count", "int", "how many showings the row stands for", low=1, high=10**9, default=1
            ),
            Column("is_reward", "bool", "whether it was reward traffic (Chuanliu)", default=False),
            Column("reward_plan", "text", "the reward plan it paid out", max_length=40),
            Column("plan_version", "text", "the traffic plan version it served", max_length=40),
        ),
    ),
)

#: Version 2, the current version, in the order the files are written.
FILES: tuple[FileSpec, ...] = (
    *_CATALOGUE,
    CHECKOUTS,
    ORDERS,
    ORDER_LINES,
    REVIEWS,
    AFTER_SALES,
    *_TAIL,
)
#: Version 1: an order of one SKU, no checkouts.
FILES_V1: tuple[FileSpec, ...] = (*_CATALOGUE, ORDERS_V1, REVIEWS_V1, AFTER_SALES_V1, *_TAIL)
VERSIONS: dict[int, tuple[FileSpec, ...]] = {1: FILES_V1, 2: FILES}

_BY_NAME = {version: {f.name: f for f in files} for version, files in VERSIONS.items()}
#: The files that hold rows which are not things of their own (no id): pairs kept once.
PAIRS = ("creator_selections", "live_session_products", "short_video_products", "follows")


def files(version: int = FORMAT_VERSION) -> tuple[FileSpec, ...]:
    """The files of a version, in the order they are written."""
    return VERSIONS[version]


def spec(name: str, version: int = FORMAT_VERSION) -> FileSpec:
    """A file of a version; a file both versions hold the same (``skus``) is asked of
    either."""
    return _BY_NAME[version][name]
