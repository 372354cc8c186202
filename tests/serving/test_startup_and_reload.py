"""Start-up with data that cannot be loaded, and what a /reload leaves behind.

- `sector-heatmap serve` with a garbage file for a required ticker exits at once with one clear line
  (it used to start BentoML, whose worker failed in __init__ and was restarted every ~10 s forever);
- a worker that cannot start anyway stops the whole server instead of being restarted;
- with several universes configured, those that load are served and the others are reported (a note in
  every status, a clear error naming the file for a request that asks for one);
- every load runs on one loader thread and the replaced state is gone when its memory is handed back.

Data: a temporary csv folder written from the deterministic builder market. Never the network; servers
only on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import httpx
import pytest
from serving_builders import DEMO_SOURCE, LiveServer, free_port, make_bars

from features.errors import ConfigError, SectorHeatmapError
from features.findings import DataValidationError, ValidationReport
from features.settings import ConfigFile
from serving.auth import API_KEY_ENV
from serving.schemas import UniverseSummary
from serving.state import (
    CONFIG_ENV,
    SERVE_PID_ENV,
    SOURCE_ENV,
    STARTUP_FAILURE_EXIT,
    ServerSettings,
    UniverseUnavailable,
    abandon_start,
    check_start,
    load_state,
)
from training.config import STORE_ENV

GARBAGE = "garbage\nnonsense,,,\n!!!\n"
EXIT_WITHIN_S = 30
ROOT = Path(__file__).resolve().parents[2]


# ---- builders -----------------------------------------------------------------------------------
def write_csv_dir(folder: Path) -> Path:
    """One yfinance-style CSV per ticker of us_sectors (11 ETFs + SPY), plus BADX.csv as a good copy of XLK."""
    folder.mkdir(parents=True, exist_ok=True)
    bars = make_bars()
    for ticker, g in bars.groupby("ticker"):
        frame = g.drop(columns=["ticker"]).rename(columns=str.capitalize)
        frame.to_csv(folder / f"{ticker}.csv", index=False)
    (folder / "BADX.csv").write_text((folder / "XLK.csv").read_text())
    return folder


def write_second_universe(path: Path) -> Path:
    """`other_sectors`: us_sectors with BADX in place of XLK (so BADX.csv decides whether it loads)."""
    text = (ROOT / "features" / "universes" / "us_sectors.yaml").read_text()
    text = text.replace("name: us_sectors", "name: other_sectors").replace("ticker: XLK}", "ticker: BADX}")
    assert "BADX" in text and "other_sectors" in text
    path.write_text(text)
    return path


def two_universe_config(tmp_path: Path) -> Path:
    other = write_second_universe(tmp_path / "other.yaml")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"serving:\n  universes: [us_sectors, {other}]\n")
    return cfg


def settings_for(source: str, config: Path | None = None) -> ServerSettings:
    return ServerSettings.from_file(ConfigFile.read(str(config) if config else None), source, "/nonexistent/store")


@pytest.fixture
def csv_dir(tmp_path) -> Path:
    return write_csv_dir(tmp_path / "data")


# ---- the state: what loads is served, what does not is reported ------------------------------------
def test_a_universe_that_cannot_be_loaded_is_reported_and_the_others_served(csv_dir, tmp_path):
    (csv_dir / "BADX.csv").write_text(GARBAGE)
    cfg = two_universe_config(tmp_path)
    state = load_state(settings_for(f"csv:{csv_dir}", cfg))
    other = str(tmp_path / "other.yaml")
    assert list(state.universes) == ["us_sectors"] and list(state.failed) == [other]
    assert "BADX.csv" in state.failed[other].reason and other in state.failed[other].reason
    assert state.resolve("us_sectors")[0] == "us_sectors"
    for name in (other, "other_sectors"):  # its configured name and its own name both say why
        with pytest.raises(UniverseUnavailable, match=r"^universe: .*not available: .*BADX\.csv"):
            state.resolve(name)
    assert UniverseUnavailable.http_status == 503
    summaries = state.summaries()
    assert set(summaries) == {"us_sectors", other}
    for s in summaries.values():
        UniverseSummary.model_validate(s)  # the documented status shape, failed universes included
    assert summaries[other]["data_through"] is None and "BADX.csv" in summaries[other]["notes"][0]


def test_nothing_to_serve_is_one_error_naming_the_file(csv_dir, tmp_path):
    (csv_dir / "XLK.csv").write_text(GARBAGE)
    with pytest.raises(DataValidationError) as info:
        load_state(settings_for(f"csv:{csv_dir}"))
    assert "us_sectors" in str(info.value) and "XLK.csv" in str(info.value)
    assert info.value.report.refused  # the report still travels with it
    (csv_dir / "BADX.csv").write_text(GARBAGE)  # both universes now fail: both named in one message
    with pytest.raises(SectorHeatmapError, match=r"no configured universe could be loaded: .*XLK\.csv.*BADX\.csv"):
        load_state(settings_for(f"csv:{csv_dir}", two_universe_config(tmp_path)))


def test_check_start_loads_local_sources_and_never_downloads(csv_dir, tmp_path, monkeypatch):
    (csv_dir / "BADX.csv").write_text(GARBAGE)
    failed = check_start(settings_for(f"csv:{csv_dir}", two_universe_config(tmp_path)))
    assert list(failed) == [str(tmp_path / "other.yaml")]
    (csv_dir / "XLK.csv").write_text(GARBAGE)
    with pytest.raises(SectorHeatmapError, match="XLK.csv"):
        check_start(settings_for(f"csv:{csv_dir}", two_universe_config(tmp_path)))

    from features.dataset import MarketDataset

    def no_download(*a, **kw):
        raise AssertionError("check_start must not load a network source")

    monkeypatch.setattr(MarketDataset, "load", classmethod(no_download))
    assert check_start(settings_for("yfinance")) == {}
    bad = tmp_path / "unknown.yaml"
    bad.write_text("serving:\n  universes: [no_such_universe]\n")
    with pytest.raises(SectorHeatmapError, match="no_such_universe"):
        check_start(settings_for("yfinance", bad))


def test_abandon_start_stops_only_its_own_arbiter(caplog):
    calls = []
    fake = {"kill": lambda pid, sig: calls.append(("kill", pid, sig)), "exit_now": lambda c: calls.append(("exit", c))}
    err = DataValidationError("universe 'us_sectors': /d/XLK.csv: no Date column", ValidationReport())
    abandon_start(err, {}, **fake)  # not under `sector-heatmap serve` (a test, a plain `bentoml serve`)
    abandon_start(err, {SERVE_PID_ENV: "1"}, **fake)  # a pid that is not our parent
    assert calls == []
    with caplog.at_level("ERROR", logger="sector_heatmap.serving"):
        abandon_start(err, {SERVE_PID_ENV: str(os.getppid())}, **fake)
    assert calls == [("kill", os.getppid(), signal.SIGTERM), ("exit", STARTUP_FAILURE_EXIT)]
    (record,) = caplog.records
    assert "XLK.csv" in record.getMessage() and record.exc_info is None  # the user's error: one line
    caplog.clear()
    with caplog.at_level("ERROR", logger="sector_heatmap.serving"):
        abandon_start(KeyError("bug"), {SERVE_PID_ENV: str(os.getppid())}, **fake)
    assert caplog.records[0].exc_info is not None  # a bug keeps its traceback


def test_an_unusable_api_key_is_a_settings_error():
    with pytest.raises(ConfigError, match=API_KEY_ENV):
        ServerSettings.from_file(ConfigFile.read(None), "demo", api_key="caf\u00e9")


# ---- /reload in-process ---------------------------------------------------------------------------
def test_reload_loads_on_one_thread_and_the_old_state_is_gone_before_the_trim(tmp_path, monkeypatch):
    """The mechanism behind a flat RSS over reloads (bench/serve_bench.py --reload-only has the figures)."""
    import serving.state as state_mod

    threads: list[int] = []
    real_load = state_mod.load_state

    def recording_load(*args, **kw):
        threads.append(threading.get_ident())
        return real_load(*args, **kw)

    old_refs: list[weakref.ref] = []
    gone_at_release: list[bool] = []
    real_release = state_mod.release_memory

    def checking_release():
        gone_at_release.append(all(ref() is None for ref in old_refs))
        real_release()

    monkeypatch.setattr(state_mod, "load_state", recording_load)
    monkeypatch.setattr(state_mod, "release_memory", checking_release)
    monkeypatch.setenv(SOURCE_ENV, DEMO_SOURCE)
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "no_store"))
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    from serving.service import SectorHeatmap

    svc = SectorHeatmap.inner()

    async def reloads() -> None:
        for generation in (2, 3, 4):
            old_refs[:] = [weakref.ref(svc.state), weakref.ref(svc.state.universes["us_sectors"].dataset)]
            resp = await svc.reload()
            assert resp.status_code == 200, resp.body
            assert svc.state.generation == generation

    asyncio.run(reloads())
    assert len(threads) == 4 and len(set(threads)) == 1, threads  # start-up and every reload: one thread
    assert threads[0] != threading.get_ident()  # ... the loader's, not the caller's
    assert gone_at_release == [True, True, True]  # the replaced state was freed when memory was handed back


def test_reload_never_serves_less_and_picks_up_a_repaired_universe(open_client, csv_dir, tmp_path):
    cfg = two_universe_config(tmp_path)
    bad = csv_dir / "BADX.csv"
    good = bad.read_text()
    bad.write_text(GARBAGE)
    with open_client(tmp_path / "no_store", source=f"csv:{csv_dir}", config=cfg) as c:
        assert c.get("/readyz").status_code == 200  # partly served is ready
        assert c.post("/heatmap", json={}).status_code == 200
        r = c.post("/heatmap", json={"universe": "other_sectors"})
        assert r.status_code in (400, 503) and "BADX.csv" in r.text, r.text  # 503 once the request layer maps it
        r = c.post("/reload", json={})  # still broken: the others are refreshed, it stays reported
        assert r.status_code == 200 and r.json()["generation"] == 2
        assert "BADX.csv" in r.json()["universes"][str(tmp_path / "other.yaml")]["notes"][0]
        bad.write_text(good)  # repaired: the next reload serves it
        r = c.post("/reload", json={})
        assert r.status_code == 200 and r.json()["universes"][str(tmp_path / "other.yaml")]["notes"] == []
        assert c.post("/heatmap", json={"universe": "other_sectors"}).status_code == 200
        bad.write_text(GARBAGE)  # broken again: a reload that would drop it fails, everything keeps serving
        r = c.post("/reload", json={})
        assert r.status_code == 503 and "BADX.csv" in r.json()["error"] and not r.json()["reloaded"]
        assert r.json()["serving"]["generation"] == 3
        assert c.post("/heatmap", json={"universe": "other_sectors"}).status_code == 200


# ---- the real command -----------------------------------------------------------------------------
def run_bounded(argv: list[str], env: dict, cwd: Path, limit_s: float = EXIT_WITHIN_S) -> tuple[int, str, float]:
    """(exit code, output, seconds); a process still running after `limit_s` is killed (its own group) and fails."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        tail = out.decode(errors="replace")[-3000:]
        pytest.fail(f"still running after {limit_s} s (a worker restart loop?):\n{tail}")
    return proc.returncode, out.decode(errors="replace"), time.perf_counter() - t0


