"""Any market from files: a constituents CSV (symbol -> sector, optional weight) named by a universe
YAML, plus `csv:DIR` price files. Tested with the demo market's constituents written out as such
files: the file path must give the panels the in-memory demo gives, and a member without a file or
with too little history is named and left out, with its sector's member count."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_market_source import write_yf_csvs

from features.config import FeatureConfig
from features.dataset import MarketDataset
from features.sources.demo import demo_market
from features.universe import UniverseError, load_universe
from serving.cli import main

END = "2024-06-28"
MISSING, SHORT = "S02_0003", "S03_0001"


@pytest.fixture(scope="module")
def demo():
    return demo_market(sectors=3, stocks=6, years=2, seed=9, end=END)


def write_universe(folder, universe, weights=None, name="vn_like") -> str:
    """The demo universe as a constituents CSV + a universe YAML naming it (the documented format)."""
    rows = [
        {"symbol": m, "sector": s.name, **({"weight": weights[m]} if weights else {}), "name": f"Company {m}"}
        for s in universe.sectors
        for m in s.members
    ]
    pd.DataFrame(rows).to_csv(folder / "members.csv", index=False)
    (folder / "universe.yaml").write_text(
        f"name: {name}\nbenchmark: {universe.benchmark}\ncalendar: XNYS\nconstituents: members.csv\n"
    )
    return str(folder / "universe.yaml")


def test_files_give_the_panels_the_demo_gives_and_name_what_is_left_out(demo, tmp_path, capsys):
    bars, universe = demo
    prices = write_yf_csvs(bars[bars["ticker"] != MISSING], tmp_path / "prices")
    short = pd.read_csv(prices / f"{SHORT}.csv").tail(10)  # listed ten sessions ago
    short.to_csv(prices / f"{SHORT}.csv", index=False)
    path = write_universe(tmp_path, universe)

    u = load_universe(path)
    assert u.benchmark == "DEMOIDX" and [len(s.members) for s in u.sectors] == [6, 6, 6]
    assert u.sectors[0].member_names["S01_0000"] == "Company S01_0000" and u.sectors[0].weights is None
    ds = MarketDataset.load(f"csv:{prices}", path, FeatureConfig())

    keep = ~bars["ticker"].isin([MISSING, SHORT])
    expected = MarketDataset.from_bars(bars[keep].reset_index(drop=True), universe, "demo").panels
    for field in ("open", "high", "low", "close", "volume"):
        got = getattr(ds.panels, field)
        np.testing.assert_allclose(got.to_numpy(), getattr(expected, field).to_numpy(), rtol=1e-12, equal_nan=True)
    assert {k: m.count for k, m in ds.panels.membership.items()} == {
        "Sector 01": "6/6",
        "Sector 02": "5/6",
        "Sector 03": "5/6",
    }
    notes = "\n".join(ds.notes)
    assert f"sector Sector 02: 5/6 members used, left out {MISSING}: optional {MISSING}.csv not found" in notes
    assert f"sector Sector 03: 5/6 members used, left out {SHORT}: only 10 sessions of history" in notes
    assert not ds.features.empty

    assert main(["universes", path, "--format", "json"]) == 0
    listed = {u["name"]: u for u in json.loads(capsys.readouterr().out)}
    assert {"us_sectors", "sp500", "vn_like"} <= set(listed)
    assert listed["vn_like"]["members"] == 18 and listed["vn_like"]["benchmark"] == "DEMOIDX"
    assert [s["members"] for s in listed["vn_like"]["sectors"]] == [6, 6, 6]
    assert listed["sp500"]["members"] == 503 and len(listed["sp500"]["sectors"]) == 11


def test_a_weight_column_makes_sectors_cap_weighted(demo, tmp_path, capsys):
    bars, universe = demo
    members = [m for s in universe.sectors for m in s.members]
    caps = {m: float(i + 1) for i, m in enumerate(members)}
    path = write_universe(tmp_path, universe, weights=caps)
    u = load_universe(path)
    assert u.sectors[1].weights == {m: caps[m] for m in u.sectors[1].members}
    equal = MarketDataset.from_bars(bars, universe, "demo").panels.close
    capped = MarketDataset.from_bars(bars, u, "demo").panels.close
    assert not np.allclose(equal.to_numpy(), capped.to_numpy(), equal_nan=True)  # the weights are used
    assert main(["universes", path]) == 0
    assert "6 members, cap weight" in capsys.readouterr().out


@pytest.mark.parametrize(
    "text, words",
    [
        ("symbol,industry\nAAA,Tech\n", "no 'sector' column"),
        ("symbol,sector\nAAA,Tech\nAAA,Energy\n", r"members.csv \(from .*universe.yaml\):3: AAA is listed twice"),
        ("symbol,sector,weight\nAAA,Tech,-1\n", ":2: weight of AAA must be a positive number"),
        ("symbol,sector\n,Tech\n", ":2: needs a symbol and a sector"),
        ("symbol,sector\n", "no members"),
    ],
)
def test_a_bad_constituents_file_names_the_file_and_line(tmp_path, text, words):
    (tmp_path / "members.csv").write_text(text)
    (tmp_path / "universe.yaml").write_text("name: x\nbenchmark: IDX\nconstituents: members.csv\n")
    with pytest.raises(UniverseError, match=words):
        load_universe(str(tmp_path / "universe.yaml"))


def test_declared_sectors_must_match_the_file(tmp_path):
    (tmp_path / "members.csv").write_text("symbol,sector\nAAA,Tech\nBBB,Energy\n")
    (tmp_path / "universe.yaml").write_text(
        "name: x\nbenchmark: IDX\nconstituents: members.csv\nsectors: [{name: Tech, gics: '45'}]\n"
    )
    with pytest.raises(UniverseError, match=r"\['Energy'\] are not among the declared sectors"):
        load_universe(str(tmp_path / "universe.yaml"))
