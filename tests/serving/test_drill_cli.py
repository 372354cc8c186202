"""`sector-heatmap sector` and `sector-heatmap rotation`: the POST /sector and POST /rotation answers offline."""

from __future__ import annotations

import json

import pytest

from features.breadth import sector_drilldown
from features.dataset import MarketDataset
from features.rotation import sector_rotation
from serving.cli import main
from training.config import STORE_ENV

MEMBERS = "demo:sectors=3,stocks=8,years=2,seed=9"
ETFS = "demo:years=2,seed=9"


@pytest.fixture(autouse=True)
def no_store(monkeypatch, tmp_path):
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "no_store"))  # descriptive only; nothing is written anywhere


def test_sector_json_is_the_drilldown(tmp_path, capsys):
    out = tmp_path / "s.json"
    args = ["sector", "Sector 03", "--source", MEMBERS, "--timeframe", "1w", "--format", "json", "--output", str(out)]
    assert main(args) == 0
    got = json.loads(out.read_text())
    assert got == sector_drilldown(MarketDataset.load(MEMBERS, "us_sectors"), "Sector 03", "1W")
    assert got["members_loaded"] and len(got["members"]) == 8


def test_sector_table_in_the_terminal(capsys):
    assert main(["sector", "sector 01", "--source", MEMBERS, "--as-of", "2026-06-15"]) == 0
    text = capsys.readouterr().out
    assert "DEMO DATA" in text and "Top contributors:" in text and "S01_0000" in text and "as of 2026-06-15" in text


def test_sector_of_an_etf_universe_and_a_bad_name(capsys):
    assert main(["sector", "xlk", "--source", ETFS]) == 0
    assert "no members are loaded" in capsys.readouterr().out
    assert main(["sector", "XLZ", "--source", ETFS]) == 2
    assert "error: sector: unknown 'XLZ'" in capsys.readouterr().err


def test_rotation_json_table_and_png(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["rotation", "--source", ETFS, "--tail-weeks", "3", "--format", "json", "--output", str(out)]) == 0
    got = json.loads(out.read_text())
    ds = MarketDataset.load(ETFS, "us_sectors")
    assert got == {**sector_rotation(ds, None, 3), "is_demo": True}
    assert main(["rotation", "--source", ETFS]) == 0
    text = capsys.readouterr().out
    assert "Relative rotation" in text and all(q in text for q in ("XLK", "XLU")) and "→" in text
    png = tmp_path / "r.png"
    assert main(["rotation", "--source", ETFS, "--format", "png", "--output", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 20_000
    assert main(["rotation", "--source", ETFS, "--format", "png"]) == 2
    assert main(["rotation", "--source", ETFS, "--tail-weeks", "0"]) == 2
    assert "tail_weeks" in capsys.readouterr().err
