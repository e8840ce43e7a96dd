"""rosbag2 (sqlite3, MCAP; folder or single file) and plain ROS1 bags through ``rosbags``."""

from __future__ import annotations

import functools
import itertools
import math
import re
import sqlite3
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BagError
from .images import color_rgb_from_msg, depth_raw_from_msg
from .pairing import ImageRecord
from .summary import IMAGE_TYPE, BagSummary, TopicInfo

# Errors rosbags and its storage layers raise for damaged files (it has no common base class).
# MemoryError / OverflowError: a damaged length field declaring gigabytes; struct.error: a short record.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    KeyError,
    IndexError,
    EOFError,
    AssertionError,
    sqlite3.Error,
    struct.error,
    MemoryError,
    OverflowError,
)
try:  # rosbags reads sqlite3 bags through apsw when it is installed
    import apsw

    _READ_ERRORS += (apsw.Error,)
except ImportError:  # pragma: no cover
    pass
try:  # pragma: no branch - both exist in rosbags 0.11
    from rosbags.highlevel import AnyReaderError
    from rosbags.rosbag1 import ReaderError as Rosbag1Error
    from rosbags.rosbag2 import ReaderError as Rosbag2Error
    from rosbags.serde import SerdeError

    _READ_ERRORS += (AnyReaderError, Rosbag1Error, Rosbag2Error, SerdeError)
except ImportError:  # pragma: no cover
    pass


# What each container's files begin with: a file that does not is not that container (random bytes
# named .bag used to surface as a UTF-8 decode error from deep inside the reader).
MAGIC = {"mcap": b"\x89MCAP0\r\n", "sqlite3": b"SQLite format 3\x00", "ros1": b"#ROSBAG V2.0\n"}
_DESCRIPTION = {
    "mcap": "an MCAP file",
    "sqlite3": "an SQLite 3 database (rosbag2 sqlite3)",
    "ros1": "a ROS1 or RealSense bag (#ROSBAG V2.0)",
}


def _check_magic(path: Path, storage: str) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(len(MAGIC[storage]))
    except OSError as error:
        raise BagError(path, f"cannot read: {error}") from error
    if head != MAGIC[storage]:
        what = "empty" if not head else f"starts with {head[:16]!r}"
        raise BagError(path, f"not a readable bag: expected {_DESCRIPTION[storage]}, but the file is {what}")
    if storage == "mcap":  # an MCAP file also ends with its magic; without it the reader cannot find its records
        size = path.stat().st_size
        with path.open("rb") as handle:
            handle.seek(max(size - len(MAGIC["mcap"]), 0))
            tail = handle.read()
        if size < 2 * len(MAGIC["mcap"]) or tail != MAGIC["mcap"]:
            raise BagError(
                path,
                f"truncated MCAP file ({size} bytes): it does not end with the MCAP magic "
                "(a recording that was cut off or is still being written?)",
            )


def storage_of(path: Path) -> str:
    """'sqlite3' | 'mcap' | 'ros1' from the path (a rosbag2 folder says it in metadata.yaml);
    BagError when the path is not a bag of that kind."""
    if path.is_dir():
        metadata = path / "metadata.yaml"
        if metadata.is_file():
            # a regex, not a YAML parse: this runs on every open and the key is a plain scalar
            found = re.search(r"^\s*storage_identifier:\s*['\"]?(\w+)", metadata.read_text(errors="replace"), re.M)
            if found:
                return "mcap" if found.group(1) == "mcap" else "sqlite3"
        if any(path.glob("*.mcap")):
            return "mcap"
        if any(path.glob("*.db3")):
            return "sqlite3"
        raise BagError(
            path,
            "not a bag: a rosbag2 folder holds metadata.yaml and .mcap or .db3 files, this folder "
            f"has {'nothing' if not any(path.iterdir()) else 'none of them'}",
        )
    suffix = path.suffix.lower()
    storage = {".mcap": "mcap", ".db3": "sqlite3", ".bag": "ros1"}.get(suffix)
    if storage is None:
        raise BagError(path, "not a bag: expected a rosbag2 folder, a .mcap or .db3 file, or a ROS1/RealSense .bag")
    _check_magic(path, storage)
    return storage


