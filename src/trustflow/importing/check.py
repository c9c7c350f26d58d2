"""Read an import directory and judge every row before anything is written.

Each file is read as text (CSV) or as typed columns (Parquet), coerced to the format's types
(:mod:`trustflow.importing.format`), then judged by a dataframely schema built from the same
format (types, required values, ranges, lengths, allowed values, unique ids, and the rules
across a row's columns), then against the other files and the store (references, rules that
need another file's rows, and rows already imported). Every refusal is one row of the report:
file, row (the data row's number, 1 for the first row under the header), column, a stable
code and the reason. All of it is vectorised: no Python runs per row of an order file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import dataframely as dy
import polars as pl
from sqlalchemy import Table, case, select
from sqlalchemy.orm import Session

from trustflow import names
from trustflow.aftersales.rules import TERMINAL_STATES
from trustflow.bulk import table
from trustflow.catalog.models import NAME_SKELETON_LENGTH, Category, Shop
from trustflow.db import EXTERNAL_ID_LENGTH
from trustflow.importing.format import (
    VERSION_FILE,
    VERSIONS,
    Column,
    FileSpec,
    ImportCode,
    files,
    spec,
)
from trustflow.importing.store import (
    STORE_TABLES,
    external_id,
    lookup,
    stored_ids,
)
from trustflow.orders import rules as order_rules
from trustflow.orders.models import OrderStatus
from trustflow.types import EARLIEST, LATEST
from trustflow.vocabulary import Channel

__all__ = ["PROBLEM_SCHEMA", "Checked", "check_directory"]

#: The report's columns.
PROBLEM_SCHEMA = {
    "file": pl.String,
    "row": pl.Int64,
    "column": pl.String,
    "code": pl.String,
    "reason": pl.String,
}
_ZONE = r"(Z|[+-]\d\d:?\d\d)$"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%z"
UTC_TIME = pl.Datetime("us", "UTC")


@dataclass
class Checked:
    """What the check found: each file's rows as typed columns (``row``: the data row's
    number), the problems, and which rows already are in the store."""

    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    #: each file's values as the file gave them (before defaults): what a second run compares
    given: dict[str, pl.DataFrame] = field(default_factory=dict)
    #: each file as read, with its data rows' numbers: what a rejected row file repeats
    raw: dict[str, pl.DataFrame] = field(default_factory=dict)
    problems: list[pl.DataFrame] = field(default_factory=list)
    #: rows whose id the store already holds with the same values: nothing to write
    present: dict[str, pl.Series] = field(default_factory=dict)
    #: the format version the directory declared (``format.json``; none: 1)
    version: int = 1

    def report(self) -> pl.DataFrame:
        if not self.problems:
            return pl.DataFrame(schema=PROBLEM_SCHEMA)
        return pl.concat(self.problems).sort("file", "row", "column")

    def add(
        self, file: str, rows: pl.DataFrame, column: str, code: ImportCode, reason: Any
    ) -> None:
        """Refuse ``rows`` (a frame with a ``row`` column) for ``code``; ``reason`` is a text
        or an expression over ``rows``."""
        if rows.height == 0:
            return
        reason_expr = reason if isinstance(reason, pl.Expr) else pl.lit(str(reason))
        self.problems.append(
            rows.select(
                pl.lit(file).alias("file"),
                pl.col("row").cast(pl.Int64),
                pl.lit(column).alias("column"),
                pl.lit(code.value).alias("code"),
                reason_expr.cast(pl.String).alias("reason"),
            )
        )

    def refused_rows(self, file: str) -> pl.Series:
        report = [p.filter(pl.col("file") == file) for p in self.problems]
        if not report:
            return pl.Series("row", [], dtype=pl.Int64)
        return pl.concat(report)["row"].unique()

    def valid(self, file: str) -> pl.DataFrame:
        """The rows of ``file`` nothing was refused for."""
        frame = self.frames.get(file)
        if frame is None:
            return pl.DataFrame()
        return frame.filter(~pl.col("row").is_in(self.refused_rows(file).implode()))


# -- reading -------------------------------------------------------------------------------


def _version(root: Path, checked: Checked) -> int | None:
    """The version the directory declares in ``format.json`` (``{"version": 2}``); a
    directory without one is version 1. None: a declaration the import cannot read."""
    path = root / VERSION_FILE
    if not path.exists():
        return 1
    try:
        declared = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        declared, why = None, str(exc).splitlines()[0]
    else:
        why = 'it holds no {"version": ...}'
    version = declared.get("version") if isinstance(declared, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version in VERSIONS:
        return version
    if version is not None:
        why = f"version {version!r} is not one this import reads"
    checked.add(
        VERSION_FILE,
        pl.DataFrame({"row": [0]}),
        "version",
        ImportCode.UNSUPPORTED_VERSION,
        f"{why}: versions read are {', '.join(map(str, VERSIONS))}",
    )
    return None


def _other_version(name: str, column: str | None, version: int) -> str:
    """Why a file or column of another version is not this directory's, if it is one."""
    for other, specs in VERSIONS.items():
        if other == version:
            continue
        file = next((f for f in specs if f.name == name), None)
        if file is None or (column is not None and column not in {c.name for c in file.columns}):
            continue
        if other > version:
            return (
                f'; it is version {other}\'s: declare it in {VERSION_FILE} ({{"version": {other}}})'
            )
        if name == "orders":
            return "; it is version 1's: in version 2 an order's goods are its lines (order_lines)"
        return f"; it is version {other}'s"
    return ""


def _files(root: Path, checked: Checked) -> Iterator[tuple[FileSpec, Path]]:
    known = {f.name for f in files(checked.version)}
    for path in sorted(root.iterdir()):
        if path.suffix.lower() in (".csv", ".parquet") and path.stem not in known:
            checked.add(
                path.name,
                pl.DataFrame({"row": [0]}),
                "",
                ImportCode.UNKNOWN_FILE_COLUMN,
                f"no file of the format's version {checked.version} is called {path.stem!r}"
                f" (known: {', '.join(sorted(known))})"
                + _other_version(path.stem, None, checked.version),
            )
    for file in files(checked.version):
        found = [
            p
            for p in sorted(root.iterdir())
            if p.stem == file.name and p.suffix.lower() in (".csv", ".parquet")
        ]
        if len(found) == 2:
            checked.add(
                file.name,
                pl.DataFrame({"row": [0]}),
                "",
                ImportCode.TWO_FILES,
                "give the file once, as CSV or as Parquet",
            )
        elif found:
            yield file, found[0]


def _read(path: Path) -> pl.DataFrame:
    """The file's columns; in a CSV file every value is text and an empty one (``,,`` or
    ``,"",``, as exports that quote every field write it) is no value."""
    if path.suffix.lower() == ".csv":
        frame = pl.read_csv(path, infer_schema=False)
        return frame.with_columns(pl.col(pl.String).replace("", None))
    return pl.read_parquet(path)


def _header(path: Path) -> list[str]:
    """A CSV file's column names as the file gives them (a reader renames a repeated one)."""
    import csv

    if path.suffix.lower() != ".csv":
        return []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])


# -- coercion to the format's types --------------------------------------------------------


