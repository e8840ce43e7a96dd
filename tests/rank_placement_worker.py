"""Run by tests/test_training_placement.py under `accelerate launch --cpu --num_processes 2`:
one SFT step of the tiny model per rank, reporting where and how the model was loaded.

    accelerate launch --cpu --num_processes 2 tests/rank_placement_worker.py MODEL DATA OUT REPORT_DIR
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(model: str, data: str, out: str, report_dir: str) -> None:
    import torch
    import transformers

    from training.config import load_config
    from training.modeling import training_device
    from training.sft import SFTRunConfig, build_sft_trainer

    seen: dict = {}
    original = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained.__func__

    def spy(cls, source, *args, **kwargs):
        from transformers.distributed.fsdp import is_fsdp_enabled

        seen["distributed_ready"] = torch.distributed.is_available() and torch.distributed.is_initialized()
        # what from_pretrained would decide under the FSDP config (fsdp_cpu_ram_efficient_loading: true)
        saved = {k: os.environ.get(k) for k in ("ACCELERATE_USE_FSDP", "FSDP_CPU_RAM_EFFICIENT_LOADING")}
        os.environ.update(ACCELERATE_USE_FSDP="true", FSDP_CPU_RAM_EFFICIENT_LOADING="true")
        try:
            seen["fsdp_cpu_efficient_loading_active"] = is_fsdp_enabled()
        finally:
            for key, value in saved.items():
                os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
        seen["load_kwargs"] = {k: str(v) for k, v in kwargs.items()}
        return original(cls, source, *args, **kwargs)

    transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained = classmethod(spy)
    config = load_config(
        SFTRunConfig,
        None,
        [
            f"model={model}",
            f"train_file={data}",
            f"output_dir={out}",
            "max_steps=1",
            "per_device_train_batch_size=1",
            "learning_rate=1e-3",
            "report_to=none",
            "save_steps=100",
            "max_pixels=3136",
            "logging_steps=1",
        ],
    )
    trainer, _ = build_sft_trainer(config)
    trainer.train()
    weights = trainer.model.state_dict()
    report = {
        "process_index": trainer.args.process_index,
        "world_size": trainer.args.world_size,
        "backend": str(trainer.accelerator.state.backend),
        "device": training_device(trainer.args),
        "weight_dtypes": sorted({str(p.dtype) for p in trainer.model.parameters()}),
        "checksum": float(sum(v.double().sum() for v in weights.values())),
        **seen,
    }
    Path(report_dir, f"rank{trainer.args.process_index}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:5])
