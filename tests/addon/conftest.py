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


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real backend on a free loopback port: (url, token, token file)."""
    from emodiffhead.server.testing import start_server, stop_server

    data = tmp_path_factory.mktemp("server")
    url, token, proc = start_server(data)
    yield url, token, data / "token"
    stop_server(proc)


@pytest.fixture(scope="session")
def addon_module(repo_root):
    """Load a stand-alone add-on module (no bpy) from addon/ by name, e.g. addon_module("client")."""
    import importlib.util
    import sys

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"emodiffhead_addon_{name}", repo_root / "addon" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look the module up while building classes
        spec.loader.exec_module(mod)
        return mod

    return load
