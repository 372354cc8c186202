"""`sector-heatmap heatmap`: offline (loader and registry monkeypatched), degrades without a model."""

from __future__ import annotations

import json

import pytest

import training.store
from features.dataset import MarketDataset
from serving.cli import main


@pytest.fixture
def offline(monkeypatch, market):
    loaded = market
    monkeypatch.setattr(MarketDataset, "load", classmethod(lambda cls, source, universe, cfg=None, **kw: loaded))

    def broken_store(*a, **kw):
        raise NotImplementedError("registry offline")

    monkeypatch.setattr(training.store, "open_store", broken_store)  # the registry itself must degrade
    return loaded


def test_json_without_a_model(offline, tmp_path):
    out = tmp_path / "h.json"
    assert (
        main(
            [
                "heatmap",
                "--source",
                "csv:x",
                "--format",
                "json",
                "--output",
                str(out),
                "--timeframe",
                "1w",
                "--metrics",
                "performance,momentum",
                "predicted",
            ]
        )
        == 0
    )
    r = json.loads(out.read_text())
    assert r["model_status"].startswith("model_unavailable: ")  # a reason code, never exception internals
    assert "NotImplementedError" not in r["model_status"] and "registry offline" not in r["model_status"]
    assert r["timeframe"] == "1W" and r["metrics"] == ["performance", "momentum", "predicted"]
    assert len(r["sectors"]) == 11 and all(s["predicted"] is None for s in r["sectors"])


def test_html_and_table(offline, tmp_path, capsys):
    out = tmp_path / "h.html"
    assert main(["heatmap", "--format", "html", "--output", str(out)]) == 0
    assert out.read_text().count("class='sector-row'") == 11
    assert main(["heatmap"]) == 0
    text = capsys.readouterr().out
    assert "XLK" in text and "Health" in text


def test_bad_option_is_one_clear_line(offline, capsys):
    assert main(["heatmap", "--timeframe", "2Y"]) == 2
    assert capsys.readouterr().err.startswith("error: timeframe: unknown '2Y'")
    assert main(["heatmap", "--format", "png"]) == 2
    assert "--output" in capsys.readouterr().err


def test_serve_runs_bentoml_with_settings_in_the_environment(tmp_path, monkeypatch):
    """`serve` execs `bentoml serve serving.service:SectorHeatmap`; source and config travel as variables."""
    import os
    import sys

    cfg = tmp_path / "c.yaml"
    cfg.write_text("serving:\n  universes: [us_sectors]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BENTOML_HOME", raising=False)
    seen = {}
    monkeypatch.setattr(os, "execvpe", lambda file, argv, env: seen.update(file=file, argv=argv, env=env))
    assert main(["serve", "--port", "3999", "--source", "demo:seed=1", "--config", str(cfg)]) == 0
    assert seen["argv"] == [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "serving.service:SectorHeatmap",
        "--host",
        "127.0.0.1",
        "--port",
        "3999",
    ]
    env = seen["env"]
    assert env["SECTOR_HEATMAP_SOURCE"] == "demo:seed=1" and env["SECTOR_HEATMAP_CONFIG"] == str(cfg.resolve())
    assert env["BENTOML_HOME"] == str(tmp_path / ".bentoml") and env["BENTOML_DO_NOT_TRACK"] == "true"
    assert (tmp_path / ".bentoml").is_dir()
    assert main(["serve", "--config", str(tmp_path / "missing.yaml")]) == 2  # one clear line, no server
