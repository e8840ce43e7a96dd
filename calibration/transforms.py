"""Rigid transforms (SE(3)) and their YAML form for static transform publishers.

Naming convention: ``a_T_b`` maps points expressed in frame b into frame a, so
``base_T_camera @ camera_T_target == base_T_target``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from calibration.errors import CalibrationFileError
from vla_r1_model.files import atomic_write_text

# Rotations stored in an SE3 must be orthonormal to this tolerance; from_matrix projects
# slightly-off matrices (printed with few decimals) onto the nearest rotation first.
_ROTATION_TOLERANCE = 1e-6


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64, copy=True)
    array.setflags(write=False)
    return array


def nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """The rotation closest to ``matrix`` in the Frobenius norm (SVD projection)."""
    u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64))
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:
        u[:, -1] *= -1
        rotation = u @ vt
    return rotation


def rotation_error(matrix: np.ndarray) -> float:
    """max |R^T R - I|: how far a 3x3 matrix is from orthonormal."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return float(np.max(np.abs(matrix.T @ matrix - np.eye(3))))


@dataclass(frozen=True, eq=False)
class SE3:
    """A rigid transform: ``p_a = rotation @ p_b + translation`` for ``a_T_b``. Metres."""

    rotation: np.ndarray
    translation: np.ndarray

    def __post_init__(self) -> None:
        rotation = np.asarray(self.rotation, dtype=np.float64)
        translation = np.asarray(self.translation, dtype=np.float64).reshape(-1)
        if rotation.shape != (3, 3):
            raise ValueError(f"rotation must be 3x3, got shape {rotation.shape}")
        if translation.shape != (3,):
            raise ValueError(f"translation must have 3 elements, got {translation.shape}")
        if not (np.all(np.isfinite(rotation)) and np.all(np.isfinite(translation))):
            raise ValueError("rotation and translation must be finite")
        error = rotation_error(rotation)
        if error > _ROTATION_TOLERANCE or np.linalg.det(rotation) <= 0:
            raise ValueError(
                f"rotation is not a proper rotation (|R^T R - I| = {error:.2e}, det = {np.linalg.det(rotation):.4f})"
            )
        object.__setattr__(self, "rotation", _readonly(rotation))
        object.__setattr__(self, "translation", _readonly(translation))

    # construction -------------------------------------------------------------------
    @classmethod
    def identity(cls) -> SE3:
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_matrix(cls, matrix: Any, *, tolerance: float = _ROTATION_TOLERANCE) -> SE3:
        """From a 4x4 homogeneous matrix. A rotation block off by at most ``tolerance``
        (rounded printouts) is projected onto the nearest rotation; more is an error."""
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.shape != (4, 4):
            raise ValueError(f"a transform matrix must be 4x4, got shape {matrix.shape}")
        if not np.all(np.isfinite(matrix)):
            raise ValueError("transform matrix has non-finite entries")
        if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
            raise ValueError(f"last row of a transform matrix must be [0, 0, 0, 1], got {matrix[3].tolist()}")
        rotation = matrix[:3, :3]
        error = rotation_error(rotation)
        if error > tolerance:
            raise ValueError(f"rotation block is not orthonormal (|R^T R - I| = {error:.2e} > {tolerance:.0e})")
        if np.linalg.det(rotation) <= 0:
            raise ValueError("rotation block has a negative determinant (a reflection, not a rotation)")
        return cls(nearest_rotation(rotation), matrix[:3, 3])

    @classmethod
    def from_quaternion_xyzw(cls, quaternion_xyzw: Any, translation: Any) -> SE3:
        q = np.asarray(quaternion_xyzw, dtype=np.float64).reshape(-1)
        if q.shape != (4,) or not np.all(np.isfinite(q)):
            raise ValueError(f"quaternion must be 4 finite numbers (x, y, z, w), got {q.tolist()}")
        norm = np.linalg.norm(q)
        if abs(norm - 1.0) > 1e-3:
            raise ValueError(f"quaternion must be unit length, got norm {norm:.6f}")
        return cls(Rotation.from_quat(q / norm).as_matrix(), translation)

    @classmethod
    def from_rotvec(cls, rotvec: Any, translation: Any) -> SE3:
        """From an axis-angle vector in radians (OpenCV's rvec)."""
        return cls(Rotation.from_rotvec(np.asarray(rotvec, dtype=np.float64).reshape(3)).as_matrix(), translation)

    # views --------------------------------------------------------------------------
    def matrix(self) -> np.ndarray:
        out = np.eye(4)
        out[:3, :3] = self.rotation
        out[:3, 3] = self.translation
        return out

    def quaternion_xyzw(self) -> np.ndarray:
        """Unit quaternion (x, y, z, w) with w >= 0 (one canonical sign)."""
        q = Rotation.from_matrix(self.rotation).as_quat()
        return -q if q[3] < 0 else q

    def rotvec(self) -> np.ndarray:
        return Rotation.from_matrix(self.rotation).as_rotvec()

    def euler_xyz_deg(self) -> np.ndarray:
        """Roll, pitch, yaw in degrees (extrinsic x-y-z, the ROS RPY convention). For display."""
        return Rotation.from_matrix(self.rotation).as_euler("xyz", degrees=True)

    def rotation_angle_deg(self) -> float:
        return float(np.degrees(np.linalg.norm(self.rotvec())))

    # algebra ------------------------------------------------------------------------
    def __matmul__(self, other: SE3) -> SE3:
        if not isinstance(other, SE3):
            return NotImplemented
        rotation = nearest_rotation(self.rotation @ other.rotation)  # keep drift out of long chains
        return SE3(rotation, self.rotation @ other.translation + self.translation)

    def inverse(self) -> SE3:
        rotation_t = self.rotation.T
        return SE3(rotation_t, -rotation_t @ self.translation)

    def apply(self, points: Any) -> np.ndarray:
        """Map (N, 3) or (3,) points from the child frame into the parent frame."""
        points = np.asarray(points, dtype=np.float64)
        if points.shape == (3,):
            return self.rotation @ points + self.translation
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"points must have shape (N, 3) or (3,), got {points.shape}")
        return points @ self.rotation.T + self.translation

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SE3):
            return NotImplemented
        return bool(
            np.array_equal(self.rotation, other.rotation) and np.array_equal(self.translation, other.translation)
        )

    __hash__ = None  # type: ignore[assignment]

    def allclose(self, other: SE3, *, atol_m: float = 1e-9, atol_rad: float = 1e-9) -> bool:
        delta = self.inverse() @ other
        return bool(np.linalg.norm(delta.translation) <= atol_m and np.linalg.norm(delta.rotvec()) <= atol_rad)

    def __repr__(self) -> str:
        t = ", ".join(f"{v:.4f}" for v in self.translation)
        q = ", ".join(f"{v:.4f}" for v in self.quaternion_xyzw())
        return f"SE3(t=[{t}] m, q_xyzw=[{q}])"


