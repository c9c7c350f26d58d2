"""Names people read: one normal form, nothing invisible, no shop passing for another."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, inspect, select, text

from tests.api.conftest import World
from trustflow import migrate, names
from trustflow.catalog import bulk as catalog_bulk
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import Shop, ShopKind
from trustflow.db import session_factory, transaction
from trustflow.errors import Conflict

API = "/api/v1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _shops(world: World) -> list[dict[str, Any]]:
    r = world.client.get(f"{API}/shops?limit=200", headers=world.as_("operator"))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _open_shop(world: World, name: str) -> Any:
    return world.client.post(
        f"{API}/shops",
        json={"name": name, "kind": "brand", "category_id": world.category_id},
        headers=world.as_("merchant_a"),
    )


def _error_types(response: Any) -> list[str]:
    return [e["type"] for e in response.json()["error"]["details"]["errors"]]


# --- the pure rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("  Shop   2 ", "Shop 2"),
        ("Ｓｈｏｐ\u3000２", "Shop 2"),  # full-width letters and space
        ("e\u0301clair", "\u00e9clair"),  # composed
        ("ﬁne tea", "fine tea"),  # a ligature, spelt out
        ("茶叶小店", "茶叶小店"),
        ("مكتبة", "مكتبة"),  # right-to-left script is fine; only controls are refused
    ],
)
def test_a_name_is_kept_in_one_normal_form(raw: str, normal: str) -> None:
    assert names.normalise_name(raw) == normal


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("\u202eShop 2", "name_bidi_control"),  # right-to-left override
        ("Shop\u2066 2", "name_bidi_control"),  # isolate
        ("Shop\u200f", "name_bidi_control"),  # right-to-left mark
        ("\u061cShop", "name_bidi_control"),  # Arabic letter mark
        ("\u200b\u200b", "name_zero_width"),
        ("Sh\u200dop", "name_zero_width"),
        ("Shop\ufeff", "name_zero_width"),
        ("Sh\x07op", "name_invisible_character"),
        ("Shop\n2", "name_invisible_character"),
        ("Shop\u00ad2", "name_invisible_character"),  # soft hyphen: a format character
        ("Shop\U000e0041", "name_invisible_character"),  # a tag character: hidden text
        ("Shop\u2028", "name_invisible_character"),  # line separator
        ("   ", "name_empty"),
        ("\u3000", "name_empty"),
        ("x" + "\u0301\u0302\u0303\u0304\u0306", "name_combining_marks"),
    ],
)
def test_a_name_with_what_a_reader_cannot_see_is_refused(raw: str, reason: str) -> None:
    with pytest.raises(names.NameRefused) as refused:
        names.normalise_name(raw)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Shop 2", "Shоp 2"),  # Cyrillic о
        ("Apple", "Аррlе"),  # Cyrillic А, р, р, е
        ("Shop 2", "SHOP 2"),
        ("Shop 1", "Shop l"),
        ("Shop 0", "Shop O"),
        ("modern", "rnodern"),
        ("Shop 2", "Ｓｈｏｐ２".replace("２", " 2")),
        ("Shop 2", "Shop\u200b 2"),  # a stored name from before the rule, with a zero-width space
    ],
)
def test_names_a_reader_could_take_for_one_another_share_a_skeleton(one: str, other: str) -> None:
    assert names.name_skeleton(one) == names.name_skeleton(other)


@pytest.mark.parametrize(
    ("one", "other"), [("Shop 1", "Shop 2"), ("Shop 11", "Shop 1"), ("A", "B")]
)
def test_different_names_keep_different_skeletons(one: str, other: str) -> None:
    assert names.name_skeleton(one) != names.name_skeleton(other)


def test_the_skeleton_follows_unicodes_confusables_table() -> None:
    # confusables.txt: 0030 → 004F, 0031 → 006C, 0049 → 006C, 006D → 0072 006E, 037E → 003B
    assert names.skeleton("0") == "O"
    assert names.skeleton("1") == names.skeleton("I") == "l"
    assert names.skeleton("m") == "rn"
    assert names.skeleton("\u037e") == ";"
    assert names.skeleton("\u0430") == "a"  # Cyrillic а
    # skeletons are idempotent: a prototype maps to itself
    for text_ in ("Shop 2", "rn", "l", "O", "\u0430\u0440\u0435"):
        assert names.skeleton(names.skeleton(text_)) == names.skeleton(text_)


# --- through the API ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error_type"),
    [
        ("\u202eShop 2", "name_bidi_control"),
        ("\u200b\u200b\u200b", "name_zero_width"),
        ("Sh\x07op", "name_invisible_character"),
        ("  \u3000 ", "name_empty"),
    ],
)
def test_a_shop_name_with_invisible_characters_is_refused_and_no_shop_opens(
    world: World, name: str, error_type: str
) -> None:
    before = _shops(world)

    r = _open_shop(world, name)

    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    assert _error_types(r) == [error_type]
    assert _shops(world) == before


def test_a_shop_is_named_in_the_normal_form(world: World) -> None:
    r = _open_shop(world, "  Ｔｅａ\u3000  House ")

    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Tea House"


def test_an_exact_duplicate_shop_name_is_taken(world: World) -> None:
    before = _shops(world)

    for same in (" B ", "Ｂ"):  # the same name once normalised (a full-width B)
        r = _open_shop(world, same)

        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "shop_name_taken"
        assert error["details"]["shop_id"] == world.b.shop_id
    assert _shops(world) == before


def test_a_look_alike_of_an_existing_shop_name_is_refused_naming_that_shop(world: World) -> None:
    assert _open_shop(world, "Shop 2").status_code == 201
    shop_2 = next(s for s in _shops(world) if s["name"] == "Shop 2")
    before = _shops(world)

    for look_alike in ("Shоp 2", "SHOP 2", "Sh0p 2", "Shоp 2"):
        r = _open_shop(world, look_alike)

        assert r.status_code == 409, (look_alike, r.text)
        error = r.json()["error"]
        assert error["code"] == "shop_name_confusable"
        assert error["details"]["shop_id"] == shop_2["id"]
        assert str(shop_2["id"]) in error["message"]
    assert _shops(world) == before


def test_a_rename_to_a_look_alike_is_refused_and_the_name_stays(world: World) -> None:
    h = world.as_("merchant_b")

    r = world.client.patch(f"{API}/shops/{world.b.shop_id}", json={"name": "А"}, headers=h)

    assert r.status_code == 409, r.text  # a Cyrillic А beside shop A
    assert r.json()["error"]["code"] == "shop_name_confusable"
    assert r.json()["error"]["details"]["shop_id"] == world.a.shop_id
    shop = world.client.get(f"{API}/shops/{world.b.shop_id}", headers=h).json()
    assert shop["name"] == "B"


def test_a_rename_to_an_invisible_name_is_refused_and_the_name_stays(world: World) -> None:
    h = world.as_("merchant_b")

    r = world.client.patch(f"{API}/shops/{world.b.shop_id}", json={"name": "B\u202e"}, headers=h)

    assert r.status_code == 422, r.text
    assert _error_types(r) == ["name_bidi_control"]
    assert world.client.get(f"{API}/shops/{world.b.shop_id}", headers=h).json()["name"] == "B"


def test_a_renamed_shop_frees_its_old_name_and_holds_the_new_one(world: World) -> None:
    h = world.as_("merchant_b")
    assert (
        world.client.patch(f"{API}/shops/{world.b.shop_id}", json={"name": "b"}, headers=h)
    ).status_code == 200  # its own name in another case: only other shops count

    r = world.client.patch(f"{API}/shops/{world.b.shop_id}", json={"name": "Bee"}, headers=h)

    assert r.status_code == 200, r.text
    assert _open_shop(world, "B").status_code == 201
    refused = _open_shop(world, "BEE")
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["shop_id"] == world.b.shop_id


def test_other_names_people_read_are_normalised_and_checked_too(world: World) -> None:
    op = world.as_("operator")
    r = world.client.post(f"{API}/creators", json={"name": "\u202eGood deals"}, headers=op)
    assert r.status_code == 422
    assert _error_types(r) == ["name_bidi_control"]

    r = world.client.post(f"{API}/creators", json={"name": " Ｌｉｌｙ "}, headers=op)
    assert r.status_code == 201
    assert r.json()["name"] == "Lily"

    r = world.client.post(
        f"{API}/shops/{world.a.shop_id}/products",
        json={"title": "Silk\u200b scarf"},
        headers=world.as_("merchant_a"),
    )
    assert r.status_code == 422
    assert _error_types(r) == ["name_zero_width"]


def test_the_bulk_path_judges_shop_names_as_the_api_does(engine: Engine, world: World) -> None:
    factory = session_factory(engine)
    with factory() as s:
        merchant_id = s.scalar(select(Shop.merchant_id).where(Shop.id == world.a.shop_id))
    assert merchant_id is not None

    def open_shops(*shop_names: str) -> None:
        with transaction(factory) as s:
            catalog_bulk.create_shops(
                s,
                np.array([merchant_id] * len(shop_names), dtype=np.int64),
                list(shop_names),
                [ShopKind.OTHER] * len(shop_names),
                np.array([world.category_id] * len(shop_names), dtype=np.int64),
                at=T0,
            )

    before = _shops(world)
    for batch, code in (
        (("Shop 5", "Shоp 5"), "shop_name_confusable"),  # two look-alikes in one batch
        (("C", "А"), "shop_name_confusable"),  # one looks like shop A
        (("C", "B"), "shop_name_taken"),
    ):
        with pytest.raises(Conflict) as refused:
            open_shops(*batch)
        assert refused.value.code.value == code
    assert _shops(world) == before

    open_shops(" Shop  5 ", "Shop 6")

    with factory() as s:
        rows = s.execute(select(Shop.name, Shop.name_skeleton).where(Shop.id > world.b.shop_id))
        assert sorted(rows) == [("Shop 5", "shop 5"), ("Shop 6", "shop 6")]


def test_the_migration_gives_existing_shops_their_skeletons_and_indexes_them(
    engine: Engine, world: World
) -> None:
    migrate.downgrade(engine, "0009")
    legacy = {world.a.shop_id: "Shop 2", world.b.shop_id: "Shоp 2"}  # look-alikes from before
    with engine.begin() as conn:
        for shop_id, name in legacy.items():
            conn.execute(
                text("UPDATE shops SET name = :name WHERE id = :id"), {"id": shop_id, "name": name}
            )

    migrate.upgrade(engine)  # both keep their names: a migration renames no merchant's shop

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, name, name_skeleton FROM shops ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [
        (world.a.shop_id, "Shop 2", "shop 2"),
        (world.b.shop_id, "Shоp 2", "shop 2"),
    ]
    (index,) = [
        i for i in inspect(engine).get_indexes("shops") if i["name"] == "ix_shops_name_skeleton"
    ]
    assert index["column_names"] == ["name_skeleton"]
    assert not index["unique"]
    assert _open_shop(world, "SHOP 2").json()["error"]["code"] == "shop_name_confusable"


def test_concurrent_look_alikes_open_one_shop(engine: Engine, world: World) -> None:
    factory = session_factory(engine)
    look_alikes = ["Tea Shop", "Tеa Shop", "TEA SHOP", "Tea Sh0p", "Теа Shop", "tea shop"]
    barrier = threading.Barrier(len(look_alikes))

    def open_one(name: str) -> int | Exception:
        barrier.wait()
        try:
            with transaction(factory) as s:
                return catalog_service.create_shop(
                    s,
                    merchant_id=world.a.merchant_id,
                    name=name,
                    kind=ShopKind.BRAND,
                    category_id=world.category_id,
                ).id
        except Exception as exc:  # which ones were refused, and why, is the point
            return exc

    with ThreadPoolExecutor(max_workers=len(look_alikes)) as pool:
        results = list(pool.map(open_one, look_alikes))

    opened = [r for r in results if isinstance(r, int)]
    assert len(opened) == 1
    assert all(
        isinstance(r, Conflict) and r.code.value in ("shop_name_taken", "shop_name_confusable")
        for r in results
        if not isinstance(r, int)
    )
    with factory() as s:
        skeletons = s.scalars(select(Shop.name_skeleton).where(Shop.id > world.b.shop_id)).all()
    assert skeletons == ["tea shop"]