def _coerce(file: FileSpec, raw: pl.DataFrame, checked: Checked, at: datetime) -> pl.DataFrame:
    """The file's columns in the format's types; a value that is not one (an integer that
    is not, a time without a zone or outside the span) is refused and read as empty."""
    out = raw.select(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("row"))
    for column in file.columns:
        data = (
            raw[column.name]
            if column.name in raw.columns
            else pl.Series(column.name, [None] * raw.height, dtype=pl.String)
        )
        frame = pl.DataFrame({"row": out["row"], "raw": data})
        value, problems = _coerced(column, frame)
        if column.kind == "time" and not column.ahead:
            # something that happened happened before the import (a typo's 2062 would hold
            # the warehouse's watermark in the future)
            later = (value > at).fill_null(False)
            problems.append(
                (
                    ImportCode.TIME_IN_FUTURE,
                    frame.filter(later),
                    f"after the import ({at.isoformat()})",
                )
            )
            value = pl.select(pl.when(~later).then(value)).to_series()
        for code, rows, reason in problems:
            why = pl.col("reason") if reason == "__reason__" else reason
            checked.add(file.name, rows, column.name, code, why)
        out = out.with_columns(value.alias(column.name))
    return out


def _coerced(
    column: Column, frame: pl.DataFrame
) -> tuple[pl.Series, list[tuple[ImportCode, pl.DataFrame, str]]]:
    raw = frame["raw"]
    problems: list[tuple[ImportCode, pl.DataFrame, str]] = []
    if not _readable_type(column, raw.dtype):
        problems.append(
            (
                ImportCode.BAD_VALUE,
                frame.filter(raw.is_not_null()),
                f"a column of {raw.dtype} cannot hold a {column.kind}",
            )
        )
        return pl.Series(raw.name, [None] * len(raw), dtype=_TYPED[column.kind]), problems
    if column.kind == "int":
        if raw.dtype == pl.String:
            text = raw.str.strip_chars()
            value = text.cast(pl.Int64, strict=False)
            too_big = value.is_null() & text.str.contains(r"^[+-]?[0-9]+$").fill_null(False)
            problems.append(
                (ImportCode.OUT_OF_RANGE, frame.filter(too_big), "too large for the store")
            )
            bad = raw.is_not_null() & value.is_null() & ~too_big
            problems.append((ImportCode.BAD_VALUE, frame.filter(bad), "not a whole number"))
            return value, problems
        elif raw.dtype.is_integer():
            value = raw.cast(pl.Int64, strict=False)
        elif raw.dtype.is_float():
            whole = raw.is_not_nan() & (raw == raw.floor())
            value = pl.select(pl.when(whole).then(raw.cast(pl.Int64, strict=False))).to_series()
        else:
            value = pl.Series(raw.name, [None] * len(raw), dtype=pl.Int64)
        bad = raw.is_not_null() & value.is_null()
        problems.append((ImportCode.BAD_VALUE, frame.filter(bad), "not a whole number"))
        return value, problems
    if column.kind == "time":
        return _time(frame)
    if column.kind == "bool":
        if raw.dtype == pl.Boolean:
            return raw, problems
        text = raw.cast(pl.String).str.strip_chars().str.to_lowercase()
        value = text.replace_strict(_BOOLEANS, default=None, return_dtype=pl.Boolean)
        bad = text.is_not_null() & value.is_null()
        problems.append((ImportCode.BAD_VALUE, frame.filter(bad), "true or false"))
        return value, problems
    return _text(column, frame, raw.cast(pl.String), problems)


_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_TYPED: dict[str, Any] = {
    "int": pl.Int64,
    "time": UTC_TIME,
    "bool": pl.Boolean,
    "id": pl.String,
    "ref": pl.String,
    "text": pl.String,
    "enum": pl.String,
}
#: characters no value may hold: control characters (a line break or tab only in free text)
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_CONTROL_STRICT = r"[\x00-\x1f\x7f]"
#: a name that needs no normalising: printable ASCII words, one space between them
_PLAIN_NAME = r"^[\x21-\x7e]+( [\x21-\x7e]+)*$"


def _readable_type(column: Column, dtype: Any) -> bool:
    """Whether a column of ``dtype`` can hold values of the column's kind at all."""
    if dtype in (pl.String, pl.Null) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return True
    if column.kind == "int":
        return bool(dtype.is_integer() or dtype.is_float())
    if column.kind == "time":
        return isinstance(dtype, (pl.Datetime, pl.Date)) or dtype.is_numeric()
    if column.kind == "bool":
        return bool(dtype == pl.Boolean)
    return bool(column.kind in ("id", "ref") and dtype.is_integer())


def _text(
    column: Column,
    frame: pl.DataFrame,
    value: pl.Series,
    problems: list[tuple[ImportCode, pl.DataFrame, str]],
) -> tuple[pl.Series, list[tuple[ImportCode, pl.DataFrame, str]]]:
    """A text value: no control character, at most so many characters (not bytes), and a
    name people read judged as the store judges one (:mod:`trustflow.names`)."""
    value = pl.select(pl.when(value != "").then(value)).to_series()  # "" is no value
    control = _CONTROL if column.kind == "text" else _CONTROL_STRICT
    # a name's invisible characters are refused by the name rule below, which says which
    bad = value.str.contains(control).fill_null(False) & (not column.readable)
    problems.append((ImportCode.BAD_VALUE, frame.filter(bad), "control characters are not allowed"))
    value = pl.select(pl.when(~bad).then(value)).to_series()
    if column.readable:
        value, refused = _names(value)
        if refused.height:
            rows = (
                frame.select("row")
                .with_columns(refused["reason"])
                .filter(pl.col("reason").is_not_null())
            )
            problems.append((ImportCode.BAD_VALUE, rows, "__reason__"))
    limit = column.max_length or EXTERNAL_ID_LENGTH
    long = (value.str.len_chars() > limit).fill_null(False)
    problems.append((ImportCode.TOO_LONG, frame.filter(long), f"at most {limit} characters"))
    return value, problems


def _names(value: pl.Series) -> tuple[pl.Series, pl.DataFrame]:
    """Names normalised as the store normalises them, and why each refused one was: each
    distinct name that is not plain ASCII goes through :func:`trustflow.names.normalise_name`
    once."""
    plain = value.str.contains(_PLAIN_NAME).fill_null(True)
    judged: dict[str, tuple[str | None, str | None]] = {}
    for raw in value.filter(~plain).unique().to_list():
        try:
            judged[raw] = (names.normalise_name(raw), None)
        except names.NameRefused as exc:
            judged[raw] = (None, exc.message)
    if not judged:
        return value, pl.DataFrame({"reason": pl.Series([], dtype=pl.String)})
    lookup = pl.DataFrame(
        {
            "raw": list(judged),
            "name": [v[0] for v in judged.values()],
            "reason": [v[1] for v in judged.values()],
        },
        schema={"raw": pl.String, "name": pl.String, "reason": pl.String},
    )
    found = pl.DataFrame({"raw": value}).join(lookup, on="raw", how="left", maintain_order="left")
    normalised = pl.select(pl.when(plain).then(value).otherwise(found["name"])).to_series()
    return normalised, found.select("reason")


