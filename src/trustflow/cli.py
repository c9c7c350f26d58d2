"""The ``trustflow`` command line: an adapter over the services, nothing more."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from trustflow.accounts.models import Role
from trustflow.types import MAX_ID

app = typer.Typer(
    help="trustflow: a trust-driven live-commerce marketplace engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The marketplace store's schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
scores_app = typer.Typer(help="Product, store experience and creator reputation scores.")
warehouse_app = typer.Typer(help="The columnar copy of the store that batch jobs read.")
traffic_app = typer.Typer(help="The daily traffic plan and the health of traffic.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(scores_app, name="scores", no_args_is_help=True)
app.add_typer(warehouse_app, name="warehouse", no_args_is_help=True)
app.add_typer(traffic_app, name="traffic", no_args_is_help=True)
commission_app = typer.Typer(help="Creators' commission: settlement and statements.")
orders_app = typer.Typer(help="Orders and checkouts.")
app.add_typer(orders_app, name="orders", no_args_is_help=True)
campaigns_app = typer.Typer(help="Festivals, registrations and coupons.")
app.add_typer(campaigns_app, name="campaigns", no_args_is_help=True)
app.add_typer(commission_app, name="commission", no_args_is_help=True)

console = Console(stderr=True)

#: Width of tables written to a pipe or a file: wide enough that no figure is cut to "…".
PIPED_WIDTH = 400


def _refusal(code: str, message: str) -> typer.Exit:
    """Print one line ``code: message`` (never wrapped, never read as markup); exit 2."""
    console.print(f"[red]{code}[/red]: {escape(' '.join(message.split()))}", soft_wrap=True)
    return typer.Exit(2)


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Turn failures a user can fix into one line with a stable code, not a traceback."""
    from sqlalchemy.exc import ArgumentError, OperationalError, StatementError

    from trustflow.errors import TrustflowError

    try:
        yield
    except TrustflowError as exc:
        raise _refusal(exc.code.value, exc.message) from exc
    except ArgumentError as exc:
        raise _refusal("invalid_settings", f"TRUSTFLOW_DATABASE_URL is not usable: {exc}") from exc
    except OperationalError as exc:
        raise _refusal("store_unavailable", str(exc.orig)) from exc
    except StatementError as exc:
        # a column type's own check (a time outside the span), wrapped by SQLAlchemy
        if isinstance(exc.orig, TrustflowError):
            raise _refusal(exc.orig.code.value, exc.orig.message) from exc
        raise
    except OSError as exc:
        raise _refusal("io_error", str(exc)) from exc


