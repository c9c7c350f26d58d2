"""Catalog: categories, shops (their followers and service providers among them), products,
SKUs, prices and stock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, union_all, update
from sqlalchemy.orm import Session

from trustflow import names
from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Follow, Merchant, ServiceProviderShop
from trustflow.bulk import chunks, rowcount
from trustflow.catalog import rules
from trustflow.catalog.models import (
    NAME_SKELETON_LENGTH,
    Category,
    ListingStatus,
    PriceChange,
    Product,
    Shop,
    ShopKind,
    ShopStatus,
    ShopTransitTime,
    Sku,
)
from trustflow.db import get_or_raise, utcnow
from trustflow.errors import Conflict, ErrorCode, InvalidInput, NotFound
from trustflow.governance import identity as governance_identity
from trustflow.governance import listings, penalties
from trustflow.governance.models import (
    AuthorisationStatus,
    BrandAuthorisation,
    ListingInterception,
    Violation,
)
from trustflow.types import utc_instant

__all__ = [
    "MAX_TRANSIT_REGIONS",
    "add_sku",
    "adjust_stock",
    "assign_shop_to_provider",
    "ban_merchant",
    "change_price",
    "check_shop_names",
    "create_category",
    "create_product",
    "create_shop",
    "decide_authorisation",
    "decide_interception",
    "follow_shop",
    "get_product",
    "get_shop",
    "get_sku",
    "lowest_price_30d",
    "price_history",
    "record_violation",
    "rename_shop",
    "set_fulfilment",
    "set_listing_status",
    "set_shop_status",
    "shop_name",
    "transit_times",
]


def create_category(
    session: Session, *, code: str, name: str, parent_id: int | None = None
) -> Category:
    if session.scalar(select(Category.id).where(Category.code == code)) is not None:
        raise Conflict(f"category code {code!r} exists", code=ErrorCode.DUPLICATE)
    if parent_id is not None:
        get_category(session, parent_id)
    category = Category(code=code, name=name, parent_id=parent_id)
    session.add(category)
    session.flush()
    return category


def get_category(session: Session, category_id: int) -> Category:
    return get_or_raise(session, Category, category_id, "category")


def create_shop(
    session: Session,
    *,
    merchant_id: int,
    name: str,
    kind: ShopKind,
    category_id: int,
    at: datetime | None = None,
    actor: str = "merchant",
) -> Shop:
    """Open a shop for the merchant, unless the merchant is banned or an identity it applied
    with is on the blocklist: then the refusal is logged first and ``identity_blocked`` raised
    (the caller commits the log: the API does)."""
    # the merchant's row locked: a ban committed meanwhile is seen, and one arriving waits
    _lock_merchant(session, merchant_id)
    refusal = governance_identity.shop_refusal(
        session, merchant_id=merchant_id, actor=actor, at=at or utcnow()
    )
    if refusal is not None:
        raise refusal.error()
    get_category(session, category_id)
    name = shop_name(name)
    (skeleton,) = check_shop_names(session, [name])
    shop = Shop(
        merchant_id=merchant_id,
        name=name,
        name_skeleton=skeleton,
        kind=kind,
        category_id=category_id,
        created_at=at or utcnow(),
    )
    session.add(shop)
    session.flush()
    return shop


def _lock_merchant(session: Session, merchant_id: int) -> Merchant:
    merchant = session.scalar(select(Merchant).where(Merchant.id == merchant_id).with_for_update())
    if merchant is None:
        raise NotFound(f"merchant {merchant_id} not found")
    return merchant


def get_shop(session: Session, shop_id: int) -> Shop:
    return get_or_raise(session, Shop, shop_id, "shop")


def rename_shop(session: Session, *, shop_id: int, name: str) -> Shop:
    shop = get_shop(session, shop_id)
    name = shop_name(name)
    (shop.name_skeleton,) = check_shop_names(session, [name], renaming=shop_id)
    shop.name = name
    session.flush()
    return shop


#: The most regions one shop may name transit times for.
MAX_TRANSIT_REGIONS = 500


def set_fulfilment(
    session: Session,
    *,
    shop_id: int,
    handling_hours: int,
    transit: Sequence[tuple[str, int, int]],
) -> Shop:
    """Set the shop's handling time and its transit times by region (``(region, min_hours,
    max_hours)``, replacing the ones before): the promises of orders placed from now on.
    Orders already placed keep the promise they were given."""
    if not 1 <= handling_hours <= 720:
        raise InvalidInput("handling_hours must be in 1..720")
    if len(transit) > MAX_TRANSIT_REGIONS:
        raise InvalidInput(f"at most {MAX_TRANSIT_REGIONS} regions")
    if len({region for region, _, _ in transit}) != len(transit):
        raise InvalidInput("a region is named twice")
    for region, low, high in transit:
        if not 1 <= low <= high <= 2160:
            raise InvalidInput(f"region {region}: need 1 <= min_hours <= max_hours <= 2160")
    shop = session.scalars(select(Shop).where(Shop.id == shop_id).with_for_update()).first()
    if shop is None:
        raise NotFound(f"shop {shop_id} not found")
    shop.handling_hours = handling_hours
    session.execute(delete(ShopTransitTime).where(ShopTransitTime.shop_id == shop_id))
    session.add_all(
        ShopTransitTime(shop_id=shop_id, region=region, min_hours=low, max_hours=high)
        for region, low, high in transit
    )
    session.flush()
    return shop


def transit_times(session: Session, shop_id: int) -> Sequence[ShopTransitTime]:
    return session.scalars(
        select(ShopTransitTime)
        .where(ShopTransitTime.shop_id == shop_id)
        .order_by(ShopTransitTime.region)
    ).all()


#: An arbitrary constant naming the PostgreSQL advisory lock that shop naming takes.
_SHOP_NAMES_LOCK = 0x73686F705F6E616D  # "shop_nam"


def shop_name(raw: str) -> str:
    """``raw`` as a shop is named (:func:`trustflow.names.normalise_name`), or invalid_input."""
    try:
        return names.normalise_name(raw)
    except names.NameRefused as exc:
        raise InvalidInput(exc.message, reason=exc.reason) from None


def check_shop_names(
    session: Session, new_names: Sequence[str], *, renaming: int | None = None
) -> list[str]:
    """The skeletons of normalised ``new_names``, refused (409) when one looks like an existing
    shop's name (``shop_name_confusable``, naming that shop) or is it (``shop_name_taken``),
    or when two of them look alike. ``renaming``: the shop taking the one new name, whose old
    name does not count. One shop-naming transaction at a time passes this check, so two
    look-alikes cannot both pass it (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_SHOP_NAMES_LOCK)))
    skeletons = [names.name_skeleton(n) for n in new_names]
    first: dict[str, str] = {}
    for name, skeleton in zip(new_names, skeletons, strict=True):
        if len(skeleton) > NAME_SKELETON_LENGTH:
            raise InvalidInput(f"shop name {name!r} is too long")
        if skeleton in first:
            raise _name_clash(name, first[skeleton], None)
        first[skeleton] = name
    for part in chunks(list(first)):
        stmt = select(Shop.id, Shop.name, Shop.name_skeleton).where(Shop.name_skeleton.in_(part))
        if renaming is not None:
            stmt = stmt.where(Shop.id != renaming)
        clash = session.execute(stmt.order_by(Shop.id).limit(1)).first()
        if clash is not None:
            raise _name_clash(first[clash.name_skeleton], clash.name, clash.id)
    return skeletons


