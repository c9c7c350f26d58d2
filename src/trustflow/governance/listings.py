"""Listing screening (商品拦截): brands only by verified authorisation, no prohibited items,
no price far below a brand's reference. One place for the rules; the catalog runs them when a
product is created, when a SKU's price is set, and before a product is listed
(``catalog/service.py``).

- **Brand registry** (品牌库): operators register brands with their other names and a
  reference price (:func:`register_brand`).
- **Authorisation** (品牌授权): a merchant submits a document for a shop and a brand
  (:func:`submit_authorisation`); only an operator's verification makes it count
  (:func:`decide_authorisation`). The merchant can no longer claim it by a flag.
- **Screening** (:func:`screen_listing`, :func:`screen_price`): each finding names its rule
  and numbers, in English and Chinese. Brand names are matched by a key that folds case,
  width and look-alike characters (``N1KE`` meets ``Nike``), in the brand field and anywhere in
  the title.
- **Interception and appeal**: a finding at creation or at a price change intercepts the
  product (:func:`intercept`; the catalog blocks it). The merchant appeals (:func:`appeal`);
  an operator upholds or overturns (:func:`decide`), with a reason on the record.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trustflow.bulk import rowcount, table
from trustflow.config import get_settings
from trustflow.db import get_or_raise
from trustflow.errors import Conflict, ErrorCode, IllegalTransition, InvalidInput
from trustflow.governance.models import (
    AuthorisationStatus,
    Brand,
    BrandAuthorisation,
    BrandKey,
    InterceptionStatus,
    ListingInterception,
)
from trustflow.names import skeleton
from trustflow.types import stated_reason
from trustflow.units import yuan

__all__ = [
    "MIN_KEY_LENGTH",
    "MIN_LATIN_KEY_LENGTH",
    "VIOLATION_OF",
    "Finding",
    "appeal",
    "authorised",
    "brand_key",
    "decide",
    "decide_authorisation",
    "find_brand",
    "intercept",
    "overturned_rules",
    "register_brand",
    "screen_listing",
    "screen_price",
    "still_intercepted",
    "submit_authorisation",
]

_interceptions = table(ListingInterception)
_authorisations = table(BrandAuthorisation)
#: the violation an upheld interception records, by the interception's rule
#: (``governance/penalties.py``)
VIOLATION_OF: dict[str, str] = {
    "brand_not_authorised": "unauthorised_brand",
    "brand_unregistered": "unauthorised_brand",
    "prohibited_item": "prohibited_item",
    "price_far_below_reference": "suspected_counterfeit",
}
#: brand names and words shorter than this (as keys) are not looked for inside titles: too
#: many titles hold two letters by chance
MIN_KEY_LENGTH = 2
#: a Latin brand name is looked for in titles, as a whole word, from this many letters (LG and
#: Mi are matched in the brand field only: as title words they meet "500ml" and model codes)
MIN_LATIN_KEY_LENGTH = 3
#: the longest passage of a title (in characters of its key) looked up as a brand name
_LONGEST_KEY = 20
MAX_REASON = 500
MAX_APPEAL = 1_000


def brand_key(text: str) -> str:
    """The key a brand name and a title are compared by: NFKC, case folded, each look-alike
    character replaced by its prototype (TR39), ``i`` folded with ``l`` (``1``, ``I`` and ``l``
    share a prototype; ``i`` does not), and everything but letters and digits dropped."""
    folded = skeleton(unicodedata.normalize("NFKC", text).casefold()).casefold()
    return re.sub(r"[\W_]", "", folded.replace("i", "l"))


@dataclass(frozen=True)
class _Mentions:
    """What a title names, as brand keys see it: its Latin and digit words, whole (and split
    where letters meet digits: ``iphone15`` is ``lphone15``, ``lphone`` and ``15``), and the
    whole title squeezed (for names in Chinese, which have no spaces to split on)."""

    words: frozenset[str]
    text: str

    @classmethod
    def of(cls, title: str) -> _Mentions:
        plain = unicodedata.normalize("NFKC", title).casefold()
        folded = skeleton(plain).casefold().replace("i", "l")
        # words of the folded title (look-alikes met: N1KE, Cyrillic letters), and of the plain
        # one split where letters meet digits, then folded (the skeleton turns 1 into l, so
        # "iphone15" would otherwise never split)
        words = set(re.findall(r"[a-z0-9]+", folded))
        words |= {brand_key(w) for w in re.findall(r"[a-z]+|[0-9]+", plain)}
        return cls(frozenset(words), re.sub(r"[\W_]", "", folded))

    def name(self, key: str) -> bool:
        """Whether the title names ``key``: a Latin key as a whole word ("Apple" is not in
        "Pineapple", "LG" not in "Big Glass"), any other inside the text (小米 in 小米手机)."""
        if key.isascii():
            return key in self.words
        return key in self.text


@dataclass(frozen=True)
class Finding:
    """One rule a listing breaks: a stable code and the sentence, with numbers, in English
    and Chinese."""

    rule: str
    message: str
    message_zh: str


def register_brand(
    session: Session,
    *,
    name: str,
    aliases: Sequence[str] = (),
    reference_price_fen: int | None = None,
    actor: str,
) -> Brand:
    """An operator adds a brand to the registry: each of its names becomes a key of the index
    (:class:`BrandKey`, unique), so no name is two brands', even when two registrations race."""
    name = name.strip()
    names = [name, *(a.strip() for a in aliases)]
    keys = [brand_key(n) for n in names]
    if not name or any(len(k) < MIN_KEY_LENGTH for k in keys):
        raise InvalidInput(f"a brand's names need {MIN_KEY_LENGTH} letters or digits each")
    if len(set(keys)) != len(keys):
        raise InvalidInput("two of the brand's names are the same name")
    if reference_price_fen is not None and reference_price_fen <= 0:
        raise InvalidInput("reference_price_fen must be above 0")
    for key in keys:
        clash = find_brand(session, key)
        if clash is not None:
            raise Conflict(
                f"brand {clash.name!r} is registered under that name already",
                code=ErrorCode.DUPLICATE,
                brand_id=clash.id,
            )
    brand = Brand(
        name=name,
        key=keys[0],
        aliases=names[1:],
        reference_price_fen=reference_price_fen,
        created_by=actor,
    )
    try:
        with session.begin_nested():
            session.add(brand)
            session.flush()
            session.add_all(
                BrandKey(key=k, brand_id=brand.id, in_titles=_looked_for(n))
                for k, n in zip(keys, names, strict=True)
            )
            session.flush()
    except IntegrityError:
        raise Conflict(f"brand {name!r} is registered already", code=ErrorCode.DUPLICATE) from None
    return brand


