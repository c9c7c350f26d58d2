"""The history import fed real, messy exports and hostile files: every bad input is a row of
the report with a stable code, nothing is written when the import is refused, and what the
store already holds is left as it was."""

from __future__ import annotations

import codecs
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from tests.conftest import CliEnvironment
from trustflow import migrate
from trustflow.accounts.models import Buyer
from trustflow.aftersales.models import Review
from trustflow.catalog import service as catalog
from trustflow.catalog.models import Product, Shop, Sku
from trustflow.cli import app
from trustflow.db import make_engine, session_factory, transaction
from trustflow.importing.example import write_example
from trustflow.importing.flows import ImportResult, run_import, write_rejected
from trustflow.models import metadata
from trustflow.orders.models import Order

AT = datetime(2026, 6, 1, tzinfo=UTC)
#: the files whose rows name an order of the example
ORDER_DEPENDENTS = ("reviews", "after_sales", "chats")


def imported(engine: Engine, folder: Path, **kw: Any) -> ImportResult:
    result, _ = run_import(engine, folder, at=AT, **kw)
    return result


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in metadata.sorted_tables
        }


def empty(engine: Engine) -> bool:
    """Whether the store holds nothing but its own identity: no row was imported."""
    return {t for t, n in counts(engine).items() if n} <= {"store_identity"}


def problems(result: ImportResult) -> list[tuple[str, int, str, str]]:
    return [
        (r["file"], r["row"], r["column"], r["code"]) for r in result.report.iter_rows(named=True)
    ]


def of_file(result: ImportResult, file: str) -> list[tuple[str, int, str, str]]:
    return [p for p in problems(result) if p[0] == file]


def read(folder: Path, file: str) -> pl.DataFrame:
    return pl.read_csv(folder / f"{file}.csv", infer_schema=False)


def put(folder: Path, file: str, column: str, value: str | None, row: int = 1) -> None:
    """Set one cell of ``file.csv`` (``row`` 1 is the first data row); None: an empty cell."""
    frame = read(folder, file)
    which = pl.int_range(1, pl.len() + 1) == row
    frame.with_columns(
        pl.when(which).then(pl.lit(value, pl.String)).otherwise(pl.col(column)).alias(column)
    ).write_csv(folder / f"{file}.csv")


def variants(folder: Path, file: str, column: str, values: list[str]) -> dict[str, int]:
    """Append a copy of the file's first row per value (a new id, ``column`` set to the
    value); each value's row number."""
    frame = read(folder, file)
    key = frame.columns[0]
    copies = pl.concat(
        frame.head(1).with_columns(
            pl.lit(f"{key}-v{i}").alias(key), pl.lit(value, pl.String).alias(column)
        )
        for i, value in enumerate(values)
    )
    pl.concat([frame, copies]).write_csv(folder / f"{file}.csv")
    return {value: frame.height + 1 + i for i, value in enumerate(values)}


def drop_files(folder: Path, *files: str) -> None:
    for file in files:
        (folder / f"{file}.csv").unlink()


def stored(engine: Engine, model: Any, column: str) -> list[Any]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(getattr(model, column)).order_by(model.id)))


_TIMES = ("ship_by", "deliver_from", "deliver_by", "valid_from", "valid_until")
_INTS = ("quantity", "stock", "fans", "stars", "handling_hours", "commission_bps", "count")


def as_parquet(folder: Path) -> Path:
    """The example's files as typed Parquet (integers, zoned timestamps, booleans)."""
    typed = folder.parent / "parquet"
    typed.mkdir()
    for path in folder.glob("*.csv"):
        frame = pl.read_csv(path, infer_schema=False)
        frame = frame.with_columns(
            *(
                pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%S%z", time_zone="UTC")
                for c in frame.columns
                if c.endswith("_at") or c in _TIMES
            ),
            *(pl.col(c).cast(pl.Int64) for c in frame.columns if c.endswith("_fen") or c in _INTS),
            *(pl.col(c) == "true" for c in frame.columns if c == "is_reward"),
        )
        frame.write_parquet(typed / f"{path.stem}.parquet")
    return typed