def _name_clash(name: str, existing: str, shop_id: int | None) -> Conflict:
    which = f"shop {shop_id}" if shop_id is not None else "another new shop"
    if name == existing:
        return Conflict(
            f"{which} is already named {name!r}",
            code=ErrorCode.SHOP_NAME_TAKEN,
            shop_id=shop_id,
        )
    return Conflict(
        f"shop name {name!r} looks like the name of {which} ({existing!r})",
        code=ErrorCode.SHOP_NAME_CONFUSABLE,
        shop_id=shop_id,
    )


def ban_merchant(
    session: Session, *, merchant_id: int, reason: str, actor: str, at: datetime | None = None
) -> list[int]:
    """Operator action: ban the merchant (its identities go on the blocklist, so neither a new
    shop nor a new account by the same person is accepted) and close every shop it has.
    Returns the shops closed now."""
    at = at or utcnow()
    _lock_merchant(session, merchant_id)  # a shop being opened now is committed first, or waits
    governance_identity.ban_merchant(
        session, merchant_id=merchant_id, reason=reason, actor=actor, at=at
    )
    closing = session.scalars(
        select(Shop)
        .where(Shop.merchant_id == merchant_id, Shop.status != ShopStatus.CLOSED)
        .order_by(Shop.id)
        .with_for_update()
    ).all()
    for shop in closing:
        _close(shop)
    session.flush()
    return [shop.id for shop in closing]


