"""Paper evaluation metrics: affordance IoU ×100 and trajectory DFD, HD, RMSE on a [0, 1000) grid.

- Inputs are NORMALIZED: an ``Affordance`` (center box) or a ``Trajectory`` / a sequence of
  normalized (x, y) points. Trajectory coordinates are multiplied by ``SCALE`` = 1000 first.
- DFD: discrete Fréchet distance with Euclidean point distance (no resampling).
- HD: symmetric Hausdorff distance, max of the two directed distances between the point sets.
- RMSE: square root of the mean squared Euclidean distance between corresponding points.
  Equal lengths: points correspond by index. DIFFERENT lengths: both polylines are resampled
  uniformly by arc length to the larger of the two point counts (linear interpolation, end points
  kept) and then compared by index; a polyline of zero length resamples to copies of its point.
  ``rmse_resampled`` in the result says whether that happened.
- Avg (the paper's table): mean of DFD, HD and RMSE.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from vla_r1_model.actions import Affordance, Trajectory

SCALE = 1000.0

# VLA-R1-3B in the paper (ARCHITECTURE.md): IoU ×100; DFD, HD, RMSE on the [0, 1000) grid.
PAPER_RESULTS: dict[str, dict[str, float]] = {
    "in_domain": {"iou": 36.51, "dfd": 106.20, "hd": 97.90, "rmse": 71.12},
    "out_of_domain": {"iou": 33.96, "dfd": 114.30, "hd": 98.43, "rmse": 68.97},
}
for _row in PAPER_RESULTS.values():
    _row["avg"] = (_row["dfd"] + _row["hd"] + _row["rmse"]) / 3.0


def _points(value: Trajectory | Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    array = value.as_array() if isinstance(value, Trajectory) else np.asarray(value, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise ValueError(f"a trajectory is a non-empty (N, 2) array of points, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("trajectory points must be finite")
    return array


def discrete_frechet(p: np.ndarray, q: np.ndarray) -> float:
    """Discrete Fréchet distance between point sequences (Euclidean), O(len(p)·len(q))."""
    d = np.linalg.norm(p[:, None, :] - q[None, :, :], axis=-1)
    m, n = d.shape
    table = np.empty((m, n))
    table[0, 0] = d[0, 0]
    for j in range(1, n):
        table[0, j] = max(table[0, j - 1], d[0, j])
    for i in range(1, m):
        table[i, 0] = max(table[i - 1, 0], d[i, 0])
        for j in range(1, n):
            table[i, j] = max(min(table[i - 1, j], table[i - 1, j - 1], table[i, j - 1]), d[i, j])
    return float(table[m - 1, n - 1])


def hausdorff(p: np.ndarray, q: np.ndarray) -> float:
    """Symmetric Hausdorff distance between the two point sets."""
    d = np.linalg.norm(p[:, None, :] - q[None, :, :], axis=-1)
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


def resample_by_arc_length(points: np.ndarray, count: int) -> np.ndarray:
    """``count`` points spaced uniformly along the polyline's length (first and last kept)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    segment = np.linalg.norm(np.diff(points, axis=0), axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(segment)])
    total = cumulative[-1]
    if total <= 0.0:
        return np.repeat(points[:1], count, axis=0)
    targets = np.linspace(0.0, total, count)
    return np.stack([np.interp(targets, cumulative, points[:, k]) for k in range(2)], axis=1)


def rmse(p: np.ndarray, q: np.ndarray) -> tuple[float, bool]:
    """(RMSE, resampled?) — see the module docstring for different lengths."""
    resampled = len(p) != len(q)
    if resampled:
        count = max(len(p), len(q))
        p, q = resample_by_arc_length(p, count), resample_by_arc_length(q, count)
    return float(math.sqrt(np.mean(np.sum((p - q) ** 2, axis=1)))), resampled


def trajectory_metrics(pred: Any, gt: Any, scale: float = SCALE) -> dict[str, Any]:
    """DFD, HD, RMSE (and their mean ``avg``) between normalized trajectories, scaled by ``scale``."""
    p, q = _points(pred) * scale, _points(gt) * scale
    dfd, hd = discrete_frechet(p, q), hausdorff(p, q)
    error, resampled = rmse(p, q)
    return {"dfd": dfd, "hd": hd, "rmse": error, "avg": (dfd + hd + error) / 3.0, "rmse_resampled": resampled}


def _corners(box: Affordance | Sequence[float]) -> tuple[float, float, float, float]:
    if isinstance(box, Affordance):
        return box.corners_normalized()
    if isinstance(box, dict):
        return Affordance(box["x"], box["y"], box["width"], box["height"]).corners_normalized()
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1, y1, x2, y2


def box_iou_percent(pred: Affordance | dict | Sequence[float], gt: Affordance | dict | Sequence[float]) -> float:
    """IoU ×100 of two boxes: ``Affordance`` / {"x","y","width","height"} (center, normalized) or
    normalized corners (x1, y1, x2, y2)."""
    a, b = _corners(pred), _corners(gt)
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return 100.0 * inter / union if union > 0 else 0.0


def mean_or_nan(values: Iterable[float]) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")