def _time(frame: pl.DataFrame) -> tuple[pl.Series, list[tuple[ImportCode, pl.DataFrame, str]]]:
    raw = frame["raw"]
    problems: list[tuple[ImportCode, pl.DataFrame, str]] = []
    if isinstance(raw.dtype, pl.Datetime):
        if raw.dtype.time_zone is None:
            problems.append(
                (
                    ImportCode.TIME_WITHOUT_ZONE,
                    frame.filter(raw.is_not_null()),
                    "a timestamp column needs a time zone (store it as UTC)",
                )
            )
            value = pl.Series(raw.name, [None] * len(raw), dtype=UTC_TIME)
        else:
            value = raw.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    else:
        text = raw.cast(pl.String).str.strip_chars()
        zoned = text.str.contains(_ZONE)
        problems.append(
            (
                ImportCode.TIME_WITHOUT_ZONE,
                frame.filter(text.is_not_null() & ~zoned),
                "a time needs its zone, e.g. 2026-03-01T09:30:00+08:00",
            )
        )
        iso = text.str.replace(r"Z$", "+00:00").str.replace(r"^(\d{4}-\d\d-\d\d) ", "${1}T")
        parsed = iso.str.to_datetime(_TIME_FORMAT, time_zone="UTC", strict=False, time_unit="us")
        value = pl.select(pl.when(zoned).then(parsed)).to_series()
        problems.append(
            (
                ImportCode.BAD_VALUE,
                frame.filter(zoned & parsed.is_null()),
                "not an ISO 8601 time",
            )
        )
    outside = value.is_not_null() & ((value < EARLIEST) | (value >= LATEST))
    problems.append(
        (
            ImportCode.TIME_OUT_OF_RANGE,
            frame.filter(outside),
            f"times lie from {EARLIEST.isoformat()} (inclusive) to {LATEST.isoformat()}"
            " (exclusive)",
        )
    )
    value = pl.select(pl.when(~outside).then(value)).to_series().cast(UTC_TIME)
    return value, problems


# -- the schema of each file ----------------------------------------------------------------

_RULE_CODES = {
    "min": ImportCode.OUT_OF_RANGE,
    "max": ImportCode.OUT_OF_RANGE,
    "max_length": ImportCode.TOO_LONG,
    "nullability": ImportCode.MISSING_VALUE,
    "dtype": ImportCode.NOT_ALLOWED,
}


def _dy_column(column: Column) -> Any:
    nullable = not column.required and column.default is None
    if column.kind == "int":
        return dy.Int64(nullable=nullable, min=column.low, max=column.high)
    if column.kind == "time":
        return dy.Datetime(nullable=nullable, time_zone="UTC", time_unit="us")
    if column.kind == "enum":
        return dy.Enum(list(column.values), nullable=nullable)
    if column.kind == "bool":
        return dy.Bool(nullable=nullable)
    # lengths are counted in characters when the value is read (dataframely counts bytes)
    return dy.String(nullable=nullable, primary_key=column.kind == "id")


def _schema(file: FileSpec, version: int) -> type[dy.Schema]:
    attrs: dict[str, Any] = {"row": dy.Int64(nullable=False)}
    attrs.update({c.name: _dy_column(c) for c in file.columns})
    rules = _ROW_RULES.get((file.name, version)) or _ROW_RULES.get((file.name, 0), {})
    for code, expr in rules.items():
        attrs[code.value] = dy.rule()(cast(Callable[..., pl.Expr], lambda cls, e=expr: e()))
    return cast(type[dy.Schema], type(f"{file.name}_schema", (dy.Schema,), attrs))


def _amounts() -> pl.Expr:
    """Discounts within the goods they are on (each is at least 0 by its range)."""
    goods = pl.col("unit_price_fen") * pl.col("quantity")
    return (pl.col("merchant_discount_fen") + pl.col("platform_discount_fen") <= goods).fill_null(
        True
    )


def _order_rules(version: int) -> dict[ImportCode, Callable[[], pl.Expr]]:
    distribution = pl.col("channel") == Channel.DISTRIBUTION.value
    # in version 2 a commission is a line's, judged with the lines
    commission = (distribution | (pl.col("commission_bps") == 0)) if version == 1 else pl.lit(True)
    amounts = {ImportCode.AMOUNTS_INCONSISTENT: _amounts} if version == 1 else {}
    return {
        **amounts,
        ImportCode.CREATOR_IFF_DISTRIBUTION: lambda: (
            (distribution == pl.col("creator_id").is_not_null()) & commission
        ).fill_null(True),
        ImportCode.PROMISE_INCONSISTENT: lambda: (
            (pl.col("deliver_from").is_null() == pl.col("deliver_by").is_null())
            & (pl.col("deliver_from") <= pl.col("deliver_by")).fill_null(True)
            & (
                pl.col("ship_by").is_null() | (pl.col("ship_by") <= pl.col("deliver_from"))
            ).fill_null(True)
            & (pl.col("ship_by").is_null() | (pl.col("ship_by") >= pl.col("created_at"))).fill_null(
                True
            )
        ),
        ImportCode.CONTENT_IFF_KIND: lambda: (
            pl.col("content_kind").is_null() == pl.col("content_id").is_null()
        ),
        ImportCode.HISTORY_OUT_OF_ORDER: lambda: order_history()[0],
    }


#: The order in which an order's actions are replayed from its times.
REPLAY = ("pay", "ship", "pick_up", "deliver", "confirm_receipt", "cancel")


def order_history() -> tuple[pl.Expr, pl.Expr]:
    """(whether the order's times are a path :data:`trustflow.orders.rules.TRANSITIONS`
    allows, each no earlier than the one before; the state it ends in), as expressions over
    an order file: the state machine itself, replayed column by column."""
    state: pl.Expr = pl.lit(OrderStatus.PENDING_PAYMENT.value)
    last: pl.Expr = pl.col("created_at")
    ok: pl.Expr = pl.lit(True)
    for action in REPLAY:
        stamp = pl.col(order_rules.TIMESTAMP_FIELD[action])
        present = stamp.is_not_null()
        allowed = state.is_in([s.value for s in order_rules.TRANSITIONS.sources(action)])
        ok = ok & (~present | (allowed & (stamp >= last).fill_null(False)))
        state = (
            pl.when(present)
            .then(pl.lit(order_rules.TRANSITIONS.target(action).value))
            .otherwise(state)
        )
        last = pl.when(present).then(stamp).otherwise(last)
    # a reason to cancel belongs to a cancelled order
    ok = ok & (pl.col("cancel_reason").is_null() | pl.col("cancelled_at").is_not_null())
    return ok, state


#: Each file's rules across a row's columns, by (file, version); version 0: every version.
_ROW_RULES: dict[tuple[str, int], dict[ImportCode, Callable[[], pl.Expr]]] = {
    ("orders", 1): _order_rules(1),
    ("orders", 2): _order_rules(2),
    ("order_lines", 0): {ImportCode.AMOUNTS_INCONSISTENT: _amounts},
    ("reviews", 1): {ImportCode.ONE_REVIEW_PER_ORDER: lambda: ~pl.col("order_id").is_duplicated()},
    ("after_sales", 0): {
        ImportCode.HISTORY_OUT_OF_ORDER: lambda: (
            (pl.col("handled_at") >= pl.col("created_at")).fill_null(True)
            & (pl.col("resolved_at") >= pl.col("created_at")).fill_null(True)
            # a request that ended has its end; one still open has none
            & (
                pl.col("status").cast(pl.String).is_in([s.value for s in TERMINAL_STATES])
                == pl.col("resolved_at").is_not_null()
            )
        ),
        ImportCode.AMOUNTS_INCONSISTENT: lambda: (
            (pl.col("kind").cast(pl.String) != "exchange") | (pl.col("refund_fen") == 0)
        ).fill_null(True),
    },
    ("live_sessions", 0): {
        ImportCode.ONE_HOST: lambda: pl.col("creator_id").is_null() != pl.col("shop_id").is_null(),
        ImportCode.HISTORY_OUT_OF_ORDER: lambda: (
            pl.when(pl.col("status") == "live")
            .then(pl.col("started_at").is_not_null() & pl.col("ended_at").is_null())
            .when(pl.col("status") == "ended")
            .then(pl.col("ended_at") >= pl.col("started_at"))
            .otherwise(pl.col("ended_at").is_null())
        ).fill_null(False),
    },
    ("short_videos", 0): {
        ImportCode.ONE_HOST: lambda: pl.col("creator_id").is_null() != pl.col("shop_id").is_null(),
    },
    ("chats", 0): {
        ImportCode.HISTORY_OUT_OF_ORDER: lambda: (
            pl.col("first_response_at") >= pl.col("first_message_at")
        ).fill_null(True)
    },
    ("follows", 0): {
        ImportCode.ONE_FOLLOW_TARGET: lambda: (
            pl.col("creator_id").is_null() != pl.col("shop_id").is_null()
        )
    },
}


