"""Qwen2.5-VL configurations: the real 3B one (public values) and a tiny one for tests.

The 3B values are those published with Qwen/Qwen2.5-VL-3B-Instruct; a random-weight model
built from them computes exactly like the real checkpoint, so speed and memory can be measured
without downloading weights.
"""

from __future__ import annotations

from typing import Any

# Special tokens of the Qwen2.5 tokenizer, in id order after the byte-level vocabulary.
QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


def qwen25_vl_3b_config_dict() -> dict[str, Any]:
    """Qwen2.5-VL-3B-Instruct's architecture (token ids of the real tokenizer)."""
    return {
        "model_type": "qwen2_5_vl",
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "image_token_id": 151655,
        "video_token_id": 151656,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "tie_word_embeddings": True,
        "text_config": {
            "vocab_size": 151936,
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "hidden_act": "silu",
            "max_position_embeddings": 128000,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
            "bos_token_id": 151643,
            "eos_token_id": 151645,
            "tie_word_embeddings": True,
        },
        "vision_config": {
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "out_hidden_size": 2048,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [7, 15, 23, 31],
            "tokens_per_second": 2,
            "in_channels": 3,
        },
    }


def real_3b_config_with_token_ids(token_ids: dict[str, int]) -> dict[str, Any]:
    """The 3B architecture with vision token ids taken from another tokenizer (shapes unchanged)."""
    config = qwen25_vl_3b_config_dict()
    config.update(
        image_token_id=token_ids["<|image_pad|>"],
        video_token_id=token_ids["<|video_pad|>"],
        vision_start_token_id=token_ids["<|vision_start|>"],
        vision_end_token_id=token_ids["<|vision_end|>"],
    )
    config["text_config"].update(bos_token_id=token_ids["<|endoftext|>"], eos_token_id=token_ids["<|im_end|>"])
    return config


def tiny_config_dict(vocab_size: int, token_ids: dict[str, int]) -> dict[str, Any]:
    """A two-layer Qwen2.5-VL whose every Linear size is a multiple of 64 (NF4 on CPU needs that)."""
    config = real_3b_config_with_token_ids(token_ids)
    config["tie_word_embeddings"] = False
    config["text_config"].update(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,  # head_dim 64 -> mrope sections must sum to 32
        num_key_value_heads=1,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [8, 12, 12]},
        tie_word_embeddings=False,
    )
    config["vision_config"].update(
        depth=2,
        hidden_size=128,
        intermediate_size=256,
        num_heads=2,
        out_hidden_size=128,
        fullatt_block_indexes=[1],
    )
    return config
