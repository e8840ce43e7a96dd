"""Camera geometry and calibration: camera models, depth, alignment, transforms, calibration.

Importing the package is light (numpy, scipy, yaml); OpenCV is imported by the modules that
calibrate (``calibration.target``, ``calibration.intrinsics``, ``calibration.handeye``).
"""
from calibration.camera import DISTORTION_MODELS, CameraModel
from calibration.errors import CalibrationFileError
from calibration.transforms import SE3, NamedTransform

__all__ = ["CameraModel", "CalibrationFileError", "DISTORTION_MODELS", "NamedTransform", "SE3"]
