"""Camera geometry and calibration: camera models, depth, alignment, transforms, calibration.

``import calibration`` stays light (numpy, scipy, yaml). The names that need OpenCV (targets,
intrinsics and hand-eye calibration) are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from calibration.align import align_depth_to_color
from calibration.camera import DISTORTION_MODELS, CameraModel
from calibration.depth import DepthSample, NoValidDepthError, decode_depth, sample_depth_at_pixel, sample_depth_in_box
from calibration.errors import CalibrationFileError
from calibration.transforms import SE3, NamedTransform

_LAZY = {
    "BoardSpec": "calibration.target",
    "TargetPose": "calibration.target",
    "camera_T_target": "calibration.target",
    "calibrate_intrinsics": "calibration.intrinsics",
    "IntrinsicsResult": "calibration.intrinsics",
    "HandEyeSample": "calibration.handeye",
    "HandEyeResult": "calibration.handeye",
    "HandEyeError": "calibration.handeye",
    "HandEyeFailedError": "calibration.handeye",
    "calibrate_hand_eye": "calibration.handeye",
    "calibrate_hand_eye_all": "calibration.handeye",
    "load_samples": "calibration.handeye",
}

__all__ = [
    "CameraModel",
    "CalibrationFileError",
    "DISTORTION_MODELS",
    "NamedTransform",
    "SE3",
    "DepthSample",
    "NoValidDepthError",
    "decode_depth",
    "sample_depth_at_pixel",
    "sample_depth_in_box",
    "align_depth_to_color",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'calibration' has no attribute {name!r}")
