"""`vla-r1 replay` on bad input: bad images, damaged containers, bad /tf_static, bad arguments and
output folders. Each ends with a clear message and the documented exit code, never a traceback, and
an earlier run in the output folder is never mixed with or lost to a new one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from test_bag_source import COLOR, DEPTH, INFO, small_camera, write_rgbd

from vla_r1_cli.main import main
from vla_r1_robot.bags import BagError, FrameError, open_bag
from vla_r1_robot.bags.writer import RgbdBagWriter

ANSWER = '<think>the box</think> so, the answer is <output>{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}</output>'


def write_with_bad_images(path: Path, bad: dict[int, dict], n: int = 4, quaternion=None) -> Path:
    """An RGB-D bag whose color message i gets the fields in ``bad[i]`` (step, data, encoding, ...)."""
    with RgbdBagWriter(path) as bag:
        types = bag._typestore.types
        if quaternion is not None:
            stamped = types["geometry_msgs/msg/TransformStamped"](
                header=bag._header(99.0, "base_link"),
                child_frame_id="cam",
                transform=types["geometry_msgs/msg/Transform"](
                    translation=types["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.5),
                    rotation=types["geometry_msgs/msg/Quaternion"](
                        x=quaternion[0], y=quaternion[1], z=quaternion[2], w=quaternion[3]
                    ),
                ),
            )
            bag.write(
                "/tf_static", "tf2_msgs/msg/TFMessage", types["tf2_msgs/msg/TFMessage"](transforms=[stamped]), 99.0
            )
        for i in range(n):
            t = 100.0 + 0.1 * i
            bag.write_camera_info(INFO, small_camera(), t, "cam")
            pixels = np.full((6, 8, 3), 100 + i, np.uint8)
            fields = dict(height=6, width=8, encoding="rgb8", is_bigendian=0, step=24, data=pixels.reshape(-1))
            fields.update(bad.get(i, {}))
            msg = types["sensor_msgs/msg/Image"](header=bag._header(t, "cam"), **fields)
            bag.write(COLOR, "sensor_msgs/msg/Image", msg, t)
            bag.write_image(DEPTH, np.full((6, 8), 800, np.uint16), t + 0.01, "cam")
    return path


def replay(bag: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "replay",
            str(bag),
            "--instruction",
            "pick up the box",
            "--task",
            "affordance",
            "--answer",
            ANSWER,
            "--out",
            str(out),
            "--no-progress",
            *extra,
        ]
    )


def results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


BAD_FIELDS = {
    "step": ({"step": 10}, "field step"),
    "data": ({"data": np.zeros(100, np.uint8)}, "field data"),
    "encoding": ({"encoding": "16UC1", "step": 16}, "field encoding"),
    "size": ({"width": 4, "step": 12, "data": np.zeros(72, np.uint8)}, "4x6"),
}


# --- images ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["step", "data", "size"])  # a first encoding decides which topic is color
def test_a_bad_first_image_exits_2_naming_file_topic_and_field(tmp_path, capsys, kind):
    fields, named = BAD_FIELDS[kind]
    bag = write_with_bad_images(tmp_path / "bag", {0: fields})
    assert replay(bag, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert str(bag) in err and COLOR in err and named in err
    assert not (tmp_path / "out").exists()


def test_bad_later_images_are_recorded_and_the_replay_goes_on(tmp_path, capsys):
    bag = write_with_bad_images(
        tmp_path / "bag", {1: BAD_FIELDS["data"][0], 2: BAD_FIELDS["encoding"][0], 3: BAD_FIELDS["size"][0]}, n=5
    )
    out = tmp_path / "out"
    assert replay(bag, out) == 0, capsys.readouterr().err
    lines = results(out)
    assert [r["failed_stage"] == "bag" for r in lines] == [False, True, True, True, False]
    assert "width x height are 4x6" in lines[3]["error"]
    assert "field data" in lines[1]["error"] and "field encoding" in lines[2]["error"] and COLOR in lines[1]["error"]
    assert lines[1]["frame_dir"] is None and lines[1]["stamp_s"] == pytest.approx(100.1)
    report = (out / "report.html").read_text()
    assert "field data" in report and "field encoding" in report


def test_the_library_raises_a_frame_error_unless_asked_to_skip(tmp_path):
    bag = write_with_bad_images(tmp_path / "bag", {1: {"step": 3}}, n=3)
    with (
        open_bag(bag) as source,
        pytest.raises(FrameError, match=rf"{bag}: topic {COLOR}: color message 1: field step"),
    ):
        list(source)
    with open_bag(bag) as source:
        items = list(source.frames(skip_bad_frames=True))
    assert [type(item).__name__ for item in items] == ["Frame", "FrameError", "Frame"]
    assert items[1].index == 1


# --- containers and transforms -------------------------------------------------------------------------
def test_an_eight_byte_mcap_exits_2_naming_the_file(tmp_path, capsys):
    bag = tmp_path / "short.mcap"
    bag.write_bytes(b"\x89MCAP0\r\n")
    assert replay(bag, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert str(bag) in err and "truncated MCAP file (8 bytes)" in err


def test_random_bytes_named_bag_say_it_is_not_a_bag(tmp_path):
    bag = tmp_path / "random.bag"
    bag.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    with pytest.raises(BagError, match=r"not a readable bag: expected a ROS1 or RealSense bag") as error:
        open_bag(bag)
    assert "decode" not in str(error.value)


@pytest.mark.parametrize("suffix", [".mcap", ".db3"])
def test_a_file_of_another_kind_says_what_was_expected(tmp_path, suffix):
    bag = tmp_path / f"notes{suffix}"
    bag.write_text("just some text\n")
    with pytest.raises(BagError, match=r"not a readable bag: expected"):
        open_bag(bag)


def test_an_empty_folder_is_not_a_bag(tmp_path):
    with pytest.raises(BagError, match=rf"{tmp_path}: not a bag"):
        open_bag(tmp_path)


@pytest.mark.parametrize("quaternion", [(0.0, 0.0, 0.0, 0.0), (float("nan"), 0.0, 0.0, 1.0)], ids=["zero", "nan"])
def test_a_bad_tf_static_quaternion_exits_2_naming_the_file(tmp_path, capsys, quaternion):
    bag = write_with_bad_images(tmp_path / "bag", {}, n=2, quaternion=quaternion)
    assert replay(bag, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert str(bag) in err and "/tf_static" in err and "quaternion" in err.lower()


def test_float_depth_is_described_in_metres(tmp_path):
    bag = tmp_path / "bag"
    with RgbdBagWriter(bag) as writer:
        writer.write_camera_info(INFO, small_camera(), 1.0, "cam")
        writer.write_image(COLOR, np.zeros((6, 8, 3), np.uint8), 1.0, "cam")
        writer.write_image(DEPTH, np.full((6, 8), 0.8, np.float32), 1.0, "cam")
    with open_bag(bag) as source:
        described = source.describe()
    assert "32FC1 float metres" in described and "uint16" not in described
    with open_bag(write_rgbd(tmp_path / "bag16")) as source:
        assert "16UC1 unit 0.001 m" in source.describe()


# --- arguments ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (["--pair-tolerance", "-0.1"], "--pair-tolerance must be"),
        (["--pair-tolerance", "nan"], "--pair-tolerance must be"),
        (["--at", "-1"], "--at must be"),
        (["--at", "nan"], "--at must be"),
        (["--at", "inf"], "--at must be"),
        (["--color-topic", "camera/color/image_raw"], "--color-topic must be an absolute topic name"),
        (["--every", "0"], "--every must be"),
    ],
)
def test_bad_arguments_exit_2_before_reading(tmp_path, capsys, args, message):
    bag = write_rgbd(tmp_path / "bag")
    assert replay(bag, tmp_path / "out", *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_output_paths_that_are_files_or_unwritable_exit_2_before_work(tmp_path, capsys):
    bag = write_rgbd(tmp_path / "bag")
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    assert replay(bag, a_file) == 2
    assert "is a file" in capsys.readouterr().err and a_file.read_text() == "keep me"
    assert replay(bag, tmp_path / "out", "--out-bag", str(a_file)) == 2
    assert "--out-bag" in capsys.readouterr().err
    assert replay(bag, a_file / "sub") == 2  # a file where a parent folder should be
    assert "not a folder" in capsys.readouterr().err
    assert replay(bag, tmp_path / "same", "--out-bag", str(tmp_path / "same")) == 2
    assert "itself" in capsys.readouterr().err
    assert replay(bag, bag, "--overwrite") == 2  # would replace the recording itself
    assert "overlaps the bag" in capsys.readouterr().err and (bag / "metadata.yaml").exists()
    assert replay(bag, tmp_path, "--overwrite") == 2  # a folder holding the recording
    assert "overlaps the bag" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            assert replay(bag, locked / "out") == 2
            assert "not writable" in capsys.readouterr().err
        finally:
            locked.chmod(0o700)
    assert replay(bag, tmp_path / "out", "--base-T-camera", str(tmp_path)) == 2
    assert "is a folder" in capsys.readouterr().err


# --- the output folder rule ---------------------------------------------------------------------------------
def test_a_non_empty_output_folder_is_refused_without_overwrite(tmp_path, capsys):
    bag = write_rgbd(tmp_path / "bag", n=3)
    out = tmp_path / "out"
    assert replay(bag, out) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert replay(bag, out, "--every", "2") == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--overwrite" in err
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_overwrite_replaces_the_whole_run_never_a_mixture(tmp_path):
    bag = write_rgbd(tmp_path / "bag", n=4)
    out = tmp_path / "out"
    assert replay(bag, out) == 0
    assert sorted(p.name for p in out.glob("frame_*")) == [f"frame_{i:05d}" for i in range(4)]
    assert replay(bag, out, "--every", "3", "--overwrite") == 0
    assert sorted(p.name for p in out.glob("frame_*")) == ["frame_00000", "frame_00001"]  # no frame_00002/3 left over
    assert len(results(out)) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folders left


def test_a_run_that_fails_midway_keeps_the_earlier_run(tmp_path, capsys, monkeypatch):
    bag = write_rgbd(tmp_path / "bag", n=4)
    out = tmp_path / "out"
    assert replay(bag, out) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    from vla_r1_robot.bags.source import BagSource

    real_frames = BagSource.frames

    def breaks_after_two(self, skip_bad_frames=False):
        for n, item in enumerate(real_frames(self, skip_bad_frames)):
            if n == 2:
                raise BagError(self.path, "damaged message after 2 good ones", topic=COLOR)
            yield item

    monkeypatch.setattr(BagSource, "frames", breaks_after_two)
    assert replay(bag, out, "--overwrite") == 2
    assert "earlier run in this folder (and --out-bag) is kept" in capsys.readouterr().err
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # Into a new folder the partial run is kept, with the error in its report.
    fresh = tmp_path / "fresh"
    assert replay(bag, fresh) == 2
    assert len(results(fresh)) == 2 and "damaged message" in (fresh / "report.html").read_text()


def test_out_bag_is_staged_too(tmp_path):
    bag = write_rgbd(tmp_path / "bag", n=2)
    viz = tmp_path / "viz"
    assert replay(bag, tmp_path / "out", "--out-bag", str(viz)) == 0
    assert (viz / "metadata.yaml").exists()
    assert replay(bag, tmp_path / "out2", "--out-bag", str(viz)) == 2  # not empty, no --overwrite
    assert replay(bag, tmp_path / "out2", "--out-bag", str(tmp_path / "out2" / "viz")) == 0  # inside --out
    assert (tmp_path / "out2" / "viz" / "metadata.yaml").exists()


def test_live_checks_its_output_folder_and_files_before_the_camera_starts(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.jsonl").write_text("earlier\n")
    base = ["live", "--camera", "realsense", "--instruction", "x", "--task", "affordance", "--answer", ANSWER]
    assert main([*base, "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err and (out / "results.jsonl").read_text() == "earlier\n"
    assert main([*base, "--config", str(tmp_path)]) == 2
    assert "--config" in capsys.readouterr().err
    recording = tmp_path / "rec.bag"
    recording.write_bytes(b"#ROSBAG V2.0\n")
    assert main([*base, "--bag", str(recording), "--out", str(tmp_path), "--overwrite"]) == 2
    assert "overlaps the recording" in capsys.readouterr().err and recording.exists()
