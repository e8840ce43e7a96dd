"""Intrinsics calibration from chessboard or ChArUco views, with outlier views explained."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import cv2
import numpy as np

from calibration.camera import CameraModel
from calibration.target import BoardSpec, Detection, detect_board, load_gray
from vla_r1_model.files import atomic_output

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MIN_VIEWS = 3
COVERAGE_GRID = (8, 6)  # columns x rows of image cells for the coverage summary


def find_images(images: str | PathLike[str]) -> list[Path]:
    """A directory (its image files) or a glob pattern, sorted by name."""
    path = Path(images)
    if path.is_dir():
        found = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    else:
        found = [Path(p) for p in glob.glob(str(images)) if Path(p).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found)


@dataclass(frozen=True)
class ViewReport:
    name: str
    n_corners: int
    rms_px: float  # this view's reprojection RMS in the calibration that included it
    tilt_deg: float  # angle between the board normal and the optical axis
    distance_m: float
    rejected: bool = False
    reason: str = ""


@dataclass(frozen=True)
class Coverage:
    cells_covered: float  # share of COVERAGE_GRID cells holding at least one corner
    x_range: tuple[float, float]  # corners' extent as a share of the width
    y_range: tuple[float, float]
    tilt_range_deg: tuple[float, float]
    distance_range_m: tuple[float, float]

    def summary(self) -> str:
        return (
            f"corners cover {self.cells_covered:.0%} of a {COVERAGE_GRID[0]}x{COVERAGE_GRID[1]} grid over the image "
            f"(x {self.x_range[0]:.0%}-{self.x_range[1]:.0%}, "
            f"y {self.y_range[0]:.0%}-{self.y_range[1]:.0%} of the frame); "
            f"board tilt {self.tilt_range_deg[0]:.0f}-{self.tilt_range_deg[1]:.0f} deg, "
            f"distance {self.distance_range_m[0]:.2f}-{self.distance_range_m[1]:.2f} m"
        )


@dataclass(frozen=True)
class IntrinsicsResult:
    camera: CameraModel
    rms_px: float  # final calibration, kept views only
    views: tuple[ViewReport, ...]  # every view with a detection, kept or rejected
    not_detected: tuple[str, ...]
    coverage: Coverage
    initial_camera: CameraModel  # calibration with all detected views, before rejection
    initial_rms_px: float

    @property
    def rejected(self) -> tuple[ViewReport, ...]:
        return tuple(v for v in self.views if v.rejected)


class CalibrationFailedError(RuntimeError):
    """Too few usable views, or OpenCV could not calibrate."""


def _calibrate(detections: Sequence[Detection], size: tuple[int, int], flags: int):
    objects = [d.object_points.astype(np.float32) for d in detections]
    pixels = [d.pixels.astype(np.float32).reshape(-1, 1, 2) for d in detections]
    rms, K, D, rvecs, tvecs = cv2.calibrateCamera(objects, pixels, size, np.eye(3), None, flags=flags)
    per_view = []
    for d, rvec, tvec in zip(detections, rvecs, tvecs, strict=True):
        projected, _ = cv2.projectPoints(d.object_points, rvec, tvec, K, D)
        per_view.append(float(np.sqrt(np.mean(np.sum((projected.reshape(-1, 2) - d.pixels) ** 2, axis=1)))))
    return float(rms), K, D.reshape(-1), rvecs, tvecs, per_view


def _camera(size: tuple[int, int], K: np.ndarray, model: str, D: np.ndarray, name: str, n_views: int) -> CameraModel:
    """The calibrated camera, or CalibrationFailedError when OpenCV's numbers are not a usable camera
    (a principal point outside the image, non-finite or absurd values: too few or too similar views)."""
    try:
        return CameraModel(size[0], size[1], K, model, D, name)
    except ValueError as exc:
        raise CalibrationFailedError(
            f"the calibration from {n_views} views is not a usable camera ({exc}); "
            "add views with the board tilted and in every part of the image"
        ) from None


def _pose_stats(rvec: np.ndarray, tvec: np.ndarray) -> tuple[float, float]:
    normal = cv2.Rodrigues(rvec)[0][:, 2]
    return float(np.degrees(np.arccos(min(1.0, abs(normal[2]))))), float(np.linalg.norm(tvec))


def calibrate_intrinsics(
    images: Sequence[str | PathLike[str]],
    board: BoardSpec,
    *,
    distortion_model: str = "plumb_bob",
    fix_aspect_ratio: bool = False,
    reject_outliers: bool = True,
    outlier_factor: float = 3.0,
    outlier_min_px: float = 1.0,
    subpix_half_window: int = 11,
    camera_name: str = "",
) -> IntrinsicsResult:
    """Detect, calibrate, reject outlier views once, recalibrate.

    A view is an outlier when its RMS exceeds both ``outlier_min_px`` and ``outlier_factor``
    times the median view RMS (a single bad view cannot hide behind a global mean).
    """
    if distortion_model not in ("plumb_bob", "rational_polynomial"):
        raise ValueError(f"intrinsics calibration supports plumb_bob and rational_polynomial, got {distortion_model!r}")
    if not (np.isfinite(outlier_factor) and outlier_factor >= 1):
        raise ValueError(
            f"outlier_factor must be a finite number >= 1 (a multiple of the median view RMS), got {outlier_factor}"
        )
    if not (np.isfinite(outlier_min_px) and outlier_min_px >= 0):
        raise ValueError(f"outlier_min_px must be a finite number >= 0, got {outlier_min_px}")
    detections: list[Detection] = []
    names: list[str] = []
    not_detected: list[str] = []
    size: tuple[int, int] | None = None
    for path in images:
        gray = load_gray(path)
        this_size = (gray.shape[1], gray.shape[0])
        if size is None:
            size = this_size
        elif this_size != size:
            raise ValueError(f"{path}: image is {this_size[0]}x{this_size[1]}, the others are {size[0]}x{size[1]}")
        detection = detect_board(gray, board, subpix_half_window=subpix_half_window)
        if detection is None:
            not_detected.append(Path(path).name)
        else:
            detections.append(detection)
            names.append(Path(path).name)
    if len(detections) < MIN_VIEWS:
        raise CalibrationFailedError(
            f"the board was found in {len(detections)} of {len(detections) + len(not_detected)} images; "
            f"at least {MIN_VIEWS} are needed (check --pattern, --cols/--rows: a chessboard counts INNER corners)"
        )
    assert size is not None
    flags = (cv2.CALIB_FIX_ASPECT_RATIO if fix_aspect_ratio else 0) | (
        cv2.CALIB_RATIONAL_MODEL if distortion_model == "rational_polynomial" else 0
    )
    rms0, K0, D0, rvecs0, tvecs0, per_view0 = _calibrate(detections, size, flags)
    n_coefficients = 8 if distortion_model == "rational_polynomial" else 5
    initial_camera = _camera(size, K0, distortion_model, D0[:n_coefficients], camera_name, len(detections))

    median = float(np.median(per_view0))
    limit = max(outlier_min_px, outlier_factor * median)
    rejected: dict[int, str] = {}
    if reject_outliers:
        for i, rms in enumerate(per_view0):
            if rms > limit:
                spacing = detections[i].min_corner_spacing_px(board)
                reason = (
                    f"RMS {rms:.2f} px > limit {limit:.2f} px (larger of {outlier_min_px:g} px and "
                    f"{outlier_factor:g} x the median {median:.2f} px)"
                )
                window = 2 * subpix_half_window + 1
                if board.pattern == "chessboard" and spacing < 1.5 * window:
                    reason += (
                        f"; its corners are only {spacing:.0f} px apart while the refinement window is "
                        f"{window} px, so refinement can mix in neighbouring corners "
                        "(a smaller --subpix-half-window may keep it)"
                    )
                else:
                    tilt, _ = _pose_stats(rvecs0[i], tvecs0[i])
                    reason += (
                        f"; board tilted {tilt:.0f} deg, corners {spacing:.0f} px apart: check this view for "
                        "blur, glare, a bent board or a mis-ordered detection"
                    )
                rejected[i] = reason
        if len(detections) - len(rejected) < MIN_VIEWS:
            rejected = {}  # rejecting would leave too few views: keep them all, the report shows the RMS
    kept = [i for i in range(len(detections)) if i not in rejected]
    if rejected:
        rms, K, D, rvecs_k, tvecs_k, per_view_k = _calibrate([detections[i] for i in kept], size, flags)
    else:
        rms, K, D, rvecs_k, tvecs_k, per_view_k = rms0, K0, D0, rvecs0, tvecs0, per_view0
    camera = _camera(size, K, distortion_model, D[:n_coefficients], camera_name, len(kept))

    views: list[ViewReport] = []
    final_index = {i: k for k, i in enumerate(kept)}
    for i, detection in enumerate(detections):
        if i in final_index:
            k = final_index[i]
            tilt, distance = _pose_stats(rvecs_k[k], tvecs_k[k])
            views.append(ViewReport(names[i], detection.n_corners, per_view_k[k], tilt, distance))
        else:
            tilt, distance = _pose_stats(rvecs0[i], tvecs0[i])
            views.append(ViewReport(names[i], detection.n_corners, per_view0[i], tilt, distance, True, rejected[i]))

    kept_pixels = np.concatenate([detections[i].pixels for i in kept])
    cells_x = np.clip((kept_pixels[:, 0] / size[0] * COVERAGE_GRID[0]).astype(int), 0, COVERAGE_GRID[0] - 1)
    cells_y = np.clip((kept_pixels[:, 1] / size[1] * COVERAGE_GRID[1]).astype(int), 0, COVERAGE_GRID[1] - 1)
    kept_views = [v for v in views if not v.rejected]
    coverage = Coverage(
        cells_covered=len(set(zip(cells_x.tolist(), cells_y.tolist(), strict=True)))
        / (COVERAGE_GRID[0] * COVERAGE_GRID[1]),
        x_range=(float(kept_pixels[:, 0].min() / size[0]), float(kept_pixels[:, 0].max() / size[0])),
        y_range=(float(kept_pixels[:, 1].min() / size[1]), float(kept_pixels[:, 1].max() / size[1])),
        tilt_range_deg=(min(v.tilt_deg for v in kept_views), max(v.tilt_deg for v in kept_views)),
        distance_range_m=(min(v.distance_m for v in kept_views), max(v.distance_m for v in kept_views)),
    )
    result = IntrinsicsResult(camera, rms, tuple(views), tuple(not_detected), coverage, initial_camera, rms0)
    object.__setattr__(result, "_detections", dict(zip(names, detections, strict=True)))  # for the picture only
    return result


def plot_calibration(result: IntrinsicsResult, path: str | PathLike[str]) -> None:
    """PNG: every detected corner over the image area (rejected views in red) and per-view RMS bars."""
    import matplotlib

    matplotlib.use("Agg")  # no display on robots and CI
    import matplotlib.pyplot as plt

    detections: dict[str, Detection] = getattr(result, "_detections", {})
    figure, (corners_axis, bars_axis) = plt.subplots(1, 2, figsize=(13, 4.8))
    for view in result.views:
        pixels = detections[view.name].pixels
        style = dict(marker="x", color="red", s=12) if view.rejected else dict(marker=".", s=6)
        corners_axis.scatter(pixels[:, 0], pixels[:, 1], label=view.name, **style)
    corners_axis.set_xlim(0, result.camera.width)
    corners_axis.set_ylim(result.camera.height, 0)
    corners_axis.set_aspect("equal")
    corners_axis.set_title(f"detected corners ({result.coverage.cells_covered:.0%} of image cells covered)")
    names = [v.name for v in result.views]
    colours = ["tab:red" if v.rejected else "tab:blue" for v in result.views]
    bars_axis.bar(range(len(names)), [v.rms_px for v in result.views], color=colours)
    bars_axis.axhline(result.rms_px, color="k", linestyle="--", label=f"overall RMS {result.rms_px:.3f} px")
    bars_axis.set_xticks(range(len(names)), names, rotation=60, fontsize=8)
    bars_axis.set_ylabel("reprojection RMS [px]")
    bars_axis.set_title("per-view error (red: rejected)")
    bars_axis.legend()
    figure.tight_layout()
    try:
        with atomic_output(path, "wb") as handle:  # the complete picture or the earlier file
            figure.savefig(handle, dpi=100, format=Path(path).suffix.lstrip(".").lower() or "png")
    finally:
        plt.close(figure)
