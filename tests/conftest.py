"""Shared fixtures: the shipped example files and the built-in head (loaded once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "backend" / "emodiffhead" / "assets" / "examples"
SHARED = REPO.parent / "shared" / "data"  # development data; tests that use it skip when absent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def example_audio() -> Path:
    """CMU ARCTIC a0009, 16 kHz mono speech, 3.1 s (free for any use, see ARCTIC_COPYING)."""
    return EXAMPLES / "arctic_a0009.wav"


@pytest.fixture(scope="session")
def example_photo() -> Path:
    """Einstein 1921 portrait, public domain."""
    return EXAMPLES / "einstein_1921.jpg"


@pytest.fixture(scope="session")
def builtin_head():
    from emodiffhead.head import load_head

    return load_head("builtin")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED
