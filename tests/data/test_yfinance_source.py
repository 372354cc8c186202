"""The yfinance source with a fake downloader (never the network): failures named, deadline kept,
cache refreshed incrementally and re-adjusted when Yahoo's adjusted history moves."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.sources import yahoo
from features.sources.csv_dir import read_csv_file
from features.sources.yahoo import load_yfinance, read_cache, split_download

FIELDS = ["Close", "High", "Low", "Open", "Volume"]
AFTER_CLOSE = pd.Timestamp("2024-06-28 22:00", tz="UTC")  # Friday 18:00 New York: the 28th is complete


def prices(dates, start: float = 100.0, seed: int = 0) -> pd.DataFrame:
    """A small yfinance-like table for one ticker: index Date, columns Open..Volume."""
    dates = pd.DatetimeIndex(pd.to_datetime(dates))
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates))))
    return pd.DataFrame(
        {
            "Open": close * 0.999,
            "High": close * 1.01,
            "Low": close * 0.99,
            "Close": close,
            "Volume": rng.integers(1_000, 9_000, len(dates)).astype(float),
        },
        index=pd.DatetimeIndex(dates, name="Date"),
    )


def yf_frame(tables: dict[str, pd.DataFrame], price_first: bool = True) -> pd.DataFrame:
    """What yf.download returns: (Price, Ticker) MultiIndex columns, union of dates, NaN elsewhere."""
    if not tables:
        return pd.DataFrame()
    wide = pd.concat({t: df[FIELDS] for t, df in tables.items()}, axis=1)  # (Ticker, Price)
    wide.columns.names = ["Ticker", "Price"]
    if price_first:
        wide = wide.swaplevel(0, 1, axis=1).sort_index(axis=1)
    return wide.sort_index()


class FakeYahoo:
    """A downloader that serves `tables` from `start` on and records every call."""

    def __init__(self, tables: dict[str, pd.DataFrame] | None = None, nan_for=(), raise_if_called=False):
        self.tables, self.nan_for, self.raise_if_called = tables or {}, set(nan_for), raise_if_called
        self.calls: list[tuple[list[str], str]] = []

    def __call__(self, tickers, start, end, timeout, cache_dir):
        if self.raise_if_called:
            raise AssertionError(f"no download expected, got {tickers} from {start}")
        self.calls.append((list(tickers), start))
        out = {}
        for t in tickers:
            if t in self.tables:
                df = self.tables[t][self.tables[t].index >= pd.Timestamp(start)].copy()
                if t in self.nan_for:
                    df.loc[:, :] = np.nan
                out[t] = df
        return yf_frame(out)


@pytest.fixture
def hanging():
    """A downloader that blocks until the test ends (then it is released and joined)."""
    release = threading.Event()
    calls = []

    def download(tickers, start, end, timeout, cache_dir):
        calls.append((list(tickers), start))
        release.wait(10)
        return pd.DataFrame()

    yield download, calls
    release.set()
    for t in list(yahoo._HUNG):
        t.join(5)


def cached_frame(cache_dir: Path, ticker: str) -> pd.DataFrame:
    return pd.read_csv(cache_dir / f"{ticker}.csv", parse_dates=["Date"])


def test_empty_frame_fails_every_ticker_by_name(tmp_path):
    fetch = load_yfinance(["XLK", "XLF"], tmp_path, downloader=FakeYahoo(), now=AFTER_CLOSE)
    assert fetch.raw == {}
    assert sorted(fetch.missing) == ["XLF", "XLK"]
    assert "empty frame" in fetch.failed["XLK"]
    assert any("XLK" in n and "XLF" in n for n in fetch.notes)  # one line naming them
    assert {(f.ticker, f.kind, f.action) for f in fetch.report.findings} == {
        ("XLK", "download_failed", "noted"),
        ("XLF", "download_failed", "noted"),
    }


def test_all_nan_ticker_is_a_failure_and_the_good_one_is_cached(tmp_path):
    days = pd.bdate_range("2024-06-03", "2024-06-28")
    fake = FakeYahoo({"XLK": prices(days), "XLF": prices(days, 40)}, nan_for={"XLF"})
    fetch = load_yfinance(["XLK", "XLF"], tmp_path, downloader=fake, now=AFTER_CLOSE, start="2024-06-01")
    assert fetch.missing == ["XLF"] and "NaN" in fetch.failed["XLF"]
    assert list(fetch.raw) == ["XLK"] and fetch.refreshed == ["XLK"]
    assert len(fetch.raw["XLK"]) == len(days)
    assert (tmp_path / "XLK.csv").is_file() and not (tmp_path / "XLF.csv").exists()
    assert fake.calls == [(["XLK", "XLF"], "2024-06-01")]  # one call for the group


def test_hanging_download_is_abandoned_at_the_deadline(tmp_path, hanging):
    download, calls = hanging
    days = pd.bdate_range("2024-05-01", "2024-06-14")
    (tmp_path / "XLK.csv").write_text(
        "Date,Close,High,Low,Open,Volume\n" + "".join(f"{d:%Y-%m-%d},10,11,9,10,100\n" for d in days)
    )  # cached: a second group, from 2024-06-07
    t0 = time.monotonic()
    fetch = load_yfinance(["XLK", "XLF"], tmp_path, deadline_s=0.5, downloader=download, now=AFTER_CLOSE, parallel=1)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.0, elapsed
    assert len(calls) == 1  # one at a time: after the deadline no further call is started behind the hung one
    assert "timed out" in fetch.failed[calls[0][0][0]]
    assert set(fetch.failed) == {"XLK", "XLF"}
    assert fetch.stale == ["XLK"] and fetch.missing == ["XLF"]  # XLK still served from its cache
    assert len(fetch.raw["XLK"]) == len(days)


REPO = Path(__file__).resolve().parents[2]

# Run with the venv's python in a fresh interpreter: loads with a download (or the probe's
# connect) that never answers, then returns. What matters is when the *process* exits.
HANG_SCRIPT = """
import socket, sys, threading, time, types
from pathlib import Path
from features.sources import yahoo

