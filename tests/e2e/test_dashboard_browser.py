"""The dashboard as an operator meets it, in a real (headless) Chromium."""

from __future__ import annotations

from pathlib import Path

from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Role
from trustflow.db import session_factory, transaction
from trustflow.simulate import SimulationRun, write_summary
from trustflow.web.report import render_report


def test_an_operator_sees_the_marketplace_in_both_languages(
    served: tuple[str, str], browser: object, tmp_path: Path
) -> None:
    url, key = served
    page = browser.new_page(viewport={"width": 1280, "height": 1800})  # type: ignore[attr-defined]
    page.add_init_script("localStorage.setItem('trustflow-lang', 'en')")
    page.goto(url + "/")
    assert "Enter an operator API key" in page.inner_text("#message")

    page.fill("#key", key)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#chart-gmv .main-svg", timeout=15_000)

    assert page.inner_text("#message") == ""
    assert "GMV (yuan)" in page.inner_text("#tiles")
    assert page.locator("#chart-traffic .bars .point").count() == 7  # one bar per surface
    # the axes read as a person expects: surfaces and shops by name, not as dates
    traffic_axis = page.locator("#chart-traffic .xaxislayer-above").text_content() or ""
    shops_axis = page.locator("#chart-top .yaxislayer-above").text_content() or ""
    assert "Follow" in traffic_axis and "Shop" in shops_axis
    assert "1970" not in (page.locator("#chart-top .xaxislayer-above").text_content() or "")
    page.click("#lang")
    assert "成交额" in page.inner_text("#tiles")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)


def test_a_wrong_key_is_told_plainly(served: tuple[str, str], browser: object) -> None:
    url, _ = served
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(url + "/")
    page.fill("#key", "tfk_000000000000_wrong")
    page.click("#login button[type=submit]")
    page.wait_for_function("document.querySelector('#message').textContent.includes('unauth')")

    assert "unauthenticated" in page.inner_text("#message")
    assert page.locator("#chart-gmv .main-svg").count() == 0


def test_the_demo_report_opens_offline_with_its_charts(
    run: SimulationRun, browser: object, tmp_path: Path
) -> None:
    write_summary(run.summary, tmp_path / "summary.json")
    with session_factory(run.engine)() as session:
        report = render_report(session, run.summary, tmp_path / "report.html")
    context = browser.new_context(offline=True)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(report.as_uri())

    page.wait_for_selector("#chart-traffic .main-svg", timeout=15_000)
    assert page.locator(".main-svg").count() >= 4
    assert "Follow" in (page.locator("#chart-traffic .xaxislayer-above").text_content() or "")
    page.click("#lang")
    assert page.locator("h2 [lang=zh]").first.is_visible()
    context.close()


def test_a_merchant_reads_its_own_score_breakdown_hints_and_trend(
    run: SimulationRun, served: tuple[str, str], browser: object, tmp_path: Path
) -> None:
    from trustflow.scoring.rules import STORE
    from trustflow.scoring.service import compute_scores

    compute_scores(run.engine, tmp_path / "warehouse")
    with transaction(session_factory(run.engine)) as s:
        _, key = accounts_service.create_api_key(s, role=Role.MERCHANT, subject_id=1)
    url, _ = served
    page = browser.new_page(viewport={"width": 1200, "height": 1600})  # type: ignore[attr-defined]
    page.add_init_script("localStorage.setItem('trustflow-lang', 'en')")
    page.goto(url + "/scores")
    page.fill("#key", key)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#chart-trend .main-svg", timeout=15_000)

    assert page.inner_text("#message") == ""
    assert page.locator("#shop option").count() >= 1
    assert float(page.inner_text("#score")) > 0
    assert "interval" in page.inner_text("#interval")
    assert page.locator("#breakdown tr").count() == len(STORE.metrics)
    assert page.locator("#hints li").count() >= 1
    assert page.locator("#gates tr").count() == 3
    shop_id = page.locator("#shop").input_value()
    gates = page.request.get(
        f"{url}/api/v1/scores/shops/{shop_id}/eligibility", headers={"X-API-Key": key}
    ).json()
    decisions = [gates[k] for k in ("campaign_good", "campaign_excellent", "rewards")]
    assert page.locator("#gates td.muted").all_inner_texts() == [d["reason"] for d in decisions]
    page.click("#lang")
    assert "店铺体验分" in page.inner_text("#title")
    assert "差评率" in page.inner_text("#breakdown")
    # each gate's reason in Chinese where the API gives one, else the English sentence
    assert page.locator("#gates td.muted").all_inner_texts() == [
        d.get("reason_zh") or d["reason"] for d in decisions
    ]
    # the trend chart's legend and axis title follow the language too
    trend = page.locator("#chart-trend")
    assert "分数" in (trend.locator(".legend").text_content() or "")
    assert "分数" in (trend.locator(".g-ytitle").text_content() or "")
    page.screenshot(path=str(tmp_path / "scores.png"), full_page=True)


def test_an_operator_works_through_the_score_review_queue(
    run: SimulationRun, served: tuple[str, str], browser: object
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from tests import factories
    from trustflow.aftersales.models import Review
    from trustflow.scoring import service as scoring_service
    from trustflow.scoring.models import AppealStatus, DefectKind, ScoreAppeal

    with transaction(session_factory(run.engine)) as s:
        sold = factories.seller(s, category_id=factories.category(s, "queue"), name="Queue")
        factories.delivered_orders(
            s,
            sold,
            buyer_id=factories.buyer(s),
            count=1,
            start=datetime(2026, 1, 1, tzinfo=UTC),
            stars=[1],
            key="queue",
        )
        review_id = s.scalar(select(Review.id).where(Review.shop_id == sold.shop_id))
        assert review_id is not None
        appeal = scoring_service.file_appeal(
            s,
            shop_id=sold.shop_id,
            defect_kind=DefectKind.REVIEW,
            defect_id=review_id,
            reason="the parcel went to another address",
        )
        appeal_id = appeal.id
    url, key = served
    page = browser.new_page(viewport={"width": 1280, "height": 2400})  # type: ignore[attr-defined]
    page.add_init_script("localStorage.setItem('trustflow-lang', 'en')")
    page.goto(url + "/")
    page.fill("#key", key)
    page.click("#login button[type=submit]")
    uphold = page.locator(f"#appeals button[data-action=uphold][data-id='{appeal_id}']")
    uphold.wait_for(timeout=15_000)
    assert "another address" in page.inner_text("#appeals")
    uphold.click()
    page.wait_for_function(
        f"!document.querySelector(\"#appeals button[data-id='{appeal_id}']\")", timeout=15_000
    )
    with session_factory(run.engine)() as s:
        assert s.get(ScoreAppeal, appeal_id).status is AppealStatus.UPHELD  # type: ignore[union-attr]
