"""Carry a track made for one head model (e.g. a FLAME head) over to another (the built-in head) for rendering.

The image renderers drive the photo through the built-in head (its 478-point MediaPipe landmark embedding is
what the photo fit uses). A track of another head is mapped linearly: the expression matrix ``W`` (E_dst, E_src)
is the ridge least-squares fit of the source head's landmark displacement per unit coefficient by the
destination head's, on the landmarks both heads share (:func:`emodiffhead.animate.retarget.shared_landmarks`,
e.g. MICA's ``mediapipe105`` embedding for FLAME), scaled by the ratio of the landmark sets' RMS spreads. This
is the inverse direction of :func:`emodiffhead.animate.retarget.fit_landmark_retarget`. Joint rotations and the
translation are the same five FLAME-style joints in both heads and are copied.
"""

from __future__ import annotations

import numpy as np

from ..head.model import HeadModel
from ..track import Track
from .retarget import landmark_basis, shared_landmarks


def expression_transfer(src: HeadModel, dst: HeadModel, ridge: float = 1e-3) -> np.ndarray:
    """(E_dst, E_src) float32: destination coefficients reproducing each source component's landmark motion.

    Raises NotAvailableError when the heads share no landmark scheme (see ``shared_landmarks``).
    """
    idx = shared_landmarks(src, dst)
    src_rest, Js = landmark_basis(src)
    dst_rest, Jd = landmark_basis(dst)
    dst_rest = dst_rest[idx]
    Jd = Jd.reshape(-1, 3, dst.num_expression)[idx].reshape(-1, dst.num_expression).astype(np.float64)
    spread = lambda p: float(np.sqrt(((p - p.mean(0)) ** 2).sum(1).mean()))  # noqa: E731
    scale = spread(dst_rest) / max(1e-9, spread(src_rest))
    lam = ridge * float(np.mean(np.sum(Jd * Jd, axis=0)))
    A = Jd.T @ Jd + lam * np.eye(Jd.shape[1])
    return np.linalg.solve(A, Jd.T @ (Js.astype(np.float64) * scale)).astype(np.float32)


_CACHE: dict[tuple[int, int], tuple[HeadModel, HeadModel, np.ndarray]] = {}


def cached_expression_transfer(src: HeadModel, dst: HeadModel) -> np.ndarray:
    """:func:`expression_transfer`, remembered per pair of head objects (the server keeps its heads loaded)."""
    k = (id(src), id(dst))
    hit = _CACHE.get(k)
    if hit is None or hit[0] is not src or hit[1] is not dst:
        hit = _CACHE[k] = (src, dst, expression_transfer(src, dst))
    return hit[2]


def transfer_track(track: Track, src: HeadModel, dst: HeadModel) -> Track:
    """``track`` (made for ``src``) as a track of ``dst``: expression, expression_base and the emotion vectors mapped
    by :func:`expression_transfer`; pose, translation and emotion intensities kept."""
    W = cached_expression_transfer(src, dst)
    order = [src.expression_index(n) for n in track.expression_names]  # the track's columns in src order
    Wt = W[:, order].T  # (E_track, E_dst)

    def map_(a):
        return None if a is None else (np.asarray(a, np.float32) @ Wt).astype(np.float32)

    return track.replace(head_model=dst.name, expression_names=list(dst.expression_names),
                         expression=map_(track.expression), pose=np.asarray(track.pose, np.float32),
                         translation=np.asarray(track.translation, np.float32),
                         emotion=np.asarray(track.emotion, np.float32), expression_base=map_(track.expression_base),
                         emotion_basis=map_(track.emotion_basis), emotion_basis_above=map_(track.emotion_basis_above),
                         meta={**track.meta, "transferred_from": track.head_model}).validate()