forever = threading.Event()  # never set


def blocked(*args, **kwargs):
    forever.wait()


mode, cache = sys.argv[1], Path(sys.argv[2])
if mode == "downloader":
    fetch = yahoo.load_yfinance(["XLK", "XLF"], cache, deadline_s=1, downloader=blocked)
elif mode == "yfinance-threads":
    # a stand-in for yf.download: like yfinance with threads=True (multitasking), one
    # non-daemon worker per ticker; the call itself waits for them
    fake = types.ModuleType("yfinance")
    fake.set_tz_cache_location = lambda path: None

    def download(tickers, threads=True, **kw):
        if threads:
            for t in tickers:
                threading.Thread(target=forever.wait, name="worker-" + t, daemon=False).start()
        forever.wait()

    fake.download = download
    sys.modules["yfinance"] = fake
    fetch = yahoo.load_yfinance(["XLK", "XLF"], cache, deadline_s=1)
elif mode == "real":  # the real yfinance, through whatever HTTPS_PROXY says
    fetch = yahoo.load_yfinance(["XLK", "XLF", "XLE"], cache, deadline_s=float(sys.argv[3]))
elif mode == "probe":
    socket.create_connection = blocked  # a DNS lookup or connect that never returns
    fetch = None
    print("probe", yahoo.probe(1.0))
if fetch is not None:
    print("failed", sorted(fetch.failed.items()))
