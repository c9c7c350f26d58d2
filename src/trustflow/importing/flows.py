"""``trustflow import DIR``: judge every row, then write in one transaction, or nothing.

Without ``skip_invalid``, one refused row means nothing is written: the report says what to
fix. With it, the rows judged good are written and the refused ones are copied, as read, to
``rejected/<file>.csv`` beside the report, each with its row number, code and reason. A file
the format does not know, or one missing a column, stops the import either way. A second run
of the same files writes nothing: every row is already in the store with the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, func, select

from trustflow import store_identity
from trustflow.aftersales.settlement import settle_commissions
from trustflow.bulk import table
from trustflow.db import session_factory, transaction, utcnow
from trustflow.importing.check import Checked, check_directory
from trustflow.importing.format import FILES
from trustflow.importing.write import write_checked
from trustflow.orders.models import Order

__all__ = ["IMPORT_LOCK", "ImportResult", "run_import", "write_rejected"]

#: The PostgreSQL advisory lock an import holds for its transaction.
IMPORT_LOCK = 0x7F_1A_0001


@dataclass
class ImportResult:
    """What an import did: rows written, rows already there, rows refused, per file."""

    written: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    report: pl.DataFrame = field(default_factory=pl.DataFrame)
    #: whether anything was written (False: the check refused rows, or found nothing to do)
    wrote: bool = False

    @property
    def blocked(self) -> bool:
        """Whether problems stopped the import before it wrote anything."""
        return self.report.height > 0 and not self.wrote


def run_import(
    engine: Engine,
    root: Path,
    *,
    skip_invalid: bool = False,
    at: datetime | None = None,
    on_step: Callable[[str, int, int], None] | None = None,
) -> tuple[ImportResult, Checked]:
    """Import the directory ``root`` into the store behind ``engine``. ``on_step`` hears
    (what is being done, steps done, steps in all) before each step and at the end."""
    at = at or utcnow()
    total = 1 + len(FILES)
    step = on_step or (lambda _what, _done, _total: None)
    result = ImportResult()
    with transaction(session_factory(engine)) as session:
        if session.get_bind().dialect.name == "postgresql":
            # one import at a time: two would both find a row new, and one would fail on it
            # (SQLite's BEGIN IMMEDIATE already lets one writer in at a time)
            session.execute(select(func.pg_advisory_xact_lock(IMPORT_LOCK)))
        step("reading and checking every row", 0, total)
        checked = check_directory(session, root, at=at)
        result.report = checked.report()
        for file in FILES:
            if file.name in checked.frames:
                refused = len(checked.refused_rows(file.name))
                result.refused[file.name] = refused
                result.present[file.name] = len(checked.present.get(file.name, []))
        whole_files = result.report.filter(pl.col("row") == 0).height
        if result.report.height and (not skip_invalid or whole_files):
            step("checked: nothing written", total, total)
            return result, checked
        done = iter(range(2, total + 1))
        step("writing", 1, total)
        result.written = write_checked(
            session,
            checked,
            at=at,
            on_file=lambda name, n: step(f"wrote {n:,} {name}", next(done), total),
        )
        # the source paid out the commission of orders whose window had closed: settled
        # when it closed, so the nightly job does not pay it again now
        settle_commissions(
            session, at=at, among=table(Order).c.external_id.is_not(None), when_due=True
        )
        store_identity.mark_history_imported(session)
        step("committing", total, total)
        result.wrote = True
    return result, checked


def write_rejected(checked: Checked, report: pl.DataFrame, folder: Path) -> list[Path]:
    """Each file's refused rows as they were read, with the row number and the codes and
    reasons of their problems (``; `` between two), to ``folder/<file>.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, raw in checked.raw.items():
        problems = (
            report.filter(pl.col("file") == name)
            .group_by("row", maintain_order=True)
            .agg(pl.col("code").str.join("; "), pl.col("reason").str.join("; "))
        )
        rejected = raw.join(problems, on="row", how="inner")
        if rejected.height:
            path = folder / f"{name}.csv"
            rejected.with_columns(pl.all().cast(pl.String)).write_csv(path)
            written.append(path)
    return written
