"""`vla-r1 calibrate intrinsics | hand-eye | target-poses`: thin shells over the library.

Heavy imports (cv2, matplotlib) stay inside the handlers so that building the parser is cheap.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vla_r1_cli.errors import EXIT_FAILED, EXIT_OK, UsageError

# Picture formats --plot can write (matplotlib's, chosen by the file's suffix).
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="camera intrinsics, target poses and hand-eye calibration",
        description="Calibrate the camera (intrinsics) and where it sits (hand-eye).",
    )
    commands = parser.add_subparsers(dest="calibrate_command", metavar="WHAT")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    intrinsics = commands.add_parser("intrinsics", help="camera matrix and distortion from board images")
    _board_arguments(intrinsics)
    intrinsics.add_argument("--out", required=True, help="camera YAML to write (ROS camera_calibration_parsers format)")
    intrinsics.add_argument(
        "--model",
        default="plumb_bob",
        choices=("plumb_bob", "rational_polynomial"),
        help="distortion model (default plumb_bob)",
    )
    intrinsics.add_argument("--fix-aspect-ratio", action="store_true", help="force fx = fy (square pixels)")
    intrinsics.add_argument("--no-reject", action="store_true", help="keep outlier views")
    intrinsics.add_argument(
        "--outlier-factor",
        type=float,
        default=3.0,
        help="reject views whose RMS exceeds this times the median view RMS (default 3)",
    )
    intrinsics.add_argument(
        "--outlier-min-px", type=float, default=1.0, help="... and exceeds this many pixels (default 1.0)"
    )
    intrinsics.add_argument("--camera-name", default="camera", help="camera_name written into the YAML")
    intrinsics.add_argument("--plot", metavar="PNG", help="also write a picture of the corners and per-view errors")
    intrinsics.set_defaults(func=run_intrinsics)

    poses = commands.add_parser(
        "target-poses", help="camera_T_target for each image (the camera half of hand-eye samples)"
    )
    _board_arguments(poses)
    poses.add_argument(
        "--camera", required=True, help="camera file (ROS YAML or INI) of the camera that took the images"
    )
    poses.add_argument(
        "--robot-poses",
        metavar="FILE",
        help="YAML/JSON mapping image file name -> base_T_ee 4x4; with it the output is a complete samples file",
    )
    poses.add_argument("--out", required=True, help="samples YAML to write")
    poses.set_defaults(func=run_target_poses)

    hand_eye = commands.add_parser("hand-eye", help="ee_T_camera or base_T_camera from robot and target poses")
    hand_eye.add_argument("--samples", required=True, help="YAML/JSON list of {base_T_ee: 4x4, camera_T_target: 4x4}")
    hand_eye.add_argument("--setup", required=True, choices=("eye-in-hand", "eye-to-hand"))
    hand_eye.add_argument(
        "--method",
        default="park",
        choices=("tsai", "park", "horaud", "andreff", "daniilidis", "all"),
        help="OpenCV method (default park); 'all' compares them and writes the most consistent",
    )
    hand_eye.add_argument("--out", required=True, help="transform YAML to write (static transform publisher form)")
    hand_eye.add_argument("--base-frame", default="base_link")
    hand_eye.add_argument("--ee-frame", default="tool0")
    hand_eye.add_argument("--camera-frame", default="camera_color_optical_frame")
    hand_eye.add_argument(
        "--max-spread-mm",
        type=float,
        default=20.0,
        help="refuse a result whose implied fixed transform spreads more than this RMS (default 20)",
    )
    hand_eye.add_argument(
        "--max-spread-deg", type=float, default=2.0, help="... or more than this many degrees RMS (default 2)"
    )
    hand_eye.set_defaults(func=run_hand_eye)


def _board_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", required=True, help="directory of images or a glob pattern (quote it)")
    parser.add_argument("--pattern", required=True, choices=("chessboard", "charuco"))
    parser.add_argument("--cols", type=int, required=True, help="chessboard: inner corners per row; charuco: squares")
    parser.add_argument(
        "--rows", type=int, required=True, help="chessboard: inner corners per column; charuco: squares"
    )
    parser.add_argument("--square", type=float, required=True, help="square size in METRES")
    parser.add_argument("--marker", type=float, help="charuco: marker size in metres")
    parser.add_argument("--dictionary", default="DICT_4X4_50", help="charuco: ArUco dictionary (default DICT_4X4_50)")
    parser.add_argument(
        "--subpix-half-window",
        type=int,
        default=11,
        help="corner refinement half window in pixels (OpenCV winSize, default 11)",
    )


def _board(args: argparse.Namespace):
    from calibration.target import BoardSpec

    if args.subpix_half_window < 1:
        raise UsageError(f"--subpix-half-window must be >= 1 pixel, got {args.subpix_half_window}")
    try:
        return BoardSpec(args.pattern, args.cols, args.rows, args.square, args.marker, args.dictionary)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _images(args: argparse.Namespace) -> list[Path]:
    from calibration.intrinsics import find_images

    images = find_images(args.images)
    if not images:
        raise UsageError(f"no images found at {args.images!r} (a directory or a glob such as 'shots/*.png')")
    return images


def _output(path: str, what: str) -> None:
    """Check an output path before the work starts (a long computation is never lost to a bad path)."""
    from vla_r1_model.files import OutputPathError, check_output_file

    try:
        check_output_file(path, what=what)
    except OutputPathError as exc:
        raise UsageError(str(exc)) from None


def _not_an_input(out: str, **inputs: str | None) -> None:
    """Refuse an --out that names one of the command's input files (the result would replace its input)."""
    for flag, path in inputs.items():
        if path and Path(path).exists() and Path(out).resolve() == Path(path).resolve():
            raise UsageError(f"--out {out} is the --{flag.replace('_', '-')} input file; write the result elsewhere")


