"""What is specific to one arm and its gripper, in one place: joint and link names, the ready pose,
the tool point, the gripper's opening and finger pads, the controllers' names.

The generic modules (grounding, task, planning, execution, the simulated cell) take a profile, or
default to ``PANDA``, the Franka Emika Panda with its hand that the stack, the simulated cell and the
shipped configs are set up for (docs/kinematics_safety.md, docs/simulation.md). Another arm is a new
``RobotProfile`` passed where the defaults are; node parameters and YAML configs keep their names.
ROS-free and light (numpy only at import: command-line shells read their defaults here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vla_r1_model.validation import non_empty_text, positive_number

if TYPE_CHECKING:
    from calibration import SE3


@dataclass(frozen=True)
class RobotProfile:
    """One robot. Lengths in metres, angles in radians; ``tip_link`` is the link the planner solves
    for (the hand), the tool point lies ``fingertip_offset_m`` along its z axis."""

    name: str
    arm_joints: tuple[str, ...]
    ready_positions_rad: tuple[float, ...]  # one per arm joint, in the order of arm_joints
    finger_joints: tuple[str, ...]  # the first is the one a gripper command drives (opening = width / 2)
    finger_links: tuple[str, ...]
    tip_link: str
    planning_group: str  # MoveIt's name for the arm
    fingertip_offset_m: float  # tip link origin to the tool point (finger pad centre), along tip z
    gripper_open_width_m: float  # fully open
    # The finger pad reaches this far beyond the tool point along the approach, and its outer edge
    # this far from the closing plane beyond the opening (task.py's fingertip points).
    finger_pad_extent_m: float
    finger_pad_thickness_m: float
    arm_controller: str
    gripper_controller: str

    def __post_init__(self) -> None:
        for name in ("name", "tip_link", "planning_group", "arm_controller", "gripper_controller"):
            non_empty_text(f"robot profile {name}", getattr(self, name), "name")
        for name in ("arm_joints", "finger_joints", "finger_links"):
            names = tuple(getattr(self, name))
            if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
                raise ValueError(f"robot profile {name} must be unique non-empty names, got {list(names)}")
            object.__setattr__(self, name, names)
        ready = tuple(float(v) for v in self.ready_positions_rad)
        if len(ready) != len(self.arm_joints) or not all(math.isfinite(v) for v in ready):
            raise ValueError(
                f"robot profile ready_positions_rad must be {len(self.arm_joints)} finite values "
                f"(one per arm joint), got {list(self.ready_positions_rad)}"
            )
        object.__setattr__(self, "ready_positions_rad", ready)
        for name in ("fingertip_offset_m", "gripper_open_width_m", "finger_pad_extent_m", "finger_pad_thickness_m"):
            object.__setattr__(self, name, positive_number(f"robot profile {name}", getattr(self, name)))

    @property
    def ready(self) -> dict[str, float]:
        """The ready pose by joint name."""
        return dict(zip(self.arm_joints, self.ready_positions_rad, strict=True))

    def ready_positions(self) -> np.ndarray:
        return np.array(self.ready_positions_rad, dtype=np.float64)

    @property
    def hand_T_fingertip(self) -> SE3:
        """Tool point in the tip link's frame: the default ``tip_T_grasp`` of grounding."""
        from calibration import SE3  # here, not at import: command-line shells read their defaults here

        return SE3(np.eye(3), np.array([0.0, 0.0, self.fingertip_offset_m]))


PANDA = RobotProfile(
    name="panda",
    arm_joints=tuple(f"panda_joint{i}" for i in range(1, 8)),
    ready_positions_rad=(0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785),
    finger_joints=("panda_finger_joint1", "panda_finger_joint2"),
    finger_links=("panda_leftfinger", "panda_rightfinger"),
    tip_link="panda_hand",
    planning_group="panda_arm",
    fingertip_offset_m=0.1034,  # franka_description: the pad centre 0.1034 m along panda_hand z
    gripper_open_width_m=0.08,
    finger_pad_extent_m=0.00925,  # pads 18.5 mm tall, centred on the tool point
    finger_pad_thickness_m=0.0076,
    arm_controller="panda_arm_controller",
    gripper_controller="panda_hand_controller",
)
