"""Damaged bags see only the project's own errors: truncations at many offsets and bit flips in the
header, summary and payload of a bag written here and of the real D435 recordings (copied into
tmp_path). Seeded, so a failure reproduces; each case takes a second or two."""

from __future__ import annotations

import random
import shutil
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from test_bag_source import COLOR, DEPTH, INFO, small_camera

from calibration import SE3
from vla_r1_robot.bags import BagError, FrameError, open_bag
from vla_r1_robot.bags.writer import RgbdBagWriter


@pytest.fixture(scope="module")
def written_bags(tmp_path_factory) -> dict[str, Path]:
    """A small RGB-D bag with /tf_static in both rosbag2 storages."""
    out = {}
    for storage in ("mcap", "sqlite3"):
        path = tmp_path_factory.mktemp("fuzz") / f"written_{storage}"
        with RgbdBagWriter(path, storage=storage) as bag:
            bag.write_static_transforms([("base_link", "cam", SE3.from_rotvec([0.1, 0.2, 0.3], [0.4, 0.0, 0.7]))], 99.0)
            for i in range(3):
                t = 100.0 + 0.1 * i
                bag.write_camera_info(INFO, small_camera(), t, "cam")
                bag.write_image(COLOR, np.full((6, 8, 3), i, np.uint8), t, "cam")
                bag.write_image(DEPTH, np.full((6, 8), 1000 + i, np.uint16), t + 0.01, "cam")
        out[storage] = path
    return out


def read_everything(path: Path) -> str:
    """How reading ended: 'read', 'frame errors' or 'BagError'. Anything else propagates (the test fails)."""
    try:
        with open_bag(path) as source:
            items = list(source.frames(skip_bad_frames=True))
            source.static_transform("base_link", "cam")
    except BagError:
        return "BagError"
    return "frame errors" if any(isinstance(item, FrameError) for item in items) else "read"


def mcap_regions(data: bytes) -> dict[str, tuple[int, int]]:
    """[start, end) of the header (magic, header record, up to the first chunk), the summary
    (from the footer's summary_start to the end) and the payload between them."""
    summary_start = struct.unpack_from("<Q", data, len(data) - 8 - 29 + 9)[0]
    header_end = min(512, summary_start // 4)
    return {"header": (0, header_end), "payload": (header_end, summary_start), "summary": (summary_start, len(data))}


def sqlite_regions(data: bytes) -> dict[str, tuple[int, int]]:
    page = 4096  # the first page holds the database header and the schema
    return {"header": (0, min(page, len(data))), "payload": (min(page, len(data)), len(data))}


def fuzz(folder: Path, work: Path, counts: dict[str, int], seed: str) -> Counter:
    """Damage copies of the bag ``folder`` in ``work``; returns how each attempt ended."""
    (bag_file,) = [p for p in folder.iterdir() if p.suffix in (".mcap", ".db3")]
    original = bag_file.read_bytes()
    metadata = (folder / "metadata.yaml").read_bytes()
    regions = mcap_regions(original) if bag_file.suffix == ".mcap" else sqlite_regions(original)
    rng = random.Random(seed)
    endings: Counter = Counter()
    target = work / folder.name
    shutil.copytree(folder, target)
    target_file, target_metadata = target / bag_file.name, target / "metadata.yaml"
    target_file.chmod(0o644)
    target_metadata.chmod(0o644)

    def attempt(data: bytes, meta: bytes = metadata) -> None:
        target_file.write_bytes(data)
        target_metadata.write_bytes(meta)
        endings[read_everything(target)] += 1

    for offset in [0, 1, 7, 8, 9, 16, 40] + [rng.randrange(len(original)) for _ in range(counts.get("truncate", 0))]:
        attempt(original[:offset])
    for region in ("header", "summary", "payload"):
        if region not in regions:
            continue
        start, end = regions[region]
        for _ in range(counts.get(region, 0)):
            data = bytearray(original)
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(start, end)] ^= 1 << rng.randrange(8)
            attempt(bytes(data))
    for _ in range(counts.get("metadata", 0)):
        meta = bytearray(metadata)
        for _ in range(rng.randint(1, 3)):
            meta[rng.randrange(len(meta))] ^= 1 << rng.randrange(8)
        attempt(original, bytes(meta))
    return endings


@pytest.mark.parametrize(
    "storage, counts",
    [
        ("mcap", {"truncate": 30, "header": 40, "summary": 60, "payload": 20, "metadata": 12}),
        ("sqlite3", {"truncate": 30, "header": 40, "payload": 20, "metadata": 12}),
    ],
)
def test_a_damaged_written_bag_gives_only_bag_errors(written_bags, tmp_path, storage, counts):
    endings = fuzz(written_bags[storage], tmp_path, counts, seed=f"written-{storage}")
    assert endings["BagError"] > 0, endings  # the damage is noticed, not only survived
    assert set(endings) <= {"read", "frame errors", "BagError"}


@pytest.mark.parametrize(
    "name, counts",
    [
        ("d435_mcap", {"truncate": 25, "header": 30, "summary": 40, "payload": 10}),
        ("d435_sqlite3", {"truncate": 20, "header": 25, "payload": 8, "metadata": 8}),
    ],
)
def test_a_damaged_d435_recording_gives_only_bag_errors(testdata, tmp_path, name, counts):
    endings = fuzz(testdata / "realsense_d435" / name, tmp_path, counts, seed=name)
    assert endings["BagError"] > 0, endings
    assert set(endings) <= {"read", "frame errors", "BagError"}


def test_a_truncated_realsense_bag_gives_only_bag_errors(testdata, tmp_path):
    original = (testdata / "realsense_d435" / "single_depth_color_640x480.bag").read_bytes()
    rng = random.Random("realsense")
    endings: Counter = Counter()
    target = tmp_path / "recording.bag"
    for offset in [0, 8, 13, 100, 4096] + [rng.randrange(len(original)) for _ in range(15)]:
        target.write_bytes(original[:offset])
        endings[read_everything(target)] += 1
    assert set(endings) <= {"read", "frame errors", "BagError"} and endings["BagError"] > 0, endings