def _migrate(step: Callable[[Any, str], None], revision: str) -> None:
    """Run an Alembic step; a revision Alembic cannot resolve is ``unknown_revision``."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from trustflow import migrate
    from trustflow.db import default_engine
    from trustflow.errors import ErrorCode, InvalidInput

    try:
        step(default_engine(), revision)
    except CommandError as exc:
        heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
        raise InvalidInput(
            f"{exc}: name a known revision, head or base (known heads: {', '.join(heads)})",
            code=ErrorCode.UNKNOWN_REVISION,
            revision=revision,
            heads=heads,
        ) from exc


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from trustflow import migrate

    with _clear_errors():
        _migrate(migrate.upgrade, revision)
    console.print(f"[green]schema at {revision}[/green]")


@db_app.command("downgrade")
def db_downgrade(revision: str = "base") -> None:
    """Undo migrations down to REVISION (default: an empty store)."""
    from trustflow import migrate

    with _clear_errors():
        _migrate(migrate.downgrade, revision)
    console.print(f"[yellow]schema at {revision}[/yellow]")


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="Who the key acts as.")],
    subject_id: Annotated[
        int | None,
        typer.Option(
            min=1, max=MAX_ID, help="The merchant/creator/buyer/provider id the key acts as."
        ),
    ] = None,
    label: str = "",
) -> None:
    """Issue an API key and print its secret once (only a hash is stored)."""
    from trustflow.accounts import service as accounts_service
    from trustflow.db import session_factory, transaction

    with _clear_errors(), transaction(session_factory()) as session:
        _, secret = accounts_service.create_api_key(
            session, role=role, subject_id=subject_id, label=label
        )
    typer.echo(secret)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
    """Serve the API (``/api/v1``, OpenAPI at ``/openapi.json``, dashboard at ``/``)."""
    from trustflow.api.server import run

    with _clear_errors():
        _migrated_engine()

    run(host, port, workers, access_log=access_log)


def _migrated_engine() -> Any:
    """The store's engine, or the command ends (``store_not_migrated``, exit 2) when the store
    is not at the newest revision."""
    from trustflow import migrate
    from trustflow.db import default_engine

    engine = default_engine()
    if not migrate.is_current(engine):
        console.print("[red]store_not_migrated[/red]: run `trustflow db upgrade` first")
        raise typer.Exit(2)
    return engine


def _parse_as_of(value: str | None) -> Any:
    return _parse_time(value, "--as-of")


def _not_later_than_now(when: Any, what: str) -> Any:
    """``when`` (default: now), refused if it is still to come: a job that settles or
    expires as of the future would act on windows not yet closed."""
    from trustflow.db import utcnow
    from trustflow.errors import InvalidInput

    now = utcnow()
    if when is not None and when > now:
        raise InvalidInput(f"{what} {when.isoformat()} is still to come; leave it out for now")
    return when or now


def _parse_time(value: str | None, what: str) -> Any:
    """An ISO 8601 time with a zone from the command line, in the accepted span, or None."""
    from datetime import datetime

    from trustflow.errors import InvalidInput
    from trustflow.types import utc_instant

    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{what} must be an ISO 8601 time, got {value!r}") from exc
    return utc_instant(when, what)


@warehouse_app.command("export")
def warehouse_export(
    full: Annotated[bool, typer.Option(help="Rewrite everything, ignoring watermarks.")] = False,
) -> None:
    """Copy what changed in the store since the last export into the warehouse files."""
    from trustflow.config import get_settings
    from trustflow.db import default_engine
    from trustflow.warehouse.export import export

    with _clear_errors(), console.status("exporting the store to the warehouse"):
        report = export(default_engine(), get_settings().warehouse_files, full=full)
    for name, info in report.tables.items():
        console.print(f"{name:<12} {info['rows']:>10,} rows  {info['partitions']:>5} partitions")


@scores_app.command("compute")
def scores_compute(
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Score as of this time (ISO 8601 with zone); default: just after the newest "
            "activity of the store's newest busy day (about now for a live store)."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Publish even an as-of outside the store's data, or a version that drops "
            "more than 10% of a kind's scores."
        ),
    ] = False,
) -> None:
    """The nightly job: export by watermark, compute all three scores, publish a new version."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from trustflow.config import get_settings
    from trustflow.scoring.service import compute_scores

    with _clear_errors():
        when = _parse_as_of(as_of)
        engine = _migrated_engine()
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("starting", total=None)
            run = compute_scores(
                engine,
                get_settings().warehouse_files,
                as_of=when,
                force=force,
                progress=lambda msg: progress.update(task, description=msg),
            )
    console.print(
        f"[green]score version {run.version_id} active[/green] as of {run.as_of.isoformat()}: "
        + ", ".join(f"{n:,} {kind}" for kind, n in sorted(run.entities.items()))
        + f" (computed in {run.seconds_compute:.2f} s)"
    )


def _parse_day(value: str | None, what: str) -> Any:
    from datetime import UTC, date, datetime

    from trustflow.errors import InvalidInput
    from trustflow.types import check_day

    if value is None:
        return datetime.now(UTC).date()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a date like 2026-03-01, not {value!r}") from None
    return check_day(day, what)


class SolverName(StrEnum):
    DUAL = "dual"
    EXACT = "exact"