def _close(shop: Shop) -> None:
    """Close the shop by the platform's shop transitions (a closed shop stays closed)."""
    rules.SHOP_TRANSITIONS.require(rules.becoming(ShopStatus.CLOSED), shop.status)
    shop.status = ShopStatus.CLOSED


def record_violation(
    session: Session,
    *,
    shop_id: int,
    rule: str,
    reason: str,
    actor: str,
    at: datetime | None = None,
    interception_id: int | None = None,
) -> tuple[Violation, penalties.Standing]:
    """Record a violation against the shop (``governance/penalties.py``); when its points
    reach the shop-closure threshold, the shop is closed in the same transaction. The shop's
    row is locked first, so two violations recorded at once each see the other's points."""
    shop = session.scalar(select(Shop).where(Shop.id == shop_id).with_for_update())
    if shop is None:
        raise NotFound(f"shop {shop_id} not found")
    violation, now = penalties.record_violation(
        session,
        shop_id=shop_id,
        rule=rule,
        reason=reason,
        actor=actor,
        at=at or utcnow(),
        interception_id=interception_id,
    )
    if now.at_least(penalties.PenaltyLevel.SHOP_CLOSURE) and shop.status is not ShopStatus.CLOSED:
        _close(shop)
        session.flush()
    return violation, now


def set_shop_status(session: Session, *, shop_id: int, status: ShopStatus) -> Shop:
    """Operator action: suspend, reinstate or close a shop. A closed shop stays closed."""
    shop = get_shop(session, shop_id)
    rules.SHOP_TRANSITIONS.require(rules.becoming(status), shop.status)
    shop.status = status
    session.flush()
    return shop


def follow_shop(
    session: Session, *, buyer_id: int, shop_id: int, at: datetime | None = None
) -> Follow:
    """A buyer follows a shop. Following twice is harmless: the first follow is returned."""
    accounts_service.get_buyer(session, buyer_id)
    get_shop(session, shop_id)
    return accounts_service.record_follow(session, buyer_id=buyer_id, shop_id=shop_id, at=at)


def assign_shop_to_provider(
    session: Session, *, provider_id: int, shop_id: int, at: datetime | None = None
) -> ServiceProviderShop:
    """A service provider starts operating a shop; a link already in force is returned."""
    accounts_service.get_service_provider(session, provider_id)
    get_shop(session, shop_id)
    existing = session.scalar(
        select(ServiceProviderShop).where(
            ServiceProviderShop.provider_id == provider_id,
            ServiceProviderShop.shop_id == shop_id,
            ServiceProviderShop.until.is_(None),
        )
    )
    if existing is not None:
        return existing
    link = ServiceProviderShop(provider_id=provider_id, shop_id=shop_id, since=at or utcnow())
    session.add(link)
    session.flush()
    return link


def create_product(
    session: Session,
    *,
    shop_id: int,
    title: str,
    category_id: int | None = None,
    brand: str = "",
    at: datetime | None = None,
) -> Product:
    """Create a draft product, screened first (``governance/listings.py``): a listing that
    names a brand the shop has no verified authorisation for, or a prohibited item, is
    created blocked, each finding an open interception the merchant may appeal."""
    shop = get_shop(session, shop_id)
    if shop.status is ShopStatus.CLOSED:
        raise Conflict(f"shop {shop_id} is closed", code=ErrorCode.SHOP_NOT_ACTIVE)
    if category_id is not None:
        get_category(session, category_id)
    at = at or utcnow()
    findings = listings.screen_listing(session, shop_id=shop_id, title=title, brand=brand)
    product = Product(
        shop_id=shop_id,
        category_id=category_id or shop.category_id,
        title=title,
        brand=brand,
        brand_authorised=_brand_authorised(session, shop_id, brand),
        status=ListingStatus.BLOCKED if findings else ListingStatus.DRAFT,
        created_at=at,
    )
    session.add(product)
    session.flush()
    if findings:
        listings.intercept(
            session, product_id=product.id, shop_id=shop_id, findings=findings, at=at
        )
    return product


