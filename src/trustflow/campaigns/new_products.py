"""The new-product plan's progress (新品计划), read from the warehouse: the products listed in
the last :data:`~trustflow.campaigns.rules.NEW_PRODUCT_DAYS` days, what they sold, how much
of it went to buyers new to the product (no unit of it in the
:data:`~trustflow.campaigns.rules.NEW_FOR_BUYER_DAYS` days before), and how many passed each
GMV threshold of the plan against its target.

One DuckDB query over the exported lines (a window per buyer and product), never the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trustflow.campaigns import rules
from trustflow.units import DAY, yuan
from trustflow.warehouse.reader import open_warehouse

__all__ = ["NewProductProgress", "new_product_progress"]


@dataclass(frozen=True)
class NewProductProgress:
    as_of: datetime
    new_products: int
    #: of them, those that sold anything
    selling: int
    gmv_fen: int
    lines: int
    #: lines whose buyer had not bought the product in the days before
    lines_new_for_buyer: int
    #: per threshold (fen): products past it, and the plan's target
    past_threshold: tuple[tuple[int, int, int], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "new_product_days": rules.NEW_PRODUCT_DAYS,
            "new_products": self.new_products,
            "selling": self.selling,
            "gmv_yuan": yuan(self.gmv_fen),
            "lines": self.lines,
            "lines_new_for_buyer": self.lines_new_for_buyer,
            "new_for_buyer_share": round(self.lines_new_for_buyer / self.lines, 4)
            if self.lines
            else None,
            "thresholds": [
                {"gmv_yuan": yuan(fen), "products": n, "target": target}
                for fen, n, target in self.past_threshold
            ],
        }


def new_product_progress(root: Path, *, as_of: datetime) -> NewProductProgress:
    """The plan as of ``as_of`` (aware), from the warehouse at ``root``."""
    t = int(as_of.timestamp())
    since = t - rules.NEW_PRODUCT_DAYS * DAY
    gap = rules.NEW_FOR_BUYER_DAYS * DAY
    thresholds = [fen for fen, _ in rules.NEW_PRODUCT_TARGETS]
    past = ", ".join(
        f"COUNT(*) FILTER (WHERE gmv >= {fen}) AS past_{i}" for i, fen in enumerate(thresholds)
    )
    con = open_warehouse(root)
    try:
        row = con.sql(
            f"""
            WITH fresh AS (
                SELECT id FROM products
                WHERE EPOCH(created_at) >= {since} AND EPOCH(created_at) < {t}
            ),
            sold AS (
                SELECT l.product_id, o.buyer_id, EPOCH(o.paid_at) AS paid, l.paid_amount_fen
                FROM order_lines l JOIN orders o ON o.id = l.order_id
                WHERE o.paid_at IS NOT NULL AND EPOCH(o.paid_at) < {t}
                  AND o.status <> 'cancelled'
                  AND l.product_id IN (SELECT id FROM fresh)
            ),
            flagged AS (
                SELECT product_id, paid_amount_fen,
                       LAG(paid) OVER (PARTITION BY buyer_id, product_id ORDER BY paid)
                           AS before
                       , paid
                FROM sold
            ),
            per_product AS (
                SELECT f.id, COALESCE(SUM(x.paid_amount_fen), 0) AS gmv, COUNT(x.product_id) AS n,
                       COUNT(x.product_id) FILTER (
                           WHERE x.before IS NULL OR x.paid - x.before > {gap}
                       ) AS first_tastes
                FROM fresh f LEFT JOIN flagged x ON x.product_id = f.id
                GROUP BY f.id
            )
            SELECT COUNT(*), COUNT(*) FILTER (WHERE n > 0), COALESCE(SUM(gmv), 0),
                   COALESCE(SUM(n), 0), COALESCE(SUM(first_tastes), 0), {past}
            FROM per_product
            """  # noqa: S608  (numbers the code made, no input)
        ).fetchall()[0]
    finally:
        con.close()
    products, selling, gmv, lines, first, *passed = row
    return NewProductProgress(
        as_of=as_of.astimezone(UTC),
        new_products=int(products),
        selling=int(selling),
        gmv_fen=int(gmv),
        lines=int(lines),
        lines_new_for_buyer=int(first),
        past_threshold=tuple(
            (fen, int(n), target)
            for (fen, target), n in zip(rules.NEW_PRODUCT_TARGETS, passed, strict=True)
        ),
    )
