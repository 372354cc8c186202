"""The dashboard, the rotation graph and the sector drill-down in a real browser (Chromium via Playwright)
against a real `bentoml serve` on loopback: one screenshot per view, saved under a temporary folder and
checked (a real picture, not blank), elements present, controls and links working.

Skipped with the reason when Chromium or playwright is absent (as tests/serving/test_browser.py)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_browser import PAGE_TIMEOUT_MS as TIMEOUT_MS
from test_browser import browser  # noqa: F401  (the one Chromium fixture, reused)

pytestmark = pytest.mark.slow
CONSTITUENTS = "demo:sectors=4,stocks=12,years=3,seed=5"


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def members_server(tmp_path_factory):
    """A second real server, on a constituent universe (the demo market with members), no model."""
    from serving_builders import LiveServer

    store = tmp_path_factory.mktemp("members_store") / "mlruns"
    with LiveServer(store, tmp_path_factory.mktemp("members_server"), source=CONSTITUENTS) as server:
        yield server


@contextmanager
def opened(browser, url: str, width: int, height: int) -> Iterator:  # noqa: F811
    """A new page of the given viewport at `url` (checked: 200 OK), closed afterwards."""
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        resp = page.goto(url, timeout=TIMEOUT_MS)
        assert resp is not None and resp.status == 200
        yield page
    finally:
        page.close()


def screenshot(page, path: Path) -> None:
    """Save a full-page screenshot and check it is a real picture: a PNG with many colours, mostly not blank."""
    from PIL import Image

    page.screenshot(path=str(path), full_page=True)
    img = Image.open(io.BytesIO(path.read_bytes())).convert("RGB")
    assert img.width >= 800 and img.height >= 600, img.size
    colours = img.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50, f"{path.name}: only {len(colours)} colours (blank?)"
    white = sum(n for n, c in colours if c == (255, 255, 255)) / (img.width * img.height)
    assert white < 0.97, f"{path.name}: {white:.1%} white"


def test_dashboard_controls_and_links(browser, live_server, shots):  # noqa: F811
    with opened(browser, f"{live_server.url}/ui/heatmap?timeframe=1M", 1500, 1000) as page:
        assert page.locator("tr.sector-row").count() == 11
        assert page.locator("#rotation-graph g.tail").count() == 11
        for label in ("Leading", "Weakening", "Lagging", "Improving"):
            assert page.locator("#rotation-graph text.quadrant-label", has_text=label).count() == 1
        hover = page.locator("#rotation-graph circle.head title").first.text_content() or ""
        assert re.search(r"RS-ratio \d+\.\d\d, RS-momentum \d+\.\d\d", hover), hover
        assert page.locator("#matrix-table tr.matrix-row").count() == 11
        assert page.locator("#data-banner").is_visible()
        assert page.input_value("#control-universe") == "us_sectors" and page.input_value("#control-timeframe") == "1M"
        screenshot(page, shots / "dashboard.png")

        # controls: another timeframe and date, submitted as a form; the metrics asked for are kept
        page.goto(f"{live_server.url}/ui/heatmap?timeframe=1M&metrics=predicted,performance", timeout=TIMEOUT_MS)
        narrowed = page.locator("#heatmap thead th").count()
        assert page.input_value("#control-metrics") == "performance,predicted"
        page.select_option("#control-timeframe", "1W")
        page.fill("#control-as-of", "2024-06-14")
        page.click("#controls button[type=submit]")
        page.wait_for_load_state()
        assert "timeframe=1W" in page.url and "as_of=2024-06-14" in page.url
        assert "metrics=performance%2Cpredicted" in page.url and page.locator("#heatmap thead th").count() == narrowed
        meta = page.locator("p.meta").first.inner_text()
        assert "As of 2024-06-14" in meta and "timeframe 1W" in meta
        assert "2024-06-14" in (page.locator("#rotation-graph > title").text_content() or "")

        # each heatmap row links to its drill-down, for the same date and timeframe
        first = page.locator("tr.sector-row").first
        ticker = first.get_attribute("data-ticker")
        first.locator("a.drill").click()
        page.wait_for_load_state()
        assert "/ui/sector?" in page.url and f"sector={ticker}" in page.url
        assert ticker in page.locator("#sector-title").inner_text()
        assert "no members are loaded" in page.locator("#sector-note").inner_text()
        assert "2024-06-14" in page.locator("p.meta").inner_text()
        screenshot(page, shots / "sector_etf.png")
        page.click("#back")
        page.wait_for_load_state()
        assert page.locator("tr.sector-row").count() == 11

        page.click("#rotation-link")
        page.wait_for_load_state()
        assert "/ui/rotation" in page.url and page.locator("#rotation-graph g.tail").count() == 11
        screenshot(page, shots / "rotation.png")


def test_sector_drilldown_with_members(browser, members_server, shots):  # noqa: F811
    with opened(browser, f"{members_server.url}/ui/heatmap?metrics=performance,breadth", 1300, 900) as page:
        assert page.locator("tr.sector-row").count() == 4
        assert page.input_value("#control-universe") == "demo-4x12"  # the served universe, selected
        heads = page.locator("th.col-descriptive").all_inner_texts()
        assert any("Above 50d avg" in h for h in heads) and any("Net 52w highs" in h for h in heads), heads
        screenshot(page, shots / "dashboard_members.png")
        page.locator("tr.sector-row a.drill").first.click()
        page.wait_for_load_state()
        assert page.locator("#members tr.member-row").count() == 12
        assert page.locator("#breadth").is_visible()
        assert len((page.locator("#top-contributors").inner_text()).split(", ")) == 5
        screenshot(page, shots / "sector_members.png")
