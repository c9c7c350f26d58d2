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
