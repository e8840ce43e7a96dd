"""Action types of VLA-R1 and explicit conversions between coordinate conventions.

Conventions (docs/architecture.md):
- VLA-R1 speaks NORMALIZED coordinates in [0, 1]; a box is CENTER x, y plus width, height.
- ShareRobot annotations are PIXELS; a box is TOP-LEFT x, y plus width, height.
- RoboBrain answers NORMALIZED corners [x1, y1, x2, y2].
Every conversion is a named function; nothing guesses which convention a number is in.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import numpy as np

Task = Literal["affordance", "trajectory"]
TASKS: tuple[str, ...] = ("affordance", "trajectory")


class ActionError(ValueError):
    """An action value that violates its type's rules (non-finite, out of range, too short)."""


class OutOfRange(StrEnum):
    """What to do with a normalized value outside [0, 1]."""

    CLIP = "clip"  # clip into [0, 1] and warn
    REJECT = "reject"  # raise ActionError


def validate_task(task: str) -> Task:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return task  # type: ignore[return-value]


def _check_finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ActionError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ActionError(f"{name} is not finite ({value})")
    return value


def _normalized(name: str, value: float, out_of_range: OutOfRange) -> float:
    value = _check_finite(name, value)
    if 0.0 <= value <= 1.0:
        return value
    if OutOfRange(out_of_range) is OutOfRange.REJECT:
        raise ActionError(f"{name}={value} is outside the normalized range [0, 1]")
    clipped = min(1.0, max(0.0, value))
    warnings.warn(f"{name}={value} is outside [0, 1]; clipped to {clipped}", stacklevel=3)
    return clipped


def _image_size(width: int, height: int) -> tuple[int, int]:
    if int(width) <= 0 or int(height) <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    return int(width), int(height)


