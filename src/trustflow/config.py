"""Settings, read once from the environment (prefix ``TRUSTFLOW_``).

Domain code never reads ``os.environ``; it asks :func:`get_settings`.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

#: the shortest secret key accepted
MIN_SECRET_LENGTH = 32


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
        description="DuckDB file of the warehouse (its Parquet files live beside it: "
        "warehouse.duckdb -> warehouse/). Empty means beside the store: warehouse.duckdb in the "
        "folder of a SQLite store file (var/trustflow.db -> var/warehouse.duckdb, the demo's "
        "out/marketplace.db -> out/warehouse.duckdb), var_dir/warehouse.duckdb for any other "
        "store. A warehouse holds one store's data and refuses another's.",
    )
    sql_echo: bool = False
    page_size_max: int = Field(default=200, ge=1)
    unpaid_order_ttl_minutes: int = Field(
        default=30, ge=1, description="Unpaid orders older than this may be expired."
    )

    # --- Chuanliu plan (川流计划): reward traffic for goods owners whose goods creators
    # distribute and who self-broadcast steadily. Rules and formula: docs/chuanliu.md.
    chuanliu_yearly_pool_impressions: int = Field(
        default=60_000_000_000,
        ge=0,
        description="The plan's yearly reward impressions at the reference platform's size.",
    )
    chuanliu_reference_daily_impressions: int = Field(
        default=10_000_000_000,
        gt=0,
        description="Daily organic impressions of the platform the yearly pool refers to; the "
        "daily pool is yearly / 365 × this marketplace's daily impressions ÷ this.",
    )
    chuanliu_distribution_window_days: int = Field(
        default=30, ge=1, le=365, description="Days of distribution (and GMV) that count."
    )
    chuanliu_min_distributing_creators: int = Field(
        default=1, ge=1, description="Creators who must have sold the owner's goods in the window."
    )
    chuanliu_live_window_days: int = Field(
        default=14, ge=1, le=365, description="Days over which steady self-broadcast is judged."
    )
    chuanliu_min_live_days: int = Field(
        default=4, ge=1, description="Days of the live window with a self-broadcast started."
    )
    chuanliu_creator_share: float = Field(
        default=0.2, ge=0.0, le=1.0, description="Share of the daily pool for creators."
    )
    chuanliu_min_promise_impressions: int = Field(
        default=200,
        ge=0,
        description="The smallest promise: a party's shares of the daily pool accrue until "
        "its unpromised shares reach this, and are then promised together (0: every share "
        "is promised the day it is earned).",
    )

    # --- The daily traffic plan (docs/traffic.md).
    traffic_segments: int = Field(
        default=4, ge=1, le=64, description="Audience segments the plan splits supply into."
    )
    traffic_supply_days: int = Field(
        default=14, ge=1, le=90, description="Days of impressions the supply forecast reads."
    )
    traffic_value_days: int = Field(
        default=28, ge=1, le=180, description="Days of impressions and GMV that value reads."
    )
    traffic_shrinkage_impressions: float = Field(
        default=2_000.0,
        gt=0,
        description="Pseudo-impressions at the category's rate added to each candidate's own.",
    )
    traffic_cap_share: float = Field(
        default=0.02, gt=0, le=1, description="Most of its reachable supply one candidate gets."
    )
    traffic_new_merchant_days: int = Field(
        default=30, ge=1, le=365, description="Shops younger than this get the exploration floor."
    )
    traffic_new_floor_share: float = Field(
        default=0.5,
        ge=0,
        le=10,
        description="A new shop's floor as a share of an equal split of its reachable supply.",
    )

    traffic_flush_seconds: float = Field(
        default=0.0,
        ge=0,
        le=10,
        description="Feed servers batch impressions and pacing counts this long (0: per request).",
    )

    # --- Limits at the API's edge (trustflow.api.limits): per process, kept in memory.
    max_body_bytes: int = Field(
        default=8_388_608,  # 8 MiB: the largest valid body, 10,000 impressions, is about 5 MB
        ge=1_024,
        description="Largest request body accepted; beyond: 413.",
    )
    rate_limit_writes_per_minute: int = Field(
        default=6_000, ge=0, description="POST/PUT/PATCH/DELETE per API key and minute (0: none)."
    )
    rate_limit_reads_per_minute: int = Field(
        default=12_000, ge=0, description="Other requests per API key and minute, the feed apart."
    )
    rate_limit_anonymous_per_minute: int = Field(
        default=3_000,
        ge=0,
        description="Requests per client address and minute without a working key (0: none).",
    )

    # --- Guarantees (消费者保障): who may have what, and how much. Rules: docs/guarantees.md.
    guarantee_no_reason_days: int = Field(
        default=7, ge=1, le=30, description="Days after delivery a no-reason return is accepted."
    )
    guarantee_no_reason_excluded_categories: tuple[str, ...] = Field(
        default=("fresh_food", "custom_made"),
        description="Category codes (and their subcategories') goods a no-reason return excludes.",
    )
    guarantee_refund_only_max_fen: int = Field(
        default=5_000,
        ge=0,
        description="A line paid at most this (fen) may be refunded without a return; above it, "
        "only for a buyer with a clean history.",
    )
    guarantee_refund_only_per_30_days: int = Field(
        default=3, ge=0, description="Refunds without a return one buyer may have in 30 days."
    )
    guarantee_clean_history_days: int = Field(
        default=90,
        ge=1,
        description="The window a buyer's history is clean over: no refund without a return in it.",
    )
    guarantee_trusted_min_account_days: int = Field(
        default=180, ge=0, description="A trusted buyer's account is at least this old."
    )
    guarantee_trusted_min_orders: int = Field(
        default=5, ge=0, description="A trusted buyer has received at least this many orders."
    )
    guarantee_trusted_max_refund_bps: int = Field(
        default=1_000,
        ge=0,
        le=10_000,
        description="A trusted buyer had at most this share (basis points) of received orders "
        "refunded.",
    )
    guarantee_fast_refund_max_fen: int = Field(
        default=200_000, ge=0, description="A fast refund (before the return arrives) up to this."
    )
    guarantee_return_shipping_fen: int = Field(
        default=1_000, ge=0, description="What the platform pays toward a return's shipping."
    )
    guarantee_fake_multiple: int = Field(
        default=10,
        ge=1,
        le=100,
        description="假一赔十: a line an inspection found fake is paid back this many times over.",
    )
    guarantee_used_phone_category: str = Field(
        default="used_phones", description="The category code of used phones (180-day warranty)."
    )
    guarantee_used_phone_warranty_days: int = Field(default=180, ge=1)

    # --- Governance (治理): listing screening. Rules: docs/governance.md.
    governance_prohibited_words: tuple[str, ...] = Field(
        default=("枪支", "弹药", "毒品", "象牙", "犀牛角", "穿山甲", "假币", "窃听器", "迷药"),
        description="Words that, in a product's title, name an item the platform prohibits: "
        "such a listing is intercepted.",
    )
    governance_price_floor_share: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="A branded SKU priced below this share of its brand's reference price is "
        "intercepted as a likely counterfeit.",
    )

    # --- Secrets.
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="The key attribution tokens are signed with (32+ random characters). Empty: "
        "a random key kept in var_dir/secret.key, drawn on first use; every process serving one "
        "store must share it (set this on a deployment of several hosts).",
    )
    attribution_token_minutes: int = Field(
        default=60,
        ge=1,
        le=7 * 24 * 60,
        description="How long an attribution token handed out with a feed item, a room or a "
        "shop page stays valid for an order.",
    )

    @model_validator(mode="after")
    def _chuanliu_live_days_fit_the_window(self) -> Settings:
        if self.chuanliu_min_live_days > self.chuanliu_live_window_days:
            raise ValueError("chuanliu_min_live_days cannot exceed chuanliu_live_window_days")
        return self

    def secret_bytes(self) -> bytes:
        """The deployment's secret: ``secret_key``, else the key file under ``var_dir``
        (created once, readable by its owner only; concurrent first uses agree on the file
        that won)."""
        configured = self.secret_key.get_secret_value()
        if configured:
            if len(configured) < MIN_SECRET_LENGTH:
                raise ValueError(f"secret_key must be at least {MIN_SECRET_LENGTH} characters")
            return configured.encode()
        path = self.var_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            drawn = path.with_name(f".secret.key.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(drawn, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
            try:
                os.link(drawn, path)  # atomic: the file appears whole, or another won
            except FileExistsError:
                pass
            finally:
                drawn.unlink()
        key = path.read_text().strip()
        if len(key) < MIN_SECRET_LENGTH:
            raise ValueError(f"{path} holds no usable key: remove it to draw a new one")
        return key.encode()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'trustflow.db').as_posix()}"

    @property
    def resolved_warehouse(self) -> Path:
        """The warehouse's DuckDB file: as set, else beside the store (see ``warehouse``)."""
        if self.warehouse:
            return Path(self.warehouse)
        return (_sqlite_folder(self.resolved_database_url) or self.var_dir) / "warehouse.duckdb"

    @property
    def warehouse_files(self) -> Path:
        """The Parquet files beside the DuckDB file (``warehouse.duckdb`` -> ``warehouse/``)."""
        return self.resolved_warehouse.with_suffix("")


def _sqlite_folder(url: str) -> Path | None:
    """The folder of a SQLite store file, or ``None`` (another backend, in memory, unparsable:
    the engine reports an unusable URL itself)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):  # a SQLite URI filename: no plain path to stand beside
        return None
    return Path(database).parent


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
