"""Model and processor for training: full fine-tuning, LoRA or QLoRA on Qwen2.5-VL / VLA-R1.

The processor is the torchvision-free one from ``vla_r1_model.loading``; checkpoints written by
the trainers carry it, so ``vla_r1_model.loading.load_model/load_processor`` (and ``vla-r1
infer``) read them unchanged. LoRA runs save adapters; ``training.export`` merges them.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from .config import TrainConfigBase


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def mixed_precision(config: TrainConfigBase) -> dict[str, bool]:
    """bf16/fp16 autocast flags for transformers' TrainingArguments from ``config.dtype`` (full fine-tuning
    keeps fp32 weights under them: see ``weights_dtype``)."""
    import torch

    if config.dtype == "auto":
        use_bf16 = cuda_available() and torch.cuda.is_bf16_supported()
        return {"bf16": use_bf16, "fp16": False}
    return {"bf16": config.dtype == "bfloat16", "fp16": config.dtype == "float16"}


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None and cuda_available()


def load_training_processor(config: TrainConfigBase):
    from vla_r1_model.loading import load_processor

    processor = load_processor(config.model, min_pixels=config.min_pixels, max_pixels=config.max_pixels)
    tokenizer = processor.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return processor


def training_device(args: Any = None) -> str:
    """This process's device: accelerate's per-process device once the TRL arguments exist
    (``cuda:<local rank>``), else cuda:0 / cpu for a single-process run."""
    if args is not None:
        return str(args.device)
    return "cuda:0" if cuda_available() else "cpu"


def weights_dtype(config: TrainConfigBase, args: Any = None) -> str:
    """The dtype the weights are loaded in.

    Full fine-tuning keeps fp32 weights (the optimizer's master copy); bf16/fp16 is autocast from
    the trainer's ``bf16``/``fp16`` flags, and FSDP / DeepSpeed keep their own fp32 shards. LoRA and
    QLoRA freeze the base model, so it is loaded in the training precision (adapters stay fp32)."""
    if config.finetune == "full":
        return "float32"
    if config.dtype != "auto":
        return config.dtype
    device = training_device(args)
    import torch

    return "bfloat16" if device.startswith("cuda") and torch.cuda.is_bf16_supported() else "float32"


def load_training_model(config: TrainConfigBase, args: Any = None):
    """The model in train mode, with LoRA adapters for lora/qlora and the vision tower frozen on request.

    Build the TRL arguments FIRST and pass them: they create accelerate's per-process state, which
    ``from_pretrained`` needs for FSDP's CPU-efficient loading (rank 0 reads the weights, the others
    stay on the meta device) and DeepSpeed ZeRO-3 init (parameters sharded as they load). The model
    stays where ``from_pretrained`` puts it (CPU); the Trainer / accelerate moves or shards it. QLoRA
    is placed by bitsandbytes on THIS process's device, not on device 0."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from vla_r1_model.loading import _load_failure, quantization_config, resolve_model, select_dtype

    dtype = select_dtype(weights_dtype(config, args), "cpu")
    kwargs: dict[str, Any] = {"dtype": dtype}
    if config.attn_implementation:
        kwargs["attn_implementation"] = config.attn_implementation
    if config.finetune == "qlora":
        kwargs["quantization_config"] = quantization_config("nf4", dtype)
        kwargs["device_map"] = {"": training_device(args)}
    source = resolve_model(config.model)
    try:
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_failure(config.model, exc) from None
    model.train()
    model.config.use_cache = False  # incompatible with gradient checkpointing; generation turns it back on
    if config.freeze_vision:
        for name, parameter in model.named_parameters():
            if ".visual." in f".{name}":
                parameter.requires_grad_(False)
    if config.finetune in ("lora", "qlora"):
        from transformers import set_seed

        set_seed(config.seed)  # the adapters' random init depends on the seed only, not on earlier work
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        if config.finetune == "qlora":
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=config.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False},
            )
        lora = LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=config.lora_target_modules, task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    return model


def trainable_parameter_count(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def training_arguments(config: TrainConfigBase, has_eval: bool) -> dict[str, Any]:
    """Keyword arguments shared by SFTConfig and GRPOConfig."""
    eval_strategy = "steps" if has_eval and config.eval_steps else ("epoch" if has_eval else "no")
    report_to = [r for r in config.report_to if r != "none"] or "none"
    return dict(
        output_dir=config.output_dir,
        seed=config.seed,
        learning_rate=config.learning_rate,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_train_batch_size,
        per_device_eval_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        warmup_steps=config.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of the total steps
        lr_scheduler_type=config.lr_scheduler_type,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        logging_steps=config.logging_steps,
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy=eval_strategy,
        eval_steps=config.eval_steps,
        report_to=report_to,
        run_name=config.run_name,
        gradient_checkpointing=config.gradient_checkpointing and config.finetune != "qlora",  # qlora: set by peft
        gradient_checkpointing_kwargs={"use_reentrant": False},
        dataloader_num_workers=config.dataloader_num_workers,
        remove_unused_columns=False,  # the image and ground-truth columns must reach the collator / reward
        use_cpu=not cuda_available(),  # several processes on a CPU-only host: accelerate's MULTI_CPU (gloo)
        **mixed_precision(config),
    )


def resume_checkpoint(config: TrainConfigBase) -> str | None:
    """``auto``: newest ``checkpoint-*`` in output_dir (None when there is none); else the path given."""
    if not config.resume_from_checkpoint:
        return None
    if config.resume_from_checkpoint == "auto":
        from transformers.trainer_utils import get_last_checkpoint

        out = Path(config.output_dir)
        return get_last_checkpoint(str(out)) if out.is_dir() else None
    if not Path(config.resume_from_checkpoint).is_dir():
        raise FileNotFoundError(f"resume_from_checkpoint {config.resume_from_checkpoint} does not exist")
    return config.resume_from_checkpoint


def save_final(trainer: Any, processor: Any, output_dir: str | Path) -> Path:
    """Model (or adapters) + processor in ``output_dir``, loadable by ``vla_r1_model.loading``."""
    out = Path(output_dir)
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        processor.save_pretrained(str(out))
        model = trainer.model
        base = getattr(model, "get_base_model", lambda: model)()
        generation_config = getattr(base, "generation_config", None)
        if generation_config is not None:
            generation_config.save_pretrained(str(out))
    return out
