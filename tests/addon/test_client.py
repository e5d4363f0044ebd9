"""The add-on's standard-library HTTP client against the real backend (no Blender needed)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def client_mod(addon_module):
    return addon_module("client")


def test_health_needs_no_token(server, client_mod):
    url, _, _ = server
    h = client_mod.Client(url, token="").health()
    assert h["status"] == "ok" and "happy" in h["emotions"] and "jawOpen" in h["expression_names"]
    assert any(v["available"] for v in h["renderers"].values())


def test_token_file_and_wrong_token(server, client_mod, tmp_path):
    url, token, token_file = server
    assert client_mod.read_token(str(token_file)) == token
    assert client_mod.read_token(str(tmp_path / "missing")) == ""
    with pytest.raises(client_mod.BackendError) as e:
        client_mod.Client(url, token="wrong").job_status("0" * 32)
    assert e.value.status == 401 and "token" in str(e.value)


def test_server_errors_carry_the_detail(server, client_mod, example_audio):
    url, token, _ = server
    c = client_mod.Client(url, token)
    with pytest.raises(client_mod.BackendError) as e:
        c.cancel_job("f" * 32)
    assert e.value.status == 404 and "unknown job" in str(e.value)
    with pytest.raises(client_mod.BackendError) as e:
        c.animate(str(example_audio), emotion="elated")
    assert 400 <= e.value.status < 500 and "emotion" in str(e.value)
    with pytest.raises(client_mod.BackendError, match="file not found"):
        c.animate("/nonexistent/speech.wav")


def test_animate_returns_a_track(server, client_mod, addon_module, example_audio):
    url, token, _ = server
    data = client_mod.Client(url, token).animate(str(example_audio), emotion="sad", intensity=0.5, fps=25.0)
    track = addon_module("track_io").track_from_bytes(data)
    assert track.num_frames == pytest.approx(3.1 * 25, abs=3)
    sad = track.emotion_names.index("sad")
    assert all(abs(row[sad] - 0.5) < 1e-6 for row in track.emotion)
    assert json.loads(data)["format"] == "emodiffhead.track"


def test_server_not_running(client_mod):
    with pytest.raises(client_mod.BackendError, match="not running"):
        client_mod.Client("http://127.0.0.1:9").health()


def test_start_rejects_a_missing_python(addon_module):
    sp = addon_module("server_process")
    with pytest.raises(RuntimeError, match="Backend Python not found"):
        sp.start("/nonexistent/python", "http://127.0.0.1:8765")
    assert not sp.is_running() and sp.port_of("http://127.0.0.1:9999") == 9999


def test_requests_are_logged_per_module(client_mod, caplog):
    """The client logs each request (DEBUG) on its own module's logger, not with print."""
    import logging

    with caplog.at_level(logging.DEBUG, logger=client_mod.__name__):
        with pytest.raises(client_mod.BackendError):
            client_mod.Client("http://127.0.0.1:9").health()
    assert [(r.name, r.getMessage()) for r in caplog.records] == [(client_mod.__name__, "GET http://127.0.0.1:9/health")]