def _looked_for(name: str) -> bool:
    """Whether a name is looked for inside titles: a Latin one of three letters or more (LG and
    Mi meet too many units and model codes: "500ml"), any other of two or more."""
    plain = re.sub(r"[\W_]", "", unicodedata.normalize("NFKC", name))
    least = MIN_LATIN_KEY_LENGTH if plain.isascii() else MIN_KEY_LENGTH
    return len(plain) >= least


def find_brand(session: Session, name: str) -> Brand | None:
    """The registered brand known by ``name`` (one indexed lookup of its key)."""
    key = brand_key(name)
    if not key:
        return None
    return session.scalar(select(Brand).join(BrandKey).where(BrandKey.key == key))


def _named_in(session: Session, mentions: _Mentions) -> list[Brand]:
    """The registered brands a title names: its Latin words, and its passages of other script,
    looked up in the key index at once (one query), never a scan of the registry."""
    text = mentions.text
    passages = {
        text[a:b]
        for a in range(len(text))
        for b in range(a + MIN_KEY_LENGTH, min(a + _LONGEST_KEY, len(text)) + 1)
        if not text[a:b].isascii()
    }
    candidates = sorted(mentions.words | passages)
    if not candidates:
        return []
    return list(
        session.scalars(
            select(Brand)
            .where(
                Brand.id.in_(
                    select(BrandKey.brand_id).where(
                        BrandKey.key.in_(candidates), BrandKey.in_titles.is_(True)
                    )
                )
            )
            .order_by(Brand.id)
        )
    )


