"""Every table, imported in one place so metadata is complete (Alembic, tests)."""

from trustflow.accounts.models import (
    ApiKey,
    Buyer,
    Creator,
    Follow,
    Merchant,
    ServiceProvider,
    ServiceProviderShop,
)
from trustflow.aftersales.models import AfterSalesEvent, AfterSalesRequest, ChatThread, Review
from trustflow.campaigns.models import (
    Campaign,
    CampaignEvent,
    CampaignRegistration,
    CampaignSale,
    Coupon,
    CouponClaim,
    CouponEvent,
    CouponHolding,
)
from trustflow.catalog.models import Category, PriceChange, Product, Shop, Sku
from trustflow.content.models import (
    LiveSession,
    LiveSessionProduct,
    ShortVideo,
    ShortVideoProduct,
)
from trustflow.db import Base
from trustflow.distribution.models import CreatorSelection, DistributionOffer
from trustflow.governance.models import (
    BlockedIdentity,
    Brand,
    BrandAuthorisation,
    BrandKey,
    ListingInterception,
    LiveReport,
    MerchantBan,
    MerchantIdentity,
    RefusedApplication,
    Violation,
)
from trustflow.orders.models import Checkout, CommissionEntry, Order, OrderEvent, Payment
from trustflow.scoring.models import (
    BurstDecision,
    EntityScore,
    ReviewBurst,
    ScoreAppeal,
    ScoreVersion,
)
from trustflow.store_identity import StoreIdentity
from trustflow.traffic.chuanliu.models import ChuanliuLedger
from trustflow.traffic.models import Impression
from trustflow.traffic.plan.models import PacingCounter, PlanCandidate, PlanNode, TrafficPlan

metadata = Base.metadata

__all__ = [
    "AfterSalesEvent",
    "AfterSalesRequest",
    "ApiKey",
    "Base",
    "BlockedIdentity",
    "Brand",
    "BrandAuthorisation",
    "BrandKey",
    "BurstDecision",
    "Buyer",
    "Campaign",
    "CampaignEvent",
    "CampaignRegistration",
    "CampaignSale",
    "Category",
    "ChatThread",
    "Checkout",
    "ChuanliuLedger",
    "CommissionEntry",
    "Coupon",
    "CouponClaim",
    "CouponEvent",
    "CouponHolding",
    "Creator",
    "CreatorSelection",
    "DistributionOffer",
    "EntityScore",
    "Follow",
    "Impression",
    "ListingInterception",
    "LiveReport",
    "LiveSession",
    "LiveSessionProduct",
    "Merchant",
    "MerchantBan",
    "MerchantIdentity",
    "Order",
    "OrderEvent",
    "PacingCounter",
    "Payment",
    "PlanCandidate",
    "PlanNode",
    "PriceChange",
    "Product",
    "RefusedApplication",
    "Review",
    "ReviewBurst",
    "ScoreAppeal",
    "ScoreVersion",
    "ServiceProvider",
    "ServiceProviderShop",
    "Shop",
    "ShortVideo",
    "ShortVideoProduct",
    "Sku",
    "StoreIdentity",
    "TrafficPlan",
    "Violation",
    "metadata",
]
