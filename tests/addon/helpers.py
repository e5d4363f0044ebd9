"""Run Blender scenario scripts in their own processes and collect their JSON results.

The scenarios run in ``$EMODIFFHEAD_BLENDER_PYTHON`` (a Python with the ``bpy`` module, e.g. a venv with
``bpy==4.2.0`` or ``bpy==5.2.3``; default: this interpreter). The backend (server fixture, Start server from
Blender) runs in ``$EMODIFFHEAD_BACKEND_PYTHON`` (default: this interpreter), see :func:`backend_python`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def blender_python() -> str:
    """The interpreter that runs the Blender scenarios (``$EMODIFFHEAD_BLENDER_PYTHON``, default this one)."""
    return os.environ.get("EMODIFFHEAD_BLENDER_PYTHON") or sys.executable


def backend_python() -> str:
    """The interpreter that runs the emodiffhead backend (``$EMODIFFHEAD_BACKEND_PYTHON``, default this one)."""
    return os.environ.get("EMODIFFHEAD_BACKEND_PYTHON") or sys.executable


def run_blender_script(name: str, *args: str, user_dir: Path, timeout: float = 170.0, env: dict | None = None) -> dict:
    """Run ``scripts/<name>`` with :func:`blender_python`; returns the dict it printed after RESULT:."""
    tmp = Path(user_dir) / "tmp"  # the add-on's scratch files (unsaved .blend) stay inside the test's folder
    tmp.mkdir(exist_ok=True)
    e = dict(os.environ, BLENDER_USER_RESOURCES=str(user_dir), PYTHONUNBUFFERED="1", TMPDIR=str(tmp), **(env or {}))
    p = subprocess.run([blender_python(), str(SCRIPTS / name), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=e, cwd=str(SCRIPTS))
    if os.environ.get("EMODIFFHEAD_SCENARIO_LOG"):  # keep every scenario's output, e.g. to read Blender's warnings
        log = Path(os.environ["EMODIFFHEAD_SCENARIO_LOG"])
        log.mkdir(parents=True, exist_ok=True)
        (log / f"{Path(name).stem}.log").write_text(p.stdout + "\n---- stderr ----\n" + p.stderr)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT:")]
    if p.returncode != 0 or not lines:
        raise AssertionError(f"{name} failed (exit {p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}")
    result = json.loads(lines[-1][len("RESULT:"):])
    assert not result.get("blender_deprecations"), f"{name} used deprecated Blender API: {result['blender_deprecations']}"
    return result


_BUILD: dict = {}


def blender_build() -> dict:
    """{"version", "audaspace"} of :func:`blender_python`'s bpy (asked once per session)."""
    if not _BUILD:
        code = ("import json, os, sys, bpy; sys.stdout.write('BUILD:' + json.dumps({'version': bpy.app.version_string, "
                "'audaspace': bool(bpy.app.build_options.audaspace)}) + chr(10)); sys.stdout.flush(); os._exit(0)")
        p = subprocess.run([blender_python(), "-c", code], capture_output=True, text=True, timeout=120)
        line = next(ln for ln in p.stdout.splitlines() if ln.startswith("BUILD:"))
        _BUILD.update(json.loads(line[len("BUILD:"):]))
    return _BUILD


def need_audio() -> None:
    """Skip (with the reason) when the bpy build cannot make sound strips: the pip ``bpy==4.2.0`` wheel is built
    without Audaspace, so ``new_sound`` raises "Blender compiled without Audaspace support"."""
    import pytest

    b = blender_build()
    if not b["audaspace"]:
        pytest.skip(f"bpy {b['version']} is built without Audaspace: no sound strips, so no dialogue lines")
