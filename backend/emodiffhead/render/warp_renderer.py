"""The default renderer ("warp"): animate the photo itself, no weights.

``prepare`` scales the photo to the output size, finds the face, fits the head and builds the warp mesh (an
open-mouthed photo is first re-mapped to closed lips, :meth:`WarpRenderer._closed_source`; a closed-mouthed one
has its dark lip crease lifted out, :mod:`.lip_crease`); ``frames(track)`` poses the fitted head per frame, moves
the photo's landmarks by the projected motion (:mod:`.drive`), warps the photo (:mod:`.warp`), puts the crease
back where the lips meet and paints the mouth interior (:mod:`.mouth`).
``render_landmarks`` is the general entry point for any other driver (e.g. a guidance image for the
diffusion renderer): it takes the moved landmarks of one frame.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ..face import facemesh_topology as topo
from ..face.detect import FaceDetection
from ..face.fit import FitResult, fit_head
from ..facs import ARKIT_BLENDSHAPES
from ..head.model import HeadModel
from ..progress import CancelFn, ProgressFn, check_cancel, report
from ..track import Track
from .drive import Drive, drive_from_track, jaw_closing_motion
from .gaze import draw_iris, lid_polygon, prepare_gaze
from .framing import face_for_video
from .eyes import closure, draw_lash_line, lash_colour, lid_gap, skin_colour_below, tone_lid
from .mouth import (SKULL, close_rest_gap, close_source_lips, closed_mouth_source, corner_overlap, draw_lip_line,
                    draw_mouth, lip_colour, mouth_geometry, mouth_is_open, mouth_style, paint_closed_lips, place_teeth,
                    taper_corners, LIPS_OUTER_LOWER, LIPS_OUTER_UPPER)
from .lip_crease import draw_crease, lift_crease, measure_crease
from .open_mouth import CHIN_RING_WEIGHTS, closed_lower_border, closing_displacement, lower_lip_thickness, meeting_line
from .shading import ExpressionShading
from .unfold import Unfolder
from .warp import TriangleWarper, build_warp_mesh, drive_points

#: Frames posed at once by ``frames``.
DRIVE_CHUNK = 256
#: A point of a closing upper lid stays at most this many times as far from the lower lid as the further of its
#: neighbours (``clamp_lines(max_bump=)``): an open lid's profile never comes near it.
LID_BUMP = 2.0


def clamp_lines(lm: np.ndarray, upper: np.ndarray, lower: np.ndarray, move: str = "both",
                min_gap: float = 0.0, max_bump: float | None = None) -> None:
    """Keep the inner points of an ``upper`` line above the ``lower`` line (index arrays into ``lm``
    (N, 2+), sharing their end points), measured across the corner-to-corner axis at the same position
    along it (the other line is interpolated); in place.
    move: "upper" (the upper line stops at the lower one, as a lid) or "both" (meet in the middle, as lips).
    max_bump (with "upper"): then no point of the upper line stands more than this many times further from
    the lower line than the further of its two neighbours (a lid closed on both sides of a point is closed at
    it, growing continuously: no open notch left between closed points to kink the lid line)."""
    c0, c1 = lm[upper[0], :2], lm[upper[-1], :2]
    e = c1 - c0
    length = max(float(np.hypot(*e)), 1e-6)
    e = e / length
    n = np.array([-e[1], e[0]], np.float32)  # points down in the image

    def uv(idx):
        d = lm[idx, :2] - c0
        return d @ e, d @ n

    uu, vu = uv(upper)
    ul, vl = uv(lower)
    ku, kl = np.argsort(uu), np.argsort(ul)
    iu, il = upper[1:-1], lower[1:-1]
    low_at_u = np.interp(uu[1:-1], ul[kl], vl[kl])
    over_u = np.maximum(vu[1:-1] - low_at_u + min_gap, 0.0)
    over_l = np.maximum(np.interp(ul[1:-1], uu[ku], vu[ku]) - vl[1:-1] + min_gap, 0.0)
    if move == "upper":
        if max_bump is not None and len(iu):
            gap = np.concatenate([[0.0], np.maximum(low_at_u - vu[1:-1], 0.0), [0.0]])  # after the clamp
            limit = max_bump * np.maximum(gap[:-2], gap[2:])
            over_u = over_u - np.maximum(gap[1:-1] - limit, 0.0)  # negative: moved down toward the lower line
        if over_u.any():
            lm[iu, :2] -= over_u[:, None] * n
    elif over_u.any() or over_l.any():
        lm[iu, :2] -= 0.5 * over_u[:, None] * n
        lm[il, :2] += 0.5 * over_l[:, None] * n


def track_arkit(track: Track, head: HeadModel) -> np.ndarray:
    """(T, 52) float32 ARKit blendshape weights of a track's frames: the head's own components when they
    carry ARKit names (the built-in head), else the emotion part (intensities x FACS prototypes)."""
    from ..facs import prototypes_arkit

    names = list(track.expression_names)
    if all(n in names for n in ARKIT_BLENDSHAPES):
        return np.asarray(track.expression, np.float32)[:, [names.index(n) for n in ARKIT_BLENDSHAPES]]
    return np.asarray(track.emotion, np.float32) @ prototypes_arkit(list(track.emotion_names))


def face_unfolder(landmarks: np.ndarray, mouth_upper: np.ndarray, mouth_lower: np.ndarray) -> Unfolder:
    """Fold repair over the face tessellation of (478, 2+) photo landmarks, lips' inner lines excepted (the
    mouth painter covers those). The lid lines are pinned: the skin around an eye absorbs the compression."""
    tris = topo.triangles()
    lips = np.zeros(len(landmarks), bool)
    lips[np.concatenate([mouth_upper, mouth_lower])] = True
    lids = np.concatenate([np.concatenate(topo.eye_lines(side)) for side in ("left", "right")])
    return Unfolder(np.asarray(landmarks)[:, :2], tris[~lips[tris].any(1)], pinned=lids)


class WarpRenderer:
    """Dense triangle warp of the photo following the posed, projected head.

    Options: ``keep_photo_expression`` 0..1 (0: the track replaces the photo's expression, the default;
    1: the track is added on top of it), ``mouth`` (paint the mouth interior, default True), ``shading``
    (expression wrinkles and bulges, :mod:`.shading`, default True), ``gaze`` (the irises follow the eye
    joints and eyeLook* blendshapes, :mod:`.gaze`, default True; off with a logged reason, ``gaze_off_reason``,
    where a photo's irises cannot be found).
    """

    name = "warp"

    def __init__(self, keep_photo_expression: float = 0.0, mouth: bool = True, shading: bool = True,
                 gaze: bool = True) -> None:
        self.keep_photo_expression = float(keep_photo_expression)
        self.mouth = bool(mouth)
        self.shading = bool(shading)
        self.gaze = bool(gaze)
        self.photo: np.ndarray | None = None
        self.fit: FitResult | None = None
        self.head: HeadModel | None = None

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """The warp renderer needs no weights: always available."""
        return True, "built in (no weights needed)"

    # ---- setup ---------------------------------------------------------------------------------
    def prepare(self, photo: np.ndarray, head: HeadModel, *, size: int = 512, fit: FitResult | None = None,
                detection: FaceDetection | None = None, face: int | None = None, progress: ProgressFn | None = None,
                cancel: CancelFn | None = None) -> FitResult:
        """Scale ``photo`` (H, W, 3) uint8 to ``size`` px on the short side, detect and fit the face.

        fit/detection: reuse results computed on the same, already scaled photo. face: which face of
        several, 1.. from left to right (None: the largest). Returns the fit.
        """
        img = np.asarray(photo)
        report(progress, 0.0, "finding the face")
        if fit is None:
            img, detection, note = face_for_video(img, size, face, detection)
            check_cancel(cancel)
            report(progress, 0.4, "fitting the head")
            fit = fit_head(img, head, detection)
            if note:
                fit.warnings.append(note)
        self.photo, self.fit, self.head = np.ascontiguousarray(img), fit, head
        self.mesh = build_warp_mesh(fit.landmarks, img.shape[:2])
        self.style = mouth_style(self.photo, fit.landmarks)
        self.teeth = mouth_geometry(head, fit)
        src = closed_mouth_source(self.photo, fit.landmarks) if self.keep_photo_expression < 1 else self.photo
        self._mu, self._ml = topo.mouth_lines()
        self._unfold = face_unfolder(fit.landmarks, self._mu, self._ml)
        src_lm = fit.landmarks
        self._drive_base = None
        self._rest_gap = self.teeth.rest_gap * (1.0 - min(1.0, self.keep_photo_expression))
        # only when the track replaces the photo's expression: a partly kept one keeps part of its opening
        if self.keep_photo_expression == 0 and mouth_is_open(fit.landmarks):
            src, src_lm = self._closed_source(src)  # the photo re-mapped to closed lips: frames warp from there
            self.mesh = build_warp_mesh(src_lm, img.shape[:2])
            self._unfold = face_unfolder(src_lm, self._mu, self._ml)
            # the source's lips already meet, 1 px apart on the painted lip line (close_source_lips); a still frame
            # keeps that (collapsing it would give the strip between them degenerate maps that sample far pixels)
            self._rest_gap = np.zeros_like(self._rest_gap)
            mid = [topo.UPPER_LIP_INNER_MID, topo.LOWER_LIP_INNER_MID]
            self.teeth = mouth_geometry(head, fit, lips_meet=src_lm[mid, :2].mean(0))  # teeth behind the new lips
        self._crease = None
        if self._drive_base is None and not mouth_is_open(src_lm):  # closed lips: their crease is put back per frame
            self._crease = measure_crease(src, src_lm[self._mu], src_lm[self._ml])
            src = lift_crease(src, self._crease, src_lm[self._mu], src_lm[self._ml])
        self._irises, self.gaze_off_reason = [], "" if self.gaze else "off (gaze=False)"
        if self.gaze:  # the irises cut out of the warp source, moved per frame to where the eyes look
            sprites, self.gaze_off_reason = prepare_gaze(src, src_lm)
            self._irises = [(sp, *topo.eye_lines(sp.side)) for sp in sprites]
        self.warper = TriangleWarper(src, self.mesh)
        self._shading = ExpressionShading(src, src_lm) if self.shading else None  # shades the warp source
        self._eyes = {}
        for side in ("left", "right"):
            up, lo = topo.eye_lines(side)
            lm = fit.landmarks[:, :2]
            gap = lid_gap(lm[up], lm[lo])
            width = float(np.linalg.norm(lm[up[-1]] - lm[up[0]]))
            self._eyes[side] = (up, lo, gap, width, lash_colour(self.photo, lm[up]),
                                skin_colour_below(self.photo, lm[lo], width))
        report(progress, 1.0, "head fitted")
        return fit

    def _closed_source(self, filled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An open-mouthed photo with its mouth closed as a jaw closes it (:mod:`.open_mouth`: both lips unrolled
        onto a nearly straight meeting line with the thickness the photo's pixels give them, the chin raised
        with the head's jaw rotation scaled to the opening) and the closed lips painted without the lip line
        (``draw_lip_line`` draws it per frame where the frame's lips meet):
        ((H, W, 3) uint8 source, (478, 3) float32 its landmarks). ``filled``: the photo with its opening filled
        (closed_mouth_source)."""
        from ..track import Track

        fit, head = self.fit, self.head
        self._drive_base = None
        photo = np.asarray(fit.landmarks, np.float32)
        rest = self._unfold(self.drive(Track.neutral(1, 25.0, head.name, list(head.expression_names))).landmarks[0])
        meet = meeting_line(rest[self._mu, :2], rest[self._ml, :2])
        thick = lower_lip_thickness(self.photo, photo, self._mu, self._ml)
        src_lm = photo.copy()
        src_lm[:, :2] += closing_displacement(photo, self._mu, self._ml, thick, jaw_closing_motion(head, fit), meet)
        src_lm = close_source_lips(src_lm, self._mu, self._ml)
        still = Track.neutral(1, 25.0, head.name, list(head.expression_names))
        motion = drive_from_track(head, fit, still, self.keep_photo_expression, np.zeros_like(photo)).landmarks[0]
        self._drive_base = src_lm.copy()
        self._drive_base[:, :2] -= motion[:, :2]  # a still neutral frame lands exactly on the source,
        # its inner lips passing each other near the corners (the render's clamp makes them meet): openings
        # narrow into the corners like a lens, as on the photos whose lips the model's motion opens
        e = src_lm[self._mu[-1], :2] - src_lm[self._mu[0], :2]
        n = np.array([-e[1], e[0]], np.float32) / max(float(np.hypot(*e)), 1e-6)
        over = corner_overlap(src_lm, self._mu)
        self._drive_base[self._mu, :2] += 0.5 * over[:, None] * n
        self._drive_base[self._ml, :2] -= 0.5 * over[:, None] * n
        depth = src_lm[:, 2] if src_lm.shape[1] > 2 else None
        # the chin's outline moves with the chin (the neck below it stretches): rings close below the face follow
        close = build_warp_mesh(fit.landmarks, self.photo.shape[:2], CHIN_RING_WEIGHTS)
        warped = TriangleWarper(filled, close).warp(drive_points(close, src_lm[:, :2]), depth)
        painted = paint_closed_lips(warped, src_lm, self._mu, self._ml, lip_colour(self.photo, fit.landmarks),
                                    closed_lower_border(meet, photo[self._ml, :2], thick), line=False)
        return painted, src_lm

    @property
    def output_size(self) -> tuple[int, int]:
        """(H, W) of the frames."""
        return tuple(self.photo.shape[:2])  # type: ignore[union-attr]

    # ---- frames --------------------------------------------------------------------------------
    def drive(self, track: Track) -> Drive:
        """Per-frame driving landmarks for ``track`` (see :func:`emodiffhead.render.drive.drive_from_track`)."""
        return drive_from_track(self.head, self.fit, track, self.keep_photo_expression, self._drive_base)

    def shading_weights(self, track: Track) -> np.ndarray | None:
        """(T, K) expression-shading weights of ``track``'s frames (None when shading is off)."""
        if self._shading is None:
            return None
        arkit = track_arkit(track, self.head)
        names = list(self.head.expression_names)
        if all(n in names for n in ARKIT_BLENDSHAPES):  # relative to the photo's own expression, as the drive
            photo = np.asarray(self.fit.expression, np.float32)[[names.index(n) for n in ARKIT_BLENDSHAPES]]
            arkit = arkit - (1.0 - float(np.clip(self.keep_photo_expression, 0, 1))) * photo[None]
        return self._shading.weights(arkit)

    def frame_landmarks(self, landmarks: np.ndarray) -> np.ndarray:
        """The (478, 2|3) moved landmarks as the warp draws them (a new float32 array): lids that never pass each
        other, folds relaxed (:mod:`.unfold`), the lips' rest gap closed and the inner lips kept from crossing."""
        lm = np.array(landmarks, np.float32)
        for side in ("left", "right"):  # a lid never passes the other one (blink overshoot folds the warp)
            up, lo = topo.eye_lines(side)
            clamp_lines(lm, up, lo, move="upper", max_bump=LID_BUMP)
        # an opening narrows into its corners (a turned face's far one too); the outer lip lines go along, and
        # the fold repair next relaxes the skin around them
        taper_corners(lm, self._mu, self._ml, outer=(LIPS_OUTER_UPPER, LIPS_OUTER_LOWER))
        lm = self._unfold(lm)  # after the lids: their clamp is what the pinned lid lines must be relaxed around
        close_rest_gap(lm, self._mu, self._ml, self._rest_gap)
        clamp_lines(lm, self._mu, self._ml, move="both")
        return lm

    def render_landmarks(self, landmarks: np.ndarray, rigid: np.ndarray | None = None,
                         jaw: np.ndarray | None = None, out: np.ndarray | None = None,
                         shading: np.ndarray | None = None) -> np.ndarray:
        """One frame from moved landmarks.

        landmarks: (478, 2|3) target pixel positions (optional third column: depth, smaller is closer).
        rigid: (478, 2+) the neutral-face landmarks under the same head motion (teeth placement);
        default: the photo's landmarks. jaw: (2,) the jaw's own displacement of the lower lip (pixels; the
        lower teeth ride on it, :class:`.drive.Drive`); default: the lower lip's whole displacement.
        shading: (K,) expression-shading weights (:meth:`shading_weights`), None = none.
        Returns (H, W, 3) uint8.
        """
        lm = self.frame_landmarks(landmarks)
        depth = lm[:, 2] if lm.shape[1] > 2 else None
        src = self._shading.apply(shading) if (shading is not None and self._shading is not None) else None
        img = self.warper.warp(drive_points(self.mesh, lm[:, :2]), depth, out=out, image=src)
        if self._crease is not None:  # the photo's lip crease, where this frame's lips still meet
            draw_crease(img, self._crease, lm[self._mu], lm[self._ml])
        rig = np.asarray(self.fit.landmarks if rigid is None else rigid, np.float32)[:, :2]
        if self._irises and len(lm) >= 478:
            src_pts = self.mesh.points
            for sp, up, lo in self._irises:
                corners = [up[0], up[-1]]
                draw_iris(img, sp, lm[sp.landmark, :2], src_pts[corners], lm[corners, :2],
                          lid_polygon(lm, sp.side), lid_gap(lm[up, :2], lm[lo, :2]))
        for up, lo, gap, width, colour, skin in self._eyes.values():
            c = closure(lm[up, :2], lm[lo, :2], gap)
            tone_lid(img, lm[up, :2], rig[up], skin, 0.8 * c)
            draw_lash_line(img, lm[up, :2], lm[lo, :2], colour, 0.85 * float(np.clip((c - 0.4) / 0.5, 0, 1)),
                           max(1.0, 0.05 * width))
        if self.mouth:
            if jaw is None:  # without the drive's jaw: the lower teeth stay under the lower lip
                jaw = lm[topo.LOWER_LIP_INNER_MID, :2] - rig[topo.LOWER_LIP_INNER_MID]
            self._paint_mouth(img, lm[:, :2], rig, np.asarray(jaw, np.float32))
        return img

    def _paint_mouth(self, img, lm, rig, jaw) -> None:
        # upper teeth on the skull, lower teeth and tongue on the jaw, the lower lip resting on the lower incisors
        teeth = place_teeth(self.teeth, rig[SKULL], jaw, rig[topo.LOWER_LIP_INNER_MID])
        draw_mouth(img, lm[self._mu], lm[self._ml], teeth, self.style)
        if self._drive_base is not None:  # a closed open-mouthed photo: its lip line, drawn where the lips are
            draw_lip_line(img, lm[self._mu], lm[self._ml])

    def render_frame(self, d: Drive, k: int, shading: np.ndarray | None = None) -> np.ndarray:
        """Frame ``k`` (H, W, 3) uint8 of a posed chunk ``d`` (from :meth:`drive`), with that chunk's (T, K)
        expression-shading weights from :meth:`shading_weights` (None: no shading). Every caller that renders
        a track's frames goes through here, so they all match :meth:`frames`."""
        return self.render_landmarks(d.landmarks[k], d.rigid[k], d.jaw[k],
                                     shading=None if shading is None else shading[k])

    def frames(self, track: Track, *, audio=None, progress: ProgressFn | None = None,
               cancel: CancelFn | None = None) -> Iterator[np.ndarray]:
        """Yield the T frames (H, W, 3) uint8 of ``track`` (``audio`` is not needed by this renderer)."""
        if self.fit is None:
            raise RuntimeError("call prepare() first")
        T = track.num_frames
        for s in range(0, T, DRIVE_CHUNK):  # pose the head chunk by chunk: long clips stay small in memory
            chunk = track.slice(s, min(T, s + DRIVE_CHUNK))
            d = self.drive(chunk)
            sh = self.shading_weights(chunk)
            for k in range(d.num_frames):
                check_cancel(cancel)
                yield self.render_frame(d, k, sh)
                report(progress, (s + k + 1) / T, f"frame {s + k + 1}/{T}")
