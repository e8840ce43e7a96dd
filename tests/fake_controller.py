"""A stand-in for ros2_control in tests: the JointTrajectoryController topic interfaces of the Panda arm
and hand, and /joint_states at 50 Hz (the contract's minimum).

An arm trajectory is followed as a JTC does (sampled from its receipt, cubic Hermite, starting from
the current position when the first point is later than 0) through a first-order lag; a new
trajectory replaces the running one at once. The finger moves toward its commanded position at
``finger_speed_m_s`` and stops on an object ``object_width_m`` wide. ``stuck_joint`` stops following
commands (a fault). Every received command is kept for the assertions.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg

from vla_r1_robot.motion.planning import JointTrajectory
from vla_r1_robot.motion.robot_profile import PANDA
from vla_r1_ros.conversions import joint_trajectory_from_msg

ARM_JOINTS = PANDA.arm_joints
FINGERS = ("panda_finger_joint1", "panda_finger_joint2")
ARM_TOPIC = "/panda_arm_controller/joint_trajectory"
GRIPPER_TOPIC = "/panda_hand_controller/joint_trajectory"


class FakeController(Node):
    def __init__(self, context, rate_hz: float = 50.0, lag_s: float = 0.02, name: str = "fake_ros2_control") -> None:
        super().__init__(name, context=context)
        self.lag_s = lag_s
        self.finger_speed_m_s = 0.1
        self.object_width_m = 0.0  # > 0: a closing finger stops at half of it
        self.stuck_joint = ""
        self.active = True  # False: no joint states are published
        self.arm_msgs: list[tuple[float, JointTrajectoryMsg]] = []
        self.gripper_msgs: list[tuple[float, JointTrajectoryMsg]] = []
        self._lock = threading.Lock()
        self.reset()
        self.create_subscription(JointTrajectoryMsg, ARM_TOPIC, self._on_arm, 10)
        self.create_subscription(JointTrajectoryMsg, GRIPPER_TOPIC, self._on_gripper, 10)
        self._pub = self.create_publisher(JointState, "/joint_states", 10)
        self._last = time.monotonic()
        self.create_timer(1.0 / rate_hz, self._tick)

    def reset(self, arm_positions=None, finger_m: float = 0.04) -> None:
        with self._lock:
            self.q = np.array(PANDA.ready_positions_rad if arm_positions is None else arm_positions, dtype=np.float64)
            self.finger = finger_m
            self.finger_target = finger_m
            self._trajectory: JointTrajectory | None = None
            self._started = 0.0

    def positions(self) -> np.ndarray:
        with self._lock:
            return self.q.copy()

    def _on_arm(self, msg: JointTrajectoryMsg) -> None:
        now = time.monotonic()
        self.arm_msgs.append((now, msg))
        command = joint_trajectory_from_msg(msg)
        order = [command.joint_names.index(j) for j in ARM_JOINTS]
        positions, times = command.positions[:, order], command.time_from_start_s
        velocities = None if command.velocities is None else command.velocities[:, order]
        with self._lock:
            if times[0] > 0:  # a JTC starts from where the arm is
                positions = np.vstack([self.q, positions])
                times = np.concatenate([[0.0], times])
                velocities = None if velocities is None else np.vstack([np.zeros(len(ARM_JOINTS)), velocities])
            self._trajectory = JointTrajectory(ARM_JOINTS, positions, times, velocities)
            self._started = now

    def _on_gripper(self, msg: JointTrajectoryMsg) -> None:
        self.gripper_msgs.append((time.monotonic(), msg))
        with self._lock:
            self.finger_target = float(msg.points[-1].positions[0])

    def _tick(self) -> None:
        now = time.monotonic()
        dt, self._last = now - self._last, now
        with self._lock:
            if self._trajectory is not None:
                desired = self._trajectory.sample(np.array([now - self._started]))[0]
                step = (desired - self.q) * min(1.0, dt / self.lag_s)
                if self.stuck_joint in ARM_JOINTS:
                    step[ARM_JOINTS.index(self.stuck_joint)] = 0.0
                self.q = self.q + step
            target = self.finger_target
            if self.object_width_m > 0 and target < self.finger:
                target = max(target, self.object_width_m / 2)
            move = np.clip(target - self.finger, -self.finger_speed_m_s * dt, self.finger_speed_m_s * dt)
            self.finger += float(move)
            names, values = list(ARM_JOINTS) + list(FINGERS), list(self.q) + [self.finger, self.finger]
        if self.active:
            self._pub.publish(JointState(header=self._header(), name=names, position=[float(v) for v in values]))

    def _header(self):
        from std_msgs.msg import Header

        return Header(stamp=self.get_clock().now().to_msg(), frame_id="")
