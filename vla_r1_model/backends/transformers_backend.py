"""Local inference with transformers (optionally 4/8-bit through bitsandbytes)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ..loading import DEFAULT_MODEL_ID, QUANTIZATIONS, apply_image_budget, load_model, load_processor
from ..preprocessing import FramePreprocessor
from .base import OUTPUT_CLOSE_TAG, BackendError, GenerationResult, GenerationSettings, StopReason, TextCallback

CACHE_KINDS = ("dynamic", "static")
# A static cache is sized in whole buckets: a slightly longer instruction then reuses the same
# cache shape instead of reallocating it and recompiling the decode step (a multi-second stall).
STATIC_CACHE_BUCKET_TOKENS = 512
MIN_IMAGE_PIXELS = 28 * 28  # one merged patch = one image token

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransformersBackendConfig:
    model: str = DEFAULT_MODEL_ID
    quantization: str = "none"  # none | nf4 | int8
    quantize_vision: bool = False  # also quantize the vision tower (~1 GB less on 3B, some accuracy risk)
    dtype: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | float32 | bfloat16 | float16
    device: str = "auto"
    attn_implementation: str | None = None  # e.g. sdpa, eager, flash_attention_2
    min_pixels: int | None = None  # image-token budget; None keeps the checkpoint's setting
    max_pixels: int | None = None
    cache: str = "auto"  # auto (static on GPU) | dynamic | static
    compile: bool | None = None  # torch.compile the decoding step; None = on with a static cache on GPU
    fast_preprocessing: bool = True  # build inputs directly (bit-identical to the processor, faster)

    def __post_init__(self) -> None:
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {self.quantization!r}")
        if self.quantize_vision and self.quantization == "none":
            raise ValueError("quantize_vision needs quantization nf4 or int8")
        if self.cache not in ("auto", *CACHE_KINDS):
            raise ValueError(f"cache must be auto, dynamic or static, got {self.cache!r}")
        validate_image_budget(self.min_pixels, self.max_pixels)


def validate_image_budget(min_pixels: int | None, max_pixels: int | None) -> None:
    for name, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if value is not None and value < MIN_IMAGE_PIXELS:
            raise ValueError(f"{name} must be at least {MIN_IMAGE_PIXELS} (one merged patch), got {value}")
    if min_pixels and max_pixels and min_pixels > max_pixels:
        raise ValueError(f"min_pixels {min_pixels} > max_pixels {max_pixels}")


# Not transformers' TextStreamer: it re-decodes the whole pending line per token and holds text back
# to word ends (measured on a 924-token line, CPU: 221 vs 25 us per token); generate() only calls put/end.
class _DecodeWatcher:
    """A generate() streamer that times tokens and streams text.

    Text is decoded incrementally over a short window (not the whole answer each token),
    which keeps the per-token cost flat on long reasoning.
    """

    def __init__(self, tokenizer, on_text: TextCallback | None):
        self.tokenizer = tokenizer
        self.on_text = on_text
        self.token_ids: list[int] = []
        self.text = ""
        self.first_token_time: float | None = None
        self.last_token_time: float | None = None
        self._prompt_seen = False
        self._prefix = 0
        self._read = 0

    def put(self, value) -> None:
        if not self._prompt_seen:  # generate() first hands over the prompt
            self._prompt_seen = True
            return
        now = time.perf_counter()
        if self.first_token_time is None:
            self.first_token_time = now
        self.last_token_time = now
        self.token_ids.extend(int(t) for t in value.reshape(-1).tolist())
        new_text = self.tokenizer.decode(self.token_ids[self._prefix :], skip_special_tokens=True)
        if new_text.endswith("\ufffd"):  # an unfinished UTF-8 sequence: wait for the next token
            return
        old_text = self.tokenizer.decode(self.token_ids[self._prefix : self._read], skip_special_tokens=True)
        delta = new_text[len(old_text) :]
        self._prefix, self._read = self._read, len(self.token_ids)
        if delta:
            self.text += delta
            if self.on_text is not None:
                self.on_text(delta)

    def end(self) -> None:
        pass


# Not generate(stop_strings=...): it builds a StopStringCriteria per call whose vocabulary cache never
# hits (get_vocab() order varies): 4-8 ms per call at the tiny checkpoint's 1,038 tokens, linear in the
# vocabulary (~1 s at Qwen2.5's 151,665); built once it costs ~100 vs ~15 us per step and matches one
# case only, where parse_output reads the tag in any case (measured on CPU, transformers 5.23).
def _stop_criterion(tokenizer, prompt_len: int, watch_output_close: bool, cancel: threading.Event | None):
    """Stops on cancel, or once the newest tokens close the <output> block.

    The check reads the sequence itself (generate() consults stopping criteria before it
    streams the token), decoding only a short tail so its cost does not grow with the answer.
    """
    import torch
    from transformers import StoppingCriteria

    tail = 8 + len(OUTPUT_CLOSE_TAG)  # enough tokens to hold the tag even byte by byte

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            stop = cancel is not None and cancel.is_set()
            if watch_output_close and not stop and input_ids.shape[1] > prompt_len:
                recent = input_ids[0, max(prompt_len, input_ids.shape[1] - tail) :]
                stop = OUTPUT_CLOSE_TAG in tokenizer.decode(recent, skip_special_tokens=True).lower()
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

    return _Stop()


class TransformersBackend:
    """Runs a Qwen2.5-VL / VLA-R1 checkpoint in this process."""

    name = "transformers"

    def __init__(self, config: TransformersBackendConfig):
        self.config = config
        if config.quantization == "int8":  # bitsandbytes logs one line per int8 matmul on fp32 inputs
            logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
        load_start = time.perf_counter()
        self.processor = load_processor(config.model)
        self._frame_preprocessor = FramePreprocessor(self.processor)
        self._checkpoint_image_size = dict(self.processor.image_processor.size)
        self.set_image_budget(config.min_pixels, config.max_pixels)
        self.model = load_model(
            config.model,
            config.quantization,
            config.dtype,
            config.device,
            config.attn_implementation,
            config.quantize_vision,
        )
        self.load_s = time.perf_counter() - load_start
        self.device = next(self.model.parameters()).device
        on_gpu = self.device.type == "cuda"
        self.cache = config.cache if config.cache != "auto" else ("static" if on_gpu else "dynamic")
        wanted = config.compile if config.compile is not None else (on_gpu and self.cache == "static")
        self.compile = wanted and self._compile_supported(explicit=config.compile is not None)

    def _compile_supported(self, explicit: bool) -> bool:
        """transformers compiles the decode step only on GPU, with a static cache and a compileable quantizer.

        bitsandbytes quantizers are not compileable, so nf4/int8 decode eagerly; saying so here
        keeps `compiled` in results and benchmarks true to what actually runs.
        """
        quantizer = getattr(self.model, "hf_quantizer", None)
        reason = None
        if self.device.type != "cuda":
            reason = "transformers compiles decoding only on GPU"
        elif self.cache != "static":
            reason = "compiled decoding needs the static cache"
        elif quantizer is not None and not quantizer.is_compileable:
            reason = f"transformers does not compile {self.config.quantization} (bitsandbytes) models"
        if reason and explicit:
            logger.warning("compile requested but off: %s", reason)
        return reason is None

    def set_image_budget(self, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
        """Change the image-token budget without reloading the model; None keeps the checkpoint's bound."""
        validate_image_budget(min_pixels, max_pixels)
        image_processor = self.processor.image_processor
        image_processor.size = dict(self._checkpoint_image_size)
        apply_image_budget(image_processor, min_pixels, max_pixels)

    def prepare_inputs(self, image: Image.Image, prompt: str, fast: bool | None = None):
        """Chat template + image processing, as the reference does: the prompt text, then the image.
        ``fast`` None follows the config; False forces the processor (benchmarks compare the two)."""
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": [{"type": "text", "text": prompt}, {"type": "image"}]}
        ]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        use_fast = self.fast_preprocessing if fast is None else (fast and FramePreprocessor.supports(self.processor))
        if use_fast:
            return self._frame_preprocessor(image, text, self.device)
        inputs = self.processor(text=[text], images=[image.convert("RGB")], return_tensors="pt")
        inputs.pop("mm_token_type_ids", None)  # only used for training-time masks
        return inputs.to(self.device)

    @property
    def fast_preprocessing(self) -> bool:
        """Direct tensor preprocessing (same values as the processor) where the image settings allow it."""
        return self.config.fast_preprocessing and FramePreprocessor.supports(self.processor)

    def model_input_size(self, inputs) -> tuple[int, int]:
        _, grid_h, grid_w = (int(v) for v in inputs["image_grid_thw"][0])
        patch = self.processor.image_processor.patch_size
        return grid_w * patch, grid_h * patch

    def _generate_kwargs(self, settings: GenerationSettings, prompt_len: int) -> dict:
        kwargs: dict = {"max_new_tokens": settings.max_new_tokens, "do_sample": settings.do_sample}
        if settings.do_sample:
            kwargs.update(temperature=settings.temperature, top_p=settings.top_p)
        if settings.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = settings.repetition_penalty
        if settings.ignore_eos:
            kwargs["min_new_tokens"] = settings.max_new_tokens
        if self.cache == "static":
            kwargs["cache_implementation"] = "static"
            needed = prompt_len + settings.max_new_tokens
            kwargs["max_cache_len"] = -(-needed // STATIC_CACHE_BUCKET_TOKENS) * STATIC_CACHE_BUCKET_TOKENS
            if not self.compile:
                kwargs["disable_compile"] = True
        return kwargs

    def generate(
        self,
        image: Image.Image,
        prompt: str,
        settings: GenerationSettings,
        on_text: TextCallback | None = None,
        cancel: threading.Event | None = None,
        logits_processors: list | None = None,
    ) -> GenerationResult:
        """One answer. ``logits_processors`` (transformers LogitsProcessor objects, fresh per call)
        constrain decoding, e.g. to a grammar, or to a fixed answer in benchmarks."""
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        start = time.perf_counter()
        try:
            inputs = self.prepare_inputs(image, prompt)
        except (ValueError, TypeError, OSError) as exc:
            raise BackendError(f"could not prepare the model input: {exc}") from exc
        preprocess_s = time.perf_counter() - start

        tokenizer = self.processor.tokenizer
        watch = settings.stop_at_output_close and not settings.ignore_eos
        prompt_len = int(inputs["input_ids"].shape[1])
        watcher = _DecodeWatcher(tokenizer, on_text)
        generate_start = time.perf_counter()
        with torch.inference_mode():
            output_ids = self.model.generate(
                **inputs,
                streamer=watcher,
                stopping_criteria=StoppingCriteriaList([_stop_criterion(tokenizer, prompt_len, watch, cancel)]),
                logits_processor=LogitsProcessorList(logits_processors or []),
                **self._generate_kwargs(settings, prompt_len),
            )
        n_new = int(output_ids.shape[1] - inputs["input_ids"].shape[1])
        text = self.processor.tokenizer.decode(output_ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

        reason: StopReason
        if cancel is not None and cancel.is_set():
            reason = "cancelled"
        elif watch and OUTPUT_CLOSE_TAG in text.lower():
            reason = "output_closed"
        elif n_new >= settings.max_new_tokens:
            reason = "max_new_tokens"
        else:
            reason = "eos"
        first = watcher.first_token_time or time.perf_counter()
        last = watcher.last_token_time or first
        return GenerationResult(
            text=text,
            generated_tokens=n_new,
            stop_reason=reason,
            preprocess_s=preprocess_s,
            time_to_first_token_s=first - generate_start,
            decode_s=last - first,
            model_input_size=self.model_input_size(inputs),
            extra={"prompt_tokens": int(inputs["input_ids"].shape[1]), "cache": self.cache, "compiled": self.compile},
        )
