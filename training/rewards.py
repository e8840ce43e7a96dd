"""The GRPO reward of VLA-R1, exactly as the reference verl reward computes it (docs/training.md).

``score = 0.9 * task + 0.1 * format``

- Tags match case-insensitively across lines. The answer is the body of the FIRST
  ``<output>…</output>`` block, stripped, then ``json.loads``-ed (no code-fence removal: a fenced
  body is not JSON and scores like any other unparseable answer). The ground truth's answer is
  taken the same way from its own ``<output>`` block.
- ``format`` is 1 when a ``<think>…</think>`` block exists anywhere and the first ``<output>``
  body parses as JSON, else 0. As in the reference, a body that parses to JSON ``null`` counts as
  "no answer" (format 0, task 0): the reference uses ``None`` as its "did not parse" marker.
- Box (a JSON object with keys x, y, width, height; tested first): task = (GIoU + 1) / 2 on
  CENTER boxes turned into corners clipped to [0, 1] (width and height as absolute values).
- Trajectory (a list whose items are all 2-element lists): task = 1 − min(1, D / D_max) with D an
  orientation- and scale-aware discrete Fréchet distance (no resampling, points clipped to [0, 1]),
  pair cost ‖p−q‖ + 0.25·angle(t_p, t_q) + 0.10·|ln(ℓ_p/ℓ_q)| and D_max = √2 + 0.25·π + 0.10·ln 10.
- A parse failure, a box/trajectory mismatch or any error while scoring (an empty trajectory, a
  coordinate that is not a number) gives task = 0.

Numbers are converted with ``float()`` like the reference (so ``"0.5"`` and ``true`` count as
numbers) and every min/max keeps the reference's argument order, which decides the result when a
value is NaN (JSON ``NaN`` parses in Python). The one deliberate difference: the Fréchet table is
filled iteratively, so very long trajectories (hundreds of points, where the reference's recursive
table overflows Python's stack and scores 0) get their real score.

The box IoU/GIoU and the Fréchet table are ``vla_r1_model.geometry``'s, the same functions the
paper metrics use (``training.metrics``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from vla_r1_model.geometry import (  # noqa: F401 - re-exported: the reward's IoU and Fréchet table
    EPS,
    box_corners_normalized,
    box_giou,
    box_iou,
    clip01,
    discrete_frechet_table,
)
from vla_r1_model.parsing import first_block

FORMAT_WEIGHT = 0.1
TASK_WEIGHT = 0.9
LAMBDA_ANGLE = 0.25
LAMBDA_LENGTH_RATIO = 0.10
SQRT2 = 2**0.5
# Bound of one pair cost: Euclidean ≤ √2 in the unit square, angle ≤ π, |ln ratio| capped at ln 10.
FRECHET_NORMALIZER = SQRT2 + LAMBDA_ANGLE * math.pi + LAMBDA_LENGTH_RATIO * math.log(10.0)

Point = tuple[float, float]
NAN = float("nan")


# ----------------------------------------------------------------------------- answer extraction
def extract_answer(text: Any) -> Any:
    """The JSON value of the first <output> block, or None when there is none / it is not JSON."""
    if not text or not isinstance(text, str):
        return None
    body = first_block(text, "output")  # linear time, unlike searching with OUTPUT_BLOCK
    if body is None:
        return None
    try:
        return json.loads(body.strip())
    except Exception:  # noqa: BLE001 - any failure to decode is "no answer"
        return None


def is_box(value: Any) -> bool:
    return isinstance(value, dict) and all(key in value for key in ("x", "y", "width", "height"))


def is_trajectory(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value)


# ----------------------------------------------------------------------------- trajectories
def trajectory_points_clipped(value: Iterable[Sequence[Any]]) -> list[Point]:
    return [(clip01(float(x)), clip01(float(y))) for x, y in value]


def _unit(dx: float, dy: float) -> Point:
    length = math.hypot(dx, dy)
    if length < EPS:
        return (0.0, 0.0)
    return (dx / length, dy / length)


def tangents(points: Sequence[Point]) -> list[Point]:
    """Unit tangent per point: forward at the first, backward at the last, bisector inside."""
    n = len(points)
    if n == 1:
        return [(0.0, 0.0)]
    out: list[Point] = []
    for i in range(n):
        if i == 0:
            out.append(_unit(points[1][0] - points[0][0], points[1][1] - points[0][1]))
        elif i == n - 1:
            out.append(_unit(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1]))
        else:
            incoming = _unit(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1])
            outgoing = _unit(points[i + 1][0] - points[i][0], points[i + 1][1] - points[i][1])
            sx, sy = incoming[0] + outgoing[0], incoming[1] + outgoing[1]
            norm = math.hypot(sx, sy)
            out.append((sx / norm, sy / norm) if norm >= EPS else incoming)
    return out


def segment_lengths(points: Sequence[Point]) -> list[float]:
    """Length of the segment to the next point (to the previous one for the last point)."""
    n = len(points)
    if n <= 1:
        return [0.0] * n
    lengths = []
    for i in range(n):
        j = i + 1 if i < n - 1 else i - 1
        lengths.append(math.hypot(points[j][0] - points[i][0], points[j][1] - points[i][1]))
    return lengths


def _angle(u: Point, v: Point) -> float:
    nu, nv = math.hypot(*u), math.hypot(*v)
    if nu < EPS or nv < EPS:
        return 0.0
    cosine = max(-1.0, min(1.0, (u[0] * v[0] + u[1] * v[1]) / (nu * nv)))
    return math.acos(cosine)


def _length_ratio_cost(lp: float, lq: float) -> float:
    if lp > EPS and lq > EPS:
        return abs(math.log(lp / lq))
    return abs(math.log((lp + EPS) / (lq + EPS)))


def oriented_frechet(
    p: Sequence[Point],
    q: Sequence[Point],
    lambda_angle: float = LAMBDA_ANGLE,
    lambda_ratio: float = LAMBDA_LENGTH_RATIO,
) -> float:
    """Discrete Fréchet distance with pair cost ‖p−q‖ + λθ·angle(t_p, t_q) + λℓ·|ln(ℓ_p/ℓ_q)|."""
    tp, tq = tangents(p), tangents(q)
    lp, lq = segment_lengths(p), segment_lengths(q)

    def cost(i: int, j: int) -> float:
        euclid = math.hypot(p[i][0] - q[j][0], p[i][1] - q[j][1])
        return euclid + lambda_angle * _angle(tp[i], tq[j]) + lambda_ratio * _length_ratio_cost(lp[i], lq[j])

    return discrete_frechet_table(len(p), len(q), cost)


# ----------------------------------------------------------------------------- the score
def compute_score(completion: str, ground_truth: str) -> dict[str, Any]:
    """Score one completion against the ground-truth answer text (which holds an <output> block).

    Keys: ``score`` (0.9·task + 0.1·format), ``format``, ``task``, ``mode`` ("box", "trajectory"
    or "none"), ``iou`` and ``giou`` (boxes; NaN otherwise), ``frechet`` and ``frechet_norm``
    (trajectories: the raw oriented Fréchet value and min(1, D / D_max); NaN otherwise).
    """
    predicted = extract_answer(completion)
    expected = extract_answer(ground_truth)
    has_think = isinstance(completion, str) and first_block(completion, "think") is not None
    format_score = 1.0 if has_think and predicted is not None else 0.0
    result: dict[str, Any] = {"task": 0.0, "mode": "none", "iou": NAN, "giou": NAN, "frechet": NAN, "frechet_norm": NAN}
    try:
        if is_box(predicted) and is_box(expected):
            result["mode"] = "box"
            giou, iou = box_giou(box_corners_normalized(predicted), box_corners_normalized(expected))
            result.update(task=(giou + 1.0) / 2.0, giou=giou, iou=iou)
        elif is_trajectory(predicted) and is_trajectory(expected):
            result["mode"] = "trajectory"
            gt_points = trajectory_points_clipped(expected)
            predicted_points = trajectory_points_clipped(predicted)
            distance = oriented_frechet(gt_points, predicted_points)
            normalized = min(1.0, distance / FRECHET_NORMALIZER)
            result.update(task=1.0 - normalized, frechet=distance, frechet_norm=normalized)
    except Exception:  # noqa: BLE001 - any error while scoring: task 0
        result["task"] = 0.0
    result["format"] = format_score
    result["score"] = TASK_WEIGHT * result["task"] + FORMAT_WEIGHT * format_score
    return result


# ----------------------------------------------------------------------------- TRL reward functions
def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a plain string, or a conversation (list of messages)
    whose assistant content is a string or a list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    texts: list[str] = []
    for message in completion or []:
        content = message.get("content", "") if isinstance(message, dict) else message
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
            )
    return "".join(texts)


def _ground_truths(kwargs: dict, count: int) -> list[str]:
    for key in ("ground_truth", "solution", "answer"):
        if key in kwargs and kwargs[key] is not None:
            values = list(kwargs[key])
            if len(values) != count:
                raise ValueError(f"{key} has {len(values)} entries for {count} completions")
            return [completion_text(v) for v in values]
    raise KeyError("the dataset needs a 'ground_truth' column (the reference answer with its <output> block)")


def _scores(completions: list, kwargs: dict, key: str) -> list[float]:
    truths = _ground_truths(kwargs, len(completions))
    return [float(compute_score(completion_text(c), gt)[key]) for c, gt in zip(completions, truths, strict=True)]


def vla_r1_reward(prompts: list | None = None, completions: list | None = None, **kwargs: Any) -> list[float]:
    """TRL reward function: the full reference score (0.9·task + 0.1·format) per completion.
    The ground truth comes from the dataset column ``ground_truth`` (or ``solution``). Under
    TRL's GRPOTrainer (which passes ``log_metric``) the batch means of the format and task terms
    are logged too, per task kind when the dataset has a ``task`` column."""
    completions = list(completions or [])
    truths = _ground_truths(kwargs, len(completions))
    results = [compute_score(completion_text(c), gt) for c, gt in zip(completions, truths, strict=True)]
    log_metric = kwargs.get("log_metric")
    if callable(log_metric) and results:
        log_metric("vla_r1/format", sum(r["format"] for r in results) / len(results))
        log_metric("vla_r1/task", sum(r["task"] for r in results) / len(results))
        tasks = kwargs.get("task")
        if tasks is not None and len(tasks) == len(results):
            for kind in sorted(set(tasks)):
                chosen = [r["score"] for r, t in zip(results, tasks, strict=True) if t == kind]
                log_metric(f"vla_r1/{kind}_score", sum(chosen) / len(chosen))
    return [float(r["score"]) for r in results]


def format_reward(prompts: list | None = None, completions: list | None = None, **kwargs: Any) -> list[float]:
    """TRL reward function: the format term alone (0 or 1). Weight 0.1 next to ``task_reward``."""
    return _scores(list(completions or []), kwargs, "format")


def task_reward(prompts: list | None = None, completions: list | None = None, **kwargs: Any) -> list[float]:
    """TRL reward function: the task term alone in [0, 1]. Weight 0.9 next to ``format_reward``."""
    return _scores(list(completions or []), kwargs, "task")


REWARD_FUNCTIONS = {"vla_r1": vla_r1_reward, "format": format_reward, "task": task_reward}
