"""The errors trustflow raises, drawn once.

Every error a caller can act on is a :class:`TrustflowError` carrying a stable
:class:`ErrorCode` and the HTTP status the API answers with::

    TrustflowError
    ├── NotFound            404  the thing does not exist, or the caller may not know it does
    ├── Forbidden           403  the caller is known but may not do this
    ├── Unauthenticated     401  no key, or an unknown / revoked key
    ├── Conflict            409  the request is valid but the current state refuses it
    │   ├── OutOfStock
    │   └── IllegalTransition
    └── InvalidInput        422  the request itself is wrong

Codes are part of the public contract: clients branch on ``code``, never on the message.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    INVALID_INPUT = "invalid_input"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"
    OUT_OF_STOCK = "out_of_stock"
    ILLEGAL_TRANSITION = "illegal_transition"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    NOT_LISTED = "product_not_listed"
    SHOP_NOT_ACTIVE = "shop_not_active"
    NO_DISTRIBUTION_OFFER = "no_distribution_offer"
    BRAND_NOT_AUTHORISED = "brand_not_authorised"
    CONTENT_NOT_LIVE = "content_not_live"
    SCORE_RESTRICTED = "score_restricted"
    SCORE_PUBLICATION_REFUSED = "score_publication_refused"
    WAREHOUSE_BELONGS_TO_OTHER_STORE = "warehouse_belongs_to_other_store"
    WAREHOUSE_STORE_UNKNOWN = "warehouse_store_unknown"
    TIME_OUT_OF_RANGE = "time_out_of_range"
    UNKNOWN_REVISION = "unknown_revision"
    OUTPUT_EXISTS = "output_exists"
    BODY_TOO_LARGE = "body_too_large"
    RATE_LIMITED = "rate_limited"
    BUYER_LIMIT_REACHED = "buyer_limit_reached"
    SHOP_NAME_TAKEN = "shop_name_taken"
    SHOP_NAME_CONFUSABLE = "shop_name_confusable"
    DUPLICATE_JSON_KEY = "duplicate_json_key"
    PRODUCT_NOT_IN_SHOP = "product_not_in_shop"
    EVENT_OUT_OF_ORDER = "event_out_of_order"
    COUPON_THRESHOLD_NOT_MET = "coupon_threshold_not_met"
    COUPON_NOT_VALID_NOW = "coupon_not_valid_now"
    COUPON_BUDGET_EXHAUSTED = "coupon_budget_exhausted"
    COUPON_LIMIT_REACHED = "coupon_limit_reached"
    COUPON_NOT_APPLICABLE = "coupon_not_applicable"
    COUPON_NOT_STACKABLE = "coupon_not_stackable"
    CAMPAIGN_WINDOW_CLOSED = "campaign_window_closed"
    CAMPAIGN_SUBSIDY_EXHAUSTED = "campaign_subsidy_exhausted"
    CAMPAIGN_HOLDOUT = "campaign_holdout"
    IDENTITY_BLOCKED = "identity_blocked"
    LISTING_INTERCEPTED = "listing_intercepted"
    SUBSIDY_CAP_BELOW_COMMITTED = "subsidy_cap_below_committed"
    INTERNAL = "internal_error"


class TrustflowError(Exception):
    status_code: ClassVar[int] = 400
    default_code: ClassVar[ErrorCode] = ErrorCode.INVALID_INPUT

    def __init__(self, message: str, *, code: ErrorCode | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details


class NotFound(TrustflowError):
    status_code = 404
    default_code = ErrorCode.NOT_FOUND


class Forbidden(TrustflowError):
    status_code = 403
    default_code = ErrorCode.FORBIDDEN


class Unauthenticated(TrustflowError):
    status_code = 401
    default_code = ErrorCode.UNAUTHENTICATED


class Conflict(TrustflowError):
    status_code = 409
    default_code = ErrorCode.CONFLICT


class OutOfStock(Conflict):
    default_code = ErrorCode.OUT_OF_STOCK


class IllegalTransition(Conflict):
    default_code = ErrorCode.ILLEGAL_TRANSITION

    def __init__(self, entity: str, current: str, action: str) -> None:
        super().__init__(
            f"{entity} in state {current!r} cannot {action}",
            entity=entity,
            current=current,
            action=action,
        )


class InvalidInput(TrustflowError):
    status_code = 422
    default_code = ErrorCode.INVALID_INPUT
