"""Planning: JointTrajectory validation, the trapezoidal time parameterization, and the pinocchio
planner on the real Panda URDF (targets reached, limits kept, stages named on failure)."""

from __future__ import annotations

import math

import numpy as np
import pinocchio as pin
import pytest

from vla_r1_robot.motion.kinematics import IKConfig, RobotModel
from vla_r1_robot.motion.planning import (
    JointTrajectory,
    PinocchioPlanner,
    Planner,
    PlannerConfig,
    PlanningError,
    _angles_from_interpolated,
    _interpolate_pose,
)
from vla_r1_robot.motion.safety import SafetyConfig
from vla_r1_robot.motion.time_parameterization import trapezoidal_profile

READY = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
DT = 1e-3


def finite_differences(trajectory: JointTrajectory):
    """Velocities and accelerations of the trajectory as a spline controller would play it."""
    q = trajectory.sample(np.arange(0.0, trajectory.duration_s + DT, DT))
    velocity = np.diff(q, axis=0) / DT
    return velocity, np.diff(velocity, axis=0) / DT


# -- JointTrajectory ---------------------------------------------------------------------------


def test_joint_trajectory_validation():
    names = ("a", "b")
    ok = JointTrajectory(names, np.zeros((2, 2)), np.array([0.0, 1.0]))
    assert ok.num_points == 2 and ok.duration_s == 1.0
    with pytest.raises(ValueError):
        ok.positions[0, 0] = 1.0  # read-only
    bad = [
        dict(joint_names=("a", "a")),
        dict(positions=np.zeros((2, 3))),
        dict(positions=np.array([[0.0, np.nan], [0.0, 0.0]])),
        dict(time_from_start_s=np.array([0.0, 0.0])),
        dict(time_from_start_s=np.array([-1.0, 1.0])),
        dict(time_from_start_s=np.array([0.0, 1.0, 2.0])),
        dict(velocities=np.zeros((2, 1))),
        dict(waypoint_indices=(2,)),
    ]
    for change in bad:
        kwargs = dict(joint_names=names, positions=np.zeros((2, 2)), time_from_start_s=np.array([0.0, 1.0]))
        kwargs.update(change)
        with pytest.raises(ValueError):
            JointTrajectory(**kwargs)


def test_sample_is_exact_at_knots_and_hermite_between():
    trajectory = JointTrajectory(
        ("a",), np.array([[0.0], [1.0]]), np.array([0.0, 2.0]), velocities=np.array([[0.0], [0.0]])
    )
    assert trajectory.sample(np.array([0.0, 1.0, 2.0, 5.0]))[:, 0] == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert trajectory.sample(np.array([0.5]))[0, 0] == pytest.approx(3 * 0.25**2 - 2 * 0.25**3)


# -- time parameterization ---------------------------------------------------------------------


def test_trapezoid_durations_are_analytic():
    # 1 rad at 0.5 rad/s and 1 rad/s^2: 0.5 s up, 1.5 s cruise, 0.5 s down.
    timed = trapezoidal_profile(np.array([[0.0], [1.0]]), np.array([0.5]), np.array([1.0]))
    assert timed.time_from_start_s == pytest.approx([0.0, 0.5, 2.0, 2.5])
    assert timed.positions[:, 0] == pytest.approx([0.0, 0.125, 0.875, 1.0])
    assert timed.velocities[:, 0] == pytest.approx([0.0, 0.5, 0.5, 0.0])
    # 0.1 rad never reaches 0.5 rad/s: a triangle of 2 * sqrt(0.1) s.
    timed = trapezoidal_profile(np.array([[0.0], [0.1]]), np.array([0.5]), np.array([1.0]))
    assert timed.time_from_start_s == pytest.approx([0.0, math.sqrt(0.1), 2 * math.sqrt(0.1)])


