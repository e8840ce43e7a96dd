"""A tip link at the root or too close to it is refused at start with a clear message (issue 14, item 1).

Before: `--tip panda_link0` crashed the replay with a segmentation fault inside pinocchio's IK (and left an
empty results.jsonl behind); `--tip panda_link1` ended in a raw TypeError from the IK step.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from vla_r1_robot.motion.kinematics import RobotModel
from vla_r1_robot.motion.planning import PinocchioPlanner, PlannerConfig
from vla_r1_robot.motion.safety import SafetyConfig
from vla_r1_robot.pipeline import build_planner

# base_link -(fixed)-> flange_mount; base_link -(revolute z)-> link1 -(revolute y)-> link2 -(fixed)-> tool
TWO_JOINT_URDF = """<?xml version="1.0"?>
<robot name="two_joint">
  <link name="base_link"/>
  <link name="flange_mount"/>
  <link name="link1"/>
  <link name="link2"/>
  <link name="tool"/>
  <joint name="mount" type="fixed"><parent link="base_link"/><child link="flange_mount"/>
    <origin xyz="0 0 0.05"/></joint>
  <joint name="joint1" type="revolute"><parent link="base_link"/><child link="link1"/>
    <origin xyz="0 0 0.1"/><axis xyz="0 0 1"/><limit lower="-2" upper="2" velocity="1" effort="10"/></joint>
  <joint name="joint2" type="revolute"><parent link="link1"/><child link="link2"/>
    <origin xyz="0 0 0.2"/><axis xyz="0 1 0"/><limit lower="-2" upper="2" velocity="1" effort="10"/></joint>
  <joint name="tool_joint" type="fixed"><parent link="link2"/><child link="tool"/>
    <origin xyz="0.3 0 0"/></joint>
</robot>
"""


@pytest.fixture()
def two_joint_urdf(tmp_path):
    path = tmp_path / "two_joint.urdf"
    path.write_text(TWO_JOINT_URDF)
    return path


@pytest.fixture(scope="module")
def panda_urdf(testdata):
    return testdata / "urdf_panda" / "panda.urdf"


@pytest.mark.parametrize("tip", ["base_link", "flange_mount"])
def test_a_tip_no_joint_moves_is_refused_when_the_model_is_built(two_joint_urdf, tip):
    with pytest.raises(ValueError, match=rf"two_joint.urdf: tip link '{tip}' is not moved by any joint"):
        RobotModel.from_urdf(two_joint_urdf, tip)


def test_a_tip_whose_joints_are_all_locked_is_refused(two_joint_urdf):
    with pytest.raises(ValueError, match="not moved by any joint"):
        RobotModel.from_urdf(two_joint_urdf, "tool", locked_joint_positions={"joint1": 0.0, "joint2": 0.0})


def test_a_two_joint_chain_cannot_take_a_pose_or_a_position(two_joint_urdf):
    robot = RobotModel.from_urdf(two_joint_urdf, "tool")
    assert (robot.position_dof, robot.pose_dof) == (2, 2)
    with pytest.raises(
        ValueError,
        match=r"'tool' cannot be placed at a 6-D pose.*2 joint\(s\) \['joint1', 'joint2'\]"
        r".*2 of the 6 dimensions",
    ):
        PinocchioPlanner(robot, SafetyConfig())
    with pytest.raises(ValueError, match=r"cannot be placed at a 3-D position.*2 of the 3 dimensions"):
        PinocchioPlanner(robot, SafetyConfig(), PlannerConfig(position_only=True))
    # the library entry points say the same instead of failing inside the solver
    target = np.eye(4)
    target[:3, 3] = [0.3, 0.0, 0.3]
    with pytest.raises(ValueError, match="cannot be placed at a 6-D pose"):
        robot.ik(target, np.zeros(2))
    with pytest.raises(ValueError, match="cannot be placed at a 3-D position"):
        robot.ik(target[:3, 3], np.zeros(2), position_only=True)


@pytest.mark.parametrize(
    "tip, message",
    [
        ("panda_link0", "is not moved by any joint"),  # was: segmentation fault in IK
        ("panda_link1", r"1 joint\(s\) \['panda_joint1'\], which move it in 1 of the 6"),  # was: raw TypeError
        ("panda_link5", "5 of the 6 dimensions"),  # was: every target "unreachable" after a full IK search
    ],
)
def test_panda_tips_near_the_root_are_refused_by_build_planner(panda_urdf, tip, message):
    with pytest.raises(ValueError, match=message):
        build_planner(str(panda_urdf), tip, SafetyConfig())


def test_panda_link3_has_no_third_position_direction(panda_urdf):
    # Three joints, but joint 3 turns about an axis through link3's origin: the origin moves in 2 directions.
    robot = RobotModel.from_urdf(panda_urdf, "panda_link3")
    assert robot.num_joints == 3 and robot.position_dof == 2
    with pytest.raises(ValueError, match="3-D position"):
        PinocchioPlanner(robot, SafetyConfig(), PlannerConfig(position_only=True))


@pytest.mark.parametrize("tip", ["panda_link6", "panda_link8", "panda_hand"])
def test_panda_tips_far_enough_out_are_accepted(panda_urdf, tip):
    planner = build_planner(str(panda_urdf), tip, SafetyConfig())
    assert planner.robot.pose_dof == 6 and planner.robot.position_dof == 3


def test_replay_refuses_a_root_tip_before_writing_anything(panda_urdf, tmp_path, capsys):
    if importlib.util.find_spec("mujoco") is None:
        pytest.skip("the demo scene needs the 'sim' extra (mujoco)")
    from vla_r1_cli.main import main
    from vla_r1_robot.sim.demo_scene import generate_demo_scene

    try:
        scene = generate_demo_scene(tmp_path / "scene", seed=1, n_frames=1)
    except RuntimeError as error:
        pytest.skip(f"MuJoCo offscreen rendering unavailable: {error}")
    answer = '<output>{"x": 0.5, "y": 0.5, "width": 0.1, "height": 0.1}</output>'
    for tip in ("panda_link0", "panda_link1"):
        out = tmp_path / f"replay_{tip}"
        code = main(
            [
                "replay",
                str(scene.bag_path),
                "--instruction",
                "pick it up",
                "--task",
                "affordance",
                "--answer",
                answer,
                "--urdf",
                str(panda_urdf),
                "--tip",
                tip,
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        err = capsys.readouterr().err
        assert code == 2, err
        assert f"tip link '{tip}'" in err and "panda.urdf" in err
        assert not (out / "results.jsonl").exists()


def test_bench_pipeline_refuses_a_root_tip(panda_urdf, tmp_path, capsys):
    from vla_r1_cli.main import main

    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "bench",
                "pipeline",
                "--urdf",
                str(panda_urdf),
                "--tip",
                "panda_link0",
                "--frames",
                "1",
                "--repeats",
                "1",
                "--json",
                str(out),
            ]
        )
        == 2
    )
    assert "tip link 'panda_link0' is not moved by any joint" in capsys.readouterr().err and not out.exists()
