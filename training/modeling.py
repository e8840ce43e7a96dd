"""Model and processor for training: full fine-tuning, LoRA or QLoRA on Qwen2.5-VL / VLA-R1.

The processor is the torchvision-free one from ``vla_r1_model.loading``; checkpoints written by
the trainers carry it, so ``vla_r1_model.loading.load_model/load_processor`` (and ``vla-r1
infer``) read them unchanged. LoRA runs save adapters; ``training.export`` merges them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import RunConfig
from .devices import cuda_available


def load_training_processor(config: RunConfig):
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


def weights_dtype(config: RunConfig, args: Any = None) -> str:
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


def load_training_model(config: RunConfig, args: Any = None):
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
                model,
                use_gradient_checkpointing=config.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False},
            )
        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_target_modules,
            task_type="CAUSAL_LM",
        )
        return get_peft_model(model, lora)
    return model


def trainable_parameter_count(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def set_eval_strategy(args: Any, has_eval: bool) -> None:
    """Evaluate when there is validation data: every ``eval_steps`` when set, else every epoch."""
    from transformers.trainer_utils import IntervalStrategy

    if has_eval and args.eval_strategy == IntervalStrategy.NO:
        args.eval_strategy = IntervalStrategy.STEPS if args.eval_steps else IntervalStrategy.EPOCH
    elif not has_eval:
        args.eval_strategy = IntervalStrategy.NO


def resume_checkpoint(config: RunConfig) -> str | None:
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
