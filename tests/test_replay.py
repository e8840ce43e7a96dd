"""`vla-r1 replay` end to end: bag -> model (a local chat server or the tiny checkpoint) -> grounding
-> safety -> plan, and the files a user looks at afterwards."""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pytest
from chat_server import ChatServer
from PIL import Image

from vla_r1_cli.main import main


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    if importlib.util.find_spec("mujoco") is None:
        pytest.skip("the demo scene needs the 'sim' extra (mujoco)")
    from vla_r1_robot.sim.demo_scene import generate_demo_scene

    try:
        return generate_demo_scene(tmp_path_factory.mktemp("demo"), seed=1, n_frames=2)
    except RuntimeError as error:
        pytest.skip(f"MuJoCo offscreen rendering unavailable: {error}")


def box_answer(obj: dict) -> str:
    return (
        f"<think>the {obj['name']} is on the table</think> so, the answer is "
        f"<output>{json.dumps(obj['box_normalized'])}</output>"
    )


def read_results(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_replay_demo_scene_grounds_and_plans_the_answer(scene, testdata, tmp_path, capsys):
    obj = scene.ground_truth["objects"][0]
    out = tmp_path / "replay"
    with ChatServer(box_answer(obj)) as server:
        code = main(
            [
                "replay",
                str(scene.bag_path),
                "--instruction",
                f"pick up the {obj['name']}",
                "--task",
                "affordance",
                "--backend",
                "openai",
                "--server-url",
                server.url,
                "--urdf",
                str(testdata / "urdf_panda" / "panda.urdf"),
                "--tip",
                "panda_hand",
                "--dump-frames",
                "--out-bag",
                str(tmp_path / "viz"),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
    assert code == 0, capsys.readouterr().err
    results = read_results(out)
    assert len(results) == 2 and all(r["ok"] for r in results), results[0]["error"]
    first = results[0]
    assert first["action"]["normalized"] == obj["box_normalized"]
    grasp_point = np.asarray(first["targets"]["targets"][-1]["grasp_point_base_m"])  # pre-grasp first, grasp last
    assert np.linalg.norm(grasp_point - np.asarray(obj["top_centre_base_m"])) < 0.02
    assert first["plan"]["num_points"] >= 2 and first["plan"]["duration_s"] > 0
    assert {"model", "grounding", "safety", "planning"} <= set(first["timings_ms"])
    frame_dir = out / first["frame_dir"]
    depth_mm = np.asarray(Image.open(frame_dir / "depth_mm.png"))
    assert (
        depth_mm.dtype == np.uint16 and 500 < np.median(depth_mm[depth_mm > 0]) < 1000
    )  # camera ~0.78 m above the table
    report = (out / "report.html").read_text()
    assert "the red" in report or obj["name"] in report
    assert "targets.png" in report and (frame_dir / "targets.png").stat().st_size > 5000

    from vla_r1_robot.bags import read_summary

    topics = {t.name: t.count for t in read_summary(tmp_path / "viz").topics}
    assert topics == {"/vla_r1/overlay": 2, "/vla_r1/markers": 2}


def test_unsafe_target_is_an_outcome_not_a_crash(scene, tmp_path, capsys):
    obj = scene.ground_truth["objects"][0]
    config = tmp_path / "pipeline.yaml"
    config.write_text("safety:\n  min_z_m: 0.5\n")  # every table object is below 0.5 m
    out = tmp_path / "replay"
    with ChatServer(box_answer(obj)) as server:
        assert (
            main(
                [
                    "replay",
                    str(scene.bag_path),
                    "--instruction",
                    "pick it up",
                    "--task",
                    "affordance",
                    "--backend",
                    "openai",
                    "--server-url",
                    server.url,
                    "--config",
                    str(config),
                    "--at",
                    "0",
                    "--out",
                    str(out),
                    "--no-progress",
                ]
            )
            == 0
        )
    (result,) = read_results(out)
    assert result["failed_stage"] == "safety" and "0.5" in result["error"]
    assert result["plan"] is None and result["violations"]


def test_unparseable_answer_is_recorded_and_replay_goes_on(scene, tmp_path):
    out = tmp_path / "replay"
    with ChatServer("I cannot see anything.") as server:
        assert (
            main(
                [
                    "replay",
                    str(scene.bag_path),
                    "--instruction",
                    "pick it up",
                    "--task",
                    "trajectory",
                    "--backend",
                    "openai",
                    "--server-url",
                    server.url,
                    "--out",
                    str(out),
                    "--no-progress",
                ]
            )
            == 0
        )
    results = read_results(out)
    assert len(results) == 2 and all(r["failed_stage"] == "parse" for r in results)
    assert all((out / r["frame_dir"] / "overlay.png").exists() for r in results)


def test_d435_replays_the_same_in_all_three_formats(testdata, tiny_checkpoint, tmp_path):
    recordings = testdata / "realsense_d435"
    bags = [recordings / "d435_mcap", recordings / "d435_sqlite3"]
    if importlib.util.find_spec("pyrealsense2") is not None:
        bags.append(recordings / "single_depth_color_640x480.bag")
    answers = []
    for i, bag in enumerate(bags):
        out = tmp_path / f"r{i}"
        assert (
            main(
                [
                    "replay",
                    str(bag),
                    "--instruction",
                    "pick up the box",
                    "--task",
                    "affordance",
                    "--model",
                    str(tiny_checkpoint),
                    "--max-new-tokens",
                    "12",
                    "--dump-frames",
                    "--out",
                    str(out),
                    "--no-progress",
                ]
            )
            == 0
        )
        (result,) = read_results(out)
        color = np.asarray(Image.open(out / result["frame_dir"] / "color.png"))
        answers.append((result["raw_text"], result["failed_stage"], color.tobytes()))
    assert all(a == answers[0] for a in answers[1:])


@pytest.mark.parametrize("damage", ["no_images", "truncated", "missing"])
def test_unusable_bags_exit_2_naming_the_file(testdata, tiny_checkpoint, tmp_path, capsys, damage):
    source = testdata / "realsense_d435" / "d435_mcap"
    bag = tmp_path / "bag"
    if damage == "no_images":
        from calibration import SE3
        from vla_r1_robot.bags.writer import RgbdBagWriter

        with RgbdBagWriter(bag) as writer:
            writer.write_static_transforms([("base_link", "camera", SE3.identity())], 1.0)
    elif damage == "truncated":
        shutil.copytree(source, bag)
        mcap = bag / "d435_mcap.mcap"
        mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 3])
    code = main(
        [
            "replay",
            str(bag),
            "--instruction",
            "x",
            "--task",
            "affordance",
            "--model",
            str(tiny_checkpoint),
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    assert code == 2
    assert str(bag) in capsys.readouterr().err
