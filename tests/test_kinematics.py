"""Kinematics on the real Panda URDF: FK against known poses, IK round trips, limits, nearest
solution, unreachable targets."""

from __future__ import annotations

import math

import numpy as np
import pinocchio as pin
import pytest

from vla_r1_robot.motion.kinematics import IKConfig, IKError, RobotModel, rigid_transform_problem

READY = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])  # the Panda's usual "ready" pose


@pytest.fixture(scope="module")
def panda_urdf(testdata):
    return testdata / "urdf_panda" / "panda.urdf"


@pytest.fixture(scope="module")
def panda(panda_urdf):
    return RobotModel.from_urdf(panda_urdf, "panda_hand")


def pose_errors(a_T_b, a_T_c):
    position_mm = 1e3 * np.linalg.norm(a_T_b[:3, 3] - a_T_c[:3, 3])
    cos_angle = (np.trace(a_T_b[:3, :3].T @ a_T_c[:3, :3]) - 1) / 2
    return position_mm, math.degrees(math.acos(np.clip(cos_angle, -1, 1)))


def top_down(x, y, z, yaw=0.0):
    """Gripper pointing down (hand z along -base z), rotated by yaw about base z."""
    c, s = math.cos(yaw), math.sin(yaw)
    pose = np.eye(4)
    pose[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = [x, y, z]
    return pose


def test_loads_arm_joints_and_locks_the_fingers(panda):
    assert panda.joint_names == tuple(f"panda_joint{i}" for i in range(1, 8))
    assert panda.base_link == "panda_link0" and panda.tip_link == "panda_hand"
    assert panda.velocity_limits_rad_s == pytest.approx([2.3925] * 4 + [2.8710] * 3)
    assert panda.lower_limits[3] == pytest.approx(-3.1416) and panda.upper_limits[5] == pytest.approx(3.8223)


def test_fk_matches_known_panda_poses(panda):
    # Straight up: the flange sits 0.088 m forward and 0.333 + 0.316 + 0.384 - 0.107 m high.
    up = panda.fk(np.zeros(7))
    assert up[:3, 3] == pytest.approx([0.088, 0.0, 0.926], abs=1e-6)
    assert up[:3, 2] == pytest.approx([0, 0, -1], abs=1e-9)  # hand z points down
    # Franka's documented ready pose: flange at (0.307, 0, 0.590), pointing down.
    ready = panda.fk(READY)
    assert ready[:3, 3] == pytest.approx([0.307, 0.0, 0.590], abs=1e-3)
    assert ready[:3, 2] == pytest.approx([0, 0, -1], abs=1e-3)


def test_missing_file_and_link_are_named(panda_urdf, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.urdf"):
        RobotModel.from_urdf(tmp_path / "nowhere.urdf", "panda_hand")
    with pytest.raises(ValueError, match=r"'panda_gripper'.*available links: .*panda_hand"):
        RobotModel.from_urdf(panda_urdf, "panda_gripper")
    with pytest.raises(ValueError, match="not joints of"):
        RobotModel.from_urdf(panda_urdf, "panda_hand", locked_joint_positions={"elbow": 0.0})
    broken = tmp_path / "broken.urdf"
    broken.write_text("<robot name='x'><link name='a'>")
    with pytest.raises(ValueError, match=r"broken\.urdf"):
        RobotModel.from_urdf(broken, "a")


def test_locking_a_chain_joint_removes_it(panda_urdf):
    robot = RobotModel.from_urdf(panda_urdf, "panda_hand", locked_joint_positions={"panda_joint7": 0.785})
    assert robot.joint_names == tuple(f"panda_joint{i}" for i in range(1, 7))
    full = RobotModel.from_urdf(panda_urdf, "panda_hand")
    assert robot.fk(READY[:6]) == pytest.approx(full.fk(READY), abs=1e-12)


def reachable_poses(panda):
    rng = np.random.default_rng(42)
    poses = [top_down(0.5, 0.0, 0.2), top_down(0.4, -0.3, 0.1, yaw=0.7), top_down(0.3, 0.35, 0.45, yaw=-1.2)]
    side = np.eye(4)
    side[:3, :3] = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # hand z along base x
    side[:3, 3] = [0.6, 0.1, 0.4]
    poses.append(side)
    # Poses of random configurations are reachable by construction.
    poses += [panda.fk(rng.uniform(panda.lower_limits, panda.upper_limits)) for _ in range(8)]
    return poses


def test_ik_round_trip_within_1mm_and_half_degree(panda):
    for pose in reachable_poses(panda):
        solution = panda.ik(pose, READY)
        assert panda.within_limits(solution.positions)
        position_mm, angle_deg = pose_errors(panda.fk(solution.positions), pose)
        assert position_mm < 1.0 and angle_deg < 0.5
        assert solution.position_error_m * 1e3 == pytest.approx(position_mm, abs=1e-6)


def test_position_only_ignores_rotation(panda):
    solution = panda.ik(np.array([0.45, -0.2, 0.3]), READY, position_only=True)
    assert np.linalg.norm(panda.fk(solution.positions)[:3, 3] - [0.45, -0.2, 0.3]) < 1e-3
    # a rotation the arm cannot take at this point does not matter either
    pose = top_down(0.45, -0.2, 0.3)
    pose[:3, :3] = pose[:3, :3] @ np.diag([1.0, -1.0, -1.0])  # hand pointing up
    assert panda.ik(pose, READY, position_only=True).position_error_m < 1e-3


def test_unreachable_target_reports_the_residual(panda):
    far = top_down(2.0, 0.0, 0.5)
    with pytest.raises(IKError, match=r"best residual \d+\.\d mm") as info:
        panda.ik(far, READY)
    # the arm reaches about 0.86 m from the shoulder at 0.333 m: at least 1 m short
    assert info.value.position_error_mm > 1000
    assert math.isfinite(info.value.rotation_error_deg)


def test_solution_respects_limits_when_the_seed_does_not(panda):
    outside = READY.copy()
    outside[3] = 0.5  # joint 4 upper limit is 0.0873
    solution = panda.ik(top_down(0.5, 0.1, 0.25), outside)
    assert panda.within_limits(solution.positions)


def test_nearest_solution_is_chosen(panda):
    # The target is where the arm already is: of all the (redundant, 7-DoF) solutions the random
    # seeds find, the current configuration is the nearest one.
    config = IKConfig(max_solutions=6)
    solution = panda.ik(panda.fk(READY), READY, config)
    assert solution.solutions_found >= 2
    assert solution.distance_rad < 1e-3
    # Far targets: the first seed that converges is often not the nearest solution; with more
    # solutions compared the choice is by distance, never worse than the first one found.
    rng = np.random.default_rng(3)
    improved = 0
    for _ in range(6):
        target = panda.fk(rng.uniform(panda.lower_limits, panda.upper_limits))
        first = panda.ik(target, READY, IKConfig(max_solutions=1))
        nearest = panda.ik(target, READY, IKConfig(max_solutions=17))
        assert nearest.distance_rad == pytest.approx(np.linalg.norm(nearest.positions - READY))
        assert nearest.distance_rad <= first.distance_rad + 1e-9
        improved += nearest.distance_rad < first.distance_rad - 0.1
    assert improved >= 1


def test_ik_is_deterministic_and_validates_input(panda):
    pose = top_down(0.4, 0.2, 0.3)
    a, b = panda.ik(pose, READY), panda.ik(pose, READY)
    assert np.array_equal(a.positions, b.positions)
    with pytest.raises(ValueError, match="orthonormal"):
        panda.ik(np.diag([2.0, 1.0, 1.0, 1.0]), READY)
    with pytest.raises(ValueError, match="non-finite"):
        panda.ik(np.full((4, 4), np.nan), READY)
    with pytest.raises(ValueError, match="7 values"):
        panda.ik(pose, READY[:6])


def test_vectorized_fk_matches_pinocchio_per_configuration(panda):
    qs = np.random.default_rng(5).uniform(panda.lower_limits, panda.upper_limits, size=(50, 7))
    poses = panda.fk_poses(qs)
    assert poses.shape == (50, 4, 4)
    for q, pose in zip(qs, poses, strict=True):
        assert pose == pytest.approx(panda.fk(q), abs=1e-9)  # metres and rotation entries
    assert panda.fk_positions(qs) == pytest.approx(poses[:, :3, 3], abs=0)
    with pytest.raises(ValueError, match=r"\(M, 7\)"):
        panda.fk_poses(qs[:, :6])


def test_vectorized_fk_handles_every_joint_axis_and_prismatic_joints():
    # The Panda only turns about z; the vectorized FK also handles x / y axes and prismatic joints.
    rng = np.random.default_rng(11)
    model, parent = pin.Model(), 0
    kinds = (
        pin.JointModelRX(),
        pin.JointModelRY(),
        pin.JointModelPZ(),
        pin.JointModelRZ(),
        pin.JointModelPX(),
        pin.JointModelRY(),
        pin.JointModelPY(),
    )
    for i, kind in enumerate(kinds):
        placement = pin.SE3(pin.exp3(rng.normal(size=3)), 0.3 * rng.normal(size=3))
        parent = model.addJoint(parent, kind, placement, f"joint{i}")
        model.addJointFrame(parent)
        model.addBodyFrame(f"link{i}", parent, pin.SE3.Identity(), -1)
    tip_placement = pin.SE3(pin.exp3(rng.normal(size=3)), rng.normal(size=3))
    model.addFrame(
        pin.Frame("tip", parent, model.getFrameId(f"link{len(kinds) - 1}"), tip_placement, pin.FrameType.OP_FRAME)
    )
    model.lowerPositionLimit[:], model.upperPositionLimit[:], model.velocityLimit[:] = -2.0, 2.0, 1.0
    robot = RobotModel(model, "tip")
    qs = rng.uniform(-2.0, 2.0, size=(40, 7))
    poses = robot.fk_poses(qs)
    for q, pose in zip(qs, poses, strict=True):
        assert pose == pytest.approx(robot.fk(q), abs=1e-9)
    assert robot.fk_positions(qs) == pytest.approx(poses[:, :3, 3], abs=0)


def test_ik_pose_is_ik_without_the_input_checks(panda):
    pose = top_down(0.4, -0.1, 0.25, yaw=0.3)
    checked = panda.ik(pose, READY)
    direct = panda.ik_pose(pin.SE3(pose[:3, :3], pose[:3, 3]), READY)
    assert np.array_equal(checked.positions, direct.positions) and checked.iterations == direct.iterations
    assert rigid_transform_problem(pose) is None
    assert "orthonormal" in rigid_transform_problem(np.diag([1.0, 1.0, -1.0, 1.0]))  # a reflection
    skewed = pose.copy()
    skewed[3, 0] = 0.1
    assert "bottom row" in rigid_transform_problem(skewed)


def test_accepting_the_current_seed_skips_the_search_only_within_the_bound(panda):
    target = top_down(0.45, 0.15, 0.3)
    searched = panda.ik(target, READY)
    assert searched.solutions_found == 4
    accepted = panda.ik(target, READY, IKConfig(accept_seed_within_rad=math.pi))
    assert accepted.seed_index == 0 and accepted.solutions_found == 1
    assert accepted.iterations < searched.iterations
    position_mm, angle_deg = pose_errors(panda.fk(accepted.positions), target)
    assert position_mm < 1.0 and angle_deg < 0.5
    # a bound below the solution's distance falls back to the full nearest-solution search
    tight = panda.ik(target, READY, IKConfig(accept_seed_within_rad=0.5 * accepted.distance_rad))
    assert tight.solutions_found == 4 and np.array_equal(tight.positions, searched.positions)
    with pytest.raises(ValueError, match="accept_seed_within_rad"):
        IKConfig(accept_seed_within_rad=-1.0)
