"""A zero-copy reader for the one message type we read in bulk: ROS 2 ``sensor_msgs/msg/Image``
in little-endian CDR. It only locates fields (the pixel buffer stays a view into the record), so
unselected frames cost almost nothing. Anything unexpected returns None and the caller falls back
to rosbags' general deserializer; tests check both agree."""
from __future__ import annotations

from dataclasses import dataclass

from .cdr import Cursor, Header, parse_cdr, read_header


@dataclass(frozen=True, eq=False)
class ImageView:
    """The fields of sensor_msgs/Image that decoding needs, named like the message."""

    header: Header
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: memoryview


def _read_image(cursor: Cursor) -> ImageView:
    header = read_header(cursor)
    height, width = cursor.u32(), cursor.u32()
    encoding = cursor.string()
    is_bigendian, step = cursor.u8(), cursor.u32()
    return ImageView(header, height, width, encoding, is_bigendian, step, cursor.view(cursor.u32()))


def parse_image_cdr(raw: bytes | memoryview) -> ImageView | None:
    return parse_cdr(raw, _read_image, whole_record=False)
