"""Build a tiny random-weight Qwen2.5-VL checkpoint that loads exactly like a real one.

    python -m vla_r1_model.tiny_checkpoint OUT_DIR

It carries everything ``from_pretrained`` expects from a hub checkpoint: config, safetensors
weights, a generation config, a byte-level BPE tokenizer trained here on prompt-like text with
the Qwen special tokens, the chat template and the image processor configuration. Every Linear
size is a multiple of 64 so bitsandbytes NF4 works on CPU. Its answers are random text: tests
use it for loading, quantization, generation, streaming and training mechanics, never for quality.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from .prompts import AFFORDANCE_PROMPT_SUFFIX, TRAJECTORY_PROMPT_SUFFIX
from .qwen_configs import QWEN_SPECIAL_TOKENS, real_3b_config_with_token_ids, tiny_config_dict

TINY_VOCAB_SIZE = 1024  # trained BPE tokens; special tokens come after
TINY_MIN_PIXELS = 56 * 56
TINY_MAX_PIXELS = 112 * 112  # at most 64 patches -> 16 image tokens: keeps tests fast

# A Qwen-style chat template (ChatML turns; images and videos as vision placeholders).
CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or 'image' in part %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' or 'video' in part %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in part %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _training_corpus(seed: int) -> list[str]:
    """Text shaped like what the tokenizer will see: instructions, forms, reasoning and answers."""
    rng = random.Random(seed)
    objects = ["broccoli", "pot", "ketchup bottle", "oven", "cup", "drawer", "sponge", "bowl", "apple", "towel"]
    verbs = ["pick up", "reach for", "open", "place", "push", "grasp", "move", "wipe"]
    lines = [AFFORDANCE_PROMPT_SUFFIX, TRAJECTORY_PROMPT_SUFFIX]
    for _ in range(400):
        obj, other = rng.sample(objects, 2)
        box = {k: round(rng.random(), 6) for k in ("x", "y", "width", "height")}
        points = [[round(rng.random(), 6), round(rng.random(), 6)] for _ in range(rng.randint(3, 8))]
        lines.append(f"{rng.choice(verbs)} the {obj} and place it in the {other}.")
        lines.append(
            f"<think>Task parsing: the goal is to {rng.choice(verbs)} the {obj}. Scene understanding: the {obj} "
            f"is near the {other}. Region localization: it is at the left. Feasibility check: reachable.</think> "
            f"so, the answer is <output>{json.dumps(box)}</output>"
        )
        lines.append(f"so, the answer is <output>{json.dumps(points)}</output>")
    return lines


def build_tokenizer(seed: int = 0):
    """A byte-level BPE tokenizer with the Qwen special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    backend.train_from_iterator(_training_corpus(seed), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(QWEN_SPECIAL_TOKENS),
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def write_random_checkpoint(out_dir: str | Path, preset: str = "tiny", seed: int = 0) -> Path:
    """A random-weight checkpoint: ``tiny`` (tests) or ``3b`` (the real Qwen2.5-VL-3B shapes, bf16).

    Both use the small trained tokenizer; for ``3b`` the vocabulary stays at the real size and the
    vision token ids point into the small tokenizer, so every matrix has the real shape.
    """
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    if preset not in ("tiny", "3b"):
        raise ValueError(f"preset must be tiny or 3b, got {preset!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(seed)
    token_ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL_TOKENS}
    pixels: dict[str, Any]  # the image processor's keyword arguments
    if preset == "tiny":
        config_dict = tiny_config_dict(-(-len(tokenizer) // 64) * 64, token_ids)  # vocab rounded up to 64
        dtype, pixels = torch.float32, {"min_pixels": TINY_MIN_PIXELS, "max_pixels": TINY_MAX_PIXELS}
    else:
        config_dict = real_3b_config_with_token_ids(token_ids)
        dtype, pixels = torch.bfloat16, {}  # the real checkpoint's default image budget

    torch.manual_seed(seed)
    config = Qwen2_5_VLConfig(**config_dict)
    model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=token_ids["<|endoftext|>"],
        eos_token_id=[token_ids["<|im_end|>"], token_ids["<|endoftext|>"]],
        pad_token_id=token_ids["<|endoftext|>"],
        do_sample=False,
    )
    model.save_pretrained(out)
    # Saved the way hub checkpoints store them: preprocessor_config.json + tokenizer files.
    Qwen2VLImageProcessorPil(**pixels).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_checkpoint(out_dir: str | Path, seed: int = 0) -> Path:
    """Write the tiny checkpoint into ``out_dir`` and return it."""
    return write_random_checkpoint(out_dir, "tiny", seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = build_tiny_checkpoint(args.out_dir, seed=args.seed)
    print(f"tiny checkpoint written to {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
