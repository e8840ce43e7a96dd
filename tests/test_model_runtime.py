"""The transformers backend on the tiny random-weight checkpoint: loading, quantization, streaming, stopping."""

import threading

import pytest
import torch
from PIL import Image

from vla_r1_cli.bench.forced_decoding import forced_tokens_processor
from vla_r1_model.backends.base import GenerationSettings
from vla_r1_model.backends.transformers_backend import (
    STATIC_CACHE_BUCKET_TOKENS,
    TransformersBackend,
    TransformersBackendConfig,
)
from vla_r1_model.loading import ModelLoadError, load_processor, resolve_model
from vla_r1_model.policy import Policy, PolicyConfig

SCRIPTED_ANSWER = (
    "<think>the pot is left</think> so, the answer is "
    '<output>{"x": 0.25, "y": 0.5, "width": 0.1, "height": 0.2}</output> and then more'
)


@pytest.fixture(scope="module")
def image():
    return Image.new("RGB", (96, 72), (120, 60, 30))


@pytest.fixture(scope="module")
def backend(tiny_checkpoint):
    return TransformersBackend(TransformersBackendConfig(model=str(tiny_checkpoint)))


class ScriptedBackend(TransformersBackend):
    """Forces the real generate() loop to write SCRIPTED_ANSWER, so stopping is tested on real decoding."""

    answer = SCRIPTED_ANSWER

    def generate(self, *args, **kwargs):
        tokenizer = self.processor.tokenizer
        script = tokenizer(self.answer, add_special_tokens=False)["input_ids"]
        forced = forced_tokens_processor(script, tokenizer.convert_tokens_to_ids("<|im_end|>"))
        return super().generate(*args, logits_processors=[forced], **kwargs)


def test_tiny_checkpoint_loads_like_a_hub_checkpoint(tiny_checkpoint):
    names = {p.name for p in tiny_checkpoint.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "preprocessor_config.json",
        "generation_config.json",
    } <= names
    processor = load_processor(str(tiny_checkpoint))
    assert not hasattr(processor, "video_processor")  # built without torchvision
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert text.endswith("<|im_start|>assistant\n") and "hi<|vision_start|><|image_pad|><|vision_end|>" in text


def test_generate_greedy_is_deterministic_and_timed(backend, image):
    settings = GenerationSettings(max_new_tokens=12)
    first = backend.generate(image, "pick up the cup", settings)
    second = backend.generate(image, "pick up the cup", settings)
    assert first.text == second.text and first.generated_tokens == 12
    assert first.stop_reason == "max_new_tokens"
    assert first.time_to_first_token_s > 0 and first.decode_s > 0 and first.decode_tokens_per_s > 0
    width, height = first.model_input_size
    assert width % 28 == 0 and height % 28 == 0  # resized to whole merged patches


def test_ignore_eos_decodes_exactly_n_tokens(backend, image):
    result = backend.generate(image, "x", GenerationSettings(max_new_tokens=9, ignore_eos=True))
    assert result.generated_tokens == 9


@pytest.mark.parametrize("quantization, layer_type", [("nf4", "Linear4bit"), ("int8", "Linear8bitLt")])
def test_bitsandbytes_quantization_keeps_vision_and_head_unquantized(tiny_checkpoint, image, quantization, layer_type):
    quantized = TransformersBackend(TransformersBackendConfig(model=str(tiny_checkpoint), quantization=quantization))
    net = quantized.model
    assert type(net.model.language_model.layers[0].mlp.up_proj).__name__ == layer_type
    assert type(net.model.visual.blocks[0].mlp.up_proj) is torch.nn.Linear
    assert type(net.lm_head) is torch.nn.Linear
    result = quantized.generate(image, "open the drawer", GenerationSettings(max_new_tokens=6, ignore_eos=True))
    assert result.generated_tokens == 6


def test_quantize_vision_quantizes_the_vision_tower_but_not_the_head(tiny_checkpoint):
    quantized = TransformersBackend(
        TransformersBackendConfig(model=str(tiny_checkpoint), quantization="nf4", quantize_vision=True)
    )
    assert type(quantized.model.model.visual.blocks[0].mlp.up_proj).__name__ == "Linear4bit"
    assert type(quantized.model.lm_head) is torch.nn.Linear
    with pytest.raises(ValueError, match="quantize_vision needs"):
        TransformersBackendConfig(quantize_vision=True)


