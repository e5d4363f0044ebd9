"""The inside of the mouth for the warp renderer: the built-in head's teeth, gums and tongue, shaded like the photo.

A warp can only stretch the thin line between closed lips; when they part, :func:`draw_mouth` renders the
opening (the polygon of the inner lip lines). What it draws comes from the head model's own geometry
(:func:`mouth_geometry`, once per photo): the upper teeth hang from the skull, the lower teeth and the tongue ride
on the jaw (the lower lip rests on the lower incisors: they move as the jaw alone moves that lip, so only what
the lip does on its own - pulled down or stretched off them, raised over them - uncovers or covers them; the
tongue by the fraction of that motion the jaw gives it in the model), tooth boundaries are
where the head's dental arch puts real incisors, canines and premolars (arc lengths ``UPPER_TEETH_MM`` /
``LOWER_TEETH_MM``), crowns are ``CROWN_MM`` tall. Colours come from the photo (:func:`mouth_style`): the
teeth's own colour where the photo shows teeth, otherwise a warm off-white at the photo's exposure in the
photo's light (its colour cast, read from the cheeks and the whites of the eyes: :func:`default_teeth`), warmer
in shade (:func:`teeth_colour`); tongue, gums and the oral cavity from the photo's lip colour, so greyscale
photos stay grey. The cavity darkens with depth (away
from the lips and toward the cheeks); the lips occlude everything with an antialiased, slightly softened edge
and no outline; nothing is drawn where the lips nearly touch (no specks at the corners); an opening narrows
into its corners like a lens (:func:`taper_corners`, applied to each frame's landmarks).

Photos whose mouth is open (:func:`mouth_is_open`), once per photo: :func:`closed_mouth_source` fills the
photo's own mouth opening (and the dark cavity and bright teeth just past its landmarks) from the surrounding
lips; the renderer then closes that photo's mouth as a jaw closes it (:mod:`.open_mouth`; :func:`close_source_lips`:
the inner lip lines meet on a smooth curve) and :func:`paint_closed_lips` paints the lips from
the photo's lip colour (:func:`lip_colour`) without a lip line (:func:`draw_lip_line` draws it in each frame,
where that frame's lips meet); frames warp from there, so a still frame
shows those lips and openings (narrowed toward the corners by :func:`corner_overlap`) get the drawn interior.
:func:`close_rest_gap` removes the small gap between the model's inner-lip landmarks at rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..face.image import LUMA
from ..head.model import Joint

#: Arc length (mm) from the midline to each tooth boundary along the dental arch (upper: central incisor 8.5,
#: lateral 6.5, canine 7.5, premolars 7; lower: 5.5, 6, 7, 7, 7).
UPPER_TEETH_MM = (0.0, 8.5, 15.0, 22.5, 29.5, 36.5)
LOWER_TEETH_MM = (0.0, 5.5, 11.5, 18.5, 25.5, 32.5)
#: Visible crown heights (mm) of the upper and lower incisors.
CROWN_MM = (10.5, 9.0)
#: Skull landmarks (nose, eye corners) whose motion carries the upper teeth.
SKULL = np.array([1, 2, 98, 327, 33, 263, 133, 362, 6, 168])
#: Upper incisor display below the parted lips in speech, at least (mm; at rest 1.9 men, 3.4 women: Vig & Brundo
#: 1978; more while speaking, as the upper lip rises on open vowels).
UPPER_DISPLAY_MM = 3.5
#: Vertical overbite (mm): the lower incisal edge sits this far above the upper one, behind it, jaw closed
#: (normal occlusion 2-3 mm; Proffit, Contemporary Orthodontics).
OVERBITE_MM = 2.0
#: Lower incisor display with the lips relaxed and parted by the jaw (mm; Vig & Brundo 1978: 1.2 men, 0.5 women,
#: more with age): closed lips cover the lower incisal edge, a jaw that parts them lets the lower lip settle just
#: below it, over the first ``LIPS_RELAX_MM`` of the jaw's drop at the lip (the freeway space, 2-4 mm).
LOWER_DISPLAY_MM = 0.8
LIPS_RELAX_MM = 4.0
#: Darkening of the interior along the lower lip's inner margin (it turns into the mouth, facing up and back under
#: the teeth, in shadow; under the upper lip the teeth's own lip shadow does this). 0.5 before read as a grey
#: outline along the lower lip over the lower teeth.
RIM_DARK = 0.3
#: How far the tongue's back may rise above the lower incisal edge, in lower crown heights, at the middle.
TONGUE_RISE = 0.5
#: Points per landmark segment of the smoothed inner lip lines (:func:`smooth_line`).
LINE_STEPS = 4
#: Samples of each edge curve across the mouth.
EDGE_SAMPLES = 25


@dataclass(frozen=True)
class MouthStyle:
    """Colours (RGB floats 0..255) of the mouth interior for one photo; ``teeth_from_photo``: sampled there;
    ``light``: the photo's brightness slope across the mouth, from its right corner (-) to its left (+), as a
    fraction of the brightness (its cheeks; -0.25..0.25); ``teeth_shadow``: the teeth's colour at the same
    lightness where they are in shade (warmer; default: ``teeth``)."""

    cavity: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray
    gum: np.ndarray
    teeth_from_photo: bool = False
    light: float = 0.0
    teeth_shadow: np.ndarray | None = None


@dataclass(frozen=True)
class FrameTeeth:
    """Teeth and tongue of one frame (pixels): edges, tooth boundary points and the tongue outline.

    upper_edge / lower_edge: (K, 2) biting edges of the upper and lower front teeth, right to left corner;
    tongue_top: (K, 2) the tongue's upper outline; upper_gaps / lower_gaps: (G, 2) points on the edges where
    neighbouring teeth meet; crown_px: (upper, lower) crown heights in pixels.
    """

    upper_edge: np.ndarray
    lower_edge: np.ndarray
    tongue_top: np.ndarray
    upper_gaps: np.ndarray
    lower_gaps: np.ndarray
    crown_px: tuple[float, float]


@dataclass(frozen=True)
class MouthGeometry(FrameTeeth):
    """The head's teeth and tongue in one photo's pixels at rest (jaw closed, photo's head pose): the
    :class:`FrameTeeth` fields, plus tongue_per_jaw: fraction of the jaw's motion at the lower lip (the lower
    incisors follow all of it) that the tongue follows; lower_cover_px: how far the closed lips' contact lies
    above the lower incisal edge at rest (px); skull_rest: (len(SKULL), 2) the rest positions of the
    skull landmarks; rest_gap: (K_lips,) the model's inner-lip landmark gap at rest (px).
    """

    tongue_per_jaw: float
    lower_cover_px: float
    skull_rest: np.ndarray
    rest_gap: np.ndarray


def smoothstep(x):
    """Smooth 0..1 step of x (clipped to 0..1): 3x^2 - 2x^3."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _arch(verts: np.ndarray, edge: str, k: int = EDGE_SAMPLES, reach: float = 0.85) -> np.ndarray:
    """(k, 3) smooth curve along the front of a dental arch or the tongue (head space: x across, y up, z
    forward), from the subject's right to left: per x the most forward surface, at its lowest (``edge`` "low":
    upper teeth biting edge) or highest ("high": lower teeth, tongue) point; low-order polynomial fits."""
    x, y, z = verts[:, 0], verts[:, 1], verts[:, 2]
    half = reach * min(-x.min(), x.max())
    xs = np.linspace(-half, half, k)
    zf, ye = np.empty(k), np.empty(k)
    for i, xv in enumerate(xs):
        near = np.abs(x - xv) <= 0.004
        zf[i] = z[near].max()
        front = near & (z >= zf[i] - 0.006)
        ye[i] = y[front].min() if edge == "low" else y[front].max()
    zc = np.polyval(np.polyfit(xs, zf, 4), xs)
    yc = np.polyval(np.polyfit(xs, ye, 2), xs)
    return np.stack([xs, yc, zc], 1)