def rewrite_parquet(folder: Path, file: str, edit: Any) -> None:
    path = folder / f"{file}.parquet"
    out = edit(pl.read_parquet(path))
    if isinstance(out, pa.Table):
        pq.write_table(out, path)
    else:
        out.write_parquet(path)


# -- CSV files as real exports make them ----------------------------------------------------


def test_a_header_only_file_holds_no_rows_and_what_names_them_is_refused(
    store: Engine, example: Path
) -> None:
    path = example / "orders.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")

    result = imported(store, example)

    assert not of_file(result, "orders")  # an empty file is not a fault of its own
    assert {(f, c, code) for f, _, c, code in problems(result)} == {
        (f, "order_id", "unknown_reference") for f in ORDER_DEPENDENTS
    }
    assert not result.wrote and empty(store)


def test_a_header_only_file_alone_imports_nothing_and_refuses_nothing(
    engine: Engine, example: Path
) -> None:
    drop_files(example, *ORDER_DEPENDENTS)
    path = example / "orders.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")

    result = imported(engine, example)

    assert result.report.height == 0 and result.wrote
    assert result.written["orders"] == 0 and result.written["buyers"] == 3


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_an_empty_file_is_unreadable_and_stops_the_import(
    store: Engine, example: Path, skip_invalid: bool
) -> None:
    (example / "chats.csv").write_bytes(b"")  # 0 bytes
    (example / "follows.csv").write_bytes(b"\n")
    (example / "impressions.csv").write_bytes(codecs.BOM_UTF8)

    result = imported(store, example, skip_invalid=skip_invalid)

    assert problems(result) == [
        (file, 0, "", "unreadable_file") for file in ("chats", "follows", "impressions")
    ]
    assert not result.wrote and empty(store)


def test_a_utf8_bom_is_read_as_no_part_of_the_first_column(engine: Engine, example: Path) -> None:
    for path in example.glob("*.csv"):
        path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())

    result = imported(engine, example)

    assert result.report.height == 0 and result.written["buyers"] == 3
    with session_factory(engine)() as s:
        assert set(s.scalars(select(Order.external_id))) == {"o-1", "o-2", "o-3", "o-4", "o-5"}


def test_files_that_are_not_utf8_are_unreadable_and_nothing_is_written(
    store: Engine, example: Path
) -> None:
    for file, encoding, old, name in (
        ("buyers", "gbk", "Wang", "王伟"),
        ("creators", "latin-1", "Auntie Lin", "Tante Müller"),
    ):
        path = example / f"{file}.csv"
        path.write_bytes(path.read_text().replace(old, name).encode(encoding))

    result = imported(store, example)

    found = result.report.filter(pl.col("row") == 0)
    assert found.select("file", "code").rows() == [
        ("buyers", "unreadable_file"),
        ("creators", "unreadable_file"),
    ]
    assert all("utf-8" in reason for reason in found["reason"])
    assert not result.wrote and empty(store)


def test_broken_csv_structure_makes_its_file_unreadable_even_with_skip_invalid(
    store: Engine, example: Path
) -> None:
    buyers = example / "buyers.csv"
    lines = buyers.read_text().splitlines()
    lines[2] += ",extra"  # a row with more fields than the header
    buyers.write_text("\n".join(lines) + "\n")
    creators = example / "creators.csv"
    creators.write_text(creators.read_text().replace("Auntie", '"Auntie'))  # never closed

    result = imported(store, example, skip_invalid=True)

    assert ("buyers", 0, "", "unreadable_file") in problems(result)
    assert ("creators", 0, "", "unreadable_file") in problems(result)
    assert not result.wrote and empty(store)


def test_quoted_newlines_commas_and_quotes_in_a_field_are_kept_as_written(
    engine: Engine, example: Path
) -> None:
    text = 'first line\nsecond, with a comma and "quotes"'
    put(example, "reviews", "text", text)
    put(example, "reviews", "text", "two\r\nlines", row=2)

    result = imported(engine, example)

    assert result.report.height == 0
    assert stored(engine, Review, "text")[:2] == [text, "two\r\nlines"]


