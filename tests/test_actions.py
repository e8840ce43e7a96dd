import json
import math
import warnings

import numpy as np
import pytest

from vla_r1_model import ActionError, Affordance, OutOfRange, Prediction, Trajectory, action_to_dict


def test_affordance_corners_and_pixels_use_center_convention():
    box = Affordance(x=0.5, y=0.25, width=0.2, height=0.1)
    assert box.corners_normalized() == pytest.approx((0.4, 0.2, 0.6, 0.3))
    assert box.corners_pixels(640, 480) == pytest.approx((256.0, 96.0, 384.0, 144.0))
    assert box.center_pixels(640, 480) == pytest.approx((320.0, 120.0))


def test_sharerobot_box_is_top_left_pixels(testdata):
    records = json.loads((testdata / "sharerobot" / "sharerobot_samples.json").read_text())
    text = json.dumps(records)
    assert "affordance" in text  # the sample file carries affordance records
    box = Affordance.from_sharerobot([100, 50, 64, 32], 640, 480)  # top-left (100, 50), 64x32
    assert box.x == pytest.approx(132 / 640) and box.y == pytest.approx(66 / 480)
    assert box.width == pytest.approx(64 / 640) and box.height == pytest.approx(32 / 480)
    assert box.corners_pixels(640, 480) == pytest.approx((100, 50, 164, 82))


def test_robobrain_corners_normalized_and_order_independent():
    assert Affordance.from_robobrain([0.1, 0.2, 0.5, 0.6]) == Affordance.from_robobrain([0.5, 0.6, 0.1, 0.2])
    box = Affordance.from_robobrain([0.1, 0.2, 0.5, 0.6])
    assert (box.x, box.y, box.width, box.height) == pytest.approx((0.3, 0.4, 0.4, 0.4))
    with pytest.raises(ActionError, match="4 numbers"):
        Affordance.from_robobrain([0.1, 0.2, 0.5])


def test_out_of_range_policy_clips_with_warning_or_rejects():
    with pytest.warns(UserWarning, match="x=1.2"):
        box = Affordance.from_values(1.2, 0.5, 0.1, 0.1, out_of_range=OutOfRange.CLIP)
    assert box.x == 1.0
    with pytest.raises(ActionError, match="outside the normalized range"):
        Affordance.from_values(1.2, 0.5, 0.1, 0.1, out_of_range="reject")
    with pytest.raises(ActionError, match="point 1 y"):
        Trajectory.from_values([[0.1, 0.1], [0.2, -0.3]], out_of_range="reject")


@pytest.mark.parametrize("bad", [math.nan, math.inf, "0.5", True, None])
def test_affordance_rejects_non_numbers(bad):
    with pytest.raises(ActionError):
        Affordance(bad, 0.5, 0.1, 0.1)


def test_trajectory_validation_and_pixels():
    with pytest.raises(ActionError, match="at least 2"):
        Trajectory(((0.1, 0.1),))
    with pytest.raises(ActionError, match="2 coordinates"):
        Trajectory(((0.1, 0.1), (0.2, 0.2, 0.3)))
    path = Trajectory.from_pixels([[64, 48], [320, 240]], 640, 480)
    assert path.points_normalized == ((0.1, 0.1), (0.5, 0.5))
    np.testing.assert_allclose(path.points_pixels(424, 240), [[42.4, 24.0], [212.0, 120.0]])


def test_action_to_dict_and_prediction_type_check():
    box = Affordance(0.5, 0.5, 0.2, 0.2)
    described = action_to_dict(box, 100, 100)
    assert described["kind"] == "affordance" and described["corners_pixels"] == [40.0, 40.0, 60.0, 60.0]
    with pytest.raises(ActionError, match="trajectory prediction needs"):
        Prediction("trajectory", box, "", "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Prediction("affordance", box, "r", "t")
