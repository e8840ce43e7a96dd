import pytest

from vla_r1_model import build_messages, build_prompt


def test_prompt_forms_are_byte_exact():
    assert build_prompt("pick up the broccoli and place it in a pot.", "affordance") == (
        "pick up the broccoli and place it in a pot. Please output the 2D affordance region define by bounding box "
        'of the object in the format <output>{"x": value, "y": value, "width": value, "height": value}</output>.'
    )
    assert build_prompt("reach for the ketchup bottle on the oven.", "trajectory") == (
        "reach for the ketchup bottle on the oven. Please output the optimal trajectory of the end-effector to the "
        "target object in the format <output>[[x1, y1], [x2, y2], ...]</output>."
    )


def test_messages_put_text_before_image_and_validate():
    messages = build_messages("open the drawer", "trajectory", image="IMG")
    assert messages[0]["role"] == "user"
    assert [part["type"] for part in messages[0]["content"]] == ["text", "image"]
    assert messages[0]["content"][1]["image"] == "IMG"
    with pytest.raises(ValueError, match="task"):
        build_prompt("x", "grasp")
    with pytest.raises(ValueError, match="empty"):
        build_prompt("   ", "affordance")
    assert "without" not in build_prompt("x", "affordance") and "no <think>" in build_prompt("x", "affordance", no_think=True)
