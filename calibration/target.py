"""Calibration targets: board geometry, corner detection, and ``camera_T_target`` from one image."""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

import cv2
import numpy as np

from calibration.camera import CameraModel
from calibration.transforms import SE3

PATTERNS = ("chessboard", "charuco")
# OpenCV's own calibration sample settings: they reproduce its reference results.
_CHESSBOARD_FLAGS = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.1)
MIN_CORNERS = 6  # ChArUco views with fewer corners are too weak for pose or calibration


@dataclass(frozen=True)
class BoardSpec:
    """A planar target. The target frame: origin at the first corner, x along ``cols``,
    y along ``rows``, z into the board (OpenCV's convention), metres.

    chessboard: ``cols`` x ``rows`` INNER corners (OpenCV's sample board is 9 x 6).
    charuco: ``cols`` x ``rows`` SQUARES, ArUco markers of ``marker_m`` from ``dictionary``.
    """

    pattern: str
    cols: int
    rows: int
    square_m: float
    marker_m: float | None = None
    dictionary: str = "DICT_4X4_50"

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(f"pattern must be one of {PATTERNS}, got {self.pattern!r}")
        minimum = 2 if self.pattern == "chessboard" else 3
        for name in ("cols", "rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum} for a {self.pattern}, got {value!r}")
        if not (np.isfinite(self.square_m) and 0 < self.square_m < 1):
            raise ValueError(f"square_m must be in (0, 1) metres, got {self.square_m}")
        if self.pattern == "charuco":
            if self.marker_m is None or not (0 < self.marker_m < self.square_m):
                raise ValueError(
                    f"a ChArUco board needs 0 < marker_m < square_m ({self.square_m}), got {self.marker_m}"
                )
            if not self.dictionary.startswith("DICT_") or not hasattr(cv2.aruco, self.dictionary):
                raise ValueError(f"unknown ArUco dictionary {self.dictionary!r} (e.g. DICT_4X4_50, DICT_5X5_100)")

    def charuco_board(self) -> cv2.aruco.CharucoBoard:
        if self.marker_m is None:
            raise ValueError(f"a {self.pattern} has no ChArUco board (marker_m is not set)")
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard((self.cols, self.rows), self.square_m, self.marker_m, dictionary)

    def object_points(self) -> np.ndarray:
        """(N, 3) corner positions in the target frame, indexed by corner id."""
        if self.pattern == "chessboard":
            grid = np.mgrid[0 : self.cols, 0 : self.rows].T.reshape(-1, 2) * self.square_m
            return np.column_stack([grid, np.zeros(len(grid))])
        return np.asarray(self.charuco_board().getChessboardCorners(), dtype=np.float64).reshape(-1, 3)


@dataclass(frozen=True, eq=False)
class Detection:
    """Corners found in one image: ``pixels`` (N, 2), their ``ids`` and ``object_points`` (N, 3)."""

    image_size: tuple[int, int]  # (width, height)
    pixels: np.ndarray
    ids: np.ndarray
    object_points: np.ndarray

    @property
    def n_corners(self) -> int:
        return len(self.ids)

    def min_corner_spacing_px(self, board: BoardSpec) -> float:
        """Smallest image distance between neighbouring corners (a refinement window should be smaller)."""
        grid = self.object_points[:, :2] / board.square_m
        spacing = np.inf
        for i in range(self.n_corners):
            neighbours = np.abs(np.abs(grid - grid[i]).sum(axis=1) - 1.0) < 1e-6
            if np.any(neighbours):
                spacing = min(spacing, float(np.min(np.linalg.norm(self.pixels[neighbours] - self.pixels[i], axis=1))))
        return spacing


def load_gray(path: str | PathLike[str]) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"{path}: cannot read as an image")
    return image


def _gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY)
    if image.ndim != 2:
        raise ValueError(f"image must be HxW or HxWx3, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    # OpenCV allocates dst when it is None; its stubs do not allow None
    return cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)  # type: ignore[call-overload]


def detect_board(image: np.ndarray, board: BoardSpec, *, subpix_half_window: int = 11) -> Detection | None:
    """Find the board's corners with subpixel refinement; None when it is not (fully) seen."""
    if isinstance(subpix_half_window, bool) or not isinstance(subpix_half_window, int) or subpix_half_window < 1:
        raise ValueError(f"subpix_half_window must be an integer >= 1 (pixels), got {subpix_half_window!r}")
    gray = _gray(image)
    size = (int(gray.shape[1]), int(gray.shape[0]))
    if board.pattern == "chessboard":
        found, corners = cv2.findChessboardCorners(gray, (board.cols, board.rows), flags=_CHESSBOARD_FLAGS)
        if not found:
            return None
        # OpenCV's winSize is a HALF size: 11 searches a 23 x 23 window (OpenCV's sample value).
        half = int(subpix_half_window)
        corners = cv2.cornerSubPix(gray, corners, (half, half), (-1, -1), _SUBPIX_CRITERIA)
        ids: np.ndarray = np.arange(board.cols * board.rows)
        return Detection(size, corners.reshape(-1, 2).astype(np.float64), ids, board.object_points())
    detector = cv2.aruco.CharucoDetector(board.charuco_board())
    corners, ids, _, _ = detector.detectBoard(gray)  # interpolated from markers and refined
    if ids is None or len(ids) < MIN_CORNERS:
        return None
    ids = ids.reshape(-1).astype(np.int64)
    return Detection(size, corners.reshape(-1, 2).astype(np.float64), ids, board.object_points()[ids])


