"""A tiny sentiment "model": a lexicon of positive and negative words and a squashed score.

Deliberately small (no weights to download), so the exercise is about the container, not the model.
"""

from __future__ import annotations

import math
import re

POSITIVE = {
    "good", "great", "excellent", "love", "loved", "lovely", "happy", "nice", "fast", "amazing",
    "awesome", "wonderful", "best", "like", "enjoy", "enjoyed", "fantastic", "helpful", "clean", "easy",
}
NEGATIVE = {
    "bad", "terrible", "awful", "hate", "hated", "sad", "slow", "worst", "broken", "poor",
    "horrible", "angry", "boring", "bug", "bugs", "crash", "crashes", "ugly", "hard", "disappointing",
}
NEGATIONS = {"not", "no", "never", "don't", "isn't", "wasn't", "didn't", "doesn't"}

WORD = re.compile(r"[a-z']+")


def predict(text: str) -> dict:
    """{"label": "positive" | "negative", "score": float in [0, 1]} (score = confidence in the label)."""
    words = WORD.findall(text.lower())
    total = 0.0
    for index, word in enumerate(words):
        weight = 1.0 if word in POSITIVE else -1.0 if word in NEGATIVE else 0.0
        if weight and index > 0 and words[index - 1] in NEGATIONS:
            weight = -weight
        total += weight
    probability_positive = 1.0 / (1.0 + math.exp(-total))
    label = "positive" if total >= 0 else "negative"
    score = probability_positive if label == "positive" else 1.0 - probability_positive
    return {"label": label, "score": round(score, 4)}