def _failed(command: str, reason: str, out: str) -> int:
    untouched = "left as it was" if Path(out).exists() else "not written"
    print(
        f"vla-r1 calibrate {command}: calibration failed: {reason}\nnothing was written ({out} {untouched})",
        file=sys.stderr,
    )
    return EXIT_FAILED


def run_intrinsics(args: argparse.Namespace) -> int:
    import math

    from calibration.intrinsics import CalibrationFailedError, calibrate_intrinsics, plot_calibration

    if not (math.isfinite(args.outlier_factor) and args.outlier_factor >= 1):
        raise UsageError(f"--outlier-factor must be a finite number >= 1, got {args.outlier_factor}")
    if not (math.isfinite(args.outlier_min_px) and args.outlier_min_px >= 0):
        raise UsageError(f"--outlier-min-px must be a finite number >= 0, got {args.outlier_min_px}")
    _output(args.out, "--out")
    if args.plot:
        _output(args.plot, "--plot")
        if Path(args.plot).suffix.lower() not in PLOT_SUFFIXES:
            raise UsageError(
                f"--plot {args.plot}: the picture's format comes from its suffix, one of {', '.join(PLOT_SUFFIXES)}"
            )
        if Path(args.plot).resolve() == Path(args.out).resolve():
            raise UsageError("--plot and --out name the same file")
    board, images = _board(args), _images(args)
    try:
        result = calibrate_intrinsics(
            images,
            board,
            distortion_model=args.model,
            fix_aspect_ratio=args.fix_aspect_ratio,
            reject_outliers=not args.no_reject,
            outlier_factor=args.outlier_factor,
            outlier_min_px=args.outlier_min_px,
            subpix_half_window=args.subpix_half_window,
            camera_name=args.camera_name,
        )
    except ValueError as exc:  # unreadable image, mixed sizes
        raise UsageError(str(exc)) from exc
    except CalibrationFailedError as exc:
        return _failed("intrinsics", str(exc), args.out)
    print(
        f"board found in {len(result.views)} of {len(images)} images"
        + (f" (not in: {', '.join(result.not_detected)})" if result.not_detected else "")
    )
    for view in result.views:
        mark = "REJECTED" if view.rejected else "ok"
        print(
            f"  {view.name:<24} {view.n_corners:3d} corners  RMS {view.rms_px:6.3f} px  "
            f"tilt {view.tilt_deg:4.0f} deg  {mark}"
        )
    for view in result.rejected:
        print(f"rejected {view.name}: {view.reason}")
    if result.rejected:
        c = result.initial_camera
        print(
            f"with all views: RMS {result.initial_rms_px:.3f} px, "
            f"fx {c.fx:.2f} fy {c.fy:.2f} cx {c.cx:.2f} cy {c.cy:.2f}"
        )
    c = result.camera
    print(
        f"result: RMS {result.rms_px:.3f} px, fx {c.fx:.2f} fy {c.fy:.2f} cx {c.cx:.2f} cy {c.cy:.2f}, "
        f"{c.distortion_model} {[round(float(v), 5) for v in c.D]}"
    )
    print(f"coverage: {result.coverage.summary()}")
    result.camera.to_yaml(args.out)
    print(f"wrote {args.out}")
    if args.plot:
        plot_calibration(result, args.plot)
        print(f"wrote {args.plot}")
    return EXIT_OK


