"""The default job function: render a queued job with :func:`emodiffhead.render.pipeline.render_video`."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

from ..errors import CancelledError
from ..fileio import atomic_path
from ..progress import CancelFn, ProgressFn, check_cancel, report, scaled
from .inputs import parse_emotion, parse_track_file
from .jobs import FRAMES_NAME, Job, describe_os_error

log = logging.getLogger("emodiffhead.server.jobs")


def render_job(job: Job, progress: ProgressFn, cancel: CancelFn) -> None:
    """Render ``job`` to ``job.dir / job.output_tmp`` (and ``frames.zip`` when frames were asked for)."""
    from ..render.pipeline import render_video

    o = job.options
    want_frames = o.get("frames") == "zip"
    track_path = job.input_path("track")
    track = None
    if track_path:  # validated at submission; parsed again here (in a child process when large)
        from ..track import MAX_FRAMES

        track = parse_track_file(track_path, max_bytes=track_path.stat().st_size, max_frames=MAX_FRAMES)
    emotion = None if track is not None else parse_emotion(o.get("emotion", "neutral"), float(o.get("intensity", 1.0)),
                                                             o.get("emotion_timeline") or None)
    result = render_video(job.input_path("photo"), job.input_path("audio"), job.dir / job.output_tmp, track=track,
                 emotion=emotion, transcript=o.get("transcript") or None, renderer=o.get("renderer", "warp"),
                 renderer_options=o.get("renderer_options") or None, size=int(o.get("size", 512)),
                 fps=float(o.get("fps", 25.0)), seed=int(o.get("seed", 0)),
                 progress=scaled(progress, 0.0, 0.9 if want_frames else 1.0), cancel=cancel)
    log.info("job %s rendered %d frames: %s", job.id, result.num_frames,
             ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()))
    if want_frames:
        try:
            write_frames_zip(job.dir / job.output_tmp, job.dir / FRAMES_NAME, progress=scaled(progress, 0.9, 1.0),
                             cancel=cancel)
        except CancelledError:
            raise
        except Exception as e:  # an optional extra: the finished video is kept
            why = describe_os_error(e) if isinstance(e, OSError) else f"{type(e).__name__}: {e}"
            log.warning("job %s: frames.zip failed, the video is kept: %s", job.id, why)
            job.warnings.append(f"frames.zip could not be written ({why}); the video is complete")


def write_frames_zip(video: Path, out: Path, *, progress: ProgressFn | None = None,
                     cancel: CancelFn | None = None) -> Path:
    """Decode every frame of ``video`` to ``frame_000001.png``... in a zip at ``out`` (written atomically)."""
    import av
    import cv2

    with atomic_path(out, suffix=".zip") as tmp:
        with av.open(str(video)) as container, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            stream = container.streams.video[0]
            total = int(stream.frames or 0)
            for i, frame in enumerate(container.decode(stream), start=1):
                check_cancel(cancel)
                ok, png = cv2.imencode(".png", frame.to_ndarray(format="bgr24"))
                if not ok:
                    raise RuntimeError("PNG encoding failed")
                zf.writestr(f"frame_{i:06d}.png", png.tobytes())
                if total:
                    report(progress, i / total, f"frames {i}/{total}")
    return out
