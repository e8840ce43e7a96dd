"""`vla-r1 bench`: benchmarks that write their results as JSON (speed is measured here, not in tests)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..defaults import DEFAULT_MAX_PIXELS, DEFAULT_MODEL_ID, DEFAULT_REASONING_TOKENS, QUANTIZATIONS


def _write(result: dict, path: Path | None) -> None:
    from vla_r1_model.files import atomic_write_text

    text = json.dumps(result, indent=2)
    if path:
        atomic_write_text(path, text + "\n")
        print(f"results written to {path}")
    print(text)


def _check_outputs(args: argparse.Namespace) -> None:
    """--json / --markdown checked before a benchmark that may run for minutes; parents are created."""
    from vla_r1_model.files import OutputPathError, check_output_file

    from ..errors import UsageError

    for flag in ("json", "markdown"):
        path = getattr(args, flag, None)
        if path is None:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            check_output_file(path, what=f"--{flag} file")
        except OSError as exc:  # a file where a parent folder should be, no permission
            raise UsageError(f"--{flag} file {path}: cannot create its folder: {exc.strerror or exc}") from None
        except OutputPathError as exc:
            raise UsageError(str(exc)) from None


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x480, got {text!r}") from None
    return width, height


BENCH_MODES = (*QUANTIZATIONS, *(f"{q}+vision" for q in QUANTIZATIONS if q != "none"))


def register(subparsers) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks (results as JSON)", description=__doc__)
    kinds = bench.add_subparsers(dest="bench_command", metavar="BENCHMARK")
    bench.set_defaults(func=lambda args: bench.print_help() or 2)

    model = kinds.add_parser(
        "model", help="load time, time to first token, decode tokens/s, memory per quantization mode"
    )
    model.add_argument("--model", default=DEFAULT_MODEL_ID, help="hub id, folder or 'tiny'")
    model.add_argument(
        "--random-3b",
        action="store_true",
        help="random weights with the real Qwen2.5-VL-3B configuration (no download)",
    )
    model.add_argument(
        "--quantization",
        nargs="+",
        choices=BENCH_MODES,
        default=list(QUANTIZATIONS),
        help="modes to compare (default: none nf4 int8); +vision also quantizes the vision tower",
    )
    model.add_argument("--new-tokens", type=int, default=128, help="tokens decoded per run, EOS ignored")
    model.add_argument("--repeats", type=int, default=3)
    model.add_argument("--image-size", type=_size, default=(640, 480))
    model.add_argument(
        "--bandwidth-gb-s", type=float, help="memory bandwidth for the floor (default: from the GPU name)"
    )
    model.add_argument("--cache", choices=("auto", "dynamic", "static"), default="auto")
    model.add_argument("--max-pixels", type=int, help="image-token budget (pixels after resizing) for every run")
    model.add_argument(
        "--reasoning-tokens",
        type=int,
        nargs="*",
        default=list(DEFAULT_REASONING_TOKENS),
        help="reasoning lengths of the whole answers timed besides a no-think answer",
    )
    model.add_argument(
        "--sweep-max-pixels",
        type=int,
        nargs="*",
        default=list(DEFAULT_MAX_PIXELS),
        help="image-token budgets whose time to first token is compared with the checkpoint's own (no value: no sweep)",
    )
    model.add_argument("--no-answers", action="store_true", help="do not time whole answers")
    model.add_argument("--json", type=Path, help="write the results here")
    model.add_argument("--markdown", type=Path, help="also write the tables for docs/benchmarks.md here")
    model.set_defaults(func=run_model)

    pipeline = kinds.add_parser(
        "pipeline", help="per-stage time of parse, grounding, safety, IK, time parameterization; bag reading rate"
    )
    pipeline.add_argument(
        "--urdf", type=Path, help="robot for the IK stages (default: the Panda in the shared test data)"
    )
    pipeline.add_argument("--tip", default="panda_hand")
    pipeline.add_argument("--frames", type=int, default=5)
    pipeline.add_argument("--repeats", type=int, default=3)
    pipeline.add_argument("--bag", type=Path, help="also compare the reading rate on this bag")
    pipeline.add_argument("--json", type=Path)
    pipeline.set_defaults(func=run_pipeline)

    sim = kinds.add_parser("sim", help="closed-loop success rate and time in the simulated cell (ground-truth answers)")
    sim.add_argument("--episodes", type=int, default=100, help="episodes per box-noise level")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--task", choices=("affordance", "trajectory"), default="affordance")
    sim.add_argument("--box-noise-px", type=float, nargs="+", default=[0.0], metavar="PX")
    sim.add_argument("--out", type=Path, help="keep the evaluation folder (report, episodes.jsonl) here")
    sim.add_argument("--json", type=Path)
    sim.set_defaults(func=run_sim)

    reward = kinds.add_parser("reward", help="cost of the GRPO reward per sample")
    reward.add_argument("--samples", type=int, default=2000)
    reward.add_argument("--points", type=int, default=10)
    reward.add_argument("--json", type=Path)
    reward.set_defaults(func=run_reward)

    intake = kinds.add_parser(
        "ros-intake",
        help="ROS 2: synchronized camera pairs/s and CPU of vla_r1_node vs a bare "
        "rclpy subscriber, from a 30 Hz 640x480 publisher (needs rclpy)",
    )
    intake.add_argument("--rate-hz", type=float, default=30.0)
    intake.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    intake.add_argument(
        "--warmup", type=float, default=8.0, help="seconds for start-up and discovery before the window"
    )
    intake.add_argument(
        "--transport",
        nargs="+",
        choices=("default", "shm"),
        default=["default", "shm"],
        help="Fast DDS transports to compare: default (UDP loopback) and shm (config/fastdds_shm.xml)",
    )
    intake.add_argument("--no-startup", action="store_true", help="skip timing the ROS wheels' start-up hook")
    intake.add_argument("--json", type=Path)
    intake.set_defaults(func=run_ros_intake)


def run_ros_intake(args: argparse.Namespace) -> int:
    from ..errors import UsageError

    try:
        from vla_r1_cli.bench.ros_intake import run_intake_benchmark, startup_hook_cost
    except ImportError as exc:
        raise UsageError(
            f"bench ros-intake needs rclpy and vla_r1_interfaces (make setup installs them): {exc}"
        ) from None
    if args.rate_hz <= 0 or args.seconds <= 0 or args.warmup < 0:
        raise UsageError("--rate-hz and --seconds must be > 0, --warmup >= 0")
    if args.json is not None:  # checked before a benchmark that runs for a minute
        from vla_r1_model.files import OutputPathError, check_output_file

        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            check_output_file(args.json, what="--json file")
        except (OSError, OutputPathError) as exc:
            raise UsageError(f"--json file {args.json}: {exc}") from None
    result: dict[str, Any] = {
        "runs": [
            run_intake_benchmark(args.rate_hz, args.seconds, args.warmup, transport=transport)
            for transport in args.transport
        ]
    }
    if not args.no_startup:
        result["startup_hook"] = startup_hook_cost()
    _write(result, args.json)
    return 0


def run_model(args: argparse.Namespace) -> int:
    from vla_r1_model.loading import ModelLoadError

    from ..errors import UsageError
    from .model import AnswerBenchSpec, run_model_benchmark
    from .report import markdown_report

    if args.new_tokens < 2 or args.repeats < 1:
        raise UsageError("--new-tokens must be >= 2 and --repeats >= 1")
    _check_outputs(args)
    try:
        answers = AnswerBenchSpec(
            tuple(args.reasoning_tokens), tuple(args.sweep_max_pixels), time_answers=not args.no_answers
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        result = run_model_benchmark(
            args.model,
            args.quantization,
            args.new_tokens,
            args.repeats,
            args.random_3b,
            args.image_size,
            args.bandwidth_gb_s,
            {"cache": args.cache, "max_pixels": args.max_pixels},
            answers=answers,
        )
    except ModelLoadError as exc:
        raise UsageError(str(exc)) from None
    _write(result, args.json)
    if args.markdown:
        from vla_r1_model.files import atomic_write_text

        atomic_write_text(args.markdown, markdown_report(result))
        print(f"tables written to {args.markdown}")
    return 0


def run_pipeline(args: argparse.Namespace) -> int:
    from vla_r1_cli.bench.pipeline import run_pipeline_benchmark
    from vla_r1_model.paths import testdata_dir
    from vla_r1_robot.bags import BagError

    from ..errors import UsageError

    if args.frames < 1 or args.repeats < 1:
        raise UsageError(f"--frames and --repeats must be >= 1, got {args.frames} and {args.repeats}")
    if args.bag is not None and not args.bag.exists():
        raise UsageError(f"--bag {args.bag}: no such file or folder")
    _check_outputs(args)
    urdf = args.urdf
    data = testdata_dir()
    if urdf is None and data is not None:
        urdf = data / "urdf_panda" / "panda.urdf"
    if urdf is None:
        print("no --urdf and no shared test data: IK and time parameterization are not timed")
    else:  # a tip link at the root crashed pinocchio: refuse it before rendering anything
        from vla_r1_robot.motion.safety import SafetyConfig
        from vla_r1_robot.pipeline import build_planner

        try:
            build_planner(str(urdf), args.tip, SafetyConfig())
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot build the planner from {urdf}: {exc}") from None
    try:
        result = run_pipeline_benchmark(
            str(urdf) if urdf else None, args.tip, args.frames, args.repeats, str(args.bag) if args.bag else None
        )
    except BagError as exc:
        raise UsageError(str(exc)) from None
    _write(result, args.json)
    return 0


def run_sim(args: argparse.Namespace) -> int:
    from vla_r1_cli.bench.sim import run_sim_benchmark

    from ..errors import UsageError

    try:
        result = run_sim_benchmark(args.episodes, args.seed, args.task, tuple(args.box_noise_px), args.out)
    except (ValueError, FileExistsError) as exc:
        raise UsageError(str(exc)) from None
    _write(result, args.json)
    return 0


def run_reward(args: argparse.Namespace) -> int:
    from vla_r1_cli.bench.reward import benchmark_reward

    _check_outputs(args)
    _write({"benchmark": "reward", **benchmark_reward(args.samples, args.points)}, args.json)
    return 0
