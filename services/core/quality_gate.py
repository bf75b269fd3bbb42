"""The one rule on face quality: below the setting, a face is never named by a model nor learnt from."""

from __future__ import annotations


def is_good(quality: float | None, min_quality: float) -> bool:
    # Faces stored before quality was measured have none; they were good enough then and stay so.
    return quality is None or quality >= min_quality
