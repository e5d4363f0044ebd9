"""The head model's nonlinear terms as driven morph targets, for tools whose blend shapes are linear (glTF, Blender).

``HeadModel.forward`` poses ``template + basis @ limit(w) + correctives @ c(limit(w))`` (``w``: (E,) expression
coefficients, ``limit``: the anatomical soft limits, ``c``: the combination correctives' rules). A linear tool shows
``template + basis @ w``; it matches ``forward`` when it adds one morph target per term below, with its weight set
by a formula of ``w``:

- one **corrective** target per corrective k (offsets ``expression_correctives[:, :, k]``, weight ``c_k(limit(w))``);
- one **soft-limit** target per soft-limited component e (offsets ``-expression_basis[:, :, e]``, weight
  ``w_e - limit(w_e)``, which removes the part of the linear motion that the limit takes away);
- one **lid-follow** target per eye and direction (``head.lid_follow``: the upper lid following the eye joint's
  pitch; offsets the lid part of ``eyeLookDown/Up<side>``, weight ``lid_follow_coefficients``).

Each target carries its weight formula as a string in a small expression language that Blender evaluates without
Python (its "simple expressions": numbers, variables, ``+ - * /``, parentheses, ``min``, ``max``), so drivers built
from it run with script auto-run off. Its ``variables`` name expression components; a variable's value is the
component's whole coefficient before the soft limits (in Blender: the expression key's value plus the emotion
keys' contribution). Its ``joints`` name joints; such a variable's value is the joint's pitch, the x component of its
head-space rotation vector (radians, ``pose[:, j, 0]``). :func:`driven_weights` computes the same weights with the
model's own functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .lid_follow import lid_follow, lid_follow_coefficients
from .model import JOINT_NAMES, HeadModel, Joint

__all__ = ["DrivenTarget", "driven_targets", "driven_weights", "MAX_EXPRESSION_CHARS"]

#: Blender stores a driver's expression in 256 bytes (with the terminating zero).
MAX_EXPRESSION_CHARS = 255
CORRECTIVE_PREFIX = "corrective_"
SOFT_LIMIT_PREFIX = "soft_limit "
LID_FOLLOW_PREFIX = "lid_follow "
_EYES = (Joint.EYE_LEFT, Joint.EYE_RIGHT)


@dataclass(frozen=True)
class DrivenTarget:
    """One driven morph target.

    name: target (shape key) name; kind: "corrective", "soft_limit" or "lid_follow"; offsets: (V, 3) float32
    metres per unit weight; expression: the weight as a formula of ``variables`` (variable name -> expression
    component name) and ``joints`` (variable name -> joint name: its pitch, radians); value_range: (lo, hi) the
    weight's range.
    """

    name: str
    kind: str
    offsets: np.ndarray
    expression: str
    variables: dict[str, str]
    value_range: tuple[float, float]
    joints: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        """Everything but the offsets, JSON-able (the glb's ``extras``)."""
        return {"name": self.name, "kind": self.kind, "expression": self.expression,
                "variables": dict(self.variables), "joints": dict(self.joints),
                "range": [float(x) for x in self.value_range]}


def _num(x: float) -> str:
    """A float32 constant as a short literal (7 significant digits: float32's precision)."""
    return format(float(np.float32(x)), ".7g")


def _limited(head: HeadModel, var: str, e: int) -> str:
    """Formula of component e's coefficient after its soft limit (``soft_limit``: ``knee + s*x/(1+x)`` above the
    knee, x = (w - knee) / s), from variable ``var`` holding its coefficient before it; ``var`` when unlimited."""
    lim = head.expression_soft_limits
    if lim is None or np.isnan(lim[e]).any():
        return var
    knee, span = _num(lim[e, 0]), _num(lim[e, 1] - lim[e, 0])
    over = f"max(0, {var} - {knee})"
    return f"(min({var}, {knee}) + {span} * {over} / ({span} + {over}))"


def _corrective(head: HeadModel, k: int) -> DrivenTarget:
    """Corrective k: ``clip(w[drv] - onset, 0, full - onset) * clip(1 - w[dmp] / dmp_full - max(jaw, 0) /
    jaw_full, 0, 1) * (1 - clip(w[closer], 0, 1))`` on the limited coefficients and the jaw joint's pitch
    (``HeadModel.corrective_coefficients``)."""
    drv, full, dmp, dmp_full, cls, onset, jaw_full = (float(x) for x in head.corrective_rules[k])
    names = head.expression_names
    variables = {"d": names[int(drv)]}
    joints = {}
    d = _limited(head, "d", int(drv))
    span = full - onset
    drive = f"{d} - {_num(onset)}" if onset else d
    terms = [f"max(0, min({drive}, {_num(span)}))"]
    opened = []
    if dmp >= 0:
        variables["p"] = names[int(dmp)]
        opened.append(f"{_limited(head, 'p', int(dmp))} / {_num(dmp_full)}")
    if jaw_full > 0:
        joints["j"] = JOINT_NAMES[Joint.JAW]
        opened.append(f"max(0, j) / {_num(jaw_full)}")
    if opened:
        terms.append(f"max(0, min(1, 1 - {' - '.join(opened)}))")
    if cls >= 0:
        variables["c"] = names[int(cls)]
        terms.append(f"(1 - max(0, min(1, {_limited(head, 'c', int(cls))})))")
    return DrivenTarget(name=f"{CORRECTIVE_PREFIX}{k} {names[int(drv)]}", kind="corrective",
                        offsets=np.asarray(head.expression_correctives[:, :, k], np.float32),
                        expression=" * ".join(terms), variables=variables,
                        value_range=(0.0, float(np.float32(span))), joints=joints)


def _soft_limit(head: HeadModel, e: int) -> DrivenTarget:
    """Soft-limited component e: weight ``w - limit(w)`` = ``o * o / (s + o)``, o = max(0, w - knee)."""
    knee, ceiling = (float(x) for x in head.expression_soft_limits[e])
    over = f"max(0, w - {_num(knee)})"
    name = head.expression_names[e]
    return DrivenTarget(name=f"{SOFT_LIMIT_PREFIX}{name}", kind="soft_limit",
                        offsets=-np.asarray(head.expression_basis[:, :, e], np.float32),
                        expression=f"{over} * {over} / ({_num(ceiling - knee)} + {over})", variables={"w": name},
                        value_range=(0.0, 10.0))  # Blender's largest shape-key slider range


def _lid_follow(head: HeadModel) -> list[DrivenTarget]:
    """The lid-follow targets (down-left, up-left, down-right, up-right; ``lid_follow_coefficients``): weight
    ``min(max(0, sign * pitch) / rad_per_unit, max(0, 1 - own)) * (1 - clip(blink, 0, 1))`` with ``own`` the
    source shape's limited coefficient; none when the head has no lid-follow shapes (FLAME)."""
    lf = lid_follow(head, _EYES)
    if lf is None:
        return []
    names = head.expression_names
    out = []
    for i in range(lf.basis.shape[2]):
        own = int(lf.shape_index[i])
        pitch = "q" if lf.sign[i] > 0 else "-q"
        expr = (f"min(max(0, {pitch}) / {_num(lf.rad_per_unit[i])}, max(0, 1 - {_limited(head, 'o', own)}))")
        variables = {"o": names[own]}
        if lf.blink_index[i] >= 0:
            variables["c"] = names[int(lf.blink_index[i])]
            expr += f" * (1 - max(0, min(1, {_limited(head, 'c', int(lf.blink_index[i]))})))"
        out.append(DrivenTarget(name=f"{LID_FOLLOW_PREFIX}{names[own]}", kind="lid_follow",
                                offsets=np.asarray(lf.basis[:, :, i], np.float32), expression=expr,
                                variables=variables, value_range=(0.0, 10.0),  # 1 - own exceeds 1 when own < 0
                                joints={"q": JOINT_NAMES[int(lf.joint[i])]}))
    return out


def _limited_columns(head: HeadModel) -> np.ndarray:
    lim = head.expression_soft_limits
    return np.zeros(0, np.int64) if lim is None else np.flatnonzero(~np.isnan(lim).any(1))


def driven_targets(head: HeadModel) -> list[DrivenTarget]:
    """The head's correctives (in ``corrective_rules`` order), then its soft-limited components (in component
    order), as driven targets; empty for a linear head (e.g. FLAME)."""
    out = []
    if head.expression_correctives is not None:
        out += [_corrective(head, k) for k in range(head.corrective_rules.shape[0])]
    out += [_soft_limit(head, int(e)) for e in _limited_columns(head)]
    out += _lid_follow(head)
    for t in out:
        if len(t.expression) > MAX_EXPRESSION_CHARS:
            raise ValueError(f"driven target {t.name!r}: its formula has {len(t.expression)} characters, more than "
                             f"Blender's {MAX_EXPRESSION_CHARS}")
    return out


def driven_weights(head: HeadModel, expression: np.ndarray, pose: np.ndarray | None = None) -> np.ndarray:
    """(T, N) float32 weights of :func:`driven_targets` for (T, E) expression coefficients (before the soft
    limits) and (T, 5, 3) pose (radians; None: rest), computed with the model's own ``limit_expression``,
    ``corrective_coefficients`` and ``lid_follow_coefficients``."""
    w = np.asarray(expression, np.float32).reshape(-1, head.num_expression)
    limited = head.limit_expression(w)
    parts = []
    pose = np.zeros((len(w), len(JOINT_NAMES), 3), np.float32) if pose is None else np.asarray(pose, np.float32)
    pose = pose.reshape(len(w), len(JOINT_NAMES), 3)
    corr = head.corrective_coefficients(limited, pose[:, Joint.JAW, 0])
    if corr is not None:
        parts.append(corr)
    cols = _limited_columns(head)
    parts.append((w - limited)[:, cols])
    lf = lid_follow(head, _EYES)
    if lf is not None:
        parts.append(lid_follow_coefficients(lf, limited, pose.reshape(len(w), len(JOINT_NAMES), 3)))
    return np.concatenate(parts, axis=1).astype(np.float32)