def _brand_authorised(session: Session, shop_id: int, brand: str) -> bool:
    """Whether the product's brand is one the shop's verified authorisation covers."""
    registered = listings.find_brand(session, brand) if brand.strip() else None
    return registered is not None and listings.authorised(session, shop_id, registered.id)


def _screen_price(session: Session, product: Product, price_fen: int, at: datetime) -> None:
    """A SKU priced far below its brand's reference intercepts the product."""
    finding = listings.screen_price(session, brand=product.brand, price_fen=price_fen)
    if finding is None:
        return
    listings.intercept(
        session, product_id=product.id, shop_id=product.shop_id, findings=[finding], at=at
    )
    product.status = ListingStatus.BLOCKED
    session.flush()


def decide_authorisation(
    session: Session,
    *,
    authorisation_id: int,
    to: AuthorisationStatus,
    reason: str,
    actor: str,
    at: datetime | None = None,
) -> BrandAuthorisation:
    """An operator verifies, rejects or revokes a brand authorisation
    (``governance/listings.py``). Revoking it screens the shop's products that sold on it
    again, at once: those now refused are blocked, each with an interception the merchant may
    appeal (a forged licence does not keep its goods on sale until they are next listed)."""
    at = at or utcnow()
    row = listings.decide_authorisation(
        session, authorisation_id=authorisation_id, to=to, reason=reason, actor=actor, at=at
    )
    if to is AuthorisationStatus.REVOKED:
        for product in session.scalars(
            select(Product)
            .where(
                Product.shop_id == row.shop_id,
                Product.brand_authorised.is_(True),
                Product.status != ListingStatus.BLOCKED,
            )
            .order_by(Product.id)
            .with_for_update()
        ):
            product.brand_authorised = False
            findings = listings.screen_listing(
                session, shop_id=product.shop_id, title=product.title, brand=product.brand
            )
            if findings:
                listings.intercept(
                    session,
                    product_id=product.id,
                    shop_id=product.shop_id,
                    findings=findings,
                    at=at,
                )
                product.status = ListingStatus.BLOCKED
        session.flush()
    return row


def decide_interception(
    session: Session,
    *,
    interception_id: int,
    uphold: bool,
    reason: str,
    actor: str,
    at: datetime | None = None,
) -> ListingInterception:
    """An operator decides a merchant's appeal. Upholding it records the violation its rule
    carries against the shop (``governance/penalties.py``). Overturning the product's last
    standing interception releases it, delisted: the merchant lists it again (screened
    again)."""
    at = at or utcnow()
    decided = listings.decide(
        session, interception_id=interception_id, uphold=uphold, reason=reason, actor=actor, at=at
    )
    if uphold:
        record_violation(
            session,
            shop_id=decided.shop_id,
            rule=listings.VIOLATION_OF[decided.rule],
            reason=f"listing intercepted and upheld: {decided.message}",
            actor=actor,
            at=at,
            interception_id=decided.id,
        )
    product = get_product(session, decided.product_id)
    if (
        not uphold
        and product.status is ListingStatus.BLOCKED
        and not listings.still_intercepted(session, product.id)
    ):
        rules.OPERATOR_LISTING_TRANSITIONS.require(
            rules.becoming(ListingStatus.DELISTED), product.status
        )
        product.status = ListingStatus.DELISTED
        session.flush()
    return decided


def get_product(session: Session, product_id: int) -> Product:
    return get_or_raise(session, Product, product_id, "product")


def set_listing_status(
    session: Session, *, product_id: int, status: ListingStatus, by_operator: bool = False
) -> Product:
    """List, delist or (platform only) block a product, refusing moves the rules forbid."""
    product = get_product(session, product_id)
    allowed = (
        rules.OPERATOR_LISTING_TRANSITIONS if by_operator else rules.MERCHANT_LISTING_TRANSITIONS
    )
    allowed.require(rules.becoming(status), product.status)
    if status is ListingStatus.LISTED:
        # screened again: the registry or the shop's authorisations may have changed
        won = listings.overturned_rules(session, product_id)  # appeals won stay won
        findings = [
            f
            for f in listings.screen_listing(
                session, shop_id=product.shop_id, title=product.title, brand=product.brand
            )
            if f.rule not in won
        ]
        if findings:
            raise Conflict(
                f"product {product_id} cannot be listed: " + "; ".join(f.message for f in findings),
                code=ErrorCode.LISTING_INTERCEPTED,
                findings=[f.rule for f in findings],
            )
        product.brand_authorised = _brand_authorised(session, product.shop_id, product.brand)
        if session.scalar(select(Sku.id).where(Sku.product_id == product_id).limit(1)) is None:
            raise Conflict(f"product {product_id} has no SKU to sell", code=ErrorCode.CONFLICT)
    product.status = status
    session.flush()
    return product


