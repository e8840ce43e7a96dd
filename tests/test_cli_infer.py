import json

import numpy as np
import pytest
from chat_server import ChatServer
from PIL import Image

from vla_r1_cli.main import main

BOX_ANSWER = (
    "<think>the broccoli is in the middle</think> so, the answer is "
    '<output>{"x": 0.5, "y": 0.5, "width": 0.25, "height": 0.5}</output>'
)
PATH_ANSWER = "<think>go right</think><output>[[0.1, 0.5], [0.5, 0.5], [0.9, 0.2]]</output>"


@pytest.fixture()
def frame_path(tmp_path):
    path = tmp_path / "frame.png"
    Image.new("RGB", (160, 120), (40, 40, 40)).save(path)
    return path


def run_json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_infer_json_on_tiny_checkpoint_unparseable_exit_3(tiny_checkpoint, frame_path, capsys):
    code, result = run_json(
        capsys,
        [
            "infer",
            "--model",
            str(tiny_checkpoint),
            "--image",
            str(frame_path),
            "--instruction",
            "pick up the cup",
            "--task",
            "affordance",
            "--max-new-tokens",
            "8",
            "--json",
        ],
    )
    assert code == 3
    assert result["action"] is None and "no <output>" in result["error"]
    assert set(result) >= {"raw_text", "reasoning", "action", "error", "timings"}
    assert result["timings"]["generated_tokens"] == 8


def test_infer_over_server_json_and_overlay(frame_path, tmp_path, capsys):
    overlay = tmp_path / "overlay.png"
    with ChatServer(BOX_ANSWER) as server:
        code, result = run_json(
            capsys,
            [
                "infer",
                "--backend",
                "openai",
                "--server-url",
                server.url,
                "--model",
                "vla-r1",
                "--image",
                str(frame_path),
                "--instruction",
                "pick up the broccoli",
                "--task",
                "affordance",
                "--json",
                "--overlay",
                str(overlay),
            ],
        )
    assert code == 0 and result["error"] is None
    assert result["action"]["normalized"] == {"x": 0.5, "y": 0.5, "width": 0.25, "height": 0.5}
    assert result["action"]["corners_pixels"] == [60.0, 30.0, 100.0, 90.0]
    assert result["reasoning"] == "the broccoli is in the middle"
    drawn = np.asarray(Image.open(overlay))
    plain = np.asarray(Image.open(frame_path))
    assert drawn.shape == plain.shape
    assert (drawn[60, 60] != plain[60, 60]).any()  # left edge of the box is drawn
    assert (drawn[110, 10] == plain[110, 10]).all()  # far from the box and caption: untouched


def test_infer_text_output_for_a_trajectory(frame_path, tmp_path, capsys):
    overlay = tmp_path / "path.png"
    with ChatServer(PATH_ANSWER) as server:
        code = main(
            [
                "infer",
                "--backend",
                "openai",
                "--server-url",
                server.url,
                "--image",
                str(frame_path),
                "--instruction",
                "move right",
                "--task",
                "trajectory",
                "--overlay",
                str(overlay),
            ]
        )
    out = capsys.readouterr().out
    assert code == 0
    assert "reasoning: go right" in out and "[[16.0, 60.0], [80.0, 60.0], [144.0, 24.0]]" in out
    drawn = np.asarray(Image.open(overlay)).astype(int)
    assert np.abs(drawn - np.asarray(Image.open(frame_path)).astype(int)).sum(axis=2)[55:66, 20:140].any()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--image", "/no/such.png", "--instruction", "x", "--task", "affordance"], "cannot read image"),
        (["--instruction", "x", "--task", "affordance", "--backend", "openai"], "needs --server-url"),
        (["--instruction", "x", "--task", "affordance", "--model", "/no/such/model"], "does not exist"),
    ],
)
def test_bad_arguments_exit_2(frame_path, capsys, argv, message):
    if "--image" not in argv:
        argv = ["--image", str(frame_path), *argv]
    assert main(["infer", *argv]) == 2
    assert message in capsys.readouterr().err


def test_unreachable_server_exit_1_names_url(frame_path, capsys):
    from test_openai_backend import free_port

    url = f"http://127.0.0.1:{free_port()}"
    code = main(
        [
            "infer",
            "--backend",
            "openai",
            "--server-url",
            url,
            "--timeout",
            "2",
            "--image",
            str(frame_path),
            "--instruction",
            "x",
            "--task",
            "affordance",
        ]
    )
    assert code == 1 and url in capsys.readouterr().err


def test_argparse_rejects_unknown_task(frame_path):
    with pytest.raises(SystemExit) as exc:
        main(["infer", "--image", str(frame_path), "--instruction", "x", "--task", "grasp"])
    assert exc.value.code == 2


def test_fixed_answer_skips_the_model(frame_path, capsys):
    code, result = run_json(
        capsys,
        [
            "infer",
            "--answer",
            PATH_ANSWER,
            "--model",
            "/no/such/model",
            "--image",
            str(frame_path),
            "--instruction",
            "move",
            "--task",
            "trajectory",
            "--json",
        ],
    )
    assert code == 0 and result["action"]["points_pixels"][0] == [16.0, 60.0]
    assert result["model"] == "(fixed answer)"  # never claims a model that did not run
    assert (
        main(["infer", "--answer", " ", "--image", str(frame_path), "--instruction", "x", "--task", "affordance"]) == 2
    )


@pytest.mark.parametrize(
    "target, message",
    [
        ("a_folder", "--overlay {tmp}/a_folder is a folder"),
        ("overlay.txt", "format comes from its suffix"),
        ("a_file/overlay.png", "cannot create its folder"),
    ],
)
def test_overlay_path_is_checked_before_the_model_runs(frame_path, tmp_path, capsys, target, message):
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    code = main(
        [
            "infer",
            "--answer",
            PATH_ANSWER,
            "--image",
            str(frame_path),
            "--instruction",
            "move",
            "--task",
            "trajectory",
            "--overlay",
            str(tmp_path / target),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2 and message.format(tmp=tmp_path) in captured.err
    assert "reasoning" not in captured.out  # nothing ran


def test_overlay_is_written_whole(frame_path, tmp_path):
    from PIL import Image

    out = tmp_path / "new" / "overlay.jpg"
    assert (
        main(
            [
                "infer",
                "--answer",
                PATH_ANSWER,
                "--image",
                str(frame_path),
                "--instruction",
                "move",
                "--task",
                "trajectory",
                "--overlay",
                str(out),
            ]
        )
        == 0
    )
    with Image.open(out) as picture:
        assert picture.format == "JPEG"
    assert [p.name for p in out.parent.iterdir()] == ["overlay.jpg"]
