"""The one conversion boundary between the three pose representations of the robot core.

- Between modules a pose is a 4x4 float64 numpy array ``a_T_b`` (grounding's targets, the planner's
  input, task segments, the simulated hand): cheap to copy, stack and slice.
- ``calibration.SE3`` is the checked value type where a transform enters or leaves (files, messages,
  the camera pose, result dictionaries): orthonormal rotation, quaternions.
- ``pinocchio.SE3`` lives inside kinematics and planning only (IK targets, interpolation).

Every change of representation goes through a function here; pinocchio is imported only by the
functions that return or read its type, so grounding stays free of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from calibration import SE3

if TYPE_CHECKING:
    import pinocchio as pin


def pose_matrix(rotation: Any, translation: Any) -> np.ndarray:
    """A new 4x4 ``a_T_b`` from a 3x3 rotation and a 3-vector translation (metres); not checked."""
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = translation
    return pose


def se3_from_pose(pose: Any, tolerance: float = 1e-6) -> SE3:
    """A 4x4 pose as a checked ``SE3`` (a rotation block off by at most ``tolerance`` is projected
    onto the nearest rotation; more is a ValueError)."""
    return SE3.from_matrix(np.asarray(pose, dtype=np.float64), tolerance=tolerance)


def as_se3(value: Any, name: str) -> SE3:
    """An ``SE3`` as it is, or a 4x4 matrix checked into one; TypeError naming ``name`` otherwise."""
    if isinstance(value, SE3):
        return value
    try:
        return SE3.from_matrix(value)
    except (ValueError, TypeError) as error:
        raise TypeError(f"{name} must be an SE3 or a 4x4 matrix: {error}") from error


def se3_from_transform_msg(transform: Any) -> SE3:
    """A geometry_msgs/Transform (rclpy's or a rosbags-decoded one: the same fields) as
    parent_T_child; a NaN or zero quaternion is a ValueError."""
    t, q = transform.translation, transform.rotation
    return SE3.from_quaternion_xyzw((q.x, q.y, q.z, q.w), (t.x, t.y, t.z))


def pin_from_pose(pose: np.ndarray) -> pin.SE3:
    """A 4x4 pose (already checked by the caller: kinematics.rigid_transform_problem) as pinocchio's SE3."""
    import pinocchio as pin

    return pin.SE3(pose[:3, :3].copy(), pose[:3, 3].copy())


def pose_from_pin(placement: pin.SE3) -> np.ndarray:
    """pinocchio's SE3 as a new 4x4 pose."""
    return placement.homogeneous.copy()
