"""`vla-r1 live --camera realsense`: the whole pipeline on a live RealSense (or a RealSense .bag),
showing/writing the overlay and the plan. Plan-only: this command never moves an arm."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    from vla_r1_model.cli_infer import add_model_arguments

    live = subparsers.add_parser("live", help="run the pipeline on a live camera (plan-only)", description=__doc__)
    live.add_argument("--camera", required=True, choices=("realsense",), help="camera source")
    live.add_argument("--instruction", required=True)
    live.add_argument("--task", required=True, choices=("affordance", "trajectory"))
    add_model_arguments(live)
    live.add_argument("--serial", default="", help="RealSense serial number (default: the first camera)")
    live.add_argument("--bag", type=Path, help="play this RealSense .bag instead of a camera")
    live.add_argument("--width", type=int, default=640)
    live.add_argument("--height", type=int, default=480)
    live.add_argument("--fps", type=int, default=30)
    live.add_argument("--frames", type=int, default=1, help="instructions to run (one per new frame); 0 = until Ctrl-C")
    live.add_argument("--base-T-camera", type=Path, help="transform YAML (vla-r1 calibrate hand-eye); default identity")
    live.add_argument("--config", type=Path, help="YAML with grounding:, safety: and planner: sections")
    live.add_argument("--urdf", type=Path, help="plan joint trajectories with pinocchio on this URDF")
    live.add_argument("--tip", default="panda_hand", help="tip link of --urdf")
    live.add_argument("--out", type=Path, help="write overlay_<n>.png and results.jsonl here")
    live.add_argument("--show", action="store_true", help="show the overlay in a window (OpenCV)")
    live.set_defaults(func=run_live)


def run_live(args: argparse.Namespace) -> int:
    from calibration import SE3

    from vla_r1_model.cli import UsageError
    from vla_r1_model.cli_infer import policy_from_args

    from .cli_replay import load_stage_configs, planner_from_args, read_base_T_camera
    from .pipeline import Pipeline
    from .realsense_source import RealSenseError, RealSenseSettings, RealSenseSource

    if args.frames < 0:
        raise UsageError("--frames must be >= 0")
    if args.bag is not None and not args.bag.is_file():
        raise UsageError(f"--bag {args.bag}: no such file")
    try:
        settings = RealSenseSettings(width=args.width, height=args.height, fps=args.fps, serial=args.serial,
                                     bag_path=str(args.bag or ""))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    grounding, safety, planner_options = load_stage_configs(args.config)
    base_T_camera = SE3.identity()
    if args.base_T_camera:
        base_T_camera = read_base_T_camera(args.base_T_camera)
    else:
        print("warning: no --base-T-camera: targets are in the camera frame", file=sys.stderr)
    planner = planner_from_args(args, safety, planner_options)
    pipeline = Pipeline(policy_from_args(args), grounding, safety, planner, base_T_camera)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    try:
        with RealSenseSource(settings) as source:
            for n, frame in enumerate(source.frames()):
                if args.frames and n >= args.frames:
                    break
                outcome = pipeline.run(frame, args.instruction, args.task)
                failures += not outcome.ok
                _report(args, n, frame, outcome)
    except RealSenseError as exc:
        print(f"vla-r1 live: error: {exc}", file=sys.stderr)
        return 2
    return 1 if failures else 0


def _report(args, n: int, frame, outcome) -> None:
    from PIL import Image

    from vla_r1_model.overlay import draw_overlay

    action = outcome.prediction.action if outcome.prediction else None
    overlay = draw_overlay(Image.fromarray(frame.color_rgb), action, args.instruction, outcome.error)
    status = "ok" if outcome.ok else f"failed at {outcome.failed_stage}: {outcome.error}"
    plan = outcome.plan.summary() if outcome.plan else None
    print(f"[{n}] {status}" + (f"; plan {plan['num_points']} points, {plan['duration_s']:.2f} s (not executed)" if plan else ""))
    if args.out:
        overlay.save(args.out / f"overlay_{n:04d}.png")
        with open(args.out / "results.jsonl", "a") as results:
            results.write(json.dumps(outcome.to_dict((frame.width, frame.height))) + "\n")
    if args.show:
        import cv2
        import numpy as np

        cv2.imshow("vla-r1 live", np.asarray(overlay)[:, :, ::-1])
        cv2.waitKey(1)
