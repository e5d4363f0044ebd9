"""A photo that frowns its mouth down and raises its brows comes back neutral under a neutral track (round trip:
the renderer's own expression frame of the shipped example photo, used as the photo)."""

from __future__ import annotations

import numpy as np

from emodiffhead.face.detect import detect_face


def _geometry(img: np.ndarray) -> tuple[float, float]:
    """(brow height above the upper lids, mouth-corner lift above the lips' middle), per inter-ocular distance,
    from mediapipe on the pixels (image y down)."""
    L = detect_face(img).landmarks[:, :2].astype(np.float64)
    iod = np.linalg.norm(L[33] - L[263])
    brow = ((L[159, 1] - L[105, 1]) + (L[386, 1] - L[334, 1])) / 2 / iod
    lift = ((L[0, 1] + L[17, 1]) / 2 - (L[61, 1] + L[291, 1]) / 2) / iod
    return float(brow), float(lift)


def test_raised_brows_and_down_turned_mouth_of_a_photo_are_neutralised(warp_renderer, builtin_head, neutral_track):
    from emodiffhead.render.warp_renderer import WarpRenderer

    r = warp_renderer
    neutral = next(iter(r.frames(neutral_track(1))))
    # surprise's brows (AU1+2) and sadness's mouth corners (AU15) at a strong 1.5, no lip parting
    posed = next(iter(r.frames(neutral_track(1, browInnerUp=1.0, browOuterUpLeft=1.0, browOuterUpRight=1.0,
                                             mouthFrownLeft=1.0, mouthFrownRight=1.0))))
    again = WarpRenderer()
    fit = again.prepare(posed, builtin_head, size=posed.shape[0])
    assert fit.expression[builtin_head.expression_index("browInnerUp")] > 0.1
    frown = [fit.expression[builtin_head.expression_index(n)] for n in ("mouthFrownLeft", "mouthFrownRight")]
    # both corners read as a frown (at 256 px one side reads 0.09-0.11, the other 0.19-0.21, depending on the
    # shading's fine detail around the fold)
    assert np.mean(frown) > 0.1 and min(frown) > 0.05, frown
    back = next(iter(again.frames(neutral_track(1))))
    (b0, l0), (bp, lp), (bb, lb) = _geometry(neutral), _geometry(posed), _geometry(back)
    assert bp > b0 + 0.03 and lp < l0 - 0.04  # the posed photo: brows up, corners down
    # the neutral frame of the posed photo takes back at least a third of the brows and a quarter of the
    # corners (about half and a third here; the old fit kept both: it
    # explained brows and corners as identity, the neutral frame stayed the posed photo)
    assert bb < bp - 0.33 * (bp - b0), (b0, bp, bb)
    assert lb > lp + 0.25 * (l0 - lp), (l0, lp, lb)


def test_neutral_example_photo_reads_no_brow_or_corner_expression(warp_renderer, builtin_head):
    from emodiffhead.face import photo_expression as pe
    from emodiffhead.face.fit import EXPRESSIVE

    e = warp_renderer.fit.expression
    # the smile is the plain fit's own (a trace here); the brow and frown components only the reading sets
    assert all(abs(e[builtin_head.expression_index(n)]) < 1e-3 for n in pe.READ_COMPONENTS
               if not n.startswith(EXPRESSIVE))
    assert max(e[builtin_head.expression_index(n)] for n in ("mouthSmileLeft", "mouthSmileRight")) < 0.1


def test_a_smiling_photos_neutral_frame_brings_the_mouth_back_to_a_neutral_width(shared_data, builtin_head,
                                                                                 neutral_track):
    # woman_portrait smiles with closed lips (mouth 0.615 IOD wide; the non-smiling shared photos: 0.49-0.53). The
    # plain fit put most of the smile's widening into the identity's mouth width, so the neutral frame kept it
    # (corners driven 0.588 IOD apart); reading the width beyond the neutral range as the smile brings them to the
    # range's upper end (0.56)
    from emodiffhead.face import photo_expression as pe
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.warp_renderer import WarpRenderer

    r = WarpRenderer()
    fit = r.prepare(load_photo(shared_data / "photos" / "woman_portrait.jpg"), builtin_head, size=512)
    L0 = fit.landmarks[:, :2].astype(np.float64)
    iod = np.linalg.norm(L0[263] - L0[33])
    lm = r.frame_landmarks(r.drive(neutral_track(1)).landmarks[0])[:, :2]
    width = float(np.linalg.norm(lm[291] - lm[61]) / iod)
    lift = float(((lm[0, 1] + lm[17, 1]) / 2 - (lm[61, 1] + lm[291, 1]) / 2) / iod)
    assert np.linalg.norm(L0[291] - L0[61]) / iod > 0.6
    assert width < pe.NEUTRAL_RANGES["mouth_width"].high + 0.01, width
    assert -0.01 < lift < 0.03, lift
