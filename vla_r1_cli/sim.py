"""`vla-r1 sim eval`: the closed loop in the simulated cell, with the success rate measured."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    from vla_r1_cli.infer import add_model_arguments

    sim = subparsers.add_parser(
        "sim", help="the simulated cell: closed-loop picks and their success rate", description=__doc__
    )
    kinds = sim.add_subparsers(dest="sim_command", metavar="COMMAND")
    sim.set_defaults(func=lambda args: sim.print_help() or 2)
    run = kinds.add_parser(
        "eval", help="episodes render -> answer -> plan -> execute -> judge; success rate and report"
    )
    run.add_argument("--episodes", type=int, default=8, help="episodes per box-noise level (default 8)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument(
        "--policy",
        choices=("ground-truth", "model"),
        default="ground-truth",
        help="answer source: the simulator's ground truth in VLA-R1's format, or a checkpoint (--model)",
    )
    run.add_argument("--task", choices=("affordance", "trajectory"), default="affordance")
    run.add_argument(
        "--box-noise-px",
        type=float,
        nargs="+",
        default=[0.0],
        metavar="PX",
        help="Gaussian noise (pixels) on the ground-truth answer, one condition per value (e.g. 0 3 5 8)",
    )
    run.add_argument("--config", type=Path, help="YAML with grounding:, safety:, planner: and task: sections")
    run.add_argument(
        "--urdf", type=Path, help="Panda URDF for the simulator AND the planner (default: example-robot-data)"
    )
    run.add_argument(
        "--report-episodes", type=int, default=12, help="episodes with figures in report.html (failures are added)"
    )
    run.add_argument("--video-episodes", type=int, default=4, help="of those, episodes with a side-camera GIF")
    run.add_argument("--gl", choices=("egl", "osmesa"), default="egl", help="MuJoCo offscreen backend")
    run.add_argument("--out", required=True, type=Path, help="new output folder (an existing one is refused)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--no-progress", action="store_true")
    add_model_arguments(run)
    run.set_defaults(func=run_eval)

    demo = kinds.add_parser("demo", help="a few closed-loop episodes with the full report (what `make demo` runs)")
    demo.add_argument(
        "--out-root",
        required=True,
        type=Path,
        help="each demo writes a new run-<time> folder here; <out-root>/latest points at the newest "
        "finished one (an earlier demo's results are never deleted)",
    )
    demo.add_argument("--episodes", type=int, default=4, help="episodes (default 4: one per object)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--policy", choices=("ground-truth", "model"), default="ground-truth")
    demo.add_argument("--task", choices=("affordance", "trajectory"), default="affordance")
    demo.add_argument("--gl", choices=("egl", "osmesa"), default="egl")
    demo.add_argument("--no-progress", action="store_true")
    add_model_arguments(demo)
    demo.set_defaults(func=run_demo)


SECTIONS = ("grounding", "safety", "planner", "task")


def _configs(path: Path | None):
    """(GroundingConfig, SafetyConfig, PlannerConfig, TaskConfig) from one YAML file; defaults without one."""
    import yaml

    from vla_r1_cli.errors import UsageError
    from vla_r1_robot.motion.planning import PlannerConfig
    from vla_r1_robot.motion.safety import SafetyConfig
    from vla_r1_robot.motion.task import TaskConfig
    from vla_r1_robot.perception.grounding import GroundingConfig

    data: dict = {}
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"cannot read config {path}: {exc}") from None
        if not isinstance(data, dict) or set(data) - set(SECTIONS):
            raise UsageError(
                f"{path}: expected a mapping with sections {', '.join(SECTIONS)}; "
                f"got {sorted(data) if isinstance(data, dict) else type(data).__name__}"
            )
    try:
        return (
            GroundingConfig.from_dict(data.get("grounding") or {}),
            SafetyConfig.from_dict(data.get("safety") or {}),
            PlannerConfig.from_dict(data.get("planner") or {}),
            TaskConfig.from_dict(data.get("task") or {}),
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{path}: {exc}") from None


def run_eval(args: argparse.Namespace) -> int:
    from vla_r1_cli.errors import UsageError
    from vla_r1_robot.sim.run import EvalOptions, OutputExistsError, check_out_dir, run_evaluation

    grounding, safety, planner, task = _configs(args.config)
    try:
        options = EvalOptions(
            args.out,
            args.episodes,
            args.seed,
            args.task,
            tuple(args.box_noise_px),
            args.policy,
            args.model if args.policy == "model" else None,
            args.report_episodes,
            args.video_episodes,
            not args.no_progress,
            args.urdf,
            args.gl,
            grounding,
            safety,
            planner,
            task,
        )
        check_out_dir(options.out_dir)
    except (ValueError, OutputExistsError) as exc:
        raise UsageError(str(exc)) from None
    policy = None
    if args.policy == "model":
        if options.box_noise_px != (0.0,):
            raise UsageError("--box-noise-px perturbs the ground-truth answers; it does not apply to --policy model")
        from vla_r1_cli.infer import policy_from_args

        policy = policy_from_args(args)
    try:
        summary = run_evaluation(options, policy)
    except OutputExistsError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(summary, indent=2))
    for condition in summary["conditions"]:
        low, high = condition["ci95"]
        print(
            f"box noise {condition['box_noise_px']:g} px: {condition['successes']}/{condition['episodes']} succeeded "
            f"({100 * condition['success_rate']:.1f} %, 95 % interval {100 * low:.1f}-{100 * high:.1f} %), "
            f"failures by stage: {condition['failures_by_stage'] or 'none'}",
            file=sys.stderr if args.json else sys.stdout,
        )
    overall = summary["overall"]
    print(f"answers from: {summary['answer_source']}")
    print(f"results: {summary['episodes_jsonl']}")
    print(f"report: {summary['report']}")
    print(f"{overall['successes']} of {overall['episodes']} episodes succeeded")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """A new run folder per demo, then ``latest`` switched to it with one rename (never a deletion)."""
    import os
    import time

    from vla_r1_cli.errors import UsageError

    args.out_root.mkdir(parents=True, exist_ok=True)
    out = args.out_root / time.strftime("run-%Y%m%d-%H%M%S")
    while out.exists():
        out = out.with_name(out.name + "-1")
    args.out, args.box_noise_px, args.config, args.urdf, args.json = out, [0.0], None, None, False
    args.report_episodes = args.video_episodes = args.episodes
    code = run_eval(args)
    link = args.out_root / "latest"
    if link.exists() and not link.is_symlink():
        raise UsageError(f"{link} exists and is not a link: results are in {out}")
    temporary = args.out_root / f".latest-{os.getpid()}"
    os.symlink(out.name, temporary)
    os.replace(temporary, link)  # atomic switch to the newest finished demo
    print(f"latest demo: {link / 'report.html'}")
    return code
