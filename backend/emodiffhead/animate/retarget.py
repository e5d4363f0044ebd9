"""Canonical ARKit weights -> a head model's own expression components and jaw joint.

The animator works in one canonical space, the 52 ARKit blendshapes
(:data:`emodiffhead.facs.ARKIT_BLENDSHAPES`), where visemes, FACS prototypes and conflict rules have
known meaning. :class:`Retarget` maps it linearly to a head:

- Heads whose components carry ARKit names (the built-in head): identity on the shared names. Mouth
  opening: speech drives the **jaw joint** (``pose[:, Joint.JAW]``, rotation about x, ``JAW_RAD_PER_UNIT``
  radians per unit of jawOpen, calibrated on the built-in head so that both give the same lip gap:
  jawOpen 0.63 and 0.30 rad both part the lips by 21 mm), as FLAME does; emotion's jaw drop (AU26/27)
  stays in the ``jawOpen`` blendshape, so it is part of the emotion's expression vector.
- Other heads (licensed FLAME: exp000..exp099): a least-squares fit of landmark displacements. For every
  ARKit channel, the built-in head's landmark displacement (unit weight, scaled by the ratio of the
  landmark sets' RMS spreads) is fitted by the target head's expression basis (ridge, lambda=1e-3 relative to
  the basis energy). Both models must carry the same landmark scheme (``mediapipe478``) or the head a
  MediaPipe subset (MICA's ``mediapipe105`` embedding for FLAME); otherwise :class:`NotAvailableError` says so. jawOpen always maps to the jaw joint for such heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NotAvailableError
from ..facs import ARKIT_BLENDSHAPES, JAW_OPEN, NUM_ARKIT
from ..head.model import HeadModel

#: Jaw joint rotation (rad, about x) per unit of ARKit jawOpen (built-in head calibration).
JAW_RAD_PER_UNIT = 0.47


@dataclass(frozen=True)
class Retarget:
    """Linear map ARKit (52) -> head expression (E): ``matrix`` (52, E) float32; ``method`` says how.

    ``jaw_joint``: True when speech's jawOpen drives the jaw joint (``pose[:, Joint.JAW, 0]``).
    """

    matrix: np.ndarray
    method: str
    jaw_joint: bool = True
    jaw_rad_per_unit: float = JAW_RAD_PER_UNIT
    has_jaw_blendshape: bool = True

    def expression(self, arkit: np.ndarray) -> np.ndarray:
        """(T, 52) ARKit weights -> (T, E) float32 expression coefficients."""
        return (np.asarray(arkit, np.float32) @ self.matrix).astype(np.float32)

    def jaw_angle(self, jaw_open: np.ndarray) -> np.ndarray:
        """(T,) ARKit jawOpen -> (T,) jaw joint rotation about x in radians."""
        return (np.asarray(jaw_open, np.float32) * self.jaw_rad_per_unit).astype(np.float32)


def is_arkit_head(head: HeadModel, min_shared: int = 30) -> bool:
    """True when at least ``min_shared`` of the head's expression names are ARKit blendshape names."""
    return len(set(head.expression_names) & set(ARKIT_BLENDSHAPES)) >= min_shared


def build_retarget(head: HeadModel, reference: HeadModel | None = None) -> Retarget:
    """The :class:`Retarget` for ``head``; ``reference`` is the ARKit head used for fitting (default built-in)."""
    if is_arkit_head(head):
        M = np.zeros((NUM_ARKIT, head.num_expression), np.float32)
        for i, n in enumerate(ARKIT_BLENDSHAPES):
            if n in head.expression_names:
                M[i, head.expression_index(n)] = 1.0
        return Retarget(M, "arkit-names", jaw_joint=True, has_jaw_blendshape="jawOpen" in head.expression_names)
    return fit_landmark_retarget(head, reference)


def landmark_basis(head: HeadModel) -> tuple[np.ndarray, np.ndarray]:
    """(L, 3) neutral landmarks and (L*3, E) landmark displacement per unit expression coefficient."""
    f = head.faces[head.landmark_faces]  # (L, 3)
    b = head.landmark_bary  # (L, 3)
    B = head.expression_basis  # (V, 3, E)
    J = np.einsum("lk,lkce->lce", b, B[f])  # (L, 3, E)
    rest = head.template_landmarks()
    return rest, J.reshape(-1, head.num_expression)


def shared_landmarks(head: HeadModel, reference: HeadModel) -> np.ndarray:
    """Indices into ``reference``'s landmarks that correspond, in order, to ``head``'s landmarks.

    Same scheme and count: all of them. A MediaPipe subset (e.g. MICA's ``mediapipe105`` embedding for FLAME,
    with ``meta["landmark_indices"]`` into the 478): those indices. Otherwise NotAvailableError.
    """
    if head.landmark_scheme == reference.landmark_scheme and head.num_landmarks == reference.num_landmarks:
        return np.arange(reference.num_landmarks)
    sub = head.meta.get("landmark_indices")
    if (head.landmark_scheme.startswith("mediapipe") and reference.landmark_scheme == "mediapipe478"
            and sub is not None and len(sub) == head.num_landmarks):
        idx = np.asarray(sub, int)
        if idx.min() >= 0 and idx.max() < reference.num_landmarks:
            return idx
    raise NotAvailableError(
        f"head model {head.name!r} uses landmark scheme {head.landmark_scheme!r} but the built-in head uses "
        f"{reference.landmark_scheme!r}; retargeting the animator's ARKit targets needs a shared scheme "
        "(load FLAME with MICA's mediapipe_landmark_embedding.npz)")


def fit_landmark_retarget(head: HeadModel, reference: HeadModel | None = None, ridge: float = 1e-3) -> Retarget:
    """Least-squares landmark fit of every ARKit channel of ``reference`` in ``head``'s expression space."""
    if reference is None:
        from ..head import load_head

        reference = load_head("builtin")
    if head.landmark_faces is None or reference.landmark_faces is None:
        raise NotAvailableError(
            f"head model {head.name!r} has no ARKit-named expressions and no landmark embedding; the animator "
            "retargets visemes and emotions by fitting landmark displacements, which needs one "
            f"(scheme {reference.landmark_scheme!r})")
    idx = shared_landmarks(head, reference)
    ref_rest, ref_J = landmark_basis(reference)
    ref_rest = ref_rest[idx]
    ref_J = ref_J.reshape(-1, 3, reference.num_expression)[idx].reshape(-1, reference.num_expression)
    rest, J = landmark_basis(head)
    spread = lambda p: float(np.sqrt(((p - p.mean(0)) ** 2).sum(1).mean()))  # noqa: E731
    scale = spread(rest) / max(1e-9, spread(ref_rest))
    src = np.zeros((ref_J.shape[0], NUM_ARKIT), np.float32)
    for i, n in enumerate(ARKIT_BLENDSHAPES):
        if n in reference.expression_names:
            src[:, i] = ref_J[:, reference.expression_index(n)] * scale
    src[:, JAW_OPEN] = 0.0  # jaw opening goes to the jaw joint
    lam = ridge * float(np.mean(np.sum(J * J, axis=0)))
    A = J.T @ J + lam * np.eye(J.shape[1], dtype=np.float64)
    M = np.linalg.solve(A, J.T @ src).T.astype(np.float32)  # (52, E)
    return Retarget(M, f"landmark-fit({head.landmark_scheme}, ridge={ridge:g})", jaw_joint=True,
                    has_jaw_blendshape=False)
