"""Image quality metrics (numpy): PSNR and SSIM of uint8 images."""

from __future__ import annotations

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images or stacks (..., H, W, 3) (peak 255)."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def _gauss(x: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(x, (11, 11), sigma, borderType=cv2.BORDER_REFLECT)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5) of uint8 images (H, W, 3) or stacks
    (N, H, W, 3), computed per channel and averaged."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.ndim == 3:
        a, b = a[None], b[None]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for x, y in zip(a, b):
        mx, my = _gauss(x), _gauss(y)
        sxx = _gauss(x * x) - mx * mx
        syy = _gauss(y * y) - my * my
        sxy = _gauss(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        vals.append(m.mean())
    return float(np.mean(vals))