@dataclass(frozen=True)
class Affordance:
    """An affordance region: normalized CENTER x, y and width, height, all in [0, 1]."""

    x: float
    y: float
    width: float
    height: float
    kind: Literal["affordance"] = field(default="affordance", init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("x", "y", "width", "height"):
            value = _check_finite(name, getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ActionError(f"{name}={value} is outside the normalized range [0, 1]")
            object.__setattr__(self, name, value)

    @classmethod
    def from_values(
        cls, x: float, y: float, width: float, height: float, out_of_range: OutOfRange | str = OutOfRange.CLIP
    ) -> Affordance:
        """Build from raw numbers, applying the out-of-range policy (clip with a warning, or reject)."""
        policy = OutOfRange(out_of_range)
        return cls(
            *(
                _normalized(n, v, policy)
                for n, v in zip(("x", "y", "width", "height"), (x, y, width, height), strict=True)
            )
        )

    @classmethod
    def from_corners_normalized(cls, x1: float, y1: float, x2: float, y2: float) -> Affordance:
        x1, x2 = sorted((float(x1), float(x2)))
        y1, y2 = sorted((float(y1), float(y2)))
        return cls((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)

    @classmethod
    def from_corners_pixels(
        cls, x1: float, y1: float, x2: float, y2: float, image_width: int, image_height: int
    ) -> Affordance:
        w, h = _image_size(image_width, image_height)
        return cls.from_corners_normalized(x1 / w, y1 / h, x2 / w, y2 / h)

    @classmethod
    def from_sharerobot(cls, bbox_pixels_topleft: Sequence[float], image_width: int, image_height: int) -> Affordance:
        """ShareRobot box: PIXELS, (x, y) = TOP-LEFT corner, then width, height."""
        if len(bbox_pixels_topleft) != 4:
            raise ActionError(f"a ShareRobot box has 4 numbers (x, y, w, h), got {len(bbox_pixels_topleft)}")
        left, top, bw, bh = (float(v) for v in bbox_pixels_topleft)
        return cls.from_corners_pixels(left, top, left + bw, top + bh, image_width, image_height)

    @classmethod
    def from_robobrain(cls, corners_normalized: Sequence[float]) -> Affordance:
        """RoboBrain box: NORMALIZED corners [x1, y1, x2, y2]."""
        if len(corners_normalized) != 4:
            raise ActionError(f"a RoboBrain box has 4 numbers [x1, y1, x2, y2], got {len(corners_normalized)}")
        return cls.from_corners_normalized(*corners_normalized)

    def corners_normalized(self) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2), clipped to the image."""
        return (
            max(0.0, self.x - self.width / 2),
            max(0.0, self.y - self.height / 2),
            min(1.0, self.x + self.width / 2),
            min(1.0, self.y + self.height / 2),
        )

    def corners_pixels(self, image_width: int, image_height: int) -> tuple[float, float, float, float]:
        w, h = _image_size(image_width, image_height)
        x1, y1, x2, y2 = self.corners_normalized()
        return (x1 * w, y1 * h, x2 * w, y2 * h)

    def center_pixels(self, image_width: int, image_height: int) -> tuple[float, float]:
        w, h = _image_size(image_width, image_height)
        return (self.x * w, self.y * h)

    def to_json(self) -> dict[str, float]:
        """The model's own output form (6 decimals, as in the training data)."""
        return {k: round(getattr(self, k), 6) for k in ("x", "y", "width", "height")}


@dataclass(frozen=True)
class Trajectory:
    """An end-effector path: two or more normalized (x, y) points in image order."""

    points_normalized: tuple[tuple[float, float], ...]
    kind: Literal["trajectory"] = field(default="trajectory", init=False, repr=False)

    def __post_init__(self) -> None:
        points = tuple(self.points_normalized)
        if len(points) < 2:
            raise ActionError(f"a trajectory needs at least 2 points, got {len(points)}")
        checked = []
        for i, point in enumerate(points):
            if len(point) != 2:
                raise ActionError(f"point {i} must have 2 coordinates, got {len(point)}")
            pair = tuple(_check_finite(f"point {i} {axis}", v) for axis, v in zip("xy", point, strict=True))
            for axis, v in zip("xy", pair, strict=True):
                if not 0.0 <= v <= 1.0:
                    raise ActionError(f"point {i} {axis}={v} is outside the normalized range [0, 1]")
            checked.append(pair)
        object.__setattr__(self, "points_normalized", tuple(checked))

    @classmethod
    def from_values(
        cls, points: Iterable[Sequence[float]], out_of_range: OutOfRange | str = OutOfRange.CLIP
    ) -> Trajectory:
        policy = OutOfRange(out_of_range)
        checked = []
        for i, point in enumerate(points):
            if len(point) != 2:
                raise ActionError(f"point {i} must have 2 coordinates, got {len(point)}")
            x, y = (_normalized(f"point {i} {axis}", v, policy) for axis, v in zip("xy", point, strict=True))
            checked.append((x, y))
        return cls(tuple(checked))

    @classmethod
    def from_pixels(cls, points_pixels: Iterable[Sequence[float]], image_width: int, image_height: int) -> Trajectory:
        w, h = _image_size(image_width, image_height)
        return cls(tuple((float(p[0]) / w, float(p[1]) / h) for p in points_pixels))

    from_sharerobot = from_pixels  # ShareRobot trajectories are pixel points

    def __len__(self) -> int:
        return len(self.points_normalized)

    def as_array(self) -> np.ndarray:
        """(N, 2) float64 normalized points."""
        return np.asarray(self.points_normalized, dtype=np.float64)

    def points_pixels(self, image_width: int, image_height: int) -> np.ndarray:
        w, h = _image_size(image_width, image_height)
        return self.as_array() * np.array([w, h], dtype=np.float64)

    def to_json(self) -> list[list[float]]:
        return [[round(x, 6), round(y, 6)] for x, y in self.points_normalized]


Action = Affordance | Trajectory


def action_to_dict(action: Action, image_width: int | None = None, image_height: int | None = None) -> dict:
    """A JSON-ready description: kind, normalized values and, given an image size, pixels."""
    out: dict = {"kind": action.kind, "normalized": action.to_json()}
    if image_width and image_height:
        if isinstance(action, Affordance):
            out["corners_pixels"] = [round(v, 2) for v in action.corners_pixels(image_width, image_height)]
        else:
            out["points_pixels"] = np.round(action.points_pixels(image_width, image_height), 2).tolist()
    return out


@dataclass(frozen=True)
class Prediction:
    """A parsed model answer: the reasoning, the action and the text it came from."""

    task: Task
    action: Action
    reasoning: str
    raw_text: str
    source_format: Literal["vla_r1", "qwen_bbox_2d"] = "vla_r1"

    def __post_init__(self) -> None:
        validate_task(self.task)
        expected = Affordance if self.task == "affordance" else Trajectory
        if not isinstance(self.action, expected):
            raise ActionError(
                f"a {self.task} prediction needs an {expected.__name__}, got {type(self.action).__name__}"
            )