def test_windows_line_endings_are_read_as_line_ends(engine: Engine, example: Path) -> None:
    for path in example.glob("*.csv"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))

    result = imported(engine, example)

    assert result.report.height == 0 and result.written["orders"] == 5
    # the last column of a line carries no carriage return into the store
    assert "merchant_cannot_fulfil" in {str(r) for r in stored(engine, Order, "cancel_reason")}


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_columns_named_otherwise_are_unknown_and_the_real_ones_missing(
    store: Engine, example: Path, skip_invalid: bool
) -> None:
    orders = example / "orders.csv"
    orders.write_text(orders.read_text().replace("order_id", "Order_ID", 1))
    buyers = example / "buyers.csv"
    buyers.write_text(buyers.read_text().replace(",", ";"))  # a semicolon-separated export

    result = imported(store, example, skip_invalid=skip_invalid)

    found = set(problems(result))
    assert ("orders", 0, "Order_ID", "unknown_column") in found
    assert ("orders", 0, "order_id", "missing_column") in found
    assert ("buyers", 0, "buyer_id;name;region;created_at", "unknown_column") in found
    assert ("buyers", 0, "buyer_id", "missing_column") in found
    assert not result.wrote and empty(store)


def test_files_that_are_not_what_their_names_say_are_unreadable(
    store: Engine, example: Path
) -> None:
    (example / "buyers.csv").unlink()
    (example / "buyers.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    read(example, "creators").write_parquet(example / "creators.bin")
    (example / "creators.bin").replace(example / "creators.csv")  # Parquet named .csv
    drop_files(example, "merchants")
    (example / "merchants.csv").mkdir()  # a folder named like a file

    result = imported(store, example)

    found = set(problems(result))
    for file in ("buyers", "creators", "merchants"):
        assert (file, 0, "", "unreadable_file") in found
    assert empty(store)


# -- values --------------------------------------------------------------------------------


def test_quantities_that_are_not_plain_integers_in_range_are_refused(
    store: Engine, example: Path
) -> None:
    codes = {
        "1e3": "bad_value",
        "2.0": "bad_value",
        "0x10": "bad_value",
        "1_000": "bad_value",
        "١٢": "bad_value",  # Arabic-Indic digits
        "１２": "bad_value",  # full-width digits
        "-0": "out_of_range",
        "-5": "out_of_range",
        "1000": "out_of_range",
    }
    rows = variants(example, "orders", "quantity", list(codes))

    result = imported(store, example)

    found = set(problems(result))
    for value, code in codes.items():
        assert ("orders", rows[value], "quantity", code) in found, value
    assert not result.wrote and empty(store)


def test_integers_with_spaces_a_plus_or_leading_zeros_are_read(
    engine: Engine, example: Path
) -> None:
    put(example, "orders", "quantity", " 3 ", row=2)
    put(example, "orders", "quantity", "+5", row=3)
    put(example, "orders", "quantity", "007", row=4)

    result = imported(engine, example)

    assert result.report.height == 0
    assert stored(engine, Order, "quantity")[1:4] == [3, 5, 7]


def test_money_is_refused_above_the_maximum_and_kept_at_it(engine: Engine, example: Path) -> None:
    put(example, "skus", "price_fen", "1000000000000", row=2)
    put(example, "orders", "unit_price_fen", "1000000000001", row=2)
    put(example, "orders", "platform_discount_fen", "1000000000001", row=3)

    result = imported(engine, example)

    assert ("orders", 2, "unit_price_fen", "out_of_range") in problems(result)
    assert ("orders", 3, "platform_discount_fen", "out_of_range") in problems(result)
    assert not of_file(result, "skus")
    assert empty(engine)
    drop_files(example, "orders", *ORDER_DEPENDENTS)

    result = imported(engine, example)

    assert result.report.height == 0
    assert stored(engine, Sku, "price_fen") == [6_800, 10**12]


def test_times_that_are_not_zoned_instants_in_the_span_are_refused(
    store: Engine, example: Path
) -> None:
    codes = {
        "2025-02-30T00:00:00+08:00": "bad_value",
        "2025-03-01T24:00:00Z": "bad_value",
        "2025-03-01T00:00:00+25:00": "bad_value",
        "2025-03-01T20:15+08:00": "bad_value",
        "0001-01-01T00:00:00Z": "time_out_of_range",
        "9999-12-31T23:59:59Z": "time_out_of_range",
        "1999-12-31T23:59:59+00:00": "time_out_of_range",
        "2100-01-01T08:00:00+08:00": "time_out_of_range",
        "2025-03-01T20:15:00": "time_without_zone",
        "1740831300": "time_without_zone",
        "2025-03-01": "time_without_zone",
    }
    rows = variants(example, "orders", "created_at", list(codes))

    result = imported(store, example)

    found = set(problems(result))
    for value, code in codes.items():
        assert ("orders", rows[value], "created_at", code) in found, value
    assert not result.wrote and empty(store)


def test_zoned_times_are_stored_as_their_utc_instants(engine: Engine, example: Path) -> None:
    put(example, "orders", "created_at", "2025-03-01 20:15:00+08:00")  # a space for the T
    put(example, "orders", "created_at", "2025-03-02T21:00:00.123456789+08:00", row=2)
    put(example, "orders", "created_at", "2025-03-03T02:00:00-00:00", row=3)
    # 1999-12-31 23:59:59 an hour west of Greenwich is 2000-01-01 00:59:59 UTC: inside
    put(example, "buyers", "created_at", "1999-12-31T23:59:59-01:00")

    result = imported(engine, example)

    assert result.report.height == 0
    assert stored(engine, Order, "created_at")[:3] == [
        datetime(2025, 3, 1, 12, 15, tzinfo=UTC),
        datetime(2025, 3, 2, 13, 0, 0, 123456, tzinfo=UTC),  # to the microsecond
        datetime(2025, 3, 3, 2, 0, tzinfo=UTC),
    ]
    assert stored(engine, Buyer, "created_at")[0] == datetime(2000, 1, 1, 0, 59, 59, tzinfo=UTC)


def test_shop_names_a_reader_cannot_see_are_refused_as_the_store_refuses_them(
    store: Engine, example: Path
) -> None:
    reasons = {
        "Hill\u202eFarm": "bidirectional control",
        "Hill\u200bFarm Tea": "zero-width",
        "Hill\x07Farm": "control characters",
        "   ": "empty",
    }
    rows = variants(example, "shops", "name", list(reasons))

    result = imported(store, example)

    refused = result.report.filter((pl.col("file") == "shops") & (pl.col("column") == "name"))
    for name, reason in reasons.items():
        mine = refused.filter(pl.col("row") == rows[name])
        assert mine["code"].to_list() == ["bad_value"], name
        assert reason in mine["reason"][0]
    assert empty(store)


def test_a_full_width_shop_name_is_stored_in_its_normal_form(engine: Engine, example: Path) -> None:
    put(example, "shops", "name", "Ｈｉｌｌ　Ｆａｒｍ Ｔｅａ")

    result = imported(engine, example)

    assert result.report.height == 0
    assert stored(engine, Shop, "name")[0] == "Hill Farm Tea"


def test_html_in_a_name_is_text_stored_as_written(engine: Engine, example: Path) -> None:
    html = "<a href='https://evil.example/'>Hill</a>"
    put(example, "shops", "name", html)
    put(example, "products", "title", "<script>alert(1)</script> tea")

    result = imported(engine, example)

    assert result.report.height == 0
    assert stored(engine, Shop, "name")[0] == html
    assert stored(engine, Product, "title")[0] == "<script>alert(1)</script> tea"


def test_texts_longer_than_their_columns_are_too_long(store: Engine, example: Path) -> None:
    cases = [
        ("products", "title", 10_000, 200),
        ("shops", "name", 121, 120),
        ("reviews", "text", 2_001, 2_000),
        ("buyers", "buyer_id", 65, 64),
        ("orders", "order_id", 65, 64),
        ("products", "product_key", 65, 64),
        ("categories", "code", 41, 40),
    ]
    for file, column, length, _ in cases:
        put(example, file, column, "x" * length)
    put(example, "products", "title", "x" * 201, row=2)

    result = imported(store, example)

    report = result.report
    for file, column, _, limit in cases:
        mine = report.filter((pl.col("file") == file) & (pl.col("column") == column))
        assert mine.filter(pl.col("row") == 1)["code"].to_list() == ["too_long"], column
        assert f"at most {limit} characters" in mine["reason"][0]
    assert ("products", 2, "title", "too_long") in problems(result)
    assert empty(store)


def test_texts_at_their_limits_are_kept_whole(engine: Engine, example: Path) -> None:
    put(example, "products", "title", "x" * 200)
    put(example, "categories", "code", "c" * 40)
    buyers = read(example, "buyers")
    pl.concat([buyers, buyers.head(1).with_columns(pl.lit("b" * 64).alias("buyer_id"))]).write_csv(
        example / "buyers.csv"
    )

    result = imported(engine, example)

    assert result.report.height == 0
    assert stored(engine, Product, "title")[0] == "x" * 200
    assert stored(engine, Buyer, "external_id")[-1] == "b" * 64


# -- Parquet columns of the wrong type -----------------------------------------------------


def _first(value: Any, column: str) -> pl.Expr:
    """``column`` with its first row set to ``value``."""
    return pl.when(pl.int_range(pl.len()) == 0).then(value).otherwise(pl.col(column)).alias(column)


def test_parquet_values_that_are_not_whole_numbers_are_bad_values(
    store: Engine, example: Path
) -> None:
    typed = as_parquet(example)
    rewrite_parquet(
        typed,
        "orders",
        lambda f: f.with_columns(
            pl.col("unit_price_fen").cast(pl.Float64),
            pl.col("merchant_discount_fen").cast(pl.Float64),
            pl.col("platform_discount_fen").cast(pl.Float64),
        ).with_columns(
            _first(pl.lit(6800.5), "unit_price_fen"),
            _first(pl.lit(float("nan")), "merchant_discount_fen"),
            _first(pl.lit(float("inf")), "platform_discount_fen"),
        ),
    )

    result = imported(store, typed)

    assert of_file(result, "orders") == [
        ("orders", 1, column, "bad_value")
        for column in ("merchant_discount_fen", "platform_discount_fen", "unit_price_fen")
    ]
    assert empty(store)


def test_parquet_values_beyond_their_range_are_out_of_range(store: Engine, example: Path) -> None:
    typed = as_parquet(example)
    rewrite_parquet(
        typed, "creators", lambda f: f.with_columns(pl.lit(2**63 - 1, pl.Int64).alias("fans"))
    )
    rewrite_parquet(
        typed,
        "orders",
        lambda f: f.with_columns(pl.lit(2**63 - 1, pl.Int64).alias("platform_discount_fen")),
    )

    result = imported(store, typed)

    assert ("creators", 1, "fans", "out_of_range") in problems(result)
    for row in range(1, 6):
        assert ("orders", row, "platform_discount_fen", "out_of_range") in problems(result)
    assert empty(store)


def test_parquet_times_without_a_zone_are_refused(store: Engine, example: Path) -> None:
    typed = as_parquet(example)
    rewrite_parquet(
        typed,
        "orders",
        lambda f: f.with_columns(
            pl.col("paid_at").dt.replace_time_zone(None),  # a zone-less timestamp
            pl.col("shipped_at").dt.date(),  # a date, not an instant
            pl.col("delivered_at").dt.epoch("s"),  # epoch seconds
        ),
    )

    result = imported(store, typed)

    found = set(problems(result))
    for column in ("paid_at", "shipped_at", "delivered_at"):
        assert ("orders", 1, column, "time_without_zone") in found, column
    reason = result.report.filter(pl.col("column") == "paid_at")["reason"][0]
    assert "time zone" in reason
    assert empty(store)


def test_a_parquet_category_outside_the_allowed_values_is_not_allowed(
    store: Engine, example: Path
) -> None:
    typed = as_parquet(example)
    rewrite_parquet(
        typed, "orders", lambda f: f.with_columns(pl.col("channel").cast(pl.Categorical))
    )
    rewrite_parquet(
        typed,
        "shops",
        lambda f: f.with_columns(pl.lit("megastore").cast(pl.Categorical).alias("kind")),
    )

    result = imported(store, typed)

    assert of_file(result, "shops") == [
        ("shops", 1, "kind", "value_not_allowed"),
        ("shops", 2, "kind", "value_not_allowed"),
    ]
    assert not of_file(result, "orders") or all(
        code == "unknown_reference" for *_, code in of_file(result, "orders")
    )


def _dictionary(*columns: str) -> Any:
    def edit(frame: pl.DataFrame) -> pa.Table:
        table = frame.to_arrow()
        for column in columns:
            at = table.column_names.index(column)
            table = table.set_column(at, column, pc.dictionary_encode(table.column(column)))
        return table

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        lambda f: f.with_columns(
            pl.col("unit_price_fen").cast(pl.String),
            pl.col("merchant_discount_fen").cast(pl.Float64),
            pl.col("platform_discount_fen").cast(pl.UInt64),
            pl.col("quantity").cast(pl.Int8),
            pl.col("channel").cast(pl.Categorical),
            pl.col("created_at").dt.cast_time_unit("ms").dt.convert_time_zone("Asia/Shanghai"),
            pl.col("paid_at").dt.cast_time_unit("ns"),
        ),
        _dictionary("order_id", "unit_price_fen", "channel", "created_at"),
    ],
    ids=["equivalent-types", "dictionary-encoded"],
)
def test_parquet_columns_of_equivalent_types_are_read(
    engine: Engine, example: Path, edit: Any
) -> None:
    typed = as_parquet(example)
    rewrite_parquet(typed, "orders", edit)

    result = imported(engine, typed)

    assert result.report.height == 0, result.report
    assert result.written["orders"] == 5
    with session_factory(engine)() as s:
        first = s.scalars(select(Order).where(Order.external_id == "o-1")).one()
        assert (first.unit_price_fen, first.quantity, first.paid_amount_fen) == (6_800, 2, 13_100)
        assert first.created_at == datetime(2025, 3, 1, 12, 15, tzinfo=UTC)
        assert first.paid_at == datetime(2025, 3, 1, 12, 16, tzinfo=UTC)


