"""Resuming full fine-tuning from a Trainer checkpoint with the weights it holds.

transformers 5 writes ``save_pretrained`` checkpoints in the ORIGINAL hub layout (for Qwen2.5-VL:
``model.layers.*``, ``visual.*``) and renames them to the current module names
(``model.language_model.layers.*``, ``model.visual.*``) only inside ``from_pretrained``. The
Trainer's resume path loads the file with a plain ``load_state_dict(strict=False)``, so every key
misses, a warning is logged, and training goes on from the STARTING weights with the restored
optimizer, scheduler and step count. ``ResumeWeightsMixin`` loads the checkpoint through the
model's own renaming and refuses to continue when any weight is left unloaded.

LoRA adapters (peft), FSDP and DeepSpeed checkpoints keep the Trainer's own paths: they are
written and read with the module names and were never affected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAFE_WEIGHTS = "model.safetensors"
SAFE_WEIGHTS_INDEX = "model.safetensors.index.json"


class CheckpointError(RuntimeError):
    """A checkpoint's weights do not fit the model; the message names the folder and the keys."""


def _renamings(model: Any) -> list:
    """The model's load-time key renamings (what ``from_pretrained`` applies to this checkpoint)."""
    from transformers.core_model_loading import PrefixChange, WeightRenaming

    conversions = getattr(model, "_weight_conversions", None)
    if conversions is None:
        from transformers.conversion_mapping import get_model_conversion_mapping

        conversions = get_model_conversion_mapping(model, add_legacy=True)
    return [c for c in conversions if isinstance(c, WeightRenaming) and not isinstance(c, PrefixChange)]


def read_checkpoint_state_dict(folder: str | Path) -> dict:
    """All tensors of a (possibly sharded) safetensors checkpoint, on the CPU."""
    from safetensors.torch import load_file

    folder = Path(folder)
    index = folder / SAFE_WEIGHTS_INDEX
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    elif (folder / SAFE_WEIGHTS).is_file():
        shards = [SAFE_WEIGHTS]
    else:
        raise CheckpointError(f"{folder} holds no {SAFE_WEIGHTS} or {SAFE_WEIGHTS_INDEX}")
    state: dict = {}
    for shard in shards:
        state.update(load_file(str(folder / shard), device="cpu"))
    return state


def to_model_names(model: Any, state_dict: dict) -> dict:
    """Checkpoint keys renamed to the model's current parameter names (identity when they already are)."""
    from transformers.core_model_loading import rename_source_key

    own = set(model.state_dict())
    renamings = _renamings(model)
    renamed = {}
    for key, tensor in state_dict.items():
        name = key if key in own else rename_source_key(key, renamings, [])[0]
        renamed[name] = tensor
    return renamed


def load_checkpoint_weights(model: Any, folder: str | Path) -> None:
    """Load ``folder``'s weights into ``model`` (renamed to its module names) or raise CheckpointError.

    A key of the model may be absent from the file only when it is tied to one that was loaded
    (``lm_head`` tied to the embeddings is not saved)."""
    state = to_model_names(model, read_checkpoint_state_dict(folder))
    result = model.load_state_dict(state, strict=False)
    loaded_storages = {p.data_ptr() for n, p in model.state_dict().items() if n in state}
    params = model.state_dict()
    missing = [k for k in result.missing_keys if params[k].data_ptr() not in loaded_storages]
    if result.unexpected_keys or missing:
        raise CheckpointError(
            f"checkpoint {folder} does not fit the model: {len(missing)} weight(s) not in the file "
            f"(first: {missing[:3]}), {len(result.unexpected_keys)} unknown key(s) "
            f"(first: {result.unexpected_keys[:3]})"
        )


def _is_peft(model: Any) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


class ResumeWeightsMixin:
    """Put before ``SFTTrainer`` / ``GRPOTrainer`` in the bases: resume loads the real weights."""

    model: Any  # the Trainer's

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        model = self.model if model is None else model
        folder = Path(resume_from_checkpoint)
        plain = (folder / SAFE_WEIGHTS).is_file() or (folder / SAFE_WEIGHTS_INDEX).is_file()
        if (
            plain
            and not _is_peft(model)
            and not getattr(self, "is_fsdp_enabled", False)
            and not getattr(self, "is_deepspeed_enabled", False)
        ):
            load_checkpoint_weights(model, folder)
            return
        super()._load_from_checkpoint(resume_from_checkpoint, model)  # type: ignore[misc]
