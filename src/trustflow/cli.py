"""The ``trustflow`` command line: an adapter over the services, nothing more."""

from __future__ import annotations

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


def main() -> None:  # pragma: no cover - console entry point
    app()
