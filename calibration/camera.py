"""CameraModel: intrinsics + distortion, with ROS camera_info YAML / CameraInfo / RealSense I/O."""

from __future__ import annotations

import functools
import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from os import PathLike
from typing import Any

import numpy as np
import yaml

from calibration.distortion import COEFFICIENT_COUNTS, distort, undistort
from calibration.errors import CalibrationFileError, CalibrationFileWarning
from calibration.transforms import load_yaml_file, read_text_file
from vla_r1_model.files import atomic_write_text

DISTORTION_MODELS = tuple(COEFFICIENT_COUNTS)
# Beyond any camera sensor: a larger side is a typo or garbage (and deproject_image would allocate it).
MAX_IMAGE_SIDE_PX = 32768
# Real lenses calibrate to coefficients of order 1 (rational models to tens); beyond this, garbage.
MAX_DISTORTION_COEFFICIENT = 1000.0
_EYE3 = np.eye(3)
# The keys camera_calibration_parsers writes (YAML) and the fields of sensor_msgs/CameraInfo.
YAML_KEYS = frozenset(
    {
        "image_width",
        "image_height",
        "camera_name",
        "camera_matrix",
        "distortion_model",
        "distortion_coefficients",
        "rectification_matrix",
        "projection_matrix",
    }
)
CAMERA_INFO_KEYS = frozenset(
    {
        "header",
        "width",
        "height",
        "distortion_model",
        "d",
        "D",
        "k",
        "K",
        "r",
        "R",
        "p",
        "P",
        "binning_x",
        "binning_y",
        "roi",
    }
)

# RealSense model names (CameraInfo strings written by librealsense, or str(rs.distortion))
# mapped explicitly. "Inverse/Modified Brown Conrady" put the tangential terms elsewhere than
# OpenCV does, so they map only when every coefficient is zero (then they are plain pinhole).
_REALSENSE_EXACT = {"brown conrady": "plumb_bob", "kannala brandt4": "equidistant", "none": "none"}
_REALSENSE_ZERO_ONLY = {"inverse brown conrady", "modified brown conrady"}
_REALSENSE_UNSUPPORTED = {"ftheta"}


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64, copy=True)
    array.setflags(write=False)
    return array


def resolve_distortion_model(
    name: Any, coefficients: np.ndarray, source: str, field_name: str
) -> tuple[str, np.ndarray]:
    """Map a ROS or RealSense distortion model name onto one of DISTORTION_MODELS (explicitly)."""
    if not isinstance(name, str):
        name = str(name)  # rs.distortion enums print as "distortion.brown_conrady"
    if name in COEFFICIENT_COUNTS:
        return name, coefficients
    key = re.sub(r"^distortion\.", "", name.strip().lower()).replace("_", " ")
    key = {"kannala brandt4": "kannala brandt4", "kannala brandt 4": "kannala brandt4"}.get(key, key)
    if key in _REALSENSE_EXACT:
        model = _REALSENSE_EXACT[key]
        expected = COEFFICIENT_COUNTS[model]
        if model == "none":
            if np.any(coefficients):
                raise CalibrationFileError(
                    source, field_name, f"model {name!r} but non-zero coefficients {coefficients.tolist()}"
                )
            return "none", np.zeros(0)
        if model == "equidistant" and coefficients.size == 5:  # RealSense always carries 5 slots
            if coefficients[4] != 0:
                raise CalibrationFileError(
                    source, field_name, f"{name!r} uses 4 coefficients, the fifth is {coefficients[4]}"
                )
            coefficients = coefficients[:4]
        if coefficients.size != expected:
            raise CalibrationFileError(
                source, field_name, f"{name!r} needs {expected} coefficients, got {coefficients.size}"
            )
        return model, coefficients
    if key in _REALSENSE_ZERO_ONLY:
        if np.any(coefficients):
            raise CalibrationFileError(
                source,
                field_name,
                f"{name!r} with non-zero coefficients {coefficients.tolist()} has no exact ROS/OpenCV equivalent; "
                "use the stream's rectified profile or calibrate the camera",
            )
        return "plumb_bob", np.zeros(5)
    if key in _REALSENSE_UNSUPPORTED:
        raise CalibrationFileError(source, field_name, f"distortion model {name!r} is not supported")
    raise CalibrationFileError(
        source,
        field_name,
        f"unknown distortion model {name!r}; expected one of {', '.join(DISTORTION_MODELS)} "
        "or a RealSense name (Brown Conrady, Inverse Brown Conrady, Modified Brown Conrady, Kannala Brandt4, None)",
    )


