"""Expression extraction (the DECA role in the paper): a video or photo -> a track for a head model.

Per frame: mediapipe landmarks (the detector gates the first frame; a tracking face mesh follows the
face), then the head fit with the identity shape fixed from the first frames, giving expression, head
rotation and translation. Jitter is removed by a zero-phase Savitzky-Golay filter (:mod:`.smoothing`).
``extractor="deca"`` uses DECA when the user installed it (see :mod:`.deca`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from ..emotion import EMOTIONS
from ..errors import FaceNotFoundError, InputFileError
from ..head.model import NUM_JOINTS, HeadModel
from ..progress import CancelFn, ProgressFn, check_cancel, report, scaled
from ..track import Track
from ..video import read_video_frames, video_fps
from .deca import extract_track_deca
from .detect import detect_face, quiet_native_stderr
from .fit import LandmarkProblem, axis_angle
from .image import is_video, load_photo
from .smoothing import SMOOTH_EXPRESSION, SMOOTH_POSE, smooth_track_arrays

#: Frames used to fix the identity shape at the start of a video.
SHAPE_FRAMES = 5
#: In extraction brows, squints and dimples are free (with this ridge factor), as they carry emotion.
EXTRACT_AMBIGUOUS_RIDGE = 30.0
EXTRACTORS = ("landmarks", "deca")


def video_landmarks(path: str | os.PathLike, progress: ProgressFn | None = None,
                    cancel: CancelFn | None = None) -> tuple[np.ndarray, np.ndarray, float, tuple[int, int]]:
    """Face-mesh landmarks of every frame of a video.

    Returns (landmarks (T, 478, 3) float32 pixels, found (T,) bool, fps, (H, W)). Frames without a face are
    filled from the nearest frame that has one; no face at all raises FaceNotFoundError.
    """
    import av
    from mediapipe.python.solutions import face_mesh

    path = Path(path)
    fps = video_fps(path)
    with av.open(str(path)) as c:
        total = int(c.streams.video[0].frames or 0)
    lms, found = [], []
    size = None
    # mediapipe builds the tracking graph in background threads: its TFLite/absl notes can arrive after
    # the constructor returns, so fd 2 stays quiet until the first frame's result is back.
    quiet = contextlib.ExitStack()
    quiet.enter_context(quiet_native_stderr())
    try:
        mesh_ctx = face_mesh.FaceMesh(static_image_mode=False, refine_landmarks=True, max_num_faces=1,
                                      min_detection_confidence=0.5, min_tracking_confidence=0.5)
        with mesh_ctx as mesh:
            for i, frame in enumerate(read_video_frames(path)):
                check_cancel(cancel)
                H, W = frame.shape[:2]
                size = (H, W)
                if i == 0:  # the gate: a clear error when the video shows no human face
                    try:
                        detect_face(frame)
                    except FaceNotFoundError as e:
                        raise FaceNotFoundError(f"{path.name}, first frame: "
                                                f"{str(e).replace(' in the photo', '')}") from None
                res = mesh.process(frame)
                quiet.close()
                if res.multi_face_landmarks:
                    lm = res.multi_face_landmarks[0].landmark
                    lms.append(np.array([(p.x * W, p.y * H, p.z * W) for p in lm], np.float32))
                    found.append(True)
                else:
                    lms.append(None)
                    found.append(False)
                if total:
                    report(progress, (i + 1) / total, f"landmarks {i + 1}/{total}")
    finally:
        quiet.close()
    if size is None:
        raise InputFileError(f"{path.name}: the video has no frames")
    ok = np.array(found)
    if not ok.any():
        raise FaceNotFoundError(f"{path.name}: no face found in any frame")
    idx = np.nonzero(ok)[0]
    for i in np.nonzero(~ok)[0]:
        lms[i] = lms[idx[np.argmin(np.abs(idx - i))]]
    return np.stack(lms), ok, fps, size


def track_from_landmarks(landmarks: np.ndarray, head: HeadModel, image_size: tuple[int, int], fps: float,
                         smooth: bool = True, progress: ProgressFn | None = None,
                         cancel: CancelFn | None = None) -> Track:
    """Fit every frame of (T, 478, 2+) pixel landmarks; returns a validated Track (neutral emotion).

    The identity shape is fitted on the first SHAPE_FRAMES frames (their median landmarks) and then fixed;
    head rotation is relative to the first frame's; translation in metres relative to the first frame.
    """
    lmk = np.asarray(landmarks, np.float32)
    T = lmk.shape[0]
    prob = LandmarkProblem(head)
    shape = prob.solve(np.median(lmk[:SHAPE_FRAMES], axis=0), image_size).shape
    prob_e = LandmarkProblem(head, ambiguous_ridge_factor=EXTRACT_AMBIGUOUS_RIDGE)
    E = head.num_expression
    expr = np.zeros((T, E), np.float32)
    rots = np.zeros((T, 3, 3))
    ts = np.zeros((T, 2))
    fs = np.zeros(T)
    prev = None
    for i in range(T):
        check_cancel(cancel)
        r = prob_e.solve(lmk[i], image_size, shape=shape, init=prev, iterations=3 if prev is not None else 6)
        prev = np.concatenate([shape, r.expression])
        expr[i], rots[i], ts[i], fs[i] = r.expression, r.R, r.t, r.f
        report(progress, (i + 1) / T, f"fitting {i + 1}/{T}")
    R0 = rots[0]
    pose = np.zeros((T, NUM_JOINTS, 3), np.float32)
    for i in range(T):
        pose[i, 0] = axis_angle(R0.T @ rots[i])
    f0 = float(np.median(fs))
    trans = np.zeros((T, 3), np.float32)
    trans[:, :2] = (ts - ts[0]) / f0
    if smooth and T > 3:
        expr = smooth_track_arrays(expr, fps, SMOOTH_EXPRESSION)
        pose = smooth_track_arrays(pose, fps, SMOOTH_POSE)
        trans = smooth_track_arrays(trans, fps, SMOOTH_POSE)
    lim = head.expression_limits if head.expression_limits is not None else None
    if lim is not None:
        expr = np.clip(expr, lim[:, 0], lim[:, 1])
    return Track(fps=float(fps), head_model=head.name, expression_names=list(head.expression_names),
                 expression=expr.astype(np.float32), pose=pose, translation=trans, emotion_names=list(EMOTIONS),
                 emotion=np.zeros((T, len(EMOTIONS)), np.float32)).validate()


def extract_track(path_video_or_photo: str | os.PathLike, head: HeadModel, *, fps: float | None = None,
                  extractor: str = "landmarks", progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None) -> Track:
    """Extract an expression track from a video (one frame per video frame) or a photo (one frame).

    fps: frame rate of the track for a photo (default 25); for a video its own rate is used and ``fps``,
    when given, must match it or the track is resampled to it (nearest frame).
    extractor: "landmarks" (mediapipe + head fit, always available) or "deca" (needs decalib and its weights).
    """
    if extractor not in EXTRACTORS:
        raise InputFileError(f"unknown extractor {extractor!r}; choose one of {', '.join(EXTRACTORS)}")
    path = Path(path_video_or_photo)
    if not path.is_file():
        raise InputFileError(f"file not found: {path}" if not path.exists() else f"not a file: {path}")
    if extractor == "deca":
        return extract_track_deca(path, head, fps=fps, progress=progress, cancel=cancel)
    if is_video(path):
        lmk, found, vfps, size = video_landmarks(path, progress=_sub(progress, 0.0, 0.6), cancel=cancel)
        track = track_from_landmarks(lmk, head, size, vfps, progress=_sub(progress, 0.6, 1.0), cancel=cancel)
        track.meta.update({"generator": "emodiffhead.extract", "extractor": "landmarks", "source": path.name,
                           "frames_without_face": int((~found).sum())})
        if fps is not None and abs(fps - vfps) > 1e-6:
            track = resample_track(track, fps)
        return track
    img = load_photo(path)
    det = detect_face(img)
    track = track_from_landmarks(det.landmarks[None], head, det.image_size, fps or 25.0, smooth=False)
    track.meta.update({"generator": "emodiffhead.extract", "extractor": "landmarks", "source": path.name})
    report(progress, 1.0, "done")
    return track


def resample_track(track: Track, fps: float) -> Track:
    """The track at another frame rate (nearest source frame per output frame)."""
    T = max(1, int(round(track.duration_s * fps)))
    idx = np.minimum(np.round(np.arange(T) * track.fps / fps).astype(int), track.num_frames - 1)

    def pick(a):
        return None if a is None else np.asarray(a)[idx]

    return Track(fps=float(fps), head_model=track.head_model, expression_names=list(track.expression_names),
                 expression=pick(track.expression), pose=pick(track.pose), translation=pick(track.translation),
                 emotion_names=list(track.emotion_names), emotion=pick(track.emotion),
                 expression_base=pick(track.expression_base), emotion_basis=track.emotion_basis,
                 emotion_basis_above=track.emotion_basis_above,
                 meta=dict(track.meta)).validate()


def _sub(progress, a, b):
    return scaled(progress, a, b)
