"""Out-of-sample skill metrics for cross-sectional sector forecasts (alphalens / Qlib style).

Input convention: `scores` is a DataFrame indexed by (date, sector) with columns `score`
(higher = expected to outperform) and `label` (realised forward relative log return), holding
only evaluation dates already subsampled to rebalance dates. Rows with a NaN in a column a metric
needs are ignored by that metric. Horizons can exceed the rebalance step, so per-date values
overlap in time: every interval and t-stat here is autocorrelation-aware (Newey-West, block
bootstrap), because naive iid statistics would overstate the skill of 11-sector forecasts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SCORE = "score"
LABEL = "label"
MIN_SECTORS_FOR_CORR = 3  # fewer points make a per-date correlation meaningless (always +-1)
MIN_BLOCK_LENGTH = 5  # floor for the bootstrap block: neighbouring dates share market regimes
IC_METHODS = ("spearman", "pearson")


# ---------------------------------------------------------------- input handling
def check_date_sector_index(index: pd.Index) -> None:
    """One value per (date, sector): the metrics and the backtest unstack to (date x sector) panels."""
    if index.nlevels != 2:
        raise ValueError(f"scores index must be (date, sector); it has {index.nlevels} level(s)")
    dup = index.duplicated()
    if dup.any():
        raise ValueError(f"scores has {int(dup.sum())} duplicated (date, sector) rows, e.g. {list(index[dup][:3])}")


def _check_frame(scores: pd.DataFrame, columns: tuple[str, ...]) -> None:
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores must be a DataFrame, got {type(scores).__name__}")
    check_date_sector_index(scores.index)
    missing = [c for c in columns if c not in scores.columns]
    if missing:
        raise ValueError(f"scores is missing column(s) {missing}; has {list(scores.columns)}")


def _panel(scores: pd.DataFrame, column: str) -> pd.DataFrame:
    """One column as a (date x sector) float panel; absent rows become NaN."""
    return scores[column].astype("float64").unstack(level=1).sort_index()


def _panels(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score and label panels masked to the cells where BOTH are known."""
    _check_frame(scores, (SCORE, LABEL))
    s, y = _panel(scores, SCORE), _panel(scores, LABEL)
    both = s.notna() & y.notna()
    return s.where(both), y.where(both)


# ---------------------------------------------------------------- cross-sectional helpers
def _rowwise_corr(a: np.ndarray, b: np.ndarray, min_n: int = MIN_SECTORS_FOR_CORR) -> np.ndarray:
    """Pearson correlation of each row of `a` with the same row of `b` over cells known in both.

    NaN where a row has fewer than `min_n` common cells or either side is constant.
    """
    mask = ~np.isnan(a) & ~np.isnan(b)
    n = mask.sum(axis=1)
    a0, b0 = np.where(mask, a, 0.0), np.where(mask, b, 0.0)
    safe_n = np.maximum(n, 1)
    da = np.where(mask, a0 - (a0.sum(axis=1) / safe_n)[:, None], 0.0)
    db = np.where(mask, b0 - (b0.sum(axis=1) / safe_n)[:, None], 0.0)
    constant = np.zeros(len(a), dtype=bool)
    for x in (a, b):  # exact constancy test: demeaned float sums are not exactly 0
        hi = np.where(mask, x, -np.inf).max(axis=1)
        lo = np.where(mask, x, np.inf).min(axis=1)
        constant |= ~(hi > lo)
    ok = (n >= min_n) & ~constant
    denom = np.sqrt((da**2).sum(axis=1) * (db**2).sum(axis=1))
    out = np.full(len(a), np.nan)
    out[ok] = (da * db).sum(axis=1)[ok] / denom[ok]
    return out


