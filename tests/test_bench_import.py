"""The import benchmark's generated history passes every check of the import, and its bare
insert copies exactly the rows the import wrote."""

from __future__ import annotations

import importlib
from pathlib import Path

from trustflow.db import make_engine
from trustflow.importing.flows import run_import

# ``import`` is a keyword: the module is only reachable by name
history = importlib.import_module("bench.import")


def test_generated_history_is_imported_whole_and_copied(tmp_path: Path) -> None:
    files = history.write_history(tmp_path / "files", 300, seed=3)
    store, bare = tmp_path / "store.db", tmp_path / "bare.db"
    history.fresh_store(store)
    before = history.table_state(store)
    engine = make_engine(f"sqlite:///{store}")
    try:
        result, _ = run_import(engine, tmp_path / "files", at=history.AS_OF)
    finally:
        engine.dispose()

    assert result.report.height == 0, result.report
    assert result.wrote
    assert result.written == files
    after = history.table_state(store)
    assert after["orders"][0] == 300
    added = {t: after[t][0] - before[t][0] for t in after if after[t] != before[t]}
    assert {"order_events", "payments", "price_history", "after_sales_events"} <= set(added)

    history.fresh_store(bare)
    _, copied = history.bare_insert(store, bare, {t: before[t][1] for t in added})
    assert copied == sum(added.values())
    assert history.table_state(bare) == after
