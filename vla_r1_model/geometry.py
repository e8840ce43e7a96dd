"""The one box IoU and the one discrete Fréchet table of the project, on normalized coordinates.

The GRPO reward (``training.rewards``) and the paper metrics (``training.metrics``) both use these,
so a metric and a reward can never disagree about what an IoU or a Fréchet coupling is. They sit in
the lowest package so that any package may import them (docs/architecture.md). The arithmetic is
the reference reward's, operation for operation (docs/training.md): Python floats, and min/max in
the reference's argument order (which decides the result when a value is NaN).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

EPS = 1e-12

Corners = tuple[float, float, float, float]  # (x1, y1, x2, y2), normalized


def clip01(value: float) -> float:
    if value < 0.0:
        return 0.0
    if value > 1.0:
        return 1.0
    return value


def box_corners_normalized(box: dict) -> Corners:
    """CENTER x, y, width, height -> (x1, y1, x2, y2), each clipped to [0, 1]; |width|, |height|."""
    cx, cy = float(box["x"]), float(box["y"])
    half_w, half_h = abs(float(box["width"])) / 2.0, abs(float(box["height"])) / 2.0
    return clip01(cx - half_w), clip01(cy - half_h), clip01(cx + half_w), clip01(cy + half_h)


def _area(x1: float, y1: float, x2: float, y2: float) -> float:
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def _intersection(a: Sequence[float], b: Sequence[float]) -> float:
    return _area(max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two corner boxes; 0 when area(a) + area(b) − intersection ≤ 0."""
    inter = _intersection(a, b)
    denominator = _area(*a) + _area(*b) - inter
    if denominator <= 0:
        return 0.0
    return inter / denominator


def box_giou(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(GIoU clamped to [−1, 1], IoU) of two corner boxes."""
    iou = box_iou(a, b)
    enclosing = _area(min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])) or EPS
    union = max(EPS, _area(*a) + _area(*b) - _intersection(a, b))
    giou = iou - (enclosing - union) / enclosing
    return max(-1.0, min(1.0, giou)), iou


def discrete_frechet_table(m: int, n: int, cost: Callable[[int, int], float]) -> float:
    """Discrete Fréchet coupling value with pair cost ``cost(i, j)``, filled row by row (iteratively:
    no recursion limit on long trajectories)."""
    if m == 0 or n == 0:
        raise ValueError("discrete Fréchet distance of an empty trajectory")
    previous: list[float] = []
    for i in range(m):
        row: list[float] = []
        for j in range(n):
            c = cost(i, j)
            if i == 0 and j == 0:
                value = c
            elif j == 0:
                value = max(previous[0], c)
            elif i == 0:
                value = max(row[j - 1], c)
            else:
                value = max(min(previous[j], previous[j - 1], row[j - 1]), c)
            row.append(value)
        previous = row
    return previous[n - 1]


def discrete_frechet(p: np.ndarray, q: np.ndarray) -> float:
    """Discrete Fréchet distance between (N, 2) and (M, 2) point sequences with Euclidean pair cost."""
    d = np.linalg.norm(
        np.asarray(p, dtype=np.float64)[:, None, :] - np.asarray(q, dtype=np.float64)[None, :, :], axis=-1
    )
    return float(discrete_frechet_table(len(p), len(q), lambda i, j: float(d[i, j])))
