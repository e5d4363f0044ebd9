"""The head in the scene: import the backend's glb, find its mesh and armature, emotion shape keys.

What the add-on remembers about a head lives as custom properties on its shape-key datablock
(``mesh.data.shape_keys``), so it is saved with the .blend file:

- ``emodiffhead_expression_names``: JSON list of the expression components (shape keys, E).
- ``emodiffhead_emotion_names``: JSON list of emotion categories (C), from the track / server.
- ``emodiffhead_emotion_basis``: JSON (C, E) expression vector of each emotion at intensity 1.
- ``emodiffhead_emotion_basis_above``: JSON (C, E) its change per unit of intensity above 1, or null (linear).
- ``emodiffhead_head_model``: the model id written into exported tracks.
- ``emodiffhead_range``: [first, last] scene frame of the last animation.
- ``emodiffhead_driven_targets``: the head model's soft limits and correctives as driven shape keys
  (``driven.py``).

Emotions are shape keys named ``emotion_<name>`` whose offsets are the emotion's expression vector
(sum_e basis[c, e] * offset_e); their value is the intensity (0..1.5). Where a category's expression changes
its slope above intensity 1 (the lids and gaze it holds there), a second key ``emotion_<name> above 1`` carries
that change (sum_e above[c, e] * offset_e), its value driven by ``max(0, intensity - 1)``: the viewport shows
what the backend renders at any intensity the artist keys. The head model's nonlinear terms (soft limits,
combination correctives) are driven shape keys (``driven.py``), their drivers rebuilt here whenever the emotion
keys change, since they read the emotion keys too. See docs/blender.md.
"""

from __future__ import annotations

import json
import os

import bpy

from ..track_spec import JOINT_NAMES, MAX_INTENSITY
from . import driven

EMOTION_PREFIX = "emotion_"
#: Suffix of an emotion's above-1 shape key (``emotion_<name> above 1``, driven by its emotion key).
ABOVE_SUFFIX = " above 1"
#: glTF joint names written by the backend, and emotion intensities' upper limit: the track format's own
#: definitions (``emodiffhead.track``), through the generated ``track_spec``.
JOINTS = JOINT_NAMES


def import_glb(context, path: str):
    """Import a head glb; returns (mesh_object, armature_object or None). Leaves the mesh active.

    A glb from the backend names its expression components and carries its driven targets
    (``extras.emodiffhead``): both are remembered on the head and the driven keys get their drivers."""
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    before = set(bpy.data.objects)
    bpy.ops.import_scene.gltf(filepath=path)
    new = [o for o in bpy.data.objects if o not in before]
    meshes = [o for o in new if o.type == "MESH" and o.data.shape_keys is not None]
    if not meshes:
        meshes = [o for o in new if o.type == "MESH"]
    if not meshes:
        raise RuntimeError(f"{os.path.basename(path)} has no mesh")
    mesh = max(meshes, key=lambda o: len(o.data.vertices))
    arm = find_armature(mesh)
    extras = driven.glb_extras(path)
    key = mesh.data.shape_keys
    if key is not None and extras.get("expression_names"):
        remember(mesh, expression_names=list(extras["expression_names"]))
    if key is not None and extras.get("driven_targets"):
        driven.remember(key, extras["driven_targets"])
        driven.set_slider_ranges(key)
        update_drivers(mesh)
    return mesh, arm


def find_armature(mesh_obj):
    """The armature that deforms ``mesh_obj`` (modifier or parent), or None."""
    arm = mesh_obj.find_armature()
    if arm is None and mesh_obj.parent is not None and mesh_obj.parent.type == "ARMATURE":
        arm = mesh_obj.parent
    return arm


def key_of(mesh_obj):
    """The mesh's shape-key datablock (raises ValueError when it has none)."""
    key = mesh_obj.data.shape_keys if mesh_obj is not None and mesh_obj.type == "MESH" else None
    if key is None:
        raise ValueError("the head has no shape keys; create it with 'Create head'")
    return key


