"""The scoring benchmark's synthetic warehouse is what the export writes (files, schemas,
manifest, order lines consistent with their orders, delivery promises, category parents), its
cache is rebuilt when the schemas change, and its pandas peer computes the same scores as the
score SQL on DuckDB, products from their lines included."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from bench import _warehouse_synth as synth
from bench import scoring

from trustflow.scoring import rules, sql
from trustflow.scoring.engine import compute_duckdb
from trustflow.scoring.models import ScoreKind
from trustflow.warehouse.export import FACTS, arrow_schema, fact_columns, read_manifest
from trustflow.warehouse.reader import open_warehouse


def test_synthetic_warehouse_is_laid_out_as_exported_and_pandas_matches_duckdb(
    tmp_path: Path,
) -> None:
    root = tmp_path / "warehouse"
    info = synth.ensure(root, 10_000, seed=5)
    as_of = int(info["as_of"])

    manifest = read_manifest(root)
    assert manifest["store_id"] == synth.STORE_ID
    assert manifest["columns"] == fact_columns()  # an export would not rewrite any fact whole
    for fact in FACTS:
        files = sorted((root / fact.name).glob("day=*/part-0.parquet"))
        assert manifest["tables"][fact.name]["partitions"] == len(files)
        for path in files:
            assert pq.read_schema(path) == arrow_schema(fact.columns), path
    assert {"orders", "order_lines", "reviews", "after_sales", "chats"} <= set(
        manifest["watermarks"]
    )

    con = open_warehouse(root)
    try:
        # every order's lines: numbered from 1, its first line its product, amounts summed
        assert con.execute("""
            SELECT COUNT(*) FROM orders o
            JOIN (SELECT order_id, SUM(paid_amount_fen) AS paid, MIN(line_no) AS first,
                         COUNT(*) AS n, MAX(line_no) AS last
                  FROM order_lines GROUP BY order_id) l ON l.order_id = o.id
            JOIN order_lines f ON f.order_id = o.id AND f.line_no = 1
            WHERE l.paid = o.paid_amount_fen AND l.first = 1 AND l.last = l.n
              AND f.product_id = o.product_id AND f.created_at = o.created_at
        """).fetchone() == (10_000,)
        # reviews and requests name a line of their own order (a few requests name none)
        assert con.execute("""
            SELECT COUNT(*) FROM reviews r JOIN order_lines l ON l.id = r.line_id
            WHERE l.order_id <> r.order_id OR l.product_id <> r.product_id
        """).fetchone() == (0,)
        assert con.execute("""
            SELECT COUNT(*) FROM after_sales a JOIN order_lines l ON l.id = a.line_id
            WHERE l.order_id <> a.order_id OR a.quantity > l.quantity
        """).fetchone() == (0,)
        orders_with_two_reviews = con.execute(
            "SELECT COUNT(*) FROM (SELECT order_id FROM reviews GROUP BY 1 HAVING COUNT(*) > 1)"
        ).fetchone()
        # the promises the score judges logistics by: delivery promised after the hand-over,
        # some parcels delivered after it, some still on their way past it, a few without one
        promises = con.execute(f"""
            SELECT COUNT(*) FILTER (WHERE deliver_by <= ship_by),
                   COUNT(*) FILTER (WHERE delivered_at > deliver_by),
                   COUNT(*) FILTER (WHERE deliver_by < to_timestamp({as_of})
                                    AND delivered_at IS NULL AND cancelled_at IS NULL),
                   COUNT(*) FILTER (WHERE deliver_by IS NULL)
            FROM orders
        """).fetchone()
        # thin categories sit under a few top-level ones
        parents = con.execute(
            "SELECT COUNT(parent_id), COUNT(DISTINCT parent_id), COUNT(*) FROM categories"
        ).fetchone()
    finally:
        con.close()
    assert orders_with_two_reviews is not None and orders_with_two_reviews[0] > 0
    assert promises is not None
    assert promises[0] == 0 and promises[1] > 0 and promises[2] > 0 and promises[3] > 0
    assert parents is not None and 0 < parents[1] < parents[0] < parents[2]

    duck = compute_duckdb(root, as_of, sql.FULL)
    assert (duck.scores["kind"] == ScoreKind.PRODUCT.value).sum() > 0
    stores = duck.scores.filter(duck.scores["kind"] == ScoreKind.STORE.value)
    # small stores reach back to the longer windows
    assert set(stores["window_days"]) > {rules.STORE.window_days}
    late = duck.metrics.filter(duck.metrics["metric"] == "late_delivery_rate")
    assert late["defects"].sum() > 0
    peer_metrics, peer = scoring.compute_pandas(root, as_of)
    check = scoring.compare(duck.scores.to_pandas(), peer, duck.metrics.to_pandas(), peer_metrics)
    assert check["matches"], check
    assert scoring.scan_bytes(root, as_of) > 0


def test_a_cached_warehouse_of_other_schemas_is_rebuilt(tmp_path: Path) -> None:
    root = tmp_path / "warehouse"
    assert not synth.ensure(root, 2_000, seed=3)["cached"]
    assert synth.ensure(root, 2_000, seed=3)["cached"]
    marker = root / synth.MARKER
    info = json.loads(marker.read_text())
    marker.write_text(json.dumps({**info, "schemas": "written-with-other-schemas"}))
    assert not synth.ensure(root, 2_000, seed=3)["cached"]
    assert json.loads(marker.read_text())["schemas"] == synth.SCHEMA_DIGEST
