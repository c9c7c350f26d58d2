"""The identity blocklist: a banned person comes back neither with a new shop nor with a new
account, whatever phone it brings; every refusal is logged; the numbers are never stored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.accounts.models import Merchant
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ShopKind, ShopStatus
from trustflow.errors import ErrorCode, InvalidInput
from trustflow.governance import identity
from trustflow.governance.models import (
    ApplicationKind,
    IdentityKind,
    MerchantIdentity,
    RefusedApplication,
)

AT = datetime(2026, 12, 1, tzinfo=UTC)
#: two well-formed resident ID numbers (their check digits are right)
PERSON = "11010519491231002X"
STRANGER = "440524188001010014"


def _apply(s: Session, id_number: str, phone: str, name: str = "Hill Farm") -> Merchant:
    admitted = identity.apply_merchant(
        s, name=name, id_number=id_number, phone=phone, actor="operator:1", at=AT
    )
    assert isinstance(admitted, Merchant), admitted
    return admitted


def _refused(s: Session, id_number: str, phone: str) -> identity.Refusal:
    refused = identity.apply_merchant(
        s, name="Again", id_number=id_number, phone=phone, actor="operator:1", at=AT
    )
    assert isinstance(refused, identity.Refusal), refused
    return refused


def _shop(s: Session, merchant_id: int, name: str) -> int:
    return catalog_service.create_shop(
        s,
        merchant_id=merchant_id,
        name=name,
        kind=ShopKind.OTHER,
        category_id=factories.category(s, name),
        at=AT,
    ).id


def test_numbers_are_checked_and_written_one_way() -> None:
    assert identity.normalise_id_number(" 11010519491231002x ") == PERSON
    assert identity.normalise_phone("+86 138-0013-8000") == "13800138000"
    assert identity.normalise_phone("0086 13800138000") == "13800138000"
    with pytest.raises(InvalidInput, match="check digit"):
        identity.normalise_id_number("110105194912310021")
    with pytest.raises(InvalidInput, match="11-digit"):
        identity.normalise_phone("12800138000")
    # keyed: without the server's secret the same number hashes to something else
    one = identity.digest(IdentityKind.ID_NUMBER, PERSON, b"k" * 32)
    assert one != identity.digest(IdentityKind.ID_NUMBER, PERSON, b"j" * 32)
    assert one == identity.digest(IdentityKind.ID_NUMBER, PERSON, b"k" * 32)


def test_a_banned_person_is_refused_a_new_shop_and_a_new_account_with_another_phone(
    session: Session,
) -> None:
    merchant = _apply(session, PERSON, "13800138000")
    # the same person's second account, opened before the ban
    second = _apply(session, PERSON, "13900139000", name="Hill Farm 2")
    first_shop = _shop(session, merchant.id, "Hill Farm Shop")

    closed = catalog_service.ban_merchant(
        session, merchant_id=merchant.id, reason="counterfeit goods", actor="operator:1", at=AT
    )

    assert closed == [first_shop]
    assert catalog_service.get_shop(session, first_shop).status is ShopStatus.CLOSED
    # the banned merchant's new shop; the same person's other account's new shop
    for who, rule in ((merchant.id, "merchant_banned"), (second.id, "identity_blocked")):
        with pytest.raises(identity.ApplicationRefused) as refused:
            _shop(session, who, f"Shop {who}")
        assert refused.value.code is ErrorCode.IDENTITY_BLOCKED
        assert refused.value.details["rule"] == rule
    # a new account: the same ID number with a new phone; a new ID number with the old phone
    by_id = _refused(session, PERSON, "13700137000")
    by_phone = _refused(session, STRANGER, "13800138000")
    assert (by_id.matched, by_phone.matched) == (IdentityKind.ID_NUMBER, IdentityKind.PHONE)
    assert by_id.message == (
        "the merchant application refused: the applicant's ID number is on the platform's blocklist"
    )
    # someone else is welcome
    _apply(session, STRANGER, "13600136000", name="Other Co.")

    logged = session.execute(
        select(
            RefusedApplication.kind, RefusedApplication.rule, RefusedApplication.matched
        ).order_by(RefusedApplication.id)
    ).all()
    assert logged == [
        (ApplicationKind.SHOP, "merchant_banned", None),
        (ApplicationKind.SHOP, "identity_blocked", IdentityKind.ID_NUMBER),
        (ApplicationKind.MERCHANT, "identity_blocked", IdentityKind.ID_NUMBER),
        (ApplicationKind.MERCHANT, "identity_blocked", IdentityKind.PHONE),
    ]


def test_banning_twice_keeps_the_first_ban(session: Session) -> None:
    merchant = _apply(session, PERSON, "13800138000")
    first = identity.ban_merchant(
        session, merchant_id=merchant.id, reason="fakes", actor="operator:1", at=AT
    )
    again = identity.ban_merchant(
        session, merchant_id=merchant.id, reason="again", actor="operator:2", at=AT
    )
    assert (first.reason, again.reason, again.banned_by) == ("fakes", "fakes", "operator:1")


def test_the_store_never_holds_the_numbers(session: Session) -> None:
    _apply(session, PERSON, "13800138000")
    session.commit()
    digests = session.scalars(select(MerchantIdentity.digest)).all()
    assert len(digests) == 2 and all(len(d) == 64 for d in digests)
    assert session.scalar(select(func.count()).select_from(MerchantIdentity)) == 2
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":  # the file itself, every page of it and its log
        path = Path(str(bind.url.database))
        files = [path, path.with_name(f"{path.name}-wal")]
        raw = b"".join(f.read_bytes() for f in files if f.exists())
        assert PERSON.encode() not in raw and b"13800138000" not in raw
