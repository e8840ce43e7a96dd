"""CameraModel construction and I/O: ROS YAML, CameraInfo mappings, RealSense names, errors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from calibration import CalibrationFileError, CameraModel

K = np.array([[600.0, 0.0, 320.5], [0.0, 601.25, 240.75], [0.0, 0.0, 1.0]])


def make_camera(model: str = "plumb_bob", D=(0.1, -0.05, 0.001, -0.002, 0.01), **kwargs) -> CameraModel:
    return CameraModel(640, 480, K, model, np.array(D, dtype=float), **kwargs)


def test_real_camera_info_file(testdata):
    path = testdata / "camera_info" / "test_calibration.yaml"
    camera = CameraModel.from_yaml(path)
    assert (camera.width, camera.height, camera.camera_name) == (640, 480, "08144361026320a0")
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (1168.68, 1169.01, 295.015, 252.247)
    assert camera.distortion_model == "plumb_bob"
    assert camera.D.tolist() == [-1.04482, 1.59252, -0.0196308, 0.0287906, 0.0]
    # Writing it back reproduces the file byte for byte (the source has no trailing newline).
    assert camera.to_yaml_text() == path.read_text() + "\n"


@pytest.mark.parametrize(
    "model, D",
    [
        ("plumb_bob", (0.1, -0.05, 0.001, -0.002, 0.01)),
        ("rational_polynomial", (0.1, -0.05, 0.001, -0.002, 0.01, 0.02, -1e-5, 3.3e-7)),
        ("equidistant", (0.01, -0.002, 1e-4, -1.234567890123e-6)),
        ("none", ()),
    ],
)
@pytest.mark.filterwarnings("ignore::calibration.errors.CalibrationFileWarning")  # the fisheye one sees > 180 deg
def test_yaml_round_trip_is_exact(tmp_path, model, D):
    P = np.array([[590.1, 0, 321.0, -35.2], [0, 590.1, 239.0, 0], [0, 0, 1, 0]])
    camera = CameraModel(
        640,
        480,
        K * [[1 / 3, 1, 1], [1, 1 / 7, 1], [1, 1, 1]],
        model,
        np.array(D, float),
        camera_name="123",
        projection=P,
    )
    path = tmp_path / "camera.yaml"
    camera.to_yaml(path)
    back = CameraModel.from_yaml(path)
    assert back == camera  # exact float equality, name "123" kept as a string
    assert back.camera_name == "123"
    back.to_yaml(tmp_path / "again.yaml")
    assert (tmp_path / "again.yaml").read_text() == path.read_text()


def test_camera_info_mapping_round_trip_and_ros1_names():
    camera = make_camera()
    info = camera.to_camera_info()
    assert info["k"][0] == 600.0 and len(info["p"]) == 12 and info["r"] == [1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert CameraModel.from_camera_info(info).K.tolist() == camera.K.tolist()
    ros1 = {
        "width": 640,
        "height": 480,
        "K": list(K.ravel()),
        "D": [0.1, -0.05, 0.001, -0.002, 0.01],
        "distortion_model": "plumb_bob",
    }
    assert CameraModel.from_camera_info(ros1) == camera
    # A message-like object (attributes instead of keys) works too.
    message = SimpleNamespace(**info)
    assert CameraModel.from_camera_info(message).D.tolist() == camera.D.tolist()


@pytest.mark.parametrize(
    "name, coefficients, model, expected_D",
    [
        ("Brown Conrady", [0.1, 0.2, 0.01, 0.02, 0.3], "plumb_bob", [0.1, 0.2, 0.01, 0.02, 0.3]),
        ("distortion.brown_conrady", [0, 0, 0, 0, 0], "plumb_bob", [0, 0, 0, 0, 0]),
        ("Inverse Brown Conrady", [0, 0, 0, 0, 0], "plumb_bob", [0, 0, 0, 0, 0]),
        ("Modified Brown Conrady", [0, 0, 0, 0, 0], "plumb_bob", [0, 0, 0, 0, 0]),
        ("Kannala Brandt4", [0.1, 0.2, 0.3, 0.4, 0.0], "equidistant", [0.1, 0.2, 0.3, 0.4]),
        ("distortion.kannala_brandt4", [0.1, 0.2, 0.3, 0.4], "equidistant", [0.1, 0.2, 0.3, 0.4]),
        ("None", [0, 0, 0, 0, 0], "none", []),
    ],
)
def test_realsense_model_names_map_explicitly(name, coefficients, model, expected_D):
    info = {"width": 640, "height": 480, "k": list(K.ravel()), "d": coefficients, "distortion_model": name}
    camera = CameraModel.from_camera_info(info)
    assert camera.distortion_model == model and camera.D.tolist() == expected_D


@pytest.mark.parametrize(
    "name, coefficients, match",
    [
        ("Inverse Brown Conrady", [0.1, 0, 0, 0, 0], "no exact ROS/OpenCV equivalent"),
        ("F-Theta", [0.1, 0, 0, 0, 0], "unknown distortion model"),
        ("distortion.ftheta", [0.1, 0, 0, 0, 0], "not supported"),
        ("Brown Conrady", [0.1, 0.2, 0.3], "needs 5 coefficients"),
        ("None", [0.1, 0, 0, 0, 0], "non-zero coefficients"),
        ("plumb_bob", [], "needs 5 coefficients"),
    ],
)
def test_camera_info_refuses_to_guess(name, coefficients, match):
    info = {"width": 640, "height": 480, "k": list(K.ravel()), "d": coefficients, "distortion_model": name}
    with pytest.raises(CalibrationFileError, match=match) as raised:
        CameraModel.from_camera_info(info)
    assert "<camera_info>" in str(raised.value)


def test_from_realsense_intrinsics_object():
    intrinsics = SimpleNamespace(
        width=848,
        height=480,
        fx=421.0,
        fy=421.5,
        ppx=424.1,
        ppy=239.2,
        model="distortion.brown_conrady",
        coeffs=[0.0] * 5,
    )
    camera = CameraModel.from_realsense(intrinsics)
    assert (camera.width, camera.fx, camera.cy, camera.distortion_model) == (848, 421.0, 239.2, "plumb_bob")


def test_from_pyrealsense2_intrinsics():
    rs = pytest.importorskip("pyrealsense2")
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height = 640, 480
    intrinsics.fx, intrinsics.fy, intrinsics.ppx, intrinsics.ppy = 613.2, 613.4, 319.9, 239.2
    intrinsics.model = rs.distortion.kannala_brandt4
    intrinsics.coeffs = [0.1, -0.02, 0.003, -0.0004, 0.0]
    camera = CameraModel.from_realsense(intrinsics)
    assert camera.distortion_model == "equidistant"
    assert camera.D == pytest.approx([0.1, -0.02, 0.003, -0.0004], abs=1e-7)  # float32 storage in librealsense


def test_constructor_validation():
    with pytest.raises(ValueError, match="not invertible"):
        CameraModel(640, 480, np.diag([0.0, 600.0, 1.0]), "none", np.zeros(0))
    with pytest.raises(ValueError, match="needs 5 coefficients"):
        CameraModel(640, 480, K, "plumb_bob", np.zeros(4))
    with pytest.raises(ValueError, match="distortion_model"):
        CameraModel(640, 480, K, "fisheye", np.zeros(4))
    with pytest.raises(ValueError, match="width"):
        CameraModel(0, 480, K, "none", np.zeros(0))
    camera = make_camera()
    with pytest.raises(ValueError):
        camera.K[0, 0] = 1.0  # arrays are read-only: the model is immutable


def test_scaled_matches_resized_image_geometry():
    camera = make_camera(projection=np.array([[600.0, 0, 320.5, 0], [0, 601.25, 240.75, 0], [0, 0, 1, 0]]))
    half = camera.scaled(320, 240)
    assert (half.fx, half.fy) == (300.0, 300.625)
    # pixel-centre convention: the centre of the image stays the centre of the image
    assert (half.cx, half.cy) == ((320.5 + 0.5) / 2 - 0.5, (240.75 + 0.5) / 2 - 0.5)
    assert np.allclose(half.projection[:, :3], half.K)
    point = np.array([[0.1, -0.05, 0.8]])
    assert np.allclose((camera.project(point) + 0.5) / 2 - 0.5, half.project(point))


VALID = {
    "image_width": 640,
    "image_height": 480,
    "camera_name": "cam",
    "camera_matrix": {"rows": 3, "cols": 3, "data": [600.0, 0, 320, 0, 600.0, 240, 0, 0, 1]},
    "distortion_model": "plumb_bob",
    "distortion_coefficients": {"rows": 1, "cols": 5, "data": [0.1, -0.2, 0, 0, 0]},
}


def _set(path: str, value):
    def edit(data):
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return edit


_DELETE = object()

MALFORMED = [
    ("missing width", _set("image_width", _DELETE), "image_width", "missing"),
    ("zero height", _set("image_height", 0), "image_height", "positive integer"),
    ("float width", _set("image_width", 640.5), "image_width", "positive integer"),
    ("missing camera_matrix", _set("camera_matrix", _DELETE), "camera_matrix", "missing"),
    ("camera_matrix not a mapping", _set("camera_matrix", [1, 2, 3]), "camera_matrix", "rows, cols and data"),
    ("camera_matrix without data", _set("camera_matrix.data", _DELETE), "camera_matrix.data", "missing"),
    (
        "camera_matrix 8 numbers",
        _set("camera_matrix.data", [600.0, 0, 320, 0, 600.0, 240, 0, 0]),
        "camera_matrix.data",
        "rows x cols",
    ),
    (
        "camera_matrix 2x2",
        _set("camera_matrix", {"rows": 2, "cols": 2, "data": [1, 0, 0, 1]}),
        "camera_matrix",
        "must be 3x3",
    ),
    (
        "text in camera_matrix",
        _set("camera_matrix.data", [600.0, 0, "x", 0, 600.0, 240, 0, 0, 1]),
        "camera_matrix.data",
        "expected a number",
    ),
    (
        "nan in camera_matrix",
        _set("camera_matrix.data", [600.0, 0, float("nan"), 0, 600.0, 240, 0, 0, 1]),
        "camera_matrix.data",
        "finite",
    ),
    (
        "singular K",
        _set("camera_matrix.data", [0.0, 0, 320, 0, 600.0, 240, 0, 0, 1]),
        "camera_matrix",
        "not invertible",
    ),
    (
        "K bad last row",
        _set("camera_matrix.data", [600.0, 0, 320, 0, 600.0, 240, 0, 0, 0]),
        "camera_matrix",
        "last row",
    ),
    ("missing model", _set("distortion_model", _DELETE), "distortion_model", "missing"),
    ("unknown model", _set("distortion_model", "fisheye"), "distortion_coefficients", "unknown distortion model"),
    ("model not a string", _set("distortion_model", 5), "distortion_model", "model name"),
    ("missing coefficients", _set("distortion_coefficients", _DELETE), "distortion_coefficients", "missing"),
    (
        "4 coefficients for plumb_bob",
        _set("distortion_coefficients", {"rows": 1, "cols": 4, "data": [0.1, 0, 0, 0]}),
        "distortion_coefficients",
        "needs 5 coefficients, got 4",
    ),
    (
        "5 coefficients for rational",
        _set("distortion_model", "rational_polynomial"),
        "distortion_coefficients",
        "needs 8",
    ),
    ("5 coefficients for equidistant", _set("distortion_model", "equidistant"), "distortion_coefficients", "needs 4"),
    ("cols disagree with data", _set("distortion_coefficients.cols", 4), "distortion_coefficients.data", "rows x cols"),
    ("negative rows", _set("distortion_coefficients.rows", -1), "distortion_coefficients.rows", "non-negative integer"),
    (
        "projection 3x3",
        _set("projection_matrix", {"rows": 3, "cols": 3, "data": [1, 0, 0, 0, 1, 0, 0, 0, 1]}),
        "projection_matrix",
        "must be 3x4",
    ),
    (
        "rectification short",
        _set("rectification_matrix", {"rows": 3, "cols": 3, "data": [1, 0, 0]}),
        "rectification_matrix.data",
        "rows x cols",
    ),
    ("camera_name a list", _set("camera_name", ["a"]), "camera_name", "expected a string"),
]


@pytest.mark.parametrize("label, edit, field, problem", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_camera_yaml(tmp_path, label, edit, field, problem):
    data = yaml.safe_load(yaml.safe_dump(VALID))
    edit(data)
    path = tmp_path / "camera.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CalibrationFileError) as raised:
        CameraModel.from_yaml(path)
    message = str(raised.value)
    assert str(path) in message and f"'{field}'" in message and problem in message


def test_valid_fixture_loads_and_numbers_as_strings_are_read(tmp_path):
    path = tmp_path / "camera.yaml"
    data = yaml.safe_load(yaml.safe_dump(VALID))
    data["distortion_coefficients"]["data"] = ["1e-05", 0, 0, 0, 0]  # how yaml-cpp may write small floats
    path.write_text(yaml.safe_dump(data))
    assert CameraModel.from_yaml(path).D[0] == 1e-05


def test_unreadable_and_non_yaml_camera_files(tmp_path):
    with pytest.raises(CalibrationFileError, match=r"nope\.yaml: field '\(file\)'"):
        CameraModel.from_yaml(tmp_path / "nope.yaml")
    path = tmp_path / "camera.yaml"
    path.write_text("image_width: [640\n")
    with pytest.raises(CalibrationFileError, match=r"'\(syntax\)'"):
        CameraModel.from_yaml(path)
    path.write_text("just a string\n")
    with pytest.raises(CalibrationFileError, match=r"'\(top level\)'"):
        CameraModel.from_yaml(path)
    path.write_text("")
    with pytest.raises(CalibrationFileError, match=r"'\(top level\)'"):
        CameraModel.from_yaml(path)


def test_binary_camera_file_names_the_file(tmp_path):
    # e.g. an image passed where the camera YAML belongs: not a raw UnicodeDecodeError
    path = tmp_path / "shot.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    with pytest.raises(CalibrationFileError, match=r"shot\.png: field '\(file\)'"):
        CameraModel.from_yaml(path)


def test_integer_too_large_for_a_float_is_a_file_error(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(VALID))
    data["camera_matrix"]["data"][0] = 10**400  # YAML reads it as a Python int that no float holds
    path = tmp_path / "camera.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CalibrationFileError, match=r"camera_matrix\.data.*finite number"):
        CameraModel.from_yaml(path)


@pytest.mark.parametrize(
    "info, field",
    [
        ({"height": 480, "k": list(K.ravel()), "d": [], "distortion_model": "none"}, "width"),
        ({"width": 640, "height": 480, "k": [1, 2, 3], "d": [], "distortion_model": "none"}, "k"),
        ({"width": 640, "height": 480, "k": list(K.ravel()), "distortion_model": "none"}, "d/D"),
        ({"width": 640, "height": 480, "k": list(K.ravel()), "d": [], "distortion_model": ""}, "distortion_model"),
        ({"width": 640, "height": 480, "k": list(K.ravel()), "d": [], "distortion_model": "none", "p": [1, 2]}, "p"),
    ],
)
def test_malformed_camera_info_mappings(info, field):
    with pytest.raises(CalibrationFileError) as raised:
        CameraModel.from_camera_info(info)
    assert f"'{field}'" in str(raised.value)