def _judge(file: FileSpec, frame: pl.DataFrame, checked: Checked, version: int) -> pl.DataFrame:
    """Run the file's schema; every failed rule becomes problems. Returns the typed frame."""
    schema = _schema(file, version)
    result = schema.filter(frame, cast=True)
    details = result.failure.details()
    if details.height == 0:
        return result.result
    rules_text = dict(file.rules)
    already = checked.report().filter(pl.col("file") == file.name).select("row", "column")
    for rule in details.columns:
        if rule in frame.columns or rule.startswith("row|"):
            continue
        failed = details.filter(pl.col(rule) == "invalid")
        if failed.height == 0:
            continue
        if rule == "primary_key":
            key = cast(Column, file.key)
            failed = failed.filter(pl.col(key.name).is_not_null())  # missing: said so apart
            checked.add(
                file.name,
                failed,
                key.name,
                ImportCode.DUPLICATE_ID,
                pl.format("{} appears more than once in the file", pl.col(key.name)),
            )
            continue
        if "|" in rule:
            column_name, check = rule.split("|", 1)
            # a value already refused as unreadable is not refused again as missing
            failed = failed.join(
                already.filter(pl.col("column") == column_name), on="row", how="anti"
            )
            column = file.column(column_name)
            code = _RULE_CODES.get(check, ImportCode.BAD_VALUE)
            checked.add(file.name, failed, column_name, code, _reason(column, check, failed))
            continue
        # a row with an unreadable value is not judged again by rules that read that value
        failed = failed.join(already.select("row").unique(), on="row", how="anti")
        checked.add(file.name, failed, "", ImportCode(rule), rules_text.get(ImportCode(rule), rule))
    return frame


def _reason(column: Column, check: str, failed: pl.DataFrame) -> str:
    if check == "nullability":
        return "a value is required"
    if check in ("min", "max"):
        return f"must be from {column.low} to {column.high}"
    if check == "max_length":
        return f"at most {column.max_length or 64} characters"
    if check == "dtype" and column.values:
        return f"one of: {', '.join(column.values)}"
    return f"not a valid {column.kind}"


def _defaults(file: FileSpec, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(c.name).fill_null(c.default)
        for c in file.columns
        if c.default is not None and not c.required
    )


# -- across files and against the store ------------------------------------------------------


def check_directory(session: Session, root: Path, *, at: datetime) -> Checked:
    """Judge every file in ``root``; nothing is written."""
    checked = Checked()
    version = _version(root, checked)
    if version is None:
        return checked
    checked.version = version
    for file, path in _files(root, checked):
        try:
            raw = _read(path)
            header = _header(path)
        except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
            checked.add(
                file.name,
                pl.DataFrame({"row": [0]}),
                "",
                ImportCode.UNREADABLE,
                str(exc).splitlines()[0],
            )
            continue
        twice = sorted({c for c in header if header.count(c) > 1})
        for name in twice:
            checked.add(
                file.name,
                pl.DataFrame({"row": [0]}),
                name,
                ImportCode.DUPLICATE_COLUMN,
                "the file gives this column more than once",
            )
        if twice:
            continue
        missing = [c.name for c in file.columns if c.required and c.name not in raw.columns]
        unknown = [c for c in raw.columns if c not in {col.name for col in file.columns}]
        for name in missing:
            checked.add(
                file.name,
                pl.DataFrame({"row": [0]}),
                name,
                ImportCode.MISSING_FILE_COLUMN,
                "the file has no such column",
            )
        for name in unknown:
            checked.add(
                file.name,
                pl.DataFrame({"row": [0]}),
                name,
                ImportCode.UNKNOWN_FILE_COLUMN,
                "the format has no such column" + _other_version(file.name, name, version),
            )
        if missing or unknown:
            continue
        checked.raw[file.name] = raw.with_row_index("row", offset=1).with_columns(
            pl.col("row").cast(pl.Int64)
        )
        typed = _coerce(file, raw, checked, at)
        checked.given[file.name] = typed
        checked.frames[file.name] = _judge(file, _defaults(file, typed), checked, version)
    for file in files(version):
        if file.name in checked.frames:
            _references(session, file, checked)
            _across(session, file, checked)
        if file.name == "order_lines":
            # with or without a file of lines: every order has its lines, whole
            _whole_orders(session, checked)
    for file in files(version):
        if file.name in checked.frames:
            _against_store(session, file, checked)
    return checked


def known_ids(session: Session, checked: Checked, target: str, wanted: pl.Series) -> pl.Series:
    """Which of ``wanted`` ids of file ``target`` exist: valid rows of the file, or rows
    imported before (the store's ``external_id``)."""
    in_file = checked.valid(target)
    own = (
        in_file[cast(Column, spec(target).key).name]
        if in_file.height
        else pl.Series([], dtype=pl.String)
    )
    rest = wanted.filter(~wanted.is_in(own.implode()))
    stored = stored_ids(session, STORE_TABLES[target], rest)
    return pl.concat([own, stored["external_id"]])


def _references(session: Session, file: FileSpec, checked: Checked) -> None:
    for column in file.columns:
        if column.kind != "ref":
            continue
        for target, which in _ref_targets(column):
            # every row, refused or not: the report names all of a row's problems at once
            frame = checked.frames[file.name]
            if which is not None:
                frame = frame.filter(which.fill_null(False))
            values = frame[column.name].drop_nulls().unique()
            known = known_ids(session, checked, target, values)
            unknown = frame.filter(
                pl.col(column.name).is_not_null() & ~pl.col(column.name).is_in(known.implode())
            )
            checked.add(
                file.name,
                unknown,
                column.name,
                ImportCode.UNKNOWN_REFERENCE,
                pl.format(
                    f"no {spec(target).thing} {{}} in the files or the store", pl.col(column.name)
                ),
            )


def _ref_targets(column: Column) -> list[tuple[str, pl.Expr | None]]:
    """Each file a reference column may name, with the rows that name it (None: all)."""
    if column.ref is not None:
        return [(column.ref, None)]
    assert column.ref_by is not None
    by, targets = column.ref_by
    return [(target, pl.col(by).cast(pl.String) == value) for value, target in targets]


def _across(session: Session, file: FileSpec, checked: Checked) -> None:
    """Rules that need another file's rows."""
    if file.name == "shops":
        _shop_names(session, checked)
    if file.name in ("reviews", "after_sales"):
        _named_lines(session, checked, file.name)
    if file.name == "after_sales":
        _refunds_within_payment(session, checked)
        _line_refunds_within_payment(session, checked)
    if file.name == "categories":
        _category_codes(session, checked)
    if file.name == "reviews":
        if checked.version == 1:
            _reviews_of_reviewed_orders(session, checked)
        else:
            _one_review_per_line(session, checked)
    if file.name == "orders" and checked.version >= 2:
        _orders_of_checkouts(session, checked)
    if file.name == "order_lines":
        _lines_of_orders(session, checked)


