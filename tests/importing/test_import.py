"""The history import as a platform team meets it: a valid history lands with what the store
derives from it, a second run adds nothing, and every bad row is named before anything is
written."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from tests.conftest import CliEnvironment
from trustflow import migrate
from trustflow.aftersales.models import AfterSalesRequest, Review
from trustflow.aftersales.rules import AFTER_SALES_WINDOW
from trustflow.catalog.models import Product
from trustflow.cli import app
from trustflow.db import make_engine, session_factory
from trustflow.importing.example import write_example
from trustflow.importing.flows import ImportResult, run_import
from trustflow.importing.format import FILES
from trustflow.models import metadata
from trustflow.orders.models import CommissionEntry, Order, OrderEvent

AT = datetime(2026, 6, 1, tzinfo=UTC)


def _import(engine: Engine, folder: Path, **kw: Any) -> ImportResult:
    result, _ = run_import(engine, folder, at=AT, **kw)
    return result


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in metadata.sorted_tables
        }


def _edit(folder: Path, file: str, edit: Any) -> None:
    path = folder / f"{file}.csv"
    frame = pl.read_csv(path, infer_schema=False)
    edit(frame).write_csv(path)


def _problems(result: ImportResult) -> list[tuple[str, int, str, str]]:
    return [
        (r["file"], r["row"], r["column"], r["code"]) for r in result.report.iter_rows(named=True)
    ]


def test_a_history_lands_with_what_the_store_derives_from_it(engine: Engine, example: Path) -> None:
    result = _import(engine, example)

    assert result.wrote and result.report.height == 0
    assert result.written["orders"] == 5 and result.written["reviews"] == 3
    with session_factory(engine)() as s:
        orders = {o.external_id: o for o in s.scalars(select(Order))}
        # prices as paid; commission on the merchant's price, by the rule
        assert (orders["o-1"].paid_amount_fen, orders["o-1"].commission_fen) == (13_100, 1_965)
        assert orders["o-1"].status.value == "received"
        # the promise as the source gave it; without one, placement plus the shop's 24 hours
        assert orders["o-1"].deliver_by == datetime(2025, 3, 5, 12, 15, tzinfo=UTC)
        assert orders["o-2"].ship_by == orders["o-2"].created_at + timedelta(hours=24)
        assert (orders["o-3"].status.value, orders["o-3"].cancel_party) == (
            "cancelled",
            "merchant",
        )
        trail = s.scalars(
            select(OrderEvent.action).where(OrderEvent.order_id == orders["o-1"].id)
        ).all()
        assert trail == ["place", "pay", "ship", "pick_up", "deliver", "confirm_receipt"]
        entries = s.execute(
            select(CommissionEntry.kind, CommissionEntry.amount_fen, CommissionEntry.at)
        ).all()
        # accrued when paid; the source settled it when the window closed, so it is settled
        # then, not again by the next nightly job
        assert [(k.value, fen) for k, fen, _ in entries] == [
            ("accrued", 1_965),
            ("settled", 1_965),
        ]
        assert entries[1][2] == orders["o-1"].delivered_at + AFTER_SALES_WINDOW
        flags = {r.external_id: r.flag for r in s.scalars(select(Review))}
        assert flags == {"r-1": None, "r-2": None, "r-3": "before_delivery"}
        request = s.scalars(select(AfterSalesRequest)).one()
        assert request.responsible_party.value == "carrier"  # presumed from the reason
        tea = s.scalars(select(Product).order_by(Product.id)).all()
        assert [p.product_key for p in tea] == ["green-tea-250", "green-tea-250"]
        assert tea[1].category_id == tea[0].category_id  # taken from its shop


def test_a_second_run_adds_nothing(engine: Engine, example: Path) -> None:
    _import(engine, example)
    before = _counts(engine)

    again = _import(engine, example)

    assert _counts(engine) == before
    assert set(again.written.values()) == {0}
    assert again.present["orders"] == 5 and again.report.height == 0


def test_a_changed_row_is_a_conflict_with_its_difference_and_nothing_is_written(
    engine: Engine, example: Path
) -> None:
    _import(engine, example)
    _edit(
        example,
        "orders",
        lambda f: f.with_columns(
            pl.when(pl.col("order_id") == "o-1")
            .then(pl.lit("3"))
            .otherwise(pl.col("quantity"))
            .alias("quantity")
        ),
    )
    _edit(
        example,
        "buyers",
        lambda f: pl.concat([f, f.head(1).with_columns(pl.lit("b-9").alias("buyer_id"))]),
    )
    before = _counts(engine)

    result = _import(engine, example)

    assert _problems(result) == [("orders", 1, "quantity", "conflict")]
    assert "o-1 was imported with quantity 2; the file says 3" in result.report["reason"][0]
    assert _counts(engine) == before  # not even the new buyer


def test_every_bad_row_is_named_and_nothing_is_written(engine: Engine, example: Path) -> None:
    def break_orders(f: pl.DataFrame) -> pl.DataFrame:
        row = f.with_row_index("i")
        f = f.with_columns(
            quantity=pl.when(row["i"] == 0).then(pl.lit("0")).otherwise(pl.col("quantity")),
            created_at=pl.when(row["i"] == 1)
            .then(pl.lit("2025-03-02T21:00:00"))
            .otherwise(pl.col("created_at")),
            paid_at=pl.when(row["i"] == 2)
            .then(pl.lit("9999-12-31T23:00:00-12:00"))
            .otherwise(pl.col("paid_at")),
            buyer_id=pl.when(row["i"] == 3).then(pl.lit("b-404")).otherwise(pl.col("buyer_id")),
            shipped_at=pl.when(row["i"] == 4)
            .then(pl.lit("2025-03-06T08:00:00+08:00"))
            .otherwise(pl.col("shipped_at")),
        )
        return pl.concat([f, f.head(1)])  # o-1 twice

    _edit(example, "orders", break_orders)
    _edit(example, "skus", lambda f: f.with_columns(pl.lit("a lot").alias("stock")))
    before = _counts(engine)

    result = _import(engine, example)

    problems = _problems(result)
    assert ("orders", 1, "quantity", "out_of_range") in problems
    assert ("orders", 2, "created_at", "time_without_zone") in problems
    assert ("orders", 3, "paid_at", "time_out_of_range") in problems
    assert ("orders", 4, "buyer_id", "unknown_reference") in problems
    assert ("orders", 5, "", "history_out_of_order") in problems  # shipped before it was paid
    assert ("orders", 6, "order_id", "duplicate_id") in problems
    assert ("skus", 1, "stock", "bad_value") in problems
    assert not result.wrote
    assert _counts(engine) == before


def test_skip_invalid_writes_the_good_rows_and_refuses_what_depends_on_the_bad(
    engine: Engine, example: Path, tmp_path: Path
) -> None:
    _edit(
        example,
        "orders",
        lambda f: f.with_columns(
            pl.when(pl.col("order_id") == "o-2")
            .then(pl.lit("-5"))
            .otherwise(pl.col("quantity"))
            .alias("quantity")
        ),
    )

    result, checked = run_import(engine, example, at=AT, skip_invalid=True)

    assert result.wrote
    assert result.written["orders"] == 4
    # o-2's review, after-sales request and chat name an order that was not imported
    assert {(f, c, code) for f, _, c, code in _problems(result) if f != "orders"} == {
        ("reviews", "order_id", "unknown_reference"),
        ("after_sales", "order_id", "unknown_reference"),
        ("chats", "order_id", "unknown_reference"),
    }
    from trustflow.importing.flows import write_rejected

    copies = write_rejected(checked, result.report, tmp_path / "rejected")
    rejected = pl.read_csv(tmp_path / "rejected" / "orders.csv", infer_schema=False)
    assert rejected.select("order_id", "quantity").row(0) == ("o-2", "-5")
    assert rejected["code"][0] == "amounts_inconsistent; out_of_range"
    assert len(copies) == 4


def test_a_shop_that_looks_like_one_in_the_store_is_refused(engine: Engine, example: Path) -> None:
    _import(engine, example)
    _edit(
        example,
        "shops",
        lambda f: pl.concat(
            [
                f,
                f.head(1).with_columns(
                    pl.lit("s-3").alias("shop_id"), pl.lit("HiII Farm Tea").alias("name")
                ),
            ]
        ),
    )

    result = _import(engine, example)

    assert _problems(result) == [("shops", 3, "name", "shop_name_confusable")]


def test_refunds_beyond_the_payment_are_refused(engine: Engine, example: Path) -> None:
    _edit(
        example,
        "after_sales",
        lambda f: pl.concat(
            [
                f,
                f.with_columns(
                    pl.lit("a-2").alias("request_id"),
                    pl.lit("2025-03-07T09:00:00+08:00").alias("created_at"),
                    pl.lit("5000").alias("refund_fen"),
                    pl.lit(None).alias("handled_at"),
                    pl.lit("2025-03-07T10:00:00+08:00").alias("resolved_at"),
                ),
            ]
        ),
    )

    result = _import(engine, example)

    assert _problems(result) == [("after_sales", 2, "refund_fen", "refund_exceeds_payment")]


def test_parquet_files_land_as_their_csv_twins_do(
    engine: Engine, example: Path, tmp_path: Path
) -> None:
    typed = tmp_path / "parquet"
    typed.mkdir()
    for path in example.glob("*.csv"):
        frame = pl.read_csv(path, infer_schema=False)
        times = [
            c
            for c in frame.columns
            if c.endswith("_at") or c in ("ship_by", "deliver_from", "deliver_by")
        ]
        ints = [
            c
            for c in frame.columns
            if c.endswith("_fen")
            or c in ("quantity", "stock", "fans", "stars", "handling_hours", "commission_bps")
        ]
        frame = frame.with_columns(
            *(pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%S%z", time_zone="UTC") for c in times),
            *(pl.col(c).cast(pl.Int64) for c in ints),
        )
        frame.write_parquet(typed / f"{path.stem}.parquet")

    result = _import(engine, typed)

    assert result.report.height == 0, result.report
    assert result.written["orders"] == 5


def test_the_cli_imports_the_example_and_refuses_a_broken_history_in_one_line_per_problem(
    tmp_path: Path, cli_env: CliEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "store.db"
    cli_env(f"sqlite:///{store}")
    migrate.upgrade(make_engine(f"sqlite:///{store}"))
    runner = CliRunner()

    made = runner.invoke(app, ["import", "--example", "history"])
    first = runner.invoke(app, ["import", "history"])
    shutil.copytree(tmp_path / "history", tmp_path / "broken")
    _edit(tmp_path / "broken", "reviews", lambda f: f.with_columns(pl.lit("6").alias("stars")))
    broken = runner.invoke(app, ["import", "broken"])

    assert made.exit_code == 0 and first.exit_code == 0, first.output
    assert broken.exit_code == 2
    assert "value_not_allowed" not in broken.output
    assert "out_of_range: reviews row 1 stars: must be from 1 to 5" in broken.output
    assert "nothing written" in broken.output and "Traceback" not in broken.output
    report = pl.read_csv(tmp_path / "import-report.csv")
    reviews = pl.read_csv(tmp_path / "broken" / "reviews.csv").height
    assert report.height == reviews and set(report["code"]) == {"out_of_range"}


def test_export_history_refuses_a_folder_that_is_not_empty(
    tmp_path: Path, cli_env: CliEnvironment
) -> None:
    store = tmp_path / "store.db"
    cli_env(f"sqlite:///{store}")
    migrate.upgrade(make_engine(f"sqlite:///{store}"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")

    refused = CliRunner().invoke(app, ["export-history", str(tmp_path / "full")])
    written = CliRunner().invoke(app, ["export-history", str(tmp_path / "new")])

    assert refused.exit_code == 2 and "output_exists" in refused.output
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert written.exit_code == 0
    assert {p.stem for p in (tmp_path / "new").glob("*.parquet")} == {f.name for f in FILES}
    assert json.loads((tmp_path / "new" / "format.json").read_text()) == {"version": 2}


def test_refunds_imported_in_two_runs_take_back_the_whole_commission(
    engine: Engine, example: Path, tmp_path: Path
) -> None:
    # o-1 (a creator's sale, paid 131.00, commission 19.65) refunded in two halves, one a run
    def refund(request_id: str, fen: str) -> Any:
        return lambda f: f.with_columns(
            pl.lit(request_id).alias("request_id"),
            pl.lit("o-1").alias("order_id"),
            pl.lit("refund_only").alias("kind"),
            pl.lit("quality").alias("reason"),
            pl.lit(fen).alias("refund_fen"),
        )

    _edit(example, "after_sales", refund("a-1", "6550"))
    _import(engine, example)
    later = tmp_path / "later"
    later.mkdir()
    shutil.copy(example / "after_sales.csv", later / "after_sales.csv")
    _edit(later, "after_sales", refund("a-9", "6550"))

    second = _import(engine, later)

    assert second.report.height == 0, second.report
    with session_factory(engine)() as s:
        reversed_ = s.scalars(
            select(CommissionEntry.amount_fen).where(CommissionEntry.kind == "reversed")
        ).all()
    assert sorted(reversed_) == [982, 983]  # the whole 19.65, never a fen more


def test_a_commission_on_a_sale_no_creator_made_is_refused(engine: Engine, example: Path) -> None:
    _edit(example, "orders", lambda f: f.with_columns(pl.lit("800").alias("commission_bps")))

    result = _import(engine, example)

    refused = {(row, code) for file, row, _, code in _problems(result) if file == "orders"}
    assert refused == {(r, "creator_iff_distribution") for r in (2, 3, 4, 5)}


def test_the_warehouse_sees_history_imported_after_its_last_export(
    engine: Engine, example: Path, tmp_path: Path
) -> None:
    from trustflow.warehouse.export import export

    warehouse = tmp_path / "warehouse"
    _edit(example, "orders", lambda f: f.head(2))
    for file in ("reviews", "after_sales", "chats"):
        (example / f"{file}.csv").unlink()
    _import(engine, example)
    first = export(engine, warehouse).tables["orders"]["rows"]
    more = tmp_path / "more"
    write_example(more, version=1)
    for file in ("reviews", "after_sales", "chats"):
        (more / f"{file}.csv").unlink()

    _import(engine, more)  # three more orders, all placed in 2025: behind every watermark
    again = export(engine, warehouse)

    assert first == 2
    orders = pl.read_parquet(warehouse / "orders" / "**" / "*.parquet")
    assert orders.height == 5
    assert again.tables["orders"]["rows"] == 5