def server_env(tmp_path: Path, source: str) -> dict:
    env = {**os.environ, SOURCE_ENV: source, STORE_ENV: str(tmp_path / "no_store")}
    env["BENTOML_HOME"] = str(tmp_path / "bentoml")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(ROOT)
    for name in (CONFIG_ENV, API_KEY_ENV, SERVE_PID_ENV):
        env.pop(name, None)
    return env


@pytest.mark.slow
def test_serve_with_a_garbage_file_exits_with_one_clear_line(csv_dir, tmp_path):
    (csv_dir / "XLK.csv").write_text(GARBAGE)
    argv = [sys.executable, "-m", "serving.cli", "serve", "--host", "127.0.0.1", "--port", str(free_port())]
    code, out, seconds = run_bounded(argv, server_env(tmp_path, f"csv:{csv_dir}"), tmp_path)
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert code == 2, out
    assert len(errors) == 1 and "XLK.csv" in errors[0] and "us_sectors" in errors[0], out
    assert "Traceback" not in out and "BentoServer" not in out, out  # no server was started
    assert seconds < EXIT_WITHIN_S


@pytest.mark.slow
def test_a_worker_that_cannot_start_stops_the_server_instead_of_restarting(csv_dir, tmp_path):
    """Past the command's own check (here: `bentoml serve` exec'd as `sector-heatmap serve` does it, without
    the check), the worker stops the server: one line naming the file, never a restart, never a traceback."""
    (csv_dir / "XLK.csv").write_text(GARBAGE)
    port = str(free_port())
    bentoml = f"exec {sys.executable} -m bentoml serve serving.service:SectorHeatmap --host 127.0.0.1 --port {port}"
    argv = ["/bin/sh", "-c", f"{SERVE_PID_ENV}=$$ {bentoml}"]  # $$: the pid exec keeps, the arbiter's
    code, out, _ = run_bounded(argv, server_env(tmp_path, f"csv:{csv_dir}"), ROOT)
    starts = [line for line in out.splitlines() if "universes us_sectors" in line]
    stops = [line for line in out.splitlines() if "cannot start" in line]
    assert len(starts) == 1, out  # the worker ran once: no restart
    assert len(stops) == 1 and "XLK.csv" in stops[0], out
    assert "Traceback" not in out, out
    assert code == 0, out  # the arbiter stopped on SIGTERM; only the command's own check can exit non-zero
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2)


@pytest.mark.slow
def test_serve_with_one_broken_universe_serves_the_others(csv_dir, tmp_path):
    (csv_dir / "BADX.csv").write_text(GARBAGE)
    cfg = two_universe_config(tmp_path)
    other = str(tmp_path / "other.yaml")
    server = LiveServer(tmp_path / "no_store", tmp_path, source=f"csv:{csv_dir}")
    server.env[CONFIG_ENV] = str(cfg)
    with server, httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/readyz").status_code == 200
        ok = http.post("/heatmap", json={})
        assert ok.status_code == 200 and ok.json()["universe"] == "us_sectors"
        r = http.post("/heatmap", json={"universe": "other_sectors"})
        assert r.status_code in (400, 503) and "BADX.csv" in r.text, r.text  # 503 once the request layer maps it
        status = http.post("/reload", json={}).json()
        assert "NOT LOADED" in status["universes"][other]["notes"][0]
    assert server.proc is not None and server.proc.returncode == 0
    log = server.tail(20000)
    assert log.count("will not be served") == 1 and "BADX.csv" in log  # the command said so before starting
    assert "Traceback" not in log