# -- orders of several lines, and checkouts (version 2) ------------------------------------

_NO_ROWS = pl.DataFrame(schema={"row": pl.Int64})


def _frame(checked: Checked, file: str, schema: dict[str, Any]) -> pl.DataFrame:
    """The valid rows of ``file`` (an empty frame of ``schema`` when there is no file)."""
    frame = checked.valid(file)
    return frame if frame.height else pl.DataFrame(schema=schema)


def _orders_of_checkouts(session: Session, checked: Checked) -> None:
    """An order of a checkout is its buyer's, placed no earlier than the checkout."""
    orders = checked.valid("orders").filter(pl.col("checkout_id").is_not_null())
    if orders.height == 0:
        return
    in_file = _frame(
        checked,
        "checkouts",
        {"checkout_id": pl.String, "buyer_id": pl.String, "created_at": UTC_TIME},
    ).select("checkout_id", "buyer_id", "created_at")
    rest = orders["checkout_id"].filter(
        ~orders["checkout_id"].is_in(in_file["checkout_id"].implode())
    )
    checkouts, buyers = STORE_TABLES["checkouts"], STORE_TABLES["buyers"]
    stored = lookup(
        session,
        select(checkouts.c.external_id, buyers.c.external_id, checkouts.c.created_at).join(
            buyers, buyers.c.id == checkouts.c.buyer_id
        ),
        checkouts.c.external_id,
        rest,
        {"checkout_id": pl.String, "buyer_id": pl.String, "created_at": UTC_TIME},
    )
    joined = orders.join(
        pl.concat([in_file, stored]).rename(
            {"buyer_id": "checkout_buyer", "created_at": "checkout_at"}
        ),
        on="checkout_id",
    )
    checked.add(
        "orders",
        joined.filter(
            pl.col("checkout_buyer").is_null() | (pl.col("checkout_buyer") != pl.col("buyer_id"))
        ),
        "checkout_id",
        ImportCode.CHECKOUT_INCONSISTENT,
        pl.format(
            "checkout {} is buyer {}'s; the order is buyer {}'s",
            "checkout_id",
            "checkout_buyer",
            "buyer_id",
        ),
    )
    checked.add(
        "orders",
        joined.filter(pl.col("created_at") < pl.col("checkout_at")),
        "checkout_id",
        ImportCode.CHECKOUT_INCONSISTENT,
        pl.format("placed before its checkout {} was ({})", "checkout_id", "checkout_at"),
    )


def _sku_shops(session: Session, checked: Checked, skus: pl.Series) -> pl.DataFrame:
    """(sku_id, shop_id) of these SKUs, from the files or the store, as the ids rows name."""
    file_skus = _frame(checked, "skus", {"sku_id": pl.String, "product_id": pl.String}).select(
        "sku_id", "product_id"
    )
    file_skus = file_skus.filter(pl.col("sku_id").is_in(skus.implode()))
    file_products = _frame(
        checked, "products", {"product_id": pl.String, "shop_id": pl.String}
    ).select("product_id", "shop_id")
    products, shops, stored_skus = (
        STORE_TABLES["products"],
        STORE_TABLES["shops"],
        STORE_TABLES["skus"],
    )
    of_stored_products = file_skus.filter(
        ~pl.col("product_id").is_in(file_products["product_id"].implode())
    )
    stored_products = lookup(
        session,
        select(products.c.external_id, shops.c.external_id).join(
            shops, shops.c.id == products.c.shop_id
        ),
        products.c.external_id,
        of_stored_products["product_id"],
        {"product_id": pl.String, "shop_id": pl.String},
    )
    from_files = file_skus.join(
        pl.concat([file_products, stored_products]), on="product_id", how="left"
    ).select("sku_id", "shop_id")
    from_store = lookup(
        session,
        select(stored_skus.c.external_id, shops.c.external_id)
        .join(products, products.c.id == stored_skus.c.product_id)
        .join(shops, shops.c.id == products.c.shop_id),
        stored_skus.c.external_id,
        skus.filter(~skus.is_in(file_skus["sku_id"].implode())),
        {"sku_id": pl.String, "shop_id": pl.String},
    )
    return pl.concat([from_files, from_store])


def _lines_of_orders(session: Session, checked: Checked) -> None:
    """An order's lines are numbered 1, 2, ... once each, are all of one shop, carry a
    commission only on a distribution order, and are all new with it: no line is added to
    an order an earlier run imported."""
    lines = checked.valid("order_lines")
    if lines.height == 0:
        return
    again = lines.filter(pl.col("row") != pl.col("row").min().over("order_id", "line_no"))
    checked.add(
        "order_lines",
        again,
        "line_no",
        ImportCode.DUPLICATE_VALUE,
        pl.format("an earlier row gives order {} a line {}", "order_id", "line_no"),
    )
    counted = lines.with_columns(pl.col("line_no").n_unique().over("order_id").alias("lines"))
    checked.add(
        "order_lines",
        counted.filter(pl.col("line_no") > pl.col("lines")),
        "line_no",
        ImportCode.OUT_OF_RANGE,
        pl.format("order {} has {} lines: they are numbered 1 to {}", "order_id", "lines", "lines"),
    )
    shops = _sku_shops(session, checked, lines["sku_id"].unique())
    placed = lines.join(shops, on="sku_id", how="left").with_columns(
        pl.col("shop_id").sort_by("line_no", "row").first().over("order_id").alias("first_shop")
    )
    checked.add(
        "order_lines",
        placed.filter(pl.col("shop_id") != pl.col("first_shop")),
        "sku_id",
        ImportCode.ONE_SHOP_PER_ORDER,
        pl.format(
            "SKU {} is shop {}'s; the order's first line is shop {}'s",
            "sku_id",
            "shop_id",
            "first_shop",
        ),
    )
    orders = _frame(checked, "orders", {"order_id": pl.String, "channel": pl.String})
    channels = orders.select("order_id", pl.col("channel").cast(pl.String))
    checked.add(
        "order_lines",
        lines.join(channels, on="order_id").filter(
            (pl.col("commission_bps") > 0) & (pl.col("channel") != Channel.DISTRIBUTION.value)
        ),
        "commission_bps",
        ImportCode.CREATOR_IFF_DISTRIBUTION,
        pl.format("a commission on a line of order {}, sold by {}", "order_id", "channel"),
    )
    stored_orders = stored_ids(session, STORE_TABLES["orders"], lines["order_id"])
    stored_lines = stored_ids(session, STORE_TABLES["order_lines"], lines["line_id"])
    added = lines.filter(
        pl.col("order_id").is_in(stored_orders["external_id"].implode())
        & ~pl.col("line_id").is_in(stored_lines["external_id"].implode())
    )
    checked.add(
        "order_lines",
        added,
        "order_id",
        ImportCode.CONFLICT,
        pl.format("order {} was imported before without this line", "order_id"),
    )


