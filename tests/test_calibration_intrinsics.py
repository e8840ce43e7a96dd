"""Intrinsics calibration on OpenCV's real chessboard set and on synthetic ChArUco views."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from calibration import SE3, CameraModel
from calibration.intrinsics import CalibrationFailedError, calibrate_intrinsics, find_images
from calibration.target import BoardSpec, render_board_view
from vla_r1_cli.main import main

CHESSBOARD = BoardSpec("chessboard", 9, 6, 0.025)


@pytest.fixture(scope="module")
def chessboard_result(testdata):
    images = find_images(testdata / "chessboard_9x6")
    assert len(images) == 13
    return calibrate_intrinsics(images, CHESSBOARD, fix_aspect_ratio=True)


def test_reproduces_opencv_reference_with_all_views(chessboard_result):
    camera, rms = chessboard_result.initial_camera, chessboard_result.initial_rms_px
    assert camera.fx == camera.fy == pytest.approx(535.9, abs=0.2)
    assert camera.cx == pytest.approx(342.3, abs=0.2) and camera.cy == pytest.approx(235.6, abs=0.2)
    assert rms == pytest.approx(0.39, abs=0.01)


def test_rejects_left02_and_says_why(chessboard_result):
    rejected = chessboard_result.rejected
    assert [v.name for v in rejected] == ["left02.jpg"]
    assert rejected[0].rms_px == pytest.approx(1.2, abs=0.05)
    assert "RMS 1.18 px > limit 1.00 px" in rejected[0].reason and "refinement window" in rejected[0].reason
    assert chessboard_result.rms_px < 0.25  # without it the remaining views fit to ~0.22 px
    assert chessboard_result.camera.fx == pytest.approx(534.0, abs=1.0)
    kept = [v for v in chessboard_result.views if not v.rejected]
    assert len(kept) == 12 and all(v.rms_px < 0.5 for v in kept)
    coverage = chessboard_result.coverage
    assert 0.5 < coverage.cells_covered < 0.9 and coverage.tilt_range_deg[1] > 30
    assert "of a 8x6 grid" in coverage.summary()


def test_too_few_detections_is_a_clear_failure(testdata):
    images = find_images(testdata / "chessboard_9x6")[:5]
    with pytest.raises(CalibrationFailedError, match="found in 0 of 5 images"):
        calibrate_intrinsics(images, BoardSpec("chessboard", 7, 7, 0.025))


def test_charuco_calibration_recovers_synthetic_intrinsics(tmp_path):
    import cv2

    truth = CameraModel(640, 480, np.array([[610.0, 0, 322.0], [0, 610.0, 236.0], [0, 0, 1]]), "none", np.zeros(0))
    board = BoardSpec("charuco", 7, 5, 0.04, 0.03, "DICT_4X4_50")
    rng = np.random.default_rng(7)
    for i in range(8):
        rotvec = rng.uniform(-0.6, 0.6, 3)
        rotvec[2] = rng.uniform(-0.3, 0.3)
        translation = [rng.uniform(-0.2, -0.06), rng.uniform(-0.15, -0.05), rng.uniform(0.55, 0.8)]
        cv2.imwrite(
            str(tmp_path / f"view{i}.png"), render_board_view(board, truth, SE3.from_rotvec(rotvec, translation))
        )
    result = calibrate_intrinsics(find_images(tmp_path), board, fix_aspect_ratio=True)
    assert len(result.views) == 8 and not result.rejected
    assert result.camera.fx == pytest.approx(610.0, rel=0.01)
    assert result.camera.cx == pytest.approx(322.0, abs=3) and result.camera.cy == pytest.approx(236.0, abs=3)
    assert result.rms_px < 0.5


def test_cli_intrinsics_writes_camera_yaml_and_plot(testdata, tmp_path, capsys):
    out, plot = tmp_path / "camera.yaml", tmp_path / "views.png"
    code = main(
        [
            "calibrate",
            "intrinsics",
            "--images",
            str(testdata / "chessboard_9x6" / "left*.jpg"),
            "--pattern",
            "chessboard",
            "--cols",
            "9",
            "--rows",
            "6",
            "--square",
            "0.025",
            "--fix-aspect-ratio",
            "--out",
            str(out),
            "--plot",
            str(plot),
            "--camera-name",
            "left",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "rejected left02.jpg: RMS 1.18 px" in text and "with all views: RMS 0.393 px, fx 535.92" in text
    assert "coverage: corners cover" in text
    camera = CameraModel.from_yaml(out)
    assert camera.camera_name == "left" and camera.fx == pytest.approx(534.0, abs=1.0)
    assert yaml.safe_load(out.read_text())["distortion_model"] == "plumb_bob"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_cli_intrinsics_bad_arguments(tmp_path, capsys):
    base = [
        "calibrate",
        "intrinsics",
        "--pattern",
        "chessboard",
        "--cols",
        "9",
        "--rows",
        "6",
        "--out",
        str(tmp_path / "c.yaml"),
    ]
    assert main(base + ["--images", str(tmp_path / "nothing"), "--square", "0.025"]) == 2
    assert "no images found" in capsys.readouterr().err
    (tmp_path / "broken.png").write_bytes(b"not a png")
    assert main(base + ["--images", str(tmp_path), "--square", "0.025"]) == 2
    assert "cannot read as an image" in capsys.readouterr().err
    assert main(base + ["--images", str(tmp_path), "--square", "25"]) == 2  # millimetres by mistake
    assert "square_m must be in (0, 1) metres" in capsys.readouterr().err
