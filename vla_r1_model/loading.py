"""Load a Qwen2.5-VL / VLA-R1 checkpoint and its processor from a hub id or a local folder.

The processor is assembled from the image processor and the tokenizer only: transformers'
Qwen2.5-VL ``AutoProcessor`` also builds a video processor, which needs torchvision (absent
on CPU machines here and awkward on Jetson-class robots). Images are all a robot sends.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor
from transformers.processing_utils import ProcessorMixin

DEFAULT_MODEL_ID = "GigaAI-Research/vla-r1"
TINY_MODEL_ALIAS = "tiny"  # `--model tiny`: the random-weight test checkpoint, built on first use

QUANTIZATIONS: tuple[str, ...] = ("none", "nf4", "int8")
# The vision tower stays in full precision: NF4 on CPU needs Linear sizes divisible by 64, which
# the real vision tower violates, and its cost per answer is one forward pass anyway.
QUANTIZATION_SKIP_MODULES = ["model.visual", "visual", "lm_head"]


class ModelLoadError(RuntimeError):
    """The checkpoint could not be found or loaded; the message says what to do instead."""


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor with an image processor and a tokenizer, and no video processor."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", "<|image_pad|>")
        self.video_token = getattr(tokenizer, "video_token", "<|video_pad|>")
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def tiny_checkpoint_cache_dir() -> Path:
    root = Path(os.environ.get("VLA_R1_CACHE", Path.home() / ".cache" / "vla_r1"))
    return root / "tiny_checkpoint"


def resolve_model(model: str) -> str:
    """A local folder, the built-on-demand tiny checkpoint (``tiny``), or a hub id (unchanged)."""
    if model == TINY_MODEL_ALIAS:
        path = tiny_checkpoint_cache_dir()
        if not (path / "config.json").is_file():
            from .tiny_checkpoint import build_tiny_checkpoint

            build_tiny_checkpoint(path)
        return str(path)
    local = Path(model).expanduser()
    if not local.exists() and model.startswith(("/", "./", "../", "~")):
        raise ModelLoadError(f"model folder {model} does not exist")
    if local.exists():
        if not (local / "config.json").is_file():
            raise ModelLoadError(f"{local} is not a model folder: it has no config.json")
        return str(local)
    return model


def _load_failure(model: str, exc: Exception) -> ModelLoadError:
    if Path(model).exists():
        return ModelLoadError(f"could not load the checkpoint in {model}: {exc}")
    return ModelLoadError(
        f"could not load {model!r} from the Hugging Face hub ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
        "If this machine cannot reach the hub, download the checkpoint where it can "
        f"(`hf download {model} --local-dir ./vla-r1`) and pass --model ./vla-r1, "
        "or pass --model tiny for the random-weight test checkpoint."
    )


def apply_image_budget(image_processor, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
    """Set the image-token budget (pixels after resizing); None leaves that bound as it is.

    The ``size`` dict is what the processor reads in transformers 5; one 28x28 merged patch is one token.
    """
    size = dict(image_processor.size or {})
    if min_pixels is not None:
        size["shortest_edge"] = int(min_pixels)
    if max_pixels is not None:
        size["longest_edge"] = int(max_pixels)
    image_processor.size = size


def load_processor(
    model: str, min_pixels: int | None = None, max_pixels: int | None = None
) -> ImageOnlyQwen2_5_VLProcessor:
    """Image processor + tokenizer + chat template of ``model``; optional image-token budget."""
    from transformers import AutoTokenizer
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    source = resolve_model(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        image_processor = Qwen2VLImageProcessorPil.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise _load_failure(model, exc) from None
    apply_image_budget(image_processor, min_pixels, max_pixels)
    if not tokenizer.chat_template:
        raise ModelLoadError(f"the tokenizer of {model} has no chat template")
    return ImageOnlyQwen2_5_VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template
    )


def select_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} was asked for but CUDA is not available")
    return device


def select_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise ModelLoadError(f"dtype must be auto, float32, bfloat16 or float16, got {dtype!r}") from None


def quantization_config(quantization: str, compute_dtype, quantize_vision: bool = False):
    """bitsandbytes settings; the vision tower stays in full precision unless ``quantize_vision``.

    Quantizing the vision tower too saves ~1 GB on the 3B model (its 0.67 B parameters) for
    memory-bound robots, at a cost to grounding accuracy that the default does not take.
    """
    if quantization not in QUANTIZATIONS:
        raise ModelLoadError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    if quantization == "none":
        if quantize_vision:
            raise ModelLoadError("quantize_vision needs quantization nf4 or int8")
        return None
    from transformers import BitsAndBytesConfig

    skip = ["lm_head"] if quantize_vision else QUANTIZATION_SKIP_MODULES

    if quantization == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=compute_dtype,
            bnb_4bit_use_double_quant=True,
            llm_int8_skip_modules=skip,
        )
    return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)


def load_model(
    model: str,
    quantization: str = "none",
    dtype: str = "auto",
    device: str = "auto",
    attn_implementation: str | None = None,
    quantize_vision: bool = False,
):
    """The Qwen2.5-VL model in eval mode on ``device``, optionally 4/8-bit through bitsandbytes."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    device = select_device(device)
    torch_dtype = select_dtype(dtype, device)
    source = resolve_model(model)
    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    bnb = quantization_config(quantization, torch_dtype, quantize_vision)
    if bnb is not None:
        kwargs["quantization_config"] = bnb
        kwargs["device_map"] = {"": device}  # bitsandbytes places weights while loading
    try:
        net = Qwen2_5_VLForConditionalGeneration.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_failure(model, exc) from None
    if bnb is None:
        # functools.wraps on PreTrainedModel.to hides the bound self from mypy
        net = net.to(device)  # type: ignore[arg-type]
    return net.eval()
