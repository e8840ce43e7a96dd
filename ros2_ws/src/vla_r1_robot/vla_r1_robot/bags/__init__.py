"""Recorded RGB-D bags as Frames: rosbag2 (sqlite3, MCAP), ROS1 and RealSense .bag files."""

from .errors import BagError, FrameError
from .pairing import FrameSelection, PairingConfig
from .raw import RawReadResult, ReadingComparison, compare_with_raw, raw_read_images
from .source import BagReadOptions, BagSource, ReadStats, open_bag, read_summary
from .summary import BagSummary, TopicInfo
from .topics import TopicSelection

__all__ = [
    "BagError",
    "BagReadOptions",
    "BagSource",
    "BagSummary",
    "FrameError",
    "FrameSelection",
    "PairingConfig",
    "RawReadResult",
    "ReadStats",
    "ReadingComparison",
    "TopicInfo",
    "TopicSelection",
    "compare_with_raw",
    "open_bag",
    "raw_read_images",
    "read_summary",
]
