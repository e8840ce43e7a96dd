"""Safety rules for Cartesian targets in the robot base frame.

The rules are deliberately simple and conservative: finite values, a workspace box, a floor
(minimum height above the table), a maximum reach from the base origin and a maximum step between
consecutive targets. A violation is a value (rule, limit, offending number, target index), never a
log line, so the pipeline can report it and tests can assert on it. Positions are metres in the
robot base frame (``base_p_tip``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vla_r1_model.validation import finite_number

RULES = ("finite", "workspace_box", "min_height", "max_reach", "max_step", "tool_min_height")


def _as_xyz(value: Any, name: str) -> tuple[float, float, float]:
    from vla_r1_model.config_files import number_vector

    return number_vector(value, 3, name)  # type: ignore[return-value]


@dataclass(frozen=True)
class SafetyConfig:
    """Limits in the robot base frame (metres). Defaults suit a Panda-sized arm on a table at z = 0."""

    workspace_min_xyz_m: tuple[float, float, float] = (-0.85, -0.85, 0.0)
    workspace_max_xyz_m: tuple[float, float, float] = (0.85, 0.85, 1.0)
    min_z_m: float = 0.02  # the floor for the tip link (planner) origin: table top plus a margin, base-frame z
    # The floor for the fingertips (grasp points), which sit a tool offset beyond the tip link:
    # without it a grasp grounded too deep drives the fingers into the table while the hand looks safe.
    tool_min_z_m: float = 0.005
    max_reach_m: float = 0.85  # distance from the base origin
    max_step_m: float = 0.15  # between consecutive targets (above the default 0.10 m pre-grasp distance)

    def __post_init__(self) -> None:
        lo = _as_xyz(self.workspace_min_xyz_m, "workspace_min_xyz_m")
        hi = _as_xyz(self.workspace_max_xyz_m, "workspace_max_xyz_m")
        object.__setattr__(self, "workspace_min_xyz_m", lo)  # lists from YAML become tuples
        object.__setattr__(self, "workspace_max_xyz_m", hi)
        for axis, a, b in zip("xyz", lo, hi, strict=True):
            if not a < b:
                raise ValueError(f"workspace min {axis} ({a} m) must be below max {axis} ({b} m)")
        for name in ("min_z_m", "tool_min_z_m", "max_reach_m", "max_step_m"):
            object.__setattr__(self, name, finite_number(name, getattr(self, name)))
        if self.max_reach_m <= 0:
            raise ValueError(f"max_reach_m must be > 0, got {self.max_reach_m}")
        if self.max_step_m <= 0:
            raise ValueError(f"max_step_m must be > 0, got {self.max_step_m}")
        if self.tool_min_z_m >= hi[2]:
            raise ValueError(f"tool_min_z_m ({self.tool_min_z_m} m) must be below the workspace max z ({hi[2]} m)")
        if self.min_z_m >= hi[2]:
            raise ValueError(f"min_z_m ({self.min_z_m} m) must be below the workspace max z ({hi[2]} m)")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, file: str | Path | None = None) -> SafetyConfig:
        """Unknown keys and values of the wrong kind are refused (ConfigError naming file and key)."""
        from vla_r1_model.config_files import dataclass_from_mapping

        return dataclass_from_mapping(cls, data, "safety", file=file)

    @classmethod
    def from_yaml(cls, path: str | Path) -> SafetyConfig:
        from vla_r1_model.config_files import read_yaml_mapping

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"safety config not found: {path}")
        data = read_yaml_mapping(path, what="safety config")
        # Accept either the bare mapping or one nested under a `safety:` key.
        if set(data) == {"safety"}:
            data = data["safety"]
        return cls.from_dict(data, file=path)


@dataclass(frozen=True)
class SafetyViolation:
    """One broken rule: `value` is the offending number, `limit` the bound it crossed (same unit)."""

    rule: str
    limit: float
    value: float
    index: int  # index of the target in the checked sequence
    message: str

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown safety rule {self.rule!r}; known: {RULES}")
        if self.index < 0:
            raise ValueError(f"index must be >= 0, got {self.index}")


class UnsafeTargetError(ValueError):
    """Raised by `raise_if_unsafe`; carries every violation, not only the first."""

    def __init__(self, violations: Sequence[SafetyViolation]) -> None:
        self.violations: tuple[SafetyViolation, ...] = tuple(violations)
        lines = [v.message for v in self.violations[:5]]
        more = len(self.violations) - len(lines)
        summary = "; ".join(lines) + (f"; and {more} more" if more > 0 else "")
        super().__init__(f"{len(self.violations)} safety violation(s): {summary}")


def _as_positions(positions_base_m: Any) -> np.ndarray:
    positions = np.asarray(positions_base_m, dtype=np.float64)
    if positions.size == 0:
        return positions.reshape(0, 3)
    if positions.ndim == 1 and positions.shape[0] == 3:
        positions = positions[None, :]
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions_base_m must be (N, 3) metres, got shape {positions.shape}")
    return positions


def check_targets(positions_base_m: Any, config: SafetyConfig, rules: Collection[str] = RULES) -> list[SafetyViolation]:
    """All violations of the given rules (default: all), ordered by target index. Empty list = safe.

    A non-finite target only reports the `finite` rule (comparisons with NaN mean nothing), and
    steps touching it are not measured. `finite` is always checked.
    """
    unknown = set(rules) - set(RULES)
    if unknown:
        raise ValueError(f"unknown safety rules {sorted(unknown)}; known: {RULES}")
    positions = _as_positions(positions_base_m)
    lo, hi = config.workspace_min_xyz_m, config.workspace_max_xyz_m
    violations: list[SafetyViolation] = []
    finite_rows = np.isfinite(positions).all(axis=1)
    for i, p in enumerate(positions):
        if not finite_rows[i]:
            bad = next(float(v) for v in p if not math.isfinite(v))
            violations.append(
                SafetyViolation("finite", math.inf, bad, i, f"target {i}: non-finite position {p.tolist()}")
            )
            continue
        box_axes = zip("xyz", p, lo, hi, strict=True) if "workspace_box" in rules else ()
        for axis, value, a, b in box_axes:
            if value < a:
                violations.append(
                    SafetyViolation(
                        "workspace_box",
                        a,
                        float(value),
                        i,
                        f"target {i}: {axis} = {value:.3f} m below workspace min {axis} {a:.3f} m",
                    )
                )
            elif value > b:
                violations.append(
                    SafetyViolation(
                        "workspace_box",
                        b,
                        float(value),
                        i,
                        f"target {i}: {axis} = {value:.3f} m above workspace max {axis} {b:.3f} m",
                    )
                )
        if "min_height" in rules and p[2] < config.min_z_m:
            violations.append(
                SafetyViolation(
                    "min_height",
                    config.min_z_m,
                    float(p[2]),
                    i,
                    f"target {i}: z = {p[2]:.3f} m below minimum height {config.min_z_m:.3f} m",
                )
            )
        reach = float(np.linalg.norm(p))
        if "max_reach" in rules and reach > config.max_reach_m:
            violations.append(
                SafetyViolation(
                    "max_reach",
                    config.max_reach_m,
                    reach,
                    i,
                    f"target {i}: {reach:.3f} m from the base, beyond max reach {config.max_reach_m:.3f} m",
                )
            )
        if "max_step" in rules and i > 0 and finite_rows[i - 1]:
            step = float(np.linalg.norm(p - positions[i - 1]))
            if step > config.max_step_m:
                violations.append(
                    SafetyViolation(
                        "max_step",
                        config.max_step_m,
                        step,
                        i,
                        f"target {i}: step of {step:.3f} m from target {i - 1} "
                        f"exceeds max step {config.max_step_m:.3f} m",
                    )
                )
    return violations


def check_tool_points(grasp_points_base_m: Any, config: SafetyConfig) -> list[SafetyViolation]:
    """The fingertip (grasp) points against `tool_min_z_m`; non-finite points report `finite`."""
    points = _as_positions(grasp_points_base_m)
    violations: list[SafetyViolation] = []
    for i, p in enumerate(points):
        if not np.isfinite(p).all():
            bad = next(float(v) for v in p if not math.isfinite(v))
            violations.append(
                SafetyViolation("finite", math.inf, bad, i, f"target {i}: non-finite fingertip point {p.tolist()}")
            )
        elif p[2] < config.tool_min_z_m:
            violations.append(
                SafetyViolation(
                    "tool_min_height",
                    config.tool_min_z_m,
                    float(p[2]),
                    i,
                    f"target {i}: fingertip z = {p[2]:.3f} m below minimum tool height {config.tool_min_z_m:.3f} m",
                )
            )
    return violations


def raise_if_unsafe(positions_base_m: Any, config: SafetyConfig) -> None:
    """Raise `UnsafeTargetError` carrying every violation when any rule is broken."""
    violations = check_targets(positions_base_m, config)
    if violations:
        raise UnsafeTargetError(violations)
