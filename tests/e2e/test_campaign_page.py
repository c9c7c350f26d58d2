"""The operator dashboard's campaigns: each campaign's results on one row, its name drawn as
text, in both languages."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import factories
from tests.e2e.conftest import open_page, operator_key, require_chromium, serve, sign_in
from trustflow.campaigns import festivals
from trustflow.db import make_engine, session_factory, transaction

MARKUP = '<a href="https://evil.example/login">Claim your subsidy</a>'
OPENS = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def campaign_store(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    require_chromium()
    path = tmp_path_factory.mktemp("campaigns") / "trustflow.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with transaction(session_factory(engine)) as s:
        # a marketplace with one sale, so the overview above the campaigns has a day to draw
        shop = factories.seller(
            s, category_id=factories.category(s), price_fen=9_900, at=OPENS - timedelta(days=1)
        )
        factories.paid_order(s, buyer_id=factories.buyer(s), sku_id=shop.sku_id, key="k", at=OPENS)
        festivals.create_campaign(
            s,
            festivals.CampaignSpec(
                name=MARKUP,
                registration_from=OPENS,
                registration_to=OPENS + timedelta(days=5),
                warmup_from=OPENS + timedelta(days=5),
                main_from=OPENS + timedelta(days=8),
                main_to=OPENS + timedelta(days=12),
                traffic_budget=1_000,
                subsidy_budget_fen=250_000,
            ),
            actor="ops",
            at=OPENS,
        )
    key = operator_key(engine)
    with serve(engine) as url:
        yield url, key
    engine.dispose()


def test_a_campaign_is_listed_with_its_results_and_its_name_as_text(
    campaign_store: tuple[str, str], browser: Any
) -> None:
    url, key = campaign_store
    page = open_page(browser, url + "/", lang="en")
    sign_in(page, key, "#campaign-rows tr[data-campaign]")

    row = page.locator("#campaign-rows tr[data-campaign]").first
    cells = row.locator("td").all_text_contents()
    assert cells[0] == MARKUP
    assert cells[2] == "0.00 / 2500.00"  # nothing spent of its 2,500 yuan
    assert page.locator("#campaign-rows a").count() == 0
    assert "Campaigns" in page.locator("#campaigns h2").inner_text()
    page.click("#lang")
    assert "大促活动" in page.locator("#campaigns h2").inner_text()
