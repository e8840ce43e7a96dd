"""Degenerate answers (a zero or near-zero box, a path that does not move) are refused at grounding
with a reason, so nothing is planned for them; the pipeline records it as an outcome."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_bag_source import write_rgbd
from test_grounding import BASE_T_CAMERA, HEIGHT, WIDTH, frame_of

from vla_r1_cli.main import main
from vla_r1_model.actions import Affordance, Trajectory
from vla_r1_robot.perception.grounding import GroundingError, ground


@pytest.fixture(scope="module")
def table_frame():
    return frame_of(np.full((HEIGHT, WIDTH), 1.0, np.float32))


@pytest.mark.parametrize("width, height", [(0.0, 0.0), (0.0, 0.2), (0.2, 0.0), (1e-4, 0.2), (0.2, 1e-6)])
def test_zero_or_near_zero_boxes_are_refused(table_frame, width, height):
    with pytest.raises(GroundingError, match=r"degenerate box: .* px .* at least 1 px on each side"):
        ground(table_frame, Affordance(0.5, 0.5, width, height), BASE_T_CAMERA)


def test_a_box_clipped_to_a_sliver_at_the_image_edge_is_refused(table_frame):
    with pytest.raises(GroundingError, match="degenerate box"):
        ground(table_frame, Affordance(1.0, 0.5, 0.001, 0.2), BASE_T_CAMERA)  # 0.3 px left inside the image


def test_small_real_boxes_and_paths_still_ground(table_frame):
    assert len(ground(table_frame, Affordance(0.5, 0.5, 2 / WIDTH, 2 / HEIGHT), BASE_T_CAMERA).targets) == 2
    path = ground(table_frame, Trajectory(((0.5, 0.5), (0.5, 0.5), (0.5 + 3 / WIDTH, 0.5))), BASE_T_CAMERA)
    assert path.kind == "path" and len(path.targets) >= 2


@pytest.mark.parametrize(
    "points",
    [
        ((0.4, 0.4), (0.4, 0.4)),
        ((0.3, 0.6),) * 10,
        ((0.5, 0.5), (0.5 + 1e-6, 0.5), (0.5, 0.5 + 1e-6)),
    ],
)
def test_trajectories_that_do_not_move_are_refused(table_frame, points):
    with pytest.raises(GroundingError, match=r"degenerate trajectory: all \d+ points lie within"):
        ground(table_frame, Trajectory(points), BASE_T_CAMERA)


@pytest.mark.parametrize(
    "task, answer, message",
    [
        ("affordance", '{"x": 0.5, "y": 0.5, "width": 0, "height": 0}', "degenerate box"),
        ("trajectory", "[[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]", "degenerate trajectory"),
    ],
)
def test_replay_records_a_degenerate_answer_as_a_grounding_failure(tmp_path, task, answer, message):
    bag = write_rgbd(tmp_path / "bag", n=1)
    out = tmp_path / "out"
    assert (
        main(
            [
                "replay",
                str(bag),
                "--instruction",
                "x",
                "--task",
                task,
                "--answer",
                f"<output>{answer}</output>",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    (result,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert result["failed_stage"] == "grounding" and message in result["error"]
    assert result["targets"] is None and result["plan"] is None
