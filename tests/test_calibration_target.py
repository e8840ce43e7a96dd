"""camera_T_target from one synthetic image of a chessboard or ChArUco board with known pose."""

from __future__ import annotations

import numpy as np
import pytest

from calibration import SE3, CameraModel
from calibration.target import BoardSpec, camera_T_target, detect_board, render_board_view

CAMERA = CameraModel(640, 480, np.array([[600.0, 0, 319.5], [0, 600.0, 239.5], [0, 0, 1]]), "none", np.zeros(0))
BOARDS = {
    "chessboard": BoardSpec("chessboard", 9, 6, 0.025),
    "charuco": BoardSpec("charuco", 7, 5, 0.04, 0.03, "DICT_4X4_50"),
}
POSES = [
    SE3.from_rotvec([0.3, -0.2, 0.1], [-0.1, -0.07, 0.6]),
    SE3.from_rotvec([-0.25, 0.35, -0.2], [-0.12, -0.05, 0.7]),
]


@pytest.mark.parametrize("pattern", list(BOARDS))
@pytest.mark.parametrize("pose_index", [0, 1])
def test_recovers_known_pose(pattern, pose_index):
    board, truth = BOARDS[pattern], POSES[pose_index]
    image = render_board_view(board, CAMERA, truth)
    pose = camera_T_target(image, CAMERA, board)
    error = truth.inverse() @ pose.camera_T_target
    assert np.linalg.norm(error.translation) < 0.002  # 2 mm at 0.6-0.7 m
    assert error.rotation_angle_deg() < 0.3
    assert pose.reprojection_rms_px < 0.5
    assert pose.n_corners == (54 if pattern == "chessboard" else 24)


def test_pose_with_distortion_uses_the_model():
    # Render with a pinhole camera, then describe the image with a camera whose distortion is
    # not zero: the solver must use that model, so the pose comes out measurably different.
    board, truth = BOARDS["charuco"], POSES[0]
    image = render_board_view(board, CAMERA, truth)
    distorted = CameraModel(640, 480, CAMERA.K, "plumb_bob", np.array([-0.2, 0.05, 0, 0, 0]))
    exact = camera_T_target(image, CAMERA, board)
    skewed = camera_T_target(image, distorted, board)
    assert np.linalg.norm(exact.camera_T_target.translation - skewed.camera_T_target.translation) > 0.002
    assert skewed.reprojection_rms_px < 0.5  # self-consistent under its own model


def test_no_board_and_wrong_sizes():
    blank = np.full((480, 640), 128, np.uint8)
    assert detect_board(blank, BOARDS["chessboard"]) is None
    with pytest.raises(ValueError, match="no 9x6 chessboard found"):
        camera_T_target(blank, CAMERA, BOARDS["chessboard"])
    with pytest.raises(ValueError, match="image is 640x480 but the camera model is 320x240"):
        camera_T_target(
            render_board_view(BOARDS["charuco"], CAMERA, POSES[0]), CAMERA.scaled(320, 240), BOARDS["charuco"]
        )
    with pytest.raises(ValueError, match="marker_m"):
        BoardSpec("charuco", 7, 5, 0.04)
    with pytest.raises(ValueError, match="dictionary"):
        BoardSpec("charuco", 7, 5, 0.04, 0.03, "DICT_NOPE")
    with pytest.raises(ValueError, match="pattern"):
        BoardSpec("circles", 7, 5, 0.04)


def test_real_chessboard_pose_is_plausible(testdata):
    import cv2

    camera = CameraModel(
        640,
        480,
        np.array([[535.9, 0, 342.3], [0, 535.9, 235.6], [0, 0, 1]]),
        "plumb_bob",
        np.array([-0.266, -0.039, 0.0018, -0.0003, 0.239]),
    )
    image = cv2.imread(str(testdata / "chessboard_9x6" / "left01.jpg"), cv2.IMREAD_GRAYSCALE)
    pose = camera_T_target(image, camera, BOARDS["chessboard"])
    assert pose.reprojection_rms_px < 0.5
    assert 0.2 < np.linalg.norm(pose.camera_T_target.translation) < 0.8  # a hand-held board