def _whole_orders(session: Session, checked: Checked) -> None:
    """Orders and checkouts are written whole or not at all: an order has lines; a line
    refused refuses its order, an order refused its lines and its checkout's other orders;
    a checkout has orders."""
    if "orders" not in checked.frames and "checkouts" not in checked.frames:
        return
    orders_all = checked.frames.get(
        "orders",
        pl.DataFrame(schema={"row": pl.Int64, "order_id": pl.String, "checkout_id": pl.String}),
    )
    lines_all = checked.frames.get(
        "order_lines", pl.DataFrame(schema={"row": pl.Int64, "order_id": pl.String})
    )
    checkouts_all = checked.frames.get(
        "checkouts", pl.DataFrame(schema={"row": pl.Int64, "checkout_id": pl.String})
    )
    # an order new to the store has lines in the file
    new = orders_all.filter(
        ~pl.col("order_id").is_in(
            stored_ids(session, STORE_TABLES["orders"], orders_all["order_id"])[
                "external_id"
            ].implode()
        )
    )
    checked.add(
        "orders",
        new.filter(
            ~pl.col("order_id").is_in(lines_all["order_id"].implode())
            & ~pl.col("row").is_in(checked.refused_rows("orders").implode())
        ),
        "",
        ImportCode.NO_LINES,
        pl.format("order {} has no line in order_lines", "order_id"),
    )

    def valid(name: str, like: pl.DataFrame) -> pl.DataFrame:
        return checked.valid(name) if name in checked.frames else like.clear()

    def refused(name: str, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("row").is_in(checked.refused_rows(name).implode()))

    def refuse_with(
        name: str, frame: pl.DataFrame, parents: pl.DataFrame, key: str, column: str, reason: Any
    ) -> None:
        """Refuse the still valid rows of ``name`` whose ``key`` is one of ``parents``'."""
        checked.add(
            name,
            valid(name, frame).filter(pl.col(key).is_in(parents[key].implode())),
            column,
            ImportCode.PART_REFUSED,
            reason,
        )

    while True:
        before = sum(len(checked.refused_rows(f)) for f in ("orders", "order_lines", "checkouts"))
        refused_lines = refused("order_lines", lines_all)
        checked.add(
            "orders",
            valid("orders", orders_all).join(
                refused_lines.group_by("order_id").agg(pl.col("row").min().alias("line_row")),
                on="order_id",
            ),
            "",
            ImportCode.PART_REFUSED,
            pl.format("its line (order_lines row {}) was refused", "line_row"),
        )
        refused_orders = refused("orders", orders_all)
        refuse_with(
            "order_lines",
            lines_all,
            refused_orders,
            "order_id",
            "order_id",
            pl.format("its order {} was refused", "order_id"),
        )
        if "checkout_id" in orders_all.columns:
            refuse_with(
                "checkouts",
                checkouts_all,
                refused_orders,
                "checkout_id",
                "",
                "one of its orders was refused",
            )
            refuse_with(
                "orders",
                orders_all,
                refused("checkouts", checkouts_all),
                "checkout_id",
                "checkout_id",
                pl.format("its checkout {} was refused", "checkout_id"),
            )
        after = sum(len(checked.refused_rows(f)) for f in ("orders", "order_lines", "checkouts"))
        if after == before:
            break
    checkouts = valid("checkouts", checkouts_all)
    if checkouts.height == 0:
        return
    valid_orders = valid("orders", orders_all)
    named = (
        valid_orders["checkout_id"]
        if "checkout_id" in valid_orders.columns
        else pl.Series([], dtype=pl.String)
    )
    orders, stored_checkouts = STORE_TABLES["orders"], STORE_TABLES["checkouts"]
    held = lookup(
        session,
        select(stored_checkouts.c.external_id, orders.c.id).join(
            orders, orders.c.checkout_id == stored_checkouts.c.id
        ),
        stored_checkouts.c.external_id,
        checkouts["checkout_id"],
        {"key": pl.String, "order": pl.Int64},
    )
    stored_named = held["key"]
    checked.add(
        "checkouts",
        checkouts.filter(
            ~pl.col("checkout_id").is_in(named.implode())
            & ~pl.col("checkout_id").is_in(stored_named.implode())
        ),
        "",
        ImportCode.NO_LINES,
        pl.format("no order names checkout {}", "checkout_id"),
    )


#: A line as the checks of reviews and after-sales see it.
_LINE = {
    "order_id": pl.String,
    "line_id": pl.String,
    "line_no": pl.Int64,
    "line_quantity": pl.Int64,
    "line_paid": pl.Int64,
}


def _file_lines(checked: Checked) -> pl.DataFrame:
    """The lines of the orders in the files: an order of version 1 is its own one line."""
    paid = (
        pl.col("unit_price_fen") * pl.col("quantity")
        - pl.col("merchant_discount_fen")
        - pl.col("platform_discount_fen")
    )
    source = checked.valid("order_lines") if checked.version >= 2 else checked.valid("orders")
    if source.height == 0:
        return pl.DataFrame(schema=_LINE)
    return source.select(
        "order_id",
        (pl.col("line_id") if checked.version >= 2 else pl.col("order_id")).alias("line_id"),
        (pl.col("line_no") if checked.version >= 2 else pl.lit(1, pl.Int64)).alias("line_no"),
        pl.col("quantity").alias("line_quantity"),
        paid.alias("line_paid"),
    )


def _stored_lines(session: Session, by: str, values: pl.Series) -> pl.DataFrame:
    """Stored lines of imported orders, by the orders' or the lines' ids."""
    orders, lines = STORE_TABLES["orders"], STORE_TABLES["order_lines"]
    key = orders.c.external_id if by == "order_id" else lines.c.external_id
    return lookup(
        session,
        select(
            orders.c.external_id,
            lines.c.external_id,
            lines.c.line_no,
            lines.c.quantity,
            lines.c.paid_amount_fen,
        ).join(orders, orders.c.id == lines.c.order_id),
        key,
        values,
        _LINE,
    )


def _named_lines(session: Session, checked: Checked, file: str) -> None:
    """The line each review or after-sales request is about: the one it names, which must be
    a line of its order, or its order's only line. Kept as ``__line`` (the line's id), with
    the line's units and payment, for the checks after."""
    frame = checked.valid(file)
    if frame.height == 0:
        checked.frames[file] = checked.frames[file].with_columns(
            pl.lit(None, pl.String).alias("__line"),
            pl.lit(None, pl.Int64).alias("line_quantity"),
            pl.lit(None, pl.Int64).alias("line_paid"),
        )
        return
    if "line_id" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("line_id"))
    in_file = _file_lines(checked)
    wanted = frame["order_id"].filter(~frame["order_id"].is_in(in_file["order_id"].implode()))
    by_order = pl.concat([in_file, _stored_lines(session, "order_id", wanted)])
    named = frame["line_id"].drop_nulls()
    named = named.filter(~named.is_in(by_order["line_id"].implode()))
    known = pl.concat([by_order, _stored_lines(session, "line_id", named)]).unique("line_id")
    counts = by_order.group_by("order_id").agg(
        pl.len().alias("lines"), pl.col("line_id").sort_by("line_no").first().alias("only")
    )
    judged = frame.join(counts, on="order_id", how="left").join(
        known.select(pl.col("line_id"), pl.col("order_id").alias("line_order")),
        on="line_id",
        how="left",
    )
    checked.add(
        file,
        judged.filter(
            pl.col("line_id").is_not_null()
            & pl.col("line_order").is_not_null()
            & (pl.col("line_order") != pl.col("order_id"))
        ),
        "line_id",
        ImportCode.LINE_OF_ANOTHER_ORDER,
        pl.format("line {} is order {}'s, not order {}'s", "line_id", "line_order", "order_id"),
    )
    several = judged.filter(pl.col("line_id").is_null() & (pl.col("lines") > 1))
    reason = (
        "order {} has {} lines: name the line_id"
        if checked.version >= 2
        else "order {} has {} lines: a file of version 1 cannot name which (version 2 can)"
    )
    checked.add(
        file, several, "line_id", ImportCode.MISSING_VALUE, pl.format(reason, "order_id", "lines")
    )
    lines = judged.select(
        "row", pl.coalesce("line_id", pl.when(pl.col("lines") == 1).then("only")).alias("__line")
    ).join(
        known.select(pl.col("line_id").alias("__line"), "line_quantity", "line_paid"),
        on="__line",
        how="left",
    )
    checked.frames[file] = (
        checked.frames[file]
        .drop("__line", "line_quantity", "line_paid", strict=False)
        .join(lines, on="row", how="left", maintain_order="left")
    )


