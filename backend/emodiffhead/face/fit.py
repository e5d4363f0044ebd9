"""Fit the head model to one photo's landmarks: camera, head rotation, shape and expression.

Model: the head's landmarks (its ``mediapipe478`` embedding) under a rigid rotation R and a scaled
orthographic front camera, ``q = f * (R X(s, e))_xy + t`` with q the image landmarks in y-up pixels.
Alternating, every step linear: (1) scaled-orthographic Procrustes for f, R, t given the current shape
and expression; (2) bounded ridge least squares (``scipy.optimize.lsq_linear``) for the shape and
expression coefficients given the camera. The face-oval landmarks slide along the silhouette and get a low
weight; the irises are left out. Expression components that landmarks cannot see (gaze, tongue, cheek
puff) stay at zero. A photo that smiles or opens its mouth gets those coefficients, so tracks are
applied relative to the neutral face.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import HeadModelError
from ..head.model import NUM_JOINTS, HeadModel
from ..head.camera import FRONT_ROTATION, Camera
from . import facemesh_topology as topo
from .detect import FaceDetection, detect_face

#: Expression components that 2D face landmarks cannot observe; kept at 0 by the fit.
UNOBSERVED = ("eyeLook", "tongueOut", "cheekPuff")
#: Ridge weights in metres^2 per unit coefficient^2 (landmark residuals are in metres on the face).
RIDGE_SHAPE = 5e-6
RIDGE_EXPRESSION = 4e-6
#: Components that clearly show an expression (mouth opening, smile, blink) get the plain ridge; the
#: others (brows, dimples, lip rolls...) also look like identity in one photo and get this many times more.
EXPRESSIVE = ("jawOpen", "mouthSmile", "mouthLowerDown", "mouthUpperUp", "mouthFunnel", "mouthPucker",
              "eyeBlink")
AMBIGUOUS_RIDGE_FACTOR = 1e6
OVAL_WEIGHT = 0.3
#: The inner lip and eye contours decide how open the mouth and eyes are: weighted up.
OPENING_WEIGHT = 4.0
ITERATIONS = 6
#: Camera-space distance of the head (metres); orthographic, so it only sets depth values.
CAMERA_DISTANCE = 1.0


@dataclass
class FitResult:
    """A head fitted to a photo.

    camera: orthographic :class:`~emodiffhead.head.camera.Camera` (front rotation, ``focal`` = pixels per
        metre, translation places the head in the image); projects world points to photo pixels.
    shape: (S,) float32; expression: (E,) float32 the photo's expression; pose: (5, 3) float32 axis-angle
        (root = head rotation in the photo); translation: (3,) float32 metres (``HeadModel.forward``).
    residual_px: mean 2D landmark distance in photo pixels after the fit (irises excluded).
    landmarks: (478, 3) float32 the photo's detected landmarks (pixels); image_size: (H, W).
    """

    camera: Camera
    shape: np.ndarray
    expression: np.ndarray
    pose: np.ndarray
    translation: np.ndarray
    residual_px: float
    landmarks: np.ndarray
    image_size: tuple[int, int]
    detection: FaceDetection | None = None
    warnings: list[str] = field(default_factory=list)


def landmark_bases(head: HeadModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Landmarks as linear functions of the coefficients (rest pose).

    Returns (mean (L, 3), shape basis (L, 3, S), expression basis (L, 3, E)) float64.
    """
    if head.landmark_faces is None or head.num_landmarks != 478:
        raise HeadModelError(f"head model {head.name!r} has no mediapipe478 landmark embedding; "
                             "the photo fit needs one")
    f = head.faces[head.landmark_faces]  # (L, 3)
    b = head.landmark_bary.astype(np.float64)

    def pin(a):
        return np.einsum("lk,lk...->l...", b, a[f].astype(np.float64))

    return pin(head.template), pin(head.shape_basis), pin(head.expression_basis)


def _procrustes(X: np.ndarray, q: np.ndarray, w: np.ndarray):
    """Weighted scaled-orthographic fit q ~ f (R X)_xy + t. X (N, 3), q (N, 2), w (N,). Returns f, R, t."""
    ws = w / w.sum()
    mx, mq = ws @ X, ws @ q
    Xc, qc = X - mx, q - mq
    A = (Xc * ws[:, None]).T @ Xc
    B = (Xc * ws[:, None]).T @ qc
    M = np.linalg.solve(A + 1e-12 * np.eye(3), B).T  # (2, 3)
    U, S, Vt = np.linalg.svd(M, full_matrices=False)
    R2 = U @ Vt
    r3 = np.cross(R2[0], R2[1])
    R = np.stack([R2[0], R2[1], r3])
    if np.linalg.det(R) < 0:
        R[2] = -R[2]
    f = float(S.mean())
    t = mq - f * (R @ mx)[:2]
    return f, R, t


