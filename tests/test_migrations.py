from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from trustflow import migrate
from trustflow.models import metadata


def test_migrations_round_trip_upgrade_downgrade_upgrade(engine: Engine) -> None:
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

    migrate.upgrade(engine)

    assert set(metadata.tables) <= set(inspect(engine).get_table_names())


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_the_impressions_log_is_found_by_time_with_an_index_cheap_to_append_to(
    engine: Engine,
) -> None:
    (index,) = [
        i
        for i in inspect(engine).get_indexes("impressions")
        if i["name"] == "ix_impressions_shown_at"
    ]
    assert index["column_names"] == ["shown_at"]
    if engine.dialect.name == "postgresql":  # a block-range index: no entry per row appended
        with engine.connect() as conn:
            method = conn.scalar(
                text(
                    "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam"
                    " WHERE c.relname = 'ix_impressions_shown_at'"
                )
            )
        assert method == "brin"


def test_a_store_with_orders_of_several_lines_refuses_to_go_below_them(engine: Engine) -> None:
    """Before revision 0017 an order was one SKU: a downgrade would drop goods paid for, so
    it is refused and the store is left as it was."""
    import pytest
    from sqlalchemy import func, select

    from tests import factories
    from trustflow.catalog import service as catalog_service
    from trustflow.catalog.models import ListingStatus
    from trustflow.db import session_factory, transaction
    from trustflow.orders import service as orders_service
    from trustflow.orders.models import OrderLine
    from trustflow.vocabulary import Channel

    with transaction(session_factory(engine)) as s:
        seller = factories.seller(s, category_id=factories.category(s))
        cap = catalog_service.create_product(s, shop_id=seller.shop_id, title="cap")
        cap_sku = catalog_service.add_sku(s, product_id=cap.id, price_fen=500, stock=5)
        catalog_service.set_listing_status(s, product_id=cap.id, status=ListingStatus.LISTED)
        orders_service.place_order(
            s,
            orders_service.OrderRequest(
                buyer_id=factories.buyer(s),
                sku_id=seller.sku_id,
                quantity=1,
                channel=Channel.SHELF_SEARCH,
                idempotency_key="two",
                more_lines=(orders_service.LineRequest(cap_sku.id, 1),),
            ),
        )

    with pytest.raises(RuntimeError, match="several lines"):
        migrate.downgrade(engine, "0016")

    assert migrate.is_current(engine)
    with session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(OrderLine)) == 2
