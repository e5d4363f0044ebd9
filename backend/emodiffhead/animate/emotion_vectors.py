"""Emotion categories -> expression vectors in a head model's space (FACS prototypes, retargeted).

``emotion_basis(head)[c]`` is the expression vector of category ``EMOTIONS[c]`` at intensity 1: the
FACS prototype of :mod:`emodiffhead.facs` (AU intensities -> ARKit weights through ``AU_TO_ARKIT``)
mapped by :func:`emodiffhead.animate.retarget.build_retarget`. ``neutral`` is the zero vector.
"""

from __future__ import annotations

import numpy as np

from ..emotion import EMOTIONS
from ..facs import prototypes_arkit
from ..head.model import HeadModel
from .retarget import Retarget, build_retarget


def emotion_basis_arkit() -> np.ndarray:
    """(C, 52) float32 ARKit weights per category at intensity 1 (EMOTIONS order)."""
    return prototypes_arkit(EMOTIONS)


def emotion_basis(head: HeadModel, retarget: Retarget | None = None) -> np.ndarray:
    """(C, E) float32 expression vector per category at intensity 1 for ``head`` (neutral = zeros).

    For heads without a jawOpen blendshape the jaw-drop part of surprise/fear is not in this basis; the
    animator puts it on the jaw joint instead (see compose.py).
    """
    rt = build_retarget(head) if retarget is None else retarget
    return rt.expression(emotion_basis_arkit())
