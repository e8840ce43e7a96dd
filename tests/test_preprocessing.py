"""The direct frame preprocessing must give the model exactly what the processor gives it."""

import numpy as np
import pytest
import torch
from PIL import Image

from vla_r1_cli.bench.model import benchmark_frame
from vla_r1_model.loading import load_processor
from vla_r1_model.preprocessing import FramePreprocessor


@pytest.fixture(scope="module")
def processor(tiny_checkpoint):
    processor = load_processor(str(tiny_checkpoint))
    processor.image_processor.size = {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 1280}  # the 3B budget
    return processor


def chat_text(processor, instruction="pick up the cup"):
    messages = [{"role": "user", "content": [{"type": "text", "text": instruction}, {"type": "image"}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


FRAMES = {
    "640x480 rgb": lambda: benchmark_frame(640, 480, 0),
    "333x251 grayscale": lambda: benchmark_frame(333, 251, 1).convert("L"),
    "rgba": lambda: benchmark_frame(200, 120, 2).convert("RGBA"),
    "already a multiple of 28": lambda: benchmark_frame(28 * 12, 28 * 9, 3),
}


@pytest.mark.parametrize("frame", FRAMES, ids=list(FRAMES))
@pytest.mark.parametrize("lookup_on_device", [False, True], ids=["numpy", "torch"])
def test_inputs_equal_the_processors_bit_for_bit(processor, frame, lookup_on_device):
    image = FRAMES[frame]()
    text = chat_text(processor)
    expected = processor(text=[text], images=[image.convert("RGB")], return_tensors="pt")
    got = FramePreprocessor(processor)(image, text, lookup_on_device=lookup_on_device)
    assert set(got) == {"input_ids", "attention_mask", "pixel_values", "image_grid_thw"}
    for key, value in got.items():
        assert value.dtype == expected[key].dtype and torch.equal(value, expected[key]), key


def test_real_sample_frame(processor, testdata):
    image = Image.open(testdata / "vla_r1_samples" / "trajectory.png")
    text = chat_text(processor, "reach for the ketchup bottle on the oven.")
    expected = processor(text=[text], images=[image.convert("RGB")], return_tensors="pt")
    got = FramePreprocessor(processor)(image, text)
    assert torch.equal(got["pixel_values"], expected["pixel_values"]) and torch.equal(
        got["input_ids"], expected["input_ids"]
    )


def test_budget_changes_are_followed(processor):
    fast = FramePreprocessor(processor)
    image = benchmark_frame(640, 480, 0)
    before = fast(image, chat_text(processor))["pixel_values"].shape[0]
    size = dict(processor.image_processor.size)
    processor.image_processor.size = {**size, "longest_edge": 100352}
    try:
        assert fast(image, chat_text(processor))["pixel_values"].shape[0] < before
    finally:
        processor.image_processor.size = size


def test_text_without_exactly_one_image_placeholder_is_refused(processor):
    with pytest.raises(ValueError, match="exactly one <\\|image_pad\\|>"):
        FramePreprocessor(processor)(benchmark_frame(64, 48), "no image here")


def test_nonstandard_settings_fall_back_to_the_processor(tiny_checkpoint):
    processor = load_processor(str(tiny_checkpoint))
    assert FramePreprocessor.supports(processor)
    processor.image_processor.do_normalize = False
    assert not FramePreprocessor.supports(processor)


def test_normalization_table_matches_float64_rescale(processor):
    table = FramePreprocessor(processor).normalization_table()
    ip = processor.image_processor
    values = np.arange(256, dtype=np.uint8)
    reference = (
        (values.astype(np.float64) * ip.rescale_factor).astype(np.float32) - np.float32(ip.image_mean[1])
    ) / np.float32(ip.image_std[1])
    assert table.shape == (3, 256) and np.array_equal(table[1], reference)


def test_the_training_form_with_its_newline_is_preprocessed_bit_for_bit(processor):
    """The user turn ends in a newline before the image (issue 15.6): the direct path still equals the processor."""
    from vla_r1_model.prompts import build_messages

    text = processor.apply_chat_template(
        build_messages("pick up the cup", "affordance"), add_generation_prompt=True, tokenize=False
    )
    assert "</output>.\n<|vision_start|>" in text
    image = benchmark_frame(320, 240, 5)
    expected = processor(text=[text], images=[image], return_tensors="pt")
    got = FramePreprocessor(processor)(image, text)
    for key, value in got.items():
        assert torch.equal(value, expected[key]), key