def test_a_parquet_file_with_a_column_twice_is_unreadable(store: Engine, example: Path) -> None:
    (example / "buyers.csv").unlink()
    table = pa.table(
        [pa.array(["b-1"]), pa.array(["Wang"]), pa.array(["Wang"])],
        names=["buyer_id", "name", "name"],
    )
    pq.write_table(table, example / "buyers.parquet")

    result = imported(store, example)

    assert ("buyers", 0, "", "unreadable_file") in problems(result)
    assert empty(store)


# -- across files and runs -----------------------------------------------------------------


def test_the_same_file_twice_or_an_unknown_file_stops_the_import(
    store: Engine, example: Path
) -> None:
    read(example, "orders").write_parquet(example / "orders.parquet")
    (example / "notes.csv").write_text("a\n1\n")
    read(example, "buyers").write_parquet(example / "buyer.parquet")

    result = imported(store, example, skip_invalid=True)

    found = set(problems(result))
    assert ("orders", 0, "", "two_files") in found
    assert ("notes.csv", 0, "", "unknown_column") in found
    assert ("buyer.parquet", 0, "", "unknown_column") in found
    assert not result.wrote and empty(store)


def test_content_clipped_from_a_refused_live_session_is_refused_with_what_names_it(
    engine: Engine, example: Path
) -> None:
    # l-2, the creator's room, is refused; v-1 was clipped from it, o-1 sold from it
    put(example, "live_sessions", "status", "on_air", row=2)

    result = imported(engine, example, skip_invalid=True)

    found = set(problems(result))
    assert ("live_sessions", 2, "status", "value_not_allowed") in found
    assert ("short_videos", 1, "clipped_from_live_id", "unknown_reference") in found
    assert ("short_video_products", 1, "short_video_id", "unknown_reference") in found
    assert ("impressions", 3, "item_id", "unknown_reference") in found  # v-1 was shown
    assert ("orders", 1, "content_id", "unknown_reference") in found
    assert ("reviews", 1, "order_id", "unknown_reference") in found  # o-1's review
    assert result.written["live_sessions"] == 1 and result.written["short_videos"] == 0
    assert result.written["orders"] == 4 and result.written["reviews"] == 2
    with session_factory(engine)() as s:
        assert "o-1" not in set(s.scalars(select(Order.external_id)))


