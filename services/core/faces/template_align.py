"""Chips aligned to the ArcFace 5-point template (112 x 112), what SFace and MobileFaceNet expect.

A least-squares similarity transform (rotation, uniform scale, translation; Umeyama's method) maps a
face's five landmarks onto the template; the chip is the photo warped by it.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from services.core.domain import Point

CHIP_SIZE = 112
# Eye centres (left, right in the chip), nose tip, mouth corners (left, right), in chip pixels.
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                     [70.7299, 92.2041]], dtype=np.float64)


def similarity_transform(source: NDArray[np.float64], target: NDArray[np.float64]) -> NDArray[np.float64]:
    """The 2x3 matrix of the similarity that maps ``source`` points nearest to ``target`` (least squares)."""
    src_mean, dst_mean = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - src_mean, target - dst_mean
    covariance = dst.T @ src / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rotation = u @ sign @ vt
    variance = (src**2).sum() / len(source)
    scale = float((singular * np.diag(sign)).sum() / variance) if variance > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def ordered(points: tuple[Point, ...] | list[Point]) -> NDArray[np.float64]:
    """Five landmarks as an array with the eyes and the mouth corners each left-to-right in the image.

    Detectors disagree on whether "left" means the person's or the viewer's; the template is the viewer's.
    """
    array = np.array([[p.x, p.y] for p in points], dtype=np.float64)
    for a, b in ((0, 1), (3, 4)):
        if array[a, 0] > array[b, 0]:
            array[[a, b]] = array[[b, a]]
    return array


def template_chip(rgb: NDArray[np.uint8], landmarks: tuple[Point, ...] | list[Point]) -> NDArray[np.uint8]:
    matrix = similarity_transform(ordered(landmarks), TEMPLATE)
    chip: NDArray[np.uint8] = cv2.warpAffine(rgb, matrix, (CHIP_SIZE, CHIP_SIZE), flags=cv2.INTER_LINEAR,
                                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))  # type: ignore[assignment]
    return chip
