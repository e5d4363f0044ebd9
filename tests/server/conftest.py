"""Fixtures of the server tests (helpers live in server_helpers.py)."""

from __future__ import annotations

import pytest
from server_helpers import TEST_RENDERERS, make_job_fn, neutral_track_json, start_live


@pytest.fixture()
def live(tmp_path):
    srv = start_live(tmp_path / "data", job_fn=make_job_fn(), renderers_fn=TEST_RENDERERS)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def job_files(example_photo, example_audio):
    """(photo bytes, audio bytes, a matching neutral track as JSON bytes) for POST /jobs."""
    audio = example_audio.read_bytes()
    from emodiffhead.audio.io import load_audio

    dur = load_audio(example_audio).duration_s
    return example_photo.read_bytes(), audio, neutral_track_json(int(round(dur * 25)))