def _check_price(price_fen: int) -> None:
    if not 0 < price_fen <= rules.MAX_PRICE_FEN:
        raise InvalidInput(f"price_fen must be in 1..{rules.MAX_PRICE_FEN}")


def add_sku(
    session: Session,
    *,
    product_id: int,
    price_fen: int,
    stock: int,
    spec: str = "",
    at: datetime | None = None,
) -> Sku:
    product = get_product(session, product_id)
    _check_price(price_fen)
    if not 0 <= stock <= rules.MAX_STOCK:
        raise InvalidInput(f"stock must be in 0..{rules.MAX_STOCK}")
    at = at or utcnow()
    sku = Sku(product_id=product_id, spec=spec, price_fen=price_fen, stock=stock)
    session.add(sku)
    session.flush()
    session.add(PriceChange(sku_id=sku.id, price_fen=price_fen, effective_at=at))
    session.flush()
    _screen_price(session, product, price_fen, at)
    return sku


def get_sku(session: Session, sku_id: int) -> Sku:
    return get_or_raise(session, Sku, sku_id, "sku")


def change_price(
    session: Session, *, sku_id: int, price_fen: int, at: datetime | None = None
) -> Sku:
    """Set a new price and record it in the price history."""
    _check_price(price_fen)
    sku = get_sku(session, sku_id)
    at = at or utcnow()
    sku.price_fen = price_fen
    session.add(PriceChange(sku_id=sku_id, price_fen=price_fen, effective_at=at))
    session.flush()
    _screen_price(session, get_product(session, sku.product_id), price_fen, at)
    return sku


def adjust_stock(session: Session, *, sku_id: int, delta: int) -> Sku:
    """Add (or with a negative delta, remove) stock atomically; stock never goes below zero."""
    get_sku(session, sku_id)
    result = session.execute(
        update(Sku)
        .where(Sku.id == sku_id, Sku.stock + delta >= 0, Sku.stock + delta <= rules.MAX_STOCK)
        .values(stock=Sku.stock + delta)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) == 0:
        raise Conflict(
            f"stock of sku {sku_id} cannot change by {delta}", code=ErrorCode.OUT_OF_STOCK
        )
    sku = get_sku(session, sku_id)
    session.refresh(sku)
    return sku


def price_history(session: Session, sku_id: int) -> list[PriceChange]:
    get_sku(session, sku_id)
    return list(
        session.scalars(
            select(PriceChange)
            .where(PriceChange.sku_id == sku_id)
            .order_by(PriceChange.effective_at, PriceChange.id)
        )
    )


def lowest_price_30d(session: Session, sku_id: int, *, at: datetime | None = None) -> int:
    """The lowest price the SKU was offered at in the 30 days up to ``at``, in one query.

    It counts the price in force when the window opened as well as every change inside it.
    """
    get_sku(session, sku_id)
    at = utc_instant(at or utcnow(), "at")
    start = at - rules.LOWEST_PRICE_WINDOW
    in_window = select(PriceChange.price_fen).where(
        PriceChange.sku_id == sku_id,
        PriceChange.effective_at > start,
        PriceChange.effective_at <= at,
    )
    at_start = (
        select(PriceChange.price_fen)
        .where(PriceChange.sku_id == sku_id, PriceChange.effective_at <= start)
        .order_by(PriceChange.effective_at.desc(), PriceChange.id.desc())
        .limit(1)
    )
    prices = union_all(in_window, select(at_start.subquery().c.price_fen)).subquery()
    lowest = session.scalar(select(func.min(prices.c.price_fen)))
    if lowest is None:
        raise NotFound(f"sku {sku_id} had no price before {at.isoformat()}")
    return int(lowest)
