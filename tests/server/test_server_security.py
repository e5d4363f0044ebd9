"""Token, Origin and Host checks; the token file; `emodiffhead serve` as a real subprocess."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import httpx

from emodiffhead.server.testing import start_server, stop_server


def test_token_required_everywhere_but_health(live):
    url = live.url
    assert httpx.get(url + "/health").status_code == 200
    client = httpx.Client()
    for method, path in (("GET", "/jobs"), ("GET", "/jobs/0123456789abcdef0123456789abcdef"), ("POST", "/jobs"),
                         ("POST", "/animate"), ("POST", "/heads"), ("GET", "/openapi.json"),
                         ("POST", "/jobs/0123456789abcdef0123456789abcdef/cancel"), ("POST", "/health")):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": live.token},
                        {"Authorization": f"Basic {live.token}"}):
            r = client.request(method, url + path, headers=headers)
            assert r.status_code == 401, (method, path, headers)
            assert "token" in r.json()["detail"] and r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(url + "/jobs", headers=live.auth).status_code == 200


def test_foreign_origin_refused_own_origin_allowed(live):
    port = live.url.rsplit(":", 1)[1]
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{int(port) + 1}", f"https://127.0.0.1:{port}",
                   f"http://localhost.evil.example:{port}"):
        for path in ("/health", "/jobs"):
            r = httpx.get(live.url + path, headers={**live.auth, "Origin": origin})
            assert r.status_code == 403 and "origin" in r.json()["detail"], origin
    r = httpx.options(live.url + "/jobs", headers={"Origin": "http://evil.example",
                                                     "Access-Control-Request-Method": "POST"})
    assert r.status_code == 403
    for own in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        assert httpx.get(live.url + "/jobs", headers={**live.auth, "Origin": own}).status_code == 200


def test_foreign_host_header_refused_on_loopback(live):
    r = httpx.get(live.url + "/jobs", headers={**live.auth, "Host": "evil.example"})
    assert r.status_code == 403 and "Host" in r.json()["detail"]
    assert httpx.get(live.url + "/jobs", headers={**live.auth, "Host": "localhost"}).status_code == 200


def test_token_file_private_and_reused(tmp_path):
    from emodiffhead.server.security import load_or_create_token

    t1 = load_or_create_token(tmp_path)
    mode = stat.S_IMODE((tmp_path / "token").stat().st_mode)
    assert mode == 0o600 and len(t1) >= 40
    assert load_or_create_token(tmp_path) == t1
    os.chmod(tmp_path / "token", 0o644)  # readable by others: replaced
    t2 = load_or_create_token(tmp_path)
    assert t2 != t1 and stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600
    assert load_or_create_token(tmp_path, renew=True) != t2


def test_serve_subprocess_prints_url_and_needs_token(tmp_path):
    url, token, proc = start_server(tmp_path / "data")
    try:
        assert url.startswith("http://127.0.0.1:")
        h = httpx.get(url + "/health").json()
        assert h["status"] == "ok" and "builtin" in h["head_models"] and "happy" in h["emotions"]
        assert {"max_upload_mb", "max_audio_s", "min_audio_s", "max_photo_pixels", "max_track_mb", "max_track_frames",
                "max_json_depth", "min_free_mb", "keep_days", "max_connections", "header_timeout_s",
                "body_timeout_s"} == set(h["limits"])
        assert httpx.get(url + "/jobs").status_code == 401
        assert httpx.get(url + "/jobs", headers={"Authorization": f"Bearer {token}"}).json() == []
        spec = httpx.get(url + "/openapi.json", headers={"Authorization": f"Bearer {token}"}).json()
        assert {"/health", "/heads", "/animate", "/jobs", "/jobs/{job_id}", "/jobs/{job_id}/cancel",
                "/jobs/{job_id}/result"} <= set(spec["paths"])
        assert stat.S_IMODE((tmp_path / "data" / "token").stat().st_mode) == 0o600
    finally:
        stop_server(proc)
    log = (tmp_path / "data" / "server.log").read_text()
    assert "GET /jobs 401" in log and "GET /jobs 200" in log  # one line per request


def test_serve_refuses_remote_host_without_flag(tmp_path):
    r = subprocess.run([sys.executable, "-m", "emodiffhead", "serve", "--host", "0.0.0.0", "--port", "0",
                        "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--allow-remote" in r.stderr


def test_serve_with_an_unusable_data_dir_exits_2_with_one_line(tmp_path, capsys):
    from emodiffhead.cli import main

    blocker = tmp_path / "plain.txt"
    blocker.write_text("x")
    assert main(["serve", "--data-dir", str(blocker / "data"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "data folder" in err and "cannot create" in err and len(err.strip().splitlines()) == 1