_YAML_KEYS = ("x", "y", "z", "qx", "qy", "qz", "qw")


@dataclass(frozen=True)
class NamedTransform:
    """``transform`` maps points in ``child_frame`` into ``parent_frame`` (parent_T_child).

    The YAML keys match the flags of ROS 2 ``static_transform_publisher``
    (``--x --y --z --qx --qy --qz --qw --frame-id --child-frame-id``), so a launch file can
    read the file and pass the values through unchanged.
    """

    parent_frame: str
    child_frame: str
    transform: SE3

    def __post_init__(self) -> None:
        for name in ("parent_frame", "child_frame"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if self.parent_frame == self.child_frame:
            raise ValueError(f"parent_frame and child_frame are both {self.parent_frame!r}")
        if not isinstance(self.transform, SE3):
            raise TypeError(f"transform must be an SE3, got {type(self.transform).__name__}")

    def to_dict(self) -> dict[str, Any]:
        x, y, z = (float(v) for v in self.transform.translation)
        qx, qy, qz, qw = (float(v) for v in self.transform.quaternion_xyzw())
        return {
            "frame_id": self.parent_frame,
            "child_frame_id": self.child_frame,
            "x": x,
            "y": y,
            "z": z,
            "qx": qx,
            "qy": qy,
            "qz": qz,
            "qw": qw,
            "matrix": [[float(v) for v in row] for row in self.transform.matrix()],
        }

    def static_transform_publisher_arguments(self) -> list[str]:
        """Arguments for ``ros2 run tf2_ros static_transform_publisher`` (ROS 2 Humble+ flags)."""
        data = self.to_dict()
        args: list[str] = []
        for key in _YAML_KEYS:
            args += [f"--{key}", repr(data[key])]
        return args + ["--frame-id", self.parent_frame, "--child-frame-id", self.child_frame]

    def to_yaml(self, path: str | PathLike[str], extra: Mapping[str, Any] | None = None) -> None:
        """Write the transform; ``extra`` (method, consistency …) goes under ``info``."""
        data = self.to_dict()
        if extra:
            data["info"] = dict(extra)
        text = (
            f"# {self.parent_frame}_T_{self.child_frame}: maps points in '{self.child_frame}' into "
            f"'{self.parent_frame}'. Translation in metres, rotation as a unit quaternion (x, y, z, w).\n"
        ) + yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
        atomic_write_text(path, text)  # the complete new file or the earlier one, never half of each

    @classmethod
    def from_dict(cls, data: Any, source: str = "<transform>") -> NamedTransform:
        if not isinstance(data, Mapping):
            raise CalibrationFileError(source, "(top level)", f"expected a mapping, got {type(data).__name__}")
        values: dict[str, float] = {}
        for key in _YAML_KEYS:
            if key not in data:
                raise CalibrationFileError(source, key, "missing")
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise CalibrationFileError(source, key, f"expected a finite number, got {value!r}")
            values[key] = float(value)
        frames = {}
        for key in ("frame_id", "child_frame_id"):
            value = data.get(key)
            if not isinstance(value, str) or not value.strip():
                raise CalibrationFileError(source, key, f"expected a non-empty frame name, got {value!r}")
            frames[key] = value
        q = [values["qx"], values["qy"], values["qz"], values["qw"]]
        try:
            transform = SE3.from_quaternion_xyzw(q, [values["x"], values["y"], values["z"]])
        except ValueError as exc:
            raise CalibrationFileError(source, "qx/qy/qz/qw", str(exc)) from exc
        if "matrix" in data:  # redundant copy for humans: it must agree, nothing is guessed
            try:
                from_matrix = SE3.from_matrix(data["matrix"], tolerance=1e-5)
            except (ValueError, TypeError) as exc:
                raise CalibrationFileError(source, "matrix", str(exc)) from exc
            if not from_matrix.allclose(transform, atol_m=1e-6, atol_rad=1e-5):
                raise CalibrationFileError(
                    source, "matrix", "disagrees with x/y/z/qx/qy/qz/qw; fix one or delete 'matrix'"
                )
        try:
            return cls(frames["frame_id"], frames["child_frame_id"], transform)
        except ValueError as exc:
            raise CalibrationFileError(source, "frame_id/child_frame_id", str(exc)) from exc

    @classmethod
    def from_yaml(cls, path: str | PathLike[str]) -> NamedTransform:
        return cls.from_dict(load_yaml_file(path), str(path))


def read_text_file(path: str | PathLike[str]) -> str:
    """A text file's contents with errors that name the file."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CalibrationFileError(path, "(file)", f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:  # an image or other binary file where text belongs
        raise CalibrationFileError(path, "(file)", f"not a text file ({exc.reason} at byte {exc.start})") from exc


def load_yaml_file(path: str | PathLike[str], text: str | None = None) -> Any:
    """Read YAML (or JSON, a subset) with errors that name the file (``text``: its contents, already read)."""
    if text is None:
        text = read_text_file(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CalibrationFileError(path, "(syntax)", f"not valid YAML/JSON: {exc}".replace("\n", " ")) from exc
