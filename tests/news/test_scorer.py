"""The embedded sentiment scorer: range, determinism, negation and finance rules, accuracy on held-out
tweets (never trained on), the shipped file small and rebuilt exactly by its script, and the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.news.scorer import LABELS, MODEL_PATH, SentimentScorer, default_scorer
from features.news.text import numeric_direction, tokens
from serving.cli import main

ROOT = Path(__file__).resolve().parents[2]
SENTIMENT_DATA = ROOT.parent / "shared" / "data" / "sentiment"
TWEET_LABELS = {0: "negative", 1: "positive", 2: "neutral"}


@pytest.fixture(scope="module")
def scorer() -> SentimentScorer:
    return default_scorer()


@pytest.fixture(scope="module")
def held_out() -> pd.DataFrame:
    path = SENTIMENT_DATA / "tweets_valid.csv"
    if not path.is_file():
        pytest.skip(f"labelled tweets not present at {path} (only in the team's workspace)")
    frame = pd.read_csv(path)
    return frame.assign(y=frame["label"].map(TWEET_LABELS))


def test_scores_are_in_range_labelled_and_deterministic(scorer):
    texts = ["", "!!!", "Stocks", "Company X reports record profit", "Shares crash " * 50, "$AAPL https://t.co/x"]
    first = [scorer.score(t) for t in texts]
    again = [SentimentScorer(MODEL_PATH).score(t) for t in texts]
    for a, b in zip(first, again):
        assert a == b and a.label in LABELS and -1.0 <= a.score <= 1.0
        assert sum(a.probabilities) == pytest.approx(1.0) and a.score == pytest.approx(
            a.probabilities[2] - a.probabilities[0]
        )


def test_negation_flips_tone(scorer):
    assert tokens("profits did not improve, sadly") == ["profits", "did", "not", "not_improve", "sadly"]
    assert scorer.score("the results were good").label == "positive"
    assert scorer.score("the results were not good").label == "negative"
    assert scorer.lexicon_cue("demand is not weak") > 0 > scorer.lexicon_cue("demand is weak")


@pytest.mark.parametrize(
    "text, label",
    [
        ("Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period", "positive"),
        ("Net sales decreased to EUR 221.6 mn from EUR 241.1 mn", "negative"),
        ("The company's net loss narrowed to $2 million", "positive"),
        ("Costs rose sharply in the third quarter", "negative"),
        ("The annual general meeting will be held in Helsinki on 12 March", "neutral"),
    ],
)
def test_finance_rules_direction_times_object(scorer, text, label):
    assert scorer.score(text).label == label


def test_reported_figures_against_their_comparison():
    assert numeric_direction("profit was EUR 15.6 mn compared to EUR 14.1 mn in 2007") == 1
    assert numeric_direction("cash totaled EUR 6.5 m, compared to EUR 10.5 m a year earlier") == -1
    assert numeric_direction("sales in 2008 versus 2007") == 0  # years are not figures
    assert numeric_direction("no figures here") == 0


def test_accuracy_on_held_out_tweets(scorer, held_out):
    """The validation split is never used by the build script (train split only); a scorer that lost
    its learned part or its lexicon falls below these."""
    pred = np.array([scorer.score(t).label for t in held_out["text"]])
    truth = held_out["y"].to_numpy()
    accuracy = float((pred == truth).mean())
    f1s = []
    for k in LABELS:
        tp = float(((pred == k) & (truth == k)).sum())
        prec, rec = tp / max((pred == k).sum(), 1), tp / max((truth == k).sum(), 1)
        f1s.append(0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
    assert accuracy >= 0.75 and float(np.mean(f1s)) >= 0.70, (accuracy, f1s)


def test_shipped_model_is_small_and_offline():
    assert MODEL_PATH.stat().st_size < 5 * 1024 * 1024
    with np.load(MODEL_PATH, allow_pickle=False) as z:  # plain arrays, no pickled objects
        assert z["coef"].shape[1] == 3 and len(z["terms"]) == z["coef"].shape[0]


@pytest.mark.slow
def test_the_build_script_rebuilds_the_shipped_file(tmp_path):
    if not (SENTIMENT_DATA / "tweets_train.csv").is_file():
        pytest.skip(f"labelled tweets not present at {SENTIMENT_DATA}")
    out = tmp_path / "model.npz"
    script = ROOT / "scripts" / "build_sentiment_model.py"
    subprocess.run([sys.executable, str(script), "--data", str(SENTIMENT_DATA), "--out", str(out)], check=True)
    with np.load(out) as new, np.load(MODEL_PATH) as shipped:
        assert set(new.files) == set(shipped.files)
        for k in new.files:
            if new[k].dtype.kind == "f":
                np.testing.assert_allclose(new[k], shipped[k], atol=1e-4, err_msg=k)
            else:
                assert np.array_equal(new[k], shipped[k]), k


def test_broken_model_file_is_a_clear_error(tmp_path):
    from features.errors import ModelError

    bad = tmp_path / "m.npz"
    bad.write_bytes(b"nope")
    with pytest.raises(ModelError, match="build_sentiment_model"):
        SentimentScorer(bad)


# ---- sector-heatmap sentiment -----------------------------------------------------------------
def test_cli_scores_stdin_one_json_line_each(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Shares plunge after profit warning\n\nRecord revenue lifts stock\n"))
    assert main(["sentiment"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["label"] for x in lines] == ["negative", "positive"]  # the blank line is skipped
    assert all(set(x) == {"text", "label", "score"} and -1 <= x["score"] <= 1 for x in lines)


def test_cli_reads_a_file_and_names_a_missing_one(tmp_path, capsys):
    f = tmp_path / "h.txt"
    f.write_text("The board will meet on Tuesday\n", encoding="utf-8")
    assert main(["sentiment", "--file", str(f)]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "neutral"
    assert main(["sentiment", "--file", str(tmp_path / "missing.txt")]) == 2
    assert "--file" in capsys.readouterr().err