def test_trapezoid_synchronizes_joints_and_drops_duplicates():
    path = np.array([[0.0, 0.0], [1.0, -0.5], [1.0, -0.5], [0.0, 0.0]])
    vmax, amax = np.array([0.5, 0.1]), np.array([1.0, 1.0])
    timed = trapezoidal_profile(path, vmax, amax)
    assert timed.path_point_indices[1] == timed.path_point_indices[2]  # the duplicate point
    trajectory = JointTrajectory(("a", "b"), timed.positions, timed.time_from_start_s, timed.velocities)
    velocity, acceleration = finite_differences(trajectory)
    assert (np.abs(velocity).max(axis=0) <= vmax * (1 + 1e-6)).all()
    assert np.abs(velocity).max(axis=0)[1] == pytest.approx(0.1, rel=1e-3)  # joint b sets the pace
    assert (np.abs(acceleration).max(axis=0) <= amax * (1 + 1e-3)).all()
    # synchronized: both joints are on the straight line between the path points at all times
    q = trajectory.sample(np.linspace(0, trajectory.duration_s, 200))
    assert q[:, 1] == pytest.approx(-0.5 * q[:, 0], abs=1e-12)


def test_trapezoid_reaches_every_path_point_exactly_and_starts_at_rest():
    rng = np.random.default_rng(2)
    path = np.cumsum(rng.normal(scale=0.2, size=(40, 3)), axis=0)
    path[[5, 6, 20]] = path[[4, 5, 19]]  # duplicates, one of them twice in a row
    timed = trapezoidal_profile(path, np.array([0.5, 0.8, 1.0]), np.array([1.0, 2.0, 2.0]))
    assert np.array_equal(timed.positions[list(timed.path_point_indices)], path)
    assert not timed.velocities[list(timed.path_point_indices)].any()  # at rest at each path point
    assert (np.diff(timed.time_from_start_s) > 0).all()
    single = trapezoidal_profile(path[:1], np.ones(3), np.ones(3))
    assert single.positions.shape == (1, 3) and single.path_point_indices == (0,)


def test_trapezoid_rejects_bad_limits():
    with pytest.raises(ValueError, match="max_velocity"):
        trapezoidal_profile(np.zeros((2, 2)), np.array([1.0, 0.0]), np.ones(2))


# -- the pinocchio planner ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def panda(testdata):
    return RobotModel.from_urdf(testdata / "urdf_panda" / "panda.urdf", "panda_hand")