def authorised(session: Session, shop_id: int, brand_id: int) -> bool:
    """Whether an operator verified the shop's authorisation for the brand."""
    return (
        session.scalar(
            select(BrandAuthorisation.id).where(
                BrandAuthorisation.shop_id == shop_id,
                BrandAuthorisation.brand_id == brand_id,
                BrandAuthorisation.status == AuthorisationStatus.VERIFIED,
            )
        )
        is not None
    )


def submit_authorisation(
    session: Session, *, shop_id: int, brand_id: int, document: str, actor: str, at: datetime
) -> BrandAuthorisation:
    """The merchant submits the shop's authorisation document for the brand: pending until an
    operator verifies it. A rejected or revoked one may be submitted again."""
    get_or_raise(session, Brand, brand_id, "brand")
    document = document.strip()
    if not 1 <= len(document) <= 200:
        raise InvalidInput("document must be 1..200 characters")
    existing = session.scalar(
        select(BrandAuthorisation)
        .where(BrandAuthorisation.shop_id == shop_id, BrandAuthorisation.brand_id == brand_id)
        .with_for_update()
    )
    if existing is not None:
        if existing.status in (AuthorisationStatus.PENDING, AuthorisationStatus.VERIFIED):
            raise Conflict(
                f"shop {shop_id}'s authorisation for brand {brand_id} is {existing.status.value}",
                code=ErrorCode.DUPLICATE,
                authorisation_id=existing.id,
            )
        existing.status = AuthorisationStatus.PENDING
        existing.document = document
        existing.submitted_by, existing.submitted_at = actor, at
        existing.decided_by = existing.decided_at = existing.decision_reason = None
        session.flush()
        return existing
    row = BrandAuthorisation(
        shop_id=shop_id,
        brand_id=brand_id,
        document=document,
        status=AuthorisationStatus.PENDING,
        submitted_by=actor,
        submitted_at=at,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict(
            "this authorisation was submitted meanwhile", code=ErrorCode.DUPLICATE
        ) from None
    return row


def decide_authorisation(
    session: Session,
    *,
    authorisation_id: int,
    to: AuthorisationStatus,
    reason: str,
    actor: str,
    at: datetime,
) -> BrandAuthorisation:
    """An operator verifies or rejects a pending authorisation from its document, or revokes
    a verified one, with a reason on the record (one guarded update)."""
    reason = _reason(reason, "decision")
    expected = {
        AuthorisationStatus.VERIFIED: AuthorisationStatus.PENDING,
        AuthorisationStatus.REJECTED: AuthorisationStatus.PENDING,
        AuthorisationStatus.REVOKED: AuthorisationStatus.VERIFIED,
    }
    if to not in expected:
        raise InvalidInput(f"an authorisation is verified, rejected or revoked, not {to.value}")
    row = get_or_raise(session, BrandAuthorisation, authorisation_id, "authorisation")
    moved = session.execute(
        update(_authorisations)
        .where(
            _authorisations.c.id == authorisation_id,
            _authorisations.c.status == expected[to].value,
        )
        .values(status=to.value, decided_by=actor, decided_at=at, decision_reason=reason)
    )
    session.refresh(row)
    if rowcount(moved) != 1:
        raise IllegalTransition("authorisation", row.status.value, f"become {to.value}")
    return row


def _reason(text: str, what: str, most: int = MAX_REASON) -> str:
    return stated_reason(text, f"a {what}", most=most)


def screen_listing(session: Session, *, shop_id: int, title: str, brand: str) -> list[Finding]:
    """What a listing with this title and brand, in this shop, breaks: a prohibited word in
    the title; a brand named (in the brand field or the title) that the shop has no verified
    authorisation for, or that the registry does not know."""
    findings = []
    mentions = _Mentions.of(title)
    for word in get_settings().governance_prohibited_words:
        if _looked_for(word) and mentions.name(brand_key(word)):
            findings.append(
                Finding(
                    "prohibited_item",
                    f"the title names a prohibited item: {word}",
                    f"标题含禁售商品：{word}",
                )
            )
    named: dict[int, Brand] = {}
    if brand.strip():
        found = find_brand(session, brand)
        if found is None:
            findings.append(
                Finding(
                    "brand_unregistered",
                    f"brand {brand.strip()!r} is not in the platform's brand registry",
                    f"品牌“{brand.strip()}”不在平台品牌库中",
                )
            )
        else:
            named[found.id] = found
    for registered in _named_in(session, mentions):
        named[registered.id] = registered
    for brand_id, registered in sorted(named.items()):
        if not authorised(session, shop_id, brand_id):
            findings.append(
                Finding(
                    "brand_not_authorised",
                    f"the listing names brand {registered.name} without an authorisation the"
                    " platform verified",
                    f"商品涉及品牌“{registered.name}”，但店铺无经平台核验的品牌授权",
                )
            )
    return findings


def screen_price(session: Session, *, brand: str, price_fen: int) -> Finding | None:
    """A branded SKU priced far below its brand's reference price (a likely counterfeit)."""
    registered = find_brand(session, brand) if brand.strip() else None
    if registered is None or registered.reference_price_fen is None:
        return None
    share = get_settings().governance_price_floor_share
    # exact: the share as the decimal it was written as, times whole fen
    if price_fen >= Decimal(str(share)) * registered.reference_price_fen:
        return None
    return Finding(
        "price_far_below_reference",
        f"price {yuan(price_fen)} is below {share:.0%} of {registered.name}'s reference price"
        f" {yuan(registered.reference_price_fen)}",
        f"售价 {yuan(price_fen)} 低于品牌“{registered.name}”参考价"
        f" {yuan(registered.reference_price_fen)} 的 {share:.0%}",
    )


def intercept(
    session: Session, *, product_id: int, shop_id: int, findings: Sequence[Finding], at: datetime
) -> list[ListingInterception]:
    """Record each finding as an open interception of the product (the catalog blocks it)."""
    rows = [
        ListingInterception(
            product_id=product_id,
            shop_id=shop_id,
            rule=f.rule,
            message=f.message,
            message_zh=f.message_zh,
            status=InterceptionStatus.OPEN,
            at=at,
            updated_at=at,
        )
        for f in findings
    ]
    session.add_all(rows)
    session.flush()
    return rows


def appeal(
    session: Session, *, interception_id: int, text: str, at: datetime
) -> ListingInterception:
    """The merchant appeals an open interception, saying why (the caller checked it is the
    shop's)."""
    text = _reason(text, "appeal", MAX_APPEAL)
    return _move(
        session,
        interception_id,
        InterceptionStatus.OPEN,
        InterceptionStatus.APPEALED,
        appeal=text,
        updated_at=at,
    )


def decide(
    session: Session,
    *,
    interception_id: int,
    uphold: bool,
    reason: str,
    actor: str,
    at: datetime,
) -> ListingInterception:
    """An operator upholds or overturns an appealed interception, with a reason."""
    reason = _reason(reason, "decision")
    return _move(
        session,
        interception_id,
        InterceptionStatus.APPEALED,
        InterceptionStatus.UPHELD if uphold else InterceptionStatus.OVERTURNED,
        decided_by=actor,
        decision_reason=reason,
        updated_at=at,
    )


def _move(
    session: Session,
    interception_id: int,
    expected: InterceptionStatus,
    to: InterceptionStatus,
    **values: object,
) -> ListingInterception:
    row = get_or_raise(session, ListingInterception, interception_id, "interception")
    moved = session.execute(
        update(_interceptions)
        .where(_interceptions.c.id == interception_id, _interceptions.c.status == expected.value)
        .values(status=to.value, **values)
    )
    session.refresh(row)
    if rowcount(moved) != 1:
        raise IllegalTransition("interception", row.status.value, f"become {to.value}")
    return row


def overturned_rules(session: Session, product_id: int) -> set[str]:
    """The rules an operator overturned an interception of the product for: an appeal won
    stays won when the merchant lists the product again."""
    return set(
        session.scalars(
            select(ListingInterception.rule).where(
                ListingInterception.product_id == product_id,
                ListingInterception.status == InterceptionStatus.OVERTURNED,
            )
        )
    )


def still_intercepted(session: Session, product_id: int) -> bool:
    """Whether any interception of the product still stands (open, appealed or upheld)."""
    return (
        session.scalar(
            select(ListingInterception.id)
            .where(
                ListingInterception.product_id == product_id,
                ListingInterception.status != InterceptionStatus.OVERTURNED,
            )
            .limit(1)
        )
        is not None
    )
