"""The one pose conversion boundary (vla_r1_robot.poses): 4x4 arrays, calibration.SE3 and
pinocchio.SE3 convert into each other without loss, and bad input is refused by name."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pinocchio as pin
import pytest
from scipy.spatial.transform import Rotation

from vla_r1_robot.poses import as_se3, pin_from_pose, pose_from_pin, pose_matrix, se3_from_pose, se3_from_transform_msg

RNG = np.random.default_rng(7)
POSES = [pose_matrix(Rotation.random(random_state=k).as_matrix(), RNG.uniform(-1, 1, 3)) for k in range(20)]


def test_pose_matrix_is_a_new_homogeneous_array():
    rotation, translation = np.diag([1.0, -1.0, -1.0]), np.array([0.4, 0.1, 0.2])
    pose = pose_matrix(rotation, translation)
    np.testing.assert_array_equal(pose[:3, :3], rotation)
    np.testing.assert_array_equal(pose[:3, 3], translation)
    np.testing.assert_array_equal(pose[3], [0.0, 0.0, 0.0, 1.0])
    pose[0, 3] = 9.0
    assert translation[0] == 0.4  # no view into the inputs


@pytest.mark.parametrize("pose", POSES)
def test_round_trips_through_all_three_representations(pose):
    np.testing.assert_allclose(se3_from_pose(pose).matrix(), pose, atol=1e-12)
    placement = pin_from_pose(pose)
    assert isinstance(placement, pin.SE3)
    np.testing.assert_array_equal(pose_from_pin(placement), pose)
    np.testing.assert_allclose(pose_from_pin(pin_from_pose(se3_from_pose(pose).matrix())), pose, atol=1e-12)


def test_conversions_copy():
    pose = POSES[0].copy()
    placement = pin_from_pose(pose)
    back = pose_from_pin(placement)
    pose[0, 3] += 1.0
    back[1, 3] += 1.0
    np.testing.assert_array_equal(placement.translation, POSES[0][:3, 3])


def test_as_se3_passes_an_se3_and_checks_a_matrix():
    se3 = se3_from_pose(POSES[1])
    assert as_se3(se3, "base_T_camera") is se3
    assert as_se3(POSES[1], "base_T_camera").allclose(se3)
    with pytest.raises(TypeError, match=r"base_T_camera must be an SE3 or a 4x4 matrix: .*4x4"):
        as_se3(np.eye(3), "base_T_camera")
    with pytest.raises(TypeError, match=r"base_T_camera must be an SE3 or a 4x4 matrix: .*orthonormal"):
        as_se3(pose_matrix(2 * np.eye(3), np.zeros(3)), "base_T_camera")


def test_se3_from_pose_tolerance():
    slightly_off = POSES[2].copy()
    slightly_off[:3, :3] += 5e-6
    assert se3_from_pose(slightly_off, tolerance=1e-4).allclose(se3_from_pose(POSES[2]), atol_m=1e-12, atol_rad=1e-4)
    with pytest.raises(ValueError, match="not orthonormal"):
        se3_from_pose(slightly_off)


def test_transform_message_to_se3():
    se3 = se3_from_pose(POSES[3])
    qx, qy, qz, qw = se3.quaternion_xyzw()
    x, y, z = se3.translation
    msg = SimpleNamespace(translation=SimpleNamespace(x=x, y=y, z=z), rotation=SimpleNamespace(x=qx, y=qy, z=qz, w=qw))
    assert se3_from_transform_msg(msg).allclose(se3, atol_m=1e-12, atol_rad=1e-9)
    msg.rotation = SimpleNamespace(x=0.0, y=0.0, z=0.0, w=0.0)
    with pytest.raises(ValueError, match="unit length"):
        se3_from_transform_msg(msg)


def test_grounding_and_the_profile_import_without_pinocchio():
    import subprocess
    import sys

    code = (
        "import sys\nsys.modules['pinocchio'] = None\n"
        "import vla_r1_robot.poses, vla_r1_robot.perception.grounding, vla_r1_robot.motion.robot_profile\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