def top_down(x, y, z, yaw=0.0):
    c, s = math.cos(yaw), math.sin(yaw)
    pose = np.eye(4)
    pose[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = [x, y, z]
    return pose


def line(start, end, count, yaw=0.0):
    return [top_down(*((1 - s) * np.array(start) + s * np.array(end)), yaw=yaw) for s in np.linspace(0, 1, count)]


SAFETY = SafetyConfig()


def test_plan_reaches_every_target_within_limits(panda):
    config = PlannerConfig(velocity_scaling=0.3, max_acceleration_rad_s2=1.5)
    planner = PinocchioPlanner(panda, SAFETY, config)
    assert isinstance(planner, Planner)
    targets = line([0.4, -0.2, 0.35], [0.55, 0.2, 0.12], 9, yaw=0.3)
    trajectory = planner.plan(targets, READY)

    assert trajectory.joint_names == panda.joint_names
    assert trajectory.positions[0] == pytest.approx(READY)
    assert len(trajectory.waypoint_indices) == len(targets)
    for row, target in zip(trajectory.waypoint_indices, targets, strict=True):
        reached = panda.fk(trajectory.positions[row])
        assert np.linalg.norm(reached[:3, 3] - target[:3, 3]) < 1e-3
    assert all(panda.within_limits(q) for q in trajectory.positions)

    velocity, acceleration = finite_differences(trajectory)
    limit = panda.velocity_limits_rad_s * config.velocity_scaling
    assert (np.abs(velocity) <= limit * (1 + 1e-6)).all()
    assert np.abs(velocity).max() > 0.5 * limit.min()  # it is not trivially slow either
    assert np.abs(acceleration).max() <= config.max_acceleration_rad_s2 * (1 + 1e-3)

    # between targets the executed tip path hugs the straight Cartesian segments
    first = trajectory.waypoint_indices[0]
    times = np.linspace(trajectory.time_from_start_s[first], trajectory.duration_s, 400)
    tips = panda.fk_positions(trajectory.sample(times))
    a, b = targets[0][:3, 3], targets[-1][:3, 3]
    direction = (b - a) / np.linalg.norm(b - a)
    off_line = np.linalg.norm(np.cross(tips - a, direction), axis=1)
    assert off_line.max() < config.path_tolerance_m + 1e-3

    assert {"input_s", "safety_s", "ik_s", "interpolation_s", "time_parameterization_s"} <= set(trajectory.timings_s)
    assert trajectory.summary()["num_points"] == trajectory.num_points


def test_velocity_scaling_slows_the_plan(panda):
    targets = line([0.4, 0.0, 0.3], [0.5, 0.0, 0.3], 3)
    fast = PinocchioPlanner(panda, SAFETY, PlannerConfig(velocity_scaling=1.0, max_acceleration_rad_s2=50.0))
    slow = PinocchioPlanner(panda, SAFETY, PlannerConfig(velocity_scaling=0.1, max_acceleration_rad_s2=50.0))
    assert slow.plan(targets, READY).duration_s > 5 * fast.plan(targets, READY).duration_s


def test_unsafe_targets_never_reach_ik(panda, monkeypatch):
    planner = PinocchioPlanner(panda, SAFETY)
    monkeypatch.setattr(panda, "ik", lambda *a, **k: pytest.fail("IK ran on an unsafe target"))
    targets = [top_down(0.5, 0.0, 0.08), top_down(0.5, 0.0, 0.01)]
    with pytest.raises(PlanningError) as info:
        planner.plan(targets, READY)
    assert (info.value.stage, info.value.waypoint_index) == ("safety", 1)
    assert [(v.rule, v.limit, v.value) for v in info.value.violations] == [("min_height", 0.02, 0.01)]
    nan_target = top_down(0.5, 0.0, 0.3)
    nan_target[0, 3] = np.nan
    with pytest.raises(PlanningError) as info:
        planner.plan([nan_target], READY)
    assert info.value.stage == "safety" and info.value.violations[0].rule == "finite"


def test_unreachable_target_names_stage_and_waypoint(panda):
    roomy = SafetyConfig(workspace_min_xyz_m=(-3, -3, 0), workspace_max_xyz_m=(3, 3, 3), max_reach_m=3, max_step_m=3)
    planner = PinocchioPlanner(panda, roomy)
    with pytest.raises(PlanningError, match=r"target 1\).*best residual") as info:
        planner.plan([top_down(0.5, 0.0, 0.3), top_down(1.6, 0.0, 0.3)], READY)
    assert (info.value.stage, info.value.waypoint_index) == ("ik", 1)
    assert info.value.__cause__.position_error_mm > 500


def test_bad_inputs_are_refused(panda):
    planner = PinocchioPlanner(panda, SAFETY)
    target = top_down(0.5, 0.0, 0.3)
    for targets, start, match in [
        ([], READY, "no targets"),
        ([np.eye(3)], READY, "4x4"),
        ([target], READY[:6], "7 values"),
        ([target], np.where(np.arange(7) == 3, 0.5, READY), "panda_joint4"),
        ([np.diag([1.0, 1.0, -1.0, 1.0])], READY, "orthonormal"),
    ]:
        with pytest.raises(PlanningError, match=match) as info:
            planner.plan(targets, start)
        assert info.value.stage == "input"


def test_segments_are_subdivided_and_fail_clearly_when_they_cannot_be(panda):
    # A 10 cm move with a 90 deg yaw turn: the joint-space line strays from the Cartesian segment.
    targets = [top_down(0.45, -0.05, 0.3, yaw=0.0), top_down(0.45, 0.05, 0.3, yaw=math.pi / 2)]
    strict = PlannerConfig(path_tolerance_m=0.0005, max_subdivisions=0)
    with pytest.raises(PlanningError, match=r"segment from target 0 to target 1: .* after 0 subdivisions") as info:
        PinocchioPlanner(panda, SAFETY, strict).plan(targets, READY)
    assert (info.value.stage, info.value.waypoint_index) == ("interpolation", 1)
    refined = PinocchioPlanner(panda, SAFETY, PlannerConfig(path_tolerance_m=0.0005)).plan(targets, READY)
    rows = refined.waypoint_indices
    assert rows[1] - rows[0] > 3  # extra path points were inserted between the two targets


def test_joint_jump_limit_is_enforced(panda):
    targets = line([0.4, -0.05, 0.3], [0.4, 0.05, 0.3], 2)
    config = PlannerConfig(max_joint_step_rad=0.001, max_subdivisions=1)
    with pytest.raises(PlanningError, match=r"panda_joint\d moves .* rad between path points") as info:
        PinocchioPlanner(panda, SAFETY, config).plan(targets, READY)
    assert info.value.stage == "interpolation"


def test_the_move_from_the_start_is_checked(panda):
    # Start with the hand 1 cm above the table: the move away begins below min_z_m.
    low = panda.ik(top_down(0.5, 0.0, 0.01), READY).positions
    targets = [top_down(0.5, 0.0, 0.3)]
    with pytest.raises(PlanningError, match="move from the start to target 0") as info:
        PinocchioPlanner(panda, SAFETY).plan(targets, low)
    assert (info.value.stage, info.value.waypoint_index) == ("interpolation", 0)
    unchecked = PinocchioPlanner(panda, SAFETY, PlannerConfig(check_start_move=False)).plan(targets, low)
    assert unchecked.positions[0] == pytest.approx(low)


def test_planner_config_validation():
    with pytest.raises(ValueError, match="velocity_scaling"):
        PlannerConfig(velocity_scaling=1.5)
    with pytest.raises(ValueError, match="max_acceleration_rad_s2"):
        PlannerConfig(max_acceleration_rad_s2=0.0)
    assert PlannerConfig.from_dict({"ik": {"max_solutions": 2}}).ik.max_solutions == 2


def test_start_ik_acceptance_bound(panda):
    targets = [top_down(0.45, 0.15, 0.3), top_down(0.45, 0.15, 0.2)]
    fast = PinocchioPlanner(panda, SAFETY).plan(targets, READY)  # default: the start's own solve within pi rad
    local = panda.ik(targets[0], READY, IKConfig(num_random_seeds=0)).positions
    assert fast.positions[fast.waypoint_indices[0]] == pytest.approx(local, abs=1e-12)
    searched = PinocchioPlanner(panda, SAFETY, PlannerConfig(start_ik_accept_rad=None)).plan(targets, READY)
    assert searched.positions[searched.waypoint_indices[0]] == pytest.approx(
        panda.ik(targets[0], READY).positions, abs=1e-12
    )
    for plan in (fast, searched):
        reached = panda.fk(plan.positions[plan.waypoint_indices[1]])
        assert np.linalg.norm(reached[:3, 3] - targets[1][:3, 3]) < 1e-3
    with pytest.raises(ValueError, match="start_ik_accept_rad"):
        PlannerConfig(start_ik_accept_rad=-0.1)


def test_vectorized_rotation_check_matches_the_slerp_definition(panda):
    a, b = pin.SE3(top_down(0.4, 0.0, 0.3)), pin.SE3(top_down(0.5, 0.1, 0.3, yaw=1.2))
    qs = np.random.default_rng(1).uniform(panda.lower_limits, panda.upper_limits, size=(20, 7))
    rotations = panda.fk_poses(qs)[:, :3, :3]
    fractions = np.linspace(0.05, 0.95, 20)
    angles = _angles_from_interpolated(a.rotation, b.rotation, fractions, rotations)
    for s, rotation, angle in zip(fractions, rotations, angles, strict=True):
        expected = _interpolate_pose(a, b, float(s)).rotation
        assert angle == pytest.approx(np.linalg.norm(pin.log3(expected.T @ rotation)), abs=1e-6)
