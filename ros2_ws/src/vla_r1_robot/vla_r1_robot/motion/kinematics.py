"""Forward and inverse kinematics on a URDF with pinocchio, without ROS.

`RobotModel` is the serial chain from the URDF root to a named tip link. Joints that do not move the
tip (a Panda's prismatic finger joints) are LOCKED: pinocchio builds a reduced model with them fixed
at a given position (default: 0 clamped into their limits), so IK only sees the arm joints and the
joint trajectory names exactly the joints a controller for the arm expects.

IK is damped least squares on the SE(3) error ``log6(tip_T_target)`` (or the position error only),
projected onto the joint limits after each step. It starts from the current configuration, then from
deterministic random seeds, and returns the converged solution nearest (L2, radians) to the current
configuration. ``IKConfig.accept_seed_within_rad`` trades that search for speed: the solution reached
from the current configuration is returned at once when it lies within that joint distance (damped
least squares from there takes small, minimum-norm steps, so it is rarely beaten by much; see
docs/benchmarks.md for the measured cost). Poses are 4x4 float64 homogeneous matrices;
``base_T_tip`` maps tip-frame points into the base frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pinocchio as pin

from vla_r1_model.validation import positive_number

from ..poses import pin_from_pose, pose_from_pin, pose_matrix


class IKError(RuntimeError):
    """No seed converged. Carries the best residual reached over all seeds."""

    def __init__(self, message: str, position_error_m: float, rotation_error_rad: float) -> None:
        super().__init__(message)
        self.position_error_m = position_error_m
        self.rotation_error_rad = rotation_error_rad

    @property
    def position_error_mm(self) -> float:
        return self.position_error_m * 1e3

    @property
    def rotation_error_deg(self) -> float:
        return math.degrees(self.rotation_error_rad)


@dataclass(frozen=True)
class IKConfig:
    """Solver settings. Tolerances are on the final pose error; the defaults are far below 1 mm / 0.5 deg."""

    position_tolerance_m: float = 1e-4
    rotation_tolerance_rad: float = 1e-3
    max_iterations: int = 200  # per seed
    damping: float = 1e-2  # lambda of (J J^T + lambda^2 I); larger is steadier near singularities
    max_step_rad: float = 0.3  # largest joint change per iteration, keeps the linearisation honest
    num_random_seeds: int = 16
    random_seed: int = 0  # the random seeds are deterministic for a given value
    max_solutions: int = 4  # stop once this many seeds converged, then pick the nearest
    # None: always compare up to max_solutions solutions. A number: when the solve from the current
    # configuration converges within this L2 joint distance of it, return it without searching.
    accept_seed_within_rad: float | None = None

    def __post_init__(self) -> None:
        for name in ("position_tolerance_m", "rotation_tolerance_rad", "damping", "max_step_rad"):
            positive_number(name, getattr(self, name))
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations}")
        if self.num_random_seeds < 0:
            raise ValueError(f"num_random_seeds must be >= 0, got {self.num_random_seeds}")
        if self.max_solutions < 1:
            raise ValueError(f"max_solutions must be >= 1, got {self.max_solutions}")
        bound = self.accept_seed_within_rad
        if bound is not None and not (isinstance(bound, (int, float)) and not math.isnan(bound) and bound >= 0):
            raise ValueError(f"accept_seed_within_rad must be None or a number >= 0, got {bound!r}")


@dataclass(frozen=True)
class IKSolution:
    positions: np.ndarray  # (N,) radians / metres, in RobotModel.joint_names order
    position_error_m: float
    rotation_error_rad: float  # measured even for position-only solves
    iterations: int  # summed over all seeds tried
    seed_index: int  # 0 = the current configuration, k = k-th random seed
    solutions_found: int
    distance_rad: float  # L2 distance to the current configuration


def rigid_transform_problem(pose: np.ndarray) -> str | None:
    """Why a finite 4x4 float array is not a rigid transform (a phrase to prefix with its name), or None."""
    rotation = pose[:3, :3]
    if not np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-6) or np.linalg.det(rotation) < 0:
        return "rotation is not orthonormal with det +1"
    if not np.allclose(pose[3], [0.0, 0.0, 0.0, 1.0]):
        return f"bottom row must be [0, 0, 0, 1], got {pose[3].tolist()}"
    return None


def _to_se3(pose: np.ndarray, name: str) -> pin.SE3:
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (4, 4):
        raise ValueError(f"{name} must be a 4x4 homogeneous matrix, got shape {pose.shape}")
    if not np.isfinite(pose).all():
        raise ValueError(f"{name} has non-finite values")
    problem = rigid_transform_problem(pose)
    if problem is not None:
        raise ValueError(f"{name} {problem}")
    return pin_from_pose(pose)


def _joint_motions(kind: str, axis: int, q: np.ndarray) -> np.ndarray:
    """(M, 4, 4) motions of a revolute ('R') or prismatic ('P') joint about / along axis 0, 1 or 2."""
    motions = np.tile(np.eye(4), (q.shape[0], 1, 1))
    if kind == "R":
        b, c = (axis + 1) % 3, (axis + 2) % 3  # a turn about `axis` takes b towards c
        cos, sin = np.cos(q), np.sin(q)
        motions[:, b, b], motions[:, b, c], motions[:, c, b], motions[:, c, c] = cos, -sin, sin, cos
    else:
        motions[:, axis, 3] = q
    return motions


class RobotModel:
    """Kinematic chain root -> tip link. Holds one pinocchio Data: not safe to share across threads."""

    def __init__(self, model: pin.Model, tip_link: str, source: str = "<model>") -> None:
        if not model.existFrame(tip_link):
            raise ValueError(f"tip link {tip_link!r} not in {source}")
        for joint in list(model.joints)[1:]:
            if joint.nq != 1 or joint.nv != 1:
                raise ValueError(
                    f"{source}: joint {model.names[joint.id]!r} has nq={joint.nq}, nv={joint.nv}; only "
                    "revolute and prismatic joints with limits are supported (lock it instead)"
                )
        if model.nq == 0:
            # pinocchio crashes (segmentation fault) in IK on a model without joints: refuse it here.
            raise ValueError(
                f"{source}: tip link {tip_link!r} is not moved by any joint (it is the root link or fixed to it, "
                "or every joint before it is locked); choose the arm's end-effector link"
            )
        self._model = model
        self._data = model.createData()
        self._tip_frame_id = model.getFrameId(tip_link)
        self.source = source
        self._chain = self._batch_chain()
        self.tip_link = tip_link
        self.base_link = model.frames[1].name if len(model.frames) > 1 else "universe"
        self.joint_names: tuple[str, ...] = tuple(model.names[1:])
        self.lower_limits = np.array(model.lowerPositionLimit, dtype=np.float64)
        self.upper_limits = np.array(model.upperPositionLimit, dtype=np.float64)
        self.velocity_limits_rad_s = np.array(model.velocityLimit, dtype=np.float64)
        if not (np.isfinite(self.lower_limits).all() and np.isfinite(self.upper_limits).all()):
            raise ValueError(f"{source}: every active joint needs finite position limits")
        if not (self.velocity_limits_rad_s > 0).all():
            names = [n for n, v in zip(self.joint_names, self.velocity_limits_rad_s, strict=True) if not v > 0]
            raise ValueError(f"{source}: joints {names} have no velocity limit (> 0) in the URDF")
        for array in (self.lower_limits, self.upper_limits, self.velocity_limits_rad_s):
            array.setflags(write=False)
        self.position_dof, self.pose_dof = self._tip_mobility()

    def _tip_mobility(self) -> tuple[int, int]:
        """(position, pose) dimensions the tip can move in: the largest rank of the tip's linear and
        full Jacobians over a few deterministic configurations within the limits (a chain shorter than
        the task, or joints whose axes pass through the tip, show here as a rank below 3 or 6)."""
        rng = np.random.default_rng(0)
        samples = [np.clip(np.zeros(self.num_joints), self.lower_limits, self.upper_limits)]
        samples += list(rng.uniform(self.lower_limits, self.upper_limits, size=(8, self.num_joints)))
        position_rank = pose_rank = 0
        for q in samples:
            pin.computeJointJacobians(self._model, self._data, q)
            jacobian = pin.getFrameJacobian(self._model, self._data, self._tip_frame_id, pin.LOCAL_WORLD_ALIGNED)
            position_rank = max(position_rank, int(np.linalg.matrix_rank(jacobian[:3], tol=1e-6)))
            pose_rank = max(pose_rank, int(np.linalg.matrix_rank(jacobian, tol=1e-6)))
        return position_rank, pose_rank

    def check_can_reach(self, position_only: bool = False) -> None:
        """Raise ValueError when the chain cannot place the tip at a 6-D pose (or at a 3-D position with
        ``position_only``): too few joints, or joints that do not move the tip in enough directions."""
        needed, have = (3, self.position_dof) if position_only else (6, self.pose_dof)
        if have < needed:
            what = "a 3-D position" if position_only else "a 6-D pose (position and rotation)"
            raise ValueError(
                f"{self.source}: tip link {self.tip_link!r} cannot be placed at {what}: its chain from "
                f"{self.base_link!r} has {self.num_joints} joint(s) {list(self.joint_names)}, which move it in "
                f"{have} of the {needed} dimensions needed; choose a link further out (the end effector)"
            )

    @classmethod
    def from_urdf(
        cls,
        urdf_path: str | Path,
        tip_link: str,
        locked_joint_positions: Mapping[str, float] | None = None,
    ) -> RobotModel:
        """Load `urdf_path` (meshes are not needed) and keep the joints that move `tip_link`.

        Every joint outside the root -> tip chain is locked at the position given in
        `locked_joint_positions`, else at 0 clamped into its limits. Joints named in
        `locked_joint_positions` are locked even when they lie on the chain.
        """
        path = Path(urdf_path)
        if not path.is_file():
            raise FileNotFoundError(f"URDF not found: {path}")
        try:
            full = pin.buildModelFromUrdf(str(path))
        except Exception as exc:  # pinocchio raises plain RuntimeError / ValueError with parser text
            raise ValueError(f"could not parse URDF {path}: {exc}") from exc
        links = [f.name for f in full.frames if f.type == pin.FrameType.BODY]
        if tip_link not in links:
            raise ValueError(f"tip link {tip_link!r} is not a link of {path}; available links: {', '.join(links)}")
        locked = dict(locked_joint_positions or {})
        unknown = sorted(set(locked) - set(full.names[1:]))
        if unknown:
            raise ValueError(f"locked joints {unknown} are not joints of {path}; joints: {list(full.names[1:])}")

        tip_joint = full.frames[full.getFrameId(tip_link)].parentJoint
        chain = set(full.supports[tip_joint].tolist())
        reference = pin.neutral(full)
        lock_ids: list[int] = []
        for joint_id in range(1, full.njoints):
            name = full.names[joint_id]
            if joint_id in chain and name not in locked:
                continue
            idx = full.joints[joint_id].idx_q
            nq = full.joints[joint_id].nq
            if name in locked:
                if nq != 1:
                    raise ValueError(f"cannot lock multi-dof joint {name!r} at a scalar")
                reference[idx] = float(locked[name])
            elif nq == 1:
                # 0 clamped into the limits: a closed Panda gripper (fingers do not move the hand).
                reference[idx] = min(max(0.0, full.lowerPositionLimit[idx]), full.upperPositionLimit[idx])
            lock_ids.append(joint_id)
        reduced = pin.buildReducedModel(full, lock_ids, reference) if lock_ids else full
        return cls(reduced, tip_link, source=str(path))

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def _check_q(self, q: np.ndarray, name: str) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        if q.shape != (self.num_joints,):
            raise ValueError(f"{name} must have {self.num_joints} values {self.joint_names}, got {q.shape[0]}")
        if not np.isfinite(q).all():
            raise ValueError(f"{name} has non-finite values: {q.tolist()}")
        return q

    def within_limits(self, q: np.ndarray, tolerance: float = 1e-9) -> bool:
        q = self._check_q(q, "q")
        return bool(((q >= self.lower_limits - tolerance) & (q <= self.upper_limits + tolerance)).all())

    def clip_to_limits(self, q: np.ndarray) -> np.ndarray:
        return np.clip(self._check_q(q, "q"), self.lower_limits, self.upper_limits)

    def fk(self, q: np.ndarray) -> np.ndarray:
        """base_T_tip (4x4) at joint positions q."""
        q = self._check_q(q, "q")
        pin.framesForwardKinematics(self._model, self._data, q)
        return pose_from_pin(self._data.oMf[self._tip_frame_id])

    def _batch_chain(self) -> list[tuple[np.ndarray, str, int, int]] | None:
        """The root -> tip chain for vectorized FK as (placement 4x4, 'R'|'P'|'', axis, q index) steps,
        the tip frame's placement last; None when a joint type is not handled (fk_poses then loops
        over pinocchio)."""
        model = self._model
        frame = model.frames[self._tip_frame_id]
        steps = []
        for joint_id in list(model.supports[frame.parentJoint])[1:]:
            kind = model.joints[joint_id].shortname()
            if kind[:-1] not in ("JointModelR", "JointModelP") or kind[-1] not in "XYZ":
                return None
            steps.append(
                (
                    model.jointPlacements[joint_id].homogeneous,
                    kind[-2],
                    "XYZ".index(kind[-1]),
                    model.joints[joint_id].idx_q,
                )
            )
        steps.append((frame.placement.homogeneous, "", 0, 0))
        return steps

    def fk_poses(self, qs: np.ndarray) -> np.ndarray:
        """base_T_tip (M, 4, 4) for joint positions (M, N), vectorized over M: dense path checks."""
        qs = np.asarray(qs, dtype=np.float64)
        if qs.ndim != 2 or qs.shape[1] != self.num_joints:
            raise ValueError(f"qs must have shape (M, {self.num_joints}), got {qs.shape}")
        if self._chain is None:
            poses = np.empty((qs.shape[0], 4, 4))
            for i, q in enumerate(qs):
                pin.forwardKinematics(self._model, self._data, q)
                poses[i] = pin.updateFramePlacement(self._model, self._data, self._tip_frame_id).homogeneous
            return poses
        # base_T_tip = prod over the chain of (joint placement @ joint motion), for all samples at once
        poses = np.tile(np.eye(4), (qs.shape[0], 1, 1))
        for placement, kind, axis, idx_q in self._chain:
            poses = poses @ placement
            if kind:
                poses = poses @ _joint_motions(kind, axis, qs[:, idx_q])
        return poses

    def fk_positions(self, qs: np.ndarray) -> np.ndarray:
        """Tip positions (M, 3) in the base frame for joint positions (M, N): dense path checks."""
        return self.fk_poses(qs)[:, :3, 3]

    def ik(
        self,
        base_T_target: np.ndarray,
        q_current: np.ndarray,
        config: IKConfig | None = None,
        position_only: bool = False,
    ) -> IKSolution:
        """Joint positions putting the tip at `base_T_target`, nearest to `q_current`.

        `position_only` ignores the target's rotation (a 3-vector target is accepted then).
        Raises IKError with the best residual when no seed converges.
        """
        q_current = self._check_q(q_current, "q_current")
        if position_only and np.asarray(base_T_target).shape == (3,):
            base_T_target = pose_matrix(np.eye(3), base_T_target)
        return self.ik_pose(_to_se3(base_T_target, "base_T_target"), q_current, config, position_only)

    def ik_pose(
        self,
        base_T_target: pin.SE3,
        q_current: np.ndarray,
        config: IKConfig | None = None,
        position_only: bool = False,
    ) -> IKSolution:
        """`ik` for callers that have checked their inputs already (the planner's input stage):
        `base_T_target` a proper rigid transform, `q_current` (N,) finite float64."""
        if (self.position_dof if position_only else self.pose_dof) < (3 if position_only else 6):
            self.check_can_reach(position_only)  # raises: a short chain would crash or never converge
        config = config or IKConfig()
        target = base_T_target

        def seeds():  # the random seeds are drawn only when the search gets that far
            yield np.clip(q_current, self.lower_limits, self.upper_limits)
            if config.num_random_seeds:
                rng = np.random.default_rng(config.random_seed)
                yield from rng.uniform(
                    self.lower_limits, self.upper_limits, size=(config.num_random_seeds, self.num_joints)
                )

        solutions: list[tuple[float, int, np.ndarray, float, float]] = []
        best_residual = (math.inf, math.inf)
        total_iterations = 0
        for seed_index, seed in enumerate(seeds()):
            q, iterations, converged, pos_err, rot_err = self._solve_from(seed, target, config, position_only)
            total_iterations += iterations
            if converged:
                distance = float(np.linalg.norm(q - q_current))
                solutions.append((distance, seed_index, q, pos_err, rot_err))
                if len(solutions) >= config.max_solutions:
                    break
                if (
                    seed_index == 0
                    and config.accept_seed_within_rad is not None
                    and distance <= config.accept_seed_within_rad
                ):
                    break
            elif (pos_err, rot_err) < best_residual:
                best_residual = (pos_err, rot_err)
        if not solutions:
            pos_err, rot_err = best_residual
            what = "position" if position_only else "pose"
            raise IKError(
                f"{what} unreachable for tip {self.tip_link!r} at {np.round(target.translation, 4).tolist()} m: "
                f"best residual {pos_err * 1e3:.1f} mm / {math.degrees(rot_err):.2f} deg "
                f"after {1 + config.num_random_seeds} seeds",
                pos_err,
                rot_err,
            )
        distance, seed_index, q, pos_err, rot_err = min(solutions, key=lambda s: s[0])
        q.setflags(write=False)
        return IKSolution(q, pos_err, rot_err, total_iterations, seed_index, len(solutions), distance)

    def _solve_from(
        self, seed: np.ndarray, target: pin.SE3, config: IKConfig, position_only: bool
    ) -> tuple[np.ndarray, int, bool, float, float]:
        """Damped least squares from one seed: (q, iterations, converged, position err m, rotation err rad)."""
        model, data, frame_id = self._model, self._data, self._tip_frame_id
        lower, upper = self.lower_limits, self.upper_limits
        q = seed.copy()
        damping = config.damping**2 * np.eye(3 if position_only else 6)
        position_tolerance, rotation_tolerance = config.position_tolerance_m, config.rotation_tolerance_rad
        target_translation = target.translation
        best = (math.inf, q.copy(), math.inf, math.inf)
        stalled = 0
        for iteration in range(1, config.max_iterations + 1):
            pin.computeJointJacobians(model, data, q)  # also runs forward kinematics
            base_T_tip = pin.updateFramePlacement(model, data, frame_id)
            if position_only:
                error = base_T_tip.translation - target_translation
                pos_err = float(np.linalg.norm(error))
                rot_err = float(np.linalg.norm(pin.log3(base_T_tip.rotation.T @ target.rotation)))
            else:
                # error = log6(tip_T_target); its angular part is log3 of the rotation error and
                # |tip_T_target.translation| is the position error (a rotation keeps lengths).
                tip_T_target = base_T_tip.actInv(target)
                error = pin.log6(tip_T_target).vector
                pos_err = float(np.linalg.norm(tip_T_target.translation))
                rot_err = float(np.linalg.norm(error[3:]))
            if pos_err < position_tolerance and (position_only or rot_err < rotation_tolerance):
                return q, iteration, True, pos_err, rot_err
            # A scalar to detect progress: metres + radians weighs 1 mm like ~0.06 deg.
            score = pos_err + (0.0 if position_only else rot_err)
            if score < best[0] * (1 - 1e-3):
                best, stalled = (score, q.copy(), pos_err, rot_err), 0
            else:
                stalled += 1
                if stalled >= 15:  # stuck at a limit or out of reach: let the next seed try
                    break
            if position_only:
                jac = pin.getFrameJacobian(model, data, frame_id, pin.LOCAL_WORLD_ALIGNED)[:3]
            else:
                # with a body-frame Jacobian J the derivative of log6(tip_T_target) is
                # -Jlog6(target_T_tip) J (right-perturbation of the tip pose).
                jac = -pin.Jlog6(tip_T_target.inverse()) @ pin.getFrameJacobian(model, data, frame_id, pin.LOCAL)
            step = -jac.T @ np.linalg.solve(jac @ jac.T + damping, error)  # damped least squares
            # A joint resting on a limit and pushed outward would be clipped back every iteration,
            # which stalls the solve: freeze it and let the other joints take up the error.
            blocked = ((q <= lower) & (step < 0)) | ((q >= upper) & (step > 0))
            if blocked.any():
                jac = jac * ~blocked
                step = -jac.T @ np.linalg.solve(jac @ jac.T + damping, error)
            largest = float(np.abs(step).max())
            if largest > config.max_step_rad:
                step *= config.max_step_rad / largest
            q = np.clip(q + step, lower, upper)
        _, q_best, pos_err, rot_err = best
        return q_best, iteration, False, pos_err, rot_err
