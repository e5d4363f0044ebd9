"""Emotion categories -> expression vectors in a head model's space (FACS prototypes, retargeted).

``emotion_basis(head)[c]`` is the expression vector of category ``EMOTIONS[c]`` at intensity 1: the
FACS prototype of :mod:`emodiffhead.facs` (AU intensities -> ARKit weights through ``AU_TO_ARKIT``)
mapped by :func:`emodiffhead.animate.retarget.build_retarget`. ``neutral`` is the zero vector.
``emotion_above(head)[c]`` is what that vector changes by per unit of intensity above 1 (the AUs a category
holds there, ``facs.HELD_ABOVE_ONE``): a category's expression at intensity ``w`` is
``w * basis[c] + max(0, w - 1) * above[c]`` (:func:`emotion_response`), linear up to 1.
"""

from __future__ import annotations

import numpy as np

from ..emotion import EMOTIONS
from ..facs import above_ones_arkit, prototypes_arkit
from ..head.model import HeadModel
from .retarget import Retarget, build_retarget


def emotion_basis_arkit() -> np.ndarray:
    """(C, 52) float32 ARKit weights per category at intensity 1 (EMOTIONS order)."""
    return prototypes_arkit(EMOTIONS)


def emotion_above_arkit() -> np.ndarray:
    """(C, 52) float32 ARKit change per category per unit of intensity above 1 (EMOTIONS order)."""
    return above_ones_arkit(EMOTIONS)


def emotion_basis(head: HeadModel, retarget: Retarget | None = None) -> np.ndarray:
    """(C, E) float32 expression vector per category at intensity 1 for ``head`` (neutral = zeros).

    For heads without a jawOpen blendshape the jaw-drop part of surprise/fear is not in this basis; the
    animator puts it on the jaw joint instead (see compose.py).
    """
    rt = build_retarget(head) if retarget is None else retarget
    return rt.expression(emotion_basis_arkit())


def emotion_above(head: HeadModel, retarget: Retarget | None = None) -> np.ndarray:
    """(C, E) float32 change of each category's expression vector per unit of intensity above 1, for ``head``."""
    rt = build_retarget(head) if retarget is None else retarget
    return rt.expression(emotion_above_arkit())


def emotion_response(intensities: np.ndarray, basis: np.ndarray, above: np.ndarray | None = None) -> np.ndarray:
    """(T, E) float32 emotion expression ``w @ basis + max(0, w - 1) @ above`` for (T, C) intensities ``w``,
    (C, E) ``basis`` and (C, E) ``above`` (None: linear, as tracks written before ``above`` existed)."""
    w = np.asarray(intensities, np.float32)
    out = w @ np.asarray(basis, np.float32)
    if above is not None:
        out = out + np.maximum(w - 1.0, 0.0) @ np.asarray(above, np.float32)
    return out.astype(np.float32)