def test_self_references_and_content_of_the_wrong_kind_name_nothing(
    store: Engine, example: Path
) -> None:
    put(example, "short_videos", "clipped_from_live_id", "v-1")  # clipped from itself
    put(example, "orders", "content_kind", "short_video", row=2)  # o-2 names l-1, a live room

    result = imported(store, example)

    found = set(problems(result))
    assert ("short_videos", 1, "clipped_from_live_id", "unknown_reference") in found
    assert ("orders", 2, "content_id", "unknown_reference") in found
    assert empty(store)


def test_a_review_of_an_order_imported_in_an_earlier_run_lands_with_its_orders_facts(
    engine: Engine, example: Path, tmp_path: Path
) -> None:
    imported(engine, example)
    later = tmp_path / "later"
    later.mkdir()
    pl.DataFrame(
        {
            "review_id": ["r-9"],
            "order_id": ["o-3"],
            "stars": ["1"],
            "text": ["never came"],
            "created_at": ["2025-03-04T09:00:00+08:00"],
        }
    ).write_csv(later / "reviews.csv")

    result = imported(engine, later)

    assert result.report.height == 0 and result.written["reviews"] == 1
    with session_factory(engine)() as s:
        review = s.scalars(select(Review).where(Review.external_id == "r-9")).one()
        order = s.scalars(select(Order).where(Order.external_id == "o-3")).one()
        assert (review.order_id, review.shop_id, review.flag) == (
            order.id,
            order.shop_id,
            "before_delivery",  # o-3 was cancelled, never delivered
        )


