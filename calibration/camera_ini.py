"""camera_calibration_parsers' INI camera format (the legacy Videre format ROS still reads and writes).

Layout (blank lines and ``#``/``;`` comments ignored; a key on its own line, its values on the next ones):

    [image]
    width
    640
    height
    480
    [camera_name]
    camera matrix      (3 lines of 3 numbers)
    distortion         (1 line: 5 numbers = plumb_bob, 8 = rational_polynomial)
    rectification      (3 lines of 3 numbers)
    projection         (3 lines of 4 numbers)

An ``[externals]`` section is ignored. Lines that belong to no known key are warned about, by line number.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import numpy as np

from calibration.errors import CalibrationFileError, CalibrationFileWarning

# key -> (rows, columns) of its value lines; distortion's columns vary (5 or 8)
_CAMERA_KEYS = {"camera matrix": (3, 3), "distortion": (1, None), "rectification": (3, 3), "projection": (3, 4)}
_SECTION = re.compile(r"\[([^\]]+)\]")


def _sections(text: str) -> list[tuple[str, list[tuple[int, str]]]]:
    """[(section name, [(line number, stripped line), ...])] in file order."""
    sections: list[tuple[str, list[tuple[int, str]]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = _SECTION.fullmatch(line)
        if header:
            sections.append((header.group(1).strip(), []))
        elif not sections:
            sections.append(("", [(number, line)]))  # text before any section: reported as not understood
        else:
            sections[-1][1].append((number, line))
    return sections


def _numbers(line: tuple[int, str], source: str, field: str, columns: int | None) -> list[float]:
    number, text = line
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        raise CalibrationFileError(source, field, f"line {number}: expected numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise CalibrationFileError(source, field, f"line {number}: expected finite numbers, got {text!r}")
    if columns is not None and len(values) != columns:
        raise CalibrationFileError(source, field, f"line {number}: expected {columns} numbers, got {len(values)}")
    return values


def parse_ini(text: str, source: str) -> dict[str, Any]:
    """The INI text as CameraModel keyword arguments; CalibrationFileError naming the field and line."""
    width = height = None
    camera: dict[str, Any] | None = None
    unused: list[int] = []
    for name, lines in _sections(text):
        keys = [line for _, line in lines]
        if name == "image":
            used = set()
            for key in ("width", "height"):
                if key not in keys:
                    raise CalibrationFileError(source, f"[image] {key}", "missing")
                at = keys.index(key)
                if at + 1 >= len(lines) or not re.fullmatch(r"\d+", lines[at + 1][1]):
                    raise CalibrationFileError(source, f"[image] {key}", "expected a positive integer on the next line")
                value = int(lines[at + 1][1])
                if value <= 0:
                    raise CalibrationFileError(source, f"[image] {key}", f"expected a positive integer, got {value}")
                width, height = (value, height) if key == "width" else (width, value)
                used |= {at, at + 1}
            unused += [lines[i][0] for i in range(len(lines)) if i not in used]
        elif name == "externals":
            continue
        elif not name:
            unused += [number for number, _ in lines]
        else:
            if camera is not None:
                raise CalibrationFileError(source, f"[{name}]", "a second camera section: this reader takes one camera")
            camera, used = {"camera_name": name}, set()
            for key, (rows, columns) in _CAMERA_KEYS.items():
                if key not in keys:
                    raise CalibrationFileError(source, f"[{name}] {key}", "missing")
                at = keys.index(key)
                if at + rows >= len(lines):
                    raise CalibrationFileError(source, key, f"expected {rows} line(s) of numbers after it")
                camera[key] = np.array([_numbers(lines[at + 1 + r], source, key, columns) for r in range(rows)])
                used |= set(range(at, at + rows + 1))
            unused += [lines[i][0] for i in range(len(lines)) if i not in used]
    if width is None or height is None:
        raise CalibrationFileError(
            source, "[image]", "missing (an INI camera file starts with [image] width and height)"
        )
    if camera is None:
        raise CalibrationFileError(
            source, "[camera]", "missing: no camera section with 'camera matrix' and 'distortion'"
        )
    if unused:
        warnings.warn(
            CalibrationFileWarning(source, "(lines)", f"line(s) {unused} belong to no known key and were ignored"),
            stacklevel=3,
        )
    D = camera["distortion"].reshape(-1)
    models = {5: "plumb_bob", 8: "rational_polynomial"}
    if D.size not in models:
        raise CalibrationFileError(
            source, "distortion", f"expected 5 (plumb_bob) or 8 (rational_polynomial) numbers, got {D.size}"
        )
    K = camera["camera matrix"]
    if not (np.array_equal(K[2], [0.0, 0.0, 1.0]) and K[1, 0] == 0.0):
        raise CalibrationFileError(
            source, "camera matrix", f"must be upper triangular with last row 0 0 1, got {K.tolist()}"
        )
    R, P = camera["rectification"], camera["projection"]
    return {
        "width": width,
        "height": height,
        "K": K,
        "distortion_model": models[D.size],
        "D": D,
        "camera_name": camera["camera_name"],
        "rectification": R if np.any(R) else None,
        "projection": P if np.any(P) else None,
    }
