"""Paper metrics against independent computations (scipy Hausdorff, brute-force Fréchet)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import directed_hausdorff

from training.metrics import PAPER_RESULTS, box_iou_percent, resample_by_arc_length, resample_pair, trajectory_metrics
from vla_r1_model.actions import Affordance, Trajectory


def brute_force_dfd(p, q):
    """Minimum over every monotone coupling of the largest matched distance, by full enumeration."""
    best = math.inf

    def walk(i, j, worst):
        nonlocal best
        worst = max(worst, math.dist(p[i], q[j]))
        if (i, j) == (len(p) - 1, len(q) - 1):
            best = min(best, worst)
            return
        if i + 1 < len(p):
            walk(i + 1, j, worst)
        if j + 1 < len(q):
            walk(i, j + 1, worst)
        if i + 1 < len(p) and j + 1 < len(q):
            walk(i + 1, j + 1, worst)

    walk(0, 0, 0.0)
    return best


points = st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=2, max_size=5)


@settings(max_examples=60, deadline=None)
@given(points, points)
def test_dfd_and_hd_match_independent_computations(pred, gt):
    result = trajectory_metrics(pred, gt)
    p, q, _ = resample_pair(np.asarray(pred) * 1000, np.asarray(gt) * 1000)  # the protocol's one resampling rule
    assert result["dfd"] == pytest.approx(brute_force_dfd(p.tolist(), q.tolist()), abs=1e-9)
    hd = max(directed_hausdorff(p, q)[0], directed_hausdorff(q, p)[0])
    assert result["hd"] == pytest.approx(hd, abs=1e-9)
    assert result["hd"] <= result["dfd"] + 1e-9  # Hausdorff never exceeds Fréchet
    assert result["avg"] == pytest.approx((result["dfd"] + result["hd"] + result["rmse"]) / 3)


def test_rmse_equal_lengths_by_index():
    pred = [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]
    gt = [[0.1, 0.1], [0.2, 0.26], [0.38, 0.3]]
    result = trajectory_metrics(pred, gt)
    # squared distances on the 1000 grid: 0, 60², 80² -> sqrt((3600 + 6400) / 3)
    assert result["rmse"] == pytest.approx(math.sqrt(10000 / 3), abs=1e-9)
    assert result["resampled"] is False


def test_rmse_different_lengths_resamples_by_arc_length():
    gt = [[0.0, 0.0], [1.0, 0.0]]
    same_path = [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]]
    result = trajectory_metrics(same_path, gt)
    assert result["resampled"] is True and result["rmse"] == pytest.approx(0.0, abs=1e-9)
    # DFD and HD use the same resampled points as RMSE: the same path is at distance 0 in all three
    assert result["dfd"] == pytest.approx(0.0, abs=1e-9) and result["hd"] == pytest.approx(0.0, abs=1e-9)
    shifted = [[0.0, 0.1], [0.2, 0.1], [0.7, 0.1], [1.0, 0.1]]
    assert trajectory_metrics(shifted, gt)["rmse"] == pytest.approx(100.0, abs=1e-9)
    # index pairing would not give 0 here: points bunched at the start of the same segment
    bunched = [[0.0, 0.0], [0.1, 0.0], [1.0, 0.0]]
    assert trajectory_metrics(bunched, gt)["rmse"] == pytest.approx(0.0, abs=1e-9)


def test_resample_keeps_ends_and_handles_zero_length():
    out = resample_by_arc_length(np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 10.0]]), 5)
    assert np.allclose(out[0], [0, 0]) and np.allclose(out[-1], [3, 10])
    # total length 11: samples every 2.75 along the path
    assert np.allclose(out, [[0, 0], [1.65, 2.2], [3, 4.5], [3, 7.25], [3, 10]])
    still = resample_by_arc_length(np.array([[2.0, 2.0], [2.0, 2.0]]), 3)
    assert still.shape == (3, 2) and np.allclose(still, 2.0)


def test_trajectory_types_and_bad_input():
    t = Trajectory(((0.1, 0.2), (0.3, 0.4)))
    assert trajectory_metrics(t, t) == {"dfd": 0.0, "hd": 0.0, "rmse": 0.0, "avg": 0.0, "resampled": False}
    with pytest.raises(ValueError, match="non-empty"):
        trajectory_metrics([], t)
    with pytest.raises(ValueError, match="finite"):
        trajectory_metrics([[float("nan"), 0.0], [0, 0]], t)


def test_box_iou_percent():
    a = Affordance(0.5, 0.5, 0.2, 0.2)
    assert box_iou_percent(a, a) == pytest.approx(100.0)
    assert box_iou_percent(a, {"x": 0.6, "y": 0.5, "width": 0.2, "height": 0.2}) == pytest.approx(100 / 3)
    assert box_iou_percent((0.0, 0.0, 0.1, 0.1), (0.5, 0.5, 0.6, 0.6)) == 0.0
    assert box_iou_percent((0.2, 0.2, 0.2, 0.2), (0.2, 0.2, 0.2, 0.2)) == 0.0  # empty boxes


def test_paper_averages():
    assert PAPER_RESULTS["in_domain"]["avg"] == pytest.approx((106.20 + 97.90 + 71.12) / 3)
    assert PAPER_RESULTS["out_of_domain"]["iou"] == 33.96
