"""Hand-eye calibration on synthetic poses with known ground truth and noise; samples files; CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from calibration import SE3, CalibrationFileError, NamedTransform
from calibration.handeye import (
    METHODS,
    HandEyeError,
    HandEyeFailedError,
    HandEyeSample,
    calibrate_hand_eye,
    calibrate_hand_eye_all,
    load_samples,
    write_samples,
)
from vla_r1_cli.main import main

EE_T_CAMERA = SE3.from_rotvec([0.05, -0.1, 1.5], [0.04, -0.03, 0.06])  # wrist camera
BASE_T_CAMERA = SE3.from_rotvec([2.2, 0.1, -0.3], [0.9, 0.3, 0.8])  # camera looking down at the table
BASE_T_TARGET = SE3.from_rotvec([0.0, 0.0, 0.4], [0.6, 0.0, 0.0])  # board on the table
EE_T_TARGET = SE3.from_rotvec([0.1, 0.0, 0.0], [0.0, 0.0, 0.1])  # board held by the gripper


def noisy(transform: SE3, rng, mm: float, deg: float) -> SE3:
    delta = SE3.from_rotvec(rng.normal(0, np.radians(deg), 3), rng.normal(0, mm / 1000, 3))
    return transform @ delta


def robot_poses(n: int, rng, *, single_axis: bool = False) -> list[SE3]:
    poses = []
    for _ in range(n):
        if single_axis:  # a SCARA-like robot: only rotations about base z
            rotation = Rotation.from_rotvec([0, 0, rng.uniform(-1, 1)]) * Rotation.from_rotvec([np.pi, 0, 0])
        else:
            rotation = Rotation.from_rotvec(rng.uniform(-0.5, 0.5, 3)) * Rotation.from_rotvec([np.pi, 0, 0])
        poses.append(SE3(rotation.as_matrix(), [rng.uniform(0.3, 0.6), rng.uniform(-0.2, 0.2), rng.uniform(0.3, 0.6)]))
    return poses


def make_samples(setup: str, n: int = 15, mm: float = 0.0, deg: float = 0.0, seed: int = 0, single_axis=False):
    rng = np.random.default_rng(seed)
    samples = []
    for base_T_ee in robot_poses(n, rng, single_axis=single_axis):
        if setup == "eye-in-hand":
            camera_T_target = EE_T_CAMERA.inverse() @ base_T_ee.inverse() @ BASE_T_TARGET
        else:
            camera_T_target = BASE_T_CAMERA.inverse() @ base_T_ee @ EE_T_TARGET
        samples.append(HandEyeSample(base_T_ee, noisy(camera_T_target, rng, mm, deg) if mm or deg else camera_T_target))
    return samples


def truth(setup: str) -> SE3:
    return EE_T_CAMERA if setup == "eye-in-hand" else BASE_T_CAMERA


def errors(result_transform: SE3, expected: SE3) -> tuple[float, float]:
    delta = expected.inverse() @ result_transform
    return float(np.linalg.norm(delta.translation) * 1000), delta.rotation_angle_deg()


@pytest.mark.parametrize("setup", ["eye-in-hand", "eye-to-hand"])
@pytest.mark.parametrize("method", list(METHODS))
def test_exact_samples_recover_ground_truth(setup, method):
    result = calibrate_hand_eye(make_samples(setup), setup, method)
    mm, deg = errors(result.result.transform, truth(setup))
    assert mm < 0.01 and deg < 0.001
    assert result.consistency.translation_max_mm < 0.01 and not result.warnings
    expected_parent = "tool0" if setup == "eye-in-hand" else "base_link"
    assert (result.result.parent_frame, result.result.child_frame) == (expected_parent, "camera_color_optical_frame")


@pytest.mark.parametrize("setup", ["eye-in-hand", "eye-to-hand"])
def test_noisy_samples_all_methods_close_and_consistency_reflects_noise(setup):
    samples = make_samples(setup, n=20, mm=1.0, deg=0.1, seed=3)
    results = calibrate_hand_eye_all(samples, setup).results
    assert set(results) == set(METHODS)
    for method, result in results.items():
        mm, deg = errors(result.result.transform, truth(setup))
        assert mm < 5.0 and deg < 0.3, (method, mm, deg)
        # 1 mm / 0.1 deg of target-pose noise shows up as millimetres of spread, not zero, not metres
        assert 0.3 < result.consistency.translation_rms_mm < 10.0, method
    clean = calibrate_hand_eye(make_samples(setup, n=20, seed=3), setup).consistency
    assert clean.translation_rms_mm < 0.01 < results["park"].consistency.translation_rms_mm


def test_consistency_exposes_a_wrong_result():
    samples = make_samples("eye-in-hand", n=10, seed=1)
    # A classic mistake: robot poses and images paired off by one. Every method still returns a
    # transform; the spread of the implied base_T_target (decimetres, tens of degrees) says it is wrong.
    cameras = [s.camera_T_target for s in samples]
    shifted = [HandEyeSample(s.base_T_ee, c) for s, c in zip(samples, cameras[1:] + cameras[:1], strict=True)]
    wrong = calibrate_hand_eye_all(shifted, "eye-in-hand", max_spread_mm=None, max_spread_deg=None)
    assert set(wrong.results) == set(METHODS)
    for result in wrong.results.values():
        assert result.consistency.translation_rms_mm > 100 and result.consistency.rotation_rms_deg > 10
    assert calibrate_hand_eye(samples, "eye-in-hand").consistency.translation_rms_mm < 0.01
    # With the default limits such a result is refused, by every method
    refused = calibrate_hand_eye_all(shifted, "eye-in-hand")
    assert not refused.results and set(refused.failures) == set(METHODS)
    assert all("does not fit the samples" in reason for reason in refused.failures.values())
    with pytest.raises(HandEyeFailedError, match="every method failed"):
        refused.best()


def test_fewer_than_three_samples_is_an_error():
    with pytest.raises(HandEyeError, match=r"at least 3 samples.*got 2"):
        calibrate_hand_eye(make_samples("eye-in-hand", n=2), "eye-in-hand")
    with pytest.raises(ValueError, match="setup"):
        calibrate_hand_eye(make_samples("eye-in-hand", n=5), "eye-on-hand")
    with pytest.raises(ValueError, match="method"):
        calibrate_hand_eye(make_samples("eye-in-hand", n=5), "eye-in-hand", "magic")


def test_rotations_about_one_axis_are_refused():
    # Why: some methods fit such samples perfectly (zero spread) yet put the camera far off along the
    # unobservable axis, so no method's result can be trusted.
    samples = make_samples("eye-to-hand", n=10, single_axis=True, seed=2)
    with pytest.raises(HandEyeFailedError, match=r"about one axis.*not constrained"):
        calibrate_hand_eye_all(samples, "eye-to-hand")
    for method in METHODS:
        with pytest.raises(HandEyeFailedError, match="about one axis"):
            calibrate_hand_eye(samples, "eye-to-hand", method)
    pure_translation = [HandEyeSample(SE3(np.eye(3), s.base_T_ee.translation), s.camera_T_target) for s in samples]
    with pytest.raises(HandEyeFailedError, match="barely rotates"):
        calibrate_hand_eye(pure_translation, "eye-to-hand", "park")
    assert not calibrate_hand_eye(make_samples("eye-to-hand", n=10), "eye-to-hand").warnings  # well-posed


def as_entries(samples):
    return [{"base_T_ee": s.base_T_ee, "camera_T_target": s.camera_T_target} for s in samples]


def test_samples_files_yaml_json_flat_and_rounded(tmp_path):
    samples = make_samples("eye-in-hand", n=4)
    path = tmp_path / "samples.yaml"
    write_samples(path, as_entries(samples))
    loaded = load_samples(path)
    assert all(
        a.base_T_ee.allclose(b.base_T_ee, atol_m=1e-12, atol_rad=1e-9) for a, b in zip(loaded, samples, strict=True)
    )
    # JSON, flat 16-number rows, 5 decimals, and a top-level {samples: [...]} all work
    data = {
        "samples": [
            {
                "base_T_ee": np.round(s.base_T_ee.matrix(), 5).ravel().tolist(),
                "camera_T_target": np.round(s.camera_T_target.matrix(), 5).tolist(),
            }
            for s in samples
        ]
    }
    json_path = tmp_path / "samples.json"
    json_path.write_text(json.dumps(data))
    assert len(load_samples(json_path)) == 4


GOOD = np.eye(4).tolist()
MALFORMED_SAMPLES = [
    ("not a list", "base_T_ee: 1\n", "(top level)", "expected a list"),
    ("entry not a mapping", "- 5\n", "[0]", "expected a mapping"),
    ("missing camera_T_target", yaml.safe_dump([{"base_T_ee": GOOD}]), "[0].camera_T_target", "missing"),
    ("missing base_T_ee", yaml.safe_dump([{"camera_T_target": GOOD}]), "[0].base_T_ee", "missing"),
    ("3x4 matrix", yaml.safe_dump([{"base_T_ee": GOOD[:3], "camera_T_target": GOOD}]), "[0].base_T_ee", "4x4"),
    (
        "ragged rows",
        yaml.safe_dump([{"base_T_ee": [[1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "camera_T_target": GOOD}]),
        "[0].base_T_ee",
        "4x4 matrix of numbers",
    ),
    (
        "text entry",
        yaml.safe_dump([{"base_T_ee": GOOD, "camera_T_target": [["a"] * 4] * 4}]),
        "[0].camera_T_target",
        "numbers",
    ),
    (
        "bad last row",
        yaml.safe_dump([{"base_T_ee": GOOD, "camera_T_target": GOOD[:3] + [[0, 0, 1, 1]]}]),
        "[0].camera_T_target",
        "last row",
    ),
    (
        "not a rotation",
        yaml.safe_dump(
            [{"base_T_ee": [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "camera_T_target": GOOD}]
        ),
        "[0].base_T_ee",
        "not orthonormal",
    ),
    (
        "reflection",
        yaml.safe_dump(
            [{"base_T_ee": GOOD, "camera_T_target": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, -1, 0], [0, 0, 0, 1]]}]
        ),
        "[0].camera_T_target",
        "negative determinant",
    ),
    (
        "second entry broken",
        yaml.safe_dump([{"base_T_ee": GOOD, "camera_T_target": GOOD}, {"base_T_ee": GOOD}]),
        "[1].camera_T_target",
        "missing",
    ),
    ("yaml syntax", "- base_T_ee: [[1, 0\n", "(syntax)", "not valid"),
]


@pytest.mark.parametrize("label, text, field, problem", MALFORMED_SAMPLES, ids=[m[0] for m in MALFORMED_SAMPLES])
def test_malformed_samples_files(tmp_path, label, text, field, problem):
    path = tmp_path / "samples.yaml"
    path.write_text(text)
    with pytest.raises(CalibrationFileError) as raised:
        load_samples(path)
    message = str(raised.value)
    assert str(path) in message and f"'{field}'" in message and problem in message


def test_malformed_json_and_missing_file(tmp_path):
    path = tmp_path / "samples.json"
    path.write_text("[{")
    with pytest.raises(CalibrationFileError, match="not valid JSON"):
        load_samples(path)
    with pytest.raises(CalibrationFileError, match="cannot read"):
        load_samples(tmp_path / "absent.json")


def test_cli_hand_eye_single_method_writes_publisher_yaml(tmp_path, capsys):
    samples_path, out = tmp_path / "samples.yaml", tmp_path / "handeye.yaml"
    write_samples(samples_path, as_entries(make_samples("eye-to-hand", n=12, mm=0.5, deg=0.05, seed=5)))
    code = main(
        [
            "calibrate",
            "hand-eye",
            "--samples",
            str(samples_path),
            "--setup",
            "eye-to-hand",
            "--method",
            "daniilidis",
            "--out",
            str(out),
            "--base-frame",
            "panda_link0",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "panda_link0_T_camera_color_optical_frame" in text and "consistency:" in text
    named = NamedTransform.from_yaml(out)
    assert named.parent_frame == "panda_link0" and named.child_frame == "camera_color_optical_frame"
    assert errors(named.transform, BASE_T_CAMERA)[0] < 3.0
    info = yaml.safe_load(out.read_text())["info"]
    assert info["method"] == "daniilidis" and info["samples"] == 12 and info["consistency"]["translation_rms_mm"] > 0


def test_cli_hand_eye_all_methods_table(tmp_path, capsys):
    samples_path, out = tmp_path / "samples.json", tmp_path / "handeye.yaml"
    samples = make_samples("eye-in-hand", n=8, mm=0.5, deg=0.05, seed=9)
    samples_path.write_text(
        json.dumps(
            [
                {"base_T_ee": s.base_T_ee.matrix().tolist(), "camera_T_target": s.camera_T_target.matrix().tolist()}
                for s in samples
            ]
        )
    )
    code = main(
        [
            "calibrate",
            "hand-eye",
            "--samples",
            str(samples_path),
            "--setup",
            "eye-in-hand",
            "--method",
            "all",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    for method in METHODS:
        assert f"\n{method} " in captured.out
    assert "the most consistent method" in captured.out
    assert yaml.safe_load(out.read_text())["info"]["warnings"] == []


def test_cli_hand_eye_errors_exit_2(tmp_path, capsys):
    path = tmp_path / "samples.yaml"
    write_samples(path, as_entries(make_samples("eye-in-hand", n=2)))
    args = [
        "calibrate",
        "hand-eye",
        "--samples",
        str(path),
        "--setup",
        "eye-in-hand",
        "--out",
        str(tmp_path / "o.yaml"),
    ]
    assert main(args) == 2
    assert "at least 3 samples" in capsys.readouterr().err
    path.write_text("- {base_T_ee: [1, 2, 3], camera_T_target: " + json.dumps(GOOD) + "}\n")
    assert main(args) == 2
    assert "'[0].base_T_ee'" in capsys.readouterr().err


def test_cli_target_poses_then_hand_eye(tmp_path, capsys):
    """Images of a ChArUco board seen by a wrist camera -> target poses -> hand-eye."""
    import cv2

    from calibration import CameraModel
    from calibration.target import BoardSpec, render_board_view

    camera = CameraModel(640, 480, np.array([[600.0, 0, 319.5], [0, 600.0, 239.5], [0, 0, 1]]), "none", np.zeros(0))
    camera.to_yaml(tmp_path / "camera.yaml")
    board = BoardSpec("charuco", 7, 5, 0.04, 0.03, "DICT_4X4_50")
    # board centred under the camera: place it so the rendered views keep it in frame
    base_T_target = SE3.from_rotvec([0, 0, 0], [0.45 - 0.14, -0.1, 0.0])
    rng = np.random.default_rng(11)
    images, robot = tmp_path / "images", {}
    images.mkdir()
    for i in range(6):
        camera_T_target = SE3.from_rotvec(
            rng.uniform(-0.35, 0.35, 3), [rng.uniform(-0.16, -0.1), rng.uniform(-0.12, -0.06), rng.uniform(0.55, 0.7)]
        )
        base_T_ee = base_T_target @ camera_T_target.inverse() @ EE_T_CAMERA.inverse()
        cv2.imwrite(str(images / f"shot{i}.png"), render_board_view(board, camera, camera_T_target))
        robot[f"shot{i}.png"] = base_T_ee.matrix().tolist()
    (tmp_path / "robot.yaml").write_text(yaml.safe_dump(robot))
    samples = tmp_path / "samples.yaml"
    code = main(
        [
            "calibrate",
            "target-poses",
            "--images",
            str(images),
            "--pattern",
            "charuco",
            "--cols",
            "7",
            "--rows",
            "5",
            "--square",
            "0.04",
            "--marker",
            "0.03",
            "--camera",
            str(tmp_path / "camera.yaml"),
            "--robot-poses",
            str(tmp_path / "robot.yaml"),
            "--out",
            str(samples),
        ]
    )
    assert code == 0 and "wrote 6 target poses" in capsys.readouterr().out
    entries = yaml.safe_load(samples.read_text())
    assert entries[0]["image"] == "shot0.png" and entries[0]["reprojection_rms_px"] < 0.5
    out = tmp_path / "handeye.yaml"
    assert main(["calibrate", "hand-eye", "--samples", str(samples), "--setup", "eye-in-hand", "--out", str(out)]) == 0
    mm, deg = errors(NamedTransform.from_yaml(out).transform, EE_T_CAMERA)
    assert mm < 3.0 and deg < 0.5
    # a robot-poses file that lacks an image is a usage error
    del robot["shot3.png"]
    (tmp_path / "robot.yaml").write_text(yaml.safe_dump(robot))
    assert (
        main(
            [
                "calibrate",
                "target-poses",
                "--images",
                str(images),
                "--pattern",
                "charuco",
                "--cols",
                "7",
                "--rows",
                "5",
                "--square",
                "0.04",
                "--marker",
                "0.03",
                "--camera",
                str(tmp_path / "camera.yaml"),
                "--robot-poses",
                str(tmp_path / "robot.yaml"),
                "--out",
                str(samples),
            ]
        )
        == 2
    )
    assert "no base_T_ee for image 'shot3.png'" in capsys.readouterr().err
