"""Export a training result as a plain checkpoint that ``vla-r1 infer`` loads unchanged.

    vla-r1 train export --checkpoint runs/sft_lora --out exported/vla-r1

A LoRA / QLoRA result (a folder with ``adapter_config.json``) is merged into its base model,
which is loaded in full precision (never 4-bit: merged NF4 weights would lose accuracy); a full
fine-tuning result is re-saved as is. The processor (tokenizer, chat template, image processor with
its image-token budget) is the one the model was TRAINED with: the checkpoint's own (training saves
it beside the weights or adapters); only an adapter folder without one falls back to the base model's.
"""

from __future__ import annotations

import json
from pathlib import Path


class ExportError(RuntimeError):
    pass


def _has_processor(folder: Path) -> bool:
    return (folder / "tokenizer_config.json").is_file() and any(
        (folder / name).is_file() for name in ("processor_config.json", "preprocessor_config.json")
    )


def _folder_processor(folder: Path):
    """The processor saved in an adapter folder (which has no config.json for ``load_processor``)."""
    from transformers import AutoTokenizer
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    from vla_r1_model.loading import ImageOnlyQwen2_5_VLProcessor

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(str(folder))
    return ImageOnlyQwen2_5_VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template
    )


def export_checkpoint(
    checkpoint: str | Path, out_dir: str | Path, base_model: str | None = None, dtype: str = "auto"
) -> Path:
    from vla_r1_model.loading import load_model, load_processor

    checkpoint, out = Path(checkpoint), Path(out_dir)
    if not checkpoint.is_dir():
        raise ExportError(f"checkpoint folder {checkpoint} does not exist")
    adapter_config = checkpoint / "adapter_config.json"
    if adapter_config.is_file():
        from peft import PeftModel

        base = base_model or json.loads(adapter_config.read_text()).get("base_model_name_or_path")
        if not base:
            raise ExportError(f"{adapter_config} names no base model: pass --base-model")
        model = load_model(base, quantization="none", dtype="float32" if dtype == "auto" else dtype, device="cpu")
        model = PeftModel.from_pretrained(model, str(checkpoint)).merge_and_unload()
        processor_source = str(checkpoint) if _has_processor(checkpoint) else base
    elif (checkpoint / "config.json").is_file():
        model = load_model(str(checkpoint), dtype=dtype, device="cpu")
        processor_source = str(checkpoint)
    else:
        raise ExportError(f"{checkpoint} holds neither a model (config.json) nor LoRA adapters (adapter_config.json)")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    processor = (
        _folder_processor(checkpoint)
        if processor_source == str(checkpoint) and adapter_config.is_file()
        else load_processor(processor_source)
    )
    processor.save_pretrained(str(out))
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None:
        generation_config.save_pretrained(str(out))
    return out