print("returned", time.time(), flush=True)
"""


def run_hang_script(tmp_path, mode, *extra, env=None, timeout=30.0):
    """(stdout, wall seconds, seconds from load_yfinance returning to the process exiting)."""
    t0 = time.monotonic()
    try:
        out = subprocess.run(
            [sys.executable, "-c", HANG_SCRIPT, mode, str(tmp_path / "cache"), *extra],  # imports from REPO
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out, stuck = None, exc.stdout
    if out is None:  # failed outside the except block: no chained traceback repeating the script
        pytest.fail(f"the process did not exit within {timeout:g} s (stdout: {stuck!r})", pytrace=False)
    wall, ended = time.monotonic() - t0, time.time()
    assert out.returncode == 0, out.stderr
    returned = float(out.stdout.split("returned ")[-1])
    return out.stdout, wall, ended - returned


def test_download_that_never_returns_is_abandoned_and_named(tmp_path, monkeypatch):
    monkeypatch.setattr(yahoo, "_HUNG", [])  # this thread never ends: keep it out of the other tests' way
    forever = threading.Event()  # never set
    calls = []

    def blocked(tickers, start, end, timeout, cache_dir):
        calls.append(list(tickers))
        forever.wait()

    t0 = time.monotonic()
    fetch = load_yfinance(["XLK", "XLF"], tmp_path, deadline_s=0.5, downloader=blocked, now=AFTER_CLOSE)
    assert time.monotonic() - t0 < 1.0
    assert calls == [["XLK", "XLF"]]
    assert fetch.missing == ["XLK", "XLF"]
    assert all("timed out after 0.5 s" in why for why in fetch.failed.values())
    assert any("XLK, XLF" in n and "timed out" in n for n in fetch.notes)
    assert [t.daemon for t in yahoo._HUNG] == [True]  # abandoned, and never holds the process open

    # ... and the hung thread does not block a later refresh (say, once the network is back)
    days = pd.bdate_range("2024-06-03", "2024-06-28")
    fake = FakeYahoo({"XLK": prices(days), "XLF": prices(days, 40)})
    fetch = load_yfinance(
        ["XLK", "XLF"], tmp_path, deadline_s=0.5, downloader=fake, now=AFTER_CLOSE, start="2024-06-01"
    )
    assert fetch.failed == {} and sorted(fetch.refreshed) == ["XLF", "XLK"]
    assert yahoo._HUNG[0].is_alive()  # still hanging meanwhile


def test_errors_logged_by_an_abandoned_download_stay_out_of_a_later_message(tmp_path, monkeypatch):
    import logging

    fake = types.ModuleType("yfinance")
    fake.set_tz_cache_location = lambda path: None

    def download(tickers, **kw):  # meanwhile an abandoned download (another thread) logs its error
        stray = threading.Thread(target=logging.getLogger("yfinance").error, args=("['XLF']: Timeout from before",))
        stray.start()
        stray.join()
        logging.getLogger("yfinance").error("%s: DNSError('now')", list(tickers))
        return pd.DataFrame()

    fake.download = download
    monkeypatch.setitem(sys.modules, "yfinance", fake)
    monkeypatch.setattr(yahoo, "_TZ_CACHE_DIRS", set())
    frame = yahoo.yf_download(["XLK"], "2024-01-01", None, 5.0, tmp_path)
    assert frame.attrs[yahoo.ERRORS_ATTR] == ["['XLK']: DNSError('now')"]


@pytest.mark.parametrize("mode", ["downloader", "yfinance-threads"])
def test_a_download_that_never_returns_does_not_keep_the_process_alive(tmp_path, mode):
    out, wall, lag = run_hang_script(tmp_path, mode)
    assert "download timed out after 1 s" in out and "'XLF'" in out and "'XLK'" in out
    assert wall < 5.0 and lag < 2.0, (wall, lag)


def test_a_probe_that_never_connects_does_not_keep_the_process_alive(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: threading.Event().wait())
    t0 = time.monotonic()
    assert yahoo.probe(0.3) is False
    assert time.monotonic() - t0 < 1.0
    out, wall, lag = run_hang_script(tmp_path, "probe")
    assert "probe False" in out
    assert wall < 5.0 and lag < 2.0, (wall, lag)


@pytest.fixture
def silent_proxy():
    """A TCP server on 127.0.0.1 that accepts every connection and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    server.close()


