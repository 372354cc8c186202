"""The embedded financial sentiment scorer: a linear model over word n-grams learned from labelled
finance tweets, blended with a curated finance lexicon (tone words, direction x object rules,
reported figures vs their comparison) that carries what tweets do not teach about news prose.

Everything comes from one small file (features/news/sentiment_model.npz) that
scripts/build_sentiment_model.py rebuilds; scoring needs numpy only, never the network.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from features.errors import ModelError
from features.news.text import ngrams, numeric_direction, tokens

MODEL_PATH = Path(__file__).with_name("sentiment_model.npz")
LABELS = ("negative", "neutral", "positive")  # the order of the model's columns
OBJECT_WINDOW = 4  # tokens either side of a direction word searched for what moved


@dataclass(frozen=True)
class Sentiment:
    label: str  # negative, neutral or positive
    score: float  # P(positive) - P(negative), in [-1, 1]
    probabilities: tuple[float, float, float]  # in LABELS order

    def to_dict(self) -> dict:
        return {"label": self.label, "score": round(self.score, 4)}


class SentimentScorer:
    """Scores headlines; deterministic, offline, thread-safe (read-only after construction)."""

    def __init__(self, path: str | Path = MODEL_PATH) -> None:
        try:
            with np.load(path, allow_pickle=False) as z:
                terms = [str(t) for t in z["terms"]]
                coef = z["coef"].astype(float)
                self.intercept = tuple(float(x) for x in z["intercept"])
                self.lexicon = {str(t): float(w) for t, w in zip(z["lex_terms"], z["lex_weights"])}
                self.up = frozenset(str(t) for t in z["up"])
                self.down = frozenset(str(t) for t in z["down"])
                self.bad_objects = frozenset(str(t) for t in z["bad_objects"])
                self.blend = float(z["blend"])
                self.version = str(z["version"])
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(
                f"sentiment model {path}: cannot be read ({exc}); rebuild it with scripts/build_sentiment_model.py"
            ) from None
        self.weights: dict[str, tuple[float, float, float]] = {
            t: (row[0], row[1], row[2]) for t, row in zip(terms, coef.tolist())
        }

    def lexicon_cue(self, text: str, toks: list[str] | None = None) -> float:
        """Signed tone from the curated lexicon: tone words (flipped under negation), direction words
        whose sign flips when what moved is bad ("losses narrowed" is good), and a reported figure
        above or below its comparison."""
        toks = tokens(text) if toks is None else toks
        bare = [t[4:] if t.startswith("not_") else t for t in toks]
        moves = [i for i, w in enumerate(bare) if w in self.up or w in self.down]
        governed = {  # bad objects a direction word speaks of: their tone is in that word's sign
            j
            for i in moves
            for j in range(max(0, i - OBJECT_WINDOW), min(len(bare), i + OBJECT_WINDOW + 1))
            if bare[j] in self.bad_objects
        }
        cue = 0.0
        for i, tok in enumerate(toks):
            sign = -1.0 if tok.startswith("not_") else 1.0
            word = bare[i]
            if word in self.up or word in self.down:
                near = bare[max(0, i - OBJECT_WINDOW) : i + OBJECT_WINDOW + 1]
                direction = 1.0 if word in self.up else -1.0
                if any(w in self.bad_objects for w in near):
                    direction = -direction
                cue += sign * direction
            elif word in self.lexicon and i not in governed:
                cue += sign * self.lexicon[word]
        moved = bool(moves)
        if not moved:
            figure = numeric_direction(text)
            if figure:
                cue += -figure if any(w in self.bad_objects for w in bare) else figure
        return cue

    def score(self, text: str) -> Sentiment:
        toks = tokens(text)
        z = list(self.intercept)
        get = self.weights.get
        for g in ngrams(toks):
            w = get(g)
            if w is not None:
                z[0] += w[0]
                z[1] += w[1]
                z[2] += w[2]
        cue = self.lexicon_cue(text, toks)
        if cue > 0:
            z[2] += self.blend * cue
        elif cue < 0:
            z[0] -= self.blend * cue
        top = max(z)
        e = [math.exp(v - top) for v in z]
        total = sum(e)
        p = (e[0] / total, e[1] / total, e[2] / total)
        label = LABELS[max(range(3), key=lambda k: p[k])]
        return Sentiment(label, max(-1.0, min(1.0, p[2] - p[0])), p)

    def score_many(self, texts: Iterable[str]) -> list[Sentiment]:
        return [self.score(t) for t in texts]


@lru_cache(maxsize=1)
def default_scorer() -> SentimentScorer:
    """The shipped scorer, loaded once per process on first use (not at import)."""
    return SentimentScorer()
