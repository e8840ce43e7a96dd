"""`vla-r1 replay` (a recorded bag through the whole pipeline) and `vla-r1 demo-scene`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BASE_FRAME = "base_link"


def register(subparsers) -> None:
    from vla_r1_cli import defaults
    from vla_r1_cli.infer import add_model_arguments

    replay = subparsers.add_parser(
        "replay", help="replay a recorded bag through the pipeline (plan-only)", description=__doc__
    )
    replay.add_argument("bag", type=Path, help="rosbag2 folder (sqlite3/MCAP), .mcap/.db3 file, ROS1 or RealSense .bag")
    replay.add_argument("--instruction", required=True)
    replay.add_argument("--task", required=True, choices=("affordance", "trajectory"))
    add_model_arguments(replay)
    topics = replay.add_argument_group("topics (auto-detected by message type when absent)")
    topics.add_argument("--color-topic")
    topics.add_argument("--depth-topic")
    topics.add_argument("--info-topic")
    selection = replay.add_mutually_exclusive_group()
    selection.add_argument("--every", type=int, default=1, metavar="N", help="process every Nth paired frame")
    selection.add_argument(
        "--at", type=float, metavar="SECONDS", help="process the one frame at this time from the start"
    )
    replay.add_argument("--pair-tolerance", type=float, default=0.15, help="max color/depth stamp difference (s)")
    replay.add_argument(
        "--base-T-camera",
        type=Path,
        help="transform YAML (vla-r1 calibrate hand-eye); default: the bag's /tf_static, else identity",
    )
    replay.add_argument(
        "--config",
        type=Path,
        help="YAML with grounding:, safety:, planner: and task: sections "
        "(a task: section plans the whole pick: open, approach, close, lift)",
    )
    replay.add_argument("--urdf", type=Path, help="plan joint trajectories with pinocchio on this URDF")
    replay.add_argument("--tip", default=defaults.TIP_LINK, help="tip link of --urdf")
    replay.add_argument("--dump-frames", action="store_true", help="also write color.png and depth_mm.png per frame")
    replay.add_argument("--out-bag", type=Path, help="write overlays and markers to this MCAP rosbag2 folder")
    replay.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output folder: new or empty, or any with --overwrite (replaced only when the run has succeeded)",
    )
    replay.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty --out / --out-bag, once the new run has succeeded"
    )
    replay.add_argument("--no-progress", action="store_true")
    replay.set_defaults(func=run_replay)

    scene = subparsers.add_parser(
        "demo-scene", help="render the MuJoCo tabletop demo recording (rosbag2 MCAP + ground truth)"
    )
    scene.add_argument("out", type=Path)
    scene.add_argument("--frames", type=int, default=10)
    scene.add_argument("--seed", type=int, default=0)
    scene.add_argument("--gl", choices=("egl", "osmesa"), default="egl", help="MuJoCo offscreen backend")
    scene.set_defaults(func=run_demo_scene)


def load_stage_configs(path: Path | None):
    """(GroundingConfig, SafetyConfig, planner options) from one YAML file; defaults without one.
    Every problem is a UsageError naming the file and the key."""
    from vla_r1_cli.errors import UsageError
    from vla_r1_model.config_files import ConfigError, dataclass_from_mapping, read_yaml_mapping
    from vla_r1_robot.motion.safety import SafetyConfig
    from vla_r1_robot.perception.grounding import GroundingConfig

    data: dict = {}
    try:
        if path is not None:
            data = read_yaml_mapping(path, what="--config file")
            unknown = sorted(str(key) for key in set(data) - {"grounding", "safety", "planner", "task"})
            if unknown:
                raise ConfigError(f"{path}: unknown section(s) {unknown}; expected grounding, safety, planner, task")
        grounding = GroundingConfig.from_dict(data.get("grounding"), file=path)
        safety = SafetyConfig.from_dict(data.get("safety"), file=path)
        planner = data.get("planner") or {}
        if planner:
            from vla_r1_robot.motion.planning import PlannerConfig  # pinocchio: only when there is something to check

            dataclass_from_mapping(PlannerConfig, planner, "planner", file=path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return grounding, safety, dict(planner)


def load_task_config(path: Path | None):
    """The ``task:`` section of the config YAML as a TaskConfig (plan the pick with gripper steps and
    lift), or None without one (plan the grounded targets only)."""
    from vla_r1_cli.errors import UsageError
    from vla_r1_model.config_files import ConfigError, read_yaml_mapping
    from vla_r1_robot.motion.task import TaskConfig

    if path is None:
        return None
    try:
        data = read_yaml_mapping(path, what="--config file").get("task")
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: task: expected a mapping, got {type(data).__name__}")
    try:
        return TaskConfig.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{path}: task: {exc}") from None


def read_base_T_camera(path: Path):
    """The transform of a YAML written by `vla-r1 calibrate hand-eye`; UsageError when unreadable."""
    from calibration import NamedTransform
    from vla_r1_cli.errors import UsageError

    try:
        return NamedTransform.from_yaml(path).transform
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read --base-T-camera {path}: {exc}") from None


def planner_from_args(args, safety, planner_options: dict):
    """The pinocchio planner for --urdf/--tip, or None without --urdf."""
    from vla_r1_cli.errors import UsageError
    from vla_r1_robot.pipeline import build_planner

    if not args.urdf:
        return None
    try:
        return build_planner(str(args.urdf), args.tip, safety, planner_options)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot build the planner from {args.urdf}: {exc}") from None


def _base_T_camera(args, source, first_frame_id: str):
    from calibration import SE3
    from vla_r1_cli.errors import UsageError
    from vla_r1_robot.bags import BagError

    if args.base_T_camera:
        return read_base_T_camera(args.base_T_camera)
    try:
        from_bag = source.static_transform(BASE_FRAME, first_frame_id) if first_frame_id else None
    except BagError as exc:  # a NaN or zero quaternion in /tf_static, a damaged message
        raise UsageError(str(exc)) from None
    if from_bag is not None:
        return from_bag
    print(
        f"warning: no --base-T-camera and no {BASE_FRAME} -> {first_frame_id or 'camera'} transform in the bag: "
        "targets are in the camera frame",
        file=sys.stderr,
    )
    return SE3.identity()


def check_replay_arguments(args: argparse.Namespace) -> None:
    """Every argument that can be checked without reading the bag or loading a model; UsageError if bad."""
    import math
    import os

    from vla_r1_cli.errors import UsageError
    from vla_r1_model.files import OutputPathError, check_output_dir

    if args.every < 1:
        raise UsageError(f"--every must be >= 1, got {args.every}")
    if args.at is not None and not (math.isfinite(args.at) and args.at >= 0):
        raise UsageError(f"--at must be a finite number of seconds >= 0, got {args.at}")
    if not (math.isfinite(args.pair_tolerance) and args.pair_tolerance >= 0):
        raise UsageError(f"--pair-tolerance must be a finite number of seconds >= 0, got {args.pair_tolerance}")
    for name in ("color_topic", "depth_topic", "info_topic"):
        topic = getattr(args, name)
        if topic is not None and not topic.startswith("/"):
            raise UsageError(
                f"--{name.replace('_', '-')} must be an absolute topic name like /camera/color/image_raw, got {topic!r}"
            )
    for path, flag in ((args.base_T_camera, "--base-T-camera"), (args.config, "--config"), (args.urdf, "--urdf")):
        if path is not None and not path.is_file():
            raise UsageError(f"{flag} {path}: {'is a folder, not a file' if path.is_dir() else 'no such file'}")
    try:
        check_output_dir(args.out, overwrite=args.overwrite, what="--out folder")
        if args.out_bag is not None:
            check_output_dir(args.out_bag, overwrite=args.overwrite, what="--out-bag folder")
            if os.path.abspath(args.out_bag) == os.path.abspath(args.out):
                raise OutputPathError(f"--out-bag {args.out_bag} is the --out folder itself; name a folder of its own")
        bag = os.path.abspath(args.bag)
        for path, flag in ((args.out, "--out"), (args.out_bag, "--out-bag")):
            # --overwrite replaces the whole folder: it must never hold (or be) the recording being replayed
            if path is not None and (os.path.commonpath([bag, os.path.abspath(path)]) in (bag, os.path.abspath(path))):
                raise OutputPathError(f"{flag} {path} overlaps the bag {args.bag}; write the results elsewhere")
    except OutputPathError as exc:
        raise UsageError(str(exc)) from None


def run_replay(args: argparse.Namespace) -> int:
    import itertools

    from vla_r1_cli.errors import UsageError
    from vla_r1_cli.infer import policy_from_args
    from vla_r1_model.files import OutputPathError
    from vla_r1_robot.bags import BagError, FrameError, open_bag
    from vla_r1_robot.pipeline import Pipeline
    from vla_r1_robot.replay.run import ReplayAbandoned, ReplayOptions, replay_frames

    check_replay_arguments(args)
    grounding, safety, planner_options = load_stage_configs(args.config)
    try:
        options = ReplayOptions(
            args.instruction,
            args.task,
            args.out,
            args.dump_frames,
            args.out_bag,
            not args.no_progress,
            overwrite=args.overwrite,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        source = open_bag(
            args.bag,
            args.color_topic,
            args.depth_topic,
            args.info_topic,
            every_n=args.every,
            at_s=args.at,
            pair_tolerance_s=args.pair_tolerance,
        )
    except (BagError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    with source:
        print(source.describe(), file=sys.stderr)
        frames = source.frames(skip_bad_frames=True)
        try:
            first = next(frames)
        except StopIteration:
            raise UsageError(f"{args.bag}: no frame was selected (check --at / --every)") from None
        except BagError as exc:
            raise UsageError(str(exc)) from None
        if isinstance(first, FrameError):  # the first frame decides topics and transforms: nothing to go on with
            raise UsageError(str(first))
        base_T_camera = _base_T_camera(args, source, first.frame_id)
        planner = planner_from_args(args, safety, planner_options)
        pipeline = Pipeline(
            policy_from_args(args), grounding, safety, planner, base_T_camera, task_config=load_task_config(args.config)
        )
        try:
            summary = replay_frames(itertools.chain([first], frames), pipeline, options)
        except ReplayAbandoned as exc:
            print(f"vla-r1 replay: error: {exc}", file=sys.stderr)
            return 2
        except OutputPathError as exc:
            raise UsageError(str(exc)) from None
    print(
        f"{summary.frames} frame(s), {summary.succeeded} succeeded, "
        f"failures by stage: {summary.failures_by_stage or 'none'}"
    )
    print(f"results: {summary.results_path}")
    if summary.out_bag:
        print(f"bag: {summary.out_bag}")
    print(f"report: {summary.report_path}")
    if summary.bag_error is not None:  # the frames before the damage are in the results and the report
        print(f"vla-r1 replay: error: the bag broke part-way: {summary.bag_error}", file=sys.stderr)
        return 2
    return 0


def run_demo_scene(args: argparse.Namespace) -> int:
    from vla_r1_cli.errors import UsageError
    from vla_r1_robot.sim.demo_scene import DemoSceneConfig, generate_demo_scene

    try:
        scene = generate_demo_scene(
            args.out,
            seed=args.seed,
            n_frames=args.frames,
            config=DemoSceneConfig(seed=args.seed, n_frames=args.frames, gl=args.gl),
        )
    except (FileExistsError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    print(f"bag: {scene.bag_path}\nground truth: {scene.ground_truth_path}\npreview: {scene.preview_path}")
    print(f"rendered {args.frames} frame(s) at {scene.render_s_per_frame * 1e3:.0f} ms per frame")
    return 0