@traffic_app.command("plan")
def traffic_plan(
    day: Annotated[str | None, typer.Option(help="Plan day (UTC date); default: today.")] = None,
    solver: Annotated[SolverName, typer.Option(help="dual (production) or exact (HiGHS).")] = (
        SolverName.DUAL
    ),
    activate: Annotated[bool, typer.Option(help="Switch the new plan in.")] = True,
) -> None:
    """The daily job: export by watermark, promise the day's Chuanliu reward traffic, forecast
    supply, value candidates, solve the plan, store it and switch it in."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from trustflow.config import get_settings
    from trustflow.traffic.flows import run_daily_plan

    with _clear_errors():
        plan_day = _parse_day(day, "--day")
        engine = _migrated_engine()
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("starting", total=None)
            daily = run_daily_plan(
                engine,
                get_settings().warehouse_files,
                plan_day,
                solver=solver.value,
                activate=activate,
                on_step=lambda name: progress.update(task, description=name),
            )
    plan, built = daily.plan, daily.built
    sol = built.solution
    console.print(
        f"[green]{plan.version}[/green] for {plan_day} ({plan.status.value}): "
        f"{daily.candidates:,} candidates, {built.problem.n_nodes:,} supply nodes, "
        f"{built.problem.n_edges:,} edges; expected GMV {sol.objective / 100:,.0f} yuan; "
        f"solved in {sol.seconds:.2f} s; worst promise shortfall {sol.max_shortfall:.2%}"
    )


@traffic_app.command("report")
def traffic_report(
    start: Annotated[str | None, typer.Option(help="First day (UTC date); default: end − 6.")] = (
        None
    ),
    end: Annotated[str | None, typer.Option(help="Last day (UTC date); default: today.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write traffic_health.html here.")] = None,
) -> None:
    """Ecosystem health: concentration (Gini), new merchants' share, promised vs delivered
    reward traffic, per day."""
    from datetime import timedelta

    from trustflow import cli_views
    from trustflow.analytics.flows import run_health_report
    from trustflow.config import get_settings
    from trustflow.db import default_engine
    from trustflow.types import FIRST_DAY
    from trustflow.web import health_chart

    with _clear_errors():
        last = _parse_day(end, "--end")
        first = _parse_day(start, "--start") if start else max(last - timedelta(days=6), FIRST_DAY)
        with console.status("starting") as status:
            report = run_health_report(
                default_engine(),
                get_settings().warehouse_files,
                start=first,
                end=last,
                on_step=status.update,
            )
        tables = Console()
        if not tables.is_terminal:
            tables = Console(width=PIPED_WIDTH)
        for table in cli_views.render_text(report):
            tables.print(table)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            console.print(f"chart: {health_chart.write_chart(report, out / 'traffic_health.html')}")


class Scale(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class FestivalName(StrEnum):
    F116 = "116"


class PolicyName(StrEnum):
    BASELINE = "baseline"
    UNIFORM = "uniform"
    CHUANLIU = "chuanliu"
    PLAN = "plan"


@app.command()
def demo(
    days: Annotated[int, typer.Option(min=1, max=365, help="Days to simulate.")] = 30,
    seed: Annotated[int, typer.Option(min=0, max=2**31 - 1, help="Same seed, same market.")] = 7,
    scale: Annotated[Scale, typer.Option(help="Marketplace size.")] = Scale.SMALL,
    out: Annotated[Path, typer.Option(help="Where the store, summary and report go.")] = Path(
        "out"
    ),
    policy: Annotated[
        PolicyName, typer.Option(help="Feed policy that serves the traffic.")
    ] = PolicyName.BASELINE,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace the store an earlier run left in --out (and the API keys made on it).",
        ),
    ] = False,
    festival: Annotated[
        FestivalName | None,
        typer.Option(
            help="Run a festival inside the simulated days: registration, boost traffic, "
            "campaign prices and a platform coupon (summary.json's campaigns)."
        ),
    ] = None,
) -> None:
    """Build a synthetic marketplace, run it day by day, write summary.json and report.html.

    The same seed gives the same summary.json, byte for byte; how long each step took goes to
    timings.json beside it. Two runs with the same seed and different --policy differ only by
    the policy: compare their summary.json files to see what the policy is worth. A --out
    that already holds a store is refused unless --force.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from trustflow.simulate import config_for
    from trustflow.simulate.demo import run_demo
    from trustflow.simulate.festival import festival_config
    from trustflow.simulate.market import DayStats
    from trustflow.simulate.plan_policy import POLICIES
    from trustflow.simulate.runner import check_output
    from trustflow.web.report import render_report

    config = config_for(scale.value, seed=seed, days=days)  # type: ignore[arg-type]
    festival_name = festival.value if festival is not None else None
    with _clear_errors():
        check_output(out, replace=force)  # before anything is drawn
        if festival_name is not None:
            festival_config(festival_name, days)
    with (
        _clear_errors(),
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[orders]:,} orders"),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        task = progress.add_task("building the marketplace", total=days, orders=0)
        placed = 0

        def day_done(stats: DayStats) -> None:
            nonlocal placed
            placed += stats.orders
            progress.update(task, advance=1, orders=placed)

        run = run_demo(
            config,
            out,
            policy=POLICIES[policy.value](),
            write_report=render_report,
            replace=force,
            on_day=day_done,
            on_built=lambda: progress.update(task, description="simulating days"),
            on_step=lambda name: progress.update(task, description=name),
            festival=festival_name,
        )
    _print_summary(
        run.summary,
        f"trustflow demo · {days} days · seed {seed} · {scale.value} · {policy.value} policy",
    )
    console.print(
        f"summary: {run.summary_path}\ntimings: {run.timings_path}\nreport:  {run.report_path}\n"
        f"store:   {run.store}"
    )
    console.print(f"explore it: TRUSTFLOW_DATABASE_URL=sqlite:///{run.store} trustflow serve")


