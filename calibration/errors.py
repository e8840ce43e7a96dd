"""Errors shared by the calibration package."""

from __future__ import annotations

from os import PathLike


class CalibrationFileError(ValueError):
    """A calibration file (or CameraInfo-like mapping) is unreadable or malformed.

    The message always names the source (file path or a label such as ``<camera_info>``)
    and the offending field, so a user can fix the file without reading code.
    """

    def __init__(self, source: str | PathLike[str], field: str, problem: str) -> None:
        self.source = str(source)
        self.field = field
        self.problem = problem
        super().__init__(f"{self.source}: field '{field}': {problem}")


class CalibrationFileWarning(UserWarning):
    """A calibration file that is readable but suspicious (unknown keys, a stereo rectification, ...).

    Like CalibrationFileError, the message names the source and the field.
    """

    def __init__(self, source: str | PathLike[str], field: str, problem: str) -> None:
        self.source = str(source)
        self.field = field
        self.problem = problem
        super().__init__(f"{self.source}: field '{field}': {problem}")
