"""The ``emodiffhead`` command line: help, export-head, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emodiffhead.cli import main
from emodiffhead.track import Track, save_track
from synthetic_heads import make_head, write_flame_pickle


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run the installed console script (fall back to ``python -m emodiffhead``)."""
    exe = Path(sys.executable).with_name("emodiffhead")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "emodiffhead"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120)


def glb_json(path: Path) -> dict:
    data = path.read_bytes()
    assert data[:4] == b"glTF"
    (n,) = struct.unpack("<I", data[12:16])
    return json.loads(data[20:20 + n])


def test_help_lists_commands():
    proc = cli("--help")
    assert proc.returncode == 0
    assert "export-head" in proc.stdout and "serve" in proc.stdout
    proc = cli("export-head", "--help")
    assert proc.returncode == 0 and "--model" in proc.stdout and "--track" in proc.stdout


def test_bad_model_path_exit_2_one_line(tmp_path):
    proc = cli("export-head", "--model", str(tmp_path / "missing.pkl"), "-o", str(tmp_path / "h.glb"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing.pkl" in lines[0] and "not found" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "h.glb").exists()


def test_export_builtin(tmp_path, capsys):
    out = tmp_path / "head.glb"
    assert main(["export-head", "-o", str(out)]) == 0
    doc = glb_json(out)
    names = doc["meshes"][0]["extras"]["targetNames"]  # 52 expressions, then the driven soft limits / correctives
    assert names[:52] == doc["extras"]["emodiffhead"]["expression_names"] and len(names) == 52 + 13
    assert [t["name"] for t in doc["extras"]["emodiffhead"]["driven_targets"]] == names[52:]
    assert [n["name"] for n in doc["nodes"][:5]] == ["root", "neck", "jaw", "eye_left", "eye_right"]
    assert "wrote" in capsys.readouterr().out


def test_export_flame_with_shape_and_track(tmp_path):
    head = make_head(posedirs=True)
    model = write_flame_pickle(tmp_path / "generic_model.pkl", head)
    tr = Track.neutral(4, 30.0, "flame", [f"exp{i:03d}" for i in range(5)])
    tr.expression[:, 0] = [0, 1, 2, 1]
    track = save_track(tr, tmp_path / "t.json")
    out = tmp_path / "flame.glb"
    rc = main(["export-head", "--model", str(model), "--num-expression", "5", "--num-shape", "4",
               "--shape", '{"shape001": 1.5}', "--track", str(track), "-o", str(out)])
    assert rc == 0
    doc = glb_json(out)
    assert doc["meshes"][0]["extras"]["targetNames"] == [f"exp{i:03d}" for i in range(5)]
    assert doc["extras"]["emodiffhead"]["driven_targets"] == []   # FLAME is linear
    assert doc["extras"]["emodiffhead"]["shape"] == [0.0, 1.5, 0.0, 0.0]
    assert doc["animations"][0]["name"] == "track"
    pos = doc["accessors"][doc["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
    expected = head.template + 1.5 * head.shape_basis[:, :, 1]
    np.testing.assert_allclose(pos["max"], expected.max(0), atol=1e-6)


@pytest.mark.parametrize("args,message", [
    (["--shape", "1,2,x"], "--shape: expected comma-separated numbers"),
    (["--shape", '{"nose_width": 1}'], "unknown shape name"),
    (["--shape", "[1, NaN]"], "finite"),
    (["--shape", "missing.json"], "--shape file not found"),
    (["--track", "missing.json"], "track file not found"),
])
def test_user_errors_exit_2(tmp_path, capsys, args, message):
    rc = main(["export-head", *args, "-o", str(tmp_path / "h.glb")])
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_track_for_another_model_is_refused(tmp_path, capsys):
    tr = Track.neutral(2, 25.0, "flame", ["exp000", "exp001"])
    track = save_track(tr, tmp_path / "t.json")
    assert main(["export-head", "--track", str(track), "-o", str(tmp_path / "h.glb")]) == 2
    assert "expression_names" in capsys.readouterr().err


def test_output_must_be_glb(tmp_path, capsys):
    assert main(["export-head", "-o", str(tmp_path / "h.obj")]) == 2
    assert ".glb" in capsys.readouterr().err


@pytest.mark.parametrize("command,name", [("export-head", "h.glb"), ("build-addon", "a.zip")])
def test_unwritable_output_exit_2_one_line(tmp_path, capsys, command, name):
    blocker = tmp_path / "plain.txt"
    blocker.write_text("x")
    assert main([command, "-o", str(blocker / name)]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and str(blocker / name) in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]


def test_build_addon_output_must_be_zip(tmp_path, capsys):
    assert main(["build-addon", "-o", str(tmp_path / "addon.txt")]) == 2
    assert ".zip" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["animate", "extract", "render"])
def test_unwritable_output_is_reported_before_the_long_work(tmp_path, capsys, command):
    """The inputs here would fail later (silent audio, no face): the output error must come first."""
    import wave

    import cv2

    silent = tmp_path / "silent.wav"
    with wave.open(str(silent), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(b"\0\0" * 16000)
    noise = tmp_path / "noise.png"
    cv2.imwrite(str(noise), np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    blocked = tmp_path / "plain.txt"
    blocked.write_text("x")
    out = {"animate": [str(silent), "-o", str(blocked / "t.json")],
           "extract": [str(noise), "-o", str(blocked / "t.json")],
           "render": [str(noise), str(silent), "-o", str(blocked / "o.mp4")]}[command]
    assert main([command, *out, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.png", "plain.txt", "silent.wav"]


def test_a_named_command_imports_only_its_own_module():
    from emodiffhead.cli import build_parser

    def choices(parser):
        return sorted(parser._subparsers._group_actions[0].choices)  # noqa: SLF001 - argparse has no API

    every = choices(build_parser())
    assert "animate" in every and "render" in every and len(every) >= 5
    assert choices(build_parser("animate")) == ["animate"]
    assert choices(build_parser("build_addon")) == every  # a module whose command is spelt "build-addon"
    # in a fresh process (here every command module is loaded already): only the named command's module loads
    probe = ("import json, sys; from emodiffhead.cli import build_parser; build_parser('animate'); "
             "print(json.dumps([m for m in sys.modules if m.startswith('emodiffhead.commands.')]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    assert "emodiffhead.commands.animate" in loaded and "emodiffhead.commands.render" not in loaded, loaded


def test_animate_gets_single_threaded_blas_only_before_numpy_loads(monkeypatch):
    import os

    from emodiffhead import cli as cli_module

    env: dict[str, str] = {}
    monkeypatch.setattr(os, "environ", env)
    cli_module._limit_blas_threads(["animate", "a.wav"])
    assert env == {}  # numpy is loaded in this process: too late to matter, nothing set
    monkeypatch.delitem(sys.modules, "numpy")
    cli_module._limit_blas_threads(["render", "a.png"])
    assert env == {}
    env["OPENBLAS_NUM_THREADS"] = "2"  # the user's own setting is kept
    cli_module._limit_blas_threads(["animate", "a.wav"])
    assert env == {"OPENBLAS_NUM_THREADS": "2"}
    del env["OPENBLAS_NUM_THREADS"]
    cli_module._limit_blas_threads(["animate", "a.wav"])
    assert env == {"OPENBLAS_NUM_THREADS": "1"}
