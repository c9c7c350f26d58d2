"""Version 2 of the import format: checkouts and orders of several lines come back from an
export whole, and every way a line can be wrong is named before anything is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select

from tests import factories
from trustflow.aftersales import service as aftersales_service
from trustflow.aftersales.models import (
    ActorRole,
    AfterSalesKind,
    AfterSalesReason,
    AfterSalesRequest,
    Review,
)
from trustflow.aftersales.rules import Actor
from trustflow.aftersales.settlement import settle_commissions
from trustflow.catalog import service as catalog_service
from trustflow.db import session_factory, utcnow
from trustflow.importing.export import export_history
from trustflow.importing.flows import ImportResult, run_import
from trustflow.orders import service as orders_service
from trustflow.orders.attribution import Attribution
from trustflow.orders.checkout import CheckoutItem, pay_checkout, place_checkout
from trustflow.orders.models import Checkout, CommissionEntry, Order, OrderLine
from trustflow.vocabulary import Channel

AT = datetime(2026, 6, 1, tzinfo=UTC)
PLACED = datetime(2026, 3, 2, 10, tzinfo=UTC)
BUYER, MERCHANT = Actor(ActorRole.BUYER), Actor(ActorRole.MERCHANT)


def _import(engine: Engine, folder: Path, **kw: Any) -> ImportResult:
    result, _ = run_import(engine, folder, at=AT, **kw)
    return result


def _edit(folder: Path, file: str, edit: Any) -> None:
    path = folder / f"{file}.csv"
    edit(pl.read_csv(path, infer_schema=False)).write_csv(path)


def _problems(result: ImportResult) -> list[tuple[str, int, str, str]]:
    return [
        (r["file"], r["row"], r["column"], r["code"]) for r in result.report.iter_rows(named=True)
    ]


def _two_line_checkout(engine: Engine) -> None:
    """A creator's sale of two SKUs of one shop, checked out at once and paid: one order of
    two lines, then delivered, the second line refunded for one of its two units, and both
    lines reviewed."""
    with session_factory(engine).begin() as s:
        sold = factories.seller(s, category_id=factories.category(s), price_fen=5_000)
        other = catalog_service.add_sku(s, product_id=sold.product_id, price_fen=8_000, stock=50)
        creator, _ = factories.creator_selling(
            s, sold.product_id, commission_bps=1_000, at=PLACED - timedelta(days=1)
        )
        buyer = factories.buyer(s)
        vouched = Attribution(
            buyer_id=buyer,
            channel=Channel.DISTRIBUTION,
            expires_at=PLACED + timedelta(hours=1),
            creator_id=creator,
        )
        checkout = place_checkout(
            s,
            buyer_id=buyer,
            items=[CheckoutItem(sold.sku_id, 1, vouched), CheckoutItem(other.id, 2, vouched)],
            idempotency_key="cart-1",
            at=PLACED,
        )
        pay_checkout(s, checkout_id=checkout.id, idempotency_key="pay-1", at=PLACED)
        order = s.scalars(select(Order).where(Order.checkout_id == checkout.id)).one()
        lines = s.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).all()
        assert len(lines) == 2  # the test is about an order of two lines
        for step, hours in (
            (orders_service.ship_order, 5),
            (orders_service.pick_up_order, 8),
            (orders_service.deliver_order, 48),
        ):
            step(s, order_id=order.id, at=PLACED + timedelta(hours=hours))
        request = aftersales_service.request_after_sales(
            s,
            order_id=order.id,
            line_id=lines[1].id,
            quantity=1,
            kind=AfterSalesKind.REFUND_ONLY,
            reason=AfterSalesReason.QUALITY,
            actor=BUYER,
            at=PLACED + timedelta(days=3),
        )
        aftersales_service.approve(
            s, request_id=request.id, actor=MERCHANT, at=PLACED + timedelta(days=3, hours=2)
        )
        for line, stars in zip(lines, (5, 2), strict=True):
            aftersales_service.submit_review(
                s, order_id=order.id, line_id=line.id, stars=stars, at=PLACED + timedelta(days=4)
            )


def _history(engine: Engine) -> dict[str, Any]:
    """What a buyer, a merchant and a creator see of the store's orders, by stable keys."""
    with session_factory(engine)() as s:
        orders = s.scalars(select(Order).order_by(Order.created_at, Order.id)).all()
        number = {o.id: n for n, o in enumerate(orders)}
        lines = {
            line.id: (number[line.order_id], line.line_no) for line in s.scalars(select(OrderLine))
        }
        return {
            "checkouts": [
                (c.status.value, c.items, c.goods_amount_fen, c.paid_amount_fen, c.paid_at)
                for c in s.scalars(select(Checkout).order_by(Checkout.created_at))
            ],
            "orders": [
                (
                    o.status.value,
                    o.quantity,
                    o.goods_amount_fen,
                    o.paid_amount_fen,
                    o.commission_fen,
                    o.checkout_id is not None,
                )
                for o in orders
            ],
            "lines": sorted(
                (
                    lines[line.id],
                    line.quantity,
                    line.unit_price_fen,
                    line.goods_amount_fen,
                    line.paid_amount_fen,
                    line.commission_bps,
                    line.commission_fen,
                )
                for line in s.scalars(select(OrderLine))
            ),
            "reviews": sorted((lines[r.line_id], r.stars) for r in s.scalars(select(Review))),
            "refunds": sorted(
                (lines[r.line_id] if r.line_id else None, r.quantity, r.refund_fen, r.status.value)
                for r in s.scalars(select(AfterSalesRequest))
            ),
            "commission": dict(
                (kind.value, int(total))
                for kind, total in s.execute(
                    select(CommissionEntry.kind, func.sum(CommissionEntry.amount_fen)).group_by(
                        CommissionEntry.kind
                    )
                )
            ),
        }


