"""The one rule on face quality: below the setting, a face is never named by a model nor learnt from."""

from __future__ import annotations


def is_good(quality: float | None, min_quality: float) -> bool:
    # Faces stored before quality was measured have none; they were good enough then and stay so.
    return quality is None or quality >= min_quality


def gated(person: str | None, confidence: float, quality: float | None, min_quality: float
          ) -> tuple[str | None, float]:
    """A model's decision after the gate: a poor face it named becomes unknown, with the confidence of
    that decision (the model's confidences are always of the decision taken)."""
    if person is None or is_good(quality, min_quality):
        return person, confidence
    return None, round(1.0 - confidence, 4)
