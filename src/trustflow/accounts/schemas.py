from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictInt

from trustflow.accounts.models import ProviderStatus, Role
from trustflow.schemas_base import Shape
from trustflow.types import Id, Name, RegionCode


class NameIn(Shape):
    name: Name


class CreatorIn(Shape):
    name: Name
    fans: Annotated[StrictInt, Field(ge=0, le=10**10)] = 0


class MerchantOut(Shape):
    id: int
    name: str
    created_at: datetime


class CreatorOut(Shape):
    id: int
    name: str
    fans: int
    created_at: datetime


class BuyerIn(Shape):
    name: Name
    region: RegionCode | None = Field(
        default=None, description="Where the buyer's parcels go: sets promised delivery windows."
    )


class BuyerPatch(Shape):
    region: RegionCode | None


class BuyerOut(Shape):
    id: int
    name: str
    region: str | None
    created_at: datetime


class ServiceProviderOut(Shape):
    id: int
    name: str
    status: ProviderStatus
    created_at: datetime


class ProviderShopIn(Shape):
    shop_id: Id


class ProviderShopOut(Shape):
    id: int
    provider_id: int
    shop_id: int
    since: datetime


class ApiKeyIn(Shape):
    role: Role
    subject_id: Id | None = None
    label: Name | None = None


class ApiKeyOut(Shape):
    id: int
    role: Role
    subject_id: int | None
    label: str
    created_at: datetime
    revoked: bool


class ApiKeyCreated(ApiKeyOut):
    key: str


class MeOut(Shape):
    role: Role
    subject_id: int | None


class FollowIn(Shape):
    creator_id: Id | None = None
    shop_id: Id | None = None
    buyer_id: Id | None = None


class FollowOut(Shape):
    id: int
    buyer_id: int
    creator_id: int | None
    shop_id: int | None
    created_at: datetime
