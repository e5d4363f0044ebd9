"""Phones -> visemes, and each viseme's mouth target in the canonical ARKit space.

15 classes (the Oculus/MPEG-4-style set): sil, PP, FF, TH, DD, kk, CH, SS, nn, RR, aa, E, I, O, U.
Targets are ARKit blendshape weights (:data:`emodiffhead.facs.ARKIT_BLENDSHAPES`); ``jawOpen`` carries
the mouth opening (mapped to the jaw joint or a jaw blendshape by :mod:`emodiffhead.animate.retarget`).

Lip heights follow the order lip phonetics gives the vowels (each target alone on the built-in head): open
/a/ 21.5 mm > /e/ 14.4, half-open rounded /o/ 15.8 > close spread /i/ 9.7 (about half /a/) > protruded /r/
5.2 > tightly rounded /u w/ 3.5. Rounding narrows the lips, so the rounded visemes carry pucker and little
``mouthFunnel`` (which opens the lips vertically on ARKit heads).

Each viseme also has a *dominance* (how strongly it holds its target against its neighbours,
Cohen-Massaro) for the jaw and for the lips separately, and a *constraint* (hard rule applied after
blending): "closed" (bilabials), "labiodental" (f, v) or "rounded" (rounded vowels and w).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..facs import ARKIT_INDEX, NUM_ARKIT


@dataclass(frozen=True)
class Viseme:
    """A viseme: ARKit ``target`` weights, dominance of jaw/lips (0..1), spread (s) and a hard constraint."""

    name: str
    target: dict[str, float]
    jaw_dominance: float
    lip_dominance: float
    spread_s: float = 0.07
    constraint: str = ""
    phones: tuple[str, ...] = field(default_factory=tuple)

    def vector(self) -> np.ndarray:
        """(52,) float32 ARKit target."""
        v = np.zeros(NUM_ARKIT, np.float32)
        for k, w in self.target.items():
            v[ARKIT_INDEX[k]] = w
        return v


def _lr(name: str, w: float) -> dict[str, float]:
    return {f"{name}Left": w, f"{name}Right": w}


VISEMES: tuple[Viseme, ...] = (
    Viseme("sil", {}, 0.6, 0.8, 0.12, "", ("sil",)),
    Viseme("PP", {"mouthPressLeft": 0.25, "mouthPressRight": 0.25}, 1.0, 1.0, 0.05, "closed", ("p", "b", "m")),
    Viseme("FF", {"jawOpen": 0.06, "mouthRollLower": 0.55, **_lr("mouthUpperUp", 0.25), **_lr("mouthPress", 0.1)},
           0.9, 1.0, 0.05, "labiodental", ("f", "v")),
    Viseme("TH", {"jawOpen": 0.16, "tongueOut": 0.25, **_lr("mouthUpperUp", 0.1)}, 0.7, 0.5, 0.06, "", ("th", "dh")),
    Viseme("DD", {"jawOpen": 0.16, **_lr("mouthStretch", 0.1)}, 0.6, 0.3, 0.06, "", ("t", "d", "l")),
    Viseme("kk", {"jawOpen": 0.22}, 0.5, 0.2, 0.06, "", ("k", "g", "hh")),
    Viseme("CH", {"jawOpen": 0.12, "mouthFunnel": 0.45, "mouthPucker": 0.25, **_lr("mouthUpperUp", 0.15)},
           0.7, 0.8, 0.07, "", ("ch", "jh", "sh", "zh")),
    Viseme("SS", {"jawOpen": 0.07, **_lr("mouthStretch", 0.25)}, 0.8, 0.4, 0.05, "", ("s", "z")),
    Viseme("nn", {"jawOpen": 0.14}, 0.5, 0.25, 0.06, "", ("n", "ng", "y")),
    Viseme("RR", {"jawOpen": 0.12, "mouthPucker": 0.45, "mouthFunnel": 0.1}, 0.6, 0.6, 0.07, "", ("r", "er")),
    Viseme("aa", {"jawOpen": 0.62, **_lr("mouthLowerDown", 0.2)}, 0.8, 0.5, 0.08, "", ("aa", "ae", "ah", "ay", "aw")),
    Viseme("E", {"jawOpen": 0.4, **_lr("mouthStretch", 0.3), **_lr("mouthLowerDown", 0.1)}, 0.7, 0.5, 0.08, "",
           ("eh", "ey")),
    Viseme("I", {"jawOpen": 0.28, **_lr("mouthStretch", 0.45), **_lr("mouthSmile", 0.1)}, 0.6, 0.5, 0.08, "",
           ("iy", "ih")),
    Viseme("O", {"jawOpen": 0.35, "mouthFunnel": 0.3, "mouthPucker": 0.3}, 0.7, 0.8, 0.09, "rounded",
           ("ao", "ow", "oy")),
    Viseme("U", {"jawOpen": 0.1, "mouthPucker": 0.85, "mouthFunnel": 0.1}, 0.6, 0.9, 0.1, "rounded",
           ("uw", "uh", "w")),
)
_BY_PHONE: dict[str, Viseme] = {p: v for v in VISEMES for p in v.phones}
_BY_NAME: dict[str, Viseme] = {v.name: v for v in VISEMES}


def _phones_with(constraint: str) -> tuple[str, ...]:
    return tuple(p for v in VISEMES if v.constraint == constraint for p in v.phones)


#: Phones of each hard constraint (coarticulation.py), read off VISEMES: p, b, m / f, v / rounded vowels and w.
BILABIALS = _phones_with("closed")
LABIODENTALS = _phones_with("labiodental")
ROUNDED = _phones_with("rounded")
#: ARPAbet vowels (their jaw target scales with prominence) and the open ones among them (tests, benchmarks).
VOWELS = ("aa", "ae", "ah", "ao", "aw", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh", "uw")
OPEN_VOWELS = ("aa", "ae", "ah", "ao", "aw", "ay")


def viseme_for_phone(label: str) -> Viseme:
    """The viseme of an ARPAbet phone (unknown labels -> "nn", a neutral, slightly open mouth)."""
    return _BY_PHONE.get(label, _BY_NAME["sil"] if label == "sil" else _BY_NAME["nn"])


def viseme(name: str) -> Viseme:
    """Viseme by class name (e.g. ``"PP"``)."""
    return _BY_NAME[name]
