"""Hand-eye calibration (eye-in-hand and eye-to-hand) with a consistency check you can read."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from calibration.errors import CalibrationFileError
from calibration.transforms import SE3, NamedTransform, load_yaml_file
from vla_r1_model.files import atomic_write_text

METHODS: dict[str, int] = {
    "tsai": cv2.CALIB_HAND_EYE_TSAI,
    "park": cv2.CALIB_HAND_EYE_PARK,
    "horaud": cv2.CALIB_HAND_EYE_HORAUD,
    "andreff": cv2.CALIB_HAND_EYE_ANDREFF,
    "daniilidis": cv2.CALIB_HAND_EYE_DANIILIDIS,
}
SETUPS = ("eye-in-hand", "eye-to-hand")
MIN_SAMPLES = 3
# Motion checks: rotations below this between two samples carry no information, and axes all
# within this spread of one line leave the translation along that line unobservable.
_MIN_ROTATION_DEG = 2.0
_MIN_AXIS_SPREAD_DEG = 5.0
# Samples file matrices are usually printed with few decimals: rotation blocks off by this much
# are projected onto the nearest rotation, more is an error.
_FILE_ROTATION_TOLERANCE = 1e-3
# A result whose implied fixed transform spreads more than this across the samples is refused: a good
# calibration shows about a millimetre and a tenth of a degree, pairing mistakes decimetres and tens of
# degrees (docs/calibration.md). Callers may pass other limits, or None to keep any result.
MAX_SPREAD_MM = 20.0
MAX_SPREAD_DEG = 2.0


class HandEyeError(ValueError):
    """Not enough samples or unusable input for hand-eye calibration."""


class HandEyeFailedError(HandEyeError):
    """The calibration gave no result to trust: the solver failed, the motions cannot determine the
    transform, or the result does not fit the samples. Nothing of it may be written as a result."""


@dataclass(frozen=True)
class HandEyeSample:
    base_T_ee: SE3
    camera_T_target: SE3


@dataclass(frozen=True)
class Consistency:
    """Spread of the transform that should be fixed across samples (base_T_target for
    eye-in-hand, ee_T_target for eye-to-hand) implied by the result and each sample."""

    translation_rms_mm: float
    translation_max_mm: float
    rotation_rms_deg: float
    rotation_max_deg: float

    def summary(self) -> str:
        return (
            f"implied fixed transform spread: {self.translation_rms_mm:.2f} mm RMS "
            f"(max {self.translation_max_mm:.2f} mm), "
            f"{self.rotation_rms_deg:.3f} deg RMS (max {self.rotation_max_deg:.3f} deg)"
        )


@dataclass(frozen=True)
class HandEyeResult:
    setup: str
    method: str
    result: NamedTransform  # ee_T_camera (eye-in-hand) or base_T_camera (eye-to-hand)
    consistency: Consistency
    n_samples: int
    warnings: tuple[str, ...] = ()

    def info(self) -> dict[str, Any]:
        """Metadata written next to the transform in the output YAML."""
        c = self.consistency
        return {
            "setup": self.setup,
            "method": self.method,
            "samples": self.n_samples,
            "consistency": {
                "translation_rms_mm": round(c.translation_rms_mm, 4),
                "translation_max_mm": round(c.translation_max_mm, 4),
                "rotation_rms_deg": round(c.rotation_rms_deg, 5),
                "rotation_max_deg": round(c.rotation_max_deg, 5),
            },
            "warnings": list(self.warnings),
        }


def motion_problems(samples: Sequence[HandEyeSample], setup: str) -> list[str]:
    """Why the robot's rotations between samples cannot pin down the transform (empty when they can)."""
    moving = [s.base_T_ee if setup == "eye-in-hand" else s.base_T_ee.inverse() for s in samples]
    axes, angles = [], []
    for i in range(len(moving)):
        for j in range(i + 1, len(moving)):
            rotvec = (moving[i].inverse() @ moving[j]).rotvec()
            angle = float(np.degrees(np.linalg.norm(rotvec)))
            angles.append(angle)
            if angle >= _MIN_ROTATION_DEG:
                axes.append(rotvec / np.linalg.norm(rotvec))
    if not axes:
        return [
            f"the end-effector barely rotates between samples (largest relative rotation "
            f"{max(angles, default=0.0):.1f} deg < {_MIN_ROTATION_DEG} deg): the result is not determined; "
            "rotate the wrist about at least two different axes"
        ]
    axes_array = np.array(axes)
    eigenvalues = np.linalg.eigvalsh(axes_array.T @ axes_array / len(axes_array))  # ascending
    spread_deg = float(np.degrees(np.arcsin(np.sqrt(np.clip(eigenvalues[0] + eigenvalues[1], 0.0, 1.0)))))
    if spread_deg < _MIN_AXIS_SPREAD_DEG:
        return [
            f"all rotations between samples are about one axis (axes within {spread_deg:.1f} deg RMS of one "
            "line): the translation along that axis is not constrained; add samples rotating about another axis"
        ]
    return []


