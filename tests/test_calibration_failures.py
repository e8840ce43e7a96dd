"""A calibration that fails is never written, an earlier result is never destroyed, and output paths are
checked before the work starts (issue 14, item 2 and the "Arguments" class for `vla-r1 calibrate`).

Before: samples where the wrist barely rotates made OpenCV's Tsai method log a failure and return the
identity; the tool warned, wrote `x y z = 0, qw = 1` over a good earlier file and exited 0 (`--method
all` too). Intrinsics calibration computed its result and then lost it to IsADirectoryError.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation
from test_calibration_handeye import BASE_T_TARGET, EE_T_CAMERA, as_entries, make_samples

from calibration import SE3, CameraModel, NamedTransform
from calibration.handeye import HandEyeFailedError, HandEyeSample, calibrate_hand_eye, write_samples
from vla_r1_cli.main import main


def small_rotation_samples(max_deg: float, n: int = 10, seed: int = 0) -> list[HandEyeSample]:
    """Eye-in-hand samples whose wrist orientations differ by only a few degrees (exact target poses)."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n):
        rotation = Rotation.from_rotvec(rng.normal(0, np.radians(max_deg) / 2, 3)) * Rotation.from_rotvec([np.pi, 0, 0])
        base_T_ee = SE3(rotation.as_matrix(), [rng.uniform(0.3, 0.6), rng.uniform(-0.2, 0.2), rng.uniform(0.3, 0.6)])
        samples.append(HandEyeSample(base_T_ee, EE_T_CAMERA.inverse() @ base_T_ee.inverse() @ BASE_T_TARGET))
    return samples


@pytest.fixture()
def good_earlier_result(tmp_path):
    """A good hand-eye file from an earlier run, which a failed run must leave byte for byte."""
    out = tmp_path / "handeye.yaml"
    NamedTransform("tool0", "camera_color_optical_frame", EE_T_CAMERA).to_yaml(out, extra={"method": "park"})
    return out, out.read_bytes()


def hand_eye(samples_path, out, method: str, *extra: str) -> int:
    return main(
        [
            "calibrate",
            "hand-eye",
            "--samples",
            str(samples_path),
            "--setup",
            "eye-in-hand",
            "--method",
            method,
            "--out",
            str(out),
            *extra,
        ]
    )


def test_opencv_returning_its_identity_is_a_failure_not_a_result():
    # 4 degrees between wrist poses passes the motion check, yet OpenCV's Tsai gives up and returns I.
    with pytest.raises(HandEyeFailedError, match=r"tsai method failed.*identity.*larger rotations"):
        calibrate_hand_eye(small_rotation_samples(4.0), "eye-in-hand", "tsai")
    assert calibrate_hand_eye(small_rotation_samples(4.0), "eye-in-hand", "park").result.transform.allclose(
        EE_T_CAMERA, atol_m=1e-6, atol_rad=1e-6
    )


@pytest.mark.parametrize(
    "max_deg, method, reason",
    [
        (4.0, "tsai", "tsai method failed"),  # OpenCV's identity
        (0.5, "tsai", "barely rotates"),  # no motion pair rotates 2 degrees
        (0.5, "park", "barely rotates"),
        (0.5, "all", "barely rotates"),
    ],
)
def test_cli_failed_hand_eye_exits_1_and_keeps_the_earlier_file(
    tmp_path, capsys, good_earlier_result, max_deg, method, reason
):
    out, before = good_earlier_result
    samples_path = tmp_path / "samples.yaml"
    write_samples(samples_path, as_entries(small_rotation_samples(max_deg)))
    assert hand_eye(samples_path, out, method) == 1
    err = capsys.readouterr().err
    assert "calibration failed" in err and reason in err and f"{out} left as it was" in err
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_cli_inconsistent_hand_eye_is_refused_with_its_spread(tmp_path, capsys, good_earlier_result):
    out, before = good_earlier_result
    samples = make_samples("eye-in-hand", n=10, seed=1)
    cameras = [s.camera_T_target for s in samples]  # robot poses and images paired off by one
    shifted = [HandEyeSample(s.base_T_ee, c) for s, c in zip(samples, cameras[1:] + cameras[:1], strict=True)]
    samples_path = tmp_path / "samples.yaml"
    write_samples(samples_path, as_entries(shifted))
    for method in ("park", "all"):
        assert hand_eye(samples_path, out, method) == 1
        err = capsys.readouterr().err
        assert "does not fit the samples" in err and "mm RMS" in err
        assert out.read_bytes() == before
    # A user who knows better can widen the limits; the file is then replaced completely.
    assert hand_eye(samples_path, out, "park", "--max-spread-mm", "1e6", "--max-spread-deg", "180") == 0
    assert yaml.safe_load(out.read_text())["info"]["consistency"]["translation_rms_mm"] > 100


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_cli_hand_eye_spread_limits_must_be_positive(tmp_path, capsys, value):
    samples_path = tmp_path / "samples.yaml"
    write_samples(samples_path, as_entries(make_samples("eye-in-hand", n=5)))
    assert hand_eye(samples_path, tmp_path / "o.yaml", "park", "--max-spread-mm", value) == 2
    assert "--max-spread-mm must be a finite number > 0" in capsys.readouterr().err