@dataclass(frozen=True, eq=False)
class CameraModel:
    """A calibrated camera. Pixel convention: OpenCV/ROS, (0, 0) is the centre of the top-left pixel.

    K: 3x3 intrinsic matrix; D: distortion coefficients of ``distortion_model``;
    rectification / projection: the ROS R and P matrices, kept only to round-trip files.
    """

    width: int
    height: int
    K: np.ndarray
    distortion_model: str
    D: np.ndarray
    camera_name: str = ""
    rectification: np.ndarray | None = field(default=None)
    projection: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        K = np.asarray(self.K, dtype=np.float64)
        if K.shape != (3, 3) or not np.all(np.isfinite(K)):
            raise ValueError(f"K must be a finite 3x3 matrix, got shape {K.shape}")
        if not np.array_equal(K[2], [0.0, 0.0, 1.0]) or K[1, 0] != 0.0:
            raise ValueError(f"K must be upper triangular with last row [0, 0, 1], got {K.tolist()}")
        if not (K[0, 0] > 0 and K[1, 1] > 0):
            raise ValueError(f"K is not invertible: fx = {K[0, 0]}, fy = {K[1, 1]} (both must be > 0)")
        if self.distortion_model not in COEFFICIENT_COUNTS:
            raise ValueError(f"distortion_model must be one of {DISTORTION_MODELS}, got {self.distortion_model!r}")
        D = np.asarray(self.D, dtype=np.float64).reshape(-1)
        expected = COEFFICIENT_COUNTS[self.distortion_model]
        if D.size != expected:
            raise ValueError(f"distortion model {self.distortion_model!r} needs {expected} coefficients, got {D.size}")
        if not np.all(np.isfinite(D)):
            raise ValueError(f"distortion coefficients must be finite, got {D.tolist()}")
        problem = _geometry_problem(self.width, self.height, K, D)
        if problem is not None:
            raise ValueError(problem[1])
        if not isinstance(self.camera_name, str):
            raise ValueError(f"camera_name must be a string, got {self.camera_name!r}")
        for name, shape in (("rectification", (3, 3)), ("projection", (3, 4))):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float64)
                if value.shape != shape or not np.all(np.isfinite(value)):
                    raise ValueError(f"{name} must be a finite {shape[0]}x{shape[1]} matrix, got shape {value.shape}")
                object.__setattr__(self, name, _readonly(value))
        object.__setattr__(self, "K", _readonly(K))
        object.__setattr__(self, "D", _readonly(D))

    # basics -------------------------------------------------------------------------
    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CameraModel):
            return NotImplemented

        def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
            return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))

        return (
            (self.width, self.height, self.distortion_model, self.camera_name)
            == (other.width, other.height, other.distortion_model, other.camera_name)
            and np.array_equal(self.K, other.K)
            and np.array_equal(self.D, other.D)
            and same(self.rectification, other.rectification)
            and same(self.projection, other.projection)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"CameraModel({self.width}x{self.height}, fx={self.fx:.3f}, fy={self.fy:.3f}, cx={self.cx:.3f}, "
            f"cy={self.cy:.3f}, {self.distortion_model} {np.round(self.D, 6).tolist()})"
        )

    # geometry -----------------------------------------------------------------------
    def project(self, points_camera_m: Any) -> np.ndarray:
        """(N, 3) points in the camera optical frame -> (N, 2) pixels; NaN for points with Z <= 0."""
        points = np.asarray(points_camera_m, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"points_camera_m must have shape (N, 3), got {points.shape}")
        z = points[:, 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            xy = points[:, :2] / z[:, None]
        xy[~(z > 0)] = np.nan
        xy_d = distort(xy, self.distortion_model, self.D)
        return xy_d @ self.K[:2, :2].T + self.K[:2, 2]

    def pixels_to_rays(self, pixels: Any) -> np.ndarray:
        """(N, 2) pixels -> (N, 2) undistorted normalized coordinates (X/Z, Y/Z); NaN if none."""
        pixels = np.asarray(pixels, dtype=np.float64)
        if pixels.ndim != 2 or pixels.shape[1] != 2:
            raise ValueError(f"pixels must have shape (N, 2), got {pixels.shape}")
        K_inv = self._K_inv
        xy_d = pixels @ K_inv[:2, :2].T + K_inv[:2, 2]
        return undistort(xy_d, self.distortion_model, self.D) if self._distorted else xy_d

    # Per model, not per call: grounding deprojects a few pixels per target, where these dominate.
    @cached_property
    def _K_inv(self) -> np.ndarray:
        return _readonly(np.linalg.inv(self.K))

    @cached_property
    def _distorted(self) -> bool:
        return self.distortion_model != "none" and bool(np.any(self.D))  # else undistort is a copy

    def deproject(self, pixels: Any, depth_m: Any) -> np.ndarray:
        """(N, 2) pixels and (N,) Z-depth in metres -> (N, 3) camera-frame points. NaN depth -> NaN."""
        depth_m = np.asarray(depth_m, dtype=np.float64).reshape(-1)
        rays = self.pixels_to_rays(pixels)
        if depth_m.shape[0] != rays.shape[0]:
            raise ValueError(f"{rays.shape[0]} pixels but {depth_m.shape[0]} depth values")
        points = np.empty((rays.shape[0], 3))
        points[:, :2] = rays * depth_m[:, None]
        points[:, 2] = depth_m
        return points

    @cached_property
    def _image_rays(self) -> np.ndarray:
        # Undistorting every pixel costs a few Newton iterations; do it once per model.
        v, u = np.mgrid[0 : self.height, 0 : self.width]
        rays = self.pixels_to_rays(np.stack([u.ravel(), v.ravel()], axis=1)).reshape(self.height, self.width, 2)
        rays.setflags(write=False)
        return rays

    def deproject_image(self, depth_m: Any) -> np.ndarray:
        """HxW Z-depth in metres (NaN invalid) -> HxWx3 camera-frame points (NaN where invalid)."""
        depth_m = np.asarray(depth_m, dtype=np.float64)
        if depth_m.shape != (self.height, self.width):
            raise ValueError(f"depth image is {depth_m.shape}, camera is {self.height}x{self.width}")
        rays = self._image_rays
        return np.stack([rays[..., 0] * depth_m, rays[..., 1] * depth_m, depth_m], axis=-1)

    def scaled(self, width: int, height: int) -> CameraModel:
        """The same camera for an image resized to width x height (e.g. by cv2.resize).

        Uses the pixel-centre convention u' + 0.5 = s (u + 0.5); distortion is unchanged.
        """
        if isinstance(width, bool) or isinstance(height, bool) or int(width) <= 0 or int(height) <= 0:
            raise ValueError(f"scaled size must be positive, got {width}x{height}")
        sx, sy = width / self.width, height / self.height
        offset = np.array([0.5 * sx - 0.5, 0.5 * sy - 0.5])
        K = np.diag([sx, sy, 1.0]) @ self.K
        K[:2, 2] += offset
        projection = None
        if self.projection is not None:
            projection = np.diag([sx, sy, 1.0]) @ self.projection
            projection[:2, :] += np.outer(offset, self.projection[2])
        return CameraModel(
            int(width), int(height), K, self.distortion_model, self.D, self.camera_name, self.rectification, projection
        )

    # ROS CameraInfo -----------------------------------------------------------------
    def rectification_or_identity(self) -> np.ndarray:
        return np.eye(3) if self.rectification is None else np.array(self.rectification)

    def projection_or_default(self) -> np.ndarray:
        if self.projection is not None:
            return np.array(self.projection)
        return np.concatenate([self.K, np.zeros((3, 1))], axis=1)

    def to_camera_info(self) -> dict[str, Any]:
        """The fields of sensor_msgs/CameraInfo (ROS 2 lowercase names), plain Python types."""
        return {
            "width": self.width,
            "height": self.height,
            "distortion_model": self.distortion_model,
            "d": [float(v) for v in self.D],
            "k": [float(v) for v in self.K.ravel()],
            "r": [float(v) for v in self.rectification_or_identity().ravel()],
            "p": [float(v) for v in self.projection_or_default().ravel()],
            "binning_x": 0,
            "binning_y": 0,
        }

    @classmethod
    def from_camera_info(cls, info: Any, source: str = "<camera_info>") -> CameraModel:
        """From a CameraInfo-like mapping (or message object): width, height, k|K, d|D,
        distortion_model, optionally r|R, p|P. RealSense model names are mapped explicitly."""

        def get(*names: str, required: bool = True) -> Any:
            for name in names:
                if isinstance(info, Mapping):
                    if name in info:
                        return info[name]
                elif hasattr(info, name):
                    return getattr(info, name)
            if required:
                raise CalibrationFileError(source, "/".join(names), "missing")
            return None

        width = _integer(get("width"), source, "width")
        height = _integer(get("height"), source, "height")
        K = _numbers(get("k", "K"), source, "k", expected=9)
        D = _numbers(get("d", "D"), source, "d", expected=None)
        model_name = get("distortion_model")
        if not isinstance(model_name, str) or not model_name:
            raise CalibrationFileError(source, "distortion_model", f"expected a model name, got {model_name!r}")
        if model_name in COEFFICIENT_COUNTS and D.size != COEFFICIENT_COUNTS[model_name]:
            got = D.size or "none"
            raise CalibrationFileError(
                source, "d", f"model {model_name!r} needs {COEFFICIENT_COUNTS[model_name]} coefficients, got {got}"
            )
        model, D = resolve_distortion_model(model_name, D, source, "d")
        R = get("r", "R", required=False)
        P = get("p", "P", required=False)
        R = _numbers(R, source, "r", expected=9).reshape(3, 3) if R is not None and len(R) else None
        P = _numbers(P, source, "p", expected=12).reshape(3, 4) if P is not None and len(P) else None
        # An all-zero R/P is how an unfilled CameraInfo looks; keep only meaningful ones.
        R = None if R is not None and not np.any(R) else R
        P = None if P is not None and not np.any(P) else P
        if isinstance(info, Mapping):
            _warn_unknown_keys(info, CAMERA_INFO_KEYS, source)
        return _checked(
            source,
            {"width": "width", "height": "height", "K": "k", "D": "d", "R": "r"},
            width=width,
            height=height,
            K=K.reshape(3, 3),
            distortion_model=model,
            D=D,
            rectification=R,
            projection=P,
        )

    @classmethod
    def from_realsense(cls, intrinsics: Any, camera_name: str = "") -> CameraModel:
        """From ``pyrealsense2.intrinsics`` (or anything with width, height, fx, fy, ppx, ppy, model, coeffs)."""
        source = "<realsense intrinsics>"
        D = np.asarray(list(intrinsics.coeffs), dtype=np.float64)
        model, D = resolve_distortion_model(intrinsics.model, D, source, "coeffs")
        K = np.array([[intrinsics.fx, 0.0, intrinsics.ppx], [0.0, intrinsics.fy, intrinsics.ppy], [0.0, 0.0, 1.0]])
        return _checked(
            source,
            {"width": "width", "height": "height", "K": "fx/fy/ppx/ppy", "D": "coeffs", "R": "r"},
            camera_name=camera_name,
            width=int(intrinsics.width),
            height=int(intrinsics.height),
            K=K,
            distortion_model=model,
            D=D,
        )

    # camera_calibration_parsers YAML ------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | PathLike[str]) -> CameraModel:
        """Read a ROS ``camera_calibration_parsers`` YAML file. Every problem names the file and field."""
        source = str(path)
        text = read_text_file(path)
        if looks_like_ini(text):
            raise CalibrationFileError(
                source,
                "(format)",
                "this is a camera_calibration_parsers INI file, not YAML; "
                "read it with CameraModel.from_file (or from_ini)",
            )
        data = load_yaml_file(path, text)
        if not isinstance(data, Mapping):
            raise CalibrationFileError(
                source, "(top level)", f"expected a mapping of fields, got {type(data).__name__}"
            )

        def require(name: str) -> Any:
            if name not in data:
                raise CalibrationFileError(source, name, "missing")
            return data[name]

        width = _integer(require("image_width"), source, "image_width")
        height = _integer(require("image_height"), source, "image_height")
        K = _matrix(require("camera_matrix"), source, "camera_matrix", (3, 3))
        model_name = require("distortion_model")
        if not isinstance(model_name, str) or not model_name:
            raise CalibrationFileError(source, "distortion_model", f"expected a model name, got {model_name!r}")
        D = _matrix(require("distortion_coefficients"), source, "distortion_coefficients", None).reshape(-1)
        if model_name in COEFFICIENT_COUNTS and D.size != COEFFICIENT_COUNTS[model_name]:
            raise CalibrationFileError(
                source,
                "distortion_coefficients",
                f"model {model_name!r} needs {COEFFICIENT_COUNTS[model_name]} coefficients, got {D.size}",
            )
        model, D = resolve_distortion_model(model_name, D, source, "distortion_coefficients")
        R = (
            _matrix(data["rectification_matrix"], source, "rectification_matrix", (3, 3))
            if "rectification_matrix" in data
            else None
        )
        P = (
            _matrix(data["projection_matrix"], source, "projection_matrix", (3, 4))
            if "projection_matrix" in data
            else None
        )
        name = data.get("camera_name", "")
        if name is None:
            name = ""
        if not isinstance(name, (str, int, float)) or isinstance(name, bool):
            raise CalibrationFileError(source, "camera_name", f"expected a string, got {name!r}")
        _warn_unknown_keys(data, YAML_KEYS, source)
        return _checked(
            source,
            {
                "width": "image_width",
                "height": "image_height",
                "K": "camera_matrix",
                "D": "distortion_coefficients",
                "R": "rectification_matrix",
            },
            camera_name=str(name),
            width=width,
            height=height,
            K=K,
            distortion_model=model,
            D=D,
            rectification=R,
            projection=P,
        )

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> CameraModel:
        """A camera file in either format camera_calibration_parsers writes: YAML, or INI (recognised by its
        ``[section]`` lines, whatever the file is called)."""
        return cls.from_ini(path) if looks_like_ini(read_text_file(path)) else cls.from_yaml(path)

    @classmethod
    def from_ini(cls, path: str | PathLike[str]) -> CameraModel:
        """Read a camera_calibration_parsers INI file ([image] width/height; a camera section with
        camera matrix, distortion (5 numbers: plumb_bob, 8: rational_polynomial), rectification, projection)."""
        from calibration.camera_ini import parse_ini

        source = str(path)
        fields = parse_ini(read_text_file(path), source)
        return _checked(
            source,
            {
                "width": "[image] width",
                "height": "[image] height",
                "K": "camera matrix",
                "D": "distortion",
                "R": "rectification",
            },
            **fields,
        )

    def to_yaml(self, path: str | PathLike[str]) -> None:
        """Write the ROS ``camera_calibration_parsers`` YAML (floats written to round-trip exactly)."""
        atomic_write_text(path, self.to_yaml_text())  # the complete new file or the earlier one

    def to_yaml_text(self) -> str:
        def block(name: str, matrix: np.ndarray, rows: int, cols: int) -> str:
            data = ", ".join(_format_number(v) for v in np.asarray(matrix).ravel())
            return f"{name}:\n  rows: {rows}\n  cols: {cols}\n  data: [{data}]\n"

        return (
            f"image_width: {self.width}\n"
            f"image_height: {self.height}\n"
            f"camera_name: {_format_string(self.camera_name)}\n"
            + block("camera_matrix", self.K, 3, 3)
            + f"distortion_model: {self.distortion_model}\n"
            + block("distortion_coefficients", self.D, 1, self.D.size)
            + block("rectification_matrix", self.rectification_or_identity(), 3, 3)
            + block("projection_matrix", self.projection_or_default(), 3, 4)
        )


# helpers --------------------------------------------------------------------------------
def looks_like_ini(text: str) -> bool:
    """camera_calibration_parsers' INI format: a ``[image]`` (or other ``[name]``) section line."""
    if re.search(r"^\s*image_width\s*:", text, re.MULTILINE):
        return False  # YAML; a flow list on its own line ("[1, 2]") has commas, a section name none
    return any(re.fullmatch(r"\[[\w .\-/]+\]", line.strip()) for line in text.splitlines())


def _build(source: str, field_name: str, **kwargs: Any) -> CameraModel:
    # R = I and P = [K | 0] are what to_yaml writes when none is stored: read them back as
    # "none stored" so that files and models round-trip exactly both ways.
    R, P = kwargs.get("rectification"), kwargs.get("projection")
    if R is not None and np.array_equal(R, np.eye(3)):
        kwargs["rectification"] = None
    if P is not None and np.array_equal(P, np.concatenate([np.asarray(kwargs["K"]), np.zeros((3, 1))], axis=1)):
        kwargs["projection"] = None
    try:
        return CameraModel(**kwargs)
    except ValueError as exc:
        raise CalibrationFileError(source, field_name, str(exc)) from exc


def _geometry_problem(width: int, height: int, K: np.ndarray, D: np.ndarray) -> tuple[str, str] | None:
    """(which of "width"/"height"/"K"/"D", why) when the numbers cannot describe a real camera, else None."""
    for which, side in (("width", width), ("height", height)):
        if side > MAX_IMAGE_SIDE_PX:
            return which, f"image {which} {side} px is beyond any camera (limit {MAX_IMAGE_SIDE_PX} px)"
    cx, cy = float(K[0, 2]), float(K[1, 2])
    # The image spans [-0.5, width - 0.5] in the pixel-centre convention.
    if not (-0.5 <= cx <= width - 0.5 and -0.5 <= cy <= height - 0.5):
        return "K", (
            f"principal point ({cx:g}, {cy:g}) px lies outside the {width}x{height} image "
            "(intrinsics of another resolution, or rows/columns swapped?)"
        )
    largest = float(np.max(np.abs(D))) if D.size else 0.0
    if largest > MAX_DISTORTION_COEFFICIENT:
        return "D", (
            f"distortion coefficient {largest:g} is beyond any real lens (limit "
            f"{MAX_DISTORTION_COEFFICIENT:g} in magnitude): {D.tolist()}"
        )
    return None


def _checked(source: str, fields: Mapping[str, str], **kwargs: Any) -> CameraModel:
    """Build the camera with every problem named by its field in ``fields`` (keys width, height, K, D, R):
    impossible numbers are CalibrationFileErrors, suspicious ones CalibrationFileWarnings."""
    K = np.asarray(kwargs["K"], dtype=np.float64)
    D = np.asarray(kwargs["D"], dtype=np.float64).reshape(-1)
    if np.all(np.isfinite(K)) and np.all(np.isfinite(D)) and K.shape == (3, 3):
        problem = _geometry_problem(kwargs["width"], kwargs["height"], K, D)
        if problem is not None:
            raise CalibrationFileError(source, fields[problem[0]], problem[1])
    R = kwargs.get("rectification")
    if R is not None and not np.array_equal(R, _EYE3):  # the identity, by far the most common, is fine
        R = np.asarray(R, dtype=np.float64)
        if not (np.abs(R.T @ R - np.eye(3)).max() <= 1e-3 and np.linalg.det(R) > 0):
            raise CalibrationFileError(
                source, fields["R"], f"must be a rotation (orthonormal, det +1), got {R.tolist()}"
            )
        if np.abs(R - _EYE3).max() > 1e-9:
            angle = float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))))
            warnings.warn(
                CalibrationFileWarning(
                    source,
                    fields["R"],
                    f"is a {angle:.3g} deg rotation, not the identity: a stereo camera's "
                    "rectification; this stack uses K and D on the raw image and ignores it "
                    "(a monocular camera has R = I)",
                ),
                stacklevel=3,
            )
    camera = _build(source, fields["K"], **kwargs)
    _warn_if_folded(camera, source, fields["D"])
    return camera


