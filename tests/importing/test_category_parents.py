"""A history's category tree comes in with it: a category names its parent (which may come
later in the file), the store links them, and a history exported again says the same. A parent
that is nowhere is refused like any unknown reference."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sqlalchemy import Engine, select

from tests.importing.test_hostile import imported, of_file, read
from trustflow.catalog.models import Category
from trustflow.db import session_factory
from trustflow.importing.export import export_history


def _with_parent(folder: Path, parent: str) -> None:
    """The example's one category ("tea") under ``parent``, a category listed after it."""
    categories = read(folder, "categories")
    tree = pl.concat(
        [
            categories.with_columns(parent_id=pl.lit(parent)),
            pl.DataFrame(
                {"category_id": ["drinks"], "code": ["drinks"], "name": ["Drinks"]}
            ).with_columns(parent_id=pl.lit(None, pl.String)),
        ],
        how="diagonal_relaxed",
    )
    tree.write_csv(folder / "categories.csv")


def _tree(engine: Engine) -> dict[str, str | None]:
    with session_factory(engine)() as s:
        rows = s.execute(select(Category.id, Category.code, Category.parent_id)).all()
    codes = {i: code for i, code, _ in rows}
    return {code: codes.get(parent) if parent else None for _, code, parent in rows}


def test_a_category_comes_in_under_its_parent_and_goes_out_the_same(
    store: Engine, example_v2: Path, tmp_path: Path
) -> None:
    _with_parent(example_v2, "drinks")

    result = imported(store, example_v2)

    assert result.report.height == 0
    assert _tree(store) == {"tea": "drinks", "drinks": None}
    with session_factory(store)() as s:
        export_history(s, tmp_path / "again")
    again = pl.read_parquet(tmp_path / "again" / "categories.parquet")
    assert dict(zip(again["category_id"], again["parent_id"], strict=True)) == {
        "tea": "drinks",
        "drinks": None,
    }


def test_a_parent_that_is_nowhere_is_refused(store: Engine, example_v2: Path) -> None:
    _with_parent(example_v2, "nowhere")

    result = imported(store, example_v2)

    assert ("categories", 1, "parent_id", "unknown_reference") in of_file(result, "categories")
    assert _tree(store) == {}  # nothing written: the refusal names the row, the store is as it was
