"""The embedded demo market: seeded, realistic daily bars so the whole pipeline runs offline.

Why generated and not shipped: a fresh clone must train and serve with no network, and the
tests need markets whose truth is known (a pure random walk, or a planted signal of known
strength) to prove the pipeline neither invents skill nor misses it.

Construction (daily log returns; every random draw comes from one ``SeedSequence(seed)``
split into independent streams, so the output is a pure function of the knobs, seed and end):

* Regimes: a 2-state Markov chain, calm spells of ~CALM_MEAN_DAYS and stressed spells of
  ~STRESS_MEAN_DAYS sessions (a few switches a decade). The volatility multiplier ``v_t`` is
  1 in calm and STRESS_VOL (2.5) in stress, eased in over a few days, times a slow wobble.
* Shocks are Student-t with T_DF (4) degrees of freedom scaled to unit variance (fat tails),
  truncated at SHOCK_CLIP standard deviations.
* Market factor ``f_t = v_t * MARKET_SIGMA * e_t``. A sector (or stock) earns
  ``r_it = MU_DAILY + beta_i f_t + v_t sigma_i e_it + drift_it``; stocks add a sector factor.
  Every series has the same expected log return MU_DAILY, so relative returns have no drift.
* Benchmark: the log-return-weighted mix of its parts, ``r_b = sum_i w_i r_i`` (SPY-like fixed
  sector weights; for constituents, cap-ish weights over the members listed that day).
* Planted signal: per sector a latent score ``z`` follows a unit-variance AR(1) with a half-life
  of Z_HALFLIFE (~3 months). It adds ``drift_{s,t+1} = k * sigma_s * v_{t+1} * z_{s,t}`` to the
  sector's return (sigma_s: the sector's own non-market volatility), so the score known at the
  close of t moves returns from t+1 on. ``k`` is solved (by a seeded Monte-Carlo of the
  cross-section) so that the mean per-date rank IC between ``z_t`` and the forward
  SIGNAL_HORIZON-session log return relative to the benchmark equals ``signal``. ``z`` is also
  observable: the sector's log abnormal volume is ``0.5 * z + noise``. ``signal=0`` gives
  ``k=0``: relative returns are then an exact driftless random walk, unpredictable from
  anything in the data (z still shows in volume: visible to a model, but predicting nothing).
  ``demo_latent`` returns z, the regime and k for the same knobs, so tests can check both.
* Volume: a level per ticker, raised by |standardised return| and by the volatility regime.
* Context series: VIX follows the regime and jumps on market sell-offs; 10y/5y yields are
  bounded random walks in percent; bonds, credit, dollar and commodities load on the market
  and on the 10-year yield. Indices and yields have zero volume, as on Yahoo.
* OHLC: the open is the previous close moved by part of the day's return plus noise; high and
  low extend beyond open and close by exponential excursions, so low <= open, close <= high > 0.
* ``sectors=11, stocks=0`` mirrors the shipped ``us_sectors`` universe (XLB..XLY vs SPY, with
  XLC and XLRE starting on their real launch dates) plus its market-context series;
  ``stocks>0`` generates a constituent universe (``S03_0042`` tickers, benchmark DEMOIDX) in
  which a few members list late or delist early.

The scale case (10 sectors x 200 stocks x 20 years, ~10M bars) is generated one sector block
at a time in float32, writing straight into preallocated output columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.bars import VALUE_COLUMNS
from features.calendar import sessions
from features.universe import COHORTS, Sector, Universe, load_universe

# -- calendar --------------------------------------------------------------------------------
DAYS_PER_YEAR = 365.25
TRADING_DAYS = 252
MIN_SESSIONS = 60  # fewer than this is not a market anyone can learn from

# -- regimes and volatility ------------------------------------------------------------------
CALM_MEAN_DAYS = 630  # mean calm spell (~2.5 years) ...
STRESS_MEAN_DAYS = 126  # ... and stressed spell (~6 months): a few switches a decade
STRESS_VOL = 2.5  # volatility multiplier while stressed
VOL_EASE_HALFLIFE = 5  # sessions for volatility to move half-way to a new regime's level
VOL_WOBBLE_PHI = 0.98  # slow within-regime volatility drift (log AR(1)) ...
VOL_WOBBLE_SD = 0.12  # ... and its stationary standard deviation

# -- returns ---------------------------------------------------------------------------------
MU_DAILY = 0.07 / TRADING_DAYS  # common expected log return of every series
MARKET_SIGMA = 0.0085  # calm daily market volatility (~13.5% a year)
T_DF = 4  # Student-t degrees of freedom of every shock (even: drawn from exponentials)
SHOCK_CLIP = 6.0  # truncate shocks at this many standard deviations

# -- planted signal --------------------------------------------------------------------------
Z_HALFLIFE = 63  # sessions (~3 months)
SIGNAL_HORIZON = 21  # sessions over which `signal` is the oracle rank IC
MAX_ABS_SIGNAL = 0.6
CALIBRATION_DRAWS = 8000  # cross-sections simulated to solve k
CALIBRATION_SEED = 20240521
CALIBRATION_K_MAX = 5.0
CALIBRATION_STEPS = 30  # bisection steps on k

# -- volume ----------------------------------------------------------------------------------
ABNORMAL_VOLUME_Z = 0.5  # log abnormal sector volume = 0.5 * z + noise
SECTOR_VOLUME_NOISE = 0.4  # sd of that noise (sector level)
STOCK_VOLUME_NOISE = 0.5  # extra member-level noise in constituent mode
VOLUME_ABS_RETURN = 0.25  # log volume per standard deviation of |return|
VOLUME_VOL_ELASTICITY = 0.6  # log volume per log volatility multiplier
CONTEXT_VOLUME_NOISE = 0.25

# -- OHLC ------------------------------------------------------------------------------------
GAP_SHARE = 0.25  # share of the close-to-close return realised overnight
GAP_NOISE = 0.15  # extra open noise, in daily standard deviations
RANGE_SCALE = 0.5  # mean high/low extension beyond open/close (exponential), in daily sigmas

# -- constituent mode ------------------------------------------------------------------------
DEMO_BENCHMARK = "DEMOIDX"
LATE_LISTING_SHARE = 0.04
EARLY_DELISTING_SHARE = 0.03
MIN_LISTED_SESSIONS = 126
SECTOR_BETA_RANGE = (0.6, 1.3)  # generated sectors: betas drawn here, then scaled to mean 1
SECTOR_SIGMA_RANGE = (0.005, 0.011)  # generated sector series: daily non-market sigma
FACTOR_SIGMA_RANGE = (0.004, 0.009)  # constituent mode: daily sigma of the sector factor
STOCK_IDIO_MEDIAN = 0.015  # daily idiosyncratic volatility of a typical member ...
STOCK_IDIO_LOG_SD = 0.35  # ... its dispersion across members ...
STOCK_IDIO_BOUNDS = (0.006, 0.045)  # ... and its bounds
STOCK_BETA_SD = 0.25  # member beta = sector beta + noise, within STOCK_BETA_BOUNDS
STOCK_BETA_BOUNDS = (0.2, 2.5)
SECTOR_LOADING_SD = 0.2  # member loading on its sector factor = 1 + noise, within LOADING_BOUNDS
LOADING_BOUNDS = (0.3, 2.0)
STOCK_PRICE_LOG_SD = 0.8  # start prices around GENERIC_PRICE
STOCK_VOLUME_LOG_SD = 1.0  # volume levels around STOCK_VOLUME_MEDIAN
CAP_LOG_SD = 1.5  # dispersion of member capitalisations (benchmark weights)

# -- the us_sectors mirror -------------------------------------------------------------------
LATE_STARTS = {"XLC": "2018-06-19", "XLRE": "2015-10-08"}  # real launch dates
# ticker: (beta, daily non-market sigma, benchmark weight, start price, median daily volume)
ETF_PARAMS = {
    "XLB": (1.05, 0.0065, 0.025, 25.0, 6e6),
    "XLC": (1.00, 0.0070, 0.090, 45.0, 4e6),
    "XLE": (1.05, 0.0120, 0.045, 30.0, 15e6),
    "XLF": (1.10, 0.0070, 0.120, 20.0, 40e6),
    "XLI": (1.05, 0.0050, 0.080, 25.0, 10e6),
    "XLK": (1.15, 0.0065, 0.250, 20.0, 8e6),
    "XLP": (0.60, 0.0055, 0.065, 22.0, 9e6),
    "XLRE": (0.90, 0.0080, 0.030, 30.0, 5e6),
    "XLU": (0.55, 0.0080, 0.030, 25.0, 12e6),
    "XLV": (0.75, 0.0055, 0.130, 25.0, 9e6),
    "XLY": (1.10, 0.0055, 0.110, 25.0, 5e6),
}
BENCHMARK_PRICE = 110.0
BENCHMARK_VOLUME = 80e6  # SPY-like
DEMO_INDEX_VOLUME = 8e6  # the constituent-mode index (an ETF on it)
GENERIC_PRICE = 30.0
GENERIC_VOLUME = 5e6
STOCK_VOLUME_MEDIAN = 1e6

# context role (universe.context key): how the series behaves. Kinds: "vix" and "yield" are
# levels; the others are prices with market beta, yield duration, own sigma and start level.
CONTEXT_SPECS: dict[str, dict[str, Any]] = {
    "vix": dict(kind="vix", base=14.0, elasticity=0.85, phi=0.92, sd=0.05, shock=0.04, lo=9.0, hi=85.0),
    "yield_10y": dict(kind="yield", start=(2.0, 5.0), sd=0.055, lo=0.5, hi=8.0),
    "yield_5y": dict(kind="yield_spread", spread=0.5, spread_sd=0.35, phi=0.995, lo=0.1),
    "long_treasury": dict(kind="price", beta=0.0, duration=17.0, sigma=0.002, start=90.0, volume=15e6),
    "high_yield": dict(kind="price", beta=0.35, duration=3.0, sigma=0.002, start=85.0, volume=20e6),
    "investment_grade": dict(kind="price", beta=0.1, duration=8.0, sigma=0.0015, start=100.0, volume=8e6),
    "dollar": dict(kind="price", beta=-0.1, duration=0.0, sigma=0.0045, start=23.0, volume=2e6),
    "oil": dict(kind="price", beta=0.4, duration=0.0, sigma=0.016, start=60.0, volume=3e5),
    "copper": dict(kind="price", beta=0.3, duration=0.0, sigma=0.014, start=3.0, volume=5e4),
    "gold": dict(kind="price", beta=-0.05, duration=0.0, sigma=0.009, start=1200.0, volume=2e5),
    "tips": dict(kind="price", beta=0.05, duration=7.0, sigma=0.002, start=55.0, volume=3e6),
}

_STREAMS = ("params", "regime", "vol", "market", "latent", "sector", "listing", "context", "blocks", "bench")


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoKnobs:
    """The knobs of a demo market (and of ``demo[:k=v,...]``), declared once; checked by ``_plan``."""

    sectors: int = 11
    stocks: int = 0
    years: float = 20.0
    signal: float = 0.0
    seed: int = 7


@dataclass(frozen=True)
class DemoLatent:
    """The hidden state behind a demo market, for tests and for honest reporting."""

    z: pd.DataFrame  # date x sector key: the latent score known at each close
    stressed: pd.Series  # date -> bool, the volatility regime
    vol: pd.Series  # date -> volatility multiplier
    k: float  # drift per unit z, in units of the sector's own daily sigma
    signal: float  # the target oracle rank IC at SIGNAL_HORIZON sessions


@dataclass
class _Plan:
    dates: pd.DatetimeIndex
    universe: Universe
    keys: list[str]  # sector keys (ETF ticker or sector name)
    beta: np.ndarray  # per sector (ETF mode: the ETF itself)
    sigma: np.ndarray  # per sector: non-market daily sigma of the sector series
    stressed: np.ndarray
    vol: np.ndarray  # (T,) float32
    z: np.ndarray  # (S, T) float32
    k: float
    seeds: dict[str, np.random.SeedSequence]
    stocks: dict | None = None  # constituent-mode member parameters


def demo_market(*, end=None, calendar: str = "XNYS", **knobs) -> tuple[pd.DataFrame, Universe]:
    """Tidy bars of a seeded demo market and the universe they belong to (see module doc).

    ``knobs`` are DemoKnobs fields (sectors, stocks, years, signal, seed); ``end`` defaults to
    ``default_end(calendar)``.
    """
    plan = _plan(DemoKnobs(**knobs), end, calendar)
    rng = {name: np.random.default_rng(ss) for name, ss in plan.seeds.items()}
    T = len(plan.dates)
    market = (plan.vol * MARKET_SIGMA * _t_shocks(rng["market"], (T,))).astype(np.float32)
    drift = _drift(plan)  # (S, T)
    ctx = _context_specs(plan.universe)
    counts = {plan.universe.benchmark: T, **{t: T for t in ctx}}
    if plan.stocks is None:
        for key in plan.keys:
            counts[key] = int(_etf_mask(key, plan.dates).sum())
    else:
        listed = plan.stocks["listed"]
        counts.update(zip(plan.stocks["tickers"], (int(n) for n in listed.sum(axis=1)), strict=True))
    sink, ws = _Sink(plan.dates, counts), _Work()
    blocks = _etf_blocks if plan.stocks is None else _stock_blocks
    bench_r = blocks(plan, rng, ws, market, drift, sink)
    _benchmark(plan, rng["bench"], ws, bench_r, sink)
    _context(plan, rng["context"], ws, market, ctx, sink)
    return sink.frame(), plan.universe


def demo_latent(*, end=None, calendar: str = "XNYS", **knobs) -> DemoLatent:
    """The latent score, regime and drift coefficient of ``demo_market`` with the same knobs."""
    spec = DemoKnobs(**knobs)
    plan = _plan(spec, end, calendar)
    return DemoLatent(
        z=pd.DataFrame(plan.z.T.astype(np.float64), index=plan.dates, columns=plan.keys),
        stressed=pd.Series(plan.stressed, index=plan.dates, name="stressed"),
        vol=pd.Series(plan.vol.astype(np.float64), index=plan.dates, name="vol"),
        k=plan.k,
        signal=float(spec.signal),
    )


def default_end(calendar: str = "XNYS") -> pd.Timestamp:
    """The last session strictly before today, so the demo looks current."""
    today = pd.Timestamp.today().normalize()
    return sessions(calendar, today - pd.Timedelta(days=14), today - pd.Timedelta(days=1))[-1]


# -- the plan: everything demo_market and demo_latent share -----------------------------------
def _plan(knobs: DemoKnobs, end, calendar: str) -> _Plan:
    sectors, stocks = _check_int("sectors", knobs.sectors, 1, 99), _check_int("stocks", knobs.stocks, 0, 9999)
    seed = _check_int("seed", knobs.seed, 0, 2**63 - 1)
    years, signal = float(knobs.years), float(knobs.signal)
    if not years > 0:
        raise ValueError(f"demo: years must be positive, got {years}")
    if not abs(signal) <= MAX_ABS_SIGNAL:
        raise ValueError(f"demo: signal must be within ±{MAX_ABS_SIGNAL} (a rank IC), got {signal}")
    end = default_end(calendar) if end is None else pd.Timestamp(end).normalize()
    dates = sessions(calendar, end - pd.Timedelta(days=round(years * DAYS_PER_YEAR)), end)
    if len(dates) < MIN_SESSIONS:
        raise ValueError(f"demo: {years} years to {end.date()} give only {len(dates)} sessions; need {MIN_SESSIONS}")
    T = len(dates)
    seeds = dict(zip(_STREAMS, np.random.SeedSequence(seed).spawn(len(_STREAMS)), strict=True))
    params = np.random.default_rng(seeds["params"])

    stock_params = None
    if stocks == 0 and sectors == len(ETF_PARAMS):
        universe = load_universe("us_sectors")
        keys = [s.key for s in universe.sectors]
        beta, sigma, w = (np.array([ETF_PARAMS[k][i] for k in keys]) for i in (0, 1, 2))
        beta = beta / (w / w.sum() @ beta)  # the benchmark has beta 1
    elif stocks == 0:
        universe = _generic_universe(sectors, 0, calendar)
        keys = [s.key for s in universe.sectors]
        beta = params.uniform(*SECTOR_BETA_RANGE, sectors)
        sigma = params.uniform(*SECTOR_SIGMA_RANGE, sectors)
        beta = beta / beta.mean()
    else:
        universe = _generic_universe(sectors, stocks, calendar)
        keys = [s.key for s in universe.sectors]
        beta = params.uniform(*SECTOR_BETA_RANGE, sectors)
        beta = beta / beta.mean()
        factor_sigma = params.uniform(*FACTOR_SIGMA_RANGE, sectors)
        stock_params = _stock_params(params, np.random.default_rng(seeds["listing"]), universe, beta, T)
        # noise of an equal-weighted sector series: its factor plus the members' averaged idio
        idio = stock_params["sigma"].reshape(sectors, stocks)
        loading = stock_params["loading"].reshape(sectors, stocks).mean(axis=1)
        sigma = np.sqrt((loading * factor_sigma) ** 2 + (idio**2).sum(axis=1) / stocks**2)
        stock_params["factor_sigma"] = factor_sigma

    stressed = _regimes(np.random.default_rng(seeds["regime"]), T)
    vol = _vol_multiplier(np.random.default_rng(seeds["vol"]), stressed)
    z = _latent(np.random.default_rng(seeds["latent"]), len(keys), T)
    k = _solve_k(signal, sigma, beta)
    return _Plan(dates, universe, keys, beta, sigma, stressed, vol, z, k, seeds, stock_params)


def _check_int(name: str, value, lo: int, hi: int) -> int:
    try:
        ok = not isinstance(value, bool) and int(value) == value and lo <= int(value) <= hi
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"demo: {name} must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def _generic_universe(sectors: int, stocks: int, calendar: str) -> Universe:
    names = [f"Sector {i + 1:02d}" for i in range(sectors)]
    if stocks:
        secs = tuple(
            Sector(name=n, members=tuple(f"S{i + 1:02d}_{j:04d}" for j in range(stocks))) for i, n in enumerate(names)
        )
        desc = f"demo market: {sectors} sectors x {stocks} stocks vs {DEMO_BENCHMARK}"
    else:
        secs = tuple(Sector(name=n, ticker=f"SEC{i + 1:02d}") for i, n in enumerate(names))
        desc = f"demo market: {sectors} sector series vs {DEMO_BENCHMARK}"
    cohorts = {c: tuple(names[j :: len(COHORTS)]) for j, c in enumerate(COHORTS) if names[j :: len(COHORTS)]}
    return Universe(
        name=f"demo-{sectors}x{stocks}" if stocks else f"demo-{sectors}",
        benchmark=DEMO_BENCHMARK,
        sectors=secs,
        calendar=calendar,
        cohorts=cohorts,
        context=dict(load_universe("us_sectors").context),
        description=desc,
    )


def _stock_params(rng, listing_rng, universe: Universe, sector_beta, T) -> dict:
    tickers = universe.sector_tickers()
    n_sec, n = len(universe.sectors), len(tickers)
    per = n // n_sec
    beta = np.clip(np.repeat(sector_beta, per) + rng.normal(0, STOCK_BETA_SD, n), *STOCK_BETA_BOUNDS)
    loading = np.clip(1 + rng.normal(0, SECTOR_LOADING_SD, n), *LOADING_BOUNDS)
    sigma = np.clip(STOCK_IDIO_MEDIAN * rng.lognormal(0, STOCK_IDIO_LOG_SD, n), *STOCK_IDIO_BOUNDS)
    price0 = GENERIC_PRICE * rng.lognormal(0, STOCK_PRICE_LOG_SD, n)
    cap = rng.lognormal(0, CAP_LOG_SD, n)
    volume = STOCK_VOLUME_MEDIAN * rng.lognormal(0, STOCK_VOLUME_LOG_SD, n)
    # late listings and early delistings, at least MIN_LISTED_SESSIONS apart
    first = np.zeros(n, dtype=np.int64)
    last = np.full(n, T - 1, dtype=np.int64)
    late = listing_rng.random(n) < LATE_LISTING_SHARE
    early = listing_rng.random(n) < EARLY_DELISTING_SHARE
    span = max(T - 2 * MIN_LISTED_SESSIONS, 1)
    first[late] = listing_rng.integers(1, span, late.sum())
    last[early] = np.minimum(T - 2, first[early] + MIN_LISTED_SESSIONS + listing_rng.integers(0, span, early.sum()))
    t = np.arange(T)
    listed = (t >= first[:, None]) & (t <= last[:, None])
    return dict(
        tickers=tickers, beta=beta, loading=loading, sigma=sigma, price0=price0, cap=cap, volume=volume, listed=listed
    )


def _regimes(rng, T: int) -> np.ndarray:
    """Calm/stressed Markov chain started from its stationary distribution."""
    p_in, p_out = 1 / CALM_MEAN_DAYS, 1 / STRESS_MEAN_DAYS
    u = rng.random(T)
    state = bool(rng.random() < p_in / (p_in + p_out))
    out = np.empty(T, dtype=bool)
    for t in range(T):  # one scalar step per day: the chain is inherently sequential
        state = (u[t] >= p_out) if state else (u[t] < p_in)
        out[t] = state
    return out


def _vol_multiplier(rng, stressed: np.ndarray) -> np.ndarray:
    target = np.where(stressed, np.log(STRESS_VOL), 0.0)
    ease = 0.5 ** (1 / VOL_EASE_HALFLIFE)
    level = _ar1(target * (1 - ease), ease, target[0])
    wobble = _ar1(
        rng.standard_normal(len(stressed)) * VOL_WOBBLE_SD * np.sqrt(1 - VOL_WOBBLE_PHI**2),
        VOL_WOBBLE_PHI,
        rng.standard_normal() * VOL_WOBBLE_SD,
    )
    return np.exp(level + wobble - VOL_WOBBLE_SD**2 / 2).astype(np.float32)


def _ar1(innovations: np.ndarray, phi: float, x0) -> np.ndarray:
    """x_t = phi x_{t-1} + innovations_t along axis 0 (vectorised over the other axes)."""
    out = np.empty_like(innovations, dtype=np.float64)
    prev = np.asarray(x0, dtype=np.float64)
    for t in range(len(innovations)):
        prev = phi * prev + innovations[t]
        out[t] = prev
    return out


def _latent(rng, n_sectors: int, T: int) -> np.ndarray:
    """Unit-variance AR(1) scores with half-life Z_HALFLIFE, stationary from the first day."""
    phi = 0.5 ** (1 / Z_HALFLIFE)
    eps = rng.standard_normal((T, n_sectors)) * np.sqrt(1 - phi**2)
    z = _ar1(eps, phi, rng.standard_normal(n_sectors))  # z_{-1} ~ N(0, 1): stationary start
    return z.T.astype(np.float32)


def _solve_k(signal: float, sigma: np.ndarray, beta: np.ndarray) -> float:
    """Drift per unit z (in sector sigmas) whose oracle rank IC at SIGNAL_HORIZON is `signal`.

    Simulates cross-sections of (z_t, forward relative return) as generated: the forward drift
    sum is S = A z_t + sqrt(B - A^2) eta (exact for the Gaussian AR(1)), the noise sums h
    Student-t shocks, sigma_s e_s + (beta_s - mean beta) MARKET_SIGMA F. The regime multiplier
    scales drift and noise alike, so it cancels. Common random numbers keep IC(k) monotone.
    """
    if signal == 0:
        return 0.0
    h, phi = SIGNAL_HORIZON, 0.5 ** (1 / Z_HALFLIFE)
    j = np.arange(h)
    A = (phi**j).sum()
    B = (phi ** np.abs(j[:, None] - j[None, :])).sum()
    rng = np.random.default_rng(CALIBRATION_SEED)
    n, m = len(sigma), CALIBRATION_DRAWS
    z0 = rng.standard_normal((m, n))
    drift_sum = A * z0 + np.sqrt(B - A**2) * rng.standard_normal((m, n))
    own = _t_shocks(rng, (h, m, n)).sum(axis=0, dtype=np.float64)  # fat tails survive 21 days a bit
    common = _t_shocks(rng, (h, m, 1)).sum(axis=0, dtype=np.float64)
    noise = sigma * own + (beta - beta.mean()) * MARKET_SIGMA * common
    rz = z0.argsort(axis=1).argsort(axis=1)

    def rank_ic(k: float) -> float:
        ry = (k * sigma * drift_sum + noise).argsort(axis=1).argsort(axis=1)
        return float(np.mean(1 - 6 * ((rz - ry) ** 2).sum(axis=1) / (n * (n * n - 1))))

    target = abs(signal)
    if n < 3 or rank_ic(CALIBRATION_K_MAX) < target:
        raise ValueError(f"demo: a rank IC of {signal} is not reachable with {n} sectors")
    lo, hi = 0.0, CALIBRATION_K_MAX
    for _ in range(CALIBRATION_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if rank_ic(mid) < target else (lo, mid)
    return float(np.copysign((lo + hi) / 2, signal))


def _drift(plan: _Plan) -> np.ndarray:
    """drift_{s,t} = k sigma_s v_t z_{s,t-1}: yesterday's score moves today's return."""
    drift = np.zeros_like(plan.z)
    if plan.k:
        drift[:, 1:] = plan.k * plan.sigma[:, None] * plan.vol[None, 1:] * plan.z[:, :-1]
    return drift


# -- random building blocks --------------------------------------------------------------------
class _Work:
    """Scratch arrays reused across blocks: fresh pages cost more than the arithmetic here."""

    def __init__(self):
        self._bufs: dict = {}

    def get(self, name: str, shape: tuple, dtype=np.float32) -> np.ndarray:
        key = (name, tuple(shape), np.dtype(dtype))
        if key not in self._bufs:
            self._bufs[key] = np.empty(shape, dtype=dtype)
        return self._bufs[key]


def _t_shocks(rng, shape, out: np.ndarray | None = None, scratch: np.ndarray | None = None) -> np.ndarray:
    """Unit-variance Student-t(T_DF) shocks in float32, truncated at SHOCK_CLIP.

    t = N / sqrt(chi2_df / df); for an even df, chi2_df / 2 is a sum of df/2 exponentials,
    which numpy draws several times faster than a gamma.
    """
    out = np.empty(shape, dtype=np.float32) if out is None else out
    scratch = np.empty((T_DF // 2, *shape), dtype=np.float32) if scratch is None else scratch
    rng.standard_normal(dtype=np.float32, out=out)
    rng.standard_exponential(dtype=np.float32, out=scratch)
    half_chi2 = scratch.sum(axis=0, out=scratch[0]) if T_DF > 2 else scratch[0]
    half_chi2 *= np.float32(2 / T_DF * T_DF / (T_DF - 2))  # chi2/df, times the t variance df/(df-2)
    np.sqrt(half_chi2, out=half_chi2)
    out /= half_chi2
    return np.clip(out, -SHOCK_CLIP, SHOCK_CLIP, out=out)


def _log_volume(rng, ws: _Work, r, scale, base, noise_sd: float) -> np.ndarray:
    """Log volume: base (level, regime, abnormal part) + busy-day term + noise, in a buffer."""
    out = ws.get("log_volume", r.shape)
    np.subtract(r, np.float32(MU_DAILY), out=out)
    np.abs(out, out=out)
    out /= scale
    out -= np.float32(np.sqrt(2 / np.pi))  # E|standardised shock| for a normal: busy days trade more
    out *= np.float32(VOLUME_ABS_RETURN)
    out += base
    if noise_sd:
        noise = ws.get("noise", r.shape)
        rng.standard_normal(dtype=np.float32, out=noise)
        noise *= np.float32(noise_sd)
        out += noise
    return out


def _ohlcv(rng, ws: _Work, log_close: np.ndarray, r: np.ndarray, scale, log_volume, write) -> None:
    """OHLCV around a close path, handed column by column to `write(column, values)`.

    Open = previous close moved by GAP_SHARE of the day's return plus noise; high and low sit
    beyond both by exponential excursions of mean RANGE_SCALE daily sigmas (`scale`, broadcastable).
    `log_close` (float64) is consumed: it becomes the close.
    """
    shape = log_close.shape
    rel = ws.get("rel", shape)  # log(open / close)
    tmp = ws.get("tmp", shape)
    ext = ws.get("ext", shape)
    close = np.exp(log_close, out=log_close)
    opened = ws.get("open", shape, np.float64)
    price = ws.get("price", shape, np.float64)
    write("close", close)
    rng.standard_normal(dtype=np.float32, out=tmp)
    tmp *= scale
    tmp *= np.float32(GAP_NOISE)
    np.multiply(r, np.float32(GAP_SHARE - 1), out=rel)
    rel += tmp
    np.exp(rel, out=tmp)
    np.multiply(close, tmp, out=opened)
    write("open", opened)
    for column, side in (("high", np.maximum), ("low", np.minimum)):
        rng.standard_exponential(dtype=np.float32, out=ext)
        ext *= scale
        ext *= np.float32(RANGE_SCALE if column == "high" else -RANGE_SCALE)
        side(rel, np.float32(0), out=tmp)
        ext += tmp
        np.exp(ext, out=ext)
        np.multiply(close, ext, out=price)
        side(price, opened, out=price)  # exact OHLC order whatever the rounding of exp
        side(price, close, out=price)
        write(column, price)
    if log_volume is None:
        price[...] = 0.0  # indices and yields trade no volume on Yahoo either
    else:
        np.exp(log_volume, out=price)
        np.rint(price, out=price)
    write("volume", price)


# -- blocks -----------------------------------------------------------------------------------
def _etf_blocks(plan: _Plan, rng, ws: _Work, market, drift, sink) -> np.ndarray:
    """All sector series at once; returns the benchmark's log returns."""
    S, T = plan.z.shape
    beta = plan.beta.astype(np.float32)[:, None]
    sigma = plan.sigma.astype(np.float32)[:, None]
    vol = plan.vol[None, :]
    r = _t_shocks(rng["sector"], (S, T))
    r *= vol * sigma
    r += beta * market[None, :] + np.float32(MU_DAILY) + drift
    if plan.universe.name == "us_sectors":
        weights, price0, level = (np.array([ETF_PARAMS[k][i] for k in plan.keys]) for i in (2, 3, 4))
    else:
        weights, price0, level = np.ones(S), np.full(S, GENERIC_PRICE), np.full(S, GENERIC_VOLUME)
    scale = (vol * np.sqrt(sigma**2 + (beta * MARKET_SIGMA) ** 2)).astype(np.float32)
    base = (np.log(level)[:, None] + VOLUME_VOL_ELASTICITY * np.log(vol) + ABNORMAL_VOLUME_Z * plan.z).astype(
        np.float32
    )
    block = rng["blocks"]
    log_volume = _log_volume(block, ws, r, scale, base, SECTOR_VOLUME_NOISE)
    log_close = np.cumsum(r, axis=1, dtype=np.float64)
    mask = np.stack([_etf_mask(k, plan.dates) for k in plan.keys])
    first = mask.argmax(axis=1)  # late starters open near their start price too
    log_close += (np.log(price0) - log_close[np.arange(S), first])[:, None]
    _ohlcv(block, ws, log_close, r, scale, log_volume, sink.writer(plan.keys, mask))
    return (weights / weights.sum() @ r.astype(np.float64)).astype(np.float32)