def _solve(samples: Sequence[HandEyeSample], setup: str, method: str) -> SE3:
    moving = [s.base_T_ee if setup == "eye-in-hand" else s.base_T_ee.inverse() for s in samples]
    # OpenCV solves A_i X B_i = const with A = gripper->base, B = target->camera; for
    # eye-to-hand passing ee_T_base instead of base_T_ee makes X = base_T_camera.
    try:
        R, t = cv2.calibrateHandEye(
            [m.rotation for m in moving],
            [m.translation.reshape(3, 1) for m in moving],
            [s.camera_T_target.rotation for s in samples],
            [s.camera_T_target.translation.reshape(3, 1) for s in samples],
            method=METHODS[method],
        )
    except cv2.error as exc:  # e.g. Andreff's "Iterations do not converge" on inconsistent samples
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise HandEyeFailedError(f"OpenCV's {method} method failed ({message})") from None
    if not (np.all(np.isfinite(R)) and np.all(np.isfinite(t))):
        raise HandEyeFailedError(f"OpenCV's {method} method returned no solution (non-finite result)")
    if np.array_equal(R, np.eye(3)) and not np.any(t):
        # OpenCV logs its failure and hands back its initial value, the exact identity, as a result.
        raise HandEyeFailedError(
            f"OpenCV's {method} method failed (it returned its initial value, the identity): "
            "not enough informative motions; include larger rotations"
        )
    try:
        # OpenCV returns garbage rather than failing when the samples cannot be fitted.
        return SE3.from_matrix(np.vstack([np.hstack([R, t.reshape(3, 1)]), [0, 0, 0, 1]]), tolerance=1e-6)
    except ValueError as exc:
        raise HandEyeFailedError(f"OpenCV's {method} method returned an invalid transform ({exc})") from None


def consistency(samples: Sequence[HandEyeSample], setup: str, X: SE3) -> Consistency:
    if setup == "eye-in-hand":
        fixed = [s.base_T_ee @ X @ s.camera_T_target for s in samples]  # base_T_target
    else:
        fixed = [s.base_T_ee.inverse() @ X @ s.camera_T_target for s in samples]  # ee_T_target
    translations = np.array([f.translation for f in fixed])
    distances_mm = np.linalg.norm(translations - translations.mean(axis=0), axis=1) * 1000
    rotations = Rotation.from_matrix(np.array([f.rotation for f in fixed]))
    angles_deg = np.degrees((rotations.mean().inv() * rotations).magnitude())
    return Consistency(
        float(np.sqrt(np.mean(distances_mm**2))),
        float(distances_mm.max()),
        float(np.sqrt(np.mean(angles_deg**2))),
        float(angles_deg.max()),
    )


def calibrate_hand_eye(
    samples: Sequence[HandEyeSample],
    setup: str,
    method: str = "park",
    *,
    base_frame: str = "base_link",
    ee_frame: str = "tool0",
    camera_frame: str = "camera_color_optical_frame",
    max_spread_mm: float | None = MAX_SPREAD_MM,
    max_spread_deg: float | None = MAX_SPREAD_DEG,
) -> HandEyeResult:
    """Solve for ee_T_camera (eye-in-hand) or base_T_camera (eye-to-hand).

    Raises HandEyeFailedError when the motions cannot determine the transform, OpenCV fails, or the
    result's consistency spread (RMS) exceeds ``max_spread_mm`` / ``max_spread_deg`` (None: no limit)."""
    if setup not in SETUPS:
        raise ValueError(f"setup must be one of {SETUPS}, got {setup!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {method!r}")
    if len(samples) < MIN_SAMPLES:
        raise HandEyeError(
            f"hand-eye calibration needs at least {MIN_SAMPLES} samples with different wrist "
            f"orientations, got {len(samples)}"
        )
    problems = motion_problems(samples, setup)
    if problems:  # some methods still "fit" such samples perfectly while being metres off
        raise HandEyeFailedError(problems[0])
    try:
        X = _solve(samples, setup, method)
    except HandEyeFailedError as exc:
        raise HandEyeFailedError(
            f"{exc}; check --setup ({setup}) and that each robot pose belongs to its image"
        ) from None
    spread = consistency(samples, setup, X)
    too_far = (max_spread_mm is not None and not spread.translation_rms_mm <= max_spread_mm) or (
        max_spread_deg is not None and not spread.rotation_rms_deg <= max_spread_deg
    )
    if too_far:
        raise HandEyeFailedError(
            f"{method}: the result does not fit the samples ({spread.summary()}; limits {max_spread_mm} mm / "
            f"{max_spread_deg} deg RMS): check that each robot pose belongs to its image, the --setup ({setup}) "
            "and the board detections"
        )
    parent = ee_frame if setup == "eye-in-hand" else base_frame
    return HandEyeResult(setup, method, NamedTransform(parent, camera_frame, X), spread, len(samples))


