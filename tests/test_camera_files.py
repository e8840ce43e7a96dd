"""Camera files (issue 14, class "Camera files"): impossible numbers are refused and suspicious ones warned
about, each with the file and field named; INI files are recognised and read; CameraInfo errors name the
right field (a 4-coefficient plumb_bob is a problem of `d`, not `k`)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from calibration import CalibrationFileError, CameraModel
from calibration.errors import CalibrationFileWarning

K = np.array([[615.0, 0.0, 320.0], [0.0, 615.0, 240.0], [0.0, 0.0, 1.0]])
D = (0.1, -0.05, 0.001, -0.002, 0.01)

YAML = """image_width: {width}
image_height: 480
camera_name: cam
camera_matrix:
  rows: 3
  cols: 3
  data: [615, 0, {cx}, 0, 615, 240, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [{k1}, -0.05, 0.001, -0.002, 0.01]
rectification_matrix:
  rows: 3
  cols: 3
  data: [{r}]
projection_matrix:
  rows: 3
  cols: 4
  data: [615, 0, {cx}, 0, 0, 615, 240, 0, 0, 0, 1, 0]
{extra}"""

# camera_calibration_parsers' INI writer's layout, with its comment line and blank lines
INI = """# Camera intrinsics

[image]

width
640

height
480

[narrow_stereo]

camera matrix
615.00000 0.00000 320.00000
0.00000 615.00000 240.00000
0.00000 0.00000 1.00000

distortion
0.10000 -0.05000 0.00100 -0.00200 0.01000


rectification
1.00000 0.00000 0.00000
0.00000 1.00000 0.00000
0.00000 0.00000 1.00000

projection
615.00000 0.00000 320.00000 0.00000
0.00000 615.00000 240.00000 0.00000
0.00000 0.00000 1.00000 0.00000
"""


def camera_yaml(tmp_path, *, width=640, cx=320, k1=0.1, r="1, 0, 0, 0, 1, 0, 0, 0, 1", extra=""):
    path = tmp_path / "camera.yaml"
    path.write_text(YAML.format(width=width, cx=cx, k1=k1, r=r, extra=extra))
    return path


def info(**changes):
    data = {
        "width": 640,
        "height": 480,
        "distortion_model": "plumb_bob",
        "d": list(D),
        "k": K.ravel().tolist(),
        "r": np.eye(3).ravel().tolist(),
        "p": np.hstack([K, np.zeros((3, 1))]).ravel().tolist(),
    }
    data.update(changes)
    return data


def loads_silently(load):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationFileWarning)
        return load()


def test_a_good_file_and_message_load_without_warnings(tmp_path):
    camera = loads_silently(lambda: CameraModel.from_yaml(camera_yaml(tmp_path)))
    assert camera.width == 640 and camera.cx == 320
    assert loads_silently(lambda: CameraModel.from_camera_info(info())) == CameraModel(640, 480, K, "plumb_bob", D)


@pytest.mark.parametrize(
    "change, field, problem",
    [
        (dict(cx=900), "camera_matrix", "principal point (900, 240) px lies outside the 640x480 image"),
        (dict(cx=-3), "camera_matrix", "outside"),
        (dict(width=100000, cx=320), "image_width", "beyond any camera"),
        (dict(k1=1e6), "distortion_coefficients", "beyond any real lens"),
        (dict(r="1, 0, 0, 0, 1, 0, 0, 0, 5"), "rectification_matrix", "must be a rotation"),
    ],
)
def test_impossible_yaml_numbers_are_refused_naming_the_field(tmp_path, change, field, problem):
    path = camera_yaml(tmp_path, **change)
    with pytest.raises(CalibrationFileError, match=f"camera.yaml: field '{field}'") as caught:
        CameraModel.from_yaml(path)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    "change, field, problem",
    [
        (dict(k=[615.0, 0, 320, 0, 615, 900, 0, 0, 1]), "k", "outside the 640x480 image"),
        (dict(height=10**6), "height", "beyond any camera"),
        (dict(d=[0.1, 1e9, 0, 0, 0]), "d", "beyond any real lens"),
        (dict(d=[0.1, -0.05, 0.001, -0.002]), "d", "model 'plumb_bob' needs 5 coefficients, got 4"),
        (dict(d=[0.1] * 6), "d", "needs 5 coefficients, got 6"),
    ],
)
def test_impossible_camera_info_is_refused_naming_the_field(change, field, problem):
    with pytest.raises(CalibrationFileError, match=f"<camera_info>: field '{field}'") as caught:
        CameraModel.from_camera_info(info(**change))
    assert problem in str(caught.value)


def test_the_constructor_refuses_the_same_numbers():
    with pytest.raises(ValueError, match="principal point"):
        CameraModel(640, 480, np.array([[615.0, 0, 700], [0, 615, 240], [0, 0, 1]]), "none", np.zeros(0))
    with pytest.raises(ValueError, match="beyond any camera"):
        CameraModel(40000, 480, K, "none", np.zeros(0))
    with pytest.raises(ValueError, match="beyond any real lens"):
        CameraModel(640, 480, K, "plumb_bob", np.array([1e4, 0, 0, 0, 0]))


def test_a_stereo_rectification_is_warned_about(tmp_path):
    angle = np.radians(2.0)
    rotation = [np.cos(angle), 0, np.sin(angle), 0, 1, 0, -np.sin(angle), 0, np.cos(angle)]
    path = camera_yaml(tmp_path, r=", ".join(repr(float(v)) for v in rotation))
    with pytest.warns(CalibrationFileWarning, match=r"camera.yaml: field 'rectification_matrix': is a 2 deg rotation"):
        camera = CameraModel.from_yaml(path)
    assert camera.rectification is not None  # kept (round trip), not used
    with pytest.warns(CalibrationFileWarning, match="field 'r'"):
        CameraModel.from_camera_info(info(r=rotation))


def test_unknown_keys_are_warned_about(tmp_path):
    path = camera_yaml(tmp_path, extra="distortion_coeficients: [0, 0, 0, 0, 0]\nframe_rate: 30\n")
    with pytest.warns(CalibrationFileWarning, match="camera.yaml: field 'distortion_coeficients, frame_rate': unknown"):
        CameraModel.from_yaml(path)
    with pytest.warns(CalibrationFileWarning, match="<camera_info>: field 'kk': unknown"):
        CameraModel.from_camera_info(info(kk=[1]))


def test_a_distortion_that_folds_over_inside_the_image_is_warned_about(tmp_path):
    path = camera_yaml(tmp_path, k1=-5)  # strong barrel: the image corners map to no ray
    with pytest.warns(CalibrationFileWarning, match="field 'distortion_coefficients': the distortion has no ray"):
        CameraModel.from_yaml(path)


def test_an_ini_file_is_recognised_and_read(tmp_path):
    yaml_camera = CameraModel.from_yaml(camera_yaml(tmp_path))
    for name in ("camera.ini", "named_like_yaml.yaml"):
        path = tmp_path / name
        path.write_text(INI)
        camera = loads_silently(lambda path=path: CameraModel.from_file(path))
        assert camera.camera_name == "narrow_stereo" and camera.distortion_model == "plumb_bob"
        assert np.array_equal(camera.K, yaml_camera.K) and np.array_equal(camera.D, yaml_camera.D)
        assert camera.rectification is None and camera.projection is None  # identity and [K | 0]
    with pytest.raises(
        CalibrationFileError,
        match=r"named_like_yaml.yaml: field '\(format\)': this is a "
        "camera_calibration_parsers INI file, not YAML",
    ):
        CameraModel.from_yaml(tmp_path / "named_like_yaml.yaml")
    assert CameraModel.from_file(camera_yaml(tmp_path)) == yaml_camera  # YAML still goes to the YAML reader
    rational = tmp_path / "rational.ini"
    rational.write_text(INI.replace("0.10000 -0.05000 0.00100 -0.00200 0.01000", "0.1 -0.05 0.001 -0.002 0.01 0.2 0 0"))
    assert CameraModel.from_ini(rational).distortion_model == "rational_polynomial"


@pytest.mark.parametrize(
    "edit, field, problem",
    [
        (("distortion\n", "distortions\n"), "[narrow_stereo] distortion", "missing"),
        (("width\n640", "width\nwide"), "[image] width", "positive integer"),
        (
            ("0.00000 0.00000 1.00000\n\ndistortion", "0.00000 0.00000\n\ndistortion"),
            "camera matrix",
            "expected 3 numbers, got 2",
        ),
        (("0.10000 -0.05000 0.00100 -0.00200 0.01000", "0.1 -0.05 0.001 -0.002"), "distortion", "5 (plumb_bob) or 8"),
        (
            ("615.00000 0.00000 320.00000\n0.00000 615.00000 240", "615 0 900\n0.00000 615.00000 240"),
            "camera matrix",
            "principal point (900, 240)",
        ),
        (("[image]\n\nwidth\n640\n\nheight\n480\n", ""), "[image]", "missing"),
        (("0.00000 0.00000 1.00000\n\ndistortion", "0.00000 0.00000 nan\n\ndistortion"), "camera matrix", "finite"),
    ],
)
def test_broken_ini_files_name_the_field(tmp_path, edit, field, problem):
    path = tmp_path / "camera.ini"
    path.write_text(INI.replace(*edit, 1))
    with pytest.raises(CalibrationFileError) as caught:
        CameraModel.from_file(path)
    assert f"camera.ini: field '{field}'" in str(caught.value) and problem in str(caught.value)


def test_ini_lines_that_belong_to_no_key_are_warned_about(tmp_path):
    path = tmp_path / "camera.ini"
    path.write_text(INI.replace("[image]\n", "[image]\nexposure\n12\n"))
    with pytest.warns(CalibrationFileWarning, match=r"line\(s\) \[4, 5\] belong to no known key"):
        CameraModel.from_file(path)
