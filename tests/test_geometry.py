"""The one IoU and the one Fréchet table (vla_r1_model.geometry): the GRPO reward and the paper
metrics agree on random cases, and both use the shared functions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training import metrics, rewards
from training.metrics import box_iou_percent, trajectory_metrics
from training.rewards import compute_score, oriented_frechet
from vla_r1_model import geometry
from vla_r1_model.actions import Affordance

coordinate = st.floats(-0.3, 1.3, allow_nan=False)
size = st.floats(-0.6, 0.6, allow_nan=False)
boxes = st.fixed_dictionaries({"x": coordinate, "y": coordinate, "width": size, "height": size})
points = st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=8)


def answer(value) -> str:
    return f"<think>look</think> so, the answer is <output>{json.dumps(value)}</output>"


def test_reward_and_metrics_share_one_implementation():
    assert rewards.box_iou is metrics.box_iou is geometry.box_iou
    assert rewards.box_corners_normalized is metrics.box_corners_normalized is geometry.box_corners_normalized
    assert rewards.discrete_frechet_table is geometry.discrete_frechet_table
    assert metrics.discrete_frechet is geometry.discrete_frechet


@settings(max_examples=300, deadline=None)
@given(boxes, boxes)
def test_reward_iou_equals_metric_iou(pred, gt):
    scored = compute_score(answer(pred), answer(gt))
    assert scored["mode"] == "box"
    assert box_iou_percent(pred, gt) == 100.0 * scored["iou"]  # the same arithmetic: bit-identical
    assert 0.0 <= scored["iou"] <= 1.0
    assert -1.0 <= scored["giou"] <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.tuples(st.floats(0.05, 0.95), st.floats(0.05, 0.95), st.floats(0.01, 0.1), st.floats(0.01, 0.1)))
def test_metric_iou_of_an_affordance_equals_the_dict_form(values):
    x, y, w, h = values
    box = {"x": x, "y": y, "width": w, "height": h}
    assert box_iou_percent(Affordance(x, y, w, h), box) == pytest.approx(100.0)
    assert box_iou_percent(Affordance(x, y, w, h), {"x": x + 2 * w, "y": y, "width": w, "height": h}) == 0.0


@settings(max_examples=200, deadline=None)
@given(points, points)
def test_reward_frechet_without_orientation_terms_equals_metric_dfd(pred, gt):
    """The reward's oriented Fréchet with both weights 0 is the plain Euclidean DFD of the metric
    (equal point counts: the metric does not resample; scale 1: the reward's unit square)."""
    count = min(len(pred), len(gt))
    pred, gt = pred[:count], gt[:count]
    plain = oriented_frechet(gt, pred, lambda_angle=0.0, lambda_ratio=0.0)
    metric = trajectory_metrics(pred, gt, scale=1.0)
    assert metric["resampled"] is False
    assert metric["dfd"] == pytest.approx(plain, abs=1e-12)
    assert geometry.discrete_frechet(np.asarray(pred), np.asarray(gt)) == pytest.approx(plain, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(points, points)
def test_reward_frechet_is_bounded_below_by_the_plain_distance(pred, gt):
    """The orientation and length terms only add cost: the reward's D is at least the metric's DFD."""
    scored = compute_score(answer([list(p) for p in pred]), answer([list(p) for p in gt]))
    assert scored["mode"] == "trajectory"
    plain = geometry.discrete_frechet(np.asarray(gt), np.asarray(pred))
    assert scored["frechet"] >= plain - 1e-12
    assert scored["frechet_norm"] == min(1.0, scored["frechet"] / rewards.FRECHET_NORMALIZER)


def test_frechet_table_refuses_empty_sequences():
    with pytest.raises(ValueError, match="empty trajectory"):
        geometry.discrete_frechet_table(0, 3, lambda i, j: 0.0)


def test_box_helpers_on_hand_worked_cases():
    assert geometry.box_corners_normalized({"x": 0.5, "y": 0.5, "width": -0.2, "height": 0.4}) == pytest.approx(
        (0.4, 0.3, 0.6, 0.7)
    )
    assert geometry.box_corners_normalized({"x": 0.0, "y": 1.0, "width": 0.4, "height": 0.4}) == pytest.approx(
        (0.0, 0.8, 0.2, 1.0)
    )
    a, b = (0.0, 0.0, 0.5, 0.5), (0.25, 0.25, 0.75, 0.75)
    assert geometry.box_iou(a, b) == pytest.approx(0.0625 / (0.25 + 0.25 - 0.0625))
    giou, iou = geometry.box_giou((0.0, 0.0, 0.1, 0.1), (0.9, 0.9, 1.0, 1.0))
    assert iou == 0.0 and giou == pytest.approx(0.02 / 1.0 - 1.0)
    assert geometry.box_iou((0.3, 0.3, 0.3, 0.5), (0.3, 0.3, 0.3, 0.5)) == 0.0  # empty union
    assert math.isclose(
        geometry.discrete_frechet(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 1.0]])), math.sqrt(2.0)
    )