def _warn_if_folded(camera: CameraModel, source: str, field_name: str) -> None:
    """Warn when the distortion folds over inside the image: some pixels then have no ray."""
    if not camera._distorted:
        return
    lost = _pixels_without_ray(
        camera.width, camera.height, camera.distortion_model, camera.K.tobytes(), camera.D.tobytes()
    )
    if lost:
        warnings.warn(
            CalibrationFileWarning(
                source,
                field_name,
                f"the distortion has no ray for pixel(s) {list(lost)} of the {camera.width}x"
                f"{camera.height} image (it folds over inside the image): depth there cannot be deprojected",
            ),
            stacklevel=3,
        )


@functools.lru_cache(maxsize=64)
def _pixels_without_ray(width: int, height: int, model: str, K: bytes, D: bytes) -> tuple[tuple[float, float], ...]:
    """Border pixels (corners, edge midpoints) whose undistortion fails; cached: a node reads the same
    CameraInfo with every frame."""
    camera = CameraModel(width, height, np.frombuffer(K).reshape(3, 3), model, np.frombuffer(D))
    w, h = width - 1, height - 1
    border = np.array([[u, v] for u in (0, w / 2, w) for v in (0, h / 2, h) if (u, v) != (w / 2, h / 2)])
    rays = camera.pixels_to_rays(border)
    return tuple((float(u), float(v)) for u, v in border[~np.isfinite(rays).all(axis=1)])


