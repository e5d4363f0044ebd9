"""Fixtures for the Blender add-on tests: the built extension zip (built once per session)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def addon_zip(tmp_path_factory):
    """The extension zip, built with the real build command."""
    from emodiffhead.cli import main

    out = tmp_path_factory.mktemp("dist") / "emodiffhead-addon.zip"
    assert main(["build-addon", "-o", str(out)]) == 0
    return out


@pytest.fixture()
def blender_user(tmp_path):
    """A throw-away Blender user folder (BLENDER_USER_RESOURCES) so tests never touch the real config."""
    d = tmp_path / "blender_user"
    d.mkdir()
    return d


#: MediaPipe face-mesh points the synthetic FLAME landmark embedding carries (lips, eyes, brows, nose, chin)
MEDIAPIPE_SUBSET = [0, 13, 14, 17, 61, 291, 78, 308, 82, 312, 87, 317, 33, 133, 159, 145, 362, 263, 386, 374,
                    70, 105, 107, 336, 334, 300, 152, 1, 4]


def write_synthetic_embedding(path, head, builtin) -> None:
    """A MICA-style ``mediapipe_landmark_embedding.npz`` for the synthetic sphere head: the built-in head's
    landmarks ``MEDIAPIPE_SUBSET`` (centred, scaled into the sphere's front) on the nearest sphere faces."""
    import numpy as np

    from emodiffhead.head.lbs import barycentric_points

    lm = barycentric_points(builtin.template[None], builtin.faces, builtin.landmark_faces, builtin.landmark_bary)[0]
    p = lm[MEDIAPIPE_SUBSET] - lm[MEDIAPIPE_SUBSET].mean(0)
    r = float(np.abs(head.template).max())
    xy = p[:, :2] * (0.7 * r / np.abs(p[:, :2]).max())
    q = np.c_[xy, np.sqrt(np.maximum(r * r - (xy ** 2).sum(1), 0.0))]
    cent = head.template[head.faces].mean(1)
    faces = np.argmin(((cent[None] - q[:, None]) ** 2).sum(-1), axis=1).astype(np.int64)
    np.savez(path, lmk_face_idx=faces, lmk_b_coords=np.full((len(faces), 3), 1 / 3, np.float64),
             landmark_indices=np.asarray(MEDIAPIPE_SUBSET, np.int64))


@pytest.fixture(scope="session")
def flame_files(tmp_path_factory, builtin_head):
    """(synthetic FLAME generic_model.pkl, its MediaPipe-subset landmark embedding .npz): no licensed data."""
    from synthetic_heads import make_head, write_flame_pickle

    d = tmp_path_factory.mktemp("flame")
    head = make_head(num_expression=6)
    model = write_flame_pickle(d / "generic_model.pkl", head)
    emb = d / "mediapipe_landmark_embedding.npz"
    write_synthetic_embedding(emb, head, builtin_head)
    return model, emb


@pytest.fixture(scope="session")
def server(tmp_path_factory, flame_files):
    """A real backend on a free loopback port that also offers the synthetic FLAME model with its landmark
    embedding: (url, token, token file)."""
    from emodiffhead.server.testing import start_server, stop_server

    data = tmp_path_factory.mktemp("server")
    model, emb = flame_files
    url, token, proc = start_server(data, extra_args=("--flame", str(model), "--flame-landmarks", str(emb)))
    yield url, token, data / "token"
    stop_server(proc)


@pytest.fixture(scope="session")
def addon_module(repo_root):
    """Load a stand-alone add-on module (no bpy) from addon/ by name, e.g. addon_module("client"). It is loaded
    as a module of a bare package over addon/ (its __init__ needs bpy and is not run), so that its relative
    imports of other plain modules (track_io -> track_spec) work."""
    import importlib.util
    import sys
    import types

    package = "emodiffhead_addon"
    if package not in sys.modules:
        sys.modules[package] = types.ModuleType(package)
        sys.modules[package].__path__ = [str(repo_root / "addon")]

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"{package}.{name}", repo_root / "addon" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look the module up while building classes
        spec.loader.exec_module(mod)
        return mod

    return load
