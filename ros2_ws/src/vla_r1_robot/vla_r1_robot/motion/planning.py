"""Motion planning without ROS: Cartesian targets -> checked joint path -> timed JointTrajectory.

`Planner` is the interface the pipeline calls; `PinocchioPlanner` implements it here, a MoveIt
bridge implements it in the ROS layer. Planning goes through stages, and a failure names its stage:

1. ``input``: targets are finite 4x4 rigid transforms, the start is within the joint limits.
2. ``safety``: the target positions pass every rule of `SafetyConfig` (last line of defence; the
   pipeline checks earlier too).
3. ``ik``: each target solved, seeded by the previous solution (the start for target 0).
4. ``interpolation``: between consecutive targets the executed joint-space line is checked densely:
   the tip must stay within `path_tolerance_m` of the straight Cartesian segment (and its rotation
   near the interpolated one), and no joint may move more than `max_joint_step_rad` between two path
   points. A failing segment is split at its Cartesian midpoint (IK there) up to `max_subdivisions`
   times. The free move from the start to target 0 is not Cartesian, but its tip path is checked
   against the workspace rules.
5. ``time_parameterization``: a synchronized trapezoid per path segment, at rest at each path point,
   within URDF velocity limits x `velocity_scaling` and `max_acceleration_rad_s2`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

import numpy as np
import pinocchio as pin

from vla_r1_model.validation import positive_number

from ..poses import pin_from_pose
from .kinematics import IKConfig, IKError, RobotModel, rigid_transform_problem
from .safety import SafetyConfig, UnsafeTargetError, check_targets, raise_if_unsafe
from .time_parameterization import trapezoidal_profile

STAGES = ("input", "safety", "ik", "interpolation", "time_parameterization", "motion_planning")  # the last: MoveIt


class PlanningError(RuntimeError):
    """A plan that could not be made: `stage` (one of STAGES), `reason`, the target concerned."""

    def __init__(
        self,
        stage: str,
        reason: str,
        waypoint_index: int | None = None,
        violations: Sequence = (),
    ) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown planning stage {stage!r}; known: {STAGES}")
        self.stage = stage
        self.reason = reason
        self.waypoint_index = waypoint_index
        self.violations = tuple(violations)  # SafetyViolation values for the safety stage
        where = f" (target {waypoint_index})" if waypoint_index is not None else ""
        super().__init__(f"planning failed at {stage}{where}: {reason}")


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)  # a private copy
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class JointTrajectory:
    """Positions (T, N) at times `time_from_start_s` (T,), optionally with velocities (T, N).

    `waypoint_indices[k]` is the row reached at target k; `timings_s` holds planner stage times.
    """

    joint_names: tuple[str, ...]
    positions: np.ndarray
    time_from_start_s: np.ndarray
    velocities: np.ndarray | None = None
    waypoint_indices: tuple[int, ...] = ()
    timings_s: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = tuple(self.joint_names)
        if not names or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"joint_names must be unique non-empty strings, got {names}")
        object.__setattr__(self, "joint_names", names)
        positions = _readonly(self.positions)
        if positions.ndim != 2 or positions.shape[0] < 1 or positions.shape[1] != len(names):
            raise ValueError(f"positions must be (T>=1, {len(names)}), got shape {positions.shape}")
        if not np.isfinite(positions).all():
            raise ValueError("positions has non-finite values")
        times = _readonly(self.time_from_start_s)
        if times.shape != (positions.shape[0],):
            raise ValueError(f"time_from_start_s must be ({positions.shape[0]},), got shape {times.shape}")
        if not np.isfinite(times).all() or times[0] < 0 or (np.diff(times) <= 0).any():
            raise ValueError("time_from_start_s must be finite, start >= 0 and strictly increase")
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "time_from_start_s", times)
        if self.velocities is not None:
            velocities = _readonly(self.velocities)
            if velocities.shape != positions.shape or not np.isfinite(velocities).all():
                raise ValueError(f"velocities must be finite with shape {positions.shape}, got {velocities.shape}")
            object.__setattr__(self, "velocities", velocities)
        indices = tuple(int(i) for i in self.waypoint_indices)
        if any(not 0 <= i < positions.shape[0] for i in indices):
            raise ValueError(f"waypoint_indices {indices} out of range for {positions.shape[0]} points")
        object.__setattr__(self, "waypoint_indices", indices)
        object.__setattr__(self, "timings_s", dict(self.timings_s))

    @property
    def num_points(self) -> int:
        return int(self.positions.shape[0])

    @property
    def duration_s(self) -> float:
        return float(self.time_from_start_s[-1])

    def sample(self, times_s: np.ndarray) -> np.ndarray:
        """Positions (M, N) at `times_s`: cubic Hermite between knots when velocities are known
        (what a ROS trajectory controller does), linear otherwise. Clamped outside the time span."""
        t = np.clip(np.asarray(times_s, dtype=np.float64).reshape(-1), self.time_from_start_s[0], self.duration_s)
        if self.num_points == 1:
            return np.repeat(self.positions, t.shape[0], axis=0)
        k = np.clip(np.searchsorted(self.time_from_start_s, t, side="right") - 1, 0, self.num_points - 2)
        t0, t1 = self.time_from_start_s[k], self.time_from_start_s[k + 1]
        h = (t1 - t0)[:, None]
        u = ((t - t0) / (t1 - t0))[:, None]
        p0, p1 = self.positions[k], self.positions[k + 1]
        if self.velocities is None:
            return p0 + u * (p1 - p0)
        v0, v1 = self.velocities[k], self.velocities[k + 1]
        h00, h10 = 2 * u**3 - 3 * u**2 + 1, u**3 - 2 * u**2 + u
        h01, h11 = -2 * u**3 + 3 * u**2, u**3 - u**2
        return h00 * p0 + h10 * h * v0 + h01 * p1 + h11 * h * v1

    def summary(self) -> dict:
        """A JSON-friendly description (for results.jsonl)."""
        return {
            "joint_names": list(self.joint_names),
            "num_points": self.num_points,
            "duration_s": self.duration_s,
            "waypoint_indices": list(self.waypoint_indices),
            "start_positions": self.positions[0].tolist(),
            "end_positions": self.positions[-1].tolist(),
            "timings_s": dict(self.timings_s),
        }


@runtime_checkable
class Planner(Protocol):
    def plan(self, targets_base_T_tip: Sequence[np.ndarray], start_positions: np.ndarray) -> JointTrajectory:
        """A timed joint trajectory from `start_positions` through every target; raises PlanningError."""
        ...


# A planner's optional abilities. Callers ask with isinstance (these are runtime-checkable) and use
# what a planner has: PinocchioPlanner has a robot model; MoveItPlanner reads the current positions,
# executes its own plans and stops them.
@runtime_checkable
class HasRobotModel(Protocol):
    """Plans on a kinematic model: its joint names and limits give the default start."""

    robot: RobotModel


@runtime_checkable
class ReadsCurrentPositions(Protocol):
    def current_positions(self) -> np.ndarray | None:
        """The arm's joint positions now (None before the first joint state): the planning start."""
        ...


