"""Cameras that look at the head: world (head space) points -> pixel coordinates.

World conventions (as :mod:`emodiffhead.head.model`): metres, y up, the face looks along +z, x to the
subject's left. Cameras use OpenCV's camera frame (x right, y down, z forward).

Image conventions: an image is (H, W); pixel (row r, column c) covers the square [c, c+1) x [r, r+1) of
continuous pixel coordinates and is sampled at its centre (c + 0.5, r + 0.5). Projected points are
``(x, y, depth)`` in those coordinates, x to the right, y down; a smaller depth is closer to the camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FRONT_ROTATION", "Camera", "rotation_yaw_pitch"]

#: World-to-camera rotation of a camera in front of the face looking back at it (along -z).
FRONT_ROTATION = np.diag([1.0, -1.0, -1.0]).astype(np.float64)


def rotation_yaw_pitch(yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    """World-to-camera rotation (3, 3) of a camera orbiting the head.

    yaw_deg: the camera orbits about the world y axis; positive moves it toward the subject's left (+x),
    90 shows the subject's left profile. pitch_deg: positive looks from above.
    """
    a, b = np.deg2rad(yaw_deg), np.deg2rad(pitch_deg)
    # camera-to-world orientation: start at the front camera and orbit about world y then camera x.
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    # world->camera = FRONT * (ry @ rx)^T  (rotate the world opposite to the orbit)
    return FRONT_ROTATION @ (ry @ rx.T).T


@dataclass(frozen=True)
class Camera:
    """A pinhole or orthographic camera.

    rotation: (3, 3) world-to-camera rotation (camera frame: x right, y down, z forward).
    translation: (3,) world-to-camera translation in metres (p_cam = R p + t).
    focal: pixels per unit: focal length in pixels (perspective) or pixels per metre (orthographic).
    principal: (2,) principal point (cx, cy) in pixel coordinates (image centre is (W/2, H/2)).
    orthographic: True for a parallel projection (depth is still z_cam).
    """

    rotation: np.ndarray = field(default_factory=lambda: FRONT_ROTATION.copy())
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    focal: float = 1.0
    principal: tuple[float, float] = (0.0, 0.0)
    orthographic: bool = True

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 3) camera-frame points (float64)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        return p @ np.asarray(self.rotation, np.float64).T + np.asarray(self.translation, np.float64)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 3) ``(x, y, depth)``: pixel coordinates and camera-frame z (metres)."""
        pc = self.to_camera(points)
        z = pc[:, 2]
        if self.orthographic:
            xy = pc[:, :2] * self.focal
        else:
            xy = pc[:, :2] * (self.focal / np.where(np.abs(z) < 1e-9, 1e-9, z))[:, None]
        xy = xy + np.asarray(self.principal, np.float64)
        return np.concatenate([xy, z[:, None]], axis=1)

    @classmethod
    def framing(
        cls,
        vertices: np.ndarray,
        size: tuple[int, int],
        yaw_deg: float = 0.0,
        pitch_deg: float = 0.0,
        orthographic: bool = True,
        margin: float = 0.08,
        fov_deg: float = 20.0,
    ) -> "Camera":
        """A camera that looks at the centre of ``vertices`` (N, 3) and fits them in ``size`` (H, W).

        yaw_deg 0 is the front view; 90 the subject's left profile, -90 the right profile.
        margin: fraction of the image left free on each side. fov_deg: vertical field of view (perspective).
        """
        H, W = size
        R = rotation_yaw_pitch(yaw_deg, pitch_deg)
        v = np.asarray(vertices, np.float64).reshape(-1, 3)
        lo, hi = v.min(0), v.max(0)
        center = (lo + hi) / 2
        pc = (v - center) @ R.T
        half = np.abs(pc[:, :2]).max(0)  # (half width, half height) in metres
        radius = float(np.linalg.norm(hi - lo) / 2)
        usable = 1.0 - 2 * margin
        if orthographic:
            focal = float(min(W * usable / 2 / max(half[0], 1e-9), H * usable / 2 / max(half[1], 1e-9)))
            dist = 2 * radius + 1.0
        else:
            focal = float(H / 2 / np.tan(np.deg2rad(fov_deg) / 2))
            # distance at which every point (at its own depth) projects inside the usable frame
            lim = np.array([W * usable / 2, H * usable / 2]) / focal  # tan of the half-angles
            dist = float(np.max(np.abs(pc[:, :2]) / lim - pc[:, 2:3]))
        t = -R @ center + np.array([0.0, 0.0, dist])
        return cls(rotation=R, translation=t, focal=focal, principal=(W / 2, H / 2), orthographic=orthographic)