def test_output_paths_are_checked_before_the_work(tmp_path, capsys):
    samples_path = tmp_path / "samples.yaml"
    write_samples(samples_path, as_entries(make_samples("eye-in-hand", n=5)))
    folder = tmp_path / "a_folder"
    folder.mkdir()
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    images = tmp_path / "images"  # no images: a check after the work would report those first
    images.mkdir()
    CameraModel(64, 48, np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]]), "none", np.zeros(0)).to_yaml(
        tmp_path / "camera.yaml"
    )
    board = ["--images", str(images), "--pattern", "chessboard", "--cols", "9", "--rows", "6", "--square", "0.025"]
    cases = [
        (
            ["calibrate", "hand-eye", "--samples", str(samples_path), "--setup", "eye-in-hand", "--out", str(folder)],
            "is a folder",
        ),
        (
            [
                "calibrate",
                "hand-eye",
                "--samples",
                str(samples_path),
                "--setup",
                "eye-in-hand",
                "--out",
                str(a_file / "handeye.yaml"),
            ],
            "is not a folder",
        ),
        (["calibrate", "intrinsics", *board, "--out", str(folder)], "is a folder"),
        (["calibrate", "intrinsics", *board, "--out", str(tmp_path / "missing" / "camera.yaml")], "does not exist"),
        (
            ["calibrate", "intrinsics", *board, "--out", str(tmp_path / "camera_out.yaml"), "--plot", str(folder)],
            "is a folder",
        ),
        (
            [
                "calibrate",
                "intrinsics",
                *board,
                "--out",
                str(tmp_path / "camera_out.yaml"),
                "--plot",
                str(tmp_path / "plot.txt"),
            ],
            "suffix",
        ),
        (
            ["calibrate", "target-poses", *board, "--camera", str(tmp_path / "camera.yaml"), "--out", str(folder)],
            "is a folder",
        ),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and ("--out" in err or "--plot" in err), (argv, err)
        assert "no images found" not in err
    assert not (tmp_path / "camera_out.yaml").exists()


def test_intrinsics_result_is_written_atomically_and_only_after_success(testdata, tmp_path, capsys):
    images = testdata / "chessboard_9x6"
    out, plot = tmp_path / "camera.yaml", tmp_path / "plot.png"
    out.write_text("earlier: result\n")
    board = ["--pattern", "chessboard", "--cols", "9", "--rows", "6", "--square", "0.025"]
    # a pattern that is not in the images: calibration fails, the earlier file stays
    assert (
        main(
            [
                "calibrate",
                "intrinsics",
                "--images",
                str(images),
                "--pattern",
                "chessboard",
                "--cols",
                "5",
                "--rows",
                "4",
                "--square",
                "0.025",
                "--out",
                str(out),
            ]
        )
        == 1
    )
    assert "nothing was written" in capsys.readouterr().err and out.read_text() == "earlier: result\n"
    assert (
        main(
            [
                "calibrate",
                "intrinsics",
                "--images",
                str(images / "left0*.jpg"),
                *board,
                "--out",
                str(out),
                "--plot",
                str(plot),
            ]
        )
        == 0
    )
    assert CameraModel.from_yaml(out).width == 640 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["camera.yaml", "plot.png"]  # no temporary files


def test_result_files_are_replaced_in_one_rename(tmp_path, monkeypatch, good_earlier_result):
    """Written to a temporary file first: a failure before the rename leaves the earlier file whole."""
    import os

    out, before = good_earlier_result

    def failing_replace(src, dst):
        raise OSError("power cut before the rename")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="power cut"):
        NamedTransform("tool0", "camera_color_optical_frame", SE3.identity()).to_yaml(out)
    with pytest.raises(OSError, match="power cut"):
        write_samples(out, as_entries(make_samples("eye-in-hand", n=3)))
    with pytest.raises(OSError, match="power cut"):
        CameraModel(64, 48, np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]]), "none", np.zeros(0)).to_yaml(out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["handeye.yaml"]


def test_out_may_not_replace_an_input_file(tmp_path, capsys):
    samples_path = tmp_path / "samples.yaml"
    write_samples(samples_path, as_entries(make_samples("eye-in-hand", n=5)))
    before = samples_path.read_bytes()
    assert hand_eye(samples_path, samples_path, "park") == 2
    assert "is the --samples input file" in capsys.readouterr().err and samples_path.read_bytes() == before
    camera = tmp_path / "camera.yaml"
    CameraModel(64, 48, np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]]), "none", np.zeros(0)).to_yaml(camera)
    assert (
        main(
            [
                "calibrate",
                "target-poses",
                "--images",
                str(tmp_path),
                "--pattern",
                "chessboard",
                "--cols",
                "9",
                "--rows",
                "6",
                "--square",
                "0.025",
                "--camera",
                str(camera),
                "--out",
                str(camera),
            ]
        )
        == 2
    )
    assert "is the --camera input file" in capsys.readouterr().err
