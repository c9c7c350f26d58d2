"""The ``trustflow`` command line: an adapter over the services, nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

console = Console(stderr=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from trustflow import migrate
    from trustflow.db import default_engine

    migrate.upgrade(default_engine(), revision)
    console.print(f"[green]schema at {revision}[/green]")


@db_app.command("downgrade")
def db_downgrade(revision: str = "base") -> None:
    """Undo migrations down to REVISION (default: an empty store)."""
    from trustflow import migrate
    from trustflow.db import default_engine

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
    from trustflow.errors import TrustflowError

    try:
        with transaction(session_factory()) as session:
            _, secret = accounts_service.create_api_key(
                session, role=role, subject_id=subject_id, label=label
            )
    except TrustflowError as exc:
        console.print(f"[red]{exc.code.value}[/red]: {exc.message}")
        raise typer.Exit(2) from exc
    typer.echo(secret)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 1,
) -> None:
    """Serve the API (``/api/v1``, OpenAPI at ``/openapi.json``)."""
    import uvicorn

    uvicorn.run(
        "trustflow.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


@app.command()
def demo(
    days: Annotated[int, typer.Option(min=1, max=365, help="Days to simulate.")] = 30,
    seed: Annotated[
        int, typer.Option(min=0, max=2**31 - 1, help="Same seed, same marketplace.")
    ] = 7,
    scale: Annotated[str, typer.Option(help="small | medium | large")] = "small",
    out: Annotated[Path, typer.Option(help="Where the store, summary and report go.")] = Path(
        "out"
    ),
) -> None:
    """Build a synthetic marketplace, run it day by day, write summary.json and report.html."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from trustflow.simulate import config_for, run_simulation, write_summary
    from trustflow.web.report import render_report

    if scale not in ("small", "medium", "large"):
        console.print(
            f"[red]invalid_input[/red]: --scale must be small, medium or large, not {scale!r}"
        )
        raise typer.Exit(2)
    config = config_for(scale, seed=seed, days=days)  # type: ignore[arg-type]
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[orders]:,} orders"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("building marketplace", total=days, orders=0)
        totals = {"orders": 0}

        def day_done(stats: object) -> None:
            totals["orders"] += stats.orders  # type: ignore[attr-defined]
            progress.update(task, advance=1, description="simulating days", orders=totals["orders"])

        run = run_simulation(
            config,
            out,
            on_day=day_done,
            on_built=lambda: progress.update(task, description="simulating days"),
        )
    summary_path = write_summary(run.summary, out / "summary.json")
    from trustflow.db import session_factory

    with session_factory(run.engine)() as session:
        report_path = render_report(session, run.summary, out / "report.html")
    s = run.summary
    table = Table(title=f"trustflow demo · {days} days · seed {seed} · {scale}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("shops / creators / buyers", f"{s['shops']} / {s['creators']} / {s['buyers']:,}")
    table.add_row("paid orders", f"{s['orders']:,}")
    table.add_row("GMV (yuan)", f"{s['gmv_yuan']:,}")
    for field, value in s["gmv_by_channel_yuan"].items():
        table.add_row(f"  {field}", f"{value:,}")
    table.add_row("refund rate", f"{s['refund_rate']:.1%}")
    console.print(table)
    console.print(f"summary: {summary_path}\nreport:  {report_path}\nstore:   {run.store}")
    console.print(f"explore it: TRUSTFLOW_DATABASE_URL=sqlite:///{run.store} trustflow serve")


def main() -> None:  # pragma: no cover - console entry point
    app()
