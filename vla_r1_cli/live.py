"""`vla-r1 live --camera realsense`: the whole pipeline on a live RealSense (or a RealSense .bag),
showing/writing the overlay and the plan. Plan-only: this command never moves an arm."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def register(subparsers) -> None:
    from vla_r1_cli import defaults
    from vla_r1_cli.infer import add_model_arguments

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
    live.add_argument("--tip", default=defaults.TIP_LINK, help="tip link of --urdf")
    live.add_argument(
        "--out",
        type=Path,
        help="write overlay_<n>.png and results.jsonl here (a new or empty folder, "
        "or any with --overwrite; it appears when the run ends)",
    )
    live.add_argument("--overwrite", action="store_true", help="replace a non-empty --out when the run ends")
    live.add_argument("--show", action="store_true", help="show the overlay in a window (OpenCV)")
    live.set_defaults(func=run_live)


def run_live(args: argparse.Namespace) -> int:
    from calibration import SE3
    from vla_r1_cli.errors import UsageError
    from vla_r1_cli.infer import policy_from_args
    from vla_r1_model.files import OutputPathError, check_output_dir
    from vla_r1_robot.bags.realsense_source import RealSenseError, RealSenseSettings
    from vla_r1_robot.pipeline import Pipeline

    from .replay import load_stage_configs, planner_from_args, read_base_T_camera

    if args.frames < 0:
        raise UsageError("--frames must be >= 0")
    if args.bag is not None and not args.bag.is_file():
        raise UsageError(f"--bag {args.bag}: no such file")
    for path, flag in ((args.base_T_camera, "--base-T-camera"), (args.config, "--config"), (args.urdf, "--urdf")):
        if path is not None and not path.is_file():
            raise UsageError(f"{flag} {path}: {'is a folder, not a file' if path.is_dir() else 'no such file'}")
    if args.out is not None:
        try:
            check_output_dir(args.out, overwrite=args.overwrite, what="--out folder")
        except OutputPathError as exc:
            raise UsageError(str(exc)) from None
        if args.bag is not None:  # --overwrite replaces the whole folder: never the recording's own
            bag, out = os.path.abspath(args.bag), os.path.abspath(args.out)
            if os.path.commonpath([bag, out]) in (bag, out):
                raise UsageError(f"--out {args.out} overlaps the recording {args.bag}; write the results elsewhere")
    try:
        settings = RealSenseSettings(
            width=args.width, height=args.height, fps=args.fps, serial=args.serial, bag_path=str(args.bag or "")
        )
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
    try:
        failures = _run(args, settings, pipeline)
    except RealSenseError as exc:
        print(f"vla-r1 live: error: {exc}", file=sys.stderr)
        return 2
    return 1 if failures else 0


class _KeepEarlierRun(Exception):
    """Raised out of the staged --out folder to discard a failed run when an earlier one is there."""


def _run(args, settings, pipeline) -> int:
    """Instructions on new frames until --frames or Ctrl-C; --out is written into a staged folder
    (vla_r1_model.files.staged_output_dir) that replaces it at the end. A camera error keeps what
    was done unless an earlier run is in --out, which then stays untouched."""
    import contextlib

    from vla_r1_model.files import staged_output_dir
    from vla_r1_robot.bags.realsense_source import RealSenseError, RealSenseSource

    earlier = args.out is not None and args.out.is_dir() and any(args.out.iterdir())
    staged = staged_output_dir(args.out, overwrite=args.overwrite) if args.out else contextlib.nullcontext(None)
    failures, error = 0, None
    try:
        with staged as out:
            try:
                with RealSenseSource(settings) as source:
                    for n, frame in enumerate(source.frames()):
                        if args.frames and n >= args.frames:
                            break
                        outcome = pipeline.run(frame, args.instruction, args.task)
                        failures += not outcome.ok
                        _report(args, out, n, frame, outcome)
            except KeyboardInterrupt:  # the usual way to end `--frames 0`: keep what was done
                print("interrupted", file=sys.stderr)
            except RealSenseError as exc:
                error = exc
                if earlier:
                    raise _KeepEarlierRun from exc
    except _KeepEarlierRun:
        raise RealSenseError(f"{error}; the earlier run in {args.out} is kept") from None
    if error is not None:
        raise error
    return failures


def _report(args, out, n: int, frame, outcome) -> None:
    from PIL import Image

    from vla_r1_model.overlay import draw_overlay

    action = outcome.prediction.action if outcome.prediction else None
    overlay = draw_overlay(Image.fromarray(frame.color_rgb), action, args.instruction, outcome.error)
    status = "ok" if outcome.ok else f"failed at {outcome.failed_stage}: {outcome.error}"
    plan = outcome.plan.summary() if outcome.plan else None
    print(
        f"[{n}] {status}"
        + (f"; plan {plan['num_points']} points, {plan['duration_s']:.2f} s (not executed)" if plan else "")
    )
    if out is not None:
        overlay.save(out / f"overlay_{n:04d}.png")
        with open(out / "results.jsonl", "a") as results:
            results.write(json.dumps(outcome.to_dict((frame.width, frame.height))) + "\n")
    if args.show:
        import cv2
        import numpy as np

        cv2.imshow("vla-r1 live", np.asarray(overlay)[:, :, ::-1])
        cv2.waitKey(1)
