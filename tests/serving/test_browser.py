"""The heatmap page in a real browser: Debian's Chromium, headless, driven by Playwright.

Skipped with the reason when /usr/bin/chromium is absent (.ci/run installs it with apt).
The screenshot lands in tests/artifacts/heatmap.png (gitignored) for a human to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PAGE_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install chromium; .ci/run does it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def test_heatmap_page_renders(browser, live_server):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        resp = page.goto(f"{live_server.url}/ui/heatmap?timeframe=1M", timeout=PAGE_TIMEOUT_MS)
        assert resp is not None and resp.status == 200
        rows = page.locator("tr.sector-row")
        assert rows.count() == 11
        banner = page.locator("#data-banner")
        assert banner.is_visible() and "DEMO DATA" in banner.inner_text()
        tickers = set(page.eval_on_selector_all("tr.sector-row", "els => els.map(e => e.dataset.ticker)"))
        assert tickers == {"XLB", "XLC", "XLE", "XLF", "XLI", "XLK", "XLP", "XLRE", "XLU", "XLV", "XLY"}
        # both column groups are on the page, and every health cell carries a colour
        assert page.locator("th.group-descriptive").is_visible() and page.locator("th.group-predicted").is_visible()
        colours = page.eval_on_selector_all("td.health", "els => els.map(e => getComputedStyle(e).backgroundColor)")
        assert len(colours) == 11 and all(c.startswith("rgb") for c in colours)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "heatmap.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    finally:
        page.close()