def test_a_second_run_after_a_shop_was_renamed_adds_nothing_and_keeps_the_new_name(
    engine: Engine, example: Path
) -> None:
    imported(engine, example)
    with transaction(session_factory(engine)) as s:
        shop = s.scalars(select(Shop).where(Shop.external_id == "s-1")).one()
        catalog.rename_shop(s, shop_id=shop.id, name="Hill Farm Tea Official")
    before = counts(engine)

    again = imported(engine, example)

    assert again.report.height == 0 and set(again.written.values()) == {0}
    assert counts(engine) == before
    assert stored(engine, Shop, "name")[0] == "Hill Farm Tea Official"


def test_a_refused_second_run_leaves_the_store_as_it_was(engine: Engine, example: Path) -> None:
    imported(engine, example)
    before = counts(engine)
    with session_factory(engine)() as s:
        prices = [(k.external_id, k.price_fen, k.stock) for k in s.scalars(select(Sku))]
    put(example, "reviews", "stars", "1", row=1)  # a conflict with the stored review
    put(example, "orders", "quantity", "lots", row=2)
    frame = read(example, "buyers")
    pl.concat([frame, frame.head(1).with_columns(pl.lit("b-9").alias("buyer_id"))]).write_csv(
        example / "buyers.csv"
    )

    result = imported(engine, example)

    assert ("reviews", 1, "stars", "conflict") in problems(result)
    assert ("orders", 2, "quantity", "bad_value") in problems(result)
    assert not result.wrote and counts(engine) == before  # not even the new buyer
    with session_factory(engine)() as s:
        assert [(k.external_id, k.price_fen, k.stock) for k in s.scalars(select(Sku))] == prices