@functools.cache
def ros2_typestore() -> Any:
    """The rosbags type store rosbag2 messages are decoded with, created once per process. rosbags'
    reader builds a new store on every open, and with it new generated deserializers (~10 ms for
    CameraInfo); this one keeps its deserializers from bag to bag."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


@functools.cache
def _shared_type_hash(msgtype: str) -> str | None:
    store = ros2_typestore()
    return store.hash_rihs01(msgtype) if msgtype in store.fielddefs else None


def _default_typestore(storage: str) -> Any:
    from rosbags.typesys import Stores, get_typestore

    # Message definitions missing from a bag (sqlite3 bags often have none) come from here.
    return get_typestore(Stores.ROS1_NOETIC) if storage == "ros1" else ros2_typestore()


@dataclass
class _PeekPass:
    """A pass over the bag begun to read first messages, kept so that the first ``images`` call can
    go on with it instead of reading the bag again (every pass re-reads and checksums its chunks)."""

    messages: Iterator[tuple[Any, int, Any]]
    image_topics: set[str]
    read: list[tuple[Any, int, Any]] = field(default_factory=list)  # (connection, bag time ns, raw)

    # Records that wait for ``images``: the first messages of all topics usually come within a few.
    MAX_READ = 64


def header_stamp_s(msg: Any) -> float:
    stamp = msg.header.stamp
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


class RosbagsBag:
    """An open bag read through rosbags. Every read error becomes a BagError naming file and topic."""

    def __init__(self, path: Path) -> None:
        from rosbags.highlevel import AnyReader

        self.path = path
        self.storage = storage_of(path)
        try:
            self._reader = AnyReader([path], default_typestore=_default_typestore(self.storage))
            self._reader.open()
        except _READ_ERRORS as error:
            raise BagError(path, f"cannot open ({self.storage}): {error}") from error
        self._first: dict[str, Any] = {}
        self._peek_pass: _PeekPass | None = None
        self._decoders: dict[str, Callable[[Any], Any]] = {}

    def close(self) -> None:
        self._drop_peek_pass()
        self._reader.close()

    def _drop_peek_pass(self) -> None:
        """Called before any other pass starts: some storages read on from the file position a
        suspended pass left, so two passes never interleave."""
        if self._peek_pass is not None:
            self._peek_pass.messages.close()  # type: ignore[attr-defined]
            self._peek_pass = None

    def connections(self, topic: str) -> list[Any]:
        return [c for c in self._reader.connections if c.topic == topic]

    def first_message(self, topic: str) -> Any | None:
        """The first message of a topic, deserialized (cached: CameraInfo, transforms, image peeks)."""
        if topic not in self._first:
            self._drop_peek_pass()
            self._first[topic] = None
            connections = self.connections(topic)
            try:
                for connection, _, raw in self._reader.messages(connections=connections):
                    self._first[topic] = self._deserialize(raw, connection.msgtype)
                    break
            except _READ_ERRORS as error:
                raise BagError(self.path, f"damaged message: {error}", topic=topic) from error
        return self._first[topic]

    def _deserialize(self, raw: Any, msgtype: str) -> Any:
        decode = self._decoders.get(msgtype)
        if decode is None:
            decode = self._decoders[msgtype] = self._decoder(msgtype)
        return decode(raw)

    def _decoder(self, msgtype: str) -> Callable[[Any], Any]:
        """rosbag2: the shared type store's deserializer when the bag defines ``msgtype`` as that
        store does (equal RIHS01 type hashes, the check rosbags' reader makes against a recording's
        hash); else, and for ROS1 bags, the reader's own store, built from the bag's definitions."""
        if self.storage != "ros1":
            from rosbags.typesys import TypesysError

            store, shared_hash = ros2_typestore(), _shared_type_hash(msgtype)
            try:
                same = shared_hash is not None and self._reader.typestore.hash_rihs01(msgtype) == shared_hash
            except (KeyError, AssertionError, TypesysError):  # a garbled definition: the reader reports it
                same = False
            if same:
                # a memoryview: slicing bytes would copy every image before decoding it
                return lambda raw: store.deserialize_cdr(memoryview(raw), msgtype)
        return lambda raw: self._reader.deserialize(raw, msgtype)

    def peek_first_messages(self, topics: list[str], keep_pass: bool = False) -> None:
        """Cache the first message of several topics in one pass (stops once all are seen).
        ``keep_pass``: keep that pass for the next ``images`` call to continue."""
        wanted = {t for t in topics if t not in self._first}
        if not wanted:
            return
        for topic in wanted:
            self._first[topic] = None
        connections = [c for c in self._reader.connections if c.topic in wanted]
        self._drop_peek_pass()
        peek = _PeekPass(
            self._reader.messages(connections=connections), {c.topic for c in connections if c.msgtype == IMAGE_TYPE}
        )
        topic = next(iter(wanted))
        try:
            for record in peek.messages:
                connection, _, raw = record
                topic = connection.topic
                if keep_pass and len(peek.read) < _PeekPass.MAX_READ:
                    peek.read.append(record)
                elif keep_pass:  # first messages far apart: not worth holding records for
                    keep_pass = False
                    peek.read.clear()
                if topic in wanted:
                    self._first[topic] = self._deserialize(raw, connection.msgtype)
                    wanted.discard(topic)
                    if not wanted:
                        break
        except _READ_ERRORS as error:
            raise BagError(self.path, f"damaged message: {error}", topic=topic) from error
        if keep_pass:
            self._peek_pass = peek
        else:
            peek.messages.close()  # type: ignore[attr-defined]

    def _messages(self, topics: set[str]) -> Iterator[tuple[Any, int, Any]]:
        """(connection, bag time ns, raw) of ``topics`` in bag order: the kept peek pass when it
        reads no other image topic (the records it read first, then the rest), else a new pass."""
        peek, self._peek_pass = self._peek_pass, None
        if peek is not None and peek.image_topics <= topics:
            return (record for record in itertools.chain(peek.read, peek.messages) if record[0].topic in topics)
        if peek is not None:
            peek.messages.close()  # type: ignore[attr-defined]
        return self._reader.messages(connections=[c for c in self._reader.connections if c.topic in topics])

    def all_messages(self, topic: str) -> Iterator[Any]:
        self._drop_peek_pass()
        try:
            for connection, _, raw in self._reader.messages(connections=self.connections(topic)):
                yield self._deserialize(raw, connection.msgtype)
        except _READ_ERRORS as error:
            raise BagError(self.path, f"damaged message: {error}", topic=topic) from error

    def summary(self, peek_images: bool = True) -> BagSummary:
        counts: dict[tuple[str, str], int] = {}
        for connection in self._reader.connections:
            key = (connection.topic, connection.msgtype)
            counts[key] = counts.get(key, 0) + connection.msgcount
        if peek_images:
            self.peek_first_messages(
                [name for (name, msgtype), count in counts.items() if msgtype == IMAGE_TYPE and count]
            )
        topics = []
        for (name, msgtype), count in counts.items():
            extra: dict[str, Any] = {}
            if msgtype == IMAGE_TYPE and count and peek_images:
                msg = self.first_message(name)
                if msg is not None:
                    extra = dict(
                        encoding=msg.encoding,
                        width=int(msg.width),
                        height=int(msg.height),
                        frame_id=msg.header.frame_id,
                    )
            topics.append(TopicInfo(name, msgtype, count, **extra))
        start_ns = self._reader.start_time if self._reader.message_count else 0
        duration_ns = self._reader.duration if self._reader.message_count else 0
        return BagSummary(str(self.path), self.storage, start_ns * 1e-9, max(duration_ns - 1, 0) * 1e-9, tuple(topics))

    def images(self, color_topic: str, depth_topic: str | None) -> Iterator[tuple[str, ImageRecord]]:
        """('color'|'depth', record) in bag order. Stamps are header stamps, or bag time for a
        topic whose first header stamp is 0 (some recorders leave stamps unset)."""
        kinds = {color_topic: "color"}
        if depth_topic is not None:
            kinds[depth_topic] = "depth"
        use_bag_time = {}
        for topic in kinds:
            first = self.first_message(topic)
            use_bag_time[topic] = first is None or header_stamp_s(first) == 0.0
        index = {topic: 0 for topic in kinds}
        topic = color_topic
        try:
            for connection, bag_time_ns, raw in self._messages(set(kinds)):
                topic = connection.topic
                msg = self._deserialize(raw, connection.msgtype)
                stamp_s = bag_time_ns * 1e-9 if use_bag_time[topic] else header_stamp_s(msg)
                kind = kinds[topic]
                decode = (
                    (lambda m=msg: color_rgb_from_msg(m)) if kind == "color" else (lambda m=msg: depth_raw_from_msg(m))
                )
                if not math.isfinite(stamp_s):
                    raise BagError(self.path, f"message {index[topic]} has a non-finite stamp", topic=topic)
                yield kind, ImageRecord(topic, index[topic], stamp_s, decode, msg.header.frame_id)
                index[topic] += 1
        except _READ_ERRORS as error:
            raise BagError(
                self.path, f"damaged message after {index[topic]} good ones: {error}", topic=topic
            ) from error
