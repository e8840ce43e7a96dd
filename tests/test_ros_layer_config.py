"""params.yaml <-> the config dataclasses: the same keys, the same types, valid values."""
from pathlib import Path

import pytest
import yaml

from vla_r1_ros.grounding_config import GroundingConfig
from vla_r1_ros.node_config import NODE_NAME, NodeConfig, default_parameters, flatten
from vla_r1_ros.safety import SafetyConfig

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

    from vla_r1_ros.node_config import unexposed_planner_fields
    from vla_r1_ros.planning import PlannerConfig

    config = PlannerConfig()
    every = {f"planner.{f.name}" for f in fields(config) if f.name != "ik"}
    every |= {f"planner.ik.{f.name}" for f in fields(config.ik)}
    assert every == {k for k in default_parameters() if k.startswith("planner.")} | set(unexposed_planner_fields())


def test_params_yaml_types_match_the_declared_types():
    # a ROS parameter declared as double refuses an int from YAML, and the reverse
    defaults = default_parameters()
    for name, value in _params_yaml().items():
        assert type(value) is type(defaults[name]), f"{name}: {type(value).__name__} vs {type(defaults[name]).__name__}"
        if isinstance(value, list):
            assert all(isinstance(v, float) for v in value), name


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
    flat = {**_params_yaml(), "grounding.pregrasp_distance_m": 0.05, "safety.min_z_m": 0.1,
            "grounding.trajectory_orientation_xyzw": [1.0, 0.0, 0.0, 0.0], "model.model": "tiny"}
    config = NodeConfig.from_parameters(flat)
    assert config.grounding.pregrasp_distance_m == 0.05 and config.safety.min_z_m == 0.1
    assert config.grounding.trajectory_orientation_xyzw == (1.0, 0.0, 0.0, 0.0)
    assert config.model.model == "tiny"


@pytest.mark.parametrize("name,value,fragment", [
    ("execution.planner", "rrt", "execution.planner"),
    ("execution.velocity_scaling", 1.5, "velocity_scaling"),
    ("execution.planner", "pinocchio", "urdf_path"),
    ("model.backend", "openai", "server_url"),
    ("camera.color_topic", "", "camera.color_topic"),
    ("grounding.approach", "sideways", "approach"),
    ("safety.max_reach_m", -1.0, "max_reach_m"),
    ("bogus.key", 1, "unknown parameter"),
])
def test_bad_parameters_are_refused(name, value, fragment):
    with pytest.raises((ValueError, TypeError), match=fragment):
        NodeConfig.from_parameters({**_params_yaml(), name: value})
