"""SE3 algebra and the named-transform YAML that a static transform publisher reads."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from calibration import SE3, CalibrationFileError, NamedTransform

finite = st.floats(-2.0, 2.0, allow_nan=False)
vectors = st.tuples(finite, finite, finite)


def random_se3(rng: np.random.Generator) -> SE3:
    return SE3(Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix(), rng.uniform(-1, 1, 3))


@settings(max_examples=50, deadline=None)
@given(rotvec=vectors, translation=vectors, point=vectors)
def test_inverse_undoes_apply_and_compose_matches_matrices(rotvec, translation, point):
    a_T_b = SE3.from_rotvec(rotvec, translation)
    b_T_c = SE3.from_rotvec(np.array(rotvec)[::-1], np.array(translation) * 0.5)
    p = np.array(point)
    assert np.allclose(a_T_b.inverse().apply(a_T_b.apply(p)), p, atol=1e-9)
    assert np.allclose((a_T_b @ b_T_c).matrix(), a_T_b.matrix() @ b_T_c.matrix(), atol=1e-12)
    assert (a_T_b @ a_T_b.inverse()).allclose(SE3.identity(), atol_m=1e-12, atol_rad=1e-9)


def test_apply_to_many_points_and_naming_convention():
    # base_T_camera: camera 1 m above the base, looking down (camera z = -base z).
    base_T_camera = SE3(np.diag([1.0, -1.0, -1.0]), [0.0, 0.0, 1.0])
    points_camera = np.array([[0.0, 0.0, 1.0], [0.1, 0.2, 0.5]])
    points_base = base_T_camera.apply(points_camera)
    assert np.allclose(points_base, [[0.0, 0.0, 0.0], [0.1, -0.2, 0.5]])
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        base_T_camera.apply(np.zeros((2, 2)))


def test_quaternion_and_euler_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(20):
        transform = random_se3(rng)
        q = transform.quaternion_xyzw()
        assert q[3] >= 0 and np.isclose(np.linalg.norm(q), 1.0)
        back = SE3.from_quaternion_xyzw(q, transform.translation)
        assert back.allclose(transform, atol_m=1e-12, atol_rad=1e-9)
    yaw90 = SE3.from_quaternion_xyzw([0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)], [0, 0, 0])
    assert np.allclose(yaw90.euler_xyz_deg(), [0, 0, 90])
    assert np.allclose(yaw90.apply([1.0, 0, 0]), [0, 1, 0])


def test_validation_rejects_non_rotations():
    with pytest.raises(ValueError, match="not a proper rotation"):
        SE3(np.diag([1.0, 1.0, -1.0]), np.zeros(3))
    with pytest.raises(ValueError, match="last row"):
        SE3.from_matrix(np.ones((4, 4)))
    with pytest.raises(ValueError, match="not orthonormal"):
        SE3.from_matrix(np.diag([1.1, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="unit length"):
        SE3.from_quaternion_xyzw([0, 0, 0, 2], [0, 0, 0])
    # Rounded printouts (6 decimals) are projected onto the nearest rotation, not rejected.
    rounded = np.round(SE3.from_rotvec([0.3, -0.2, 0.1], [1, 2, 3]).matrix(), 6)
    assert SE3.from_matrix(rounded, tolerance=1e-4).allclose(
        SE3.from_rotvec([0.3, -0.2, 0.1], [1, 2, 3]), atol_m=1e-9, atol_rad=1e-5
    )


def test_named_transform_yaml_round_trip_and_publisher_arguments(tmp_path):
    named = NamedTransform(
        "base_link", "camera_color_optical_frame", SE3.from_rotvec([0.1, 0.2, -0.3], [0.5, -0.1, 0.8])
    )
    path = tmp_path / "handeye.yaml"
    named.to_yaml(path, extra={"method": "park"})
    data = yaml.safe_load(path.read_text())
    assert data["frame_id"] == "base_link" and data["child_frame_id"] == "camera_color_optical_frame"
    assert [data[k] for k in ("x", "y", "z")] == pytest.approx([0.5, -0.1, 0.8])
    assert data["info"]["method"] == "park"
    back = NamedTransform.from_yaml(path)
    assert back.parent_frame == "base_link" and back.transform.allclose(named.transform, atol_m=1e-12, atol_rad=1e-12)
    args = named.static_transform_publisher_arguments()
    assert args[:2] == ["--x", "0.5"] and args[-4:] == [
        "--frame-id",
        "base_link",
        "--child-frame-id",
        "camera_color_optical_frame",
    ]


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d.pop("qw"), "qw"),
        (lambda d: d.update(x="far"), "x"),
        (lambda d: d.update(frame_id=""), "frame_id"),
        (lambda d: d.update(qx=0.0, qy=0.0, qz=0.0, qw=0.5), "qx/qy/qz/qw"),
        (lambda d: d.update(x=d["x"] + 0.1), "matrix"),  # the matrix copy disagrees
        (lambda d: d.update(child_frame_id=d["frame_id"]), "frame_id/child_frame_id"),
    ],
)
def test_named_transform_malformed_files(tmp_path, edit, field):
    named = NamedTransform("base_link", "camera", SE3.from_rotvec([0.1, 0.2, 0.3], [0.1, 0.2, 0.3]))
    data = named.to_dict()
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CalibrationFileError) as info:
        NamedTransform.from_yaml(path)
    assert str(path) in str(info.value) and f"'{field}'" in str(info.value)


def test_named_transform_unreadable_and_not_yaml(tmp_path):
    with pytest.raises(CalibrationFileError, match=r"missing\.yaml: field '\(file\)'"):
        NamedTransform.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("x: [1, 2\n")
    with pytest.raises(CalibrationFileError, match="syntax"):
        NamedTransform.from_yaml(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(CalibrationFileError, match="top level"):
        NamedTransform.from_yaml(bad)


def test_package_import_is_light_and_exports_the_api():
    import subprocess
    import sys

    code = (
        "import sys, calibration; assert 'cv2' not in sys.modules; "
        "from calibration import CameraModel, SE3, decode_depth, align_depth_to_color, sample_depth_in_box; "
        "from calibration import calibrate_hand_eye, camera_T_target, calibrate_intrinsics; "
        "assert 'cv2' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
