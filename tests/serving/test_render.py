"""HTML and PNG pictures of the response: every row, labelled groups, banner only when warranted, escaping."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from serving.heatmap import build_heatmap
from serving.render import DESCRIPTIVE_TITLE, PREDICTED_TITLE, heatmap_html, heatmap_png
from serving.request import HeatmapRequest

FRESH = "2024-07-01T15:00:00Z"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Rows(HTMLParser):
    """Collect sector rows (data-ticker, health cell background and text) and element ids."""

    def __init__(self):
        super().__init__()
        self.rows, self.ids, self._health = {}, set(), None
        self._ticker = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "tr" and "sector-row" in (a.get("class") or "").split():
            self._ticker = a["data-ticker"]
            self.rows[self._ticker] = {}
        if tag == "td" and a.get("class") == "health" and self._ticker:
            self.rows[self._ticker]["bg"] = a["style"].removeprefix("background:")
            self._health = self._ticker

    def handle_data(self, data):
        if self._health:
            self.rows[self._health]["text"] = data
            self._health = None


def parse(html: str) -> Rows:
    p = Rows()
    p.feed(html)
    return p


def response(market, champion=None, now=FRESH, status="unavailable: no model"):
    return build_heatmap(market, HeatmapRequest(), champion, status, now=now)


def test_every_sector_row_with_its_score_and_colour(market, champion_insignificant):
    r = response(market, champion_insignificant, status="ok")
    html = heatmap_html(r)
    rows = parse(html).rows
    assert set(rows) == {s["ticker"] for s in r["sectors"]} and len(rows) == 11
    for s in r["sectors"]:
        assert rows[s["ticker"]] == {"bg": s["color"], "text": f"{s['health_score']:.1f}"}
    order = re.findall(r"data-ticker='([A-Z]+)'", html)
    assert order == [s["ticker"] for s in r["sectors"]]  # same order as the response (by health)
    assert DESCRIPTIVE_TITLE in html and PREDICTED_TITLE in html


def test_skill_is_stated_plainly(market, champion_insignificant):
    html = heatmap_html(response(market, champion_insignificant, status="ok"))
    assert "1M rank IC 0.03 [\u22120.01, 0.07]: not distinguishable from zero" in html


def test_banner_for_demo_data(demo_market):
    html = heatmap_html(response(demo_market))
    assert "data-banner" in parse(html).ids
    assert "DEMO DATA" in html


def test_no_banner_for_fresh_real_data(market):
    html = heatmap_html(response(market, now=FRESH))
    assert "data-banner" not in parse(html).ids and "id='data-banner'" not in html


def test_banner_for_stale_real_data(market):
    html = heatmap_html(response(market, now="2024-08-01T15:00:00Z"))
    assert "data-banner" in parse(html).ids and "STALE DATA" in html


def test_no_model_page_says_so(market):
    html = heatmap_html(response(market, None, status="unavailable: no champion registered"))
    assert "No model: unavailable: no champion registered" in html
    assert PREDICTED_TITLE in html  # the group is still labelled, with nothing in it


def test_text_is_escaped_and_page_is_self_contained(market):
    r = copy.deepcopy(response(market))
    r["sectors"][0]["name"] = "<script>alert('x')</script>"
    r["market_context"] = "A & B <b>bold</b>"
    html = heatmap_html(r)
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<b>bold</b>" not in html and "A &amp; B" in html
    assert not re.search(r"https?://|<link|<img|@import", html)
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")


@pytest.mark.parametrize("with_model", [True, False])
def test_png_bytes(market, champion_significant, with_model):
    r = response(market, champion_significant if with_model else None, status="ok")
    png = heatmap_png(r)
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    width = int.from_bytes(png[16:20], "big")
    assert width > 800  # the whole table, not an empty canvas


def test_png_does_not_switch_the_global_backend(market, monkeypatch):
    import matplotlib

    # not Agg: headless, the default already resolves to Agg, so a switch to it would go unseen
    monkeypatch.setitem(matplotlib.rcParams, "backend", "svg")
    heatmap_png(response(market))
    assert matplotlib.get_backend() == "svg"


def test_nan_free_json_renders(market):
    r = response(market, now=pd.Timestamp(FRESH))
    r["sectors"][0]["health_score"] = None  # a sector with no component renders as n/a, not a crash
    assert "n/a" in heatmap_html(r)