@dataclass(frozen=True)
class HandEyeComparison:
    """Every OpenCV method on the same samples; methods that failed are listed with the reason."""

    results: dict[str, HandEyeResult]
    failures: dict[str, str]

    def best(self) -> HandEyeResult:
        """The method whose implied fixed transform is tightest (translation RMS, then rotation RMS)."""
        if not self.results:
            raise HandEyeFailedError("every method failed: " + "; ".join(f"{m}: {r}" for m, r in self.failures.items()))
        return min(
            self.results.values(), key=lambda r: (r.consistency.translation_rms_mm, r.consistency.rotation_rms_deg)
        )


def calibrate_hand_eye_all(samples: Sequence[HandEyeSample], setup: str, **options: Any) -> HandEyeComparison:
    """Every OpenCV method on the same samples; ``options`` as for calibrate_hand_eye (frames, limits).
    Motions that cannot determine the transform fail every method: HandEyeFailedError at once."""
    if len(samples) < MIN_SAMPLES:
        raise HandEyeError(f"hand-eye calibration needs at least {MIN_SAMPLES} samples, got {len(samples)}")
    problems = motion_problems(samples, setup)
    if problems:
        raise HandEyeFailedError(problems[0])
    results: dict[str, HandEyeResult] = {}
    failures: dict[str, str] = {}
    for method in METHODS:
        try:
            results[method] = calibrate_hand_eye(samples, setup, method, **options)
        except HandEyeFailedError as exc:
            failures[method] = str(exc)
    return HandEyeComparison(results, failures)


def comparison_table(comparison: HandEyeComparison) -> str:
    header = (
        f"{'method':<11}{'x [m]':>10}{'y [m]':>10}{'z [m]':>10}{'roll':>9}{'pitch':>9}{'yaw':>9}"
        f"{'spread mm':>11}{'spread deg':>11}"
    )
    lines = [header, "-" * len(header)]
    for method in METHODS:
        if method in comparison.failures:
            lines.append(f"{method:<11}failed: {comparison.failures[method]}")
            continue
        result = comparison.results[method]
        t = result.result.transform
        x, y, z = t.translation
        roll, pitch, yaw = t.euler_xyz_deg()
        c = result.consistency
        lines.append(
            f"{method:<11}{x:>10.4f}{y:>10.4f}{z:>10.4f}{roll:>9.2f}{pitch:>9.2f}{yaw:>9.2f}"
            f"{c.translation_rms_mm:>11.2f}{c.rotation_rms_deg:>11.3f}"
        )
    return "\n".join(lines)


# samples file ---------------------------------------------------------------------------
def _transform(value: Any, source: str, field: str) -> SE3:
    try:
        matrix = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CalibrationFileError(source, field, "expected a 4x4 matrix of numbers (row-major)") from None
    if matrix.shape == (16,):
        matrix = matrix.reshape(4, 4)
    if matrix.shape != (4, 4):
        raise CalibrationFileError(
            source, field, f"expected a 4x4 matrix (row-major, metres), got shape {matrix.shape}"
        )
    try:
        return SE3.from_matrix(matrix, tolerance=_FILE_ROTATION_TOLERANCE)
    except ValueError as exc:
        raise CalibrationFileError(source, field, str(exc)) from exc


def parse_samples(data: Any, source: str = "<samples>") -> list[HandEyeSample]:
    if isinstance(data, Mapping) and "samples" in data:
        data = data["samples"]
    if not isinstance(data, list):
        raise CalibrationFileError(source, "(top level)", "expected a list of {base_T_ee: 4x4, camera_T_target: 4x4}")
    samples = []
    for index, entry in enumerate(data):
        if not isinstance(entry, Mapping):
            raise CalibrationFileError(source, f"[{index}]", f"expected a mapping, got {type(entry).__name__}")
        for key in ("base_T_ee", "camera_T_target"):
            if key not in entry:
                raise CalibrationFileError(source, f"[{index}].{key}", "missing")
        samples.append(
            HandEyeSample(
                _transform(entry["base_T_ee"], source, f"[{index}].base_T_ee"),
                _transform(entry["camera_T_target"], source, f"[{index}].camera_T_target"),
            )
        )
    return samples


def load_samples(path: str | PathLike[str]) -> list[HandEyeSample]:
    """Read a YAML or JSON list of {base_T_ee: 4x4, camera_T_target: 4x4} (row-major, metres)."""
    if Path(path).suffix.lower() == ".json":
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise CalibrationFileError(path, "(file)", f"cannot read: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise CalibrationFileError(path, "(syntax)", f"not valid JSON: {exc}") from exc
    else:
        data = load_yaml_file(path)
    return parse_samples(data, str(path))


def write_samples(path: str | PathLike[str], entries: Sequence[Mapping[str, Any]]) -> None:
    """Write sample entries (SE3 values become nested 4x4 lists)."""

    def plain(value: Any) -> Any:
        if isinstance(value, SE3):
            return [[float(v) for v in row] for row in value.matrix()]
        return value

    atomic_write_text(
        path,
        yaml.safe_dump(
            [{k: plain(v) for k, v in e.items()} for e in entries], sort_keys=False, default_flow_style=None
        ),
    )