def _get_json(key, name: str, default):
    raw = key.get(name)
    return json.loads(raw) if isinstance(raw, str) else default


def expression_names(mesh_obj) -> list[str]:
    """The expression components of the head (stored names, else every non-emotion shape key)."""
    key = key_of(mesh_obj)
    names = _get_json(key, "emodiffhead_expression_names", None)
    if names is None:
        skip = driven.driven_names(key)
        names = [kb.name for kb in key.key_blocks[1:] if not kb.name.startswith(EMOTION_PREFIX) and kb.name not in skip]
    return names


def emotion_names(mesh_obj) -> list[str]:
    """Emotion categories known to the head (empty before the first track)."""
    try:
        return _get_json(key_of(mesh_obj), "emodiffhead_emotion_names", [])
    except (ValueError, ReferenceError):
        return []


def emotion_basis(mesh_obj) -> list[list[float]] | None:
    """(C, E) emotion vectors stored on the head, or None."""
    return _get_json(key_of(mesh_obj), "emodiffhead_emotion_basis", None)


def emotion_basis_above(mesh_obj) -> list[list[float]] | None:
    """(C, E) change of the emotion vectors above intensity 1 stored on the head, or None (linear)."""
    return _get_json(key_of(mesh_obj), "emodiffhead_emotion_basis_above", None)


def above_key_name(emotion: str) -> str:
    """The name of ``emotion``'s above-1 shape key."""
    return EMOTION_PREFIX + emotion + ABOVE_SUFFIX


def remember(mesh_obj, **values) -> None:
    """Store ``values`` (JSON-able) as ``emodiffhead_<name>`` custom properties of the head's shape keys."""
    key = key_of(mesh_obj)
    for k, v in values.items():
        key[f"emodiffhead_{k}"] = json.dumps(v)


def recall(mesh_obj, name: str, default=None):
    """A value stored by :func:`remember`."""
    return _get_json(key_of(mesh_obj), f"emodiffhead_{name}", default)


def ensure_emotion_keys(mesh_obj, names: list[str], basis: list[list[float]], expr_names: list[str],
                        above: list[list[float]] | None = None) -> list:
    """Create or update one shape key per emotion: offsets = sum_e basis[c][e] * offset of key e; where
    ``above`` (C, E) has a non-zero row, also the emotion's above-1 key (offsets from ``above``, value driven by
    ``max(0, emotion - 1)``); above-1 keys of rows that are now zero are removed.

    names: C emotion names; basis, above: (C, E) rows in ``expr_names`` order. Returns the emotion key blocks.
    Keys of expression names missing on the mesh are skipped.
    """
    import numpy as np  # ships with Blender's Python

    key = key_of(mesh_obj)
    blocks = key.key_blocks
    n = len(mesh_obj.data.vertices)
    ref = np.empty(n * 3, np.float32)
    key.reference_key.data.foreach_get("co", ref)
    offsets = {}
    for e in expr_names:
        kb = blocks.get(e)
        if kb is not None:
            co = np.empty(n * 3, np.float32)
            kb.data.foreach_get("co", co)
            offsets[e] = co - ref

    def set_key(kname: str, row: list[float], top: float):
        delta = np.zeros(n * 3, np.float32)
        for e, w in zip(expr_names, row):
            if w and e in offsets:
                delta += np.float32(w) * offsets[e]
        kb = blocks.get(kname)
        if kb is None:
            kb = mesh_obj.shape_key_add(name=kname, from_mix=False)
        kb.slider_min, kb.slider_max = 0.0, top
        kb.relative_key = key.reference_key
        kb.data.foreach_set("co", ref + delta)
        return kb

    out = []
    for c, name in enumerate(names):
        kname = EMOTION_PREFIX + name
        out.append(set_key(kname, basis[c], MAX_INTENSITY))
        aname = above_key_name(name)
        if above is not None and any(above[c]):
            set_key(aname, above[c], max(0.0, MAX_INTENSITY - 1.0))
            _drive_above_key(key, aname, kname)
        elif blocks.get(aname) is not None:
            key.driver_remove(f'key_blocks["{aname}"].value')
            mesh_obj.shape_key_remove(blocks[aname])
    update_drivers(mesh_obj, names, basis, expr_names, above)
    mesh_obj.data.update()
    return out


