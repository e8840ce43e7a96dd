"""Bad config files and values: a clear error naming the file and the key, never a traceback, never
a silently wrong value ("123" is not the vector (1, 2, 3))."""

from __future__ import annotations

import pytest
from test_bag_source import write_rgbd

from vla_r1_cli.main import main
from vla_r1_model.config_files import ConfigError, dataclass_from_mapping, number_vector, read_yaml_mapping

BAD_CONFIGS = {
    "binary": (b"\x00\x01\xff\xfe\x00", "a binary file"),
    "latin-1": ("grounding:\n  approach: caf\xe9\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 26)"),
    "invalid YAML": (b"grounding: [\n", "not valid YAML (line 2"),
    "duplicate key": (b"safety: {}\nsafety: {}\n", "duplicate key 'safety'"),
    "scalar file": (b"hello\n", "expected a mapping of keys to values, got str 'hello'"),
    "list file": (b"- grounding\n", "expected a mapping of keys to values, got list"),
    "unknown section": (b"grasping: {}\n", "unknown section(s) ['grasping']"),
    "scalar section": (b"grounding: 5\n", "grounding must be a mapping of keys to values, got int 5"),
    "scalar planner": (b"planner: 5\n", "planner must be a mapping"),
    "unknown key": (b"safety:\n  max_speed: 1.0\n", "unknown safety config keys ['max_speed']"),
    "unknown nested key": (b"planner:\n  ik:\n    dampng: 0.1\n", "unknown planner.ik config keys ['dampng']"),
    "scalar nested section": (b"planner:\n  ik: 3\n", "planner.ik must be a mapping"),
    "string vector": (b"safety:\n  workspace_min_xyz_m: '123'\n", "safety.workspace_min_xyz_m must be a list of 3"),
    "bool in vector": (
        b"safety:\n  workspace_max_xyz_m: [true, 1, 1]\n",
        "safety.workspace_max_xyz_m[0] must be a finite",
    ),
    "string transform": (b"grounding:\n  tip_T_grasp: {xyz: '123'}\n", "tip_T_grasp.xyz must be a list of 3"),
    "string quaternion": (b"grounding:\n  trajectory_orientation_xyzw: '0001'\n", "must be a list of 4"),
    "string number": (b"planner:\n  velocity_scaling: '0.5'\n", "planner.velocity_scaling must be a number, got str"),
    "float for int": (b"planner:\n  max_subdivisions: 2.5\n", "planner.max_subdivisions must be an integer"),
    "null number": (b"safety:\n  min_z_m: null\n", "safety.min_z_m must be a number"),
}


@pytest.mark.parametrize("kind", sorted(BAD_CONFIGS))
def test_replay_refuses_a_bad_config_naming_file_and_key(tmp_path, capsys, kind):
    content, message = BAD_CONFIGS[kind]
    config = tmp_path / "pipeline.yaml"
    config.write_bytes(content)
    bag = write_rgbd(tmp_path / "bag", n=1)
    code = main(
        [
            "replay",
            str(bag),
            "--instruction",
            "x",
            "--task",
            "affordance",
            "--answer",
            "<output>[]</output>",
            "--config",
            str(config),
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(config) in err and message in err, err
    assert not (tmp_path / "out").exists()


def test_a_good_config_still_loads(tmp_path):
    from vla_r1_cli.replay import load_stage_configs

    config = tmp_path / "pipeline.yaml"
    config.write_text(
        "grounding:\n  hover_height_m: 0.12\n  trajectory_orientation_xyzw: [0, 0, 0, 1]\n"
        "safety:\n  workspace_min_xyz_m: [-1, -1, 0]\n  min_z_m: 0\n"
        "planner:\n  velocity_scaling: 0.5\n  start_ik_accept_rad: null\n  ik: {damping: 0.02}\n"
    )
    grounding, safety, planner = load_stage_configs(config)
    assert grounding.hover_height_m == 0.12 and safety.workspace_min_xyz_m == (-1.0, -1.0, 0.0)
    assert planner["ik"] == {"damping": 0.02}


def test_library_configs_refuse_strings_for_vectors():
    from vla_r1_robot.motion.safety import SafetyConfig
    from vla_r1_robot.perception.grounding_config import GroundingConfig

    with pytest.raises(ValueError, match="workspace_min_xyz_m must be a list of 3"):
        SafetyConfig(workspace_min_xyz_m="123")  # was read as (1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="xyz must be a list of 3"):
        GroundingConfig(tip_T_grasp={"xyz": "123"})
    with pytest.raises(ValueError, match="must be a list of 4"):
        GroundingConfig(trajectory_orientation_xyzw="0001")


def test_planner_config_refuses_unknown_keys_with_a_value_error():
    from vla_r1_robot.motion.planning import PlannerConfig

    with pytest.raises(ConfigError, match=r"unknown planner config keys \['velocity'\]"):
        PlannerConfig.from_dict({"velocity": 0.5})  # was a TypeError from the constructor
    with pytest.raises(ConfigError, match=r"unknown planner.ik config keys \['seeds'\]"):
        PlannerConfig.from_dict({"ik": {"seeds": 3}})


def test_node_parameters_refuse_strings_for_vectors():
    from vla_r1_ros.node_config import NodeConfig

    with pytest.raises(ValueError, match=r"safety\.workspace_min_xyz_m must be a list of 3"):
        NodeConfig.from_parameters({"safety.workspace_min_xyz_m": "123"})
    with pytest.raises(ValueError, match=r"grounding\.trajectory_orientation_xyzw must be a list of 4"):
        NodeConfig.from_parameters({"grounding.trajectory_orientation_xyzw": "0000"})  # was read as top-down
    with pytest.raises(ValueError, match=r"model\.max_new_tokens must be an integer"):
        NodeConfig.from_parameters({"model.max_new_tokens": "10"})


def test_read_yaml_mapping_and_number_vector(tmp_path):
    assert read_yaml_mapping(_write(tmp_path / "empty.yaml", b"")) == {}
    with pytest.raises(ConfigError, match="is a folder"):
        read_yaml_mapping(tmp_path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_yaml_mapping(tmp_path / "missing.yaml")
    assert number_vector([1, 2.5, -3], 3, "v") == (1.0, 2.5, -3.0)
    for bad in ("123", b"123", {"x": 1}, 5, [1, float("nan"), 2], [1, 2]):
        with pytest.raises(ValueError, match=r"^v"):
            number_vector(bad, 3, "v")


def test_dataclass_from_mapping_names_nested_keys():
    from vla_r1_robot.motion.planning import PlannerConfig

    with pytest.raises(ConfigError, match=r"^f.yaml: planner.ik.max_iterations must be an integer, got str"):
        dataclass_from_mapping(PlannerConfig, {"ik": {"max_iterations": "200"}}, "planner", file="f.yaml")


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