@runtime_checkable
class ExecutesOwnPlans(Protocol):
    def execute(self, plan: JointTrajectory, cancel: threading.Event | None = None) -> None:
        """Run the latest plan of this planner; InterruptedError when cancelled, RuntimeError when it fails."""
        ...


@runtime_checkable
class Stoppable(Protocol):
    def stop(self) -> None:
        """Stop a running execution now (called from another thread)."""
        ...


@dataclass(frozen=True)
class PlannerConfig:
    velocity_scaling: float = 0.25  # fraction of the URDF velocity limits, in (0, 1]
    max_acceleration_rad_s2: float = 2.0  # every joint (URDFs carry no acceleration limits)
    path_tolerance_m: float = 0.005  # tip distance from the straight segment between targets
    path_tolerance_rad: float = math.radians(3.0)  # tip rotation from the interpolated rotation
    check_spacing_m: float = 0.005  # Cartesian spacing of the dense checks along a segment
    max_joint_step_rad: float = 0.35  # largest joint change between consecutive path points
    max_subdivisions: int = 6  # halvings of one segment, so at most 2**6 pieces
    position_only: bool = False  # ignore target rotations (IK and path checks)
    check_start_move: bool = True  # workspace rules along the free move from the start to target 0
    start_limit_tolerance_rad: float = 1e-3  # encoders may read slightly past a limit: clip that much
    # Target 0: the solve seeded by the start is taken when it converges within
    # `start_ik_accept_rad` (L2, rad) of the start; otherwise (or with None) the nearest of up to
    # `ik.max_solutions` solutions from random seeds. Measured on random Panda starts and targets,
    # a full search finds a solution more than 0.2 rad nearer in about 1% of cases (at most
    # ~0.4 rad nearer) and costs ~50x more (docs/benchmarks.md). Later targets and midpoints are
    # seeded by their neighbour's solution and stop at the first converged seed: continuity comes
    # from the seed, random seeds only help when it fails.
    start_ik_accept_rad: float | None = math.pi
    ik: IKConfig = field(default_factory=IKConfig)

    def __post_init__(self) -> None:
        if not 0 < self.velocity_scaling <= 1:
            raise ValueError(f"velocity_scaling must be in (0, 1], got {self.velocity_scaling}")
        for name in (
            "max_acceleration_rad_s2",
            "path_tolerance_m",
            "path_tolerance_rad",
            "check_spacing_m",
            "max_joint_step_rad",
        ):
            positive_number(name, getattr(self, name))
        if not (math.isfinite(self.start_limit_tolerance_rad) and self.start_limit_tolerance_rad >= 0):
            raise ValueError(f"start_limit_tolerance_rad must be >= 0, got {self.start_limit_tolerance_rad}")
        bound = self.start_ik_accept_rad
        if bound is not None and not (isinstance(bound, (int, float)) and not math.isnan(bound) and bound >= 0):
            raise ValueError(f"start_ik_accept_rad must be None or a number >= 0, got {bound!r}")
        if self.max_subdivisions < 0:
            raise ValueError(f"max_subdivisions must be >= 0, got {self.max_subdivisions}")
        if not isinstance(self.ik, IKConfig):
            raise ValueError(f"ik must be an IKConfig, got {type(self.ik).__name__}")

    @classmethod
    def from_dict(cls, data: Mapping, file: str | None = None) -> PlannerConfig:
        """Unknown keys (also under ``ik``) and values of the wrong kind are refused (ConfigError)."""
        from vla_r1_model.config_files import dataclass_from_mapping

        return dataclass_from_mapping(cls, data, "planner", file=file)


