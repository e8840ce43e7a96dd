"""The GRPO reward on hand-worked cases (the reference verl definition, docs/training.md; values to 1e-9)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.rewards import (
    FRECHET_NORMALIZER,
    compute_score,
    format_reward,
    oriented_frechet,
    task_reward,
    vla_r1_reward,
)

TOL = 1e-9
NORMALIZER = math.sqrt(2) + 0.25 * math.pi + 0.10 * math.log(10)


def answer(value, think: bool = True) -> str:
    thought = "<think>the mug is left of the plate</think> " if think else ""
    return f"{thought}so, the answer is <output>{json.dumps(value)}</output>"


def box(x, y, w, h):
    return {"x": x, "y": y, "width": w, "height": h}


def score(pred, gt, **kw):
    return compute_score(answer(pred, **kw), answer(gt))


def test_normalizer_constant():
    assert FRECHET_NORMALIZER == pytest.approx(NORMALIZER, abs=1e-15)
    assert FRECHET_NORMALIZER == pytest.approx(2.4298702350699477, abs=1e-12)


# ----------------------------------------------------------------------------- boxes
def test_identical_box_scores_one():
    result = score(box(0.3, 0.4, 0.2, 0.1), box(0.3, 0.4, 0.2, 0.1))
    assert result["score"] == pytest.approx(1.0, abs=TOL)
    assert result["format"] == 1.0 and result["task"] == pytest.approx(1.0, abs=TOL)
    assert result["iou"] == pytest.approx(1.0, abs=TOL) and result["mode"] == "box"
    assert math.isnan(result["frechet_norm"])


def test_overlapping_boxes_known_giou():
    # corners [.4,.6]x[.4,.6] and [.5,.7]x[.4,.6]: I = .02, U = .06, C = .06 -> IoU = GIoU = 1/3
    result = score(box(0.5, 0.5, 0.2, 0.2), box(0.6, 0.5, 0.2, 0.2))
    assert result["iou"] == pytest.approx(1 / 3, abs=TOL)
    assert result["giou"] == pytest.approx(1 / 3, abs=TOL)
    assert result["task"] == pytest.approx(2 / 3, abs=TOL)
    assert result["score"] == pytest.approx(0.9 * 2 / 3 + 0.1, abs=TOL)


def test_disjoint_boxes_negative_giou():
    # [0,.2]^2 and [.8,1]^2: IoU 0, C = 1, U = .08 -> GIoU = -.92, task = .04
    result = score(box(0.1, 0.1, 0.2, 0.2), box(0.9, 0.9, 0.2, 0.2))
    assert result["iou"] == 0.0
    assert result["giou"] == pytest.approx(-0.92, abs=TOL)
    assert result["score"] == pytest.approx(0.9 * 0.04 + 0.1, abs=TOL)


def test_box_corners_clipped_and_negative_sizes_absolute():
    # predicted center (.05,.5) w=-.2 h=.2 -> corners clipped to [0,.15]x[.4,.6]; gt [0,.1]x[.4,.6]
    result = score(box(0.05, 0.5, -0.2, 0.2), box(0.05, 0.5, 0.1, 0.2))
    # I = .1*.2 = .02, A1 = .15*.2 = .03, A2 = .02 -> IoU = .02/.03; C = .03 = U -> GIoU = IoU
    assert result["iou"] == pytest.approx(2 / 3, abs=TOL)
    assert result["task"] == pytest.approx((2 / 3 + 1) / 2, abs=TOL)


def test_zero_area_boxes_use_epsilons():
    # identical degenerate boxes: IoU denominator 0 -> IoU 0; C = 0 -> 1e-12; U = 1e-12 -> GIoU 0
    result = score(box(0.5, 0.5, 0.0, 0.0), box(0.5, 0.5, 0.0, 0.0))
    assert result["iou"] == 0.0 and result["giou"] == 0.0
    assert result["score"] == pytest.approx(0.9 * 0.5 + 0.1, abs=TOL)


def test_numbers_converted_like_float():
    # strings and booleans go through float() as in the reference
    result = score({"x": "0.3", "y": 0.4, "width": 0.2, "height": True}, box(0.3, 0.4, 0.2, 1.0))
    assert result["score"] == pytest.approx(1.0, abs=TOL)
    bad = score({"x": None, "y": 0.4, "width": 0.2, "height": 0.1}, box(0.3, 0.4, 0.2, 0.1))
    assert bad["task"] == 0.0 and bad["format"] == 1.0 and bad["score"] == pytest.approx(0.1, abs=TOL)


def test_nan_coordinate_follows_reference_min_max_order():
    # x = NaN: max(NaN, .) keeps NaN, areas with NaN become 0 -> IoU 0, C -> 1e-12, U = .04,
    # GIoU = 0 - (1e-12 - .04)/1e-12 clamps to 1: the reference's (odd) full score.
    text = '<think>t</think><output>{"x": NaN, "y": 0.5, "width": 0.2, "height": 0.2}</output>'
    result = compute_score(text, answer(box(0.5, 0.5, 0.2, 0.2)))
    assert result["iou"] == 0.0 and result["giou"] == 1.0 and result["score"] == pytest.approx(1.0, abs=TOL)


# ----------------------------------------------------------------------------- trajectories
def test_identical_trajectory_scores_one():
    points = [[0.1, 0.2], [0.3, 0.25], [0.5, 0.5], [0.52, 0.8]]
    result = score(points, points)
    assert result["mode"] == "trajectory"
    assert result["frechet"] == pytest.approx(0.0, abs=TOL)
    assert result["score"] == pytest.approx(1.0, abs=TOL)
    assert math.isnan(result["iou"])


@pytest.mark.parametrize(
    "pred, gt, distance",
    [
        # translated copy: same tangents and lengths, every pair .3 apart
        ([[0, 0.3], [1, 0.3]], [[0, 0], [1, 0]], 0.3),
        # perpendicular: angle pi/2 at both ends, end points sqrt(.5) apart
        ([[0, 0], [0, 0.5]], [[0, 0], [0.5, 0]], math.sqrt(0.5) + 0.25 * math.pi / 2),
        # same direction, half the length: |ln 2| at every pair
        ([[0, 0], [0.4, 0]], [[0, 0], [0.2, 0]], 0.2 + 0.1 * math.log(2)),
        # 3 points against 2 (different lengths, no resampling): the middle point costs .1 + .1 ln 2
        ([[0, 0], [0.1, 0], [0.2, 0]], [[0, 0], [0.2, 0]], 0.1 + 0.1 * math.log(2)),
        # a U-turn: the middle tangent's sum vanishes -> incoming direction (1, 0) is kept
        ([[0, 0], [0.5, 0], [0, 0]], [[0, 0], [0.5, 0], [0, 0]], 0.0),
        # out-of-range points are clipped to [0, 1] before scoring
        ([[-0.5, 0.2], [1.7, 0.2]], [[0, 0.2], [1, 0.2]], 0.0),
        # both trajectories a repeated point: zero tangents (angle 0) and zero lengths (ln 1)
        ([[0.5, 0.5], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]], 0.0),
    ],
)
def test_known_frechet_values(pred, gt, distance):
    result = score(pred, gt)
    assert result["frechet"] == pytest.approx(distance, abs=TOL)
    norm = min(1.0, distance / NORMALIZER)
    assert result["frechet_norm"] == pytest.approx(norm, abs=TOL)
    assert result["score"] == pytest.approx(0.9 * (1 - norm) + 0.1, abs=TOL)


def test_zero_length_against_real_segment_saturates():
    # lengths 0 vs .5: |ln((.5 + 1e-12) / 1e-12)| ~ 26.9 -> normalized distance capped at 1
    result = score([[0, 0], [0, 0]], [[0, 0], [0.5, 0]])
    assert result["frechet"] > 2.6
    assert result["frechet_norm"] == 1.0 and result["task"] == 0.0
    assert result["score"] == pytest.approx(0.1, abs=TOL)


def test_single_point_trajectory():
    # one point each: tangent (0, 0), length 0 on both sides -> cost = distance
    result = score([[0.2, 0.2]], [[0.5, 0.6]])
    assert result["frechet"] == pytest.approx(0.5, abs=TOL)


def test_empty_trajectory_scores_format_only():
    result = score([], [[0, 0], [0.5, 0.5]])
    assert result["format"] == 1.0 and result["task"] == 0.0
    assert result["score"] == pytest.approx(0.1, abs=TOL)


def brute_force_frechet(cost, m, n):
    """Minimum over every monotone coupling (staircase path) of the maximum pair cost."""
    best = math.inf
    steps = [(1, 0), (0, 1), (1, 1)]

    def walk(i, j, worst):
        nonlocal best
        worst = max(worst, cost(i, j))
        if worst >= best:
            return
        if (i, j) == (m - 1, n - 1):
            best = worst
            return
        for di, dj in steps:
            if i + di < m and j + dj < n:
                walk(i + di, j + dj, worst)

    walk(0, 0, -math.inf)
    return best


points_strategy = st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None)
@given(points_strategy, points_strategy)
def test_frechet_table_matches_brute_force(p, q):
    # pair cost = plain Euclidean here (lambda = 0) to check the dynamic programme itself
    value = oriented_frechet(p, q, lambda_angle=0.0, lambda_ratio=0.0)
    expected = brute_force_frechet(lambda i, j: math.dist(p[i], q[j]), len(p), len(q))
    assert value == pytest.approx(expected, abs=1e-12)


def test_long_trajectories_do_not_overflow_the_stack():
    points = [[i / 2000, 0.5] for i in range(1200)]
    assert score(points, points)["score"] == pytest.approx(1.0, abs=TOL)


# ----------------------------------------------------------------------------- format and mismatches
def test_format_only_answers():
    gt = answer(box(0.5, 0.5, 0.2, 0.2))
    # valid JSON that is neither a box nor a trajectory: format 1, task 0
    assert compute_score('<think>hm</think><output>{"a": 1}</output>', gt)["score"] == pytest.approx(0.1, abs=TOL)
    assert compute_score("<think>hm</think><output>42</output>", gt)["score"] == pytest.approx(0.1, abs=TOL)
    # no think block: format 0 even with a perfect box
    perfect = score(box(0.5, 0.5, 0.2, 0.2), box(0.5, 0.5, 0.2, 0.2), think=False)
    assert perfect["format"] == 0.0 and perfect["score"] == pytest.approx(0.9, abs=TOL)


@pytest.mark.parametrize(
    "completion",
    [
        "",
        "<think>no answer</think>",
        "<think>t</think><output>{'x': 0.5}</output>",  # not JSON
        '<think>t</think><output>{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}',  # never closed
        '<think>t</think><output>```json\n{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}\n```</output>',
        "<think>t</think><output>null</output>",  # the reference's "no answer" marker
        "<think>t</think><output>  </output>",
    ],
)
def test_malformed_answers_score_zero(completion):
    result = compute_score(completion, answer(box(0.5, 0.5, 0.2, 0.2)))
    assert result == {**result, "score": 0.0, "format": 0.0, "task": 0.0}


def test_mismatched_types_score_format_only():
    traj_vs_box = score([[0.1, 0.1], [0.5, 0.5]], box(0.5, 0.5, 0.2, 0.2))
    box_vs_traj = score(box(0.5, 0.5, 0.2, 0.2), [[0.1, 0.1], [0.5, 0.5]])
    for result in (traj_vs_box, box_vs_traj):
        assert result["mode"] == "none" and result["task"] == 0.0
        assert result["score"] == pytest.approx(0.1, abs=TOL)
    # an unparseable ground truth also gives task 0
    assert compute_score(answer(box(0.5, 0.5, 0.2, 0.2)), "no output here")["score"] == pytest.approx(0.1, abs=TOL)


def test_box_test_comes_before_extra_keys_and_first_block_wins():
    text = (
        "<THINK>\nmultiline\n</Think> <OUTPUT>\n"
        '{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2, "label": "mug"}\n</output> '
        '<output>{"x": 0.1, "y": 0.1, "width": 0.1, "height": 0.1}</output>'
    )
    result = compute_score(text, answer(box(0.5, 0.5, 0.2, 0.2)))
    assert result["mode"] == "box" and result["score"] == pytest.approx(1.0, abs=TOL)


# ----------------------------------------------------------------------------- TRL reward functions
def test_trl_reward_functions_accept_strings_and_conversations():
    gt_box = answer(box(0.5, 0.5, 0.2, 0.2))
    gt_traj = answer([[0, 0], [0.5, 0.5]])
    completions = [
        [{"role": "assistant", "content": answer(box(0.5, 0.5, 0.2, 0.2))}],
        [{"role": "assistant", "content": [{"type": "text", "text": answer([[0, 0], [0.5, 0.5]], think=False)}]}],
        "<think>x</think> nothing",
    ]
    kwargs = {"ground_truth": [gt_box, gt_traj, gt_box], "task": ["affordance", "trajectory", "affordance"]}
    assert vla_r1_reward(["p"] * 3, completions, **kwargs) == pytest.approx([1.0, 0.9, 0.0], abs=TOL)
    assert format_reward(["p"] * 3, completions, **kwargs) == [1.0, 0.0, 0.0]
    assert task_reward(["p"] * 3, completions, **kwargs) == pytest.approx([1.0, 1.0, 0.0], abs=TOL)
    # "solution" is accepted as the column name too; a missing column is a clear error
    assert vla_r1_reward(None, completions[:1], solution=[gt_box]) == pytest.approx([1.0])
    with pytest.raises(KeyError, match="ground_truth"):
        vla_r1_reward(None, completions[:1])


def test_benchmark_reports_cost_per_sample():
    from vla_r1_cli.bench.reward import benchmark_reward

    result = benchmark_reward(samples=50, points=10)
    assert result["points"] == 10
    assert 0 < result["trajectory_us_per_sample"] < 50_000
    assert 0 < result["box_us_per_sample"] < result["trajectory_us_per_sample"]