def test_a_checkout_of_an_order_of_two_lines_comes_back_from_an_export_whole(
    engine: Engine, sqlite_template: Path, tmp_path: Path
) -> None:
    from trustflow.db import make_engine

    _two_line_checkout(engine)
    with session_factory(engine)() as s:
        export_history(s, tmp_path / "history")
    copy_path = tmp_path / "copy.db"
    copy_path.write_bytes(sqlite_template.read_bytes())
    copy = make_engine(f"sqlite:///{copy_path}")

    result, _ = run_import(copy, tmp_path / "history")  # now: the store was built now
    with session_factory(engine).begin() as s:
        # the import settles what the source had settled; the original's nightly job now
        settle_commissions(s, at=utcnow(), when_due=True)

    assert result.report.height == 0, result.report
    assert json.loads((tmp_path / "history" / "format.json").read_text()) == {"version": 2}
    before, after = _history(engine), _history(copy)
    assert after == before
    # the refund took back the refunded line's share of its commission, then the rest settled
    assert before["commission"]["reversed"] > 0 and before["commission"]["settled"] > 0
    assert len(before["reviews"]) == 2 and before["checkouts"][0][0] == "paid"
    again, _ = run_import(copy, tmp_path / "history")
    assert again.report.height == 0 and set(again.written.values()) == {0}
    copy.dispose()


def test_the_version_2_example_lands_with_its_checkout_and_lines(
    engine: Engine, example_v2: Path
) -> None:
    result = _import(engine, example_v2)

    assert result.report.height == 0, result.report
    lines = pl.read_csv(example_v2 / "order_lines.csv")
    with session_factory(engine)() as s:
        two = s.scalars(select(Order).where(Order.external_id == "o-6")).one()
        of_two = lines.filter(pl.col("order_id") == "o-6")
        goods = (of_two["unit_price_fen"] * of_two["quantity"]).sum()
        discounts = of_two["merchant_discount_fen"].sum() + of_two["platform_discount_fen"].sum()
        assert (two.goods_amount_fen, two.paid_amount_fen) == (goods, goods - discounts)
        assert len(two.lines) == of_two.height
        checkout = s.get(Checkout, two.checkout_id)
        assert checkout is not None and checkout.status.value == "paid"
        in_cart = s.scalars(select(Order).where(Order.checkout_id == checkout.id)).all()
        assert checkout.paid_amount_fen == sum(o.paid_amount_fen for o in in_cart)
        assert (
            checkout.items
            == lines.filter(pl.col("order_id").is_in([o.external_id for o in in_cart])).height
        )
        reviewed = {r.line_id for r in s.scalars(select(Review).where(Review.order_id == two.id))}
        assert reviewed == {line.id for line in two.lines}
        refund = s.scalars(select(AfterSalesRequest).where(AfterSalesRequest.order_id == two.id))
        assert [(r.line_id, r.quantity) for r in refund] == [(two.lines[1].id, 1)]


