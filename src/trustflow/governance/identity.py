"""The identity blocklist: a banned person cannot come back under a new shop or a new account.

- A merchant applies with a resident ID number and a mobile phone (:func:`apply_merchant`).
  Both are checked (format, and the ID number's check digit), normalised and stored only as
  keyed hashes (:func:`digest`).
- An operator bans a merchant (:func:`ban_merchant`, with a reason): each identity it applied
  with goes on the blocklist.
- A new merchant application whose ID number *or* phone is on the blocklist is refused, and so is
  a new shop of a banned merchant or of a merchant whose own identity is blocked (the same
  person banned under another account). Each refusal is logged (:class:`RefusedApplication`)
  before the caller answers: :func:`apply_merchant` and :func:`shop_refusal` add the log row and
  return the refusal; the caller commits it and raises (``identity_blocked``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Merchant
from trustflow.bulk import insert_unless_present, table
from trustflow.config import get_settings
from trustflow.errors import Conflict, ErrorCode, InvalidInput
from trustflow.governance.models import (
    ApplicationKind,
    BlockedIdentity,
    IdentityKind,
    MerchantBan,
    MerchantIdentity,
    RefusedApplication,
)
from trustflow.types import stated_reason

__all__ = [
    "ApplicationRefused",
    "Refusal",
    "apply_merchant",
    "ban_merchant",
    "digest",
    "is_banned",
    "normalise_id_number",
    "normalise_phone",
    "shop_refusal",
]

#: The ID number's check digit (GB 11643, ISO 7064 MOD 11-2): weights of the first 17 digits,
#: and the check character for each remainder.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID_NUMBER = re.compile(r"^[1-9]\d{16}[\dX]$")
_PHONE = re.compile(r"^1[3-9]\d{9}$")
#: what an operator writes when banning
MAX_REASON = 500
_NEW_BAN = insert_unless_present(table(MerchantBan), ["merchant_id"])
_NEW_BLOCK = insert_unless_present(table(BlockedIdentity), ["kind", "digest"])


def normalise_id_number(raw: str) -> str:
    """An 18-character resident ID number, upper-case, without spaces; refused unless its
    check digit is right (a typo never reaches the blocklist, nor slips past it)."""
    value = re.sub(r"\s", "", raw).upper()
    if not _ID_NUMBER.match(value):
        raise InvalidInput("id_number must be 18 characters: 17 digits and a digit or X")
    total = sum(int(d) * w for d, w in zip(value[:17], _WEIGHTS, strict=True))
    if _CHECK[total % 11] != value[17]:
        raise InvalidInput("id_number's check digit is wrong")
    return value


def normalise_phone(raw: str) -> str:
    """An 11-digit mainland mobile number: spaces, dashes and a +86 / 0086 prefix dropped."""
    value = re.sub(r"[\s\-()]", "", raw)
    value = re.sub(r"^(\+86|0086)", "", value)
    if not _PHONE.match(value):
        raise InvalidInput("phone must be an 11-digit mobile number (1[3-9] and 9 digits)")
    return value


def digest(kind: IdentityKind, value: str, secret: bytes | None = None) -> str:
    """The keyed hash an identity is stored and matched by (HMAC-SHA256 with the deployment's
    secret). ``value`` is already normalised."""
    root = secret if secret is not None else get_settings().secret_bytes()
    # a key of its own, derived from the deployment's secret (never the secret itself, which
    # signs attribution tokens too). Rotating ``secret_key`` empties the blocklist's matches:
    # docs/governance.md says so
    key = hmac.new(root, b"trustflow identity hashes", hashlib.sha256).digest()
    return hmac.new(key, f"{kind.value}:{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Refusal:
    """Why an application was refused (logged as :class:`RefusedApplication`)."""

    rule: str
    message: str
    matched: IdentityKind | None = None

    def error(self) -> ApplicationRefused:
        matched = None if self.matched is None else self.matched.value
        return ApplicationRefused(self.message, rule=self.rule, matched=matched)


class ApplicationRefused(Conflict):
    """An application the blocklist refused; its refusal is logged."""

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message, code=ErrorCode.IDENTITY_BLOCKED, **details)


def _blocked(session: Session, pairs: list[tuple[IdentityKind, str]]) -> BlockedIdentity | None:
    for kind, value in pairs:  # the ID number first: it names the person
        found = session.scalar(
            select(BlockedIdentity).where(
                BlockedIdentity.kind == kind, BlockedIdentity.digest == value
            )
        )
        if found is not None:
            return found
    return None


def _log(
    session: Session,
    kind: ApplicationKind,
    refusal: Refusal,
    *,
    merchant_id: int | None,
    blocked: BlockedIdentity | None,
    actor: str,
    at: datetime,
) -> Refusal:
    session.add(
        RefusedApplication(
            kind=kind,
            merchant_id=merchant_id,
            matched=refusal.matched,
            blocked_identity_id=None if blocked is None else blocked.id,
            rule=refusal.rule,
            actor=actor,
            at=at,
        )
    )
    session.flush()
    return refusal


def _identity_refusal(blocked: BlockedIdentity, applying_for: str) -> Refusal:
    what = "ID number" if blocked.kind is IdentityKind.ID_NUMBER else "phone number"
    return Refusal(
        "identity_blocked",
        f"{applying_for} refused: the applicant's {what} is on the platform's blocklist",
        blocked.kind,
    )


def apply_merchant(
    session: Session, *, name: str, id_number: str, phone: str, actor: str, at: datetime
) -> Merchant | Refusal:
    """A new merchant's application: the merchant, its identities recorded as keyed hashes;
    or, when either identity is on the blocklist, the refusal (logged; the caller commits
    the log and raises ``refusal.error()``)."""
    secret = get_settings().secret_bytes()
    pairs = [
        (
            IdentityKind.ID_NUMBER,
            digest(IdentityKind.ID_NUMBER, normalise_id_number(id_number), secret),
        ),
        (IdentityKind.PHONE, digest(IdentityKind.PHONE, normalise_phone(phone), secret)),
    ]
    blocked = _blocked(session, pairs)
    if blocked is not None:
        return _log(
            session,
            ApplicationKind.MERCHANT,
            _identity_refusal(blocked, "the merchant application"),
            merchant_id=None,
            blocked=blocked,
            actor=actor,
            at=at,
        )
    merchant = accounts_service.create_merchant(session, name=name)
    for kind, value in pairs:
        session.add(
            MerchantIdentity(merchant_id=merchant.id, kind=kind, digest=value, created_at=at)
        )
    session.flush()
    return merchant


def is_banned(session: Session, merchant_id: int) -> bool:
    return session.get(MerchantBan, merchant_id) is not None


def shop_refusal(session: Session, *, merchant_id: int, actor: str, at: datetime) -> Refusal | None:
    """Whether the merchant may open a new shop: not when banned, nor when an identity it
    applied with is on the blocklist (its person was banned under another account). A
    refusal is logged before it is returned."""
    ban = session.get(MerchantBan, merchant_id)
    if ban is not None:
        return _log(
            session,
            ApplicationKind.SHOP,
            Refusal("merchant_banned", f"merchant {merchant_id} is banned: {ban.reason}"),
            merchant_id=merchant_id,
            blocked=None,
            actor=actor,
            at=at,
        )
    pairs = [
        (kind, value)
        for kind, value in session.execute(
            select(MerchantIdentity.kind, MerchantIdentity.digest)
            .where(MerchantIdentity.merchant_id == merchant_id)
            .order_by(MerchantIdentity.kind)  # id_number before phone
        )
    ]
    blocked = _blocked(session, pairs)
    if blocked is None:
        return None
    return _log(
        session,
        ApplicationKind.SHOP,
        _identity_refusal(blocked, "the shop application"),
        merchant_id=merchant_id,
        blocked=blocked,
        actor=actor,
        at=at,
    )


def ban_merchant(
    session: Session, *, merchant_id: int, reason: str, actor: str, at: datetime
) -> MerchantBan:
    """Ban the merchant and put each identity it applied with on the blocklist (the caller,
    ``catalog.service.ban_merchant``, closes its shops). Banning twice keeps the first ban."""
    reason = stated_reason(reason, "a ban", most=MAX_REASON)
    accounts_service.get_merchant(session, merchant_id)
    dialect = session.get_bind().dialect.name
    # a second ban (or one racing this) keeps the first: each row is written unless present
    session.execute(
        _NEW_BAN[dialect],
        {"merchant_id": merchant_id, "reason": reason, "banned_by": actor, "banned_at": at},
    )
    for kind, value in session.execute(
        select(MerchantIdentity.kind, MerchantIdentity.digest).where(
            MerchantIdentity.merchant_id == merchant_id
        )
    ).all():
        session.execute(
            _NEW_BLOCK[dialect],
            {
                "kind": kind.value,
                "digest": value,
                "source_merchant_id": merchant_id,
                "reason": reason,
                "blocked_by": actor,
                "blocked_at": at,
            },
        )
    return session.get_one(MerchantBan, merchant_id, populate_existing=True)