def _interpolate_pose(base_T_a: pin.SE3, base_T_b: pin.SE3, s: float) -> pin.SE3:
    """Straight line for the position, geodesic (slerp) for the rotation."""
    rotation = base_T_a.rotation @ pin.exp3(s * pin.log3(base_T_a.rotation.T @ base_T_b.rotation))
    return pin.SE3(rotation, (1 - s) * base_T_a.translation + s * base_T_b.translation)


def _angles_from_interpolated(
    rotation_a: np.ndarray, rotation_b: np.ndarray, fractions: np.ndarray, rotations: np.ndarray
) -> np.ndarray:
    """Angle (rad) between each rotation (M, 3, 3) and the slerp of a -> b at its fraction (M,):
    the angle of exp3(-s w) a^T R with w = log3(a^T b) (Rodrigues, vectorized)."""
    w = pin.log3(rotation_a.T @ rotation_b)
    theta = float(np.linalg.norm(w))
    relative = np.einsum("ji,mjk->mik", rotation_a, rotations)  # a^T R
    if theta > 0:
        k = pin.skew(w / theta)
        angle = -fractions * theta
        back = np.eye(3) + np.sin(angle)[:, None, None] * k + (1 - np.cos(angle))[:, None, None] * (k @ k)
        relative = back @ relative
    cos = (np.trace(relative, axis1=1, axis2=2) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


_PATH_RULES = ("finite", "workspace_box", "min_height", "max_reach")


def _first_path_violation(points: np.ndarray, safety: SafetyConfig):
    """(row, violation) of the first dense path point that breaks a per-point workspace rule, or None.

    The per-point rules are screened with array comparisons first; only suspect points go through
    `check_targets` (whose messages and values are the reference), so the answer is the same."""
    with np.errstate(invalid="ignore"):
        suspect = (
            ~np.isfinite(points).all(axis=1)
            | (points < np.asarray(safety.workspace_min_xyz_m)).any(axis=1)
            | (points > np.asarray(safety.workspace_max_xyz_m)).any(axis=1)
            | (points[:, 2] < safety.min_z_m)
            | (np.linalg.norm(points, axis=1) > safety.max_reach_m)
        )
    rows = np.flatnonzero(suspect)
    if rows.size == 0:
        return None
    violations = check_targets(points[rows], safety, rules=_PATH_RULES)
    return (int(rows[violations[0].index]), violations[0]) if violations else None


def _distance_to_segment(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    denom = float(ab @ ab)
    s = np.zeros(len(points)) if denom == 0 else np.clip((points - a) @ ab / denom, 0.0, 1.0)
    return np.linalg.norm(points - (a + s[:, None] * ab), axis=1)


class PinocchioPlanner:
    """Planner on a `RobotModel`. Not thread-safe (the model holds one pinocchio Data)."""

    def __init__(self, robot: RobotModel, safety: SafetyConfig, config: PlannerConfig | None = None) -> None:
        self.robot = robot
        self.safety = safety
        self.config = config or PlannerConfig()
        robot.check_can_reach(self.config.position_only)  # a tip at or near the root is refused here
        self._ik_follow = replace(self.config.ik, max_solutions=1)
        self._ik_first = self.config.ik
        if self.config.start_ik_accept_rad is not None:
            self._ik_first = replace(self.config.ik, accept_seed_within_rad=self.config.start_ik_accept_rad)

    # -- stage 1 ---------------------------------------------------------------------------
    def _check_inputs(
        self, targets: Sequence[np.ndarray], start_positions: np.ndarray
    ) -> tuple[list[pin.SE3], np.ndarray]:
        if len(targets) == 0:
            raise PlanningError("input", "no targets")
        poses: list[pin.SE3] = []
        for k, pose in enumerate(targets):
            pose = np.asarray(pose, dtype=np.float64)
            if pose.shape != (4, 4):
                raise PlanningError("input", f"target must be a 4x4 base_T_tip, got shape {pose.shape}", k)
            if not np.isfinite(pose).all():
                # Reported by the safety stage, which names the rule.
                poses.append(None)
                continue
            problem = rigid_transform_problem(pose)
            if problem is not None:
                raise PlanningError("input", f"target {problem}", k)
            poses.append(pin_from_pose(pose))
        start = np.asarray(start_positions, dtype=np.float64).reshape(-1)
        robot, tol = self.robot, self.config.start_limit_tolerance_rad
        if start.shape != (robot.num_joints,):
            raise PlanningError(
                "input",
                f"start_positions must have {robot.num_joints} values {robot.joint_names}, got {start.shape[0]}",
            )
        if not np.isfinite(start).all():
            raise PlanningError("input", f"start_positions has non-finite values: {start.tolist()}")
        outside = (start < robot.lower_limits - tol) | (start > robot.upper_limits + tol)
        if outside.any():
            i = int(np.argmax(outside))
            raise PlanningError(
                "input",
                f"start position of {robot.joint_names[i]} = {start[i]:.4f} is outside its limits "
                f"[{robot.lower_limits[i]:.4f}, {robot.upper_limits[i]:.4f}]",
            )
        return poses, robot.clip_to_limits(start)

    # -- stage 4 ---------------------------------------------------------------------------
    def _segment_problem(self, pose_a: pin.SE3, q_a: np.ndarray, pose_b: pin.SE3, q_b: np.ndarray) -> str | None:
        """Why the joint line q_a -> q_b does not follow the Cartesian segment, or None when it does."""
        cfg, robot = self.config, self.robot
        delta = q_b - q_a
        worst = int(np.argmax(np.abs(delta)))
        if abs(delta[worst]) > cfg.max_joint_step_rad:
            return (
                f"{robot.joint_names[worst]} moves {abs(delta[worst]):.3f} rad between path points "
                f"(limit {cfg.max_joint_step_rad:.3f} rad)"
            )
        length_m = float(np.linalg.norm(pose_b.translation - pose_a.translation))
        count = max(3, math.ceil(length_m / cfg.check_spacing_m))
        fractions = np.linspace(0.0, 1.0, count + 2)[1:-1]
        qs = q_a + fractions[:, None] * delta
        base_T_tips = robot.fk_poses(qs)  # all samples at once; the first failing one is reported
        points = base_T_tips[:, :3, 3]
        deviations_m = _distance_to_segment(points, pose_a.translation, pose_b.translation)
        bad = deviations_m > cfg.path_tolerance_m
        if not cfg.position_only:
            angles = _angles_from_interpolated(pose_a.rotation, pose_b.rotation, fractions, base_T_tips[:, :3, :3])
            bad |= angles > cfg.path_tolerance_rad
        if bad.any():
            i = int(np.argmax(bad))
            if deviations_m[i] > cfg.path_tolerance_m:
                return (
                    f"tip leaves the straight segment by {deviations_m[i] * 1e3:.1f} mm "
                    f"(limit {cfg.path_tolerance_m * 1e3:.1f} mm)"
                )
            return f"tip rotation strays {math.degrees(angles[i]):.1f} deg from the interpolated rotation"
        found = _first_path_violation(points, self.safety)
        if found is not None:
            return "path between targets breaks a safety rule: " + found[1].message.split(": ", 1)[1]
        return None

    def _refine(
        self, pose_a: pin.SE3, q_a: np.ndarray, pose_b: pin.SE3, q_b: np.ndarray, depth: int, target: int, stats: dict
    ) -> list[np.ndarray]:
        """Joint points after q_a up to q_b, splitting the segment until every piece passes."""
        problem = self._segment_problem(pose_a, q_a, pose_b, q_b)
        if problem is None:
            return [q_b]
        if depth >= self.config.max_subdivisions:
            raise PlanningError(
                "interpolation",
                f"segment from target {target - 1} to target {target}: {problem} after {depth} subdivisions",
                target,
            )
        pose_m = _interpolate_pose(pose_a, pose_b, 0.5)
        try:
            q_m = self.robot.ik_pose(
                pose_m, 0.5 * (q_a + q_b), self._ik_follow, position_only=self.config.position_only
            ).positions
        except IKError as exc:
            raise PlanningError(
                "interpolation",
                f"segment from target {target - 1} to target {target}: midpoint unreachable ({exc})",
                target,
            ) from exc
        stats["subdivisions"] += 1
        return self._refine(pose_a, q_a, pose_m, q_m, depth + 1, target, stats) + self._refine(
            pose_m, q_m, pose_b, q_b, depth + 1, target, stats
        )

    def _check_start_move(self, q_start: np.ndarray, q_first: np.ndarray) -> None:
        robot = self.robot
        joint_span = float(np.max(np.abs(q_first - q_start)))
        count = max(10, math.ceil(joint_span / 0.01))  # about every 0.01 rad of the largest joint
        fractions = np.linspace(0.0, 1.0, count + 1)[1:]  # the start itself is where the arm is now
        points = robot.fk_positions(q_start + fractions[:, None] * (q_first - q_start))
        found = _first_path_violation(points, self.safety)
        if found is not None:
            row, v = found
            raise PlanningError(
                "interpolation",
                f"the joint move from the start to target 0 breaks a safety rule at {fractions[row]:.0%} "
                f"of the way: {v.message.split(': ', 1)[1]}",
                0,
            )

    # -- the entry point -------------------------------------------------------------------
    def plan(self, targets_base_T_tip: Sequence[np.ndarray], start_positions: np.ndarray) -> JointTrajectory:
        cfg, robot = self.config, self.robot
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        poses, q_start = self._check_inputs(targets_base_T_tip, start_positions)
        timings["input_s"] = time.perf_counter() - clock

        clock = time.perf_counter()
        positions = np.array([np.full(3, np.nan) if p is None else p.translation for p in poses])
        try:
            raise_if_unsafe(positions, self.safety)
        except UnsafeTargetError as exc:
            first = exc.violations[0].index
            raise PlanningError("safety", str(exc), first, exc.violations) from exc
        timings["safety_s"] = time.perf_counter() - clock

        clock = time.perf_counter()
        solutions: list[np.ndarray] = []
        q_seed = q_start
        for k, pose in enumerate(poses):
            try:
                ik_config = self._ik_first if k == 0 else self._ik_follow
                q_seed = robot.ik_pose(pose, q_seed, ik_config, position_only=cfg.position_only).positions
            except IKError as exc:
                raise PlanningError("ik", str(exc), k) from exc
            solutions.append(q_seed)
        timings["ik_s"] = time.perf_counter() - clock

        clock = time.perf_counter()
        stats = {"subdivisions": 0}
        if cfg.check_start_move:
            self._check_start_move(q_start, solutions[0])
        path = [q_start, solutions[0]]
        waypoint_rows = [1]
        for k in range(1, len(poses)):
            path += self._refine(poses[k - 1], solutions[k - 1], poses[k], solutions[k], 0, k, stats)
            waypoint_rows.append(len(path) - 1)
        timings["interpolation_s"] = time.perf_counter() - clock

        clock = time.perf_counter()
        try:
            timed = trapezoidal_profile(
                np.array(path),
                robot.velocity_limits_rad_s * cfg.velocity_scaling,
                np.full(robot.num_joints, cfg.max_acceleration_rad_s2),
            )
        except ValueError as exc:
            raise PlanningError("time_parameterization", str(exc)) from exc
        timings["time_parameterization_s"] = time.perf_counter() - clock
        return JointTrajectory(
            joint_names=robot.joint_names,
            positions=timed.positions,
            time_from_start_s=timed.time_from_start_s,
            velocities=timed.velocities,
            waypoint_indices=tuple(timed.path_point_indices[row] for row in waypoint_rows),
            timings_s=timings,
        )
