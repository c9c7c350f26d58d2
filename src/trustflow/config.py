"""Settings, read once from the environment (prefix ``TRUSTFLOW_``).

Domain code never reads ``os.environ``; it asks :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a deployment may change without touching code."""

    model_config = SettingsConfigDict(env_prefix="TRUSTFLOW_", extra="ignore")

    var_dir: Path = Field(default=Path("var"), description="Where embedded files live.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the marketplace store; empty means SQLite under var_dir.",
    )
    warehouse: str = Field(
        default="",
        description="DuckDB file of the warehouse; empty means var_dir/warehouse.duckdb.",
    )
    sql_echo: bool = False
    page_size_max: int = Field(default=200, ge=1)
    unpaid_order_ttl_minutes: int = Field(
        default=30, ge=1, description="Unpaid orders older than this may be expired."
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'trustflow.db').as_posix()}"

    @property
    def resolved_warehouse(self) -> Path:
        return Path(self.warehouse) if self.warehouse else self.var_dir / "warehouse.duckdb"

    @property
    def warehouse_files(self) -> Path:
        """The Parquet files beside the DuckDB file (``warehouse.duckdb`` -> ``warehouse/``)."""
        return self.resolved_warehouse.with_suffix("")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
