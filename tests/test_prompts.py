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
    assert "without" not in build_prompt("x", "affordance") and "no <think>" in build_prompt(
        "x", "affordance", no_think=True
    )


# Issue 15.6: the reference's user turn is the prompt, a NEWLINE, then the image. Its inference
# script's forms end in ".\n<image>" and its VLA-CoT human turns are split at <image> by the
# loaders (verl ``_build_messages``): text "<instruction><form>.\n", then the image.
REFERENCE_AFFORDANCE_FORM = (
    " Please output the 2D affordance region define by bounding box of the object in the format "
    '<output>{"x": value, "y": value, "width": value, "height": value}</output>.\n<image>'
)
REFERENCE_TRAJECTORY_FORM = (
    " Please output the optimal trajectory of the end-effector to the target object in the format "
    "<output>[[x1, y1], [x2, y2], ...]</output>.\n<image>"
)


@pytest.mark.parametrize(
    "task, form", [("affordance", REFERENCE_AFFORDANCE_FORM), ("trajectory", REFERENCE_TRAJECTORY_FORM)]
)
def test_user_turn_is_the_reference_form_byte_for_byte(task, form):
    instruction = "pick up the broccoli and place it in a pot."
    text, image = form.split("<image>")[0], form.split("<image>")[1]
    assert image == ""
    messages = build_messages(instruction, task)
    assert messages[0]["content"] == [{"type": "text", "text": instruction + text}, {"type": "image"}]
    from vla_r1_model import build_user_text

    assert (build_user_text(instruction, task) + "<image>").encode() == (instruction + form).encode()


def test_policy_sends_the_newline_to_the_backend():
    from vla_r1_model.backends.base import GenerationResult
    from vla_r1_model.policy import Policy

    class Recorder:
        def __init__(self):
            self.prompts = []

        def generate(self, image, prompt, settings, on_text=None, cancel=None):
            self.prompts.append(prompt)
            return GenerationResult("<think>x</think> <output>[[0.1, 0.1], [0.2, 0.2]]</output>", 3, "eos", 0, 0, 0)

    from PIL import Image

    recorder = Recorder()
    Policy(recorder).predict(Image.new("RGB", (8, 8)), "reach the mug", "trajectory")
    assert recorder.prompts == ["reach the mug" + REFERENCE_TRAJECTORY_FORM.split("<image>")[0]]