@pytest.mark.skipif(importlib.util.find_spec("yfinance") is None, reason="yfinance not installed")
def test_real_yfinance_behind_a_silent_proxy_exits_at_the_deadline(tmp_path, silent_proxy):
    url, accepted = silent_proxy
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"no_proxy", "all_proxy"}}
    env.update({"HTTPS_PROXY": url, "HTTP_PROXY": url, "https_proxy": url, "http_proxy": url})
    out, wall, lag = run_hang_script(tmp_path, "real", "2", env=env)
    assert accepted, "yfinance never reached the local proxy"  # it went there, and nowhere else
    assert "download timed out after 2 s" in out and all(f"'{t}'" in out for t in ("XLK", "XLF", "XLE"))
    assert wall < 8.0 and lag < 2.0, (wall, lag)


def test_refresh_asks_only_from_the_last_cached_date_and_merges(tmp_path):
    days = pd.bdate_range("2024-05-01", "2024-06-28")
    full = prices(days, seed=1)
    first = FakeYahoo({"XLK": full[full.index <= "2024-06-14"]})
    load_yfinance(
        ["XLK"], tmp_path, downloader=first, now=pd.Timestamp("2024-06-15 12:00", tz="UTC"), start="2024-05-01"
    )
    assert first.calls == [(["XLK"], "2024-05-01")]
    assert cached_frame(tmp_path, "XLK")["Date"].max() == pd.Timestamp("2024-06-14")

    newer = full.copy()
    newer.loc[newer.index >= "2024-06-10", "Volume"] = 77_777.0  # revised rows on the overlap
    second = FakeYahoo({"XLK": newer})
    fetch = load_yfinance(["XLK"], tmp_path, downloader=second, now=AFTER_CLOSE)
    last_cached = pd.Timestamp("2024-06-14")
    assert second.calls == [(["XLK"], (last_cached - pd.Timedelta(days=yahoo.OVERLAP_DAYS)).strftime("%Y-%m-%d"))]
    merged = fetch.raw["XLK"]
    assert merged["date"].is_monotonic_increasing and not merged["date"].duplicated().any()
    assert merged["date"].tolist() == list(days)
    by_day = merged.set_index("date")["volume"]
    assert (by_day[by_day.index >= "2024-06-10"] == 77_777.0).all()  # the new rows won
    assert (by_day[by_day.index < "2024-06-07"] == full.loc[full.index < "2024-06-07", "Volume"]).all()
    on_disk = cached_frame(tmp_path, "XLK")
    assert on_disk["Date"].tolist() == list(days) and list(on_disk.columns) == ["Date", *FIELDS]
    assert fetch.report.findings == []  # same adjustment basis: nothing to repair


def test_up_to_date_cache_needs_no_network(tmp_path):
    days = pd.bdate_range("2024-06-03", "2024-06-28")
    load_yfinance(["XLK"], tmp_path, downloader=FakeYahoo({"XLK": prices(days)}), now=AFTER_CLOSE, start="2024-06-01")
    fetch = load_yfinance(["XLK"], tmp_path, downloader=FakeYahoo(raise_if_called=True), now=AFTER_CLOSE)
    assert fetch.failed == {} and fetch.refreshed == ["XLK"] and len(fetch.raw["XLK"]) == len(days)


def test_todays_partial_bar_is_not_cached(tmp_path):
    days = pd.bdate_range("2024-06-03", "2024-06-28")
    during = pd.Timestamp("2024-06-28 15:00", tz="UTC")  # 11:00 in New York: the 28th is still trading
    fetch = load_yfinance(
        ["XLK"], tmp_path, downloader=FakeYahoo({"XLK": prices(days)}), now=during, start="2024-06-01"
    )
    assert fetch.raw["XLK"]["date"].max() == pd.Timestamp("2024-06-27")


