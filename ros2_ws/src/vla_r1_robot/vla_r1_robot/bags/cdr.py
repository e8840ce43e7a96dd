"""Zero-copy reading of the few ROS 2 messages the replay decodes itself, from little-endian CDR
(what rosbag2 stores): sensor_msgs/Image in bulk (``image_cdr``), and CameraInfo and
geometry_msgs/Transform once per open, where rosbags would generate and compile a deserializer
for every newly opened bag. Each parser returns None on anything unexpected (other byte order,
truncation, trailing bytes from a different definition) and the caller falls back to rosbags;
tests check both agree."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np

_CDR_LE = b"\x00\x01"  # encapsulation id of plain little-endian CDR
_U32 = struct.Struct("<I")
_STAMP = struct.Struct("<iI")
# what a malformed record raises while being read; parsers turn it into None
READ_ERRORS = (IndexError, UnicodeDecodeError, struct.error, ValueError)


class Cursor:
    """Reads the fields of a CDR body in order. Each primitive is aligned to its own size, counted
    from the start of the body (after the 4-byte encapsulation header)."""

    def __init__(self, body: memoryview) -> None:
        self.body, self.offset = body, 0

    @classmethod
    def of(cls, raw: bytes | memoryview) -> "Cursor | None":
        buffer = memoryview(raw)
        if len(buffer) < 8 or bytes(buffer[:2]) != _CDR_LE:
            return None
        return cls(buffer[4:])

    def _take(self, size: int, alignment: int) -> int:
        start = (self.offset + alignment - 1) & ~(alignment - 1)
        if start + size > len(self.body):
            raise IndexError("CDR record ends early")
        self.offset = start + size
        return start

    def u8(self) -> int:
        return self.body[self._take(1, 1)]

    def u32(self) -> int:
        return _U32.unpack_from(self.body, self._take(4, 4))[0]

    def stamp(self) -> tuple[int, int]:
        """builtin_interfaces/Time: (sec, nanosec)."""
        return _STAMP.unpack_from(self.body, self._take(8, 4))

    def string(self) -> str:
        length = self.u32()  # includes the terminating NUL
        if length < 1:
            raise IndexError("CDR string without its NUL")
        start = self._take(length, 1)
        return bytes(self.body[start : start + length - 1]).decode("utf-8")

    def float64s(self, count: int) -> np.ndarray:
        start = self._take(8 * count, 8) if count else self.offset
        return np.frombuffer(self.body, dtype="<f8", count=count, offset=start).astype(np.float64)

    def view(self, size: int) -> memoryview:
        start = self._take(size, 1)
        return self.body[start : start + size]

    def at_end(self) -> bool:
        """Only alignment padding (under 4 bytes) left: the record had exactly the expected fields."""
        return len(self.body) - self.offset < 4


T = TypeVar("T")


def parse_cdr(raw: bytes | memoryview, read: Callable[[Cursor], T], whole_record: bool = True) -> T | None:
    """``read`` over a CDR record; None when the record does not fit it (the caller falls back to
    rosbags). ``whole_record``: trailing bytes mean another message definition, so refuse them."""
    cursor = Cursor.of(raw)
    if cursor is None:
        return None
    try:
        value = read(cursor)
    except READ_ERRORS:
        return None
    return value if not whole_record or cursor.at_end() else None


@dataclass(frozen=True)
class Stamp:
    sec: int
    nanosec: int


@dataclass(frozen=True, eq=False)
class Header:
    stamp: Stamp
    frame_id: str


def read_header(cursor: Cursor) -> Header:
    return Header(Stamp(*cursor.stamp()), cursor.string())


@dataclass(frozen=True, eq=False)
class RegionOfInterest:
    x_offset: int
    y_offset: int
    height: int
    width: int
    do_rectify: bool


@dataclass(frozen=True, eq=False)
class CameraInfoView:
    """sensor_msgs/CameraInfo, fields named like the message (d, k, r, p as float64 arrays)."""

    header: Header
    height: int
    width: int
    distortion_model: str
    d: np.ndarray
    k: np.ndarray
    r: np.ndarray
    p: np.ndarray
    binning_x: int
    binning_y: int
    roi: RegionOfInterest


def _read_camera_info(cursor: Cursor) -> CameraInfoView:
    header = read_header(cursor)
    height, width = cursor.u32(), cursor.u32()
    distortion_model = cursor.string()
    d = cursor.float64s(cursor.u32())
    k, r, p = cursor.float64s(9), cursor.float64s(9), cursor.float64s(12)
    binning_x, binning_y = cursor.u32(), cursor.u32()
    roi = RegionOfInterest(cursor.u32(), cursor.u32(), cursor.u32(), cursor.u32(), bool(cursor.u8()))
    return CameraInfoView(header, height, width, distortion_model, d, k, r, p, binning_x, binning_y, roi)


def parse_camera_info_cdr(raw: bytes | memoryview) -> CameraInfoView | None:
    return parse_cdr(raw, _read_camera_info)


@dataclass(frozen=True)
class Vector3:
    x: float
    y: float
    z: float


@dataclass(frozen=True)
class Quaternion:
    x: float
    y: float
    z: float
    w: float


@dataclass(frozen=True)
class TransformView:
    """geometry_msgs/Transform: translation in metres, rotation as a unit quaternion."""

    translation: Vector3
    rotation: Quaternion


def _read_transform(cursor: Cursor) -> TransformView:
    values = [float(value) for value in cursor.float64s(7)]
    return TransformView(Vector3(*values[:3]), Quaternion(*values[3:]))


def parse_transform_cdr(raw: bytes | memoryview) -> TransformView | None:
    return parse_cdr(raw, _read_transform)
