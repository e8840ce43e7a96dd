"""`vla-r1 bench model`: load time, time to first token, decode rate and memory, per mode, in one run.

Batch-1 decoding reads every language-model weight once per token, so its floor is
``weight bytes read per token / memory bandwidth``; each mode's tokens/s is reported next to
that floor and their ratio. The embedding table is not counted (one row is read per token).
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from vla_r1_model.backends.base import GenerationSettings
from vla_r1_model.backends.transformers_backend import (
    TransformersBackend,
    TransformersBackendConfig,
    validate_image_budget,
)
from vla_r1_model.prompts import build_user_text

from .answers import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_REASONING_TOKENS,
    INSTRUCTION,
    build_answers,
    time_answers,
    time_image_budgets,
)

# Peak HBM bandwidth by GPU name (bytes/s): the public datasheet numbers.
GPU_BANDWIDTH_BYTES_S = {
    "H200": 4.8e12,
    "H100 SXM": 3.35e12,
    "H100 PCIe": 2.0e12,
    "H100": 3.35e12,
    "A100-SXM4-80GB": 2.039e12,
    "A100": 1.555e12,
    "L40S": 0.864e12,
    "RTX 4090": 1.008e12,
}


@dataclass(frozen=True)
class ModeResult:
    mode: str
    load_s: float
    preprocess_ms: float
    preprocess_direct_vs_processor_ms: tuple[float, float]  # medians measured back to back, same frame
    time_to_first_token_ms: float
    prompt_tokens: int
    model_input_size: tuple[int, int] | None
    new_tokens: int
    decode_tokens_per_s: float
    decode_ms_per_token: float
    weight_bytes_per_token: int
    model_memory_gb: float  # parameters and buffers as held in memory (vision tower and embedding included)
    bandwidth_floor_tokens_per_s: float | None
    fraction_of_floor: float | None
    peak_gpu_allocated_gb: float | None
    cpu_rss_gb: float
    cache: str
    compiled: bool
    answers: list[dict] | None = None  # whole answers with/without reasoning and early stop (bench_answers)
    image_budgets: list[dict] | None = None  # time to first token per image-token budget


def gpu_bandwidth_bytes_s(device_name: str) -> float | None:
    for key, value in GPU_BANDWIDTH_BYTES_S.items():
        if key.lower() in device_name.lower():
            return value
    return None


def weight_bytes_per_token(model) -> int:
    """Bytes of language-model weights and lm_head a decode step reads, as stored (packed when quantized).

    The input embedding is not counted (one row per token), but lm_head is, even when it shares its
    tensor with the embedding (Qwen2.5-VL-3B ties them): the output projection reads all of it.
    """
    total = 0
    seen: set[int] = set()
    head = model.get_output_embeddings()
    tensors = [("lm_head", p) for p in head.parameters()] if head is not None else []
    tensors += list(model.named_parameters())
    for name, tensor in tensors:  # packed 4/8-bit storage counts as stored
        if id(tensor) in seen or "visual" in name or "embed_tokens" in name:
            continue
        seen.add(id(tensor))
        total += tensor.numel() * tensor.element_size()
    return int(total)


def time_preprocessing(backend, image: Image.Image, prompt: str, repeats: int = 20) -> tuple[float, float]:
    """Median ms of the direct preprocessing and of the transformers processor, interleaved."""
    import torch

    direct: list[float] = []
    processor: list[float] = []
    for _ in range(repeats):
        for fast, times in ((True, direct), (False, processor)):
            start = time.perf_counter()
            backend.prepare_inputs(image, prompt, fast=fast)
            if backend.device.type == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - start) * 1e3)
    return round(statistics.median(direct), 3), round(statistics.median(processor), 3)


def benchmark_frame(width: int = 640, height: int = 480, seed: int = 0) -> Image.Image:
    """A textured synthetic frame (the token count depends only on its size)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), mode="RGB")


def _cpu_rss_gb() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 1e9


@dataclass(frozen=True)
class AnswerBenchSpec:
    """Which whole answers and image budgets to time besides raw decoding (see bench_answers)."""

    reasoning_tokens: tuple[int, ...] = DEFAULT_REASONING_TOKENS
    max_pixels: tuple[int, ...] = DEFAULT_MAX_PIXELS  # empty: no budget sweep
    time_answers: bool = True  # False: the budget sweep only (answers take long on a CPU)

    def __post_init__(self) -> None:
        if any(n < 1 for n in self.reasoning_tokens):
            raise ValueError(f"reasoning lengths must be >= 1 token, got {self.reasoning_tokens}")
        for budget in self.max_pixels:
            validate_image_budget(None, budget)