# -- scale and abuse -----------------------------------------------------------------------

BIG = 50_000


def _all_bad_orders(folder: Path) -> None:
    first = read(folder, "orders").head(1)
    pl.concat([first] * BIG).with_columns(
        (pl.lit("x-") + pl.int_range(BIG).cast(pl.String)).alias("order_id"),
        pl.lit("many").alias("quantity"),
        pl.lit("2025-03-01T20:15:00").alias("created_at"),
    ).write_csv(folder / "orders.csv")
    drop_files(folder, *ORDER_DEPENDENTS)


def test_every_row_of_a_large_all_bad_file_is_reported_quickly_and_nothing_written(
    store: Engine, example: Path
) -> None:
    _all_bad_orders(example)

    started = time.perf_counter()
    result = imported(store, example)
    took = time.perf_counter() - started

    orders = result.report.filter(pl.col("file") == "orders")
    for column, code in (("quantity", "bad_value"), ("created_at", "time_without_zone")):
        mine = orders.filter((pl.col("column") == column) & (pl.col("code") == code))
        assert mine["row"].sort().to_list() == list(range(1, BIG + 1))
    assert result.refused["orders"] == BIG
    assert not result.wrote and empty(store)
    assert took < 30, f"{BIG:,} bad rows took {took:.1f} s to judge"


