"""Driven shape keys: the head model's soft limits, combination correctives and lid-eye coordination in the viewport.

The backend's glb carries, after the expression morph targets, one morph target per nonlinear term of its head
model (``emodiffhead/head/driven.py``): combination correctives (``corrective_<k> <driver>``), soft limits
(``soft_limit <component>``, the component's offsets negated) and the upper lids following the eye bones' pitch
(``lid_follow <shape>``), and in ``extras.emodiffhead.driven_targets`` each one's weight formula (a Blender simple
expression), its variables (variable -> expression component, or -> joint for a pitch) and range.

On import they become shape keys driven by those formulas. A variable's value is the component's whole
coefficient, as the backend poses it: its shape key's value plus what the emotion keys add,
``sum_c basis[c][e] * emotion_c + above[c][e] * max(0, emotion_c - 1)`` (the track's emotion response, see
``head.py``), because an emotion key moves the expression keys' *shapes*, not their values. That sum is kept in
one driven custom property per component on the shape-key datablock, ``emodiffhead total <component>`` (rebuilt
whenever the emotion keys change), and the driven keys read those; likewise ``emodiffhead pitch <joint>``, an eye
bone's pitch as the exported track has it (from the bone's local rotation). Every driver is a simple expression
(min, max, abs, sqrt, atan2, arithmetic, ``a if c else b``): Blender evaluates it without Python, so it runs with
script auto-run off.

What the add-on remembers (custom properties of the shape-key datablock, saved in the .blend):
``emodiffhead_driven_targets``: JSON list of ``{"name", "kind", "expression", "variables", "joints", "range"}``.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Sequence

import bpy

log = logging.getLogger(__name__)

STORE = "emodiffhead_driven_targets"
#: Driven custom properties of the shape-key datablock that the driven keys read: a component's whole coefficient,
#: a joint's pitch (the x component of its head-space rotation vector, radians, as the exported track has it).
TOTAL_PREFIX = "emodiffhead total "
PITCH_PREFIX = "emodiffhead pitch "
_HELPERS = (TOTAL_PREFIX, PITCH_PREFIX)
#: Blender keeps a driver expression in 256 bytes; longer sums are split over several custom properties.
_MAX_CHARS = 250
_VAR_NAMES = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def glb_extras(path: str) -> dict:
    """``extras.emodiffhead`` of the glb at ``path`` (its JSON chunk, read with the standard library); {} when the
    file has none."""
    with open(path, "rb") as f:
        header = f.read(20)
        if len(header) < 20 or header[:4] != b"glTF":
            return {}
        length, kind = struct.unpack("<II", header[12:20])
        if kind != 0x4E4F534A:  # JSON
            return {}
        doc = json.loads(f.read(length).decode("utf-8"))
    extras = doc.get("extras", {}).get("emodiffhead", {})
    return extras if isinstance(extras, dict) else {}


def targets(key) -> list[dict]:
    """The driven targets stored on the shape-key datablock ``key`` (empty for a linear head)."""
    raw = key.get(STORE) if key is not None else None
    return json.loads(raw) if isinstance(raw, str) else []


def driven_names(key) -> set[str]:
    """Names of the driven shape keys of ``key``."""
    return {t["name"] for t in targets(key)}


def _path(name: str) -> str:
    return f'key_blocks["{bpy.utils.escape_identifier(name)}"].value'


def _prop_path(prop: str) -> str:
    return f'["{bpy.utils.escape_identifier(prop)}"]'


def is_own_driver(key, data_path: str) -> bool:
    """True for the F-curve path of a driver this module makes on ``key`` (a driven key's value, a total or a
    pitch)."""
    if any(data_path.startswith(f'["{p}') for p in _HELPERS):
        return True
    return any(data_path == _path(n) for n in driven_names(key))


def remember(key, driven: list[dict]) -> None:
    """Store the glb's driven targets on ``key``."""
    key[STORE] = json.dumps(driven)


def set_slider_ranges(key) -> None:
    """Each driven key's slider range is its weight's range (a driver's value is clamped to it)."""
    for t in targets(key):
        kb = key.key_blocks.get(t["name"])
        if kb is not None:
            lo, hi = t["range"]
            kb.slider_min, kb.slider_max = max(-10.0, float(lo)), min(10.0, float(hi))


def new_driver(key: bpy.types.Key, path: str, expression: str, variables: list[tuple[str, str]],
               bone: tuple[bpy.types.Object, str] | None = None) -> bpy.types.Driver:
    """(Re)create the driver of ``key``'s property ``path``: a scripted ``expression`` of SINGLE_PROP variables
    (name, data path on ``key``), or with ``bone`` = (armature object, bone name), of that bone's local rotation
    as a quaternion (variables W, X, Y, Z: the rotation as keyed, ``matrix_basis``)."""
    key.driver_remove(path)
    drv = key.driver_add(path).driver
    drv.type = "SCRIPTED"
    for name, target in variables:
        var = drv.variables.new()
        var.name, var.type = name, "SINGLE_PROP"
        var.targets[0].id_type = "KEY"
        var.targets[0].id = key
        var.targets[0].data_path = target
    if bone is not None:
        for axis in "WXYZ":
            var = drv.variables.new()
            var.name, var.type = axis, "TRANSFORMS"
            t = var.targets[0]
            t.id, t.bone_target = bone
            t.transform_type, t.rotation_mode, t.transform_space = f"ROT_{axis}", "QUATERNION", "TRANSFORM_SPACE"
    drv.expression = expression
    if not drv.is_simple_expression:  # it would need Python (auto-run) and run slower: say so
        log.warning("driver of %s is not a simple expression: %s", path, expression)
    return drv


