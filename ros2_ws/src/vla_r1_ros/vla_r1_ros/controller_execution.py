"""Execute a TaskPlan through the standard ros2_control controller interfaces. Part of the ROS layer.

Arm: ``control_msgs/action/FollowJointTrajectory`` at ``/<arm_controller>/follow_joint_trajectory``
where control_msgs is importable, else the JointTrajectoryController's topic
``/<arm_controller>/joint_trajectory`` (trajectory_msgs/JointTrajectory). Gripper:
``control_msgs/action/GripperCommand`` at ``/<gripper_controller>/gripper_cmd``, else a one-point
JointTrajectory on ``/<gripper_controller>/joint_trajectory`` (finger joint at width / 2, effort =
force). Progress is judged on ``/joint_states`` only (the same rule for both interfaces); on cancel or
failure the arm gets a hold at its measured position. The decisions live in controller_logic.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
from trajectory_msgs.msg import JointTrajectoryPoint

from vla_r1_robot.motion.controller_logic import (
    ControllerConfig,
    ExecutionReport,
    JointStateSlot,
    StepWatch,
    TrajectoryCommand,
    arm_command,
    fresh_positions,
    gripper_command,
    hold_command,
    start_deviation,
    step_label,
)
from vla_r1_robot.motion.task import ArmSegment, TaskPlan
from vla_r1_robot.motion.task import GripperCommand as GripperStep  # not control_msgs' GripperCommand action below

from .conversions import s_to_duration_msg

try:  # a full ROS install has control_msgs; the PyPI wheels do not (then the topic interfaces are used)
    from control_msgs.action import FollowJointTrajectory, GripperCommand
except ImportError:
    FollowJointTrajectory = GripperCommand = None


class ControllerError(RuntimeError):
    """The configured interface cannot be used (e.g. ``action`` without control_msgs)."""


def resolve_interface(requested: str) -> str:
    """``action`` or ``topic`` for ``auto | action | topic``."""
    if requested == "auto":
        return "action" if FollowJointTrajectory is not None else "topic"
    if requested == "action" and FollowJointTrajectory is None:
        raise ControllerError(
            "execution.controller_interface action needs control_msgs (not installed here): use topic or auto"
        )
    return requested


def trajectory_msg(command: TrajectoryCommand) -> JointTrajectoryMsg:
    """header.stamp zero = start now (the JTC convention)."""
    msg = JointTrajectoryMsg(joint_names=list(command.joint_names))
    for k in range(command.positions.shape[0]):
        point = JointTrajectoryPoint(
            positions=[float(v) for v in command.positions[k]],
            time_from_start=s_to_duration_msg(float(command.time_from_start_s[k])),
        )
        if command.velocities is not None:
            point.velocities = [float(v) for v in command.velocities[k]]
        if command.effort:
            point.effort = [float(v) for v in command.effort]
        msg.points.append(point)
    return msg


class _Sent:
    """A command on its way: for actions, the goal response (a rejected goal ends the step)."""

    def __init__(self, future=None) -> None:
        self.future = future

    def rejected(self) -> bool:
        return (
            self.future is not None
            and self.future.done()
            and (self.future.result() is None or not self.future.result().accepted)
        )


class ControllerExecutor:
    """Sends the steps of a TaskPlan one after the other and watches /joint_states for each."""

    def __init__(
        self, node, config: ControllerConfig, callback_group=None, clock: Callable[[], float] = time.monotonic
    ):
        self.node, self.config, self._clock = node, config, clock
        self.interface = resolve_interface(config.controller_interface)
        self.joint_states = JointStateSlot(clock)
        node.create_subscription(
            JointState,
            config.joint_states_topic,
            self._on_joint_state,
            qos_profile_sensor_data,
            callback_group=callback_group,
        )
        arm, gripper = config.arm_controller.strip("/"), config.gripper_controller.strip("/")
        if self.interface == "topic":
            self.arm_topic, self.gripper_topic = f"/{arm}/joint_trajectory", f"/{gripper}/joint_trajectory"
            self._arm_pub = node.create_publisher(JointTrajectoryMsg, self.arm_topic, 10)
            self._gripper_pub = node.create_publisher(JointTrajectoryMsg, self.gripper_topic, 10)
        else:
            from rclpy.action import ActionClient

            self.arm_topic, self.gripper_topic = f"/{arm}/follow_joint_trajectory", f"/{gripper}/gripper_cmd"
            self._arm_client = ActionClient(node, FollowJointTrajectory, self.arm_topic, callback_group=callback_group)
            self._gripper_client = ActionClient(node, GripperCommand, self.gripper_topic, callback_group=callback_group)

    def _on_joint_state(self, msg: JointState) -> None:
        self.joint_states.put(msg.name, msg.position)

    # --- the current state --------------------------------------------------------------------------
    def current(self, joints) -> tuple[dict[str, float] | None, str]:
        positions, received, _ = self.joint_states.latest()
        return fresh_positions(positions, received, self._clock(), joints, self.config.joint_state_max_age_s)

    def start_positions(self, joints) -> np.ndarray:
        """Positions of ``joints`` (in that order) from a fresh /joint_states; LookupError naming why not."""
        current, why = self.current(joints)
        if current is None:
            raise LookupError(f"{why} on {self.config.joint_states_topic}")
        return np.array([current[j] for j in joints])

    # --- sending ------------------------------------------------------------------------------------
    def _send(self, command: TrajectoryCommand) -> _Sent:
        if self.interface == "topic":
            (self._arm_pub if command.target == "arm" else self._gripper_pub).publish(trajectory_msg(command))
            return _Sent()
        if command.target == "arm":
            goal = FollowJointTrajectory.Goal(trajectory=trajectory_msg(command))
            goal.goal_time_tolerance = s_to_duration_msg(self.config.timeout_s(command.duration_s) - command.duration_s)
            return _Sent(self._arm_client.send_goal_async(goal))
        goal = GripperCommand.Goal()
        goal.command.position = float(command.positions[-1, 0])
        goal.command.max_effort = float(command.effort[0])
        return _Sent(self._gripper_client.send_goal_async(goal))

    def missing_controllers(self, gripper: bool) -> str | None:
        """Why the controllers cannot take commands now (nobody subscribes, no action server), or None."""
        endpoints = [("arm", self.arm_topic)] + ([("gripper", self.gripper_topic)] if gripper else [])
        if self.interface == "topic":
            publishers = {"arm": self._arm_pub, "gripper": self._gripper_pub}
            absent = [name for target, name in endpoints if publishers[target].get_subscription_count() == 0]
            return f"nothing subscribes to {', '.join(absent)}: is the controller running?" if absent else None
        clients = {"arm": self._arm_client, "gripper": self._gripper_client}
        absent = [name for target, name in endpoints if not clients[target].server_is_ready()]
        return f"no action server at {', '.join(absent)}: is the controller running?" if absent else None

    def hold(self) -> bool:
        """Hold the arm at its measured position; False when no joint state says where that is."""
        positions, _, _ = self.joint_states.latest()
        if not all(j in positions for j in self.config.arm_joints):
            self.node.get_logger().error("cannot hold the arm: no joint state names every arm joint")
            return False
        self._send(hold_command(positions, self.config))
        return True

    # --- executing ----------------------------------------------------------------------------------
    def execute(
        self,
        plan: TaskPlan,
        cancel: threading.Event,
        on_step: Callable[[int, int, str], None] = lambda i, n, kind: None,
    ) -> ExecutionReport:
        """Every step in order; ``executed`` only when each finished within tolerance. Never raises for
        a controller problem: the report says which step failed and why."""
        cfg, steps, kinds = self.config, plan.steps, plan.step_names()
        total = len(steps)
        try:  # every command is built before anything moves
            commands = [arm_command(s, cfg) if isinstance(s, ArmSegment) else gripper_command(s, cfg) for s in steps]
        except ValueError as exc:
            return ExecutionReport(False, False, total, 0, str(exc))
        uses_gripper = any(c.target == "gripper" for c in commands)
        missing = self.missing_controllers(uses_gripper)
        if missing:
            return ExecutionReport(False, False, total, 0, f"nothing sent: {missing}")
        joints = cfg.arm_joints + ((cfg.gripper_joint,) if uses_gripper else ())
        current, why = self.current(joints)
        if current is None:
            return ExecutionReport(False, False, total, 0, f"nothing sent: {why} on {cfg.joint_states_topic}")
        seconds: list[tuple[str, float]] = []
        for index, (step, command) in enumerate(zip(steps, commands, strict=True)):
            label = step_label(index, step)
            on_step(index, total, kinds[index])
            if cancel.is_set():
                self.hold()
                return ExecutionReport(False, True, total, index, None, tuple(seconds))
            if command.target == "arm":
                current, why = self.current(command.joint_names)
                if current is None:
                    self.hold()
                    return ExecutionReport(
                        False, False, total, index, f"{label}: {why} on {cfg.joint_states_topic}", tuple(seconds)
                    )
                joint, error = start_deviation(command, current)
                if error > cfg.start_tolerance_rad:
                    self.hold()
                    return ExecutionReport(
                        False,
                        False,
                        total,
                        index,
                        (
                            f"{label} not started: {joint} is {error:.4f} rad from the plan's first point "
                            f"(execution.start_tolerance_rad {cfg.start_tolerance_rad}): the arm moved since planning"
                        ),
                        tuple(seconds),
                    )
            outcome = self._run_step(command, step, label, cancel)
            if outcome == "done":
                seconds.append((f"{index}:{kinds[index]}", self._clock() - self._step_started))
                continue
            self.hold()
            if outcome == "cancelled":
                return ExecutionReport(False, True, total, index, None, tuple(seconds))
            return ExecutionReport(False, False, total, index, outcome, tuple(seconds))
        return ExecutionReport(True, False, total, total, None, tuple(seconds))

    def _run_step(self, command: TrajectoryCommand, step, label: str, cancel: threading.Event) -> str:
        """ "done", "cancelled", or the failure message."""
        cfg = self.config
        before, _, count = self.joint_states.latest()
        self._step_started = sent_s = self._clock()
        sent = self._send(command)
        watch = StepWatch(
            command,
            cfg,
            sent_s,
            closing=isinstance(step, GripperStep) and step.action == "close",
            start_position=before.get(command.joint_names[0]),
        )
        while True:
            self.joint_states.wait_newer(count, 0.02)
            if cancel.is_set():
                return "cancelled"
            if sent.rejected():
                topic = self.arm_topic if command.target == "arm" else self.gripper_topic
                return f"{label}: the controller rejected the goal ({topic})"
            positions, received, count = self.joint_states.latest()
            now = self._clock()
            fresh = received is not None and received >= sent_s and now - received <= cfg.joint_state_max_age_s
            if received is None or not fresh or not all(j in positions for j in command.joint_names):
                if now >= watch.deadline_s:
                    return (
                        f"{label}: no fresh joint state naming {list(command.joint_names)} on "
                        f"{cfg.joint_states_topic} before the step's timeout"
                    )
                continue
            status = watch.update(received, positions)
            if status == "done":
                return "done"
            if status == "timeout":
                return watch.failure(label)
