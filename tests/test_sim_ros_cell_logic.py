"""The ROS-free parts of the simulated cell node: the JointTrajectoryController-like follower and the
hand-eye YAML it writes for the node."""

from __future__ import annotations

import numpy as np
import pytest

from vla_r1_ros.sim.ros_cell import ArmTrajectory, hand_eye_yaml_text, hermite


def test_hermite_meets_the_points_and_their_velocities():
    p0, v0, p1, v1 = np.array([0.0]), np.array([1.0]), np.array([2.0]), np.array([-0.5])
    assert hermite(1.0, 1.0, p0, v0, 3.0, p1, v1)[0] == pytest.approx(p0)
    assert hermite(3.0, 1.0, p0, v0, 3.0, p1, v1)[0] == pytest.approx(p1)
    assert hermite(1.0, 1.0, p0, v0, 3.0, p1, v1)[1] == pytest.approx(v0)
    assert hermite(3.0, 1.0, p0, v0, 3.0, p1, v1)[1] == pytest.approx(v1)


def test_a_trajectory_starts_at_the_held_setpoint_and_holds_its_last_point():
    start = np.zeros(7)
    traj = ArmTrajectory(10.0, start, [1.0, 2.0], [np.full(7, 0.5), np.full(7, 1.0)], [np.full(7, 0.5), np.zeros(7)])
    assert traj.sample(10.0)[0] == pytest.approx(start)
    assert traj.sample(11.0)[0] == pytest.approx(np.full(7, 0.5))
    q, qd = traj.sample(11.5)
    assert 0.5 < q[0] < 1.0 and qd[0] > 0
    q, qd = traj.sample(20.0)
    assert q == pytest.approx(np.ones(7)) and qd == pytest.approx(np.zeros(7))


def test_the_hand_eye_yaml_is_what_the_node_reads(tmp_path):
    from calibration.transforms import NamedTransform, load_yaml_file
    from vla_r1_robot.sim.demo_scene_layout import CameraSpec

    base_T_camera = CameraSpec().base_T_camera()
    path = tmp_path / "base_T_camera.yaml"
    path.write_text(hand_eye_yaml_text(base_T_camera))
    named = NamedTransform.from_dict(load_yaml_file(path), str(path))  # as the node loads it
    assert (named.parent_frame, named.child_frame) == ("base_link", "camera_color_optical_frame")
    assert named.transform.matrix() == pytest.approx(base_T_camera.matrix(), abs=1e-9)