def test_skip_invalid_with_a_large_all_bad_file_writes_the_rest_and_copies_every_row(
    engine: Engine, example: Path, tmp_path: Path
) -> None:
    _all_bad_orders(example)

    result, checked = run_import(engine, example, at=AT, skip_invalid=True)
    write_rejected(checked, result.report, tmp_path / "rejected")

    assert result.wrote and result.written["orders"] == 0 and result.written["buyers"] == 3
    assert counts(engine)["orders"] == 0
    copy = pl.read_csv(tmp_path / "rejected" / "orders.csv", infer_schema=False)
    assert copy.height == BIG and copy["row"].cast(pl.Int64).to_list() == list(range(1, BIG + 1))
    assert set(copy["quantity"]) == {"many"}


def test_skip_invalid_with_every_row_of_every_file_bad_writes_nothing(
    engine: Engine, example: Path, tmp_path: Path
) -> None:
    rows = 0
    for path in example.glob("*.csv"):
        frame = pl.read_csv(path, infer_schema=False)
        rows += frame.height
        frame.with_columns(pl.lit("x" * 65).alias(frame.columns[0])).write_csv(path)

    result, checked = run_import(engine, example, at=AT, skip_invalid=True)
    copies = write_rejected(checked, result.report, tmp_path / "rejected")

    assert set(result.written.values()) == {0}
    assert empty(engine)
    assert sum(result.refused.values()) == rows
    assert sum(pl.read_csv(p).height for p in copies) == rows


# -- the command line ----------------------------------------------------------------------


@pytest.fixture
def cli_store(tmp_path: Path, cli_env: CliEnvironment, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    cli_env(url)
    engine = make_engine(url)
    migrate.upgrade(engine)
    write_example(tmp_path / "history", version=1)
    return engine


def test_the_cli_refuses_a_broken_directory_with_its_codes_and_exit_2(
    cli_store: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "history"
    (folder / "chats.csv").write_bytes(b"")
    (folder / "follows.csv").write_bytes(read(folder, "follows").write_csv().encode("utf-16"))
    (folder / "impressions.csv").write_text("Impression_ID\ni-1\n")
    read(folder, "reviews").write_parquet(folder / "reviews.parquet")
    (folder / "order.csv").write_text("a\n")

    result = CliRunner().invoke(app, ["import", "history", "--skip-invalid"])

    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # not a traceback
    assert "unreadable_file: chats row 0" in result.output
    assert "nothing written" in result.output
    report = pl.read_csv(tmp_path / "import-report.csv")
    assert set(report.select("file", "code").iter_rows()) >= {
        ("chats", "unreadable_file"),
        ("impressions", "unknown_column"),
        ("impressions", "missing_column"),
        ("reviews", "two_files"),
        ("order.csv", "unknown_column"),
    }
    utf16 = set(report.filter(pl.col("file") == "follows")["code"])  # not UTF-8 either
    assert utf16 and utf16 <= {"unreadable_file", "unknown_column", "missing_column"}
    assert empty(cli_store)


def test_the_cli_refuses_a_folder_that_is_not_there_in_one_line(cli_store: Engine) -> None:
    result = CliRunner().invoke(app, ["import", "nowhere"])

    assert result.exit_code == 2
    assert result.output.strip() == "not_found: nowhere is not a directory"
