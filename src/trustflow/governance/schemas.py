"""Request and response shapes of the governance routes (unknown fields refused, as
everywhere). Identity numbers come in and are never sent back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from trustflow.governance.identity import MAX_REASON
from trustflow.schemas_base import Shape
from trustflow.types import Name

#: longer than any ID number or phone written with spaces and a prefix
_RAW_IDENTITY = Annotated[str, Field(min_length=1, max_length=40)]


class MerchantApplicationIn(Shape):
    """A new merchant's application (入驻申请): the business's name and the applicant's
    resident ID number and mobile phone, checked against the identity blocklist and stored
    only as keyed hashes."""

    name: Name
    id_number: _RAW_IDENTITY
    phone: _RAW_IDENTITY


class BanIn(Shape):
    """An operator's ban, with the reason for the record."""

    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON)]


class BanOut(Shape):
    merchant_id: int
    reason: str
    banned_by: str
    banned_at: datetime
    #: the merchant's shops this ban closed
    shops_closed: list[int]