def update_drivers(mesh_obj, names: list[str] | None = None, basis: list[list[float]] | None = None,
                   expr_names: list[str] | None = None, above: list[list[float]] | None = None) -> int:
    """(Re)build the drivers of the head's driven keys (soft limits, correctives; ``driven.py``) for emotion
    categories ``names`` with (C, E) ``basis`` / ``above`` rows in ``expr_names`` order (default: what the head
    remembers). Returns the number of driven keys."""
    key = key_of(mesh_obj)
    if not driven.targets(key):
        return 0
    if basis is None:
        names, basis, above = emotion_names(mesh_obj), emotion_basis(mesh_obj), emotion_basis_above(mesh_obj)
    expr_names = expr_names or expression_names(mesh_obj)
    keys = [(EMOTION_PREFIX + n, above_key_name(n)) for n in (names or [])]
    return driven.build(key, expr_names, keys, basis, above, find_armature(mesh_obj))


def _drive_above_key(key, above_name: str, emotion_key_name: str) -> None:
    """Drive ``key_blocks[above_name].value`` by ``max(0, w - 1)`` of the emotion key ``emotion_key_name`` (a
    simple expression: Blender evaluates it without running Python, even with auto-run scripts off)."""
    driven.new_driver(key, f'key_blocks["{above_name}"].value', "max(0.0, w - 1.0)",
                      [("w", f'key_blocks["{emotion_key_name}"].value')])


def is_own_driver(key, data_path: str) -> bool:
    """True for the F-curve path of one of the add-on's own drivers on the shape-key datablock ``key``: an above-1
    key's (:func:`ensure_emotion_keys`), a driven key's or a total's (``driven.py``). They drive only keys and
    properties that the export does not read."""
    if data_path.startswith(f'key_blocks["{EMOTION_PREFIX}') and data_path.endswith(f'{ABOVE_SUFFIX}"].value'):
        return True
    return driven.is_own_driver(key, data_path)


def set_expression_slider_ranges(mesh_obj, lo: float = -1.0, hi: float = 1.5) -> None:
    """Let expression sliders go a little past [0, 1] (FLAME-style components can be negative); emotion keys
    (and their above-1 keys) and driven keys keep their own ranges."""
    key = key_of(mesh_obj)
    skip = driven.driven_names(key)
    for kb in key.key_blocks[1:]:
        if not kb.name.startswith(EMOTION_PREFIX) and kb.name not in skip:
            kb.slider_min, kb.slider_max = lo, hi


def _world_box(obj):
    """(min xyz, max xyz) of ``obj``'s bounding box in world space."""
    from mathutils import Vector

    pts = [obj.matrix_world @ Vector(c) for c in obj.bound_box]
    return [min(p[i] for p in pts) for i in range(3)], [max(p[i] for p in pts) for i in range(3)]


def place_clear_of_others(context, mesh_obj, gap: float = 0.1) -> str:
    """Move the new head (its top parent, e.g. the rig) along +X until its bounding box clears every other
    visible mesh in the scene (the default cube: 2 m around the origin, the head: 0.26 m). Returns the name
    of the object it was moved beside ('' when it did not overlap)."""
    context.view_layer.update()
    top = mesh_obj
    while top.parent is not None:
        top = top.parent
    ours = {top, *top.children_recursive}
    lo, hi = _world_box(mesh_obj)
    beside = ""
    for ob in context.scene.objects:
        if ob in ours or ob.type != "MESH" or not ob.visible_get():
            continue
        olo, ohi = _world_box(ob)
        if all(lo[i] < ohi[i] and hi[i] > olo[i] for i in range(3)):
            dx = ohi[0] + gap - lo[0]
            top.location.x += dx
            lo[0] += dx
            hi[0] += dx
            beside = ob.name
            context.view_layer.update()
    return beside