@dataclass(frozen=True)
class TargetPose:
    camera_T_target: SE3
    reprojection_rms_px: float
    n_corners: int


def solve_target_pose(detection: Detection, camera: CameraModel) -> TargetPose:
    """solvePnP (IPPE for a plane, then Levenberg-Marquardt) with the camera's own distortion."""
    if detection.image_size != (camera.width, camera.height):
        raise ValueError(
            f"image is {detection.image_size[0]}x{detection.image_size[1]} but the camera model is "
            f"{camera.width}x{camera.height}"
        )
    # Undistort with our model (any of the supported ones), then solve on ideal pixels.
    rays = camera.pixels_to_rays(detection.pixels)
    ok = np.all(np.isfinite(rays), axis=1)
    if ok.sum() < 4:
        raise ValueError("fewer than 4 corners can be undistorted with this camera model")
    ideal = (rays[ok] @ camera.K[:2, :2].T + camera.K[:2, 2]).astype(np.float64)
    objects = detection.object_points[ok].astype(np.float64)
    found, rvec, tvec = cv2.solvePnP(objects, ideal, camera.K, None, flags=cv2.SOLVEPNP_IPPE)
    if not found:
        raise ValueError("solvePnP found no pose")
    rvec, tvec = cv2.solvePnPRefineLM(objects, ideal, camera.K, None, rvec, tvec)
    camera_T_target = SE3.from_rotvec(rvec.reshape(3), tvec.reshape(3))
    reprojected = camera.project(camera_T_target.apply(detection.object_points))
    rms = float(np.sqrt(np.nanmean(np.sum((reprojected - detection.pixels) ** 2, axis=1))))
    return TargetPose(camera_T_target, rms, detection.n_corners)


def camera_T_target(
    image: np.ndarray, camera: CameraModel, board: BoardSpec, *, subpix_half_window: int = 11
) -> TargetPose:
    """The target's pose in the camera optical frame from one image, with the reprojection RMS."""
    detection = detect_board(image, board, subpix_half_window=subpix_half_window)
    if detection is None:
        raise ValueError(f"no {board.cols}x{board.rows} {board.pattern} found in the image")
    return solve_target_pose(detection, camera)


def render_board_view(
    board: BoardSpec,
    camera: CameraModel,
    camera_T_target: SE3,
    *,
    pixels_per_square: int = 60,
    margin_squares: float = 1.0,
) -> np.ndarray:
    """A synthetic grayscale view of the board (pinhole, distortion ignored) for tests and demos."""
    if board.pattern == "charuco":
        width_px, height_px = board.cols * pixels_per_square, board.rows * pixels_per_square
        margin = int(margin_squares * pixels_per_square)
        flat = board.charuco_board().generateImage((width_px + 2 * margin, height_px + 2 * margin), marginSize=margin)
        origin_px = margin  # ChArUco's target frame starts at the board's outer corner
    else:
        squares_x, squares_y = board.cols + 1, board.rows + 1
        margin = int(margin_squares * pixels_per_square)
        cells = (np.add.outer(np.arange(squares_y), np.arange(squares_x)) % 2 == 0).astype(np.uint8) * 255
        cells = 255 - cells  # black top-left square
        flat = np.full(
            (squares_y * pixels_per_square + 2 * margin, squares_x * pixels_per_square + 2 * margin), 255, np.uint8
        )
        flat[margin:-margin, margin:-margin] = np.kron(cells, np.ones((pixels_per_square, pixels_per_square), np.uint8))
        origin_px = margin + pixels_per_square  # a chessboard's starts at the first inner corner
    # board-image pixel (x, y) -> target-frame metres (centres of flat pixels at +0.5)
    metres_per_px = board.square_m / pixels_per_square
    board_from_flat = np.array(
        [
            [metres_per_px, 0, -(origin_px - 0.5) * metres_per_px],
            [0, metres_per_px, -(origin_px - 0.5) * metres_per_px],
            [0, 0, 1],
        ]
    )
    R, t = camera_T_target.rotation, camera_T_target.translation
    homography = camera.K @ np.column_stack([R[:, 0], R[:, 1], t]) @ board_from_flat
    return cv2.warpPerspective(
        flat,
        homography,
        (camera.width, camera.height),
        flags=cv2.INTER_AREA,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=200,
    )
