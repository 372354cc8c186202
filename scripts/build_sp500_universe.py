"""Build the shipped `sp500` universe (features/universes/sp500.csv + sp500.yaml) from the public
S&P 500 constituents list (datasets/s-and-p-500-companies, ODC-PDDL), e.g.

    python scripts/build_sp500_universe.py CONSTITUENTS_CSV

Run by a person when the membership changes; the product reads only the files written here, never
the source list. Symbols are written as Yahoo spells them (BRK.B -> BRK-B). The list holds
today's members only, so the universe is flagged `current_members_only` (survivorship bias).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "features" / "universes"
# GICS sector codes, in the order the sectors are listed
GICS = {
    "Communication Services": "50",
    "Consumer Discretionary": "25",
    "Consumer Staples": "30",
    "Energy": "10",
    "Financials": "40",
    "Health Care": "35",
    "Industrials": "20",
    "Information Technology": "45",
    "Materials": "15",
    "Real Estate": "60",
    "Utilities": "55",
}
COHORTS = {  # as in us_sectors.yaml, with the GICS name of Technology
    "early_cycle": ["Consumer Discretionary", "Financials", "Industrials", "Information Technology", "Real Estate"],
    "late_cycle": ["Energy", "Materials"],
    "defensive": ["Consumer Staples", "Health Care", "Utilities"],
}


def us_sectors_context() -> dict[str, str]:
    """The market-context series of us_sectors.yaml (one list, so the two universes never drift apart)."""
    import yaml

    return dict(yaml.safe_load((OUT / "us_sectors.yaml").read_text(encoding="utf-8"))["context"])


def yahoo_symbol(symbol: str) -> str:
    """Yahoo writes share classes with a dash: BRK.B -> BRK-B, BF.B -> BF-B."""
    return symbol.strip().upper().replace(".", "-")


def build(source: Path, out: Path) -> int:
    with open(source, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    need = {"symbol", "name", "gics_sector", "gics_sub_industry"}
    if not rows or need - set(rows[0]):
        raise SystemExit(f"{source}: expected columns {sorted(need)}, got {list(rows[0]) if rows else 'none'}")
    unknown = sorted({r["gics_sector"] for r in rows} - set(GICS))
    if unknown:
        raise SystemExit(f"{source}: sectors not in GICS: {unknown}")
    rows.sort(key=lambda r: (list(GICS).index(r["gics_sector"]), yahoo_symbol(r["symbol"])))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "sp500.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["symbol", "sector", "sub_industry", "name"])
        for r in rows:
            w.writerow([yahoo_symbol(r["symbol"]), r["gics_sector"], r["gics_sub_industry"], r["name"].strip()])
    lines = [
        f"# Built by scripts/build_sp500_universe.py from {source.name} (datasets/s-and-p-500-companies, ODC-PDDL).",
        "# Do not edit by hand: re-run the script when the membership changes.",
        "name: sp500",
        f"description: S&P 500 members ({len(rows)}) in the 11 GICS sectors vs SPY, equal weight; today's members only",
        "benchmark: SPY",
        "calendar: XNYS",
        "constituents: sp500.csv",
        "current_members_only: true  # members that left the index are missing: survivorship bias over history",
        "sectors:",
        *(f'  - {{name: {name}, gics: "{code}"}}' for name, code in GICS.items()),
        "cohorts:",
        *(f"  {c}: [{', '.join(names)}]" for c, names in COHORTS.items()),
        "context:",
        *(f"  {k}: {v if not v.startswith('^') else repr(v)}" for k, v in us_sectors_context().items()),
    ]
    (out / "sp500.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out / 'sp500.csv'} ({len(rows)} members) and {out / 'sp500.yaml'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path, help="constituents CSV: symbol,name,gics_sector,gics_sub_industry,...")
    p.add_argument("--out", type=Path, default=OUT, help=f"folder to write to (default {OUT})")
    args = p.parse_args(argv)
    return build(args.source, args.out)


if __name__ == "__main__":
    sys.exit(main())