def test_dividend_readjustment_rescales_the_cached_history(tmp_path):
    days = pd.bdate_range("2024-05-01", "2024-06-28")
    old = prices(days, seed=2)
    load_yfinance(
        ["XLU"],
        tmp_path,
        downloader=FakeYahoo({"XLU": old[old.index <= "2024-06-14"]}),
        now=pd.Timestamp("2024-06-15 12:00", tz="UTC"),
        start="2024-05-01",
    )
    factor = 0.99  # Yahoo re-adjusted everything before a 1% dividend paid after our last refresh
    new = old.copy()
    new[["Open", "High", "Low", "Close"]] *= factor
    fetch = load_yfinance(["XLU"], tmp_path, downloader=FakeYahoo({"XLU": new}), now=AFTER_CLOSE)
    merged = fetch.raw["XLU"].set_index("date")
    np.testing.assert_allclose(merged["close"], new["Close"].to_numpy(), rtol=1e-9)  # one basis, no step
    np.testing.assert_allclose(merged["volume"], old["Volume"].to_numpy())  # a dividend leaves volume alone
    (finding,) = fetch.report.findings
    assert (finding.ticker, finding.kind, finding.action) == ("XLU", "readjusted_history", "repaired")
    assert "0.99" in finding.detail and finding.where.endswith("XLU.csv")


