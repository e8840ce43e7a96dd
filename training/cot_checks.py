"""Checks on a teacher's reasoning, as the paper's CoT data engine filters its data.

A reasoning passes when it
- follows the task's structured steps, in order, each with some content (``missing_steps``):
  affordance: task parsing, scene understanding, region localization, feasibility check;
  trajectory: task parsing, object and gripper localization, scene constraints, trajectory logic;
- has substance: at least ``MIN_WORDS`` words, ``MIN_STEP_WORDS`` per step (``too_short``);
- addresses the instruction: the task-parsing step names something the instruction names
  (``instruction_not_addressed``);
- does not hedge about seeing the target ("not visible", "I guess", "cannot see") (``uncertain``);
- does not copy the answer verbatim (the answer's JSON or an ``<output>`` tag) (``answer_leaked``);
- agrees with the answer where it gives coordinates: every normalized (x, y) pair it mentions lies
  in the answer box (with ``COORDINATE_TOLERANCE``) or near the answer trajectory
  (``coordinates_disagree``);
- agrees with the answer where it names an image region ("top-left corner", "on the right side"):
  the box centre / the trajectory's end lies in that part of the image (``location_disagrees``).
Each rejection has a stable reason code; the engine counts them (``CotStats.rejections_by_reason``).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

MIN_WORDS = 25
MIN_STEP_WORDS = 3
COORDINATE_TOLERANCE = 0.1  # normalized units around the box / the trajectory
REGION_MARGIN = 0.1  # "left" means the centre is left of 0.5 + margin, and so on

STEP_PATTERNS: dict[str, tuple[tuple[str, str], ...]] = {
    "affordance": (
        ("task parsing", r"task\s+pars\w*"),
        ("scene understanding", r"scene\s+understand\w*"),
        ("region localization", r"(?:region\s+)?locali[sz]\w*"),
        ("feasibility check", r"feasib\w*"),
    ),
    "trajectory": (
        ("task parsing", r"task\s+pars\w*"),
        ("object and gripper localization", r"(?:object|gripper)[\w\s]*locali[sz]\w*|locali[sz]\w*"),
        ("scene constraints", r"(?:scene\s+)?constraint\w*"),
        ("trajectory logic", r"trajectory\s+logic"),
    ),
}
HEDGES = re.compile(
    r"\bnot\s+(?:clearly\s+)?visible\b|\binvisible\b|\bi\s+guess\b|\bcan(?:not|'t|\s+not)\s+(?:see|find|tell|locate)\b"
    r"|\bnot\s+sure\b|\bunclear\b|\bhard\s+to\s+(?:see|tell)\b|\bno\s+\w+\s+(?:is\s+)?(?:visible|in\s+view)\b"
    r"|\bassum(?:e|ing)\s+it\b|\bprobably\s+somewhere\b",
    re.IGNORECASE,
)
PAIR = re.compile(r"[\(\[]\s*(-?\d*\.\d+|-?\d+)\s*,\s*(-?\d*\.\d+|-?\d+)\s*[\)\]]")
XY = re.compile(r"\bx\s*[=≈:]\s*(-?\d*\.\d+)\s*[,;]?\s*(?:and\s+)?y\s*[=≈:]\s*(-?\d*\.\d+)", re.IGNORECASE)
VERTICAL = r"(?P<v>top|upper|bottom|lower)"
HORIZONTAL = r"(?P<h>left|right)"
REGION_PHRASES = (
    re.compile(rf"\b{VERTICAL}[\s-]*{HORIZONTAL}\b", re.IGNORECASE),
    re.compile(rf"\b{HORIZONTAL}[\s-]+(?:side|half|part|edge|corner|portion)\b", re.IGNORECASE),
    re.compile(
        rf"\b(?:on|to|at|towards?)\s+the\s+(?:far\s+)?{HORIZONTAL}\b(?!\s+(?:of|hand|arm|gripper|cup|one))",
        re.IGNORECASE,
    ),
    re.compile(rf"\b{VERTICAL}[\s-]+(?:side|half|part|edge|corner|portion|area)\b", re.IGNORECASE),
    re.compile(
        r"\b(?:at|near|in)\s+the\s+(?P<v>top|bottom)\b(?!\s+of\s+the\s+(?!image|frame|picture|view))", re.IGNORECASE
    ),
)
STOPWORDS = frozenset(
    "the a an and or of to in on at for from with into onto it its this that then up down put place "  # noqa: SIM905 - reads best as one string
    "pick take move open close push pull reach grasp grab hold use make sure there".split()
)


@dataclass(frozen=True)
class ReasoningIssue:
    code: str
    message: str


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]+(?:'[a-z]+)?", text)


def _steps(reasoning: str, task: str) -> tuple[list[str], list[str]]:
    """(missing step names, the text of each found step) — steps must appear in order."""
    position, found, missing = 0, [], []
    spans = []
    for name, pattern in STEP_PATTERNS[task]:
        match = re.compile(pattern, re.IGNORECASE).search(reasoning, position)
        if match is None:
            missing.append(name)
            continue
        spans.append((match.start(), match.end()))
        position = match.end()
    for i, (_, end) in enumerate(spans):
        following = spans[i + 1][0] if i + 1 < len(spans) else len(reasoning)
        found.append(reasoning[end:following])
    return missing, found


def _answer_points(answer: Any, task: str) -> list[tuple[float, float]]:
    if task == "affordance":
        return [(float(answer["x"]), float(answer["y"]))]
    return [(float(x), float(y)) for x, y in answer]


def _distance_to_polyline(point: tuple[float, float], line: list[tuple[float, float]]) -> float:
    if len(line) == 1:
        return math.dist(point, line[0])
    best = math.inf
    for (x1, y1), (x2, y2) in itertools.pairwise(line):
        dx, dy = x2 - x1, y2 - y1
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((point[0] - x1) * dx + (point[1] - y1) * dy) / length2))
        best = min(best, math.dist(point, (x1 + t * dx, y1 + t * dy)))
    return best


def _point_agrees(point: tuple[float, float], answer: Any, task: str) -> bool:
    if task == "affordance":
        half_w, half_h = (
            abs(answer["width"]) / 2 + COORDINATE_TOLERANCE,
            abs(answer["height"]) / 2 + COORDINATE_TOLERANCE,
        )
        return abs(point[0] - answer["x"]) <= half_w and abs(point[1] - answer["y"]) <= half_h
    return _distance_to_polyline(point, _answer_points(answer, task)) <= COORDINATE_TOLERANCE


def mentioned_points(reasoning: str) -> list[tuple[float, float]]:
    """Normalized (x, y) pairs the reasoning states: "(0.32, 0.41)", "[0.3, 0.4]", "x = 0.32, y = 0.41".
    Pairs with a value outside [0, 1] are not normalized coordinates (pixels, counts) and are ignored."""
    pairs = [(float(a), float(b)) for a, b in PAIR.findall(reasoning)] + [
        (float(a), float(b)) for a, b in XY.findall(reasoning)
    ]
    return [p for p in pairs if 0.0 <= p[0] <= 1.0 and 0.0 <= p[1] <= 1.0]


def _in_region(point: tuple[float, float], horizontal: str, vertical: str) -> bool:
    x, y = point
    if (horizontal == "left" and x > 0.5 + REGION_MARGIN) or (horizontal == "right" and x < 0.5 - REGION_MARGIN):
        return False
    return not (
        (vertical in ("top", "upper") and y > 0.5 + REGION_MARGIN)
        or (vertical in ("bottom", "lower") and y < 0.5 - REGION_MARGIN)
    )


def _region_disagreement(text: str, targets: list[tuple[float, float]]) -> str | None:
    """The first region phrase that fits none of ``targets`` (box centre; or any trajectory point,
    since a trajectory's reasoning also places the gripper where the path starts)."""
    for phrase in REGION_PHRASES:
        for match in phrase.finditer(text):
            groups = match.groupdict()
            horizontal, vertical = (groups.get("h") or "").lower(), (groups.get("v") or "").lower()
            if not any(_in_region(point, horizontal, vertical) for point in targets):
                return match.group(0)
    return None


def check_reasoning(reasoning: str, task: str, answer: Any, instruction: str) -> ReasoningIssue | None:
    """The first problem of ``reasoning`` for this task, answer and instruction, or None."""
    words = _words(reasoning)
    missing, steps = _steps(reasoning, task)
    if missing:
        return ReasoningIssue("missing_steps", f"reasoning lacks the step(s) {missing} (in order)")
    short = [
        name for (name, _), text in zip(STEP_PATTERNS[task], steps, strict=True) if len(_words(text)) < MIN_STEP_WORDS
    ]
    if len(words) < MIN_WORDS or short:
        return ReasoningIssue(
            "too_short",
            f"reasoning has {len(words)} words (minimum {MIN_WORDS})"
            + (f"; step(s) {short} say almost nothing" if short else ""),
        )
    hedge = HEDGES.search(reasoning)
    if hedge:
        return ReasoningIssue("uncertain", f"reasoning is unsure of the target: {hedge.group(0)!r}")
    compact = re.sub(r"\s+", "", reasoning)
    if "<output>" in reasoning.lower() or re.sub(r"\s+", "", json.dumps(answer)) in compact:
        return ReasoningIssue("answer_leaked", "reasoning copies the answer verbatim")
    content = {w.lower() for w in _words(instruction) if len(w) >= 3 and w.lower() not in STOPWORDS}
    if content and not content & {w.lower() for w in _words(steps[0])}:
        return ReasoningIssue(
            "instruction_not_addressed", f"the task-parsing step names nothing of the instruction {instruction!r}"
        )
    for point in mentioned_points(reasoning):
        if not _point_agrees(point, answer, task):
            return ReasoningIssue(
                "coordinates_disagree", f"reasoning mentions ({point[0]:g}, {point[1]:g}), away from the answer"
            )
    targets = _answer_points(answer, task)
    phrase = _region_disagreement(reasoning, targets)
    if phrase:
        where = ", ".join(f"({x:.2f}, {y:.2f})" for x, y in targets[:4])
        return ReasoningIssue("location_disagrees", f"reasoning says {phrase!r} but the answer is at {where}")
    return None
