"""The node's parameters: one frozen, validated dataclass per section of ``config/params.yaml``.

ROS parameters are flat dotted names (``grounding.inner_fraction``); they map onto the SAME config
dataclasses the ROS-free code uses (GroundingConfig, SafetyConfig, PlannerConfig) plus the node's
own sections. ``default_parameters()`` is what the node declares, ``NodeConfig.from_parameters``
is what it reads back: one source of truth, and a test checks params.yaml against it key by key.

ROS parameters have no ``None`` and no empty typed lists, so a few values use sentinels that the
mapping translates explicitly: ``""`` for "not set" strings, ``0`` for "not set" pixel budgets, and
``[0, 0, 0, 0]`` for ``grounding.trajectory_orientation_xyzw`` = top-down (None).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from vla_r1_model.validation import non_empty_text, one_of, positive_number
from vla_r1_robot.motion.controller_logic import ControllerConfig
from vla_r1_robot.motion.robot_profile import PANDA
from vla_r1_robot.motion.safety import SafetyConfig
from vla_r1_robot.motion.task import TaskConfig
from vla_r1_robot.perception.frame_sync import SyncConfig
from vla_r1_robot.perception.grounding_config import GroundingConfig

NODE_NAME = "vla_r1_node"
# The same values as vla_r1_model.loading's (a test compares them), written here because importing
# loading pulls in transformers and torch: seconds of start-up before a bad parameter is even read.
DEFAULT_MODEL_ID = "GigaAI-Research/vla-r1"
QUANTIZATIONS = ("none", "nf4", "int8")
PLANNERS = ("moveit", "pinocchio", "none")
BACKENDS = ("transformers", "openai")
NO_ORIENTATION = (0.0, 0.0, 0.0, 0.0)  # ROS stand-in for trajectory_orientation_xyzw = None
NO_PLACE = (0.0, 0.0, 0.0)  # ROS stand-in for task.place_position_base_m = None (the base origin: never a place)


@dataclass(frozen=True)
class ModelSettings:
    """Which model and how to run it (the same choices as `vla-r1 infer`)."""

    model: str = DEFAULT_MODEL_ID  # hub id, local folder, or "tiny" (random-weight test checkpoint)
    backend: str = "transformers"  # or "openai" (a vLLM / OpenAI-compatible server at server_url)
    server_url: str = ""
    timeout_s: float = 60.0  # openai backend: wall-time bound on the whole request (and so on the goal's model step)
    quantization: str = "none"  # none | nf4 | int8
    quantize_vision: bool = False  # with nf4/int8: the vision tower too (~1 GB less on 3B)
    device: str = "auto"
    dtype: str = "auto"
    attn_implementation: str = ""  # "" = the library default
    min_pixels: int = 0  # image-token budget; 0 = the checkpoint's setting
    max_pixels: int = 0
    max_new_tokens: int = 1024
    sample: bool = False  # greedy by default: the same frame gets the same answer
    no_think: bool = False
    out_of_range: str = "clip"  # normalized values outside [0, 1]: clip | reject

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("model.model must name a checkpoint")
        one_of("model.backend", self.backend, BACKENDS)
        one_of("model.quantization", self.quantization, QUANTIZATIONS)
        if self.quantize_vision and self.quantization == "none":
            raise ValueError("model.quantize_vision needs model.quantization nf4 or int8")
        one_of("model.out_of_range", self.out_of_range, ("clip", "reject"))
        if self.backend == "openai" and not self.server_url:
            raise ValueError("model.backend openai needs model.server_url")
        positive_number("model.timeout_s", self.timeout_s)
        if self.max_new_tokens < 1:
            raise ValueError(f"model.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.min_pixels < 0 or self.max_pixels < 0:
            raise ValueError("model.min_pixels / max_pixels must be >= 0 (0 = not set)")

    def build_policy(self):
        """The Policy these settings describe (loads the model: seconds to minutes)."""
        from vla_r1_model.backends.base import GenerationSettings
        from vla_r1_model.policy import Policy, PolicyConfig

        generation = (
            GenerationSettings.reference_sampling(max_new_tokens=self.max_new_tokens)
            if self.sample
            else GenerationSettings(max_new_tokens=self.max_new_tokens)
        )
        config = PolicyConfig(generation=generation, out_of_range=self.out_of_range, no_think=self.no_think)
        if self.backend == "openai":
            return Policy.remote(self.server_url, self.model, config, timeout_s=self.timeout_s)
        return Policy.from_pretrained(
            self.model,
            config,
            quantization=self.quantization,
            device=self.device,
            dtype=self.dtype,
            attn_implementation=self.attn_implementation or None,
            min_pixels=self.min_pixels or None,
            max_pixels=self.max_pixels or None,
            quantize_vision=self.quantize_vision,
        )


@dataclass(frozen=True)
class CameraSettings:
    """Topics (realsense2_camera's defaults with align_depth) and frame freshness."""

    color_topic: str = "/camera/camera/color/image_raw"
    depth_topic: str = "/camera/camera/aligned_depth_to_color/image_raw"
    info_topic: str = "/camera/camera/color/camera_info"
    # Color pairs with the depth image of nearest stamp within pair_tolerance_s: frame_sync's rule,
    # the one replay uses too (same defaults). camera_info: the newest received (intrinsics are fixed).
    pair_tolerance_s: float = SyncConfig.tolerance_s
    pair_max_lag_s: float = SyncConfig.max_lag_s
    max_frame_age_s: float = 0.5  # a goal may use a frame received this long before it arrived
    frame_wait_timeout_s: float = 2.0  # how long a goal waits for a usable frame before it is refused
    depth_scale_m: float = 0.001  # metres per unit of 16UC1 depth (RealSense: millimetres)
    camera_frame_id: str = ""  # "" = the color image's header.frame_id; set it for recordings without one

    def __post_init__(self) -> None:
        for name in ("color_topic", "depth_topic", "info_topic"):
            non_empty_text(f"camera.{name}", getattr(self, name), "topic name")
        for name in ("frame_wait_timeout_s", "depth_scale_m"):
            positive_number(f"camera.{name}", getattr(self, name))
        if not (math.isfinite(self.max_frame_age_s) and self.max_frame_age_s >= 0):
            raise ValueError(f"camera.max_frame_age_s must be >= 0, got {self.max_frame_age_s}")
        try:
            self.sync_config()
        except ValueError as exc:
            raise ValueError(f"camera.pair_tolerance_s / pair_max_lag_s: {exc}") from None

    def sync_config(self) -> SyncConfig:
        return SyncConfig(self.pair_tolerance_s, self.pair_max_lag_s)


@dataclass(frozen=True)
class TransformSettings:
    """Where base_T_camera comes from.

    ``hand_eye_yaml`` set (eye-to-hand only): the file `vla-r1 calibrate hand-eye --setup eye-to-hand`
    writes; the node reads base_T_camera from it once and needs no tf2 (a pip-only install has none).
    Otherwise tf2, looked up base_frame <- camera frame. Eye-to-hand: a static transform (published
    from the hand-eye YAML), looked up at the latest time. Eye-in-hand: the chain base ->
    end-effector (live, from joint states) -> camera (static), looked up AT THE FRAME'S STAMP so the
    camera pose matches the moment the image was taken: it needs tf2.
    """

    base_frame: str = "base_link"
    eye_in_hand: bool = False
    tf_timeout_s: float = 0.5
    hand_eye_yaml: str = ""  # "" = tf2

    def __post_init__(self) -> None:
        if not self.base_frame:
            raise ValueError("transforms.base_frame must be set")
        positive_number("transforms.tf_timeout_s", self.tf_timeout_s)
        if self.hand_eye_yaml and self.eye_in_hand:
            raise ValueError(
                "transforms.hand_eye_yaml gives a fixed base_T_camera (eye-to-hand); eye-in-hand needs "
                "tf2 (base -> end-effector moves): leave hand_eye_yaml empty and publish ee_T_camera on tf"
            )


@dataclass(frozen=True)
class ExecutionSettings(ControllerConfig):
    """Planning (MoveIt via moveit_py, or pinocchio without MoveIt) and the execution gate.

    The inherited ControllerConfig fields (controllers, joints, tolerances) are how planner
    pinocchio's task plans are executed through ros2_control (controller_execution.py); MoveIt
    executes through its own controller configuration.
    """

    allow_execution: bool = False  # the node-side half of the gate: goal.execute AND this
    planner: str = "moveit"  # moveit | pinocchio | none (targets only)
    planning_group: str = PANDA.planning_group
    pose_link: str = PANDA.tip_link  # the link the target poses are for (grounding's tip link)
    planning_pipeline: str = "ompl"
    planner_id: str = ""  # "" = the pipeline's default planner
    planning_time_s: float = 5.0
    planning_attempts: int = 1
    velocity_scaling: float = 0.1  # max_velocity_scaling_factor of every plan, (0, 1]
    acceleration_scaling: float = 0.1
    urdf_path: str = ""  # planner pinocchio: the robot's URDF
    moveit_node_name: str = "vla_r1_moveit_py"

    def __post_init__(self) -> None:
        if isinstance(self.arm_joints, str):
            raise ValueError(f"execution.arm_joints must be a list of joint names, got the string {self.arm_joints!r}")
        super().__post_init__()
        one_of("execution.planner", self.planner, PLANNERS)
        for name in ("velocity_scaling", "acceleration_scaling"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value <= 1):
                raise ValueError(f"execution.{name} must be in (0, 1], got {value!r}")
        positive_number("execution.planning_time_s", self.planning_time_s)
        if self.planning_attempts < 1:
            raise ValueError(f"execution.planning_attempts must be >= 1, got {self.planning_attempts}")
        if self.planner == "pinocchio" and not self.urdf_path:
            raise ValueError("execution.planner pinocchio needs execution.urdf_path")
        if self.planner != "none" and not (self.planning_group and self.pose_link):
            raise ValueError("execution.planning_group and execution.pose_link must be set")


@dataclass(frozen=True)
class OutputSettings:
    """What the node publishes besides the action."""

    publish_overlay: bool = True
    feedback_period_s: float = 0.2  # reasoning feedback at most this often (generation is ~20-100 tokens/s)
    diagnostics_period_s: float = 1.0

    def __post_init__(self) -> None:
        positive_number("output.feedback_period_s", self.feedback_period_s)
        positive_number("output.diagnostics_period_s", self.diagnostics_period_s)


# The pinocchio planner's options (PlannerConfig); flat here so they are ROS parameters too.
_PLANNER_DEFAULTS: dict[str, Any] | None = None


def _planner_defaults() -> dict[str, Any]:
    """PlannerConfig's fields and defaults, without importing pinocchio at module import."""
    global _PLANNER_DEFAULTS
    if _PLANNER_DEFAULTS is None:
        from vla_r1_robot.motion.planning import PlannerConfig

        config = PlannerConfig()
        # Fields whose default is None have no ROS parameter form: they keep their dataclass default
        # (listed by unexposed_planner_fields(); a test checks every other field is a parameter).
        values = {
            f.name: getattr(config, f.name)
            for f in fields(config)
            if f.name != "ik" and getattr(config, f.name) is not None
        }
        values["ik"] = {
            f.name: getattr(config.ik, f.name) for f in fields(config.ik) if getattr(config.ik, f.name) is not None
        }
        _PLANNER_DEFAULTS = values
    return _PLANNER_DEFAULTS


def unexposed_planner_fields() -> list[str]:
    """PlannerConfig / IKConfig fields that are not ROS parameters (their default is None)."""
    from vla_r1_robot.motion.planning import PlannerConfig

    config = PlannerConfig()
    names = [f"planner.{f.name}" for f in fields(config) if f.name != "ik" and getattr(config, f.name) is None]
    return names + [f"planner.ik.{f.name}" for f in fields(config.ik) if getattr(config.ik, f.name) is None]


@dataclass(frozen=True)
class NodeConfig:
    model: ModelSettings = field(default_factory=ModelSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    transforms: TransformSettings = field(default_factory=TransformSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    planner: Mapping[str, Any] = field(default_factory=dict)  # PlannerConfig.from_dict input (pinocchio)
    task: TaskConfig = field(default_factory=TaskConfig)  # planner pinocchio: the pick / path task (task.py)

    def planner_config(self):
        from vla_r1_robot.motion.planning import PlannerConfig

        return PlannerConfig.from_dict(self.planner)

    @classmethod
    def from_parameters(cls, flat: Mapping[str, Any]) -> NodeConfig:
        """From flat dotted ROS parameter names. Unknown names are refused (a typo must not pass)."""
        unknown = sorted(set(flat) - set(default_parameters()))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}")
        from vla_r1_model.config_files import dataclass_from_mapping, number_vector

        nested = unflatten(flat)
        sections: dict[str, Any] = {}
        for name, kind in (
            ("model", ModelSettings),
            ("camera", CameraSettings),
            ("transforms", TransformSettings),
            ("execution", ExecutionSettings),
            ("output", OutputSettings),
        ):
            sections[name] = dataclass_from_mapping(kind, nested.get(name, {}), name)
        grounding = dict(nested.get("grounding", {}))
        orientation = grounding.get("trajectory_orientation_xyzw")
        if (
            orientation is not None
            and number_vector(orientation, 4, "grounding.trajectory_orientation_xyzw") == NO_ORIENTATION
        ):
            grounding["trajectory_orientation_xyzw"] = None
        sections["grounding"] = GroundingConfig.from_dict(grounding)
        sections["safety"] = SafetyConfig.from_dict(nested.get("safety", {}))
        sections["planner"] = dict(nested.get("planner", {}))
        task = dict(nested.get("task", {}))
        place = task.get("place_position_base_m")
        if place is not None and number_vector(place, 3, "task.place_position_base_m") == NO_PLACE:
            task["place_position_base_m"] = None
        try:
            sections["task"] = TaskConfig.from_dict(task)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"task: {exc}") from None
        config = cls(**sections)
        if config.execution.planner == "pinocchio":
            config.planner_config()  # validate now, not at the first goal
        return config


def _ros_value(value: Any) -> Any:
    """A ROS-parameter-legal value: tuples become lists of floats, numpy scalars plain numbers."""
    if isinstance(value, (tuple, list)):
        if value and all(isinstance(v, str) for v in value):
            return list(value)  # a string array (joint names)
        return [float(v) for v in value]
    if isinstance(value, (bool, int, str)):
        return value
    return float(value)


def flatten(nested: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        node = nested
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def default_parameters() -> dict[str, Any]:
    """Every parameter the node declares, with its default (its type is the parameter's type)."""
    nested: dict[str, Any] = {}
    for name, kind in (
        ("model", ModelSettings),
        ("camera", CameraSettings),
        ("transforms", TransformSettings),
        ("execution", ExecutionSettings),
        ("output", OutputSettings),
    ):
        instance = kind()
        nested[name] = {f.name: getattr(instance, f.name) for f in fields(instance)}
    grounding = GroundingConfig().to_dict()
    grounding["tip_T_grasp"] = {
        "xyz": [round(v, 6) + 0.0 for v in grounding["tip_T_grasp"]["xyz"]],
        "quaternion_xyzw": [round(v, 6) + 0.0 for v in grounding["tip_T_grasp"]["quaternion_xyzw"]],
    }
    if grounding["trajectory_orientation_xyzw"] is None:
        grounding["trajectory_orientation_xyzw"] = list(NO_ORIENTATION)
    nested["grounding"] = grounding
    safety = SafetyConfig()
    nested["safety"] = {f.name: getattr(safety, f.name) for f in fields(safety)}
    nested["planner"] = _planner_defaults()
    task = TaskConfig()
    nested["task"] = {f.name: getattr(task, f.name) for f in fields(task)}
    if nested["task"]["place_position_base_m"] is None:
        nested["task"]["place_position_base_m"] = list(NO_PLACE)
    return {name: _ros_value(value) for name, value in flatten(nested).items()}