def test_split_readjustment_rescales_volume_too(tmp_path):
    days = pd.bdate_range("2024-05-01", "2024-06-28")
    old = prices(days, seed=3)
    load_yfinance(
        ["NVDA"],
        tmp_path,
        downloader=FakeYahoo({"NVDA": old[old.index <= "2024-06-14"]}),
        now=pd.Timestamp("2024-06-15 12:00", tz="UTC"),
        start="2024-05-01",
    )
    new = old.copy()
    new[["Open", "High", "Low", "Close"]] /= 10  # a 10:1 split after the last refresh
    new["Volume"] *= 10
    fetch = load_yfinance(["NVDA"], tmp_path, downloader=FakeYahoo({"NVDA": new}), now=AFTER_CLOSE)
    merged = fetch.raw["NVDA"].set_index("date")
    np.testing.assert_allclose(merged["close"], new["Close"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(merged["volume"], new["Volume"].to_numpy(), rtol=1e-9)


def test_cache_files_are_readable_by_the_csv_source(tmp_path):
    days = pd.bdate_range("2024-06-03", "2024-06-28")
    load_yfinance(
        ["^VIX"], tmp_path, downloader=FakeYahoo({"^VIX": prices(days, 15)}), now=AFTER_CLOSE, start="2024-06-01"
    )
    raw, report = read_csv_file(tmp_path / "^VIX.csv", "^VIX")
    assert report.findings == [] and len(raw) == len(days)
    assert read_cache(["^VIX", "XLK"], tmp_path).failed == {"XLK": "not in the cache"}


def test_downloader_exception_is_named_not_raised(tmp_path):
    def broken(tickers, start, end, timeout, cache_dir):
        raise ConnectionError("connection reset by peer")

    fetch = load_yfinance(["XLK"], tmp_path, downloader=broken, now=AFTER_CLOSE)
    assert "ConnectionError" in fetch.failed["XLK"] and fetch.missing == ["XLK"]


@pytest.mark.parametrize("price_first", [True, False])
def test_split_download_reads_either_multiindex_order(price_first):
    days = pd.bdate_range("2024-06-03", "2024-06-07")
    a, b = prices(days), prices(days[2:], 50)  # b lists later: its first rows are NaN in the union
    rows, failed = split_download(yf_frame({"AAA": a, "BBB": b}, price_first), ["AAA", "BBB", "CCC"])
    assert failed == {"CCC": "not in the frame returned"}
    assert len(rows["AAA"]) == 5 and len(rows["BBB"]) == 3
    np.testing.assert_allclose(rows["BBB"]["close"], b["Close"].to_numpy())
    assert list(rows["AAA"].columns) == ["date", "open", "high", "low", "close", "volume"]


def test_split_download_reads_a_flat_single_ticker_frame():
    days = pd.bdate_range("2024-06-03", "2024-06-07")
    rows, failed = split_download(prices(days), ["AAA"])
    assert failed == {} and len(rows["AAA"]) == 5


def test_real_downloader_sets_the_tz_cache_first_and_asks_for_adjusted_prices(tmp_path, monkeypatch):
    events = []
    fake = types.ModuleType("yfinance")
    fake.set_tz_cache_location = lambda path: events.append(("tz", path))
    fake.download = lambda tickers, **kw: events.append(("download", tickers, kw)) or pd.DataFrame()
    monkeypatch.setitem(sys.modules, "yfinance", fake)
    monkeypatch.setattr(yahoo, "_TZ_CACHE_DIRS", set())
    yahoo.yf_download(["XLK"], "2024-01-01", None, 5.0, tmp_path)
    yahoo.yf_download(["XLF", "XLV"], "2024-01-01", None, 5.0, tmp_path)
    assert events[0] == ("tz", str(tmp_path / "yfinance"))
    assert [e[0] for e in events] == ["tz", "download", "download"]  # once per cache dir, before any request
    kw = events[1][2]
    assert kw["auto_adjust"] is True and kw["progress"] is False and kw["start"] == "2024-01-01"
    assert events[1][2]["threads"] is events[2][2]["threads"] is False  # yfinance's workers would hold exit


def test_importing_the_sources_does_not_import_yfinance():
    code = "import sys, features.sources.yahoo, features.sources.market; print('yfinance' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "False"


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(yahoo.CACHE_ENV, str(tmp_path / "c"))
    assert yahoo.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv(yahoo.CACHE_ENV)
    assert yahoo.default_cache_dir() == Path("~/.cache/sector-heatmap").expanduser()


def test_what_yfinance_logs_ends_up_in_the_failure_message(tmp_path, monkeypatch, capfd):
    fake = types.ModuleType("yfinance")
    fake.set_tz_cache_location = lambda path: None

    def download(tickers, **kw):  # offline yfinance: logs the cause, returns an empty frame
        import logging

        logging.getLogger("yfinance").error(
            "%s: DNSError('Could not resolve host: query2.finance.yahoo.com')", list(tickers)
        )
        return pd.DataFrame()

    fake.download = download
    monkeypatch.setitem(sys.modules, "yfinance", fake)
    monkeypatch.setattr(yahoo, "_TZ_CACHE_DIRS", set())
    fetch = load_yfinance(["XLK"], tmp_path, now=AFTER_CLOSE)
    assert "Could not resolve host" in fetch.failed["XLK"] and "empty frame" in fetch.failed["XLK"]
    assert "Could not resolve host" in fetch.notes[0]
    assert "DNSError" not in capfd.readouterr().err  # reported by us, not sprayed on stderr


def test_big_universes_go_in_batches_a_few_at_once_within_the_deadline(tmp_path, monkeypatch):
    monkeypatch.setattr(yahoo, "_HUNG", [])
    days = pd.bdate_range("2024-06-03", "2024-06-28")
    names = [f"T{i:02d}" for i in range(10)]
    serve = FakeYahoo({t: prices(days, seed=i) for i, t in enumerate(names)})
    release, lock, calls, running = threading.Event(), threading.Lock(), [], [0, 0]  # now, most at once

    def download(tickers, start, end, timeout, cache_dir):
        with lock:
            calls.append(list(tickers))
            running[0] += 1
            running[1] = max(running)
        if tickers[0] in ("T04", "T06"):  # the second wave never answers
            release.wait(10)
        with lock:
            running[0] -= 1
        return serve(tickers, start, end, timeout, cache_dir)

    try:
        fetch = load_yfinance(
            names,
            tmp_path,
            deadline_s=1.0,
            downloader=download,
            now=AFTER_CLOSE,
            start="2024-06-01",
            batch=2,
            parallel=2,
        )
    finally:
        release.set()
    assert sorted(map(tuple, calls)) == [("T00", "T01"), ("T02", "T03"), ("T04", "T05"), ("T06", "T07")]
    assert running[1] == 2  # two at once, never more
    assert sorted(fetch.refreshed) == names[:4]
    assert all("timed out after 1 s" in fetch.failed[t] for t in names[4:8])
    assert all("not attempted" in fetch.failed[t] for t in names[8:])  # the deadline left no time: named
    # the next refresh asks for exactly what is still missing
    again = FakeYahoo(serve.tables)
    fetch = load_yfinance(names, tmp_path, deadline_s=5, downloader=again, now=AFTER_CLOSE, start="2024-06-01")
    assert again.calls == [(names[4:], "2024-06-01")] and fetch.failed == {}