def axis_angle(R: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix -> (3,) float32 axis-angle vector (radians)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R).as_rotvec().astype(np.float32)


@dataclass(frozen=True)
class LandmarkFit:
    """Raw result of :func:`fit_landmarks`: ``q ~ f (R X)_xy + t`` in y-up pixels about the image centre.

    shape (S,), expression (E,) float32; R (3, 3); f pixels per metre; t (2,) pixels; residual_px.
    """

    shape: np.ndarray
    expression: np.ndarray
    R: np.ndarray
    f: float
    t: np.ndarray
    residual_px: float


class LandmarkProblem:
    """Precomputed landmark bases, weights and bounds for repeated fits with one head (the photo fit and
    the per-frame fits of :mod:`.extract`)."""

    def __init__(self, head: HeadModel, ambiguous_ridge_factor: float = AMBIGUOUS_RIDGE_FACTOR) -> None:
        mean, Bs, Be = landmark_bases(head)
        L = 468  # iris points excluded
        self.L = L
        self.mean = mean[:L]
        self.basis = np.concatenate([Bs[:L], Be[:L]], axis=2)  # (L, 3, K)
        S, E = Bs.shape[2], Be.shape[2]
        self.S, self.E = S, E
        w = np.ones(L)
        w[topo.loops()["face_oval"]] = OVAL_WEIGHT
        for k in ("mouth", "eye_left", "eye_right"):
            w[topo.loops()[k]] = OPENING_WEIGHT
        self.w = w
        free_e = np.array([not any(n.startswith(u) for u in UNOBSERVED) for n in head.expression_names])
        lim = head.expression_limits if head.expression_limits is not None else np.tile([[0.0, 1.0]], (E, 1))
        s_lo = (np.array([0.0 if any(k in n for k in ("oval", "round", "square", "triangular")) else -1.0
                          for n in head.shape_names]) if len(head.shape_names) == S else -np.ones(S))
        self.lo = np.concatenate([s_lo, np.where(free_e, lim[:, 0], 0.0)])
        self.hi = np.concatenate([np.ones(S), np.where(free_e, lim[:, 1], 0.0) + 1e-9])
        ridge_e = np.array([RIDGE_EXPRESSION * (1.0 if n.startswith(EXPRESSIVE) else ambiguous_ridge_factor)
                            for n in head.expression_names])
        self.reg = np.sqrt(np.concatenate([np.full(S, RIDGE_SHAPE), ridge_e]))

    def solve(self, p: np.ndarray, image_size: tuple[int, int], shape: np.ndarray | None = None,
              init: np.ndarray | None = None, iterations: int = ITERATIONS,
              fixed_expression: dict[int, float] | None = None) -> LandmarkFit:
        """Fit (478, 2+) pixel landmarks ``p`` of an image of ``image_size`` (H, W).

        shape: (S,) fixed identity (then only the expression is solved); init: (S + E,) starting
        coefficients (the previous frame's); iterations: camera / coefficient alternations;
        fixed_expression: {expression index: value} held at those values.
        """
        from scipy.optimize import lsq_linear

        H, W = image_size
        L, S = self.L, self.S
        p = np.asarray(p, np.float64)[:L, :2]
        q = np.stack([p[:, 0] - W / 2.0, -(p[:, 1] - H / 2.0)], 1)
        sw = np.sqrt(self.w)
        coef = np.zeros(S + self.E) if init is None else np.array(init, np.float64)
        lo, hi, reg = self.lo.copy(), self.hi.copy(), self.reg
        cols = np.arange(S + self.E)
        if shape is not None:  # shape fixed: solve expression only
            coef[:S] = shape
            cols = cols[S:]
        if fixed_expression:
            for i, v in fixed_expression.items():
                coef[S + i] = v
            cols = cols[~np.isin(cols, [S + i for i in fixed_expression])]
        held = np.ones(S + self.E, bool)
        held[cols] = False
        for _ in range(iterations):
            X = self.mean + self.basis @ coef
            f, R, t = _procrustes(X, q, self.w)
            X0 = self.mean + self.basis[:, :, held] @ coef[held]
            target = (q - t) / f - (X0 @ R.T)[:, :2]
            RB = np.einsum("ij,ljk->lik", R[:2], self.basis[:, :, cols])  # (L, 2, K)
            A = np.concatenate([(RB * sw[:, None, None]).reshape(2 * L, -1), np.diag(reg[cols])])
            b = np.concatenate([(target * sw[:, None]).reshape(-1), np.zeros(len(cols))])
            coef[cols] = lsq_linear(A, b, bounds=(lo[cols], hi[cols]), method="bvls").x
        X = self.mean + self.basis @ coef
        f, R, t = _procrustes(X, q, self.w)
        proj = f * (X @ R.T)[:, :2] + t
        res = float(np.linalg.norm(proj - q, axis=1).mean())
        return LandmarkFit(shape=coef[:S].astype(np.float32), expression=coef[S:].astype(np.float32), R=R, f=f,
                           t=t, residual_px=res)