def _warn_unknown_keys(data: Mapping, known: frozenset[str], source: str) -> None:
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        warnings.warn(
            CalibrationFileWarning(
                source, ", ".join(unknown), f"unknown key(s), ignored; known: {', '.join(sorted(known))}"
            ),
            stacklevel=3,
        )


def _format_number(value: float) -> str:
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    if "e" in text and "." not in text:  # PyYAML (YAML 1.1) reads "1e-05" as a string
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text


def _format_string(value: str) -> str:
    try:
        plain = yaml.safe_load(value) == value and value.strip() == value and value != ""
    except yaml.YAMLError:
        plain = False
    return value if plain and not any(c in value for c in ":#{}[],&*!|>'\"%@`") else json.dumps(value)


def _number(value: Any, source: str, field_name: str) -> float:
    if isinstance(value, bool):
        raise CalibrationFileError(source, field_name, f"expected a number, got {value!r}")
    if isinstance(value, str):  # other writers emit "1e-05", which YAML 1.1 reads as a string
        try:
            value = float(value)
        except ValueError:
            raise CalibrationFileError(source, field_name, f"expected a number, got {value!r}") from None
    if isinstance(value, int):  # YAML ints are unbounded: one beyond float range is not finite
        try:
            value = float(value)
        except OverflowError:
            raise CalibrationFileError(
                source, field_name, "expected a finite number, got an integer beyond float range"
            ) from None
    if not isinstance(value, (int, float)) or not np.isfinite(value):
        raise CalibrationFileError(source, field_name, f"expected a finite number, got {value!r}")
    return float(value)


