"""The head model: FLAME's parameterisation as plain arrays plus a ``forward`` that poses it.

Every part of emodiffhead (animator, fitting, renderers, glTF export, server, add-on) uses this one
interface. Providers (``builtin.py``, ``flame.py``) only fill the arrays.

Conventions (as FLAME): metres, y up, the face looks along +z, x points to the subject's left.
Joints are always the five of FLAME, in this order, with these parents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from . import lbs as _lbs
from .lid_follow import lid_follow, lid_follow_coefficients


class Joint(IntEnum):
    """FLAME's joints: the index of each in a packed ``(T, NUM_JOINTS, 3)`` pose, e.g. ``pose[:, Joint.JAW, 0]``
    (the jaw's rotation about x, radians)."""

    ROOT = 0
    NECK = 1
    JAW = 2
    EYE_LEFT = 3
    EYE_RIGHT = 4


#: FLAME's joints, in order (``Joint`` names in lower case). ``pose`` arrays are (T, NUM_JOINTS, 3) in this order.
JOINT_NAMES: tuple[str, ...] = tuple(j.name.lower() for j in Joint)
#: Parent of each joint in JOINT_NAMES (-1: none).
JOINT_PARENTS: tuple[int, ...] = (-1, 0, 1, 1, 1)
NUM_JOINTS = len(Joint)


def soft_limit(w: np.ndarray, knee: np.ndarray | float, ceiling: np.ndarray | float) -> np.ndarray:
    """Saturating limit, elementwise (broadcast over the last axis): ``w`` below ``knee`` unchanged, above it
    ``knee + s * x / (1 + x)`` with ``s = ceiling - knee`` and ``x = (w - knee) / s``: continuous with slope 1 at
    the knee, strictly increasing (slope ``1 / (1 + x)**2``, so a stronger input still moves further), approaching
    ``ceiling`` without reaching it. float32 like ``w``."""
    w = np.asarray(w, np.float32)
    knee = np.asarray(knee, np.float32)
    span = np.asarray(ceiling, np.float32) - knee
    x = np.maximum(w - knee, 0.0) / span
    return np.where(w > knee, knee + span * x / (1.0 + x), w).astype(np.float32)


@dataclass(frozen=True)
class HeadOutput:
    """Result of :meth:`HeadModel.forward`.

    vertices: (T, V, 3) float32 posed vertices in metres.
    joints: (T, 5, 3) float32 posed joint locations.
    landmarks: (T, L, 3) float32 posed landmarks, or None when the model has no embedding.
    """

    vertices: np.ndarray
    joints: np.ndarray
    landmarks: np.ndarray | None


@dataclass
class HeadModel:
    """A FLAME-style head: template, bases, joints and skinning as arrays (float32).

    Attributes (V vertices, F faces, S shape and E expression components, L landmarks):
        name: model id written into tracks and exports (e.g. ``"builtin"``, ``"flame2020"``).
        template: (V, 3) neutral mean head.
        faces: (F, 3) int32 triangles.
        shape_basis: (V, 3, S) identity blendshapes.
        expression_basis: (V, 3, E) expression blendshapes; one name per component in
            ``expression_names``.
        joint_regressor: (5, V) rest joint locations = regressor @ shaped vertices.
        weights: (V, 5) skinning weights (rows sum to 1).
        posedirs: (36, 3V) pose correctives, or None.
        landmark_faces: (L,) int32 face index per landmark, or None.
        landmark_bary: (L, 3) barycentric weights per landmark, or None.
        landmark_scheme: what the landmarks are (e.g. ``"mediapipe478"``, ``"ibug68"``).
        uv: (Vt, 2) texture coordinates and uv_faces (F, 3) into them, or None.
        regions: named vertex index sets (e.g. ``"eye_left"``, ``"teeth_upper"``, ``"lips"``).
        expression_limits: (E, 2) sensible (min, max) per expression component.
        expression_soft_limits: (E, 2) anatomical soft limit (knee, ceiling) per component, or None: above the
            knee a coefficient's movement saturates toward the ceiling (:func:`soft_limit`: strictly increasing,
            never flat); NaN rows are linear. :meth:`forward` applies it, so every path through :meth:`forward`
            (the renderers, whatever made the track) sees the same movement; linear shape keys (the glTF export,
            Blender's viewport) do not.
        expression_correctives: (V, 3, K) motion one component makes only while another is at rest (a FACS
            combination rule), or None; ``corrective_rules`` (K, 7) says how each is driven:
            (driver, driver_full, damper, damper_full, closer, driver_onset, jaw_pitch_full): component indices
            (-1: none), the weights at which the driver starts and stops adding and the damper has taken it away,
            and the jaw joint's opening pitch (radians) that takes it away with the damper (0: the jaw joint does
            not damp it), see :meth:`corrective_coefficients` (5- and 6-column rules are read with onset 0 and no
            jaw pitch). :meth:`forward` adds them.
        meta: provenance and licence text.
    """

    name: str
    template: np.ndarray
    faces: np.ndarray
    shape_basis: np.ndarray
    expression_basis: np.ndarray
    expression_names: list[str]
    joint_regressor: np.ndarray
    weights: np.ndarray
    posedirs: np.ndarray | None = None
    landmark_faces: np.ndarray | None = None
    landmark_bary: np.ndarray | None = None
    landmark_scheme: str = ""
    uv: np.ndarray | None = None
    uv_faces: np.ndarray | None = None
    regions: dict[str, np.ndarray] = field(default_factory=dict)
    shape_names: list[str] = field(default_factory=list)
    expression_limits: np.ndarray | None = None
    expression_soft_limits: np.ndarray | None = None
    expression_correctives: np.ndarray | None = None
    corrective_rules: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    joint_names: tuple[str, ...] = JOINT_NAMES
    parents: np.ndarray = field(default_factory=lambda: np.array(JOINT_PARENTS, dtype=np.int64))

    def __post_init__(self) -> None:
        self.template = np.asarray(self.template, dtype=np.float32)
        self.faces = np.asarray(self.faces, dtype=np.int32)
        self.shape_basis = np.asarray(self.shape_basis, dtype=np.float32)
        self.expression_basis = np.asarray(self.expression_basis, dtype=np.float32)
        self.joint_regressor = np.asarray(self.joint_regressor, dtype=np.float32)
        self.weights = np.asarray(self.weights, dtype=np.float32)
        self.expression_names = list(self.expression_names)
        V = self.template.shape[0]
        checks = [
            (self.template.shape == (V, 3), "template must be (V, 3)"),
            (self.faces.ndim == 2 and self.faces.shape[1] == 3, "faces must be (F, 3)"),
            (self.shape_basis.ndim == 3 and self.shape_basis.shape[:2] == (V, 3), "shape_basis must be (V, 3, S)"),
            (self.expression_basis.ndim == 3 and self.expression_basis.shape[:2] == (V, 3),
             "expression_basis must be (V, 3, E)"),
            (len(self.expression_names) == self.expression_basis.shape[2],
             "expression_names must name every expression component"),
            (self.joint_regressor.shape == (NUM_JOINTS, V), "joint_regressor must be (5, V)"),
            (self.weights.shape == (V, NUM_JOINTS), "weights must be (V, 5)"),
            (self.faces.size == 0 or (self.faces.min() >= 0 and self.faces.max() < V), "faces index out of range"),
        ]
        if self.posedirs is not None:
            self.posedirs = np.asarray(self.posedirs, dtype=np.float32)
            checks.append((self.posedirs.shape == (9 * (NUM_JOINTS - 1), 3 * V), "posedirs must be (36, 3V)"))
        if self.landmark_faces is not None:
            self.landmark_faces = np.asarray(self.landmark_faces, dtype=np.int32)
            self.landmark_bary = np.asarray(self.landmark_bary, dtype=np.float32)
            checks.append((self.landmark_bary.shape == (len(self.landmark_faces), 3),
                           "landmark_bary must be (L, 3)"))
        if self.expression_soft_limits is not None:
            self.expression_soft_limits = np.asarray(self.expression_soft_limits, dtype=np.float32)
            lim = self.expression_soft_limits
            ok = lim.shape == (self.expression_basis.shape[2], 2)
            if ok:
                rows = lim[~np.isnan(lim).any(1)]
                ok = bool(np.all(rows[:, 1] > rows[:, 0]))
            checks.append((ok,
                           "expression_soft_limits must be (E, 2) rows (knee, ceiling) with ceiling > knee"))
        if self.expression_correctives is not None or self.corrective_rules is not None:
            self.expression_correctives = np.asarray(self.expression_correctives, dtype=np.float32)
            rules = np.atleast_2d(np.asarray(self.corrective_rules, dtype=np.float32))
            if rules.ndim != 2 or rules.shape[1] not in (5, 6, 7):
                from ..errors import HeadModelError

                raise HeadModelError(f"head model {self.name!r}: corrective_rules must be (K, 5), (K, 6) or (K, 7) "
                                     f"rows, got shape {rules.shape}")
            if rules.shape[1] < 7:  # rules without an onset start at 0; without a jaw pitch the jaw joint does not damp
                rules = np.concatenate([rules, np.zeros((len(rules), 7 - rules.shape[1]), np.float32)], axis=1)
            self.corrective_rules = rules
            K, E = self.corrective_rules.shape[0], self.expression_basis.shape[2]
            idx = self.corrective_rules[:, [0, 2, 4]]
            fulls = self.corrective_rules[:, [1, 3]]
            onset = self.corrective_rules[:, 5]
            checks.append((self.expression_correctives.shape == (V, 3, K) and bool(np.all(idx[:, 0] >= 0))
                           and bool(np.all((idx >= -1) & (idx < E))) and bool(np.all(fulls > 0))
                           and bool(np.all((onset >= 0) & (onset < fulls[:, 0])))
                           and bool(np.all(self.corrective_rules[:, 6] >= 0)),
                           "expression_correctives must be (V, 3, K) with corrective_rules (K, 7) rows "
                           "(driver, driver_full > 0, damper, damper_full > 0, closer, 0 <= driver_onset < "
                           "driver_full, jaw_pitch_full >= 0) of valid component indices"))
        for ok, msg in checks:
            if not ok:
                from ..errors import HeadModelError

                raise HeadModelError(f"head model {self.name!r}: {msg}")

    # ---- sizes -------------------------------------------------------------------------------
    @property
    def num_vertices(self) -> int:
        return int(self.template.shape[0])

    @property
    def num_shape(self) -> int:
        return int(self.shape_basis.shape[2])

    @property
    def num_expression(self) -> int:
        return int(self.expression_basis.shape[2])

    @property
    def num_landmarks(self) -> int:
        return 0 if self.landmark_faces is None else int(len(self.landmark_faces))

    def expression_index(self, name: str) -> int:
        """Index of the expression component called ``name`` (KeyError if absent)."""
        return self.expression_names.index(name)

    # ---- posing ------------------------------------------------------------------------------
    def template_landmarks(self) -> np.ndarray:
        """(L, 3) float32 the landmarks on the template (rest shape, no expression); needs the landmark embedding."""
        if self.landmark_faces is None:
            raise ValueError(f"head model {self.name!r} has no landmark embedding")
        return _lbs.barycentric_points(self.template[None], self.faces, self.landmark_faces, self.landmark_bary)[0]

    def limit_expression(self, expression: np.ndarray) -> np.ndarray:
        """(..., E) float32 coefficients as the head moves them: each component with an anatomical soft limit
        (``expression_soft_limits``) saturates above its knee toward its ceiling; the others are unchanged."""
        expression = np.asarray(expression, np.float32)
        if self.expression_soft_limits is None:
            return expression
        lim = self.expression_soft_limits
        cols = np.flatnonzero(~np.isnan(lim).any(1))
        if cols.size == 0:
            return expression
        out = expression.copy()
        out[..., cols] = soft_limit(expression[..., cols], lim[cols, 0], lim[cols, 1])
        return out

    def corrective_onsets(self) -> np.ndarray:
        """(E,) float32: per component, the lowest onset above 0 among the ``corrective_rules`` it drives (a muscle
        that takes over only in a stronger movement), inf where it drives none with an onset. Rules that start at 0
        (a combination rule such as sadness's inner-lid lift, which acts on the lids) are not counted: a fit may
        read the component freely, and below the returned onset ``forward`` adds no onset corrective of it."""
        out = np.full(self.num_expression, np.inf, np.float32)
        if self.corrective_rules is not None:
            for driver, onset in self.corrective_rules[:, [0, 5]]:
                if onset > 0:
                    out[int(driver)] = min(out[int(driver)], onset)
        return out

    def corrective_coefficients(self, expression: np.ndarray, jaw_pitch: np.ndarray | None = None) -> np.ndarray | None:
        """(T, K) float32 weights of ``expression_correctives`` for (T, E) coefficients (after the soft limits) and
        (T,) jaw joint pitch (radians, ``pose[:, Joint.JAW, 0]``; None: 0), or None:
        ``clip(w[driver] - driver_onset, 0, driver_full - driver_onset) * clip(1 - w[damper] / damper_full -
        max(jaw_pitch, 0) / jaw_pitch_full, 0, 1) * (1 - clip(w[closer], 0, 1))``: the motion starts once the driver
        passes its onset (a muscle that takes over only in a stronger movement), holds once the driver passes
        driver_full (a lid's shape is a state, as the animator holds lids and gaze above intensity 1), fades out as
        the damper takes over and as the jaw joint opens (a term left out where the rule has no damper or no jaw
        pitch), and as the closer (a blink) shuts."""
        if self.expression_correctives is None:
            return None
        w = np.asarray(expression, np.float32)
        rules = self.corrective_rules
        drv, dmp, cls = rules[:, 0].astype(int), rules[:, 2].astype(int), rules[:, 4].astype(int)
        c = np.clip(w[:, drv] - rules[:, 5], 0.0, rules[:, 1] - rules[:, 5])
        opened = np.where(dmp >= 0, w[:, np.maximum(dmp, 0)] / rules[:, 3], 0.0)
        jaw_full = rules[:, 6]
        if jaw_pitch is not None and np.any(jaw_full > 0):
            pitch = np.maximum(np.asarray(jaw_pitch, np.float32).reshape(-1, 1), 0.0)
            opened = opened + np.where(jaw_full > 0, pitch / np.where(jaw_full > 0, jaw_full, 1.0), 0.0)
        c = c * np.where((dmp >= 0) | (jaw_full > 0), np.clip(1.0 - opened, 0.0, 1.0), 1.0)
        c = c * np.where(cls >= 0, 1.0 - np.clip(w[:, np.maximum(cls, 0)], 0.0, 1.0), 1.0)
        return c.astype(np.float32)

    def forward(
        self,
        shape: np.ndarray | None = None,
        expression: np.ndarray | None = None,
        pose: np.ndarray | None = None,
        translation: np.ndarray | None = None,
    ) -> HeadOutput:
        """Pose the head for T frames.

        shape: (S,) identity coefficients (zeros if None).
        expression: (T, E) expression coefficients (one neutral frame if None).
        pose: (T, 5, 3) axis-angle rotations of root/neck/jaw/eye_left/eye_right, radians (the eyes' pitch
            also moves the lids, :mod:`.lid_follow`).
        translation: (T, 3) metres added after skinning.
        Returns :class:`HeadOutput` with (T, V, 3) vertices.
        """
        S, E = self.num_shape, self.num_expression
        expression = np.zeros((1, E), np.float32) if expression is None else np.asarray(expression, np.float32)
        if expression.ndim == 1:
            expression = expression[None]
        T = expression.shape[0]
        if pose is None:
            pose = np.zeros((T, NUM_JOINTS, 3), np.float32)
        pose = np.asarray(pose, np.float32).reshape(-1, NUM_JOINTS, 3)
        if pose.shape[0] == 1 and T > 1:
            pose = np.repeat(pose, T, axis=0)
        if T == 1 and pose.shape[0] > 1:
            expression = np.repeat(expression, pose.shape[0], axis=0)
            T = pose.shape[0]
        shape = np.zeros(S, np.float32) if shape is None else np.asarray(shape, np.float32).reshape(-1)
        if shape.shape[0] != S:
            raise ValueError(f"shape has {shape.shape[0]} components, model {self.name!r} has {S}")
        if expression.shape != (T, E):
            raise ValueError(f"expression must be (T, {E}), got {expression.shape}")
        if pose.shape != (T, NUM_JOINTS, 3):
            raise ValueError(f"pose must be (T, 5, 3) with T={T}, got {pose.shape}")
        expression = self.limit_expression(expression)
        coeffs = np.concatenate([np.repeat(shape[None], T, axis=0), expression], axis=1)
        basis = np.concatenate([self.shape_basis, self.expression_basis], axis=2)
        corr = self.corrective_coefficients(expression, pose[:, Joint.JAW, 0])
        if corr is not None:
            coeffs = np.concatenate([coeffs, corr], axis=1)
            basis = np.concatenate([basis, self.expression_correctives], axis=2)
        # the lids follow the eye joints' pitch (lid_follow.py); nothing is added at pitch 0
        lids = lid_follow(self, (Joint.EYE_LEFT, Joint.EYE_RIGHT)) if np.any(pose[:, Joint.EYE_LEFT:, 0]) else None
        if lids is not None:
            coeffs = np.concatenate([coeffs, lid_follow_coefficients(lids, expression, pose)], axis=1)
            basis = np.concatenate([basis, lids.basis], axis=2)
        verts, joints, _ = _lbs.lbs(
            coeffs, pose, self.template, basis, self.posedirs, self.joint_regressor, self.parents, self.weights
        )
        if translation is not None:
            tr = np.asarray(translation, np.float32).reshape(-1, 1, 3)
            verts = verts + tr
            joints = joints + tr
        lmk = None
        if self.landmark_faces is not None:
            lmk = _lbs.barycentric_points(verts, self.faces, self.landmark_faces, self.landmark_bary)
        return HeadOutput(vertices=verts, joints=joints, landmarks=lmk)

    def rest_joints(self, shape: np.ndarray | None = None) -> np.ndarray:
        """(5, 3) rest-pose joint locations for identity ``shape`` (S,)."""
        S = self.num_shape
        shape = np.zeros(S, np.float32) if shape is None else np.asarray(shape, np.float32)
        v = self.template + _lbs.blend_shapes(shape[None], self.shape_basis)[0]
        return (self.joint_regressor @ v).astype(np.float32)

    # ---- storage -------------------------------------------------------------------------------
    def to_npz_dict(self) -> dict[str, np.ndarray]:
        """Arrays for ``np.savez`` (the built-in asset format; strings as arrays)."""
        import json

        d: dict[str, np.ndarray] = {
            "template": self.template,
            "faces": self.faces,
            "shape_basis": self.shape_basis.astype(np.float16),
            "expression_basis": self.expression_basis.astype(np.float16),
            "expression_names": np.array(self.expression_names),
            "shape_names": np.array(self.shape_names),
            "joint_regressor": self.joint_regressor,
            "weights": self.weights,
            "meta_json": np.array(json.dumps({"name": self.name, "landmark_scheme": self.landmark_scheme,
                                              **self.meta})),
        }
        if self.posedirs is not None:
            d["posedirs"] = self.posedirs
        if self.landmark_faces is not None:
            d["landmark_faces"] = self.landmark_faces
            d["landmark_bary"] = self.landmark_bary
        if self.uv is not None:
            d["uv"] = self.uv.astype(np.float32)
            d["uv_faces"] = np.asarray(self.uv_faces, np.int32)
        if self.expression_limits is not None:
            d["expression_limits"] = np.asarray(self.expression_limits, np.float32)
        if self.expression_soft_limits is not None:
            d["expression_soft_limits"] = np.asarray(self.expression_soft_limits, np.float32)
        if self.expression_correctives is not None:
            d["expression_correctives"] = np.asarray(self.expression_correctives, np.float32)
            d["corrective_rules"] = np.asarray(self.corrective_rules, np.float32)
        for k, v in self.regions.items():
            d[f"region__{k}"] = np.asarray(v, np.int32)
        return d

    @classmethod
    def from_npz_dict(cls, d) -> "HeadModel":
        """Inverse of :meth:`to_npz_dict` (``d`` may be an open ``np.load`` result)."""
        import json

        meta = json.loads(str(d["meta_json"]))
        name = meta.pop("name")
        scheme = meta.pop("landmark_scheme", "")
        keys = set(d.keys()) if hasattr(d, "keys") else set(d.files)
        return cls(
            name=name,
            template=d["template"],
            faces=d["faces"],
            shape_basis=d["shape_basis"].astype(np.float32),
            expression_basis=d["expression_basis"].astype(np.float32),
            expression_names=[str(s) for s in d["expression_names"]],
            shape_names=[str(s) for s in d["shape_names"]] if "shape_names" in keys else [],
            joint_regressor=d["joint_regressor"],
            weights=d["weights"],
            posedirs=d["posedirs"] if "posedirs" in keys else None,
            landmark_faces=d["landmark_faces"] if "landmark_faces" in keys else None,
            landmark_bary=d["landmark_bary"] if "landmark_bary" in keys else None,
            landmark_scheme=scheme,
            uv=d["uv"] if "uv" in keys else None,
            uv_faces=d["uv_faces"] if "uv_faces" in keys else None,
            expression_limits=d["expression_limits"] if "expression_limits" in keys else None,
            expression_soft_limits=d["expression_soft_limits"] if "expression_soft_limits" in keys else None,
            expression_correctives=d["expression_correctives"] if "expression_correctives" in keys else None,
            corrective_rules=d["corrective_rules"] if "corrective_rules" in keys else None,
            regions={k[len("region__"):]: np.asarray(d[k]) for k in keys if k.startswith("region__")},
            meta=meta,
        )