def test_a_directory_declares_its_version(store: Engine, example_v2: Path, example: Path) -> None:
    (example_v2 / "format.json").unlink()
    undeclared = _import(store, example_v2)
    (example / "format.json").write_text('{"version": 3}')
    unknown = _import(store, example)

    assert ("checkouts.csv", 0, "", "unknown_column") in _problems(undeclared)
    assert ("orders", 0, "sku_id", "missing_column") in _problems(undeclared)
    assert "declare it in format.json" in " ".join(undeclared.report["reason"])
    assert _problems(unknown) == [("format.json", 0, "version", "unsupported_version")]
    assert not undeclared.wrote and not unknown.wrote


def test_a_version_2_order_with_version_1_goods_is_told_where_they_went(
    store: Engine, example_v2: Path
) -> None:
    _edit(example_v2, "orders", lambda f: f.with_columns(pl.lit("k-1").alias("sku_id")))

    result = _import(store, example_v2)

    whole = result.report.filter(pl.col("row") == 0)
    assert _problems(ImportResult(report=whole)) == [("orders", 0, "sku_id", "unknown_column")]
    assert "its lines (order_lines)" in whole["reason"][0]


def _row_of(folder: Path, file: str, column: str, value: str) -> int:
    frame = pl.read_csv(folder / f"{file}.csv", infer_schema=False)
    return int(frame.with_row_index("row", 1).filter(pl.col(column) == value)["row"][0])


def test_every_way_a_line_is_wrong_is_named_and_nothing_is_written(
    engine: Engine, example_v2: Path
) -> None:
    def break_lines(f: pl.DataFrame) -> pl.DataFrame:
        line = pl.col("line_id")
        return f.with_columns(
            # o-6's second line: a SKU of the other shop
            sku_id=pl.when(line == "o-6.2").then(pl.lit("k-2")).otherwise("sku_id"),
            # o-7's line: discounts beyond its goods
            merchant_discount_fen=pl.when(line == "o-7.1")
            .then(pl.lit("99999"))
            .otherwise("merchant_discount_fen"),
            # o-2's line: a commission on an order no creator sold
            commission_bps=pl.when(line == "o-2.1").then(pl.lit("500")).otherwise("commission_bps"),
        ).filter(line != "o-5.1")  # o-5 loses its only line

    _edit(example_v2, "order_lines", break_lines)
    _edit(
        example_v2,
        "order_lines",
        lambda f: pl.concat(
            [f, f.filter(pl.col("line_id") == "o-1.1").with_columns(line_id=pl.lit("o-1.9"))]
        ),
    )
    before = _history(engine)

    result = _import(engine, example_v2)
    problems = set(_problems(result))

    line = lambda value: _row_of(example_v2, "order_lines", "line_id", value)  # noqa: E731
    review = lambda value: _row_of(example_v2, "reviews", "review_id", value)  # noqa: E731
    order = lambda value: _row_of(example_v2, "orders", "order_id", value)  # noqa: E731
    assert {
        ("order_lines", line("o-6.2"), "sku_id", "one_shop_per_order"),
        ("order_lines", line("o-7.1"), "", "amounts_inconsistent"),
        ("order_lines", line("o-2.1"), "commission_bps", "creator_iff_distribution"),
        ("order_lines", line("o-1.9"), "line_no", "duplicate_value"),
        ("orders", order("o-5"), "", "no_lines"),
        ("orders", order("o-6"), "", "part_refused"),
        ("orders", order("o-7"), "", "part_refused"),
        ("checkouts", 1, "", "part_refused"),
        # what names a refused order or line names nothing written
        ("reviews", review("r-4"), "order_id", "unknown_reference"),
        ("after_sales", 2, "line_id", "unknown_reference"),
    } <= problems
    assert not result.wrote and _history(engine) == before