def _coef(x: float) -> str:
    return format(float(x), ".7g")


def _total_terms(component: str, emotion_keys: list[tuple[str, str]], basis: Sequence[Sequence[float]] | None,
                 above: Sequence[Sequence[float]] | None, expr_names: list[str],
                 blocks: bpy.types.bpy_prop_collection) -> list[tuple[str, str]]:
    """(coefficient, data path) terms of the component's whole coefficient: its key's value plus the emotion
    response (``above``: read from the above-1 keys, whose values are ``max(0, emotion - 1)``)."""
    terms = [("1", _path(component))] if component in blocks else []
    if basis is None or component not in expr_names:
        return terms
    e = expr_names.index(component)
    for c, (kname, above_name) in enumerate(emotion_keys):
        if blocks.get(kname) is None:
            continue
        if basis[c][e]:
            terms.append((_coef(basis[c][e]), _path(kname)))
        if above is not None and above[c][e] and blocks.get(above_name) is not None:
            terms.append((_coef(above[c][e]), _path(above_name)))
    return terms


def _drive_sum(key, prop: str, terms: list[tuple[str, str]]) -> None:
    """Drive custom property ``prop`` of ``key`` with ``sum coefficient * value`` of ``terms`` (coefficient literal,
    data path on ``key``); split over helper properties ``<prop> #<i>`` (summed the same way) when one expression
    would be too long for Blender."""

    def term(coef: str, var: str) -> str:
        return var if coef == "1" else f"{coef}*{var}"

    chunks, cur, length = [], [], -3
    for coef, target in terms:
        piece = len(term(coef, "v")) + 3  # one-letter variables, joined by " + "
        if cur and (length + piece > _MAX_CHARS or len(cur) == len(_VAR_NAMES)):
            chunks.append(cur)
            cur, length = [], -3
        cur.append((coef, target))
        length += piece
    chunks.append(cur)
    if len(chunks) > 1:
        parts = [f"{prop} #{i}" for i in range(len(chunks))]
        for p, chunk in zip(parts, chunks):
            _drive_sum(key, p, chunk)
        _drive_sum(key, prop, [("1", _prop_path(p)) for p in parts])
        return
    key[prop] = 0.0
    names = _VAR_NAMES[:len(cur)]
    expr = " + ".join(term(c, v) for v, (c, _) in zip(names, cur)) or "0"
    new_driver(key, _prop_path(prop), expr.replace("+ -", "- "), list(zip(names, (t for _, t in cur))))


def _drive_pitch(key, prop: str, arm, joint: str) -> None:
    """Drive custom property ``prop`` of ``key`` with ``joint``'s pitch: the x component of its head-space rotation
    vector (``rig.euler_to_axis_angle``: ``m^T (axis * angle)`` of the bone's local rotation, ``m`` the head-to-bone
    matrix), from the quaternion (W, X, Y, Z) of the bone named as the joint; 0 when the armature has none."""
    from . import rig

    key[prop] = 0.0
    if arm is None or joint not in arm.data.bones:
        log.warning("no bone %r: the lids do not follow it in the viewport", joint)
        new_driver(key, _prop_path(prop), "0", [])
        return
    m = rig.head_to_bone_matrix(arm, joint)
    along = " + ".join(f"{_coef(m[i][0])}*{a}" for i, a in enumerate("XYZ")).replace("+ -", "- ")
    s = "sqrt(X*X + Y*Y + Z*Z)"
    # rotation vector = angle * axis, angle = 2 atan2(|v|, |W|) on the short way round (q and -q are one rotation)
    expr = f"2 * atan2({s}, abs(W)) * (1 if W >= 0 else -1) * ({along}) / max({s}, 0.000000001)"
    new_driver(key, _prop_path(prop), expr, [], bone=(arm, joint))


def build(key: bpy.types.Key, expr_names: list[str], emotion_keys: list[tuple[str, str]],
          basis: Sequence[Sequence[float]] | None = None, above: Sequence[Sequence[float]] | None = None,
          arm: bpy.types.Object | None = None) -> int:
    """(Re)build every driver of the driven keys of ``key`` and the totals they read.

    expr_names: the E expression components (order of ``basis`` / ``above`` columns); emotion_keys: per emotion
    (C, in ``basis`` row order) the names of its key and of its above-1 key; basis, above: (C, E) emotion response
    or None; arm: the head's armature (its bones named as the joints, as the backend's glb makes them), whose eye
    bones' pitch the lid-follow keys read.
    Returns the number of driven keys.
    """
    driven = [t for t in targets(key) if key.key_blocks.get(t["name"]) is not None]
    ad = key.animation_data
    if ad is not None:  # old totals (and their parts): the components or emotions may have changed
        for d in [d for d in ad.drivers if any(d.data_path.startswith(f'["{p}') for p in _HELPERS)]:
            ad.drivers.remove(d)
    for p in [p for p in key.keys() if p.startswith(_HELPERS)]:
        del key[p]
    components = sorted({c for t in driven for c in t["variables"].values()})
    for comp in components:
        _drive_sum(key, TOTAL_PREFIX + comp, _total_terms(comp, emotion_keys, basis, above, expr_names,
                                                           key.key_blocks))
    for joint in sorted({j for t in driven for j in t.get("joints", {}).values()}):
        _drive_pitch(key, PITCH_PREFIX + joint, arm, joint)
    for t in driven:
        new_driver(key, _path(t["name"]), t["expression"],
                    [(v, _prop_path(TOTAL_PREFIX + c)) for v, c in t["variables"].items()]
                    + [(v, _prop_path(PITCH_PREFIX + j)) for v, j in t.get("joints", {}).items()])
    return len(driven)