def _etf_mask(ticker: str, dates: pd.DatetimeIndex) -> np.ndarray:
    start = LATE_STARTS.get(ticker)
    return np.ones(len(dates), dtype=bool) if start is None else np.asarray(dates >= pd.Timestamp(start))


def _stock_blocks(plan: _Plan, rng, ws: _Work, market, drift, sink) -> np.ndarray:
    """One sector of members at a time in reused buffers; returns the cap-weighted index return."""
    sp = plan.stocks
    assert sp is not None  # only called for constituent markets
    S, T = plan.z.shape
    per = len(sp["tickers"]) // S
    shape = (per, T)
    vol = plan.vol[None, :]
    log_vol = VOLUME_VOL_ELASTICITY * np.log(plan.vol)
    factor = _t_shocks(rng["sector"], (S, T))
    factor *= vol * sp["factor_sigma"].astype(np.float32)[:, None]
    sector_noise = SECTOR_VOLUME_NOISE * rng["sector"].standard_normal((S, T), dtype=np.float32)
    num, den = np.zeros(T), np.zeros(T)
    r, tmp = ws.get("r", shape), ws.get("scratch", shape)
    chi2 = ws.get("chi2", (T_DF // 2, *shape))
    scale = ws.get("scale", shape)
    log_close = ws.get("log_close", shape, np.float64)
    for s, block_seed in enumerate(plan.seeds["blocks"].spawn(S)):  # one iteration per sector
        block = np.random.default_rng(block_seed)
        rows = slice(s * per, (s + 1) * per)
        beta = sp["beta"][rows].astype(np.float32)[:, None]
        loading = sp["loading"][rows].astype(np.float32)[:, None]
        sigma = sp["sigma"][rows].astype(np.float32)[:, None]
        listed = sp["listed"][rows]
        _t_shocks(block, shape, out=r, scratch=chi2)
        r *= np.multiply(vol, sigma, out=tmp)
        r += np.multiply(beta, market[None, :], out=tmp)
        r += np.multiply(loading, factor[s][None, :], out=tmp)
        r += np.float32(MU_DAILY) + drift[s][None, :]
        total = np.sqrt(sigma**2 + (beta * MARKET_SIGMA) ** 2 + (loading * sp["factor_sigma"][s]) ** 2)
        np.multiply(vol, total.astype(np.float32), out=scale)
        np.multiply(listed, sp["cap"][rows].astype(np.float32)[:, None], out=tmp)
        den += tmp.sum(axis=0, dtype=np.float64)
        tmp *= r
        num += tmp.sum(axis=0, dtype=np.float64)
        np.add.outer(
            np.log(sp["volume"][rows]).astype(np.float32),
            log_vol + ABNORMAL_VOLUME_Z * plan.z[s] + sector_noise[s],
            out=tmp,
        )
        log_volume = _log_volume(block, ws, r, scale, tmp, STOCK_VOLUME_NOISE)
        np.cumsum(r, axis=1, dtype=np.float64, out=log_close)
        log_close += np.log(sp["price0"][rows])[:, None]
        _ohlcv(block, ws, log_close, r, scale, log_volume, sink.writer(sp["tickers"][rows], listed))
    return (num / np.maximum(den, 1e-12)).astype(np.float32)


def _benchmark(plan: _Plan, rng, ws: _Work, r: np.ndarray, sink) -> None:
    scale = (plan.vol * MARKET_SIGMA)[None, :]
    level = BENCHMARK_VOLUME if plan.universe.benchmark == "SPY" else DEMO_INDEX_VOLUME
    base = (np.log(level) + VOLUME_VOL_ELASTICITY * np.log(plan.vol)).astype(np.float32)[None, :]
    r = r[None, :]
    log_volume = _log_volume(rng, ws, r, scale, base, CONTEXT_VOLUME_NOISE)
    log_close = np.log(BENCHMARK_PRICE) + np.cumsum(r, axis=1, dtype=np.float64)
    _ohlcv(rng, ws, log_close, r, scale, log_volume, sink.writer([plan.universe.benchmark], None))


def _context_specs(universe: Universe) -> dict[str, dict]:
    """Context ticker -> spec, for the roles we know how to simulate (unknown roles are skipped)."""
    return {t: {"role": role, **CONTEXT_SPECS[role]} for role, t in universe.context.items() if role in CONTEXT_SPECS}


def _context(plan: _Plan, rng, ws: _Work, market, ctx: dict[str, dict], sink) -> None:
    """VIX tied to the regime and to market shocks, yields as bounded random walks, and
    rate/credit/dollar/commodity prices loading on the market and on the 10-year yield."""
    T = len(plan.dates)
    vol = plan.vol
    shocks = market / (vol * MARKET_SIGMA)  # standardised market shocks
    y = CONTEXT_SPECS["yield_10y"]
    y10 = _reflect(rng.uniform(*y["start"]) + np.cumsum(y["sd"] * rng.standard_normal(T)), y["lo"], y["hi"])
    dy10 = np.diff(y10, prepend=y10[0])
    for ticker, spec in ctx.items():
        kind, level = spec["kind"], None
        if kind == "vix":
            wobble = _ar1(spec["sd"] * rng.standard_normal(T) - spec["shock"] * shocks, spec["phi"], 0.0)
            level = np.clip(spec["base"] * vol ** spec["elasticity"] * np.exp(wobble), spec["lo"], spec["hi"])
        elif kind == "yield":
            level = y10
        elif kind == "yield_spread":
            sd = spec["spread_sd"] * np.sqrt(1 - spec["phi"] ** 2)
            level = np.maximum(y10 - spec["spread"] - _ar1(sd * rng.standard_normal(T), spec["phi"], 0.0), spec["lo"])
        if level is not None:  # a quoted level: returns are its log changes, no volume
            log_close = np.log(level)[None, :]
            r = np.diff(log_close, axis=1, prepend=log_close[:, :1]).astype(np.float32)
            scale = np.float32(max(np.abs(r).mean(), 1e-4))
            _ohlcv(rng, ws, log_close, r, scale, None, sink.writer([ticker], None))
            continue
        sigma = spec["sigma"]
        r = (spec["beta"] * market - spec["duration"] * dy10 / 100 + vol * sigma * _t_shocks(rng, (T,)))[None, :]
        r = r.astype(np.float32)
        scale = (vol * np.sqrt(sigma**2 + (spec["beta"] * MARKET_SIGMA) ** 2)).astype(np.float32)[None, :]
        base = (np.log(spec["volume"]) + VOLUME_VOL_ELASTICITY * np.log(vol)).astype(np.float32)[None, :]
        log_volume = _log_volume(rng, ws, r, scale, base, CONTEXT_VOLUME_NOISE)
        log_close = np.log(spec["start"]) + np.cumsum(r, axis=1, dtype=np.float64)
        _ohlcv(rng, ws, log_close, r, scale, log_volume, sink.writer([ticker], None))


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold a path into [lo, hi] by mirroring at the bounds (a reflected random walk)."""
    width = hi - lo
    p = np.mod(x - lo, 2 * width)
    return lo + width - np.abs(p - width)


# -- output ----------------------------------------------------------------------------------
class _Sink:
    """Preallocated tidy columns, rows ordered by (ticker, date) as features.bars.tidy_bars sorts."""

    def __init__(self, dates: pd.DatetimeIndex, counts: dict[str, int]):
        self.dates = np.asarray(dates.values, dtype="datetime64[ns]")
        self.order = sorted(counts)
        self.counts = dict(counts)
        starts = np.concatenate([[0], np.cumsum([counts[t] for t in self.order])[:-1]]).astype(np.int64)
        self.start = dict(zip(self.order, starts.tolist(), strict=True))
        total = sum(counts.values())
        self.date = np.empty(total, dtype="datetime64[ns]")
        self.cols = {c: np.empty(total) for c in VALUE_COLUMNS}

    def writer(self, tickers, mask: np.ndarray | None):
        """A `write(column, values)` for one block of rows (tickers x dates, `mask` = listed)."""
        tickers = list(tickers)
        starts = [self.start[t] for t in tickers]
        lengths = [self.counts[t] for t in tickers]
        lo, hi = starts[0], starts[-1] + lengths[-1]
        contiguous = hi - lo == sum(lengths)
        flat = None if mask is None else np.ascontiguousarray(mask).ravel()
        for i, (start, n) in enumerate(zip(starts, lengths, strict=True)):
            self.date[start : start + n] = self.dates if mask is None else self.dates[mask[i]]

        def write(column: str, values: np.ndarray) -> None:
            out = self.cols[column]
            if contiguous and flat is None:
                out[lo:hi] = values.ravel()
            elif contiguous:
                np.compress(flat, values.ravel(), out=out[lo:hi])  # type: ignore[arg-type]  # flat is set here
            else:
                for i, (start, n) in enumerate(zip(starts, lengths, strict=True)):
                    out[start : start + n] = values[i] if mask is None else values[i, mask[i]]

        return write

    def frame(self) -> pd.DataFrame:
        ticker = _ticker_column(self.order, np.array([self.counts[t] for t in self.order]))
        return pd.DataFrame({"date": self.date, "ticker": ticker, **self.cols}, copy=False)


def _ticker_column(names: list[str], counts: np.ndarray):
    """The str ticker column, built by dictionary-decoding when pyarrow is there (10x faster)."""
    try:
        import pyarrow as pa
    except ImportError:
        return pd.array(np.repeat(np.array(names, dtype=object), counts), dtype="str")
    codes = pa.array(np.repeat(np.arange(len(names), dtype=np.int32), counts))
    return pd.array(pa.array(names, type=pa.large_string()).take(codes), dtype="str")