def _arch_points(curve: np.ndarray, arc_mm: tuple[float, ...]) -> np.ndarray:
    """(G, 3) points on a (k, 3) arch ``curve`` at +- the arc lengths (mm) from its midline."""
    xs = curve[:, 0]
    s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    s0 = np.interp(0.0, xs, s)
    ts = sorted({s0 + sign * a / 1000.0 for a in arc_mm for sign in (-1, 1)})
    out = [np.array([np.interp(t, s, curve[:, c]) for c in range(3)]) for t in ts if s[0] <= t <= s[-1]]
    return np.array(out, np.float64).reshape(-1, 3)


def mouth_geometry(head, fit, lips_meet: np.ndarray | None = None) -> MouthGeometry:
    """Project the head's teeth and tongue (``head.regions``) into the photo of ``fit`` (a FitResult).

    lips_meet: (2,) px where the photo's lips meet at rest, when it is not the photo itself (an open-mouthed
    photo closed by the renderer); default: the head at rest is aligned with the fit's lips."""
    from ..face import facemesh_topology as topo
    from .drive import photo_reference

    cam = fit.camera
    xy = lambda p: cam.project(np.asarray(p, np.float64).reshape(-1, 3))[:, :2]  # noqa: E731
    ref_expr, ref_pose = photo_reference(head, fit)
    pose = np.array(fit.pose, np.float32)
    pose[Joint.JAW:] = 0.0  # jaw and eyes (the joints after the jaw) at rest
    zero = np.zeros((1, head.num_expression), np.float32)
    rest = head.forward(fit.shape, zero, pose[None], fit.translation[None])
    jaw_pose = pose.copy()
    jaw_pose[Joint.JAW, 0] = 0.2
    opened = head.forward(fit.shape, zero, jaw_pose[None], fit.translation[None])
    P0 = xy(head.forward(fit.shape, ref_expr[None], ref_pose[None], fit.translation[None]).landmarks[0])
    Pn = xy(rest.landmarks[0])
    photo = np.asarray(fit.landmarks, np.float64)[:, :2]
    mu, ml = topo.mouth_lines()
    lips = np.r_[mu, ml]
    offset = (photo[lips] - P0[lips]).mean(0)  # the fit's residual at the mouth
    if lips_meet is not None:  # the head's lips at rest meet where the closed photo's do
        mid = [topo.UPPER_LIP_INNER_MID, topo.LOWER_LIP_INNER_MID]
        offset = np.asarray(lips_meet, np.float64)[:2] - Pn[mid].mean(0)
    V, Vo = rest.vertices[0], opened.vertices[0]
    reg = head.regions
    up_i, lo_i, tg_i = reg["teeth_upper"], reg["teeth_lower"], reg["tongue"]
    # the arches are traced in the head's own frame (x across, y up, z forward, midline at x = 0), then carried
    # rigidly into the photo's pose: traced on the posed head, a turned head's arch came out off the midline
    own = head.forward(fit.shape, zero, np.zeros_like(pose)[None])
    W = own.vertices[0]
    R, t = _rigid(W[np.r_[up_i, lo_i, tg_i]], V[np.r_[up_i, lo_i, tg_i]])
    up_c, lo_c, tg_c = _arch(W[up_i], "low"), _arch(W[lo_i], "high"), _arch(W[tg_i], "high", reach=0.7)
    # incisal display: the upper edge at least UPPER_DISPLAY_MM below the lips' rest contact (model: y up)
    contact = float(own.landmarks[0][[topo.UPPER_LIP_INNER_MID, topo.LOWER_LIP_INNER_MID], 1].mean())
    drop = max(0.0, UPPER_DISPLAY_MM / 1000 - (contact - float(up_c[len(up_c) // 2, 1])))
    up_c = up_c - np.array([0.0, drop, 0.0])
    # the lower incisors bite behind the upper ones: their edge OVERBITE_MM above the upper incisal edge at the
    # midline (the head's lower arch keeps its own curve across the mouth). The model's lower arch sits lower
    # (4-13 mm below the upper edge on the shared photos' fits), which hid the lower teeth in any opening
    mid = len(lo_c) // 2
    lo_c = lo_c + np.array([0.0, float(up_c[len(up_c) // 2, 1]) + OVERBITE_MM / 1000 - float(lo_c[mid, 1]), 0.0])
    posed = lambda c: np.asarray(c, np.float64) @ R.T + t  # noqa: E731
    proj = lambda p: xy(posed(p)) + offset  # noqa: E731  (head frame -> photo pixels)
    # how far the tongue moves when the jaw opens, relative to the lower lip's inner midpoint (the drive gives
    # the jaw's motion there; the lower incisors, on which the lip rests, follow all of it)
    moved = lambda a, b: float(np.linalg.norm(xy(b) - xy(a), axis=1).mean())  # noqa: E731
    lip_i = [topo.LOWER_LIP_INNER_MID]
    lip = max(moved(rest.landmarks[0][lip_i], opened.landmarks[0][lip_i]), 1e-6)
    tip_tg = tg_i[W[tg_i, 1] > W[tg_i, 1].max() - 0.004]
    px_per_m = float(np.linalg.norm(np.diff(xy([[0, 0, 0], [0, 0.01, 0]]), axis=0))) / 0.01
    e = Pn[topo.MOUTH_CORNER_LEFT] - Pn[topo.MOUTH_CORNER_RIGHT]
    n = np.array([-e[1], e[0]]) / max(float(np.hypot(*e)), 1e-9)
    return MouthGeometry(
        upper_edge=proj(up_c).astype(np.float32), lower_edge=proj(lo_c).astype(np.float32),
        tongue_top=proj(tg_c).astype(np.float32),
        upper_gaps=proj(_arch_points(up_c, UPPER_TEETH_MM)).astype(np.float32),
        lower_gaps=proj(_arch_points(lo_c, LOWER_TEETH_MM)).astype(np.float32),
        crown_px=(CROWN_MM[0] / 1000 * px_per_m, CROWN_MM[1] / 1000 * px_per_m),
        tongue_per_jaw=moved(V[tip_tg], Vo[tip_tg]) / lip,
        lower_cover_px=max(0.0, contact - float(lo_c[mid, 1])) * px_per_m,
        skull_rest=(photo[SKULL] + Pn[SKULL] - P0[SKULL]).astype(np.float32),
        rest_gap=np.maximum(0.0, (Pn[ml] - Pn[mu]) @ n).astype(np.float32))


def _rigid(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R (3, 3), t (3,)) least-squares rotation and translation with dst ~ src @ R.T + t, (N, 3) points
    (Kabsch)."""
    a, b = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ca, cb = a.mean(0), b.mean(0)
    U, _, Vt = np.linalg.svd((a - ca).T @ (b - cb))
    D = np.diag([1.0, 1.0, float(np.sign(np.linalg.det(Vt.T @ U.T)))])
    R = Vt.T @ D @ U.T
    return R, cb - ca @ R.T


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 3) least-squares affine map of (N, 2) src onto dst."""
    A = np.concatenate([src, np.ones((len(src), 1))], 1)
    M, *_ = np.linalg.lstsq(A, dst, rcond=None)
    return M.T


def place_teeth(geom: MouthGeometry, skull: np.ndarray, jaw: np.ndarray,
                lip_rest: np.ndarray | None = None) -> FrameTeeth:
    """Teeth of one frame: the skull's motion (``skull`` (len(SKULL), 2) rigid landmarks) carries everything;
    the lower teeth also follow ``jaw`` (2,) px, the jaw's own displacement of the lower lip's inner midpoint
    (:class:`.drive.Drive` ``jaw``: the lip rests on the lower incisors, both ride the mandible, so a jaw drop
    alone shows at most their edges and only the lip's own motion bares them), the tongue a share of it. As the
    jaw parts the lips the lower lip settles from covering the incisal edge (closed lips) to
    ``LOWER_DISPLAY_MM`` below it (relaxed lips apart), over the first ``LIPS_RELAX_MM`` of the drop.
    lip_rest: (2,) px the lower lip's inner midpoint of the frame's neutral face (the rigid landmark 14): the
    lower incisal edge is placed ``geom.lower_cover_px`` below it, so the teeth sit on the lip drawn in that
    photo, not on the model's; None: where the head puts them."""
    M = _affine(geom.skull_rest.astype(np.float64), np.asarray(skull, np.float64))
    tf = lambda p: np.asarray(p, np.float64) @ M[:, :2].T + M[:, 2]  # noqa: E731
    j = np.asarray(jaw, np.float64)
    px_mm = geom.crown_px[1] / CROWN_MM[1]
    drop = float(np.hypot(*j))
    settle = (geom.lower_cover_px + LOWER_DISPLAY_MM * px_mm) * float(smoothstep(drop / (LIPS_RELAX_MM * px_mm)))
    lo = j - settle * j / max(drop, 1e-6)  # the incisors rise against the lip that settles below their edge
    edge = tf(geom.lower_edge)
    if lip_rest is not None:
        e = edge[-1] - edge[0]
        n = np.array([-e[1], e[0]]) / max(float(np.hypot(*e)), 1e-9)  # down, in image coordinates
        lo = lo + (geom.lower_cover_px - float((edge[len(edge) // 2] - np.asarray(lip_rest, np.float64)[:2]) @ n)) * n
    return FrameTeeth(upper_edge=tf(geom.upper_edge), lower_edge=edge + lo,
                      tongue_top=tf(geom.tongue_top) + geom.tongue_per_jaw * j, upper_gaps=tf(geom.upper_gaps),
                      lower_gaps=tf(geom.lower_gaps) + lo, crown_px=geom.crown_px)


def close_rest_gap(lm: np.ndarray, upper: np.ndarray, lower: np.ndarray, rest_gap: np.ndarray) -> None:
    """Bring the inner-lip lines of (N, 2+) ``lm`` together by the model's rest gap (K,) px, never past each
    other (in place): a face at rest has closed lips, not the model's hairline gap.

    The closing fades out as the lips part: a gap up to the rest gap closes, one of twice the rest gap or more
    is kept as it is (linear between). Subtracting the rest gap from every opening would swallow the first
    rest-gap's worth of each one (1-1.5 px at 512 px: a small opening the track asks for would not show)."""
    d = lm[lower, :2] - lm[upper, :2]
    e = lm[upper[-1], :2] - lm[upper[0], :2]
    n = np.array([-e[1], e[0]], np.float32) / max(float(np.hypot(*e)), 1e-6)
    gap = d @ n
    parted = np.clip((gap - rest_gap) / np.maximum(rest_gap, 1e-3), 0.0, 1.0)
    shift = np.minimum(np.maximum(gap, 0.0), rest_gap) * (1.0 - parted)
    lm[upper, :2] += 0.5 * shift[:, None] * n
    lm[lower, :2] -= 0.5 * shift[:, None] * n


#: Commissure taper (:func:`taper_corners`): within ``TAPER_REACH`` mouth widths of a corner the opening's half
#: height may grow at most as (distance / reach) ** ``TAPER_POWER`` of its half height at that reach (0.5: an
#: ellipse's end passes untouched; larger: a pointed corner).
TAPER_REACH = 0.22
TAPER_POWER = 0.85


def taper_corners(lm: np.ndarray, upper: np.ndarray, lower: np.ndarray, reach: float = TAPER_REACH,
                  power: float = TAPER_POWER, outer: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Narrow an opening into its corners (in place): the inner lip lines (index arrays into (N, 2+) ``lm``,
    shared end points) near each corner are brought together so that the opening there is a lens, not a
    square end. A turned face's far corner otherwise ends in a straight edge once the jaw opens (the lower lip
    next to the corner drops straight below it: the photo's landmarks are close together there and the jaw
    moves them down), with the warped lip strip showing as a light speck at its top. The opening's middle
    line within the reach is the straight line from the corner to its middle at the reach, so the tip points
    into the opening. Lips apart by less than 1 px are left alone (still frames stay those of the warp, bit
    for bit); the taper fades in as they part to 2 px. outer: the outer lip contours (index arrays, point for
    point with ``upper`` / ``lower``): they move with the inner lines, so the lips keep their thickness."""
    o, e, n, w = mouth_frame(lm[upper[0], :2].astype(np.float64), lm[upper[-1], :2].astype(np.float64))
    du, dl = lm[upper, :2] - o, lm[lower, :2] - o
    uu, vu, ul, vl = du @ e / w, du @ n, dl @ e / w, dl @ n
    ku, kl = np.argsort(uu), np.argsort(ul)

    def lines_at(u):
        return np.interp(u, uu[ku], vu[ku]), np.interp(u, ul[kl], vl[kl])

    a, b = lines_at(np.linspace(0.2, 0.8, 7))
    ramp = float(smoothstep(float(np.max(b - a)) - 1.0))  # fades in as the lips part from 1 to 2 px
    if ramp <= 0.0:
        return
    r_up, r_lo = lines_at(np.array([reach, 1.0 - reach]))  # the opening at the reach from each corner
    h0, m0 = np.maximum(0.5 * (r_lo - r_up), 0.0), 0.5 * (r_lo + r_up)
    for idx, us, own in ((upper, uu, 0), (lower, ul, 1)):
        u = us[1:-1]
        left = (u > 0.5).astype(int)
        f = np.where(left, 1.0 - u, u) / reach  # distance from the nearer corner, in reaches
        v_up, v_lo = lines_at(u)
        h = 0.5 * (v_lo - v_up)
        h_new = np.minimum(h, h0[left] * np.clip(f, 0.0, 1.0) ** power)
        m_new = m0[left] * f  # the tip points from the corner along the opening's middle
        target = m_new + (h_new if own else -h_new)
        dv = np.where((f > 0) & (f < 1), target - (v_lo if own else v_up), 0.0) * ramp
        lm[idx[1:-1], :2] += (dv[:, None] * n).astype(lm.dtype)
        if outer is not None:
            lm[np.asarray(outer[own])[1:-1], :2] += (dv[:, None] * n).astype(lm.dtype)


def _polygon_mask(shape: tuple[int, int], poly: np.ndarray) -> np.ndarray:
    import cv2

    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(poly) * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    return m


#: A photo whose face pixels depart from their grey by less than this on average (8-bit levels) is greyscale.
#: Shared photos: black-and-white 0.0, colour faces 10-31; an under-exposed colour portrait 7.
GREY_CHROMA = 3.0


def is_greyscale(photo: np.ndarray, landmarks: np.ndarray) -> bool:
    """Whether the face of ``photo`` (H, W, 3) uint8 inside its (478, 2+) landmarks' face oval is greyscale: its
    pixels' mean distance from their own grey is under ``GREY_CHROMA``. Judged on the face, not the whole
    photo: a colour portrait on a large grey backdrop with dark clothes (or under-exposed, or rotated with grey
    corners) averaged under 3 over the whole frame and got grey teeth, gums and tongue."""
    import cv2

    from ..face import facemesh_topology as topo

    img = np.asarray(photo)
    oval = np.round(np.asarray(landmarks, np.float32)[topo.loops()["face_oval"], :2]).astype(np.int32)
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(mask, [oval], 1)
    pix = img[mask.astype(bool)].astype(np.float32)
    if len(pix) < 50:
        pix = img.reshape(-1, 3).astype(np.float32)
    return float(np.abs(pix - pix.mean(1, keepdims=True)).mean()) < GREY_CHROMA


def mouth_style(photo: np.ndarray, landmarks: np.ndarray) -> MouthStyle:
    """Colours from the photo (H, W, 3) uint8 and its (478, 2+) landmarks: lips -> tongue, gums, cavity; the
    photo's teeth where its mouth is open and shows them, else off-white at the photo's exposure."""
    import cv2

    from ..face import facemesh_topology as topo

    img = np.asarray(photo)
    lmk = np.asarray(landmarks, np.float32)[:, :2]
    H, W = img.shape[:2]
    mu, ml = topo.mouth_lines()
    inner = np.concatenate([lmk[mu], lmk[ml][::-1]])
    inner_m = _polygon_mask((H, W), inner) > 127
    r = max(2, int(round(0.07 * float(np.linalg.norm(lmk[mu[-1]] - lmk[mu[0]])))))
    ring = cv2.dilate(_polygon_mask((H, W), inner), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    lip_m = (ring > 0) & ~cv2.dilate(inner_m.astype(np.uint8), np.ones((3, 3))).astype(bool)
    pix = img.reshape(-1, 3).astype(np.float32)
    lip = np.median(pix[lip_m.reshape(-1)], 0) if lip_m.sum() > 10 else np.array([150, 90, 90], np.float32)
    grey = is_greyscale(img, lmk)
    pts = lmk[[50, 280, 151, 9, 205, 425]].round().astype(int)
    pts[:, 0] = pts[:, 0].clip(0, W - 1)
    pts[:, 1] = pts[:, 1].clip(0, H - 1)
    cheeks = cv2.blur(img, (5, 5)).astype(np.float32)[pts[:, 1], pts[:, 0]]
    skin = cheeks.mean(0)
    light = float(np.clip(0.5 * (cheeks[1].mean() - cheeks[0].mean()) / max(float(skin.mean()), 1.0), -0.25, 0.25))
    gain = float(np.clip(skin.mean() / 170.0, 0.45, 1.25))
    teeth = default_teeth(img, lmk, cheeks, gain, grey)
    from_photo = False
    inside = pix[cv2.erode(inner_m.astype(np.uint8), np.ones((3, 3))).astype(bool).reshape(-1)]
    if len(inside) > 40:
        lum = inside.mean(1)
        chroma = inside.max(1) - inside.min(1)
        cand = inside[(lum >= max(np.percentile(lum, 75), 0.6 * skin.mean())) & (chroma < 0.35 * lum + 10)]
        if len(cand) >= 15:
            teeth = np.percentile(cand, 80, axis=0)  # the lit enamel, not its shadowed side
            from_photo = True
    # flesh of the mouth: the photo's lips, pulled toward a default pink (moustaches and lipstick mislead)
    flesh = 0.5 * lip + 0.5 * np.array([178, 96, 98], np.float32) * gain
    if grey:
        teeth, flesh = (np.full(3, float(np.asarray(c, np.float32) @ LUMA), np.float32) for c in (teeth, flesh))
    shadow = teeth if grey else _lab_shift(teeth, TEETH_SHADOW_AB)
    return MouthStyle(cavity=np.clip(flesh * 0.28, 0, 255), teeth=np.clip(teeth, 0, 255),
                      tongue=np.clip(flesh * 0.8, 0, 255), gum=np.clip(flesh * 0.95, 0, 255),
                      teeth_from_photo=from_photo, light=light, teeth_shadow=np.clip(shadow, 0, 400))


#: Lit enamel of the default teeth in CIELAB under a neutral light: lightness at a photo whose cheeks are 170
#: (scaled with the cheeks, at most ``TEETH_MAX_L``), a, b: a warm off-white (real teeth in video frames: a -4..1,
#: b 4..7 where the skin has b 11..14).
TEETH_LAB = (89.0, 0.5, 6.0)
TEETH_MAX_L = 94.0
#: What the shadowed side of a tooth adds to a and b (CIELAB): enamel in shade looks warmer (the dentine shows
#: through, the lips and the mouth reflect onto it): real frames: b +5 at 80 % of the lit lightness, +10..12
#: at 40-60 %, a +8..13 there.
TEETH_SHADOW_AB = (7.0, 10.0)
#: Typical colour (CIELAB a, b) of lit cheeks and of the white of the eye in neutral light (shared photos and
#: real video frames: cheeks a 6..18, b 11..18; eye whites a 1..11, b 0..15); a photo's colour cast is what both
#: depart from these by in the same direction.
SKIN_AB = (10.0, 15.0)
SCLERA_AB = (5.0, 8.0)
#: Share of the photo's colour cast the default teeth take (teeth stay a shade whiter than the photo's whites).
CAST_SHARE = 0.8


def _lab(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)


def _rgb(lab: np.ndarray) -> np.ndarray:
    import cv2

    out = cv2.cvtColor(np.asarray(lab, np.float32).reshape(-1, 1, 3), cv2.COLOR_LAB2RGB).reshape(-1, 3)
    return np.clip(out * 255.0, 0, 255)


def _lab_shift(rgb: np.ndarray, ab: tuple[float, float], at: float = 0.55) -> np.ndarray:
    """(3,) float32 RGB ``rgb`` with ``ab`` added to its CIELAB a and b, with its luminance: the shifted colour
    is made at ``at`` x the lightness (inside the RGB gamut there, so a bright warm shade keeps its red), then
    scaled back up (it may exceed 255: it is only used darkened)."""
    lab = _lab(rgb)[0]
    dark = _rgb(np.array([at * lab[0], lab[1] + ab[0], lab[2] + ab[1]], np.float32))[0]
    return (dark * float(np.asarray(rgb, np.float32) @ LUMA) / max(float(dark @ LUMA), 1e-3)).astype(np.float32)


def sclera_colour(photo: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """(3,) float32 median RGB of the lit white of both eyes of ``photo`` (H, W, 3) uint8 ((478, 2+) landmarks,
    irises included: the white is the eye opening less ``face.detect.IRIS_MARGIN`` iris radii around each iris
    centre; its brighter half), or None where fewer than 24 such pixels show (closed or tiny eyes)."""
    import cv2

    from ..face import facemesh_topology as topo

    lm = np.asarray(landmarks, np.float32)[:, :2]
    if len(lm) < 478:
        return None
    img = np.asarray(photo)
    H, W = img.shape[:2]
    pix = []
    from ..face.detect import IRIS_MARGIN

    for side, c in (("right", topo.IRIS_RIGHT), ("left", topo.IRIS_LEFT)):
        iris = lm[c:c + 5]
        up, lo = topo.eye_lines(side)
        poly = np.concatenate([lm[up], lm[lo][::-1]])
        x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + 2, [W, H])
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        m = _polygon_mask((y1 - y0, x1 - x0), poly - (x0, y0)) > 200
        m = cv2.erode(m.astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool)
        r = float(np.linalg.norm(iris[1:] - iris[0], axis=1).mean())
        yy, xx = np.mgrid[y0:y1, x0:x1]
        m &= np.hypot(xx - iris[0, 0], yy - iris[0, 1]) > IRIS_MARGIN * r
        pix.append(img[y0:y1, x0:x1][m].astype(np.float32))
    px = np.concatenate(pix) if pix else np.zeros((0, 3), np.float32)
    if len(px) < 24:
        return None
    lum = px.mean(1)
    return np.median(px[lum >= np.median(lum)], 0).astype(np.float32)


def colour_cast(skin_rgb: np.ndarray, sclera_rgb: np.ndarray | None) -> np.ndarray:
    """(2,) float32 the photo's colour cast in CIELAB (a, b): how far its cheeks and its eye whites both depart
    from their neutral-light colours (:data:`SKIN_AB`, :data:`SCLERA_AB`) in the same direction (the smaller of
    the two departures; none where they disagree); from the cheeks alone at half weight where no eye white
    shows. A varnished painting: b +24; the shared photos and real video frames: within +-3."""
    d_skin = _lab(skin_rgb)[0, 1:] - np.array(SKIN_AB, np.float32)
    if sclera_rgb is None:
        return (0.5 * d_skin).astype(np.float32)
    d_eye = _lab(sclera_rgb)[0, 1:] - np.array(SCLERA_AB, np.float32)
    same = np.sign(d_skin) == np.sign(d_eye)
    return np.where(same, np.sign(d_skin) * np.minimum(np.abs(d_skin), np.abs(d_eye)), 0.0).astype(np.float32)


def default_teeth(photo: np.ndarray, landmarks: np.ndarray, cheeks: np.ndarray, gain: float,
                  grey: bool) -> np.ndarray:
    """(3,) float32 RGB of lit teeth for a photo that shows none: :data:`TEETH_LAB` at the photo's exposure
    (``gain``: its cheeks' brightness / 170), in the photo's light: its colour cast (:func:`colour_cast`; a cool
    cast counts half, so teeth never turn blue) moves a and b; neutral grey for greyscale photos.
    cheeks: (M, 3) float32 RGB samples of its cheeks."""
    L = min(TEETH_MAX_L, (TEETH_LAB[0] + 16.0) * max(gain, 1e-3) ** 0.73 - 16.0)  # RGB x gain, in CIELAB lightness
    if grey:
        return _rgb(np.array([L, 0.0, 0.0]))[0].astype(np.float32)
    cast = colour_cast(np.asarray(cheeks, np.float32).mean(0), sclera_colour(photo, landmarks))
    cast = np.where(cast < 0, 0.5 * cast, cast)
    a = float(np.clip(TEETH_LAB[1] + 0.5 * CAST_SHARE * cast[0], -3.0, 4.0))
    b = float(np.clip(TEETH_LAB[2] + CAST_SHARE * cast[1], 2.0, 40.0))
    return _rgb(np.array([L, a, b]))[0].astype(np.float32)


#: Mediapipe's outer lip contour, right to left mouth corner: upper and lower red lip edges.
LIPS_OUTER_UPPER = np.array([61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291])
LIPS_OUTER_LOWER = np.array([61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291])
#: How much the painted closed lips replace the re-mapped photo's lips (the rest keeps its own shading).
PAINT_OPACITY = 0.7
#: Gap (px) kept between the inner lip lines of a closed warp source (the strip between them keeps an area).
SOURCE_GAP_PX = 1.0


def mouth_is_open(landmarks: np.ndarray, open_frac: float = 0.04) -> bool:
    """True when the inner lips of (478, 2+) landmarks are apart by more than ``open_frac`` of the mouth width."""
    from ..face import facemesh_topology as topo

    lmk = np.asarray(landmarks, np.float32)[:, :2]
    mu, ml = topo.mouth_lines()
    e = lmk[mu[-1]] - lmk[mu[0]]
    w = float(np.hypot(*e))
    n = np.array([-e[1], e[0]]) / max(w, 1e-6)
    return float(((lmk[ml] - lmk[mu]) @ n).max()) >= open_frac * w


#: Lens-shaped openings: near the corners the inner lips of a closed source pass each other by up to this
#: share of the mouth width (the lips part at the centre first; the render's clamp makes them meet at rest).
CORNER_OVERLAP = 0.2


def corner_overlap(landmarks: np.ndarray, upper: np.ndarray, depth: float = CORNER_OVERLAP) -> np.ndarray:
    """(K,) px how far the inner lips of a closed source should pass each other at rest along the (K,) ``upper``
    line of (N, 2+) landmarks: ``depth`` mouth widths x (1 - the height of an ellipse spanning the mouth)."""
    lm = np.asarray(landmarks, np.float32)[:, :2]
    o, e, _, w = mouth_frame(lm[upper[0]], lm[upper[-1]])
    u = np.clip((lm[upper] - o) @ e / w, 0.0, 1.0)
    out = depth * w * (1.0 - np.sqrt(np.clip(1.0 - (2 * u - 1) ** 2, 0.0, 1.0)))
    out[[0, -1]] = 0.0
    return out.astype(np.float32)


def close_source_lips(landmarks: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                      gap_px: float = SOURCE_GAP_PX) -> np.ndarray:
    """A copy of (N, 2+) landmarks whose paired inner lip lines (index arrays, shared corners) meet on their
    middle line (smoothed), ``gap_px`` apart: the closed-lip geometry of a warp source."""
    lm = np.array(landmarks, np.float32, copy=True)
    e = lm[upper[-1], :2] - lm[upper[0], :2]
    n = np.array([-e[1], e[0]], np.float32) / max(float(np.hypot(*e)), 1e-6)
    mid = 0.5 * (lm[upper, :2] + lm[lower, :2])
    # closed lips meet on a smooth curve: a quartic across the mouth through the two corners
    o, ex, nx, w = mouth_frame(mid[0], mid[-1])
    u, v = (mid - o) @ ex / w, (mid - o) @ nx
    wts = np.ones(len(u))
    wts[[0, -1]] = 100.0
    v = np.polyval(np.polyfit(u, v, min(4, len(u) - 1), w=wts), u)
    mid = (o + np.outer(u * w, ex) + np.outer(v, nx)).astype(np.float32)
    half = np.full(len(upper), 0.5 * gap_px, np.float32)
    half[[0, -1]] = 0.0
    lm[upper, :2] = mid - half[:, None] * n
    lm[lower, :2] = mid + half[:, None] * n
    return lm


def paint_closed_lips(image: np.ndarray, landmarks: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                      lip_rgb: np.ndarray, lower_border: np.ndarray | None = None, line: bool = True) -> np.ndarray:
    """Closed lips painted into ``image`` (H, W, 3) uint8 whose (478, 2+) ``landmarks`` have meeting inner lips
    (a copy): inside the red lips' outer contour the colour is ``lip_rgb`` (3,) shaded like closed lips (the
    upper lip faces down and is darker; the lower lip catches the light on its upper part and darkens toward
    its border) times the image's own fine texture (its brightness over a blurred copy, so a filled opening's
    smears and shadows leave no blob); a soft dark line where the lips meet, deepest at the centre and fading
    toward the corners, as on real closed mouths. lower_border: (M, 2) the lower red lip's outer contour from
    the right to the left corner (default: the landmarks' ``LIPS_OUTER_LOWER``). line: False leaves the lip line
    to each frame (:func:`draw_lip_line`: drawn where the frame's lips are, it stays smooth when they bend)."""
    import cv2

    lm = np.asarray(landmarks, np.float32)[:, :2]
    low = lm[LIPS_OUTER_LOWER] if lower_border is None else np.asarray(lower_border, np.float32)
    img = image.astype(np.float32)
    H, W = img.shape[:2]
    meet = 0.5 * (lm[upper] + lm[lower])
    w = float(np.linalg.norm(meet[-1] - meet[0]))
    o, e, n, _ = mouth_frame(meet[0], meet[-1])
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    u = ((xs - o[0]) * e[0] + (ys - o[1]) * e[1]) / max(w, 1e-6)
    v = (xs - o[0]) * n[0] + (ys - o[1]) * n[1]
    um, vm = _curve(meet, o, e, n, w)
    uo, vo = _curve(lm[LIPS_OUTER_UPPER], o, e, n, w)
    ul, vl = _curve(low, o, e, n, w)
    v_meet = np.interp(u, um, vm)
    t_up = np.clip((v_meet - v) / np.maximum(v_meet - np.interp(u, uo, vo), 1.0), 0, 1)  # 0 line .. 1 border
    t_lo = np.clip((v - v_meet) / np.maximum(np.interp(u, ul, vl) - v_meet, 1.0), 0, 1)
    soft = max(1.0, 0.02 * w)
    up_m = cv2.GaussianBlur(_polygon_mask((H, W), np.concatenate([lm[LIPS_OUTER_UPPER], meet[::-1]]))
                            .astype(np.float32) / 255, (0, 0), soft)
    lo_m = cv2.GaussianBlur(_polygon_mask((H, W), np.concatenate([low, meet[::-1]]))
                            .astype(np.float32) / 255, (0, 0), soft if lower_border is None else 2 * soft)
    lips = np.clip(up_m + lo_m, 0, 1)
    lum = img.mean(2)
    texture = np.clip(lum / np.maximum(cv2.GaussianBlur(lum, (0, 0), max(1.5, 0.03 * w)), 1.0), 0.9, 1.1)
    side = np.clip(np.abs(u - 0.5) * 2, 0, 1)
    shade_up = 0.86 + 0.06 * t_up
    shade_lo = 1.0 + 0.08 * np.exp(-((t_lo - 0.35) / 0.3) ** 2)
    shade = np.where(v < v_meet, shade_up, shade_lo) * (1.0 - 0.12 * side ** 2)
    lip = np.asarray(lip_rgb, np.float32)
    painted = lip[None, None] * (shade * texture)[..., None]
    # the paint keeps some of the re-mapped lips' own shading, none of what is far from lip (fill, teeth, shadow)
    off = np.abs(lum / max(float(lip.mean()), 1.0) - 1.0)
    opacity = PAINT_OPACITY + (1.0 - PAINT_OPACITY) * np.clip((off - 0.1) / 0.2, 0, 1)
    img = img + (painted - img) * (opacity * lips)[..., None]
    # below the lower lip: skin. An open mouth's lower lip may reach past its landmarks; where the lips were
    # raised to a closed height, red left below them turns to the skin of the chin
    v_lo = np.interp(u, ul, vl)
    chin = np.median(img[lm[[175, 199, 208, 428], 1].round().astype(int).clip(0, H - 1),
                         lm[[175, 199, 208, 428], 0].round().astype(int).clip(0, W - 1)], 0)
    below = smoothstep((v - v_lo) / max(2.0 * soft, 1.0)) * (1.0 - smoothstep((v - v_lo - 0.2 * w) / (0.05 * w)))
    below *= 1.0 - smoothstep((side - 0.8) / 0.2)
    excess = (img[..., 0] - img[..., 1]) - float(chin[0] - chin[1])
    to_skin = below * np.clip(excess / 20.0, 0, 1)
    skin = chin[None, None] * np.clip(lum / max(float(chin.mean()), 1.0), 0.85, 1.15)[..., None]
    img = img + (skin - img) * to_skin[..., None]
    if line:
        img = draw_lip_line(img, lm[upper], lm[lower])
    return np.clip(img, 0, 255).astype(np.uint8)


#: Darkness of the line where closed lips meet, at its centre (it fades toward the corners and as the lips part).
LIP_LINE_DARK = 0.5


def draw_lip_line(image: np.ndarray, lips_upper: np.ndarray, lips_lower: np.ndarray,
                  dark: float = LIP_LINE_DARK, part_px: float = 2.0) -> np.ndarray:
    """The soft dark line where closed lips meet, drawn into ``image`` (H, W, 3) uint8 or float32 (in place;
    returned) along the middle of the (K, 2) inner lip lines: ``dark`` at the centre, fading toward the corners
    and where the lips are apart (gone at ``part_px``: the mouth interior is drawn there)."""
    import cv2

    up = np.asarray(lips_upper, np.float32)[:, :2]
    lo = np.asarray(lips_lower, np.float32)[:, :2]
    meet = 0.5 * (up + lo)
    o, e, n, w = mouth_frame(meet[0], meet[-1])
    closed = np.clip(1.0 - np.maximum((lo - up) @ n, 0.0) / part_px, 0.0, 1.0)
    if not closed.any():
        return image  # lips apart everywhere: the mouth interior is drawn instead
    sig = max(0.8, 0.012 * w)
    H, W = image.shape[:2]
    pad = int(np.ceil(2.5 * sig)) + 1
    x0, y0 = np.maximum(np.floor(meet.min(0)).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(meet.max(0)).astype(int) + pad + 1, [W, H])
    if x1 <= x0 or y1 <= y0:
        return image
    line = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    cv2.polylines(line, [np.round((meet - (x0, y0)) * 16).astype(np.int32)], False, 0, 1, cv2.LINE_8, 4)
    d = cv2.distanceTransform(line, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    xs = np.arange(x0, x1, dtype=np.float32)[None] - o[0]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] - o[1]
    u = (xs * e[0] + ys * e[1]) / max(w, 1e-6)
    um = (meet - o) @ e / w
    k = np.argsort(um)
    along = np.interp(u, um[k], closed[k] * np.sqrt(np.clip(1.0 - np.abs(2 * um[k] - 1), 0, 1)))
    along *= (u > 0) & (u < 1)
    shade = 1.0 - dark * np.exp(-(d / sig) ** 2) * along
    region = image[y0:y1, x0:x1]
    region[...] = np.clip(region * shade[..., None], 0, 255).astype(image.dtype)
    return image


def lip_colour(photo: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(3,) float32 median colour of the red lips of ``photo`` (H, W, 3) uint8 between the outer and the inner
    lip contours of its (478, 2+) landmarks: the brighter half of the redder half (skin and shadow left out)."""
    from ..face import facemesh_topology as topo

    lm = np.asarray(landmarks, np.float32)[:, :2]
    img = np.asarray(photo)
    mu, ml = topo.mouth_lines()
    m = (_polygon_mask(img.shape[:2], np.concatenate([lm[LIPS_OUTER_UPPER], lm[mu][::-1]])) > 127) | (
        _polygon_mask(img.shape[:2], np.concatenate([lm[LIPS_OUTER_LOWER], lm[ml][::-1]])) > 127)
    pix = img[m].astype(np.float32)
    if len(pix) < 10:
        return np.array([170, 100, 100], np.float32)
    red = pix[:, 0] - pix[:, 1]
    pix = pix[red >= np.median(red)]
    lum = pix.mean(1)
    return np.median(pix[lum >= np.median(lum)], 0).astype(np.float32)  # lit lip, not the cavity's edge


def closed_mouth_source(photo: np.ndarray, landmarks: np.ndarray, open_frac: float = 0.04) -> np.ndarray:
    """The photo with its own mouth opening filled from the surrounding lips (a copy), when the inner lips are
    apart by more than ``open_frac`` of the mouth width; otherwise the photo itself. Also fills the dark pixels
    just past the opening's corners, so closing the lips leaves no dark line."""
    import cv2

    from ..face import facemesh_topology as topo

    if not mouth_is_open(landmarks, open_frac):
        return photo
    lmk = np.asarray(landmarks, np.float32)[:, :2]
    mu, ml = topo.mouth_lines()
    w = float(np.linalg.norm(lmk[mu[-1]] - lmk[mu[0]]))
    img = np.asarray(photo)
    H, W = img.shape[:2]
    inner = np.concatenate([lmk[mu], lmk[ml][::-1]])
    m = _polygon_mask((H, W), inner) > 64
    r = max(2, int(round(0.06 * w)))
    near = cv2.dilate(m.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
    lum = img.astype(np.float32).mean(2)
    ring = near & ~m
    ref = float(np.median(lum[ring])) if ring.any() else float(lum[near].mean())
    rgb = img.astype(np.float32)
    close = cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, r // 3)) > 0
    teeth = close & (lum > 1.3 * ref) & (rgb.max(2) - rgb.min(2) < 0.25 * lum + 8)  # bright, unsaturated
    odd = (near & (lum < 0.6 * ref)) | teeth  # cavity shadow and teeth just past the landmarks
    mask = cv2.dilate((m | odd).astype(np.uint8), np.ones((3, 3), np.uint8))
    out = cv2.inpaint(np.ascontiguousarray(img), mask * 255, max(3, r), cv2.INPAINT_TELEA)
    # the fill is lip: match the colour of the lips around it (the ring also borders skin and teeth)
    redness = rgb[..., 0] - rgb[..., 1]
    lips = ring & ~odd
    if lips.sum() > 20:  # the redder half of the ring: lips rather than the skin around them
        lips &= redness >= np.median(redness[lips])
    if lips.sum() > 10 and mask.any():
        sel = mask.astype(bool)
        target = 0.92 * np.median(img[lips].astype(np.float32), 0)  # lips meeting: a shade darker
        fill = out[sel].astype(np.float32)
        out[sel] = np.clip(fill * (target / np.maximum(fill.mean(0), 1.0)), 0, 255).astype(np.uint8)
    # feathered edge: no seam where the fill meets the photo
    soft = cv2.GaussianBlur(cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(np.float32), (0, 0), max(1.0, r / 3))
    soft = np.maximum(soft, mask.astype(np.float32))[..., None]
    return np.clip(img * (1 - soft) + out * soft, 0, 255).astype(np.uint8)


def mouth_frame(corner_r: np.ndarray, corner_l: np.ndarray):
    """Mouth frame: origin, unit axis across the mouth, unit down normal, mouth width (px)."""
    e = corner_l - corner_r
    w = float(np.hypot(*e))
    e = e / max(w, 1e-6)
    n = np.array([-e[1], e[0]], np.float32)  # rotate +90 deg in y-down image coords: points down
    return corner_r, e, n, max(w, 1e-6)


def _curve(points: np.ndarray, o, e, n, w):
    """(K, 2) image points -> sorted (u, v) samples for np.interp (u in mouth widths, v in pixels)."""
    d = np.asarray(points, np.float64) - o
    u, v = d @ e / w, d @ n
    k = np.argsort(u)
    return u[k], v[k]


#: Depth of the gap lines between lower teeth (crowded, narrow incisors: fainter than the upper ones' 0.35).
LOWER_SEP = 0.16
#: Tooth widths (px) over which a row's per-tooth rounding and gap lines fade in (none below the first).
TOOTH_RESOLVED_PX = (3.5, 11.0)


def _tooth_rows(u: np.ndarray, gaps_u: np.ndarray, w: float, crown: float, sep_depth: float | np.ndarray = 0.3):
    """Per-pixel shading of a row of teeth, u: (...) positions across the mouth (mouth widths), gaps_u: the
    tooth boundaries (any order), w: mouth width (px), crown: crown height (px).

    Returns (brightness, notch, papilla), each shaped like u: brightness: each crown rounded (darker toward
    its sides, as a convex enamel surface turns away from the light) times a soft dark interproximal gap (its
    width grows with the tooth, ``sep_depth`` dark at its centre: a number or per pixel; rounding and gap fade
    out on teeth narrower than ``TOOTH_RESOLVED_PX``); notch: px by which the biting edge recedes at the
    tooth's rounded corners (the incisal embrasures, where the cavity shows between tooth tips);
    papilla: px by which the gum reaches past the crowns' gum line between neighbours."""
    if len(gaps_u) < 2:
        return np.ones_like(u), np.zeros_like(u), np.zeros_like(u)
    g = np.sort(gaps_u)
    k = np.clip(np.searchsorted(g, u) - 1, 0, len(g) - 2)
    a, b = g[k], g[k + 1]
    tw = np.maximum(b - a, 1e-6) * w  # the tooth's width (px)
    x = np.clip((u - a) / np.maximum(b - a, 1e-6), 0, 1)
    inside = (u >= g[0]) & (u <= g[-1])  # past the last boundary: a tooth seen edge-on, no corners drawn
    # narrow teeth (a few px) resolve no rounding and no separations: both fade out below TOOTH_RESOLVED_PX,
    # else each tooth's dark sides and gap line sample into a barcode of stripes
    res = smoothstep((tw - TOOTH_RESOLVED_PX[0]) / (TOOTH_RESOLVED_PX[1] - TOOTH_RESOLVED_PX[0]))
    body = 1.0 - res * 0.26 * (1.0 - np.sqrt(np.sin(np.pi * x)))
    dist_px = np.minimum(x, 1 - x) * tw
    sep = 1.0 - res * sep_depth * np.exp(-(dist_px / (0.7 + 0.025 * tw)) ** 2) * inside
    r = np.minimum(0.2 * tw, 0.3 * crown)  # corner radius of a crown's biting edge
    dx = np.minimum(dist_px, r)
    notch = (r - np.sqrt(np.maximum(r * r - (r - dx) ** 2, 0.0))) * inside
    papilla = 0.22 * crown * (1.0 - np.sin(np.pi * x)) ** 2 * inside
    return body * sep, notch, papilla


def teeth_colour(style: MouthStyle, shade: np.ndarray) -> np.ndarray:
    """(..., 3) float32 RGB of enamel at ``shade`` (...) brightness factors (1: lit): the lit colour scaled,
    turning to the warmer ``style.teeth_shadow`` as it darkens (fully below 0.3), as teeth in shade do."""
    s = np.asarray(shade, np.float32)[..., None]
    lit = np.asarray(style.teeth, np.float32)
    dark = lit if style.teeth_shadow is None else np.asarray(style.teeth_shadow, np.float32)
    w = smoothstep((s - 0.3) / 0.7)
    return s * (dark + (lit - dark) * w)


def smooth_line(points: np.ndarray, steps: int = LINE_STEPS) -> np.ndarray:
    """((K - 1) * steps + 1, 2) float32 Catmull-Rom curve through the (K, 2) ``points`` (it passes through each
    of them, in order; the end points are repeated as their own neighbours)."""
    p = np.asarray(points, np.float32)[:, :2]
    if len(p) < 3:
        return p.copy()
    q = np.concatenate([p[:1], p, p[-1:]])
    t = np.linspace(0.0, 1.0, steps, endpoint=False, dtype=np.float32)[:, None]
    a, b, c, d = q[:-3], q[1:-2], q[2:-1], q[3:]  # (K - 1, 2) each: the segments b -> c
    seg = 0.5 * ((2 * b)[:, None] + (c - a)[:, None] * t + (2 * a - 5 * b + 4 * c - d)[:, None] * t ** 2
                 + (3 * b - a - 3 * c + d)[:, None] * t ** 3)
    return np.concatenate([seg.reshape(-1, 2), p[-1:]]).astype(np.float32)


def draw_mouth(image: np.ndarray, lips_upper: np.ndarray, lips_lower: np.ndarray, teeth: FrameTeeth,
               style: MouthStyle, strength: float = 1.0) -> np.ndarray:
    """Render the mouth opening into ``image`` (H, W, 3) uint8, in place, and return it.

    lips_upper / lips_lower: (K, 2) inner lip lines from the right to the left mouth corner (pixels).
    teeth: this frame's :class:`FrameTeeth` (:func:`place_teeth`). strength: 0..1 opacity.
    """
    import cv2

    up = np.asarray(lips_upper, np.float32)
    lo = np.asarray(lips_lower, np.float32)
    o, e, n, w = mouth_frame(up[0], up[-1])
    uu, vu = _curve(up, o, e, n, w)
    ul, vl = _curve(lo, o, e, n, w)
    probe = np.linspace(0.2, 0.8, 7)
    gap = float(np.max(np.interp(probe, ul, vl) - np.interp(probe, uu, vu)))
    if gap < 1.0 or strength <= 0:
        return image
    # the lips' inner edges are smooth curves through their landmarks, not the chords between them
    up, lo = smooth_line(up), smooth_line(lo)
    uu, vu = _curve(up, o, e, n, w)
    ul, vl = _curve(lo, o, e, n, w)
    H, W = image.shape[:2]
    poly = np.concatenate([up, lo[::-1]])
    x0, y0 = np.floor(poly.min(0)).astype(int) - 2
    x1, y1 = np.ceil(poly.max(0)).astype(int) + 3
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image
    mask = _polygon_mask((y1 - y0, x1 - x0), poly - (x0, y0)).astype(np.float32) / 255.0
    a = cv2.GaussianBlur(mask, (3, 3), 0.6) * mask ** 0.5  # soft inside the lips, nothing outside them
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d = np.stack([xs + 0.5 - o[0], ys + 0.5 - o[1]], -1)
    u = d @ e / w
    v = d @ n
    v_up = np.interp(u, uu, vu)
    v_lo = np.interp(u, ul, vl)
    local = v_lo - v_up
    side = np.clip(np.abs(u - 0.5) * 2, 0, 1)  # 0 centre .. 1 corners
    t_up = np.interp(u, *_curve(teeth.upper_edge, o, e, n, w))
    t_lo = np.interp(u, *_curve(teeth.lower_edge, o, e, n, w))
    cu, cl = teeth.crown_px
    # the tongue's tip rests behind the lower incisors; its back rises behind them in the middle of the mouth
    # (seen over the lower teeth when the jaw drops), never higher than the head's tongue puts it
    t_tg = np.maximum(np.interp(u, *_curve(teeth.tongue_top, o, e, n, w)), t_lo - TONGUE_RISE * cl * (1 - side ** 2))
    # the photo's light falls across the mouth from its brighter side
    light = 1.0 + style.light * (2 * u - 1)
    # cavity: light enters at the lips and dies off inside and toward the cheeks
    inside = np.maximum(0.0, np.minimum(v - v_up, v_lo - v))
    depth = np.exp(-inside / max(0.18 * gap, 1.0))
    col = style.cavity[None, None] * ((0.35 + 0.8 * depth) * (1.0 - 0.5 * side ** 2))[..., None]
    # tongue: below its outline, lit toward the opening (its tip, the lower lip), in shadow at its back (top)
    # and toward the corners
    tongue = smoothstep((v - t_tg) / 1.5) * (1.0 - smoothstep((side - 0.75) / 0.25))
    t_shade = (0.6 + 0.45 * smoothstep((v - t_tg) / max(0.12 * w, 1.0))) * (1.0 - 0.5 * side ** 2)
    col = col + (style.tongue[None, None] * t_shade[..., None] - col) * tongue[..., None]
    # lower teeth: their edge shows above the lower lip where the jaw has dropped more than the lip covers;
    # darker than the upper ones (the upper lip and teeth shade them), each crown rounded, its corners
    # receding (the cavity between their tips), fading into the dark below (the lower lip hides the gum)
    gu_lo = _curve(teeth.lower_gaps, o, e, n, w)[0]
    gu_up = _curve(teeth.upper_gaps, o, e, n, w)[0]
    row_side = (1.0 - 0.6 * side ** 2)
    # neighbouring crowns touch at their contact points (the gap line is faint there), and part toward the
    # biting edge and the gum, where the dark shows between them
    s_lo = np.clip((v - t_lo) / max(cl, 1.0), 0, 1)
    shade_lo, notch_lo, _ = _tooth_rows(u, gu_lo, w, cl, LOWER_SEP * (0.45 + 0.55 * np.abs(2 * s_lo - 1)))
    edge_lo = t_lo + notch_lo
    lower_t = smoothstep((v - edge_lo) / 1.2 + 0.5) * (1.0 - smoothstep((v - t_lo - cl) / max(0.3 * cl, 1.5)))
    lower_col = teeth_colour(style, 0.8 * shade_lo * row_side * (1.0 - 0.3 * smoothstep((v - t_lo) / max(cl, 1.0))))
    col = col + (lower_col - col) * (0.95 * lower_t)[..., None]
    # upper teeth: shadowed just under the upper lip, biting edge slightly translucent, rounded corners;
    # gum above the crowns, reaching down between them
    s_up = np.clip((t_up - v) / max(cu, 1.0), 0, 1)
    shade_up, notch_up, papilla = _tooth_rows(u, gu_up, w, cu, 0.35 * (0.45 + 0.55 * np.abs(2 * s_up - 1)))
    edge_up = t_up - notch_up
    gum_line = t_up - cu + papilla
    upper_t = smoothstep((edge_up - v) / 1.2 + 0.5) * (1.0 - smoothstep((gum_line - v) / 1.5 + 0.5))
    upper_g = smoothstep((gum_line - v) / 1.5 + 0.5)
    lip_shadow = 0.8 + 0.2 * smoothstep((v - v_up) / max(0.35 * cu, 1.5))
    edge = 0.88 + 0.12 * smoothstep((t_up - v) / max(0.2 * cu, 1.5))
    upper_col = teeth_colour(style, shade_up * row_side * lip_shadow * edge)
    col = col + (upper_col - col) * upper_t[..., None] + (style.gum[None, None] * (row_side * lip_shadow)[..., None]
                                                          - col) * (upper_g * (1 - upper_t))[..., None]
    col = col * light[..., None]
    # the lower lip's inner margin turns into the mouth and lies in shadow: a dark rim along it, so that a small
    # opening filled by the upper teeth still reads as lips apart
    col = col * (1.0 - RIM_DARK * np.exp(-np.maximum(v_lo - v, 0.0) / max(0.8, 0.08 * cl)))[..., None]
    # nothing where the lips almost touch (corners): the warped lips show there, no specks
    alpha = a * smoothstep((local - 0.5) / 1.5) * float(np.clip(strength, 0, 1)) * float(smoothstep((gap - 1.0) / 1.0))
    roi = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = np.clip(roi + (col - roi) * alpha[..., None], 0, 255).astype(np.uint8)
    return image
