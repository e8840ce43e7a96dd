"""MoveIt 2 through moveit_py: the `Planner` protocol of planning.py, plus a separate `execute`.

moveit_py has no multi-waypoint Cartesian call, so targets are planned ONE GOAL AT A TIME: the
pre-grasp then the grasp, or each waypoint of a path, every segment starting from the last state of
the previous one. The segments are joined into one JointTrajectory for the result and the display;
execution replays the MoveIt segments in order and can be stopped between and during segments.

API used (moveit_py, MoveIt 2 Jazzy): MoveItPy(node_name=..., config_dict=...),
get_planning_component(group), PlanRequestParameters(moveit, namespace) with planning_pipeline,
planner_id, planning_time, planning_attempts, max_velocity_scaling_factor,
max_acceleration_scaling_factor; PlanningComponent.set_start_state(robot_state=...),
set_start_state_to_current_state(), set_goal_state(pose_stamped_msg=..., pose_link=...),
plan(single_plan_parameters=...) -> result with .trajectory (RobotTrajectory: len, [i] -> RobotState,
get_robot_trajectory_msg()); MoveItPy.execute(robot_trajectory, controllers=[]) (blocking);
get_trajectory_execution_manager().stop_execution() for cancels.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vla_r1_robot.motion.planning import JointTrajectory, PlanningError
from vla_r1_robot.motion.safety import SafetyConfig, check_targets

from .conversions import joint_trajectory_from_msg, pose_msg

PLAN_REQUEST_NAMESPACE = "vla_r1_plan"


@dataclass(frozen=True)
class MoveItSettings:
    planning_group: str
    pose_link: str
    base_frame: str
    planning_pipeline: str = "ompl"
    planner_id: str = ""
    planning_time_s: float = 5.0
    planning_attempts: int = 1
    velocity_scaling: float = 0.1
    acceleration_scaling: float = 0.1


def join_segments(segments: Sequence[JointTrajectory]) -> JointTrajectory:
    """One trajectory through all segments: times offset, the duplicated joint points dropped.
    ``waypoint_indices[k]`` is the row where segment k (target k) ends. ROS-free (tested here)."""
    if not segments:
        raise ValueError("no segments")
    names = segments[0].joint_names
    positions, times, velocities, indices = [], [], [], []
    offset = 0.0
    with_velocities = all(s.velocities is not None for s in segments)
    for k, segment in enumerate(segments):
        if segment.joint_names != names:
            raise ValueError(f"segment {k} has joints {segment.joint_names}, expected {names}")
        start = 0 if k == 0 else 1  # a segment starts where the previous ended
        positions.append(segment.positions[start:])
        times.append(segment.time_from_start_s[start:] - segment.time_from_start_s[0] + offset)
        if with_velocities and segment.velocities is not None:  # with_velocities: none is None
            velocities.append(segment.velocities[start:])
        offset = times[-1][-1] if len(times[-1]) else offset
        indices.append(sum(len(p) for p in positions) - 1)
    return JointTrajectory(
        names,
        np.concatenate(positions),
        np.concatenate(times),
        np.concatenate(velocities) if with_velocities else None,
        tuple(indices),
    )


class MoveItPlanner:
    """The Planner protocol over moveit_py, with the optional abilities ReadsCurrentPositions,
    ExecutesOwnPlans and Stoppable (planning.py). No robot model (not HasRobotModel): the start comes
    from MoveIt's current state unless ``start_positions`` is given (then it is used for the first segment)."""

    def __init__(
        self,
        settings: MoveItSettings,
        safety: SafetyConfig,
        node_name: str = "vla_r1_moveit_py",
        config_dict: dict | None = None,
    ) -> None:
        from moveit.planning import MoveItPy, PlanRequestParameters

        self.settings = settings
        self.safety = safety
        # MoveItPy spins its own rclcpp node on its own thread; its parameters (robot description,
        # pipelines, controllers) come from the launch file's parameters or config_dict.
        self._moveit = MoveItPy(node_name=node_name, config_dict=config_dict)
        self._component = self._moveit.get_planning_component(settings.planning_group)
        # defaults from the `vla_r1_plan.plan_request_params` section of config/moveit_py.yaml, then ours
        self._params = PlanRequestParameters(self._moveit, PLAN_REQUEST_NAMESPACE)
        self._params.planning_pipeline = settings.planning_pipeline
        if settings.planner_id:
            self._params.planner_id = settings.planner_id
        self._params.planning_time = float(settings.planning_time_s)
        self._params.planning_attempts = int(settings.planning_attempts)
        self._params.max_velocity_scaling_factor = float(settings.velocity_scaling)
        self._params.max_acceleration_scaling_factor = float(settings.acceleration_scaling)
        self._lock = threading.Lock()
        self._last: tuple[JointTrajectory, list] | None = None  # (joined plan, MoveIt segments)
        self._stop = threading.Event()

    def current_positions(self) -> np.ndarray | None:
        """The group's joint positions from MoveIt's state monitor (None before the first joint state)."""
        monitor = self._moveit.get_planning_scene_monitor()
        with monitor.read_only() as scene:
            state = scene.current_state
            return np.asarray(state.get_joint_group_positions(self.settings.planning_group), dtype=np.float64)

    def _start_state(self, start_positions: np.ndarray | None):
        if start_positions is None:
            self._component.set_start_state_to_current_state()
            return
        from moveit.core.robot_state import RobotState

        state = RobotState(self._moveit.get_robot_model())
        state.set_joint_group_positions(self.settings.planning_group, np.asarray(start_positions, dtype=np.float64))
        state.update()
        self._component.set_start_state(robot_state=state)

    def plan(self, targets_base_T_tip: Sequence[np.ndarray], start_positions: np.ndarray | None) -> JointTrajectory:
        from geometry_msgs.msg import PoseStamped

        targets = [np.asarray(t, dtype=np.float64) for t in targets_base_T_tip]
        if not targets or any(t.shape != (4, 4) or not np.isfinite(t).all() for t in targets):
            raise PlanningError("input", "targets must be one or more finite 4x4 transforms")
        violations = check_targets(np.array([t[:3, 3] for t in targets]), self.safety)
        if violations:  # last line of defence: nothing unsafe reaches MoveIt
            raise PlanningError("safety", "; ".join(v.message for v in violations[:3]), violations=violations)
        started = time.perf_counter()
        segments, core_segments = [], []
        with self._lock:
            self._start_state(start_positions)
            for k, target in enumerate(targets):
                goal = PoseStamped()
                goal.header.frame_id = self.settings.base_frame
                goal.pose = pose_msg(target)
                self._component.set_goal_state(pose_stamped_msg=goal, pose_link=self.settings.pose_link)
                result = self._component.plan(single_plan_parameters=self._params)
                if not result:
                    # MoveIt answers "no plan" for unreachable, colliding or IK-less goals alike.
                    raise PlanningError(
                        "motion_planning",
                        f"MoveIt ({self.settings.planning_pipeline}) found no plan "
                        f"to {self.settings.pose_link} at target {k}",
                        waypoint_index=k,
                    )
                trajectory = result.trajectory
                core_segments.append(trajectory)
                segments.append(joint_trajectory_from_msg(trajectory.get_robot_trajectory_msg().joint_trajectory))
                # the next segment starts where this one ends
                self._component.set_start_state(robot_state=trajectory[len(trajectory) - 1])
        joined = join_segments(segments)
        joined = JointTrajectory(
            joined.joint_names,
            joined.positions,
            joined.time_from_start_s,
            joined.velocities,
            joined.waypoint_indices,
            {"moveit_s": time.perf_counter() - started},
        )
        self._last = (joined, core_segments)
        return joined

    def execute(self, plan: JointTrajectory, cancel: threading.Event | None = None) -> None:
        """Run a plan made by this planner, segment by segment; raises RuntimeError when it fails,
        InterruptedError when cancelled. Callers gate this (goal.execute AND allow_execution)."""
        if self._last is None or self._last[0] is not plan:
            raise RuntimeError("only the latest plan of this planner can be executed")
        self._stop.clear()
        for k, segment in enumerate(self._last[1]):
            if (cancel is not None and cancel.is_set()) or self._stop.is_set():
                raise InterruptedError(f"cancelled before segment {k}")
            status = self._moveit.execute(segment, controllers=[])
            if (cancel is not None and cancel.is_set()) or self._stop.is_set():
                raise InterruptedError(f"cancelled during segment {k}")
            if status is not None and hasattr(status, "status") and str(status.status).upper() != "SUCCEEDED":
                raise RuntimeError(f"segment {k} ended with {status.status}")

    def stop(self) -> None:
        """Stop a running execution now (called from the cancel callback's thread)."""
        self._stop.set()
        # MoveItPy.get_trajectory_execution_manager (moveit_py >= 2.11, all current Jazzy syncs); the
        # misspelled get_trajactory_execution_manager only on older releases (Jazzy's first 2.10.0).
        for name in ("get_trajectory_execution_manager", "get_trajactory_execution_manager"):
            manager = getattr(self._moveit, name, None)
            if manager is not None:
                manager().stop_execution()
                return
