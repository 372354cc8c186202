"""`sector-heatmap sentiment`: score text with the embedded finance sentiment scorer, one JSON line per
input line; and `sector-heatmap news`: fetch and store headlines now, or show what the store holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from features.errors import RequestError


def cmd_sentiment(args) -> int:
    from features.news.scorer import SentimentScorer, default_scorer

    scorer = SentimentScorer(args.model) if args.model else default_scorer()
    stream: TextIO
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise RequestError(f"--file: no such file {args.file}")
        stream = path.open(encoding="utf-8", errors="replace")
    else:
        stream = sys.stdin
    out = sys.stdout
    with stream:
        for line in stream:
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            s = scorer.score(text)
            out.write(json.dumps({"text": text, **s.to_dict()}, ensure_ascii=False) + "\n")
    return 0


def cmd_news(args) -> int:
    from features.cli import feature_config
    from features.news.refresh import open_store, refresh_news
    from features.sources.yahoo import default_cache_dir
    from features.universe import load_universe

    cfg = feature_config(args).news
    universe = load_universe(args.universe)
    store = open_store(Path(args.cache_dir) if args.cache_dir else default_cache_dir())
    if store.rebuilt:
        print(f"warning: {store.rebuilt}", file=sys.stderr)
    if args.fetch:
        r = refresh_news(store, universe, cfg)
        why = f" ({next(iter(r.failed.values()))}...)" if r.failed else ""
        print(f"fetched {r.fetched} headline(s), {r.new} new; {len(r.failed)} ticker(s) failed{why}", file=sys.stderr)
        news = r.news
    else:
        import pandas as pd

        from features.news.aggregates import universe_news

        news = universe_news(store, universe.name, [s.key for s in universe.sectors], pd.Timestamp.now("UTC"), cfg)
    for key, n in news.items():
        sent = "n/a" if n.sentiment is None else f"{n.sentiment:+.2f}"
        vol = "n/a" if n.volume is None else f"{n.volume:.2f}x"
        print(f"{key:6s} sentiment {sent:>6s}  volume {vol:>6s}  headlines {n.headlines}")
        for h in n.top:
            print(f"    [{h.score:+.2f}] {h.title} ({h.provider})")
    return 0


def register(sub) -> None:
    from features.cli import add_config_option

    p = sub.add_parser("sentiment", help="score text (one per line, stdin or --file) as positive/negative/neutral")
    p.add_argument("--file", default=None, help="read the texts from FILE instead of stdin")
    p.add_argument("--model", default=None, help="a sentiment model file (default: the shipped one)")
    p.set_defaults(func=cmd_sentiment)
    p = sub.add_parser("news", help="headlines per sector from the local store (--fetch: from yfinance first)")
    p.add_argument("--universe", default="us_sectors")
    p.add_argument("--fetch", action="store_true", help="fetch, score and store headlines now")
    p.add_argument("--cache-dir", default=None, help="cache directory (default: SECTOR_HEATMAP_CACHE or ~/.cache)")
    add_config_option(p)
    p.set_defaults(func=cmd_news)