def fit_landmarks(landmarks: np.ndarray, head: HeadModel, image_size: tuple[int, int],
                  shape: np.ndarray | None = None, read_photo_expression: bool = True) -> LandmarkFit:
    """Fit camera, rotation, shape (unless given, (S,)) and expression to (478, 2+) pixel landmarks.

    read_photo_expression: also read brows and mouth corners that lie outside the range of neutral faces
    as expression (:mod:`.photo_expression`; the fit alone explains them with identity), then refit the
    rest with those held. A photo inside every neutral range gets exactly the plain fit."""
    prob = LandmarkProblem(head)
    lf = prob.solve(landmarks, image_size, shape=shape)
    read = read_expression_beyond_neutral(prob, head, lf, landmarks, image_size) if read_photo_expression else {}
    if not read:
        return lf
    init = np.concatenate([lf.shape, lf.expression]).astype(np.float64)
    return prob.solve(landmarks, image_size, shape=shape, init=init, fixed_expression=read)


def read_expression_beyond_neutral(prob: LandmarkProblem, head: HeadModel, lf: LandmarkFit,
                                   landmarks: np.ndarray, image_size: tuple[int, int]) -> dict[int, float]:
    """{expression index: value} of the brow / lip-corner / smile components (``photo_expression.READ_COMPONENTS``)
    that the photo's landmarks show beyond the range of neutral faces; {} when none (or when the head
    lacks those components)."""
    from . import photo_expression as pe

    names = list(head.expression_names)
    if not all(n in names for n in pe.READ_COMPONENTS):
        return {}
    idx = [names.index(n) for n in pe.READ_COMPONENTS]
    S = prob.S
    coef = np.concatenate([lf.shape, lf.expression]).astype(np.float64)
    coef[[S + i for i in idx]] = 0.0
    X = prob.mean + prob.basis @ coef
    P = pe.head_frame_points(landmarks, image_size, X, lf.R, lf.f, lf.t)
    c = pe.read_expression(P, X, prob.basis[:, :, [S + i for i in idx]])
    # the plain fit frees the smile itself: where the excess reads one, the fit's own value is kept when larger
    freed = np.array([n.startswith(EXPRESSIVE) for n in pe.READ_COMPONENTS])
    c = np.where((c > 0) & freed, np.maximum(c, lf.expression[idx]), c)
    # read through the plain basis, so kept below any onset corrective the component drives: a frown read past
    # the brow correctives' onset (anger's V) would put a V the photo lacks into the reference, and the neutral
    # frame would lift the inner brows by it (a worried look); the excess stays in the photo
    c = np.minimum(c, head.corrective_onsets()[idx])
    return {i: float(v) for i, v in zip(idx, c) if v > 0}


def fit_head(image_rgb: np.ndarray, head: HeadModel, detection: FaceDetection | None = None) -> FitResult:
    """Fit ``head`` to the face in ``image_rgb`` (H, W, 3) uint8; detects the face when ``detection`` is None."""
    if detection is None:
        detection = detect_face(image_rgb)
    H, W = detection.image_size
    lf = fit_landmarks(detection.landmarks, head, (H, W))
    shape, expr, R, f, t = lf.shape, lf.expression, lf.R, lf.f, lf.t
    j0 = head.rest_joints(shape)[0].astype(np.float64)
    pose = np.zeros((NUM_JOINTS, 3), np.float32)
    pose[0] = axis_angle(R)
    translation = (R @ j0 - j0).astype(np.float32)
    cam_t = np.array([t[0] / f, -t[1] / f, CAMERA_DISTANCE])
    camera = Camera(rotation=FRONT_ROTATION.copy(), translation=cam_t, focal=f, principal=(W / 2.0, H / 2.0),
                    orthographic=True)
    out = head.forward(shape, expr[None], pose[None], translation[None])
    proj = camera.project(out.landmarks[0])[:, :2]
    L = 468
    res = float(np.linalg.norm(proj[:L] - detection.landmarks[:L, :2], axis=1).mean())
    return FitResult(camera=camera, shape=shape, expression=expr, pose=pose, translation=translation,
                     residual_px=res, landmarks=detection.landmarks.astype(np.float32), image_size=(H, W),
                     detection=detection, warnings=list(detection.warnings))