def _one_review_per_line(session: Session, checked: Checked) -> None:
    """A line has one review: two in the file are refused, and a new review of a line the
    store holds a review of (by another id)."""
    frame = checked.valid("reviews").filter(pl.col("__line").is_not_null())
    checked.add(
        "reviews",
        frame.filter(pl.col("__line").is_duplicated()),
        "",
        ImportCode.ONE_REVIEW_PER_LINE,
        pl.format("line {} is reviewed by more than one row", "__line"),
    )
    lines, reviews = STORE_TABLES["order_lines"], STORE_TABLES["reviews"]
    held = lookup(
        session,
        select(lines.c.external_id, reviews.c.external_id).join(
            reviews, reviews.c.line_id == lines.c.id
        ),
        lines.c.external_id,
        frame["__line"],
        {"__line": pl.String, "holder": pl.String},
    )
    checked.add(
        "reviews",
        frame.join(held, on="__line").filter(
            pl.col("holder").is_null() | (pl.col("holder") != pl.col("review_id"))
        ),
        "",
        ImportCode.ONE_REVIEW_PER_LINE,
        pl.format("line {} already has a review in the store", "__line"),
    )


def _line_refunds_within_payment(session: Session, checked: Checked) -> None:
    """A request is about at most the line's units, and a line's refunds (with those an
    earlier run stored) add up to at most what the line was paid."""
    requests = checked.valid("after_sales").filter(pl.col("__line").is_not_null())
    if "quantity" in requests.columns:
        checked.add(
            "after_sales",
            requests.filter(pl.col("quantity") > pl.col("line_quantity")),
            "quantity",
            ImportCode.OUT_OF_RANGE,
            pl.format("line {} has {} units", "__line", "line_quantity"),
        )
    refunds = requests.filter(pl.col("status") == "refunded")
    if refunds.height == 0:
        return
    before = _refunded_before(
        session, "order_lines", "line_id", refunds["__line"], "__line", refunds["request_id"]
    )
    over = (
        refunds.sort("created_at", "row")
        .with_columns(pl.col("refund_fen").fill_null(0).cum_sum().over("__line").alias("so_far"))
        .join(before, on="__line", how="left")
        .with_columns((pl.col("line_paid") - pl.col("before").fill_null(0)).alias("left"))
        .filter(pl.col("so_far") > pl.col("left"))
    )
    checked.add(
        "after_sales",
        over,
        "refund_fen",
        ImportCode.REFUND_EXCEEDS_PAYMENT,
        pl.format(
            "line {}'s refunds reach {} fen; {} fen was left to refund", "__line", "so_far", "left"
        ),
    )


def _category_codes(session: Session, checked: Checked) -> None:
    """A category's code is unique: in the file (the first row with it keeps it), and
    against other categories stored."""
    frame = checked.valid("categories")
    again = frame.filter(pl.col("row") != pl.col("row").min().over("code"))
    checked.add(
        "categories",
        again,
        "code",
        ImportCode.DUPLICATE_VALUE,
        pl.format("an earlier row of the file has the code {}", pl.col("code")),
    )
    frame = frame.filter(~pl.col("row").is_in(again["row"].implode()))
    stored_ = table(Category)
    held = lookup(
        session,
        select(stored_.c.code, stored_.c.external_id),
        stored_.c.code,
        frame["code"],
        {"code": pl.String, "holder": pl.String},
    )
    taken = frame.join(held, on="code").filter(
        pl.col("holder").is_null() | (pl.col("holder") != pl.col("category_id"))
    )
    checked.add(
        "categories",
        taken,
        "code",
        ImportCode.DUPLICATE_VALUE,
        pl.format("another category already has the code {}", pl.col("code")),
    )


def _reviews_of_reviewed_orders(session: Session, checked: Checked) -> None:
    """An order has one review: a new review of an order the store holds a review of (by
    another id) is refused."""
    frame = checked.valid("reviews")
    orders, reviews = STORE_TABLES["orders"], STORE_TABLES["reviews"]
    held = lookup(
        session,
        select(orders.c.external_id, reviews.c.external_id).join(
            reviews, reviews.c.order_id == orders.c.id
        ),
        orders.c.external_id,
        frame["order_id"],
        {"order_id": pl.String, "holder": pl.String},
    )
    again = frame.join(held, on="order_id").filter(
        pl.col("holder").is_null() | (pl.col("holder") != pl.col("review_id"))
    )
    checked.add(
        "reviews",
        again,
        "",
        ImportCode.ONE_REVIEW_PER_ORDER,
        pl.format("order {} already has a review in the store", pl.col("order_id")),
    )


def _refunds_within_payment(session: Session, checked: Checked) -> None:
    """An order's refunds in the file add up to at most what the buyer paid: taken in the
    order they were opened, the first that goes beyond is refused, and those after it."""
    requests = checked.valid("after_sales").filter(pl.col("status") == "refunded")
    if requests.height == 0:
        return
    orders = checked.valid("orders")
    paid = (
        orders.join(
            _file_lines(checked).group_by("order_id").agg(pl.col("line_paid").sum()),
            on="order_id",
            how="left",
        ).select(
            "order_id",
            # what is left to give back: nothing unpaid, nothing a cancellation refunded
            pl.when(pl.col("paid_at").is_not_null() & pl.col("cancelled_at").is_null())
            .then(pl.col("line_paid").fill_null(0))
            .otherwise(0)
            .alias("paid"),
        )
        if orders.height
        else pl.DataFrame(schema={"order_id": pl.String, "paid": pl.Int64})
    )
    elsewhere = requests.filter(~pl.col("order_id").is_in(paid["order_id"].implode()))
    stored = STORE_TABLES["orders"]
    paid_before = lookup(
        session,
        select(
            stored.c.external_id,
            case(
                (stored.c.paid_at.is_(None), 0),
                else_=stored.c.paid_amount_fen - stored.c.cancel_refund_fen,
            ),
        ),
        stored.c.external_id,
        elsewhere["order_id"],
        {"order_id": pl.String, "paid": pl.Int64},
    )
    paid = pl.concat([paid, paid_before])
    # refunds an earlier run stored for these orders count too (not this file's own rows)
    before = _refunded_before(
        session, "orders", "order_id", requests["order_id"], "order_id", requests["request_id"]
    )
    paid = paid.join(before, on="order_id", how="left").with_columns(
        (pl.col("paid") - pl.col("before").fill_null(0)).alias("paid")
    )
    over = (
        requests.sort("created_at", "row")
        .with_columns(pl.col("refund_fen").fill_null(0).cum_sum().over("order_id").alias("so_far"))
        .join(paid, on="order_id")
        .filter(pl.col("so_far") > pl.col("paid"))
    )
    checked.add(
        "after_sales",
        over,
        "refund_fen",
        ImportCode.REFUND_EXCEEDS_PAYMENT,
        pl.format(
            "order {}'s refunds reach {} fen; {} fen was left to refund",
            "order_id",
            "so_far",
            "paid",
        ),
    )


