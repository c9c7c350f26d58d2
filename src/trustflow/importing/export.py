"""A store's history written in the import format: what ``trustflow import`` reads back.

Every file of :mod:`trustflow.importing.format`'s current version is written as Parquet
(times as UTC timestamps), one row per stored row in id order, with ``format.json``
declaring the version. A row's id is the one it was imported with, else its store id;
references name the rows they point at the same way. Imported into an
empty store, the files give back the same history: the same scores, the same Chuanliu
decisions, the same figures (the round-trip test holds this).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from trustflow.importing.format import FORMAT_VERSION, VERSION_FILE, Column, FileSpec, files
from trustflow.importing.store import STORE_TABLES, external_id

__all__ = ["export_history"]


def export_history(session: Session, folder: Path) -> dict[str, int]:
    """Write the store's history into ``folder`` (created if need be); rows per file."""
    folder.mkdir(parents=True, exist_ok=True)
    keys: dict[str, pl.DataFrame] = {}
    written = {}
    for file in files(FORMAT_VERSION):
        frame = _read(session, file, keys)
        frame.write_parquet(folder / f"{file.name}.parquet")
        written[file.name] = frame.height
    (folder / VERSION_FILE).write_text(
        json.dumps({"version": FORMAT_VERSION}) + "\n", encoding="utf-8"
    )
    return written


def _keys(session: Session, file: str, keys: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """(store id, the id the format names the row by) of every row of a file's table."""
    if file not in keys:
        target = STORE_TABLES[file]
        rows = session.execute(
            select(target.c.id, func.coalesce(external_id(target), cast(target.c.id, String)))
        ).all()
        keys[file] = pl.DataFrame(
            [tuple(r) for r in rows], schema={"id": pl.Int64, "key": pl.String}, orient="row"
        )
    return keys[file]


def _read(session: Session, file: FileSpec, keys: dict[str, pl.DataFrame]) -> pl.DataFrame:
    target = STORE_TABLES[file.name]
    stored = [c for c in file.columns if c.kind != "id"]
    rows = session.execute(
        select(target.c.id, *(target.c[c.name] for c in stored)).order_by(target.c.id)
    ).all()
    frame = pl.DataFrame(
        [tuple(_plain(v) for v in r) for r in rows],
        schema={"__id": pl.Int64, **{c.name: _dtype(c) for c in stored}},
        orient="row",
    )
    if file.key is not None:
        frame = frame.join(
            _keys(session, file.name, keys).rename({"id": "__id", "key": file.key.name}),
            on="__id",
            how="left",
            maintain_order="left",
        )
    for column in stored:
        frame = _referenced(session, frame, file, column, keys)
    return frame.select(c.name for c in file.columns)


def _referenced(
    session: Session,
    frame: pl.DataFrame,
    file: FileSpec,
    column: Column,
    keys: dict[str, pl.DataFrame],
) -> pl.DataFrame:
    """A reference column, from store ids to the ids the format names rows by."""
    if column.kind != "ref":
        return frame
    if column.ref is not None:
        targets: list[tuple[str | None, str]] = [(None, column.ref)]
    else:
        assert column.ref_by is not None
        targets = [(value, f) for value, f in column.ref_by[1]]
    named = pl.Series(column.name, [None] * frame.height, dtype=pl.String)
    ids = frame[column.name].cast(pl.Int64)
    for value, target in targets:
        lookup = _keys(session, target, keys)
        found = pl.DataFrame({"id": ids}).join(lookup, on="id", how="left", maintain_order="left")[
            "key"
        ]
        if value is None:
            named = found
        else:
            assert column.ref_by is not None
            which = (frame[column.ref_by[0]] == value).fill_null(False)
            named = pl.select(pl.when(which).then(found).otherwise(named)).to_series()
    return frame.with_columns(named.alias(column.name))


def _dtype(column: Column) -> Any:
    if column.kind == "ref":
        return pl.Int64
    if column.kind == "int":
        return pl.Int64
    if column.kind == "time":
        return pl.Datetime("us", "UTC")
    if column.kind == "bool":
        return pl.Boolean
    return pl.String


def _plain(value: Any) -> Any:
    """Enums (``StrEnum``) as their values; everything else as it is."""
    return str(value) if isinstance(value, str) else value
