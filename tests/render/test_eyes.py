"""Eyes of the warp renderer: blinks without folded triangles, lids that close smoothly."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.face import facemesh_topology as topo
from emodiffhead.render.unfold import Unfolder, signed_area
from emodiffhead.render.warp_renderer import clamp_lines

BLINKS = np.round(np.linspace(0.0, 1.0, 21), 3)


def _blink_track(head, values, emotion=None, intensity=0.0):
    from emodiffhead.animate.emotion_vectors import emotion_basis
    from emodiffhead.emotion import EMOTIONS
    from emodiffhead.track import Track

    tr = Track.neutral(len(values), 25.0, head.name, head.expression_names)
    if emotion is not None:
        c = EMOTIONS.index(emotion)
        tr.expression[:] = intensity * emotion_basis(head)[c]
        tr.emotion[:, c] = intensity
    for side in ("Left", "Right"):
        tr.expression[:, head.expression_index(f"eyeBlink{side}")] += np.asarray(values, np.float32)
    return tr


def test_unfolder_repairs_a_triangle_standing_on_a_pinned_edge():
    # the outer canthus (0) and the lid point next to it (1) are pinned; the skin point above them (2) is free.
    # A closing lid bends its edge down past the canthus: averaging the corners' motion only takes the free
    # corner halfway, which leaves the triangle folded; it must be pushed off the edge instead.
    src = np.array([[0, 0], [1, -1], [-2, -3], [6, -3], [6, 3]], np.float64)  # image pixels, y down
    tris = np.array([[0, 1, 2], [1, 3, 2], [0, 4, 1]])
    u = Unfolder(src, tris, pinned=np.array([0, 1]))
    moved = src.copy()
    moved[1] = [1.0, 1.5]  # the lid point now below the canthus
    moved[2] += [0.0, 1.0]
    a0 = signed_area(src, tris)
    assert np.sign(signed_area(moved, tris[:1]))[0] != np.sign(a0[0])  # folded before the repair
    fixed = u(moved).astype(np.float64)
    assert np.array_equal(fixed[[0, 1]], moved[[0, 1]])  # pinned points keep their motion
    assert np.all(np.sign(signed_area(fixed, tris)) == np.sign(a0))
    e = fixed[1] - fixed[0]
    h = abs(e[0] * (fixed[2] - fixed[0])[1] - e[1] * (fixed[2] - fixed[0])[0]) / np.hypot(*e)
    assert h >= 0.35 * abs(2 * a0[0]) / np.hypot(*(src[1] - src[0])) - 1e-6  # the height floor is reached


def test_a_lid_closed_on_both_sides_of_a_point_is_closed_at_it():
    # upper lid 0-1-2-3-4 over lower lid 0-5-6-7-4; point 1 stands open between the corner and a closed point 2
    lm = np.array([[0, 0], [1, -2], [2, 1.0], [3, 1.0], [4, 0], [1, 0.6], [2, 1.0], [3, 1.0]], np.float32)
    up, lo = np.array([0, 1, 2, 3, 4]), np.array([0, 5, 6, 7, 4])
    plain = lm.copy()
    clamp_lines(plain, up, lo, move="upper")
    assert np.array_equal(plain, lm)  # nothing passes the lower lid: the plain clamp changes nothing
    clamp_lines(lm, up, lo, move="upper", max_bump=2.0)
    assert lm[1, 1] == pytest.approx(0.6, abs=1e-5)  # closed onto the lower lid
    assert np.array_equal(lm[2:], plain[2:])
    # an open lid's profile (highest in the middle, at most twice its neighbours) is left alone
    open_lid = np.array([[0, 0], [1, -2], [2, -3], [3, -2], [4, 0], [1, 1], [2, 1.5], [3, 1]], np.float32)
    before = open_lid.copy()
    clamp_lines(open_lid, up, lo, move="upper", max_bump=2.0)
    assert np.array_equal(open_lid, before)


def test_blinks_render_without_folded_triangles(warp_renderer, builtin_head, folded_face_triangles):
    r = warp_renderer
    lm = r.drive(_blink_track(builtin_head, BLINKS)).landmarks
    folds = [folded_face_triangles(r, lm[k]) for k in range(len(BLINKS))]
    assert not any(folds), dict(zip(BLINKS.tolist(), folds))


@pytest.mark.parametrize("photo", ["einstein_1921.jpg", "man_bw_portrait.jpg", "man_open_mouth.jpg",
                                   "mona_lisa_painting.jpg", "woman_portrait.jpg"])
def test_blinks_on_shared_photos_render_without_folded_triangles(shared_data, builtin_head, photo,
                                                               folded_face_triangles):
    # at the product's default size, where the thin wedges at the outer canthus folded on every photo
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.warp_renderer import WarpRenderer

    r = WarpRenderer(gaze=False)
    r.prepare(load_photo(shared_data / "photos" / photo), builtin_head, size=512)
    tr = _blink_track(builtin_head, np.concatenate([BLINKS, [0.5, 1.0, 0.5, 1.0]]))
    n = len(BLINKS)
    from emodiffhead.animate.emotion_vectors import emotion_basis
    from emodiffhead.emotion import EMOTIONS

    B = emotion_basis(builtin_head)
    for k, emo in zip(range(n, n + 4), ("fearful", "fearful", "angry", "surprised")):
        tr.expression[k] += 1.5 * B[EMOTIONS.index(emo)]  # with the lid raised or tightened
    lm = r.drive(tr).landmarks
    folds = [folded_face_triangles(r, lm[k]) for k in range(len(lm))]
    assert not any(folds), folds


def test_closing_lid_moves_smoothly(warp_renderer, builtin_head):
    # no lid point jumps between neighbouring blink steps: the drawn lid line moves by small, even steps
    r = warp_renderer
    lm = r.drive(_blink_track(builtin_head, BLINKS)).landmarks
    lids = np.concatenate([np.concatenate(topo.eye_lines(s)) for s in ("left", "right")])
    drawn = np.stack([r.frame_landmarks(lm[k])[lids, :2] for k in range(len(BLINKS))])
    step = np.linalg.norm(np.diff(drawn, axis=0), axis=2)  # (steps, points) px
    iod = float(np.linalg.norm(r.fit.landmarks[263, :2] - r.fit.landmarks[33, :2]))
    assert step.max() < 0.05 * iod, step.max() / iod


@pytest.mark.parametrize("pitch", [0.12, -0.1])
def test_lids_following_a_look_down_or_up_render_without_folded_triangles(warp_renderer, builtin_head, pitch,
                                                                        folded_face_triangles):
    # the upper lid follows the eye joints' pitch (head/lid_follow.py), through a whole blink and with a sad face
    r = warp_renderer
    tr = _blink_track(builtin_head, np.concatenate([BLINKS, [0.0, 1.0]]))
    from emodiffhead.animate.emotion_vectors import emotion_basis
    from emodiffhead.emotion import EMOTIONS

    tr.expression[-2:] += 1.5 * emotion_basis(builtin_head)[EMOTIONS.index("sad")]
    tr.pose[:, 3:, 0] = pitch
    d = r.drive(tr)
    folds = [folded_face_triangles(r, d.landmarks[k]) for k in range(tr.num_frames)]
    assert not any(folds), folds
    # the lid moved with the eye at the open frame: down for a look down, up (less) for a look up
    rest = r.drive(_blink_track(builtin_head, [0.0])).landmarks[0]
    assert np.sign(d.landmarks[0, 159, 1] - rest[159, 1]) == np.sign(pitch)
