"""`vla-r1 train {sft,grpo,cot,convert,export}` and `vla-r1 eval`: thin shells over training.*."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

TASK_CHOICES = ("affordance", "trajectory")


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train",
        help="training: SFT, GRPO, CoT data engine, data conversion, export",
        description="Reproduce the VLA-R1 checkpoint: data, CoT engine, SFT, GRPO, export.",
    )
    stages = train.add_subparsers(dest="train_command", metavar="STAGE")
    train.set_defaults(func=lambda args: _help(train))

    for name, help_text in (
        ("sft", "supervised fine-tuning on VLA-CoT data (TRL SFTTrainer)"),
        ("grpo", "GRPO with the VLA-R1 reward (TRL GRPOTrainer)"),
    ):
        parser = stages.add_parser(name, help=help_text, description=help_text)
        parser.add_argument(
            "--config",
            default=name,
            help=f"YAML file, or the name of a shipped config (default: the shipped {name}.yaml)",
        )
        parser.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys")
        parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
        parser.set_defaults(func=run_sft if name == "sft" else run_grpo)

    configs = stages.add_parser(
        "configs",
        help="print where the shipped training and accelerate configs are",
        description="Paths of the configs installed with the package (for --config and "
        "accelerate launch --config_file).",
    )
    configs.add_argument("name", nargs="?", help="print only this config's path (e.g. grpo, fsdp)")
    configs.set_defaults(func=run_configs)

    cot = stages.add_parser(
        "cot",
        help="CoT data engine: a teacher model writes the four-step reasoning",
        description="Ask a teacher on an OpenAI-compatible server for reasoning; keep verified answers.",
    )
    cot.add_argument("--teacher-url", required=True, help="e.g. http://localhost:8000 (vLLM, SGLang …)")
    cot.add_argument("--teacher-model", required=True, help="model name served there")
    cot.add_argument("--data", required=True, type=Path, help="ShareRobot JSON, VLA-R1 records or VLA-CoT ShareGPT")
    cot.add_argument(
        "--out", required=True, type=Path, help="output JSONL (VLA-CoT ShareGPT items); resumed when it exists"
    )
    cot.add_argument("--task", choices=TASK_CHOICES, help="the task of a plain ShareRobot list / a filter")
    cot.add_argument("--image-template", default="{id}", help="ShareRobot image path from {id} and {dataset}")
    cot.add_argument("--image-root", type=Path, help="folder image paths are relative to (default: the data file's)")
    cot.add_argument("--threshold", type=float, default=0.9, help="minimum reward score of the teacher's answer")
    cot.add_argument("--concurrency", type=int, default=4, help="requests in flight at once")
    cot.add_argument("--attempts", type=int, default=2, help="teacher calls per record before rejecting it")
    cot.add_argument("--temperature", type=float, default=0.7)
    cot.add_argument("--max-tokens", type=int, default=1024)
    cot.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    cot.add_argument("--image-max-side", type=int, default=0, help="downscale images before sending (0: never)")
    cot.add_argument("--limit", type=positive_int, help="only the first N records (N >= 1)")
    cot.add_argument("--retry-rejected", action="store_true", help="ask again for records rejected in earlier runs")
    cot.add_argument("--no-progress", action="store_true")
    cot.set_defaults(func=run_cot)

    convert = stages.add_parser(
        "convert",
        help="ShareRobot / VLA-CoT ShareGPT -> records, ShareGPT or a HF dataset",
        description="Convert and validate training data; bad records are reported.",
    )
    convert.add_argument("--data", required=True, type=Path)
    convert.add_argument(
        "--out",
        required=True,
        type=Path,
        help="*.jsonl with --format records|sharegpt, *.json for sharegpt, a folder for hf",
    )
    convert.add_argument("--format", choices=("records", "sharegpt", "hf"), default="sharegpt")
    convert.add_argument("--task", choices=TASK_CHOICES)
    convert.add_argument("--image-template", default="{id}")
    convert.add_argument(
        "--image-root", type=Path, help="folder image paths are relative to (default: the data file's)"
    )
    convert.add_argument("--val-fraction", type=float, default=0.0, help="also write a validation split")
    convert.add_argument("--seed", type=int, default=0)
    convert.add_argument("--report", type=Path, help="write the rejected records with reasons as JSON")
    convert.add_argument(
        "--skip-image-check",
        action="store_true",
        help="convert annotations whose images are not on this machine (default: such records are rejected)",
    )
    convert.set_defaults(func=run_convert)

    export = stages.add_parser(
        "export",
        help="merge LoRA adapters and save a checkpoint `vla-r1 infer` loads",
        description="Merge LoRA adapters (or re-save a full fine-tune) into a plain checkpoint.",
    )
    export.add_argument("--checkpoint", required=True, type=Path)
    export.add_argument("--out", required=True, type=Path)
    export.add_argument("--base-model", help="base model of the adapters (default: from adapter_config.json)")
    export.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"))
    export.set_defaults(func=run_export)

    evaluate = subparsers.add_parser(
        "eval",
        help="evaluate a model: IoU, DFD, HD, RMSE, Avg beside the paper",
        description="Run a model over a dataset and write the paper's table columns.",
    )
    from vla_r1_cli.infer import add_model_arguments

    evaluate.add_argument(
        "--data", required=True, type=Path, help="VLA-R1 records, VLA-CoT ShareGPT or ShareRobot JSON"
    )
    evaluate.add_argument("--out", required=True, type=Path, help="report JSON (per-sample results and the table)")
    evaluate.add_argument("--task", choices=TASK_CHOICES, help="only this task")
    evaluate.add_argument("--image-template", default="{id}")
    evaluate.add_argument("--image-root", type=Path)
    evaluate.add_argument("--limit", type=positive_int, help="only the first N samples (N >= 1)")
    evaluate.add_argument("--no-progress", action="store_true")
    add_model_arguments(evaluate)
    evaluate.set_defaults(func=run_eval)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--limit -1`` would silently select nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _usage(message: str):
    from vla_r1_cli.errors import UsageError

    return UsageError(message)


def run_configs(args: argparse.Namespace) -> int:
    from training.config import ACCELERATE_DIR, CONFIG_DIR

    shipped = {p.stem: p for folder in (CONFIG_DIR, ACCELERATE_DIR) for p in sorted(folder.glob("*.yaml"))}
    if args.name:
        if args.name not in shipped:
            raise _usage(f"no shipped config {args.name!r}; known: {sorted(shipped)}")
        print(shipped[args.name])
        return 0
    for name, path in shipped.items():
        print(f"{name}\t{path}")
    return 0


def _load_config(cls, args: argparse.Namespace):
    from training.config import ConfigError, find_config, load_config

    try:
        return load_config(cls, find_config(args.config), args.overrides)
    except ConfigError as exc:
        raise _usage(str(exc)) from None


def _train(args: argparse.Namespace, cls, runner) -> int:
    import logging

    from training.checkpoints import CheckpointError
    from training.config import ConfigError

    config = _load_config(cls, args)
    if args.print_config:
        import yaml

        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        metrics = runner(config)
    except (ConfigError, FileNotFoundError, CheckpointError) as exc:
        raise _usage(str(exc)) from None
    print(json.dumps(_json_safe({k: v for k, v in metrics.items() if k not in ("losses", "rewards")})))
    return 0


def run_sft(args: argparse.Namespace) -> int:
    from training.sft import SFTRunConfig
    from training.sft import run_sft as runner

    return _train(args, SFTRunConfig, runner)


def run_grpo(args: argparse.Namespace) -> int:
    from training.grpo import GRPORunConfig
    from training.grpo import run_grpo as runner

    return _train(args, GRPORunConfig, runner)


def _read_records(path: Path, task: str | None, image_template: str):
    from training.data import load_any

    try:
        conversion = load_any(path, task, image_template)
    except (OSError, ValueError) as exc:
        raise _usage(f"cannot read {path}: {exc}") from None
    if conversion.bad:
        print(conversion.summary(), file=sys.stderr)
    if not conversion.records:
        raise _usage(f"{path}: no usable record")
    return conversion


def run_cot(args: argparse.Namespace) -> int:
    from training.cot import CotConfig, run_cot_engine

    conversion = _read_records(args.data, args.task, args.image_template)
    records = conversion.records[: args.limit] if args.limit else conversion.records
    try:
        config = CotConfig(
            str(args.teacher_url),
            args.teacher_model,
            str(args.out),
            threshold=args.threshold,
            concurrency=args.concurrency,
            attempts=args.attempts,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            timeout_s=args.timeout,
            image_max_side=args.image_max_side,
            retry_rejected=args.retry_rejected,
        )
    except ValueError as exc:
        raise _usage(str(exc)) from None
    base = args.image_root or args.data.parent
    stats = run_cot_engine(records, config, base_dir=base, progress=not args.no_progress)
    print(json.dumps(_json_safe({**stats.to_dict(), "out": str(args.out), "rejected_file": str(config.rejected_path)})))
    return 0 if stats.errors == 0 else 1


def run_convert(args: argparse.Namespace) -> int:
    from training.data import drop_missing_images, to_hf_dataset, train_val_split, write_records, write_sharegpt
    from vla_r1_model.files import OutputPathError, atomic_write_text, check_output_file

    if args.report:
        try:
            check_output_file(args.report, what="--report")
        except OutputPathError as exc:
            raise _usage(str(exc)) from None
    conversion = _read_records(args.data, args.task, args.image_template)
    base = args.image_root or args.data.parent
    missing = 0 if args.skip_image_check else drop_missing_images(conversion, base)
    if missing:
        print(f"{missing} record(s) rejected: image not found under {base} (see --report)", file=sys.stderr)
    if not conversion.records:
        raise _usage(f"{args.data}: no record with an existing image under {base}")
    try:
        train, val = train_val_split(conversion.records, args.val_fraction, args.seed)
    except ValueError as exc:
        raise _usage(str(exc)) from None
    written: dict[str, Any] = {}
    if args.format == "hf":
        from datasets import DatasetDict

        try:
            parts = {"train": to_hf_dataset(train, base)}
            if val:
                parts["validation"] = to_hf_dataset(val, base)
        except FileNotFoundError as exc:
            raise _usage(str(exc)) from None
        DatasetDict(parts).save_to_disk(str(args.out))
        written = {name: len(ds) for name, ds in parts.items()}
    else:
        for name, records in (("train", train), ("validation", val)):
            if not records:
                continue
            path = args.out if name == "train" else args.out.with_name(f"{args.out.stem}.val{args.out.suffix}")
            if args.format == "records":
                # records keep image paths relative to the data file's folder: rewrite relative to the output
                from training.data import VLARecord, _relative_image

                records = [
                    VLARecord(**{**r.to_dict(), "image": _relative_image(r, base, path.parent)}) for r in records
                ]
                write_records(records, path)
            else:
                write_sharegpt(records, path, source_dir=base)
            written[name] = {"path": str(path), "records": len(records)}
    if args.report:
        atomic_write_text(args.report, json.dumps(conversion.report(), indent=1))
    print(json.dumps({"converted": len(conversion.records), "rejected": len(conversion.bad), "written": written}))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from training.export import ExportError, export_checkpoint
    from vla_r1_model.loading import ModelLoadError

    try:
        out = export_checkpoint(args.checkpoint, args.out, base_model=args.base_model, dtype=args.dtype)
    except (ExportError, ModelLoadError) as exc:
        raise _usage(str(exc)) from None
    print(f"exported to {out}")
    return 0


def answer_source(args: argparse.Namespace) -> dict[str, Any]:
    """Where the answers of an evaluation came from (a fixed --answer is not the hub model)."""
    if args.answer is not None:
        return {"kind": "fixed_answer", "answer": args.answer}
    if args.backend == "openai":
        return {"kind": "openai_server", "server_url": args.server_url, "model": args.model}
    return {
        "kind": "transformers",
        "model": args.model,
        "quantization": args.quantization,
        "quantize_vision": args.quantize_vision,
        "dtype": args.dtype,
        "device": args.device,
        "attn_implementation": args.attn_implementation,
        "min_pixels": args.min_pixels,
        "max_pixels": args.max_pixels,
    }


def run_eval(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate, format_table
    from vla_r1_cli.infer import policy_from_args
    from vla_r1_model.files import OutputPathError, atomic_write_text, check_output_file

    try:
        if not args.out.parent.exists():
            args.out.parent.mkdir(parents=True)
        check_output_file(args.out, what="--out")  # before the (long) evaluation, not after it
    except OutputPathError as exc:
        raise _usage(str(exc)) from None
    conversion = _read_records(args.data, args.task, args.image_template)
    records = conversion.records[: args.limit] if args.limit else conversion.records
    base = args.image_root or args.data.parent
    missing = [r.id for r in records if not r.resolved_image(base).is_file()]
    if missing:
        raise _usage(f"{len(missing)} image(s) not found under {base} (first: record {missing[0]})")
    policy = policy_from_args(args)
    report = evaluate(policy, records, base_dir=base, progress=not args.no_progress)
    source = answer_source(args)
    report = {
        "answer_source": source,
        "model": source.get("model"),
        "data": str(args.data),
        "limit": args.limit,
        "rejected_records": len(conversion.bad),
        **report,
    }
    atomic_write_text(args.out, json.dumps(_json_safe(report), indent=1))
    print(format_table(report))
    return 0


def _json_safe(value: Any) -> Any:
    """NaN/inf -> None so the report is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
