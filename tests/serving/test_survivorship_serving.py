"""Survivorship bias (issue 12) wherever results over history are shown: a universe of today's members only
(`current_members_only`) puts its note in every answer (POST /heatmap, /matrix, /rotation, /sector), on every
page (dashboard, sector, rotation) and in every terminal table; a universe without the flag never does.

The universe is the embedded demo market's constituents written out as files (a constituents CSV, a universe
YAML, `csv:` price files, as tests/data/test_constituents_files.py does), served in-process and by the CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from markupsafe import escape

from features.sources.demo import demo_market
from serving.cli import main
from serving.mcp_schemas import SectorRotationResult
from serving.schemas import HeatmapResponse, MatrixResponse, SectorResponse
from training.config import STORE_ENV

END = "2024-06-28"
WORDS = "survivorship bias"
PAGES = {"/ui/heatmap": {}, "/ui/rotation": {}, "/ui/sector": {"sector": "Sector 01"}}


def write_market(folder, flagged: bool) -> tuple[str, str]:
    """(csv: source, universe YAML path) of the demo's constituents as files, flagged or not."""
    bars, universe = demo_market(sectors=3, stocks=4, years=2, seed=9, end=END)
    prices = folder / "prices"
    prices.mkdir(parents=True)
    for ticker, g in bars.groupby("ticker"):
        frame = g.rename(columns=str.capitalize)[["Date", "Open", "High", "Low", "Close", "Volume"]]
        frame.assign(Date=g["date"].dt.strftime("%Y-%m-%d")).to_csv(prices / f"{ticker}.csv", index=False)
    rows = [{"symbol": m, "sector": s.name} for s in universe.sectors for m in s.members]
    pd.DataFrame(rows).to_csv(folder / "members.csv", index=False)
    flag = "current_members_only: true\n" if flagged else ""
    (folder / "universe.yaml").write_text(
        f"name: today_only\nbenchmark: {universe.benchmark}\ncalendar: XNYS\nconstituents: members.csv\n{flag}"
    )
    return f"csv:{prices}", str(folder / "universe.yaml")


@pytest.fixture(scope="module")
def flagged(tmp_path_factory):
    return write_market(tmp_path_factory.mktemp("flagged"), True)


@pytest.fixture(scope="module")
def unflagged(tmp_path_factory):
    return write_market(tmp_path_factory.mktemp("unflagged"), False)


def _client(open_client, market, tmp_path):
    source, universe = market
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"serving:\n  universes: [{universe}]\n")
    return open_client(tmp_path / "mlruns", source=source, config=cfg)


def _answers(c) -> dict:
    out = {}
    for path, body in {
        "/heatmap": {"timeframe": "1M"},
        "/matrix": {},
        "/rotation": {"tail_weeks": 4},
        "/sector": {"sector": "Sector 01"},
    }.items():
        r = c.post(path, json={**body, "universe": "today_only"})  # its own name (the configured one is a path)
        assert r.status_code == 200, (path, r.text)
        out[path] = r.json()
    for path in PAGES:
        r = c.get(path, params={**PAGES[path], "universe": "today_only"})
        assert r.status_code == 200, (path, r.text)
        out[path] = r.text
    for path in ("/ui/heatmap.png", "/ui/rotation.png"):
        r = c.get(path, params={"universe": "today_only"})
        assert r.status_code == 200 and r.content.startswith(b"\x89PNG"), path
        out[path] = r.content
    return out


def png_height(png: bytes) -> int:
    return int.from_bytes(png[20:24], "big")  # IHDR: width at 16, height at 20


def test_every_answer_and_page_of_a_today_only_universe_says_so(open_client, flagged, tmp_path):
    with _client(open_client, flagged, tmp_path) as c:
        got = _answers(c)
    note = got["/heatmap"]["survivorship_note"]
    assert WORDS in note and "today's 12 members only" in note
    models = {"/heatmap": HeatmapResponse, "/matrix": MatrixResponse, "/rotation": SectorRotationResult}
    for path, model in {**models, "/sector": SectorResponse}.items():
        assert model.model_validate(got[path]).survivorship_note == note, path  # the declared field
    for page in PAGES:
        assert "id='survivorship-note'" in got[page] and str(escape(note)) in got[page], page


def test_a_universe_without_the_flag_carries_no_note(open_client, flagged, unflagged, tmp_path):
    with _client(open_client, unflagged, tmp_path / "plain") as c:
        got = _answers(c)
    with _client(open_client, flagged, tmp_path / "flagged") as c:
        flagged_png = c.get("/ui/heatmap.png", params={"universe": "today_only"}).content
    assert png_height(flagged_png) > png_height(got["/ui/heatmap.png"])  # the note's lines above the table
    for path in ("/heatmap", "/matrix", "/rotation", "/sector"):
        assert "survivorship_note" not in got[path], path
    for page in PAGES:
        assert "survivorship-note" not in got[page] and WORDS not in got[page].lower(), page


@pytest.mark.parametrize("command", [["heatmap"], ["sector", "Sector 02"], ["rotation"]])
def test_the_terminal_tables_say_so(flagged, unflagged, tmp_path, monkeypatch, capsys, command):
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "no_store"))  # descriptive only; nothing is written anywhere
    for market, expected in ((flagged, True), (unflagged, False)):
        source, universe = market
        monkeypatch.chdir(Path(universe).parent)  # relative paths: a heatmap request names a universe in 40 chars
        assert main([*command, "--source", "csv:prices", "--universe", "universe.yaml"]) == 0
        out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
        assert ("Survivorship bias:" in out) is expected, (command, universe)