def test_streaming_callback_receives_the_whole_answer_in_pieces(backend, image):
    pieces = []
    result = backend.generate(image, "x", GenerationSettings(max_new_tokens=20, ignore_eos=True), on_text=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == result.text


def test_cancellation_from_another_thread_stops_generation(backend, image):
    cancel = threading.Event()
    seen = []

    def on_text(piece):
        seen.append(piece)
        if len(seen) == 3:
            threading.Thread(target=cancel.set).start()

    result = backend.generate(
        image, "x", GenerationSettings(max_new_tokens=400, ignore_eos=True), on_text=on_text, cancel=cancel
    )
    assert result.stop_reason == "cancelled"
    assert result.generated_tokens < 50


def test_generation_stops_when_output_block_closes(tiny_checkpoint, image):
    scripted = ScriptedBackend(TransformersBackendConfig(model=str(tiny_checkpoint)))
    policy = Policy(scripted, PolicyConfig(generation=GenerationSettings(max_new_tokens=200)))
    output = policy.predict(image, "pick up the pot", "affordance")
    assert output.stop_reason == "output_closed"
    assert output.raw_text.rstrip().endswith("</output>") and "and then more" not in output.raw_text
    assert output.ok and output.prediction.action.x == 0.25 and output.reasoning == "the pot is left"
    assert output.timings.generated_tokens < 200


def test_generation_stops_when_the_output_block_closes_in_any_case(tiny_checkpoint, image):
    """The parser reads </OUTPUT> as the close, so decoding stops there too (one reason the stop check is
    not transformers' case-sensitive stop_strings)."""
    scripted = ScriptedBackend(TransformersBackendConfig(model=str(tiny_checkpoint)))
    scripted.answer = SCRIPTED_ANSWER.replace("</output>", "</OUTPUT>")
    output = Policy(scripted, PolicyConfig(generation=GenerationSettings(max_new_tokens=200))).predict(
        image, "x", "affordance"
    )
    assert output.stop_reason == "output_closed" and output.raw_text.rstrip().endswith("</OUTPUT>")
    assert "and then more" not in output.raw_text  # stopped at the tag, not at the script's end
    assert output.ok and output.prediction.action.x == 0.25


def test_policy_reports_parse_failure_as_an_output(backend, image):
    output = Policy(backend, PolicyConfig(generation=GenerationSettings(max_new_tokens=5))).predict(
        image, "x", "trajectory"
    )
    assert not output.ok and output.prediction is None and "no <output>" in output.error
    assert output.timings.total_s >= output.timings.time_to_first_token_s


def test_model_resolution_errors_are_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        resolve_model(str(tmp_path / "missing"))
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelLoadError, match="--model tiny"):
        load_processor("some-org/not-a-model-that-exists")  # HF_HUB_OFFLINE=1 in tests


def test_backend_config_validation():
    with pytest.raises(ValueError, match="quantization"):
        TransformersBackendConfig(quantization="fp4")
    with pytest.raises(ValueError, match="min_pixels"):
        TransformersBackendConfig(min_pixels=10)
    with pytest.raises(ValueError, match="temperature"):
        GenerationSettings(temperature=0)


def test_static_cache_decodes_the_same_tokens_as_dynamic(backend, tiny_checkpoint, image):
    """The GPU default (static KV cache) must not change greedy answers; checked uncompiled on CPU."""
    static = TransformersBackend(TransformersBackendConfig(model=str(tiny_checkpoint), cache="static", compile=False))
    settings = GenerationSettings(max_new_tokens=12)
    assert static.cache == "static" and backend.cache == "dynamic"  # CPU default stays dynamic
    assert (
        static.generate(image, "pick up the cup", settings).text
        == backend.generate(image, "pick up the cup", settings).text
    )


def test_static_cache_is_sized_in_buckets_so_longer_prompts_reuse_its_shape(tiny_checkpoint, backend):
    static = TransformersBackend(TransformersBackendConfig(model=str(tiny_checkpoint), cache="static", compile=False))
    settings = GenerationSettings(max_new_tokens=300)
    short, longer = (static._generate_kwargs(settings, n)["max_cache_len"] for n in (150, 160))
    assert short == longer == STATIC_CACHE_BUCKET_TOKENS  # 450 and 460 tokens: one shape, no recompile
    assert static._generate_kwargs(settings, 300)["max_cache_len"] == 2 * STATIC_CACHE_BUCKET_TOKENS
    assert "max_cache_len" not in backend._generate_kwargs(settings, 150)  # the dynamic cache grows by itself


def test_compiled_is_reported_only_where_transformers_compiles(tiny_checkpoint, caplog):
    """Decoding is compiled on GPU with a static cache and no bitsandbytes quantizer; elsewhere say it is off."""
    with caplog.at_level("WARNING"):
        nf4 = TransformersBackend(
            TransformersBackendConfig(model=str(tiny_checkpoint), quantization="nf4", cache="static", compile=True)
        )
    assert nf4.compile is False
    reason = "only on GPU" if not torch.cuda.is_available() else "bitsandbytes"
    assert any(reason in record.getMessage() for record in caplog.records)


def test_image_budget_changes_without_reloading(tiny_checkpoint):
    budgeted = TransformersBackend(TransformersBackendConfig(model=str(tiny_checkpoint)))
    frame = Image.new("RGB", (320, 240), (10, 200, 30))
    settings = GenerationSettings(max_new_tokens=2, ignore_eos=True)
    default = budgeted.generate(frame, "x", settings)
    budgeted.set_image_budget(max_pixels=56 * 56 * 2)
    small = budgeted.generate(frame, "x", settings)
    budgeted.set_image_budget()
    restored = budgeted.generate(frame, "x", settings)
    assert small.model_input_size[0] * small.model_input_size[1] <= 56 * 56 * 2
    assert small.extra["prompt_tokens"] < default.extra["prompt_tokens"] == restored.extra["prompt_tokens"]
    with pytest.raises(ValueError, match="max_pixels"):
        budgeted.set_image_budget(max_pixels=100)


def test_fast_preprocessing_gives_the_same_answer_as_the_processor(backend, tiny_checkpoint, image):
    slow = TransformersBackend(TransformersBackendConfig(model=str(tiny_checkpoint), fast_preprocessing=False))
    assert backend.fast_preprocessing and not slow.fast_preprocessing
    settings = GenerationSettings(max_new_tokens=10)
    assert (
        backend.generate(image, "open the drawer", settings).text
        == slow.generate(image, "open the drawer", settings).text
    )