def bench_mode(
    model: str,
    mode: str,
    new_tokens: int,
    repeats: int,
    image: Image.Image,
    bandwidth: float | None,
    backend_options: dict | None = None,
    answers: AnswerBenchSpec | None = None,
) -> ModeResult:
    import torch

    on_gpu = torch.cuda.is_available()
    if on_gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    quantization, _, part = mode.partition("+")  # "nf4+vision": the vision tower quantized too
    if part not in ("", "vision"):
        raise ValueError(f"mode must be a quantization, optionally with +vision, got {mode!r}")
    backend = TransformersBackend(
        TransformersBackendConfig(
            model=model, quantization=quantization, quantize_vision=part == "vision", **(backend_options or {})
        )
    )
    prompt = build_user_text(INSTRUCTION, "affordance")
    settings = GenerationSettings(max_new_tokens=new_tokens, ignore_eos=True)
    backend.generate(image, prompt, settings)  # warm-up with the same shapes: compiling is not timed
    runs = [backend.generate(image, prompt, settings) for _ in range(repeats)]
    preprocess = time_preprocessing(backend, image, prompt)
    answer_rows = budget_rows = None
    if answers is not None and answers.time_answers:
        answer_rows = time_answers(
            backend, image, build_answers(backend.processor.tokenizer, answers.reasoning_tokens), repeats
        )
    if answers is not None and answers.max_pixels:
        budget_rows = time_image_budgets(backend, image, answers.max_pixels, repeats)
    rate = statistics.median(r.decode_tokens_per_s for r in runs)
    weight_bytes = weight_bytes_per_token(backend.model)
    floor = bandwidth / weight_bytes if bandwidth else None
    result = ModeResult(
        mode=mode,
        load_s=round(backend.load_s, 3),
        preprocess_ms=round(statistics.median(r.preprocess_s for r in runs) * 1e3, 3),
        preprocess_direct_vs_processor_ms=preprocess,
        time_to_first_token_ms=round(statistics.median(r.time_to_first_token_s for r in runs) * 1e3, 3),
        prompt_tokens=runs[0].extra["prompt_tokens"],
        model_input_size=runs[0].model_input_size,
        new_tokens=runs[0].generated_tokens,
        decode_tokens_per_s=round(rate, 2),
        decode_ms_per_token=round(1e3 / rate, 3) if rate else float("nan"),
        weight_bytes_per_token=weight_bytes,
        model_memory_gb=round(backend.model.get_memory_footprint() / 1e9, 3),
        bandwidth_floor_tokens_per_s=round(floor, 2) if floor else None,
        fraction_of_floor=round(rate / floor, 4) if floor else None,
        peak_gpu_allocated_gb=round(torch.cuda.max_memory_allocated() / 1e9, 3) if on_gpu else None,  # answers included
        cpu_rss_gb=round(_cpu_rss_gb(), 3),
        cache=backend.cache,
        compiled=backend.compile,
        answers=answer_rows,
        image_budgets=budget_rows,
    )
    del backend
    if on_gpu:
        torch.cuda.empty_cache()
    return result


MEMORY_BUDGETS_GB = (4, 6, 8, 12, 16, 24)


def fastest_mode_by_memory(modes: list[dict], budgets_gb=MEMORY_BUDGETS_GB) -> dict[str, str | None]:
    """For each memory budget, the mode with the highest decode rate whose footprint fits (None: none fits).

    The footprint is the measured peak GPU memory; without a GPU, the model's own memory (a lower bound).
    """

    def footprint(mode: dict) -> float:
        return mode["peak_gpu_allocated_gb"] if mode["peak_gpu_allocated_gb"] is not None else mode["model_memory_gb"]

    best = {}
    for budget in budgets_gb:
        fitting = [m for m in modes if footprint(m) <= budget]
        best[str(budget)] = max(fitting, key=lambda m: m["decode_tokens_per_s"])["mode"] if fitting else None
    return best


def machine_description() -> dict:
    import torch

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_model_benchmark(
    model: str,
    modes: list[str],
    new_tokens: int = 128,
    repeats: int = 3,
    random_3b: bool = False,
    image_size: tuple[int, int] = (640, 480),
    bandwidth_gb_s: float | None = None,
    backend_options: dict | None = None,
    progress: bool = True,
    answers: AnswerBenchSpec | None = None,
) -> dict:
    """Benchmark each quantization mode side by side; returns a JSON-ready dict."""
    import torch
    from tqdm import tqdm

    from vla_r1_model.loading import resolve_model
    from vla_r1_model.tiny_checkpoint import write_random_checkpoint

    tmp = None
    if random_3b:
        tmp = tempfile.TemporaryDirectory(prefix="vla_r1_random3b_")
        write_random_checkpoint(tmp.name, "3b")
        model_path = tmp.name
    else:
        model_path = resolve_model(model)
    bandwidth = (
        bandwidth_gb_s * 1e9
        if bandwidth_gb_s
        else (gpu_bandwidth_bytes_s(torch.cuda.get_device_name(0)) if torch.cuda.is_available() else None)
    )
    image = benchmark_frame(*image_size)
    results = []
    try:
        for mode in tqdm(modes, desc="bench model", disable=not progress):
            start = time.perf_counter()
            results.append(
                asdict(bench_mode(model_path, mode, new_tokens, repeats, image, bandwidth, backend_options, answers))
            )
            results[-1]["wall_s"] = round(time.perf_counter() - start, 2)
    finally:
        if tmp is not None:
            tmp.cleanup()
    baseline = next((r for r in results if r["mode"] == "none"), None)
    for r in results:  # ratios measured side by side in this run
        r["decode_speed_vs_none"] = (
            round(r["decode_tokens_per_s"] / baseline["decode_tokens_per_s"], 3) if baseline else None
        )
    return {
        "benchmark": "model",
        "fastest_mode_by_memory_gb": fastest_mode_by_memory(results),
        "model": "random Qwen2.5-VL-3B configuration" if random_3b else model,
        "image_size": list(image_size),
        "new_tokens": new_tokens,
        "repeats": repeats,
        "bandwidth_bytes_per_s": bandwidth,
        "machine": machine_description(),
        "modes": results,
    }