def top_k_mask(panel: pd.DataFrame, k: int) -> pd.DataFrame:
    """Boolean (date x sector) mask of the k highest non-NaN values per row.

    Ties are broken by column order so the selection is deterministic; a row with fewer than
    k values selects all of them (callers decide whether that row counts).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return panel.rank(axis=1, ascending=False, method="first").le(k)


# ---------------------------------------------------------------- per-date metrics
def ic_by_date(scores: pd.DataFrame, method: str = "spearman") -> pd.Series:
    """Information coefficient per date: correlation across sectors of score and label.

    `spearman` (rank IC) is the headline: with 11 sectors one outlier dominates Pearson.
    Dates with fewer than 3 valid sectors or a constant score/label are dropped.
    """
    if method not in IC_METHODS:
        raise ValueError(f"method must be one of {IC_METHODS}, got {method!r}")
    s, y = _panels(scores)
    if method == "spearman":
        s, y = s.rank(axis=1), y.rank(axis=1)  # average ranks for ties, as scipy does
    ic = pd.Series(_rowwise_corr(s.to_numpy(), y.to_numpy()), index=s.index, name=f"{method}_ic")
    return ic.dropna()


def top_bottom_spread(scores: pd.DataFrame, k: int = 3) -> pd.Series:
    """Per date: mean label of the k best-scored sectors minus that of the k worst.

    The long-short return a PM would see from trusting the ranking; dates with fewer than
    2k valid sectors are dropped so the two legs never share a sector.
    """
    s, y = _panels(scores)
    top, bottom = top_k_mask(s, k), top_k_mask(-s, k)
    spread = y.where(top).mean(axis=1) - y.where(bottom).mean(axis=1)
    enough = s.notna().sum(axis=1) >= 2 * k
    return spread[enough].rename(f"top{k}_minus_bottom{k}")


def hit_rate(scores: pd.DataFrame) -> float:
    """Fraction of (date, sector) rows whose score calls the label's side of the date's mean.

    A row is a hit when score - mean(score that date) and label - mean(label that date) have
    the same sign, i.e. the model said above/below average and the sector was. Means are taken
    over the rows valid that date; rows exactly at either mean are not counted (no call made).
    Cross-sectional demeaning removes the market move, which no sector model should get credit for.
    """
    s, y = _panels(scores)
    ds = np.sign(s.sub(s.mean(axis=1), axis=0).to_numpy())
    dy = np.sign(y.sub(y.mean(axis=1), axis=0).to_numpy())
    called = (ds != 0) & (dy != 0) & ~np.isnan(ds) & ~np.isnan(dy)
    n = int(called.sum())
    return float((ds == dy)[called].sum() / n) if n else float("nan")


def rank_autocorrelation(scores: pd.DataFrame) -> pd.Series:
    """Spearman correlation of scores between consecutive dates, over sectors scored on both.

    High values mean a stable ranking, hence low turnover and low cost drag. Indexed by the later date.
    """
    _check_frame(scores, (SCORE,))
    s = _panel(scores, SCORE)
    prev, cur = s.iloc[:-1].to_numpy(), s.iloc[1:].to_numpy()
    both = ~np.isnan(prev) & ~np.isnan(cur)
    rp = pd.DataFrame(np.where(both, prev, np.nan)).rank(axis=1).to_numpy()
    rc = pd.DataFrame(np.where(both, cur, np.nan)).rank(axis=1).to_numpy()
    out = pd.Series(_rowwise_corr(rp, rc), index=s.index[1:], name="rank_autocorrelation")
    return out.dropna()


def top_k_turnover(scores: pd.DataFrame, k: int = 3) -> float:
    """Mean fraction of the top-k set replaced from one rebalance date to the next.

    Only pairs of consecutive dates where both have at least k scored sectors count.
    """
    _check_frame(scores, (SCORE,))
    top = top_k_mask(_panel(scores, SCORE), k).to_numpy()
    full = top.sum(axis=1) == k
    pair = full[1:] & full[:-1]
    if not pair.any():
        return float("nan")
    replaced = (top[1:] & ~top[:-1]).sum(axis=1) / k
    return float(replaced[pair].mean())


def interval_coverage(labels, lower, upper) -> float:
    """Fraction of labels inside [lower, upper]; rows with any NaN are ignored.

    Compare with the nominal level of the interval: coverage far below it means overconfidence.
    """
    y, lo, hi = (np.asarray(v, dtype="float64").ravel() for v in (labels, lower, upper))
    if not (len(y) == len(lo) == len(hi)):
        raise ValueError(f"labels/lower/upper lengths differ: {len(y)}, {len(lo)}, {len(hi)}")
    ok = ~(np.isnan(y) | np.isnan(lo) | np.isnan(hi))
    bad = ok & (lo > hi)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} interval(s) have lower > upper, first at position {int(np.argmax(bad))}")
    if not ok.any():
        return float("nan")
    return float(((lo[ok] <= y[ok]) & (y[ok] <= hi[ok])).mean())


# ---------------------------------------------------------------- time-series summaries
def newey_west_tstat(x: np.ndarray, lags: int) -> float:
    """t-stat of the mean with a Newey-West (Bartlett) HAC variance using `lags` lags.

    Overlapping forward returns make neighbouring per-date values correlated; the plain
    t-stat would then be too large by roughly sqrt(overlap).
    """
    x = np.asarray(x, dtype="float64")
    n = len(x)
    if n < 2:
        return float("nan")
    e = x - x.mean()
    s = e @ e / n
    for j in range(1, min(lags, n - 1) + 1):
        s += 2.0 * (1.0 - j / (lags + 1.0)) * (e[j:] @ e[:-j]) / n
    return float(x.mean() / np.sqrt(s / n)) if s > 0 else float("nan")


def block_bootstrap_ci(
    x: np.ndarray, block: int, n_boot: int = 2000, ci: float = 0.90, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval for the mean from a circular block bootstrap.

    Resampling whole blocks of consecutive dates keeps their dependence, which an iid
    bootstrap would destroy (giving intervals that are too narrow). Each resample is
    ceil(n / block) blocks; block sums come from one cumulative sum, so it is fully vectorised.
    """
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    x = np.asarray(x, dtype="float64")
    n = len(x)
    if n < 2:
        return float("nan"), float("nan")
    b = int(min(max(block, 1), n))
    wrapped = np.concatenate([[0.0], np.cumsum(np.concatenate([x, x[: b - 1]]))])
    block_sums = wrapped[b : b + n] - wrapped[:n]  # block_sums[i] = x[i] + ... + x[i+b-1] (circular)
    n_blocks = -(-n // b)
    starts = np.random.default_rng(seed).integers(0, n, size=(n_boot, n_blocks))
    means = block_sums[starts].sum(axis=1) / (n_blocks * b)
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def summarise_series(
    x: pd.Series,
    overlap: int,
    n_boot: int = 2000,
    ci: float = 0.90,
    seed: int = 0,
    min_block: int = MIN_BLOCK_LENGTH,
) -> dict:
    """Mean, std, mean/std ("ir"), HAC t-stat and block-bootstrap interval of a per-date series.

    `overlap` = ceil(horizon / step): how many consecutive dates share label days. It sets the
    Newey-West lags and (with the `min_block` floor) the bootstrap block length.
    """
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    v = pd.Series(x, dtype="float64").dropna().to_numpy()
    n = len(v)
    block = int(max(overlap, min_block))
    mean = float(v.mean()) if n else float("nan")
    std = float(v.std(ddof=1)) if n > 1 else float("nan")
    lo, hi = block_bootstrap_ci(v, block, n_boot=n_boot, ci=ci, seed=seed)
    return {
        "mean": mean,
        "std": std,
        "ir": mean / std if std and std > 0 else float("nan"),
        "t_stat": newey_west_tstat(v, overlap),
        "ci_low": lo,
        "ci_high": hi,
        "n": n,
        "block_length": min(block, n),
    }


def summarise_ic(ic: pd.Series, overlap: int, n_boot: int = 2000, ci: float = 0.90, seed: int = 0) -> dict:
    """`summarise_series` for an IC series, with the ratio named ICIR as Qlib does."""
    out = summarise_series(ic, overlap, n_boot=n_boot, ci=ci, seed=seed)
    out["icir"] = out.pop("ir")
    return out
