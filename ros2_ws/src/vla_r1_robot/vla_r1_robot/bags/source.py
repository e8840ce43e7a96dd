"""``open_bag``: a recorded RGB-D bag as a lazy stream of Frames (color, depth aligned to color in
metres, COLOR camera model), whatever the container: rosbag2 sqlite3 or MCAP (folder or single
file), ROS1 bag, or a RealSense ``.bag``."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

from calibration import SE3, CalibrationFileError, CameraModel
from calibration.align import align_depth_to_color
from calibration.depth import decode_depth

from ..perception.frame import Frame
from . import extrinsics as ext
from .errors import BagError, FrameError, unexpected
from .images import DEPTH_ENCODINGS
from .pairing import FrameSelection, NearestDepthPairer, Pair, PairingConfig, SelectionOutOfRange, select
from .realsense_backend import RealSenseBag, is_realsense_summary
from .rosbags_backend import RosbagsBag
from .summary import CAMERA_INFO_TYPE, IMAGE_TYPE, BagSummary, TopicInfo
from .topics import TopicSelection, is_realsense_topic, select_topics

log = logging.getLogger(__name__)

DEFAULT_FRAME_ID = "camera_color_optical_frame"

# Setup reads the first message of these topics; every pass over a bag re-reads (and checksums)
# its chunks, so one pass fetches them all, and the first iteration over frames goes on with it.
_FIRST_MESSAGE_TYPES = (IMAGE_TYPE, CAMERA_INFO_TYPE, ext.TRANSFORM)


@dataclass(frozen=True, eq=False)
class BagReadOptions:
    """How to read a bag. Topics are auto-detected when None; ``info_topic`` is the color CameraInfo.
    ``color_T_depth`` overrides the bag's extrinsic; ``depth_aligned`` overrides the detection;
    ``depth_scale_m`` overrides the unit of uint16 depth (ROS: 0.001, RealSense: from the device)."""

    color_topic: str | None = None
    depth_topic: str | None = None
    info_topic: str | None = None
    depth_info_topic: str | None = None
    selection: FrameSelection = field(default_factory=FrameSelection)
    pairing: PairingConfig = field(default_factory=PairingConfig)
    color_T_depth: SE3 | None = None
    depth_aligned: bool | None = None
    depth_scale_m: float | None = None
    require_depth: bool = True
    frame_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("color_topic", "depth_topic", "info_topic", "depth_info_topic"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.startswith("/")):
                raise ValueError(f"{name} must be an absolute topic name like /camera/color/image_raw, got {value!r}")
        if self.color_T_depth is not None and not isinstance(self.color_T_depth, SE3):
            raise ValueError(f"color_T_depth must be a calibration.SE3, got {type(self.color_T_depth).__name__}")
        if self.depth_scale_m is not None and not (math.isfinite(self.depth_scale_m) and self.depth_scale_m > 0):
            raise ValueError(f"depth_scale_m must be > 0, got {self.depth_scale_m}")
        if self.frame_id is not None and not self.frame_id:
            raise ValueError("frame_id must not be empty")


@dataclass
class ReadStats:
    """Counters of the latest pass over the bag (filled while iterating)."""

    color_messages: int = 0
    depth_messages: int = 0
    paired: int = 0
    unpaired_selected: int = 0  # selected color frames skipped for lack of depth within tolerance
    frames: int = 0
    max_abs_dt_s: float = 0.0


class BagSource:
    """Iterate to get Frames (a fresh pass each time). Use as a context manager or call close()."""

    def __init__(self, path: Path, options: BagReadOptions) -> None:
        self.path = path
        self.options = options
        self.stats = ReadStats()
        try:
            self._rosbags = RosbagsBag(path)
        except BagError:
            raise
        except Exception as error:  # damaged headers and summaries: see errors.unexpected
            raise unexpected(path, error) from error
        try:
            self._open()
        except BaseException as error:
            self._rosbags.close()
            if isinstance(error, Exception) and not isinstance(error, BagError):
                raise unexpected(path, error) from error
            raise

    # setup --------------------------------------------------------------------------
    def _open(self) -> None:
        options = self.options
        listing = self._rosbags.summary(peek_images=False)
        self._realsense: RealSenseBag | None = None
        if listing.storage == "ros1" and is_realsense_summary(listing):
            self._realsense = RealSenseBag(self.path, listing)
            self.summary = self._realsense_summary(listing, self._realsense)
        else:
            self._rosbags.peek_first_messages(
                [t.name for t in listing.topics if t.count and t.msgtype in _FIRST_MESSAGE_TYPES], keep_pass=True
            )
            self.summary = self._rosbags.summary(peek_images=True)
        self.topics: TopicSelection = select_topics(
            self.summary,
            options.color_topic,
            options.depth_topic,
            options.info_topic,
            options.depth_info_topic,
            require_depth=options.require_depth,
        )
        color_info = self.summary.topic(self.topics.color_topic)
        self.color_camera = self._camera(self.topics.color_info_topic)
        self._check_size(self.color_camera, color_info, self.topics.color_info_topic)
        self.depth_camera: CameraModel | None = None
        if self.topics.depth_info_topic is not None:
            self.depth_camera = self._camera(self.topics.depth_info_topic)
        self.color_T_depth: SE3 | None = None
        self.depth_aligned = True
        self.depth_scale_m = options.depth_scale_m or 0.001
        if self.topics.depth_topic is not None:
            self._decide_alignment()
            if options.depth_scale_m is None and self._realsense is not None:
                self.depth_scale_m = self._realsense.depth_scale_m(self.topics.depth_topic)

    @staticmethod
    def _realsense_summary(listing: BagSummary, bag: RealSenseBag) -> BagSummary:
        topics = []
        for topic in listing.topics:
            size = bag.size(topic.name)
            if size is not None:
                topic = replace(topic, encoding=bag.encoding(topic.name), width=size[0], height=size[1], frame_id="")
            topics.append(topic)
        return replace(listing, storage="realsense", topics=tuple(topics))

    def _camera(self, info_topic: str) -> CameraModel:
        if self._realsense is not None:
            return self._realsense.camera_model(info_topic)
        msg = self._rosbags.first_message(info_topic)
        if msg is None:
            raise BagError(self.path, "CameraInfo topic has no messages", topic=info_topic)
        try:
            return CameraModel.from_camera_info(msg, source=f"{self.path}: topic {info_topic}")
        except (CalibrationFileError, ValueError) as error:
            raise BagError(self.path, f"unusable CameraInfo: {error}", topic=info_topic) from error

    def _check_size(self, camera: CameraModel, image: TopicInfo | None, info_topic: str) -> None:
        if (
            image is not None
            and image.width is not None
            and (image.width, image.height) != (camera.width, camera.height)
        ):
            raise BagError(
                self.path,
                f"CameraInfo is {camera.width}x{camera.height} but {image.name} images are "
                f"{image.width}x{image.height}",
                topic=info_topic,
            )

    def _decide_alignment(self) -> None:
        """Aligned depth needs nothing; otherwise we need the depth camera and color_T_depth."""
        options, topics = self.options, self.topics
        assert topics.depth_topic is not None
        depth = self.summary.topic(topics.depth_topic)
        color = self.summary.topic(topics.color_topic)
        extrinsic = options.color_T_depth or self._bag_color_T_depth(color, depth)
        if options.depth_aligned is not None:
            aligned = options.depth_aligned
        elif "aligned_depth_to_" in topics.depth_topic:
            aligned = True  # realsense2_camera's registered depth
        elif extrinsic is not None:
            aligned = False
        else:
            same_frame = bool(
                color
                and depth
                and color.frame_id
                and color.frame_id == depth.frame_id
                and not is_realsense_topic(color.name)
            )
            same_size = bool(color and depth and (color.width, color.height) == (depth.width, depth.height))
            same_camera = self.depth_camera is None or self.depth_camera == self.color_camera
            aligned = same_frame and same_size and same_camera
        self.depth_aligned = aligned
        if aligned:
            if (
                depth is not None
                and depth.width is not None
                and (depth.width, depth.height) != (self.color_camera.width, self.color_camera.height)
            ):
                raise BagError(
                    self.path,
                    f"depth is said to be aligned to color but is {depth.width}x{depth.height}, "
                    f"color is {self.color_camera.width}x{self.color_camera.height}",
                    topic=topics.depth_topic,
                )
            return
        if extrinsic is None:
            raise BagError(
                self.path,
                "depth is not aligned to color and the bag has no depth->color transform "
                "(tf_static, TransformStamped or RealSense tf topics); pass color_T_depth",
                topic=topics.depth_topic,
            )
        if self.depth_camera is None:
            raise BagError(
                self.path,
                "depth is not aligned to color and has no CameraInfo to align it with; pass depth_info_topic",
                topic=topics.depth_topic,
            )
        self.color_T_depth = extrinsic

    def _bag_color_T_depth(self, color: TopicInfo | None, depth: TopicInfo | None) -> SE3 | None:
        topics = self.topics
        assert topics.depth_topic is not None
        if self._realsense is not None:
            return self._realsense.color_T_depth(topics.color_topic, topics.depth_topic)
        color_tf = ext.realsense_stream_topics(self.summary, topics.color_topic)
        if color_tf:
            depth_tf = ext.realsense_stream_topics(self.summary, topics.depth_topic)
            color_T_ref = ext.se3_from_transform_msg(self._rosbags.first_message(color_tf[0]))
            depth_T_ref = ext.se3_from_transform_msg(self._rosbags.first_message(depth_tf[0])) if depth_tf else None
            return ext.realsense_color_T_depth(color_T_ref, depth_T_ref)
        if not (color and depth and color.frame_id and depth.frame_id) or color.frame_id == depth.frame_id:
            return None
        return self.static_transform(color.frame_id, depth.frame_id)

    def static_transform(self, target_frame: str, source_frame: str) -> SE3 | None:
        """``target_T_source`` from the bag's /tf_static and TransformStamped topics (for example
        ``static_transform("base_link", "camera_color_optical_frame")`` is ``base_T_camera``);
        None when the bag does not connect the two frames."""
        if self._realsense is not None:
            return None
        tf_topics = [
            t.name
            for t in self.summary.topics
            if t.msgtype == ext.TRANSFORM_STAMPED or (t.msgtype == ext.TF_MESSAGE and t.name.endswith("tf_static"))
        ]
        messages = (msg for name in tf_topics for msg in self._rosbags.all_messages(name))
        try:
            return ext.chain_transform(ext.tf_edges_from_messages(messages), target_frame, source_frame)
        except BagError:
            raise
        except ValueError as error:  # a NaN or zero quaternion, for example
            raise BagError(self.path, f"bad transform: {error}", topic=", ".join(tf_topics)) from error
        except Exception as error:
            raise unexpected(self.path, error, topic=", ".join(tf_topics)) from error

    # reading ------------------------------------------------------------------------
    def _images(self) -> Iterator[tuple[str, Any]]:
        backend = self._realsense or self._rosbags
        return backend.images(self.topics.color_topic, self.topics.depth_topic)

    def _pairs(self) -> Iterator[Pair]:
        stats = self.stats
        if self.topics.depth_topic is None:
            for _kind, record in self._images():
                stats.color_messages += 1
                yield Pair(record, None, None)
            return
        pairer = NearestDepthPairer(self.options.pairing)
        for kind, record in self._images():
            if kind == "color":
                stats.color_messages += 1
                yield from pairer.add_color(record)
            else:
                stats.depth_messages += 1
                yield from pairer.add_depth(record)
        yield from pairer.finish()
        self._closest_miss_s = pairer.closest_miss_s

    def frames(self, skip_bad_frames: bool = False) -> Iterator[Frame | FrameError]:
        """Selected, paired, aligned Frames, decoded one at a time.

        A frame whose image cannot be decoded (wrong ``step``, short ``data``, unsupported
        ``encoding``, a size that disagrees with CameraInfo) raises FrameError; with
        ``skip_bad_frames`` the FrameError is yielded in its place and reading goes on.
        A damaged bag raises BagError either way."""
        try:
            yield from self._frames(skip_bad_frames)
        except BagError:
            raise
        except Exception as error:  # the bag libraries' own exceptions on damaged files
            raise unexpected(self.path, error) from error

    def _frames(self, skip_bad_frames: bool) -> Iterator[Frame | FrameError]:
        self.stats = stats = ReadStats()
        self._closest_miss_s = math.inf
        topics = self.topics
        try:
            for pair in select(self._pairs(), self.options.selection, slack_s=self.options.pairing.tolerance_s):
                if pair.depth is None and topics.depth_topic is not None:
                    stats.unpaired_selected += 1
                    gap = (
                        "no depth message yet" if pair.dt_s is None else f"nearest depth {pair.dt_s * 1e3:+.1f} ms away"
                    )
                    log.warning(
                        "%s: color frame %d at %.6f s has no depth within %.3f s (%s); skipped",
                        self.path,
                        pair.color.index,
                        pair.color.stamp_s,
                        self.options.pairing.tolerance_s,
                        gap,
                    )
                    if self.options.selection.at_s is not None:
                        raise BagError(
                            self.path,
                            f"the color frame at {self.options.selection.at_s:g} s has no depth "
                            f"within {self.options.pairing.tolerance_s:g} s ({gap})",
                            topic=f"{topics.color_topic} + {topics.depth_topic}",
                        )
                    continue
                stats.paired += pair.depth is not None
                if pair.dt_s is not None:
                    stats.max_abs_dt_s = max(stats.max_abs_dt_s, abs(pair.dt_s))
                try:
                    frame = self._frame(pair)
                except FrameError as error:
                    if not skip_bad_frames:
                        raise
                    log.warning("%s", error)
                    yield error
                    continue
                stats.frames += 1
                yield frame
        except SelectionOutOfRange as error:
            raise BagError(self.path, str(error), topic=topics.color_topic) from error
        if stats.color_messages == 0:
            raise BagError(self.path, "the color topic has no messages", topic=topics.color_topic)
        if topics.depth_topic is not None and stats.paired == 0 and stats.unpaired_selected > 0:
            closest = (
                "no depth messages"
                if stats.depth_messages == 0
                else (
                    f"closest depth was {self._closest_miss_s:.3f} s away"
                    if math.isfinite(self._closest_miss_s)
                    else ""
                )
            )
            raise BagError(
                self.path,
                f"color and depth never pair within {self.options.pairing.tolerance_s:g} s "
                f"({stats.color_messages} color, {stats.depth_messages} depth messages; {closest})",
                topic=f"{topics.color_topic} + {topics.depth_topic}",
            )

    __iter__ = frames

    def _frame(self, pair: Pair) -> Frame:
        topics = self.topics

        def bad(problem: str, topic: str) -> FrameError:
            return FrameError(self.path, problem, topic=topic, index=pair.color.index, stamp_s=pair.color.stamp_s)

        try:
            color_rgb = pair.color.decode()
        except (ValueError, TypeError) as error:  # the message's own fields disagree (step, data, encoding)
            raise bad(f"color message {pair.color.index}: {error}", topics.color_topic) from error
        if color_rgb.shape[:2] != (self.color_camera.height, self.color_camera.width):
            raise bad(
                f"color message {pair.color.index}: fields width x height are {color_rgb.shape[1]}x"
                f"{color_rgb.shape[0]}, CameraInfo says {self.color_camera.width}x{self.color_camera.height}",
                topics.color_topic,
            )
        depth_m = None
        if pair.depth is not None:
            try:
                depth_m = decode_depth(pair.depth.decode(), self.depth_scale_m)
            except (ValueError, TypeError) as error:
                raise bad(f"depth message {pair.depth.index}: {error}", str(topics.depth_topic)) from error
            if not self.depth_aligned:
                assert self.depth_camera is not None and self.color_T_depth is not None
                if depth_m.shape != (self.depth_camera.height, self.depth_camera.width):
                    raise bad(
                        f"depth message {pair.depth.index}: fields width x height are {depth_m.shape[1]}x"
                        f"{depth_m.shape[0]}, its CameraInfo says {self.depth_camera.width}x{self.depth_camera.height}",
                        str(topics.depth_topic),
                    )
                depth_m = align_depth_to_color(depth_m, self.depth_camera, self.color_camera, self.color_T_depth)
            elif depth_m.shape != color_rgb.shape[:2]:
                raise bad(
                    f"aligned depth message {pair.depth.index}: fields width x height are {depth_m.shape[1]}x"
                    f"{depth_m.shape[0]} but color is {color_rgb.shape[1]}x{color_rgb.shape[0]}",
                    str(topics.depth_topic),
                )
        frame_id = self.options.frame_id or (
            pair.color.frame_id
            if pair.color.frame_id and not is_realsense_topic(topics.color_topic)
            else DEFAULT_FRAME_ID
        )
        return Frame(color_rgb, depth_m, self.color_camera, pair.color.stamp_s, frame_id)

    # reporting / lifetime -------------------------------------------------------------
    def describe(self) -> str:
        t = self.topics
        lines = [self.summary.describe(), f"color: {t.color_topic} (info {t.color_info_topic}) {self.color_camera!r}"]
        if t.depth_topic:
            how = "already aligned to color" if self.depth_aligned else "aligned to color here with the bag's extrinsic"
            lines.append(f"depth: {t.depth_topic} (info {t.depth_info_topic}), {how}, {self.depth_units()}")
        return "\n".join(lines)

    def depth_units(self) -> str:
        """How the depth topic's values become metres, for people: float depth is metres already."""
        depth = self.summary.topic(self.topics.depth_topic) if self.topics.depth_topic else None
        encoding = depth.encoding if depth is not None else None
        if encoding is not None and encoding in DEPTH_ENCODINGS and DEPTH_ENCODINGS[encoding][0].startswith("f"):
            return f"{encoding} float metres (non-finite = invalid)"
        return f"{encoding or 'uint16'} unit {self.depth_scale_m:g} m (0 = invalid)"

    def close(self) -> None:
        if self._realsense is not None:
            self._realsense.close()
        self._rosbags.close()

    def __enter__(self) -> BagSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_bag(
    path: str | PathLike[str],
    color_topic: str | None = None,
    depth_topic: str | None = None,
    info_topic: str | None = None,
    *,
    every_n: int = 1,
    at_s: float | None = None,
    pair_tolerance_s: float = 0.15,
    color_T_depth: SE3 | None = None,
    depth_aligned: bool | None = None,
    depth_scale_m: float | None = None,
    depth_info_topic: str | None = None,
    require_depth: bool = True,
    frame_id: str | None = None,
) -> BagSource:
    """Open a bag for replay. Raises BagError (naming the file and topic) when it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise BagError(path, "no such file or folder")
    options = BagReadOptions(
        color_topic,
        depth_topic,
        info_topic,
        depth_info_topic,
        FrameSelection(every_n, at_s),
        PairingConfig(pair_tolerance_s),
        color_T_depth,
        depth_aligned,
        depth_scale_m,
        require_depth,
        frame_id,
    )
    return BagSource(path, options)


def read_summary(path: str | PathLike[str]) -> BagSummary:
    """The bag's topics, counts and duration, without choosing topics (works on any bag)."""
    path = Path(path)
    if not path.exists():
        raise BagError(path, "no such file or folder")
    try:
        bag = RosbagsBag(path)
    except BagError:
        raise
    except Exception as error:
        raise unexpected(path, error) from error
    try:
        listing = bag.summary(peek_images=False)
        if listing.storage == "ros1" and is_realsense_summary(listing):
            return BagSource._realsense_summary(listing, RealSenseBag(path, listing))
        return bag.summary(peek_images=True)
    except BagError:
        raise
    except Exception as error:
        raise unexpected(path, error) from error
    finally:
        bag.close()
