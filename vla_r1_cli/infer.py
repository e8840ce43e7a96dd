"""`vla-r1 infer`: one frame, one instruction, the reasoning and the parsed action."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .defaults import DEFAULT_MODEL_ID, QUANTIZATIONS, TASKS


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Model/backend options shared by every command that runs the model."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=DEFAULT_MODEL_ID,
        help=f"hub id, local folder, or 'tiny' for the random-weight test checkpoint (default {DEFAULT_MODEL_ID})",
    )
    group.add_argument("--backend", choices=("transformers", "openai"), default="transformers")
    group.add_argument("--answer", help="skip the model and use this answer text (replay a recorded answer)")
    group.add_argument("--server-url", help="OpenAI-compatible server for --backend openai, e.g. http://localhost:8000")
    group.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="wall-time bound in seconds on the whole server request, streaming and retries included (openai backend)",
    )
    group.add_argument("--quantization", choices=QUANTIZATIONS, default="none")
    group.add_argument(
        "--quantize-vision",
        action="store_true",
        help="with nf4/int8: quantize the vision tower too (~1 GB less on 3B; may cost accuracy)",
    )
    group.add_argument("--device", default="auto")
    group.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"))
    group.add_argument("--attn-implementation", default=None, help="sdpa, eager, flash_attention_2 …")
    group.add_argument("--min-pixels", type=int, default=None, help="image-token budget: fewest pixels after resizing")
    group.add_argument("--max-pixels", type=int, default=None, help="image-token budget: most pixels after resizing")
    group.add_argument("--max-new-tokens", type=int, default=1024)
    group.add_argument(
        "--sample", action="store_true", help="the reference sampling (T=0.7, top-p 0.9, rep. 1.1) instead of greedy"
    )
    group.add_argument("--no-think", action="store_true", help="fast mode: ask for the answer without reasoning")
    group.add_argument(
        "--out-of-range",
        choices=("clip", "reject"),
        default="clip",
        help="normalized values outside [0, 1]: clip with a warning, or reject",
    )


def policy_from_args(args: argparse.Namespace):
    """Build the Policy the arguments describe; UsageError for what the user must fix."""
    from vla_r1_model.backends.base import GenerationSettings
    from vla_r1_model.loading import ModelLoadError
    from vla_r1_model.policy import Policy, PolicyConfig

    from .errors import UsageError

    try:
        settings = (
            GenerationSettings.reference_sampling(max_new_tokens=args.max_new_tokens)
            if args.sample
            else GenerationSettings(max_new_tokens=args.max_new_tokens)
        )
        config = PolicyConfig(generation=settings, out_of_range=args.out_of_range, no_think=args.no_think)
        if args.answer is not None:
            from vla_r1_model.backends.fixed_backend import FixedAnswerBackend

            return Policy(FixedAnswerBackend(args.answer), config)
        if args.backend == "openai":
            if not args.server_url:
                raise UsageError("--backend openai needs --server-url")
            return Policy.remote(args.server_url, args.model, config, timeout_s=args.timeout)
        return Policy.from_pretrained(
            args.model,
            config,
            quantization=args.quantization,
            device=args.device,
            dtype=args.dtype,
            attn_implementation=args.attn_implementation,
            min_pixels=args.min_pixels,
            max_pixels=args.max_pixels,
            quantize_vision=args.quantize_vision,
        )
    except (ModelLoadError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def register(subparsers) -> None:
    parser = subparsers.add_parser("infer", help="run the model on one image", description=__doc__)
    parser.add_argument("--image", required=True, type=Path)
    parser.add_argument("--instruction", required=True)
    parser.add_argument("--task", required=True, choices=TASKS)
    add_model_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--overlay", type=Path, help="write the frame with the action drawn on it (PNG)")
    parser.add_argument("--stream", action="store_true", help="print the reasoning as it is written")
    parser.set_defaults(func=run)


def _overlay_format(path: Path) -> str:
    """PIL's format name for --overlay's suffix, after checking that a file can be written there
    (the folder is created if missing); UsageError otherwise."""
    from PIL import Image

    from vla_r1_model.files import OutputPathError, check_output_file

    from .errors import UsageError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--overlay {path}: cannot create its folder: {exc.strerror or exc}") from None
    try:
        check_output_file(path, what="--overlay")
    except OutputPathError as exc:
        raise UsageError(str(exc)) from None
    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format is None or image_format not in Image.SAVE:
        raise UsageError(
            f"--overlay {path}: the picture's format comes from its suffix (.png, .jpg, ...), "
            f"{path.suffix or 'none'} is not one PIL writes"
        )
    return image_format


def run(args: argparse.Namespace) -> int:
    from PIL import Image, UnidentifiedImageError

    from vla_r1_model.actions import action_to_dict
    from vla_r1_model.backends.base import BackendError

    from .errors import EXIT_FAILED, EXIT_OK, EXIT_UNPARSEABLE, UsageError

    try:
        with Image.open(args.image) as opened:
            image = opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise UsageError(f"cannot read image {args.image}: {exc}") from None
    if not args.instruction.strip():
        raise UsageError("--instruction is empty")
    overlay_format = _overlay_format(args.overlay) if args.overlay else None  # checked before the model runs

    policy = policy_from_args(args)
    stream = (lambda piece: print(piece, end="", flush=True)) if args.stream and not args.json else None
    try:
        output = policy.predict(image, args.instruction, args.task, on_text=stream)
    except BackendError as exc:
        print(f"vla-r1 infer: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if stream:
        print()

    width, height = image.size
    action = action_to_dict(output.prediction.action, width, height) if output.prediction else None
    if args.overlay:
        from vla_r1_model.files import atomic_output
        from vla_r1_model.overlay import draw_overlay

        picture = draw_overlay(
            image, output.prediction.action if output.prediction else None, args.instruction, output.error
        )
        with atomic_output(args.overlay, "wb") as handle:
            picture.save(handle, format=overlay_format)

    if args.json:
        print(
            json.dumps(
                {
                    "model": "(fixed answer)" if args.answer is not None else args.model,
                    "task": args.task,
                    "instruction": args.instruction,
                    "image": str(args.image),
                    "image_size": [width, height],
                    "raw_text": output.raw_text,
                    "reasoning": output.reasoning,
                    "action": action,
                    "error": output.error,
                    "stop_reason": output.stop_reason,
                    "timings": output.timings.to_dict(),
                }
            )
        )
    else:
        if not stream:
            print(f"reasoning: {output.reasoning or '(none)'}")
        if action:
            print(f"action ({action['kind']}), normalized: {json.dumps(action['normalized'])}")
            pixels = action.get("corners_pixels") or action.get("points_pixels")
            print(f"  in pixels of the {width}x{height} frame: {json.dumps(pixels)}")
        else:
            print(f"no action: {output.error}")
            print(f"raw answer: {output.raw_text[:500]!r}")
        t = output.timings
        print(
            f"timings: preprocess {t.preprocess_s * 1e3:.1f} ms, first token {t.time_to_first_token_s * 1e3:.1f} ms, "
            f"{t.generated_tokens} tokens at {t.tokens_per_s:.1f} tok/s, total {t.total_s:.2f} s"
        )
        if args.overlay:
            print(f"overlay: {args.overlay}")
    return EXIT_OK if output.ok else EXIT_UNPARSEABLE
