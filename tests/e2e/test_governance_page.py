"""The operator dashboard's governance section: what governance did each of the last 7 days,
in both languages."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import factories
from tests.e2e.conftest import open_page, operator_key, require_chromium, serve, sign_in
from trustflow.catalog import service as catalog_service
from trustflow.db import make_engine, session_factory, transaction, utcnow


@pytest.fixture(scope="module")
def governed_store(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    require_chromium()
    path = tmp_path_factory.mktemp("governance") / "trustflow.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    now = utcnow()
    with transaction(session_factory(engine)) as s:
        shop = factories.seller(s, category_id=factories.category(s), at=now - timedelta(days=1))
        factories.paid_order(s, buyer_id=factories.buyer(s), sku_id=shop.sku_id, key="k", at=now)
        catalog_service.record_violation(
            s, shop_id=shop.shop_id, rule="fake_shipment", reason="no parcel", actor="op", at=now
        )
        catalog_service.create_product(s, shop_id=shop.shop_id, title="象牙 摆件", at=now)
    key = operator_key(engine)
    with serve(engine) as url:
        yield url, key, now.date().isoformat()
    engine.dispose()


def test_today_shows_the_interception_and_the_violation(
    governed_store: tuple[str, str, str], browser: Any
) -> None:
    url, key, today = governed_store
    page = open_page(browser, url + "/", lang="en")
    sign_in(page, key, f'#governance-rows tr[data-day="{today}"]')

    cells = page.locator(f'#governance-rows tr[data-day="{today}"] td').all_text_contents()
    assert cells == [today, "1", "1", "0", "0 · 0"]
    assert page.locator("#governance-rows tr").count() == 7
    page.click("#lang")
    assert "治理" in page.locator("#governance h2").inner_text()
