"""Paper evaluation metrics: affordance IoU ×100 and trajectory DFD, HD, RMSE on a [0, 1000) grid.

- Inputs are NORMALIZED: an ``Affordance`` (center box) or a ``Trajectory`` / a sequence of
  normalized (x, y) points. Trajectory coordinates are multiplied by ``SCALE`` = 1000 first.
- One resampling rule for all three distances: when the two polylines have DIFFERENT point
  counts, both are resampled uniformly by arc length to the larger count (linear interpolation,
  end points kept; a polyline of zero length resamples to copies of its point); equal counts are
  compared as given. ``resampled`` in the result says whether that happened.
- DFD: discrete Fréchet distance with Euclidean point distance.
- HD: symmetric Hausdorff distance, max of the two directed distances between the point sets.
- RMSE: square root of the mean squared Euclidean distance between corresponding points.
- Avg (the paper's table): mean of DFD, HD and RMSE.
- IoU and the Fréchet table are the GRPO reward's own functions (``vla_r1_model.geometry``, which
  ``training.rewards`` uses too): corners clipped to [0, 1], |width| and |height|, IoU 0 when the
  union is empty.
- A sample whose answer could not be used counts as ``FAILURE_IOU`` (0) and ``FAILURE_DISTANCE``
  (1000·√2, the grid's diagonal: the largest distance two normalized points can have) in the
  "all samples" columns (``training.evaluate``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from vla_r1_model.actions import Affordance, Trajectory
from vla_r1_model.geometry import box_corners_normalized, box_iou, discrete_frechet

SCALE = 1000.0
FAILURE_IOU = 0.0
FAILURE_DISTANCE = SCALE * math.sqrt(2.0)

# VLA-R1-3B in the paper (docs/training.md): IoU ×100; DFD, HD, RMSE on the [0, 1000) grid.
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


def resample_pair(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """The protocol's one resampling rule (module docstring): (p, q, resampled?)."""
    if len(p) == len(q):
        return p, q, False
    count = max(len(p), len(q))
    return resample_by_arc_length(p, count), resample_by_arc_length(q, count), True


def rmse(p: np.ndarray, q: np.ndarray) -> float:
    """RMSE of two equally long point sequences, compared by index."""
    if len(p) != len(q):
        raise ValueError("rmse compares equally long sequences: resample_pair them first")
    return float(math.sqrt(np.mean(np.sum((p - q) ** 2, axis=1))))


def trajectory_metrics(pred: Any, gt: Any, scale: float = SCALE) -> dict[str, Any]:
    """DFD, HD, RMSE (and their mean ``avg``) between normalized trajectories, scaled by ``scale``."""
    p, q, resampled = resample_pair(_points(pred) * scale, _points(gt) * scale)
    dfd, hd, error = discrete_frechet(p, q), hausdorff(p, q), rmse(p, q)
    return {"dfd": dfd, "hd": hd, "rmse": error, "avg": (dfd + hd + error) / 3.0, "resampled": resampled}


def _corners(box: Affordance | dict | Sequence[float]) -> tuple[float, float, float, float]:
    if isinstance(box, Affordance):
        box = {"x": box.x, "y": box.y, "width": box.width, "height": box.height}
    if isinstance(box, dict):
        return box_corners_normalized(box)
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1, y1, x2, y2


def box_iou_percent(pred: Affordance | dict | Sequence[float], gt: Affordance | dict | Sequence[float]) -> float:
    """IoU ×100 of two boxes: ``Affordance`` / {"x","y","width","height"} (center, normalized) or
    normalized corners (x1, y1, x2, y2); the reward's IoU."""
    return 100.0 * box_iou(_corners(pred), _corners(gt))


def mean_or_nan(values: Iterable[float | None]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