def _print_summary(s: dict[str, Any], title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("shops / creators / buyers", f"{s['shops']} / {s['creators']} / {s['buyers']:,}")
    table.add_row("paid orders", f"{s['orders']:,}")
    table.add_row("GMV (yuan)", f"{s['gmv_yuan']:,}")
    for field, value in s["gmv_by_channel_yuan"].items():
        table.add_row(f"  {field}", f"{value:,}")
    table.add_row("refund rate", f"{s['refund_rate']:.1%}")
    scores = s.get("scores", {})
    for kind, label in (("store", "store"), ("product", "product"), ("creator", "creator")):
        tiers = scores.get("tiers", {}).get(kind)
        if tiers:
            table.add_row(
                f"{label} scores: excellent/good/fair/low",
                "/".join(str(tiers.get(t, 0)) for t in ("excellent", "good", "fair", "low")),
            )
    if "store_spearman_vs_truth" in scores:
        table.add_row(
            "store score vs hidden truth (Spearman)", f"{scores['store_spearman_vs_truth']}"
        )
    table.add_row(
        "follow page GMV / 1,000 impressions", f"{s['follow_gmv_per_1000_impressions_yuan']:,}"
    )
    for c in s.get("campaigns", []):
        table.add_row(
            f"{escape(str(c['name']))}: orders / GMV (yuan)", f"{c['orders']:,} / {c['gmv_yuan']:,}"
        )
        table.add_row(
            "  subsidy spent / budget (yuan)",
            f"{c['subsidy_spent_yuan']:,} / {c['subsidy_budget_yuan']:,}",
        )
        table.add_row(
            "  boost impressions delivered / promised",
            f"{c['boost_delivered']:,} / {c['boost_promised']:,}",
        )
        table.add_row(
            "  registrations approved / refused",
            f"{c['registrations']['approved']} / {c['registrations_refused']}",
        )
        lift = c.get("incremental_gmv")
        if lift:
            table.add_row(
                f"  incremental GMV, {lift['confidence']:.0%} interval (yuan)",
                f"{lift['incremental_gmv_yuan']:,}"
                f" ({lift['ci_low_yuan']:,} … {lift['ci_high_yuan']:,})",
            )
    console.print(table)


def main() -> None:
    """The ``trustflow`` console entry point: the app, where a failure nobody foresaw is still
    one line with a code (``internal_error``, exit 1), never a traceback. Usage errors keep
    Click's message and exit code 2."""
    from trustflow.errors import ErrorCode

    try:
        app()
    except Exception as exc:
        message = " ".join(str(exc).split())
        sys.stderr.write(f"{ErrorCode.INTERNAL.value}: {type(exc).__name__}: {message}\n")
        raise SystemExit(1) from None


@commission_app.command("settle")
def commission_settle(
    at: Annotated[
        str | None, typer.Option(help="Settle as of this time (ISO 8601 with a zone); now.")
    ] = None,
) -> None:
    """The daily job: settle the commission of every order whose after-sales window has
    closed with no request open (what remains after reversals goes to the creator)."""
    from trustflow.aftersales.settlement import settle_commissions
    from trustflow.db import session_factory, transaction

    with _clear_errors():
        when = _not_later_than_now(_parse_time(at, "--at"), "--at")
        engine = _migrated_engine()
        with transaction(session_factory(engine)) as session:
            done = settle_commissions(session, at=when)
    console.print(
        f"[green]settled[/green] {done.orders:,} orders as of {when.isoformat()}:"
        f" {done.amount_fen / 100:,.2f} yuan of commission"
    )


@commission_app.command("statement")
def commission_statement(
    creator: Annotated[int, typer.Option(min=1, max=MAX_ID, help="The creator's id.")],
    start: Annotated[str, typer.Option(help="First instant (ISO 8601 with a zone).")],
    end: Annotated[str, typer.Option(help="End of the period, exclusive.")],
) -> None:
    """A creator's commission for [START, END): accrued, reversed, settled, and pending at
    each end of the period."""
    from rich.table import Table

    from trustflow.accounts.models import Creator
    from trustflow.db import get_or_raise, session_factory
    from trustflow.orders import commission

    with _clear_errors(), session_factory()() as session:
        first, last = _parse_time(start, "--start"), _parse_time(end, "--end")
        get_or_raise(session, Creator, creator, "creator")
        result = commission.statement(session, creator_id=creator, start=first, end=last)
    table = Table(
        title=f"creator {creator}: commission from {first.isoformat()} to {last.isoformat()}"
    )
    table.add_column("")
    table.add_column("yuan", justify="right")
    for label, fen in (
        ("pending at start", result.pending_at_start_fen),
        ("accrued", result.accrued_fen),
        ("reversed", -result.reversed_fen),
        ("settled", -result.settled_fen),
        ("pending at end", result.pending_at_end_fen),
    ):
        table.add_row(label, f"{fen / 100:,.2f}")
    console.print(table)
    console.print(f"{result.orders:,} orders moved in the period")


@app.command("import")
def import_history(
    folder: Annotated[
        Path, typer.Argument(help="The directory of files to import (docs/import.md).")
    ],
    example: Annotated[
        bool, typer.Option("--example", help="Write a small valid set into FOLDER instead.")
    ] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid", help="Write the good rows; copy the refused ones to --rejected."
        ),
    ] = False,
    report: Annotated[
        Path, typer.Option(help="Where the report of refused rows goes (CSV).")
    ] = Path("import-report.csv"),
    rejected: Annotated[
        Path, typer.Option(help="Where --skip-invalid copies the refused rows.")
    ] = Path("import-rejected"),
) -> None:
    """Import a marketplace's history: every row is checked before anything is written; a
    second run of the same files adds nothing."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from sqlalchemy.exc import SQLAlchemyError

    from trustflow.errors import TrustflowError
    from trustflow.importing.example import write_example
    from trustflow.importing.flows import run_import, write_rejected

    with _clear_errors():
        if example:
            paths = write_example(folder)
            console.print(f"[green]wrote {len(paths)} files[/green] to {folder}: try")
            console.print(f"  trustflow import {folder}", soft_wrap=True)
            return
        if not folder.is_dir():
            raise _refusal("not_found", f"{folder} is not a directory")
        # where the report and the refused rows go is checked before anything is written
        if not report.parent.is_dir() or report.is_dir():
            raise _refusal("io_error", f"cannot write the report to {report}")
        if rejected.exists() and not rejected.is_dir():
            raise _refusal("io_error", f"{rejected} is a file: --rejected names a folder")
        engine = _migrated_engine()
        with Progress(
            TextColumn("{task.description:<40}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("importing", total=None)
            try:
                result, checked = run_import(
                    engine,
                    folder,
                    skip_invalid=skip_invalid,
                    on_step=lambda what, done, total: progress.update(
                        task, description=what, completed=done, total=total
                    ),
                )
            except (TrustflowError, OSError, SQLAlchemyError):
                raise
            except Exception as exc:  # a file no check foresaw: one line, nothing written
                raise _refusal(
                    "unreadable_file", f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                ) from exc
    table = Table(title=f"import of {folder}")
    for name in ("file", "written", "already there", "refused"):
        table.add_column(name, justify="left" if name == "file" else "right")
    for name in result.refused:
        table.add_row(
            name,
            f"{result.written.get(name, 0):,}",
            f"{result.present.get(name, 0):,}",
            f"{result.refused[name]:,}",
        )
    console.print(table)
    if result.report.height:
        with _clear_errors():
            result.report.write_csv(report)
            copies = write_rejected(checked, result.report, rejected) if result.wrote else []
        for row in result.report.head(10).iter_rows(named=True):
            console.print(
                f"[red]{row['code']}[/red]: {escape(str(row['file']))} row {row['row']}"
                f" {escape(str(row['column']))}: {escape(str(row['reason']))}",
                soft_wrap=True,
            )
        console.print(f"{result.report.height:,} problems in all: {report}")
        if result.wrote:
            console.print(f"refused rows copied to {rejected} ({len(copies)} files)")
    if result.blocked:
        console.print("[red]nothing written[/red]: fix the rows, or pass --skip-invalid")
        raise typer.Exit(2)


@app.command("export-history")
def export_history_command(
    folder: Annotated[Path, typer.Argument(help="Where to write the files (docs/import.md).")],
) -> None:
    """Write the store's history in the import format (Parquet): what `trustflow import`
    reads back, into this store or another."""
    from trustflow.db import default_engine, session_factory
    from trustflow.importing.export import export_history

    with _clear_errors(), session_factory(default_engine())() as session:
        if folder.exists() and any(folder.iterdir()):
            raise _refusal("output_exists", f"{folder} is not empty: name an empty or new folder")
        written = export_history(session, folder)
    console.print(
        f"[green]wrote {sum(written.values()):,} rows[/green] in {len(written)} files to {folder}"
    )


@campaigns_app.command("report")
def campaigns_report(
    campaign: Annotated[int, typer.Option(help="The campaign's id.", min=1)],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead.")] = False,
) -> None:
    """What a campaign brought: orders, GMV, buyers new to the shop, subsidy spent and GMV
    per yuan of it, its registrations by answer, boost traffic promised and delivered, and
    its incremental GMV with an interval when it keeps a holdout."""
    import json

    from rich.markup import escape
    from rich.table import Table

    from trustflow.analytics.campaign_lift import campaign_report
    from trustflow.db import session_factory, utcnow

    with _clear_errors():
        engine = _migrated_engine()
        with session_factory(engine)() as session:
            figures = campaign_report(session, campaign, as_of=utcnow())
    if as_json:
        print(json.dumps(figures, default=str))
        return
    table = Table(title=f"campaign {figures['campaign_id']}: {escape(str(figures['name']))}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        if key in ("campaign_id", "name"):
            continue
        if value is None:
            table.add_row(key, "–")
        elif isinstance(value, dict):
            table.add_row(key, "")
            for part, n in value.items():
                table.add_row(f"  {escape(str(part))}", str(n))
        else:
            table.add_row(key, str(value))
    console.print(table)


@campaigns_app.command("reconcile")
def campaigns_reconcile(
    day: Annotated[
        str | None, typer.Option(help="The day to reconcile (UTC, like 2026-11-01); yesterday.")
    ] = None,
) -> None:
    """The nightly job: set each festival boost promise's delivered impressions for the day
    from the impressions log (the reward traffic feed serving labelled with the campaign's
    plan), for every campaign that promised anything that day. Safe to run again."""
    from datetime import UTC, datetime, timedelta

    from rich.table import Table

    from trustflow.db import session_factory, transaction
    from trustflow.errors import InvalidInput
    from trustflow.traffic.festival import reconcile_running

    with _clear_errors():
        when = (
            _parse_day(day, "--day")
            if day is not None
            else datetime.now(UTC).date() - timedelta(days=1)
        )
        if when > datetime.now(UTC).date():
            raise InvalidInput(f"--day {when} is in the future")
        engine = _migrated_engine()
        with transaction(session_factory(engine)) as session:
            days = reconcile_running(session, when)
    table = Table(title=f"festival boost traffic on {when}")
    for column in ("campaign", "shops", "promised", "delivered"):
        table.add_column(column, justify="right")
    for campaign, total in days:
        table.add_row(
            str(campaign), f"{total.shops:,}", f"{total.promised:,}", f"{total.delivered:,}"
        )
    console.print(table if days else f"no festival promised boost traffic on {when}")


@campaigns_app.command("new-products")
def campaigns_new_products(
    as_of: Annotated[
        str | None, typer.Option(help="As of this time (ISO 8601 with a zone); now.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead.")] = False,
) -> None:
    """The new-product plan's progress: products listed in the last 90 days, what they sold,
    the share of lines to buyers new to the product, and how many passed each GMV threshold
    against the plan's target (brings the warehouse up to date first)."""
    import json

    from rich.table import Table

    from trustflow.campaigns.new_products import new_product_progress
    from trustflow.config import get_settings
    from trustflow.warehouse.export import export

    with _clear_errors():
        when = _not_later_than_now(_parse_as_of(as_of), "--as-of")
        engine = _migrated_engine()
        root = get_settings().warehouse_files
        export(engine, root)
        figures = new_product_progress(root, as_of=when).as_dict()
    if as_json:
        print(json.dumps(figures, default=str))
        return
    table = Table(title=f"new-product plan as of {figures['as_of']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        if key not in ("as_of", "thresholds"):
            table.add_row(key, str(value))
    for t in figures["thresholds"]:
        table.add_row(f"past {t['gmv_yuan']:,} yuan", f"{t['products']:,} of {t['target']:,}")
    console.print(table)


@orders_app.command("expire-unpaid")
def orders_expire_unpaid(
    at: Annotated[
        str | None, typer.Option(help="Expire as of this time (ISO 8601 with a zone); now.")
    ] = None,
) -> None:
    """The frequent job: cancel orders left unpaid longer than unpaid_order_ttl_minutes
    (their stock goes back on sale), mark the checkouts they emptied as expired, and settle
    coupon claims: those reserved for an expired checkout go back to their buyers, those of
    a paid one are redeemed, those of orders refunded in full return to the budget, and
    unused ones past their coupon's validity expire."""
    from datetime import timedelta

    from trustflow.campaigns.checkout import settle_claims
    from trustflow.campaigns.coupons import expire_claims
    from trustflow.config import get_settings
    from trustflow.db import session_factory, transaction
    from trustflow.orders.checkout import expire_unpaid

    with _clear_errors():
        when = _not_later_than_now(_parse_time(at, "--at"), "--at")
        engine = _migrated_engine()
        ttl = timedelta(minutes=get_settings().unpaid_order_ttl_minutes)
        with transaction(session_factory(engine)) as session:
            cancelled = expire_unpaid(session, older_than=ttl, at=when)
            settled = settle_claims(session, at=when)
            lapsed = expire_claims(session, at=when)
    console.print(
        f"[green]expired[/green] {cancelled:,} orders left unpaid over {ttl};"
        f" {settled:,} coupon claims settled, {lapsed:,} expired unused"
    )
