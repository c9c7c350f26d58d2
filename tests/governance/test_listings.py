"""Listing screening: a brand is sold only with an authorisation an operator verified, named
in the brand field, in the title, in Chinese or in look-alike letters; prohibited items and
prices far below a brand's reference are intercepted; a merchant appeals, an operator
decides."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from tests.integration.test_concurrency import _run_together
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ListingStatus
from trustflow.db import transaction
from trustflow.errors import Conflict, ErrorCode, IllegalTransition
from trustflow.governance import listings
from trustflow.governance.models import (
    AuthorisationStatus,
    BrandKey,
    InterceptionStatus,
    ListingInterception,
)

AT = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def seller(session: Session) -> factories.Seller:
    listings.register_brand(
        session, name="Nike", aliases=["耐克"], reference_price_fen=59_900, actor="operator:1"
    )
    return factories.seller(session, category_id=factories.category(session), at=AT)


def _product(s: Session, seller: factories.Seller, title: str, brand: str = "") -> int:
    return catalog_service.create_product(
        s, shop_id=seller.shop_id, title=title, brand=brand, at=AT
    ).id


def _findings(s: Session, product_id: int) -> list[tuple[str, str]]:
    return [
        (i.rule, i.message)
        for i in s.scalars(
            select(ListingInterception)
            .where(ListingInterception.product_id == product_id)
            .order_by(ListingInterception.id)
        )
    ]


def _verify(s: Session, seller: factories.Seller) -> int:
    nike = listings.find_brand(s, "Nike")
    assert nike is not None
    row = listings.submit_authorisation(
        s, shop_id=seller.shop_id, brand_id=nike.id, document="docs/nike-2026.pdf", actor="m", at=AT
    )
    listings.decide_authorisation(
        s,
        authorisation_id=row.id,
        to=AuthorisationStatus.VERIFIED,
        reason="licence checked against the brand's register",
        actor="operator:1",
        at=AT,
    )
    return row.id


def test_a_brand_named_anywhere_without_a_verified_authorisation_is_intercepted(
    session: Session, seller: factories.Seller
) -> None:
    named = [
        _product(session, seller, "Air 跑鞋", brand="Nike"),
        _product(session, seller, "NIKE Air 跑鞋"),
        _product(session, seller, "N1KE 同款 跑鞋"),  # a one for the i
        _product(session, seller, "耐克 运动鞋"),
    ]
    plain = _product(session, seller, "Running shoes")

    message = "the listing names brand Nike without an authorisation the platform verified"
    for product in named:
        assert catalog_service.get_product(session, product).status is ListingStatus.BLOCKED
        assert _findings(session, product) == [("brand_not_authorised", message)]
    assert catalog_service.get_product(session, plain).status is ListingStatus.DRAFT
    assert _findings(session, plain) == []
    # a brand the registry does not know cannot be verified either
    unknown = _product(session, seller, "Sneaker", brand="Nikee")
    assert _findings(session, unknown) == [
        ("brand_unregistered", "brand 'Nikee' is not in the platform's brand registry")
    ]


def test_only_an_operators_verification_makes_an_authorisation_count(
    session: Session, seller: factories.Seller
) -> None:
    nike = listings.find_brand(session, "Nike")
    assert nike is not None
    pending = listings.submit_authorisation(
        session, shop_id=seller.shop_id, brand_id=nike.id, document="nike.pdf", actor="m", at=AT
    )
    while_pending = _product(session, seller, "Nike Air", brand="Nike")
    listings.decide_authorisation(
        session,
        authorisation_id=pending.id,
        to=AuthorisationStatus.VERIFIED,
        reason="checked",
        actor="operator:1",
        at=AT,
    )
    verified = catalog_service.create_product(
        session, shop_id=seller.shop_id, title="Nike Air", brand="Nike", at=AT
    )
    catalog_service.add_sku(session, product_id=verified.id, price_fen=49_900, stock=3, at=AT)

    assert catalog_service.get_product(session, while_pending).status is ListingStatus.BLOCKED
    assert (verified.status, verified.brand_authorised) == (ListingStatus.DRAFT, True)
    listed = catalog_service.set_listing_status(
        session, product_id=verified.id, status=ListingStatus.LISTED
    )
    assert listed.status is ListingStatus.LISTED
    draft = catalog_service.create_product(
        session, shop_id=seller.shop_id, title="Nike Air 2", brand="Nike", at=AT
    )
    # the operator revokes it (a forged licence): what sold on it is blocked at once, with an
    # interception to appeal; relisting is screened again and refused with the reason
    catalog_service.decide_authorisation(
        session,
        authorisation_id=pending.id,
        to=AuthorisationStatus.REVOKED,
        reason="the licence was forged",
        actor="operator:1",
        at=AT,
    )
    for product in (verified.id, draft.id):
        assert catalog_service.get_product(session, product).status is ListingStatus.BLOCKED
        assert [rule for rule, _ in _findings(session, product)] == ["brand_not_authorised"]
    with pytest.raises(IllegalTransition):
        catalog_service.set_listing_status(
            session, product_id=verified.id, status=ListingStatus.LISTED
        )


def test_prohibited_items_and_prices_far_below_the_reference_are_intercepted(
    session: Session, seller: factories.Seller
) -> None:
    ivory = _product(session, seller, "天然 象牙 手镯")
    _verify(session, seller)
    cheap = _product(session, seller, "Nike Air", brand="Nike")
    catalog_service.add_sku(session, product_id=cheap, price_fen=17_969, stock=3, at=AT)
    fair = _product(session, seller, "Nike Air Max", brand="Nike")
    catalog_service.add_sku(session, product_id=fair, price_fen=17_970, stock=3, at=AT)

    assert _findings(session, ivory) == [
        ("prohibited_item", "the title names a prohibited item: 象牙")
    ]
    # 30% of 599.00 is 179.70: a fen below it is intercepted, the floor itself is not
    assert _findings(session, cheap) == [
        (
            "price_far_below_reference",
            "price 179.69 is below 30% of Nike's reference price 599.00",
        )
    ]
    assert catalog_service.get_product(session, cheap).status is ListingStatus.BLOCKED
    assert catalog_service.get_product(session, fair).status is ListingStatus.DRAFT


def test_an_appeal_is_decided_by_an_operator_and_an_overturn_releases_the_product(
    session: Session, seller: factories.Seller
) -> None:
    upheld_product = _product(session, seller, "耐克 同款")
    overturned_product = _product(session, seller, "Nike-style laces")
    ids = [_findings_ids(session, p)[0] for p in (upheld_product, overturned_product)]
    for interception in ids:
        listings.appeal(session, interception_id=interception, text="not the brand's goods", at=AT)
    with pytest.raises(IllegalTransition):
        listings.appeal(session, interception_id=ids[0], text="again", at=AT)

    catalog_service.decide_interception(
        session, interception_id=ids[0], uphold=True, reason="copies the logo", actor="op"
    )
    catalog_service.decide_interception(
        session, interception_id=ids[1], uphold=False, reason="laces fit any shoe", actor="op"
    )

    statuses = [session.get_one(ListingInterception, i).status for i in ids]
    assert statuses == [InterceptionStatus.UPHELD, InterceptionStatus.OVERTURNED]
    assert catalog_service.get_product(session, upheld_product).status is ListingStatus.BLOCKED
    released = catalog_service.get_product(session, overturned_product)
    assert released.status is ListingStatus.DELISTED
    # the merchant lists it again: the appeal it won stays won
    catalog_service.add_sku(session, product_id=overturned_product, price_fen=990, stock=5, at=AT)
    listed = catalog_service.set_listing_status(
        session, product_id=overturned_product, status=ListingStatus.LISTED
    )
    assert listed.status is ListingStatus.LISTED


def _findings_ids(s: Session, product_id: int) -> list[int]:
    return list(
        s.scalars(
            select(ListingInterception.id).where(ListingInterception.product_id == product_id)
        )
    )


def test_brand_names_inside_other_words_are_not_brands(session: Session) -> None:
    # Regression: names matched anywhere in the squeezed title: "Apple" in "Pineapple cake",
    # "LG" in "Big Glass bowl", "Mi" in "Mineral water 500ml" were all intercepted
    for name in ("Apple", "LG", "Mi"):
        listings.register_brand(session, name=name, actor="operator:1")
    seller = factories.seller(session, category_id=factories.category(session), at=AT)
    innocent = ["Pineapple cake", "Big Glass bowl", "Mineral water 500ml"]
    products = [_product(session, seller, title) for title in innocent]
    apple = _product(session, seller, "Apple iPhone15 手机壳")

    assert [_findings(session, p) for p in products] == [[], [], []]
    assert [rule for rule, _ in _findings(session, apple)] == ["brand_not_authorised"]


def test_listing_screens_again_with_the_registry_as_it_is_now(session: Session) -> None:
    seller = factories.seller(session, category_id=factories.category(session), at=AT)
    product = _product(session, seller, "Adidas Samba")  # no such brand registered yet
    catalog_service.add_sku(session, product_id=product, price_fen=39_900, stock=2, at=AT)
    listings.register_brand(session, name="Adidas", aliases=["阿迪达斯"], actor="operator:1")

    with pytest.raises(Conflict) as refused:
        catalog_service.set_listing_status(session, product_id=product, status=ListingStatus.LISTED)

    assert refused.value.code is ErrorCode.LISTING_INTERCEPTED
    assert refused.value.details["findings"] == ["brand_not_authorised"]
    assert refused.value.message == (
        f"product {product} cannot be listed: the listing names brand Adidas without an"
        " authorisation the platform verified"
    )


def test_two_brands_registered_at_once_never_share_a_name(factory: sessionmaker[Session]) -> None:
    def register(i: int) -> int:
        with transaction(factory) as s:
            return listings.register_brand(
                s, name=f"Brand {i}", aliases=["耐克"], actor="operator:1"
            ).id

    results = _run_together(2, register)

    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], Conflict)
    assert refused[0].code is ErrorCode.DUPLICATE
    with factory() as s:
        assert (
            s.scalar(select(func.count()).select_from(BrandKey).where(BrandKey.key == "耐克")) == 1
        )
