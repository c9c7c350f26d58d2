"""The ``trustflow`` command line: an adapter over the services, nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from trustflow.accounts.models import Role

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

console = Console(stderr=True)


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Turn failures a user can fix into one line with a stable code, not a traceback."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    from trustflow.errors import TrustflowError

    try:
        yield
    except TrustflowError as exc:
        console.print(f"[red]{exc.code.value}[/red]: {exc.message}")
        raise typer.Exit(2) from exc
    except ArgumentError as exc:
        console.print(f"[red]invalid_settings[/red]: TRUSTFLOW_DATABASE_URL is not usable: {exc}")
        raise typer.Exit(2) from exc
    except OperationalError as exc:
        console.print(f"[red]store_unavailable[/red]: {exc.orig}")
        raise typer.Exit(2) from exc
    except OSError as exc:
        console.print(f"[red]io_error[/red]: {exc}")
        raise typer.Exit(2) from exc


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from trustflow import migrate
    from trustflow.db import default_engine

    with _clear_errors():
        migrate.upgrade(default_engine(), revision)
    console.print(f"[green]schema at {revision}[/green]")


@db_app.command("downgrade")
def db_downgrade(revision: str = "base") -> None:
    """Undo migrations down to REVISION (default: an empty store)."""
    from trustflow import migrate
    from trustflow.db import default_engine

    with _clear_errors():
        migrate.downgrade(default_engine(), revision)
    console.print(f"[yellow]schema at {revision}[/yellow]")


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="Who the key acts as.")],
    subject_id: Annotated[
        int | None, typer.Option(help="The merchant/creator/buyer/provider id the key acts as.")
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
    from trustflow import migrate
    from trustflow.api.server import run
    from trustflow.db import default_engine

    with _clear_errors():
        if not migrate.is_current(default_engine()):
            console.print("[red]store_not_migrated[/red]: run `trustflow db upgrade` first")
            raise typer.Exit(2)

    run(host, port, workers, access_log=access_log)


def _parse_as_of(value: str | None) -> Any:
    from datetime import datetime

    from trustflow.errors import InvalidInput

    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"--as-of must be an ISO 8601 time, got {value!r}") from exc
    if when.tzinfo is None:
        raise InvalidInput("--as-of needs a time zone, e.g. 2026-03-01T00:00:00+00:00")
    return when


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
        typer.Option(help="Score as of this time (ISO 8601 with zone); default: newest data."),
    ] = None,
) -> None:
    """The nightly job: export by watermark, compute all three scores, publish a new version."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from trustflow import migrate
    from trustflow.config import get_settings
    from trustflow.db import default_engine
    from trustflow.scoring.service import compute_scores

    with _clear_errors():
        when = _parse_as_of(as_of)
        engine = default_engine()
        if not migrate.is_current(engine):
            console.print("[red]store_not_migrated[/red]: run `trustflow db upgrade` first")
            raise typer.Exit(2)
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("starting", total=None)
            run = compute_scores(
                engine,
                get_settings().warehouse_files,
                as_of=when,
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

    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a date like 2026-03-01, not {value!r}") from None


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

    from trustflow import migrate
    from trustflow.config import get_settings
    from trustflow.db import default_engine, session_factory
    from trustflow.traffic import plan as tp
    from trustflow.warehouse.export import export

    with _clear_errors():
        plan_day = _parse_day(day, "--day")
        engine = default_engine()
        if not migrate.is_current(engine):
            console.print("[red]store_not_migrated[/red]: run `trustflow db upgrade` first")
            raise typer.Exit(2)
        root = get_settings().warehouse_files
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("exporting the store to the warehouse", total=None)
            export(engine, root)
            with session_factory(engine)() as session:
                progress.update(task, description="forecasting supply and valuing candidates")
                inputs = tp.gather_inputs(session, root, plan_day)
                session.commit()  # the day's Chuanliu promises stand even if the solve fails
                progress.update(task, description=f"solving ({solver.value})")
                built = tp.solve(inputs, solver=solver.value)
                progress.update(task, description="storing the plan")
                plan = tp.store(session, built)
                if activate:
                    tp.activate(session, plan.id)
                session.commit()
    sol = built.solution
    console.print(
        f"[green]{plan.version}[/green] for {plan_day} ({plan.status.value}): "
        f"{len(inputs):,} candidates, {built.problem.n_nodes:,} supply nodes, "
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

    from trustflow.config import get_settings
    from trustflow.db import default_engine, session_factory
    from trustflow.traffic import health
    from trustflow.warehouse.export import export

    with _clear_errors():
        last = _parse_day(end, "--end")
        first = _parse_day(start, "--start") if start else last - timedelta(days=6)
        engine, root = default_engine(), get_settings().warehouse_files
        with console.status("exporting the store to the warehouse"):
            export(engine, root)
        with session_factory(engine)() as session:
            report = health.health_report(root, session, start=first, end=last)
        for table in health.render_text(report):
            console.print(table)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            console.print(f"chart: {health.write_chart(report, out / 'traffic_health.html')}")


class Scale(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


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
) -> None:
    """Build a synthetic marketplace, run it day by day, write summary.json and report.html.

    Two runs with the same seed and different --policy differ only by the policy: compare
    their summary.json files to see what the policy is worth.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from trustflow.db import session_factory
    from trustflow.simulate import config_for, run_simulation, write_summary
    from trustflow.simulate.market import DayStats
    from trustflow.traffic.policy import POLICIES
    from trustflow.web.report import render_report

    config = config_for(scale.value, seed=seed, days=days)  # type: ignore[arg-type]
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

        run = run_simulation(
            config,
            out,
            policy=POLICIES[policy.value](),
            on_day=day_done,
            on_built=lambda: progress.update(task, description="simulating days"),
        )
        progress.update(task, description="scoring shops, products and creators")
        run.summary["scores"] = _demo_scores(run, out)
        summary_path = write_summary(run.summary, out / "summary.json")
        with session_factory(run.engine)() as session:
            report_path = render_report(session, run.summary, out / "report.html")
    _print_summary(
        run.summary,
        f"trustflow demo · {days} days · seed {seed} · {scale.value} · {policy.value} policy",
    )
    console.print(f"summary: {summary_path}\nreport:  {report_path}\nstore:   {run.store}")
    console.print(f"explore it: TRUSTFLOW_DATABASE_URL=sqlite:///{run.store} trustflow serve")


def _demo_scores(run: Any, out: Path) -> dict[str, Any]:
    """Score the simulated marketplace like the nightly job would, and (simulator only) say
    how well the store experience score ranks shops against the hidden truth."""
    from trustflow.db import session_factory
    from trustflow.scoring.service import compute_scores, tier_counts
    from trustflow.simulate.score_quality import evaluate

    scored = compute_scores(run.engine, out / "warehouse")
    quality = evaluate(out / "warehouse", run.truth, days=1)
    with session_factory(run.engine)() as session:
        tiers = tier_counts(session)
    return {
        "version": scored.version_id,
        "as_of": scored.as_of.isoformat(),
        "tiers": tiers,
        "store_spearman_vs_truth": round(quality.spearman_store_vs_truth, 3),
        "compute_seconds": round(scored.seconds_compute, 3),
    }


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
    console.print(table)


def main() -> None:  # pragma: no cover - console entry point
    app()
