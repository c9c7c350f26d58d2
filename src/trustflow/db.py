"""Engine, sessions and the declarative base every context's tables derive from."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    Engine,
    Enum,
    Integer,
    MetaData,
    cast,
    create_engine,
    event,
    func,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from trustflow.config import get_settings
from trustflow.errors import ErrorCode, InvalidInput
from trustflow.types import EARLIEST, LATEST, out_of_range

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _bound_utc(value: datetime, dialect: Any) -> datetime:
    value = value.astimezone(UTC)
    return value.replace(tzinfo=None) if dialect.name == "sqlite" else value


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite has no time zones: values are stored as naive UTC and handed back aware, so the
    rest of the code only ever sees aware UTC datetimes. Naive input is refused, and so is a
    time written outside trustflow's span (:mod:`trustflow.types`) with ``time_out_of_range``:
    the last line of defence behind the edges. It runs per row in bulk writes, so the check
    is two comparisons. A time *compared* with a column may lie outside the span (a window
    that opens before it, a "since the beginning" sentinel): see :class:`UtcComparand`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: trustflow stores timezone-aware UTC only")
        if not EARLIEST <= value < LATEST:  # aware comparisons never overflow
            raise out_of_range("a stored time", value)
        return _bound_utc(value, dialect)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return _aware_utc(value)

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        return _COMPARAND if isinstance(value, datetime) else self


class UtcComparand(TypeDecorator[datetime]):
    """A time compared with a :class:`UtcDateTime` column (``WHERE paid_at >= :since``).

    Everything stored lies in the span, so a bound outside it is meaningful (it is before or
    after all of it); it only has to exist in UTC, which year 1 at +14:00 does not: that is
    refused with ``time_out_of_range``, never an ``OverflowError``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: trustflow compares timezone-aware UTC only")
        try:
            return _bound_utc(value, dialect)
        except OverflowError:
            raise InvalidInput(
                f"{value.isoformat()} does not exist in UTC", code=ErrorCode.TIME_OUT_OF_RANGE
            ) from None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return _aware_utc(value)


_COMPARAND = UtcComparand()


# SQLite only autoincrements INTEGER PRIMARY KEY; BigInteger keys elsewhere.
IdType = BigInteger().with_variant(Integer(), "sqlite")
#: The longest id a row may carry from the system it was imported from.
EXTERNAL_ID_LENGTH = 64


def enum_type(enum_cls: type[StrEnum]) -> Enum:
    """A portable enum column: a VARCHAR holding the value, guarded by a CHECK constraint."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        name=enum_cls.__name__.lower(),
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


ModelT = TypeVar("ModelT", bound=Base)


def get_or_raise(session: Session, model: type[ModelT], ident: int, what: str) -> ModelT:
    """The row with this id, or :class:`~trustflow.errors.NotFound` naming ``what``."""
    from trustflow.errors import NotFound

    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"{what} {ident} not found")
    return row


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own transaction handling is replaced by explicit BEGIN IMMEDIATE, so
        # two writers never deadlock on a lock upgrade: the second waits (busy_timeout).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        # A bigger page cache: batch writes touch many indexes.
        cur.execute("PRAGMA cache_size=-131072")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE")


def make_engine(url: str | None = None, *, echo: bool | None = None) -> Engine:
    settings = get_settings()
    url = url or settings.resolved_database_url
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": settings.sql_echo if echo is None else echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 20
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    return engine


@lru_cache(maxsize=1)
def default_engine() -> Engine:
    return make_engine()


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or default_engine(), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def attach_loaded(session: Session, model: type[ModelT], row: dict[str, Any]) -> ModelT:
    """Put a row just written into the session as a loaded object, as a query would have
    (no attribute events, nothing to flush), without reading it back: for hot paths that
    wrote the row themselves and know every column."""
    from sqlalchemy.orm import class_mapper, make_transient_to_detached
    from sqlalchemy.orm.attributes import instance_state

    obj = class_mapper(model).class_manager.new_instance()
    instance_state(obj).dict.update(row)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def utc_day(
    session: Session, column: ColumnElement[Any] | QueryableAttribute[Any]
) -> ColumnElement[Any]:
    """The UTC calendar day of a stored time, in SQL (to group by day in the store)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column)
    return cast(func.timezone("UTC", column), Date)