def run_target_poses(args: argparse.Namespace) -> int:
    from calibration.camera import CameraModel
    from calibration.errors import CalibrationFileError
    from calibration.handeye import write_samples
    from calibration.target import detect_board, load_gray, solve_target_pose

    _output(args.out, "--out")
    _not_an_input(args.out, camera=args.camera, robot_poses=args.robot_poses)
    board, images = _board(args), _images(args)
    try:
        camera = CameraModel.from_file(args.camera)
        robot_poses = _robot_poses(args.robot_poses) if args.robot_poses else None
    except CalibrationFileError as exc:
        raise UsageError(str(exc)) from exc
    entries = []
    for path in images:
        try:
            detection = detect_board(load_gray(path), board, subpix_half_window=args.subpix_half_window)
            if detection is None:
                print(f"  {path.name}: board not found, skipped")
                continue
            pose = solve_target_pose(detection, camera)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        entry: dict[str, Any] = {"image": path.name}
        if robot_poses is not None:
            if path.name not in robot_poses:
                raise UsageError(f"{args.robot_poses}: no base_T_ee for image {path.name!r}")
            entry["base_T_ee"] = robot_poses[path.name]
        entry["camera_T_target"] = pose.camera_T_target
        entry["reprojection_rms_px"] = round(pose.reprojection_rms_px, 4)
        entries.append(entry)
        print(
            f"  {path.name}: {pose.n_corners} corners, reprojection RMS {pose.reprojection_rms_px:.3f} px, "
            f"distance {float(sum(pose.camera_T_target.translation**2)) ** 0.5:.3f} m"
        )
    if not entries:
        return _failed("target-poses", "the board was not found in any image", args.out)
    write_samples(args.out, entries)
    print(
        f"wrote {len(entries)} target poses to {args.out}"
        + ("" if robot_poses is not None else " (add base_T_ee to each entry before `calibrate hand-eye`)")
    )
    return EXIT_OK


def _robot_poses(path: str) -> dict[str, Any]:
    from calibration.errors import CalibrationFileError
    from calibration.handeye import _transform
    from calibration.transforms import load_yaml_file

    data = load_yaml_file(path)
    if not isinstance(data, dict):
        raise CalibrationFileError(path, "(top level)", "expected a mapping of image file name -> base_T_ee 4x4")
    return {str(name): _transform(matrix, path, str(name)) for name, matrix in data.items()}


def run_hand_eye(args: argparse.Namespace) -> int:
    import math

    from calibration.errors import CalibrationFileError
    from calibration.handeye import (
        HandEyeError,
        HandEyeFailedError,
        calibrate_hand_eye,
        calibrate_hand_eye_all,
        comparison_table,
        load_samples,
    )

    for name in ("max_spread_mm", "max_spread_deg"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"--{name.replace('_', '-')} must be a finite number > 0, got {value}")
    _output(args.out, "--out")
    _not_an_input(args.out, samples=args.samples)
    try:
        samples = load_samples(args.samples)
    except CalibrationFileError as exc:
        raise UsageError(str(exc)) from exc
    options = dict(
        base_frame=args.base_frame,
        ee_frame=args.ee_frame,
        camera_frame=args.camera_frame,
        max_spread_mm=args.max_spread_mm,
        max_spread_deg=args.max_spread_deg,
    )
    try:
        if args.method == "all":
            comparison = calibrate_hand_eye_all(samples, args.setup, **options)
            print(comparison_table(comparison))
            result = comparison.best()
            print(f"writing {result.method}: the most consistent method on these samples")
        else:
            result = calibrate_hand_eye(samples, args.setup, args.method, **options)
    except HandEyeFailedError as exc:
        return _failed("hand-eye", f"{args.samples}: {exc}", args.out)
    except HandEyeError as exc:
        raise UsageError(f"{args.samples}: {exc}") from exc
    named = result.result
    t = named.transform
    print(f"{named.parent_frame}_T_{named.child_frame} ({result.setup}, {result.method}, {result.n_samples} samples)")
    print(f"  translation [m]: {' '.join(f'{v:.5f}' for v in t.translation)}")
    print(f"  quaternion xyzw: {' '.join(f'{v:.6f}' for v in t.quaternion_xyzw())}")
    print(f"  rpy [deg]:       {' '.join(f'{v:.3f}' for v in t.euler_xyz_deg())}")
    print(f"  consistency: {result.consistency.summary()}")
    named.to_yaml(args.out, extra=result.info())
    print(f"wrote {args.out}")
    return EXIT_OK