def _integer(value: Any, source: str, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CalibrationFileError(source, field_name, f"expected a positive integer, got {value!r}")
    return value


def _numbers(value: Any, source: str, field_name: str, expected: int | None) -> np.ndarray:
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
        raise CalibrationFileError(source, field_name, f"expected a list of numbers, got {value!r}")
    numbers = np.array([_number(v, source, field_name) for v in list(value)], dtype=np.float64)
    if expected is not None and numbers.size != expected:
        raise CalibrationFileError(source, field_name, f"expected {expected} numbers, got {numbers.size}")
    return numbers


def _matrix(value: Any, source: str, field_name: str, shape: tuple[int, int] | None) -> np.ndarray:
    if not isinstance(value, Mapping):
        raise CalibrationFileError(source, field_name, f"expected a mapping with rows, cols and data, got {value!r}")
    for key in ("rows", "cols", "data"):
        if key not in value:
            raise CalibrationFileError(source, f"{field_name}.{key}", "missing")
    rows = value["rows"]
    cols = value["cols"]
    for key, number in (("rows", rows), ("cols", cols)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise CalibrationFileError(
                source, f"{field_name}.{key}", f"expected a non-negative integer, got {number!r}"
            )
    data = _numbers(value["data"], source, f"{field_name}.data", expected=None)
    if data.size != rows * cols:
        raise CalibrationFileError(
            source, f"{field_name}.data", f"has {data.size} numbers but rows x cols = {rows} x {cols}"
        )
    if shape is not None and (rows, cols) != shape:
        raise CalibrationFileError(source, field_name, f"must be {shape[0]}x{shape[1]}, got {rows}x{cols}")
    return data.reshape(rows, cols)