def _shop_names(session: Session, checked: Checked) -> None:
    """A new shop's name is judged as the store judges one (:mod:`trustflow.names`): taken
    or confusable with another shop's, in the file or the store, is refused."""
    frame = checked.valid("shops")
    new = frame.filter(
        ~pl.col("shop_id").is_in(
            stored_ids(session, table(Shop), frame["shop_id"])["external_id"].implode()
        )
    )
    if new.height == 0:
        return
    normalised: list[str] = []
    skeletons: list[str | None] = []
    bad: list[tuple[int, str]] = []
    for row, raw in zip(new["row"].to_list(), new["name"].to_list(), strict=True):
        try:
            name = names.normalise_name(raw)
        except names.NameRefused as exc:
            bad.append((row, exc.message))
            normalised.append(raw)
            skeletons.append(None)
            continue
        normalised.append(name)
        skeleton = names.name_skeleton(name)
        skeletons.append(skeleton if len(skeleton) <= NAME_SKELETON_LENGTH else None)
    judged = new.select("row", "shop_id").with_columns(
        pl.Series("name", normalised), pl.Series("skeleton", skeletons, dtype=pl.String)
    )
    if bad:
        rows = pl.DataFrame({"row": [r for r, _ in bad], "reason": [m for _, m in bad]})
        checked.add("shops", rows, "name", ImportCode.BAD_VALUE, pl.col("reason"))
    judged = judged.filter(pl.col("skeleton").is_not_null())
    first = judged.group_by("skeleton").agg(
        pl.col("name").first().alias("first_name"), pl.col("row").min().alias("first_row")
    )
    twins = judged.join(first, on="skeleton").filter(pl.col("row") != pl.col("first_row"))
    _name_clashes(checked, twins, "first_name", pl.format("row {}", pl.col("first_row")))
    shops = table(Shop)
    existing = lookup(
        session,
        select(shops.c.name_skeleton, shops.c.id, shops.c.name),
        shops.c.name_skeleton,
        judged["skeleton"],
        {"skeleton": pl.String, "shop": pl.Int64, "stored_name": pl.String},
    ).unique("skeleton")
    if existing.height:
        clash = judged.join(existing, on="skeleton")
        _name_clashes(checked, clash, "stored_name", pl.format("shop {}", pl.col("shop")))
    checked.frames["shops"] = (
        checked.frames["shops"]
        .join(
            judged.select("row", pl.col("name").alias("normalised"), "skeleton"),
            on="row",
            how="left",
        )
        .with_columns(pl.coalesce("normalised", "name").alias("name"))
        .drop("normalised")
    )


#: Values a second import does not hold against the store: the catalogue's state, which
#: merchants and trading move after an import (a shop's name, status and handling time, a
#: product's title, brand and listing, a SKU's spec, price and stock). History may not move.
_NOT_COMPARED = {
    ("shops", "name"),
    ("shops", "status"),
    ("shops", "handling_hours"),
    ("products", "title"),
    ("products", "brand"),
    ("products", "status"),
    ("skus", "spec"),
    ("skus", "price_fen"),
    ("skus", "stock"),
}


def _name_clashes(checked: Checked, clash: pl.DataFrame, other: str, which: pl.Expr) -> None:
    """Refuse the new shops of ``clash`` whose name is ``other`` (taken) or looks like it
    (confusable), naming ``which`` shop holds it."""
    checked.add(
        "shops",
        clash.filter(pl.col("name") == pl.col(other)),
        "name",
        ImportCode.SHOP_NAME_TAKEN,
        pl.format("{} is already named {}", which, pl.col("name")),
    )
    checked.add(
        "shops",
        clash.filter(pl.col("name") != pl.col(other)),
        "name",
        ImportCode.SHOP_NAME_CONFUSABLE,
        pl.format("looks like the name of {} ({})", which, pl.col(other)),
    )


def _against_store(session: Session, file: FileSpec, checked: Checked) -> None:
    """Rows already imported: the same values are skipped, changed ones refused with their
    differences (only the values the file gives are compared)."""
    key = file.key
    if key is None:
        return
    valid = checked.valid(file.name)
    if valid.height == 0:
        checked.present[file.name] = pl.Series("row", [], dtype=pl.Int64)
        return
    # the values the file gave, not the defaults that filled its empty cells
    frame = checked.given[file.name].filter(pl.col("row").is_in(valid["row"].implode()))
    compared = [c for c in file.columns if c.kind != "id"]
    stored = stored_rows(session, file, frame[key.name])
    if stored.height == 0:
        checked.present[file.name] = pl.Series("row", [], dtype=pl.Int64)
        return
    joined = frame.join(stored, left_on=key.name, right_on="external_id", suffix="__stored")
    diffs = []
    for column in compared:
        mine, theirs = pl.col(column.name), pl.col(f"{column.name}__stored")
        if (file.name, column.name) in _NOT_COMPARED:
            continue
        differs = mine.is_not_null() & (
            theirs.is_null() | (mine.cast(pl.String) != theirs.cast(pl.String))
        )
        changed = joined.filter(differs)
        if changed.height:
            diffs.append(changed.select("row"))
            checked.add(
                file.name,
                changed,
                column.name,
                ImportCode.CONFLICT,
                pl.format(
                    f"{key.name} {{}} was imported with {column.name} {{}}; the file says {{}}",
                    pl.col(key.name),
                    theirs.cast(pl.String),
                    mine.cast(pl.String),
                ),
            )
    checked.present[file.name] = joined["row"]


def _external(file: str, store_id: Any) -> Any:
    ref_table = STORE_TABLES[file]
    return select(external_id(ref_table)).where(ref_table.c.id == store_id).scalar_subquery()


def stored_rows(session: Session, file: FileSpec, ids: pl.Series) -> pl.DataFrame:
    """The stored values of the rows imported with these ids, in the file's columns: a
    reference as the referenced row's own external id."""
    target: Table = STORE_TABLES[file.name]
    columns = []
    for column in file.columns:
        if column.kind == "id":
            continue
        if column.kind == "ref" and column.ref is not None:
            columns.append(_external(column.ref, target.c[column.name]).label(column.name))
        elif column.ref_by is not None:
            by, targets = column.ref_by
            columns.append(
                case(
                    *(
                        (target.c[by] == value, _external(file_, target.c[column.name]))
                        for value, file_ in targets
                    )
                ).label(column.name)
            )
        else:
            columns.append(target.c[column.name].label(column.name))
    names_ = ["external_id", *(c.name for c in file.columns if c.kind != "id")]
    frame = lookup(
        session, select(external_id(target), *columns), target.c.external_id, ids, names_
    )
    return frame.rename({c: f"{c}__stored" for c in names_ if c != "external_id"})


def _refunded_before(
    session: Session, about: str, link: str, keys: pl.Series, name: str, exclude: pl.Series
) -> pl.DataFrame:
    """What an earlier run stored as refunded, summed (``before``) by the source id (``name``)
    of the store's row the requests are about (``about``: orders or order_lines, joined by
    the request's ``link`` column), leaving out the requests of this run (``exclude``)."""
    parent, requests = STORE_TABLES[about], STORE_TABLES["after_sales"]
    return (
        lookup(
            session,
            select(parent.c.external_id, requests.c.external_id, requests.c.refund_fen)
            .join(parent, parent.c.id == requests.c[link])
            .where(requests.c.status == "refunded"),
            parent.c.external_id,
            keys,
            {name: pl.String, "request_id": pl.String, "refund_fen": pl.Int64},
        )
        .filter(~pl.col("request_id").is_in(exclude.implode()).fill_null(False))
        .group_by(name)
        .agg(pl.col("refund_fen").sum().alias("before"))
    )
