"""Tone and risk: VADER sentiment (offline, its lexicon ships in the wheel) plus the organisation's keywords.

A message is flagged when it reads as angry (compound score at or below ANGRY) or names a risk keyword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

ANGRY = -0.6


@dataclass(frozen=True)
class Tone:
    sentiment: float
    risk_terms: tuple[str, ...]

    @property
    def flagged(self) -> bool:
        return self.sentiment <= ANGRY or bool(self.risk_terms)


@lru_cache(maxsize=1)
def _analyser() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def keyword_pattern(phrases) -> re.Pattern | None:
    """One compiled pattern for an organisation's keywords: whole words or phrases, any case."""
    cleaned = sorted({" ".join(p.lower().split()) for p in phrases if p and p.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    alternatives = "|".join(r"\s+".join(map(re.escape, p.split())) for p in cleaned)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def assess(text: str, keywords: re.Pattern | None = None) -> Tone:
    sentiment = round(_analyser().polarity_scores(text or "")["compound"], 4)
    terms: tuple[str, ...] = ()
    if keywords is not None and text:
        terms = tuple(sorted({" ".join(m.lower().split()) for m in keywords.findall(text)}))
    return Tone(sentiment=sentiment, risk_terms=terms)
