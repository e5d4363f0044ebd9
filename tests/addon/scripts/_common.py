"""Helpers for the Blender scenario scripts (each runs in its own process: bpy keeps global state)."""

import importlib
import json
import sys

import bpy  # noqa: F401 - must come first: it puts Blender's modules (addon_utils) on sys.path

MODULE = "bl_ext.user_default.emodiffhead"
DEPRECATED: list[str] = []  # Blender API deprecations seen while the scenario ran


def install(zip_path: str):
    """Install and enable the extension zip like a user; returns the add-on's package module.

    Every use of an API that Blender marks for removal (5.2: "... is expected to be removed in Blender 6.0",
    e.g. the old strip timing names) is recorded and reported by :func:`emit` (the test helper fails on it).
    """
    import warnings

    warnings.filterwarnings("always", message=r".*expected to be removed in Blender", category=DeprecationWarning)
    previous = warnings.showwarning

    def record(message, category, filename, lineno, file=None, line=None):
        if "expected to be removed in Blender" in str(message):
            DEPRECATED.append(f"{message} ({filename}:{lineno})")
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = record
    bpy.ops.wm.read_factory_settings(use_empty=True)
    r = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    if r != {"FINISHED"}:
        raise RuntimeError(f"install failed: {r}")
    return importlib.import_module(MODULE)


def sub(name: str):
    """An add-on submodule, e.g. sub('scene.keyframes')."""
    return importlib.import_module(f"{MODULE}.{name}")


def subs(*names: str) -> tuple:
    """Several add-on submodules at once, e.g. ``head, lines = subs("scene.head", "scene.lines")``."""
    return tuple(sub(n) for n in names)


def addon_prefs():
    """The add-on's preferences (backend URL, token file, backend Python, data folder)."""
    return bpy.context.preferences.addons[MODULE].preferences


def use_backend(params: dict):
    """Point the add-on at the test's server: ``params["url"]`` and ``params["token_file"]``. Returns the
    preferences."""
    p = addon_prefs()
    p.backend_url, p.token_path = params["url"], params["token_file"]
    return p


def backend_scenario() -> tuple[dict, "bpy.types.Context", "bpy.types.Scene"]:
    """The start of a scenario against the test's server, argv ``ZIP PARAMS_JSON``: installs the add-on, points
    it at the server (:func:`use_backend`) and sets the scene to 25 fps. Returns (params, context, scene)."""
    params = json.loads(sys.argv[2])
    install(sys.argv[1])
    use_backend(params)
    return (params, *scene_at_25_fps())


def head_scenario(zip_path: str, glb: str):
    """The start of a scenario without a backend: installs the add-on from ``zip_path``, sets the scene to 25 fps
    and imports the head ``glb``. Returns (context, scene, head mesh, armature)."""
    install(zip_path)
    ctx, scene = scene_at_25_fps()
    mesh, arm = sub("scene.head").import_glb(ctx, glb)
    return ctx, scene, mesh, arm


def artist_nod(arm, name: str, keys: tuple[tuple[float, float], ...]):
    """The artist's own head nod on ``arm``: a new active action ``name`` in Add mode keying the neck's X
    rotation at ``keys`` ((frame, radians), ...). Returns (its F-curve, its channel bag)."""
    keyframes = sub("scene.keyframes")
    arm.animation_data.action = bpy.data.actions.new(name)
    bag = keyframes.ensure_action(arm, name)
    fc = keyframes.fcurve(bag, 'pose.bones["neck"].rotation_euler', 0, group="neck")
    for f, v in keys:
        fc.keyframe_points.insert(f, v)
    arm.animation_data.action_blend_type = "ADD"
    return fc, bag


def scene_at_25_fps():
    """(context, scene) with the scene at 25 fps (fps_base 1)."""
    ctx = bpy.context
    ctx.scene.render.fps, ctx.scene.render.fps_base = 25, 1.0
    return ctx, ctx.scene


def call(op, **kw) -> tuple[str, str]:
    """Run an operator; returns ('FINISHED'|'CANCELLED'|'ERROR', error text): an operator's ERROR report (or a
    failed poll) reaches Python as RuntimeError."""
    try:
        return sorted(op(**kw))[0], ""
    except RuntimeError as e:
        return "ERROR", str(e)


def emit(result: dict) -> None:
    """Print the result for pytest (one line, prefixed) and end the process: the bpy 4.2.0 module crashes
    (SIGSEGV) while tearing Blender down at interpreter exit, after the scenario is over."""
    import os

    result = dict(result, blender_deprecations=sorted(set(DEPRECATED)))
    sys.stdout.write("RESULT:" + json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def evaluated_vertices(obj):
    """(V*3,) evaluated vertex coordinates of ``obj`` in world space (list of floats)."""
    import numpy as np

    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    me = ev.to_mesh()
    co = np.empty(len(me.vertices) * 3, np.float32)
    me.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    m = np.array(obj.matrix_world, np.float32)
    co = co @ m[:3, :3].T + m[:3, 3]
    ev.to_mesh_clear()
    return co
