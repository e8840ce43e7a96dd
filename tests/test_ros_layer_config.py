"""params.yaml <-> the config dataclasses: the same keys, the same types, valid values."""

from pathlib import Path

import pytest
import yaml

from vla_r1_robot.motion.safety import SafetyConfig
from vla_r1_robot.perception.grounding_config import GroundingConfig
from vla_r1_ros.node_config import NODE_NAME, NodeConfig, default_parameters, flatten

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "ros2_ws/src/vla_r1_ros/config/params.yaml"


def _params_yaml() -> dict:
    data = yaml.safe_load(PARAMS.read_text())
    return flatten(data[NODE_NAME]["ros__parameters"])


def test_params_yaml_has_exactly_the_dataclass_keys():
    yaml_keys, declared = set(_params_yaml()), set(default_parameters())
    assert yaml_keys - declared == set(), "keys in params.yaml that no dataclass field has"
    assert declared - yaml_keys == set(), "dataclass fields missing from params.yaml"


def test_every_planner_field_is_a_parameter_or_listed():
    from dataclasses import fields

    from vla_r1_robot.motion.planning import PlannerConfig
    from vla_r1_ros.node_config import unexposed_planner_fields

    config = PlannerConfig()
    every = {f"planner.{f.name}" for f in fields(config) if f.name != "ik"}
    every |= {f"planner.ik.{f.name}" for f in fields(config.ik)}
    assert every == {k for k in default_parameters() if k.startswith("planner.")} | set(unexposed_planner_fields())


def test_params_yaml_types_match_the_declared_types():
    # a ROS parameter declared as double refuses an int from YAML, and the reverse
    defaults = default_parameters()
    for name, value in _params_yaml().items():
        assert type(value) is type(defaults[name]), f"{name}: {type(value).__name__} vs {type(defaults[name]).__name__}"
        if isinstance(value, list):  # a double array, or a string array (joint names)
            assert all(isinstance(v, float) for v in value) or all(isinstance(v, str) for v in value), name
            assert {type(v) for v in value} == {type(v) for v in defaults[name]}, name


def test_params_yaml_values_are_the_defaults():
    defaults = default_parameters()
    for name, value in _params_yaml().items():
        assert value == pytest.approx(defaults[name]) if not isinstance(value, str) else value == defaults[name], name


def test_params_map_onto_the_core_dataclasses():
    config = NodeConfig.from_parameters(_params_yaml())
    assert config.grounding == GroundingConfig()
    assert config.safety == SafetyConfig()
    assert config.grounding.trajectory_orientation_xyzw is None  # the all-zero sentinel
    assert config.execution.allow_execution is False
    planner = NodeConfig.from_parameters({**_params_yaml(), "planner.velocity_scaling": 0.5}).planner_config()
    assert planner.velocity_scaling == 0.5 and planner.ik.max_iterations == 200


def test_overrides_reach_the_dataclasses():
    flat = {
        **_params_yaml(),
        "grounding.pregrasp_distance_m": 0.05,
        "safety.min_z_m": 0.1,
        "grounding.trajectory_orientation_xyzw": [1.0, 0.0, 0.0, 0.0],
        "model.model": "tiny",
    }
    config = NodeConfig.from_parameters(flat)
    assert config.grounding.pregrasp_distance_m == 0.05 and config.safety.min_z_m == 0.1
    assert config.grounding.trajectory_orientation_xyzw == (1.0, 0.0, 0.0, 0.0)
    assert config.model.model == "tiny"


@pytest.mark.parametrize(
    "name,value,fragment",
    [
        ("execution.planner", "rrt", "execution.planner"),
        ("execution.velocity_scaling", 1.5, "velocity_scaling"),
        ("execution.planner", "pinocchio", "urdf_path"),
        ("model.backend", "openai", "server_url"),
        ("camera.color_topic", "", "camera.color_topic"),
        ("grounding.approach", "sideways", "approach"),
        ("safety.max_reach_m", -1.0, "max_reach_m"),
        ("bogus.key", 1, "unknown parameter"),
        ("execution.goal_tolerance_rad", 0.0, "goal_tolerance_rad"),
        ("execution.segment_timeout_factor", 0.5, "segment_timeout_factor"),
        ("execution.controller_interface", "service", "controller_interface"),
        ("execution.arm_joints", ["j1", "j1"], "arm_joints"),
        ("execution.arm_joints", "panda_joint1", "arm_joints"),
        ("task.gripper_force_n", 0.0, "gripper_force_n"),
        ("task.trajectory_gripper", "half", "trajectory_gripper"),
    ],
)
def test_bad_parameters_are_refused(name, value, fragment):
    with pytest.raises((ValueError, TypeError), match=fragment):
        NodeConfig.from_parameters({**_params_yaml(), name: value})


def test_the_execution_and_task_sections_map_onto_their_dataclasses():
    from vla_r1_robot.motion.controller_logic import ControllerConfig
    from vla_r1_robot.motion.task import TaskConfig

    config = NodeConfig.from_parameters(_params_yaml())
    assert config.task == TaskConfig() and config.task.place_position_base_m is None  # the all-zero sentinel
    inherited = ControllerConfig()
    for name in (
        "arm_controller",
        "gripper_controller",
        "arm_joints",
        "gripper_joint",
        "goal_tolerance_rad",
        "gripper_tolerance_m",
        "segment_timeout_factor",
        "segment_timeout_margin_s",
    ):
        assert getattr(config.execution, name) == getattr(inherited, name), name
    assert config.execution.arm_joints == tuple(f"panda_joint{i}" for i in range(1, 8))
    assert default_parameters()["execution.arm_joints"] == [f"panda_joint{i}" for i in range(1, 8)]
    changed = NodeConfig.from_parameters(
        {
            **_params_yaml(),
            "task.place_position_base_m": [0.4, 0.2, 0.05],
            "task.lift_height_m": 0.2,
            "execution.arm_joints": ["a", "b"],
            "execution.goal_tolerance_rad": 0.02,
        }
    )
    assert changed.task.place_position_base_m == (0.4, 0.2, 0.05) and changed.task.lift_height_m == 0.2
    assert changed.execution.arm_joints == ("a", "b") and changed.execution.goal_tolerance_rad == 0.02
