"""``emodiffhead serve``: run the local HTTP job service for the Blender add-on."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

from ..errors import EmodiffheadError, InputFileError

NAME = "serve"
HELP = "run the local HTTP job service (used by the Blender add-on)"
DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; anything not loopback needs --allow-remote)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0 = any free)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="jobs and the token file (default $EMODIFFHEAD_DATA_DIR or ~/.local/share/emodiffhead)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow binding to a non-loopback address (the token is still required)")
    parser.add_argument("--flame", type=Path, action="append", default=[], metavar="PATH",
                        help="a FLAME model file clients may use as head model (repeatable)")
    parser.add_argument("--flame-landmarks", type=Path, default=None, metavar="PATH",
                        help="landmark embedding for the --flame files (MICA's mediapipe_landmark_embedding.npz lets "
                             "the animator retarget to FLAME and the renderers show FLAME tracks)")
    parser.add_argument("--max-upload-mb", type=float, default=200.0, help="request body limit in MB (default 200)")
    parser.add_argument("--max-audio-s", type=float, default=600.0, help="longest audio accepted, s (default 600)")
    parser.add_argument("--max-track-mb", type=float, default=64.0, help="largest track upload in MB (default 64)")
    parser.add_argument("--min-free-mb", type=float, default=256.0,
                        help="free disk space kept beyond a new job's files, MB; else 507 (default 256)")
    parser.add_argument("--keep-days", type=float, default=30.0,
                        help="delete finished jobs this many days after they finished (default 30; 0 = keep)")
    parser.add_argument("--max-connections", type=int, default=64,
                        help="open connections before new ones get 503 (default 64)")
    parser.add_argument("--header-timeout-s", type=float, default=10.0,
                        help="a request's headers must arrive within this time (default 10 s)")
    parser.add_argument("--body-timeout-s", type=float, default=30.0,
                        help="longest pause within a request body (default 30 s)")
    parser.add_argument("--new-token", action="store_true", help="replace the token file with a new random token")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                        help="server log detail on stderr (default info: one line per request and job)")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..server.app import ServerConfig, create_app
    from ..server.connections import uvicorn_config
    from ..server.instance import InstanceLock
    from ..server.security import is_loopback, load_or_create_token
    from ..server.storage import default_data_dir, ensure_private_dir

    if not is_loopback(args.host) and not args.allow_remote:
        raise EmodiffheadError(f"--host {args.host} is not a loopback address; add --allow-remote to serve other "
                               "machines (they will need the token)")
    if not (0 <= args.port <= 65535):
        raise EmodiffheadError(f"--port {args.port} is outside 0..65535")
    for name in ("max_upload_mb", "max_audio_s", "max_track_mb", "max_connections", "header_timeout_s",
                 "body_timeout_s"):
        if not getattr(args, name) > 0:
            raise EmodiffheadError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for name in ("min_free_mb", "keep_days"):
        if getattr(args, name) < 0:
            raise EmodiffheadError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(args, name)}")
    for p in args.flame:
        if not p.is_file():
            raise InputFileError(f"--flame {p}: file not found")
    if args.flame_landmarks is not None:
        from ..head.flame import load_landmark_embedding

        if not args.flame:
            raise EmodiffheadError("--flame-landmarks needs a --flame model file")
        load_landmark_embedding(args.flame_landmarks)  # a clear error now rather than on the first request
    data_dir = ensure_private_dir((args.data_dir or default_data_dir()).expanduser().resolve())
    # one server per data folder: the lock comes before the token, the port and any job on disk
    lock = InstanceLock(data_dir).acquire()
    try:
        logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        token = load_or_create_token(data_dir, renew=args.new_token)
        family = socket.AF_INET6 if ":" in args.host.strip("[]") else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # IPPROTO_TCP: asyncio sets TCP_NODELAY
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((args.host.strip("[]"), args.port))
        except OSError as e:
            raise EmodiffheadError(f"cannot listen on {args.host}:{args.port}: {e.strerror}") from None
        sock.listen(64)
        port = sock.getsockname()[1]
        host = f"[{args.host.strip('[]')}]" if family == socket.AF_INET6 else args.host
        url = f"http://{host}:{port}"
        lock.publish(url)
        config = ServerConfig(data_dir=data_dir, token=token, max_upload_mb=args.max_upload_mb,
                              max_audio_s=args.max_audio_s, flame_paths=[p.resolve() for p in args.flame],
                              loopback_only=is_loopback(args.host), max_track_mb=args.max_track_mb,
                              min_free_mb=args.min_free_mb, keep_days=args.keep_days,
                              max_connections=args.max_connections, header_timeout_s=args.header_timeout_s,
                              body_timeout_s=args.body_timeout_s, instance=lock,
                              flame_landmarks=args.flame_landmarks.resolve() if args.flame_landmarks else None)
        app = create_app(config)
        print(f"emodiffhead server listening on {url}", flush=True)
        print(f"token file: {data_dir / 'token'}", flush=True)
        server = uvicorn.Server(uvicorn_config(app, config, log_level=args.log_level, timeout_graceful_shutdown=5))
        server.run(sockets=[sock])
    finally:
        lock.release()
    return 0
