"""Turning a headline into the tokens and cues the sentiment scorer weighs.

Shared by the build script (scripts/build_sentiment_model.py) and the scorer, so the model is
trained on exactly the features it is later scored with. Hand-written rather than a library
tokenizer: it must be fast (thousands of headlines a second in pure Python) and identical at
build and run time, with no data files to download.
"""

from __future__ import annotations

import re

_URL = re.compile(r"https?://\S+|www\.\S+")
_CASHTAG = re.compile(r"[$#@][a-z][a-z0-9._-]*")
_TOKEN = re.compile(r"[a-z][a-z'&-]*[a-z]|[a-z]|\d+(?:[.,]\d+)*%?|[!?;:.,]")
_NEGATORS = frozenset({"not", "no", "never", "without", "nor", "neither", "cannot", "hardly", "fails", "failed"})
_CLAUSE_END = frozenset({".", ",", ";", ":", "!", "?", "but", "while", "although", "though"})
NEGATION_SPAN = 3  # tokens after a negator that it flips (or until the clause ends)
NUM = "<num>"


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; links, cashtags and mentions dropped, numbers folded to one token,
    and up to NEGATION_SPAN words after a negator prefixed with `not_` (so "not profitable" is its
    own feature, not "profitable")."""
    t = _CASHTAG.sub(" ", _URL.sub(" ", text.lower())).replace("n't", " not")
    out: list[str] = []
    flip = 0
    for tok in _TOKEN.findall(t):
        if tok in _CLAUSE_END:
            flip = 0
            continue
        if tok[0].isdigit():
            out.append(NUM)
            continue
        if tok in _NEGATORS:
            flip = NEGATION_SPAN
            out.append(tok)
            continue
        if flip:
            flip -= 1
            out.append("not_" + tok)
        else:
            out.append(tok)
    return out


def ngrams(toks: list[str]) -> list[str]:
    """Unigrams and bigrams: the model's features."""
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]


_NUMBER = re.compile(r"(\d+(?:,\d{3})*(?:\.\d+)?)")
# "... rose to EUR 8.0 mn from EUR 7.6 mn", "EUR 15.6 mn compared to EUR 14.1 mn", "up 12% from 9%"
_TO_FROM = re.compile(r"\bto\s+\D{0,12}?(\d[\d,]*(?:\.\d+)?)\D{0,12}?\bfrom\s+\D{0,12}?(\d[\d,]*(?:\.\d+)?)")
_VERSUS = re.compile(
    r"(\d[\d,]*(?:\.\d+)?)[^\d]{0,20}?\b(?:compared to|compared with|versus|vs\.?|against|from)\s+\D{0,14}?"
    r"(\d[\d,]*(?:\.\d+)?)"
)


def _num(s: str) -> float:
    return float(s.replace(",", ""))


def numeric_direction(text: str) -> int:
    """+1 when the sentence reports a figure above its comparison ("to 8.0 from 7.6", "15.6 compared
    to 14.1"), -1 below, 0 otherwise. Journalists state results this way; tweets rarely do, so the
    tweet-trained model cannot learn it. Years (19xx/20xx) are not figures."""
    t = text.lower()
    for pattern in (_TO_FROM, _VERSUS):
        for m in pattern.finditer(t):
            a, b = _num(m.group(1)), _num(m.group(2))
            if any(1900 <= v <= 2100 and float(v).is_integer() for v in (a, b)) or a == b:
                continue
            return 1 if a > b else -1
    return 0
