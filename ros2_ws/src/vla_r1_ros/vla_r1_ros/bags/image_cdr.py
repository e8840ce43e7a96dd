"""A zero-copy reader for the one message type we read in bulk: ROS 2 ``sensor_msgs/msg/Image``
in little-endian CDR. It only locates fields (the pixel buffer stays a view into the record), so
unselected frames cost almost nothing. Anything unexpected returns None and the caller falls back
to rosbags' general deserializer; tests check both agree."""
from __future__ import annotations

import struct
from dataclasses import dataclass

_CDR_LE = b"\x00\x01"  # encapsulation id of plain little-endian CDR
_U32 = struct.Struct("<I")
_STAMP = struct.Struct("<iI")


@dataclass(frozen=True, eq=False)
class _Header:
    stamp: "_Stamp"
    frame_id: str


@dataclass(frozen=True)
class _Stamp:
    sec: int
    nanosec: int


@dataclass(frozen=True, eq=False)
class ImageView:
    """The fields of sensor_msgs/Image that decoding needs, named like the message."""

    header: _Header
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: memoryview


def parse_image_cdr(raw: bytes | memoryview) -> ImageView | None:
    buffer = memoryview(raw)
    if len(buffer) < 8 or bytes(buffer[:2]) != _CDR_LE:
        return None
    body = buffer[4:]  # CDR alignment counts from after the 4-byte encapsulation header
    size = len(body)

    def u32(offset: int) -> tuple[int, int]:
        offset = (offset + 3) & ~3
        if offset + 4 > size:
            raise IndexError
        return _U32.unpack_from(body, offset)[0], offset + 4

    def string(offset: int) -> tuple[str, int]:
        length, offset = u32(offset)  # includes the terminating NUL
        if length < 1 or offset + length > size:
            raise IndexError
        return bytes(body[offset : offset + length - 1]).decode("utf-8"), offset + length

    try:
        sec, nanosec = _STAMP.unpack_from(body, 0)
        frame_id, offset = string(8)
        height, offset = u32(offset)
        width, offset = u32(offset)
        encoding, offset = string(offset)
        if offset + 1 > size:
            return None
        is_bigendian = body[offset]
        step, offset = u32(offset + 1)
        length, offset = u32(offset)
        if offset + length > size:
            return None
    except (IndexError, UnicodeDecodeError, struct.error):
        return None
    return ImageView(_Header(_Stamp(sec, nanosec), frame_id), height, width, encoding, is_bigendian, step,
                     body[offset : offset + length])
