"""Emotion categories: the one definition of their names and order.

Expression vectors per category (grounded in FACS prototypes, mapped to a head model's expression
space) are built by :mod:`emodiffhead.animate.emotion_vectors` from the AU table in
:mod:`emodiffhead.facs`.
"""

from __future__ import annotations

#: The emotion categories, in the order used by every (T, C) intensity array.
EMOTIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "angry",
    "surprised",
    "fearful",
    "disgusted",
    "contemptuous",
)