def test_a_review_or_request_of_the_wrong_line_is_refused(engine: Engine, example_v2: Path) -> None:
    _edit(
        example_v2,
        "reviews",
        lambda f: f.with_columns(
            # a line of another order; and a second review of o-6's first line
            line_id=pl.when(pl.col("review_id") == "r-1")
            .then(pl.lit("o-6.1"))
            .when(pl.col("review_id") == "r-5")
            .then(pl.lit("o-6.1"))
            .otherwise("line_id")
        ),
    )
    _edit(
        example_v2,
        "after_sales",
        lambda f: f.with_columns(
            line_id=pl.when(pl.col("request_id") == "a-2").then(None).otherwise("line_id")
        ),
    )

    result = _import(engine, example_v2)

    review = lambda value: _row_of(example_v2, "reviews", "review_id", value)  # noqa: E731
    assert _problems(result) == sorted(
        [
            ("reviews", review("r-1"), "line_id", "line_of_another_order"),
            ("reviews", review("r-4"), "", "one_review_per_line"),
            ("reviews", review("r-5"), "", "one_review_per_line"),
            ("after_sales", 2, "line_id", "missing_value"),
        ]
    )
    assert not result.wrote


def test_skip_invalid_never_writes_half_an_order_or_half_a_cart(
    engine: Engine, example_v2: Path
) -> None:
    _edit(
        example_v2,
        "order_lines",
        lambda f: f.with_columns(
            sku_id=pl.when(pl.col("line_id") == "o-6.2").then(pl.lit("k-404")).otherwise("sku_id")
        ),
    )

    result = _import(engine, example_v2, skip_invalid=True)

    assert result.wrote
    with session_factory(engine)() as s:
        written = set(s.scalars(select(Order.external_id)))
        assert {"o-1", "o-2"} <= written and not {"o-6", "o-7"} & written
        assert s.scalar(select(func.count()).select_from(Checkout)) == 0
        assert s.scalar(select(func.count()).select_from(OrderLine)) == len(written)


def test_a_second_run_adds_nothing_and_a_changed_line_is_a_conflict(
    engine: Engine, example_v2: Path
) -> None:
    _import(engine, example_v2)
    before = _history(engine)

    again = _import(engine, example_v2)
    _edit(
        example_v2,
        "order_lines",
        lambda f: f.with_columns(
            quantity=pl.when(pl.col("line_id") == "o-6.2").then(pl.lit("5")).otherwise("quantity")
        ),
    )
    changed = _import(engine, example_v2)

    assert again.report.height == 0 and set(again.written.values()) == {0}
    assert again.present["order_lines"] == pl.read_csv(example_v2 / "order_lines.csv").height
    row = _row_of(example_v2, "order_lines", "line_id", "o-6.2")
    assert _problems(changed) == [("order_lines", row, "quantity", "conflict")]
    assert "o-6.2 was imported with quantity 1; the file says 5" in changed.report["reason"][0]
    assert _history(engine) == before


def test_a_line_added_to_an_order_imported_before_is_a_conflict(
    engine: Engine, example_v2: Path
) -> None:
    _import(engine, example_v2)
    _edit(
        example_v2,
        "order_lines",
        lambda f: pl.concat(
            [
                f,
                f.filter(pl.col("line_id") == "o-7.1").with_columns(
                    line_id=pl.lit("o-7.2"), line_no=pl.lit("2")
                ),
            ]
        ),
    )

    result = _import(engine, example_v2)

    row = _row_of(example_v2, "order_lines", "line_id", "o-7.2")
    assert ("order_lines", row, "order_id", "conflict") in _problems(result)
    assert not result.wrote


def test_a_version_1_review_of_an_order_of_several_lines_is_refused(
    engine: Engine, example_v2: Path, example: Path
) -> None:
    _import(engine, example_v2)
    _edit(
        example,
        "reviews",
        lambda f: f.with_columns(review_id=pl.lit("r-9"), order_id=pl.lit("o-6")).head(1),
    )

    result = _import(engine, example)

    assert ("reviews", 1, "line_id", "missing_value") in _problems(result)
    assert "a file of version 1 cannot name which" in " ".join(result.report["reason"])
