"""The `vla-r1` command: one entry point, one thin subcommand module per concern.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed namespace and returning an exit code. Modules are
imported when the parser is built, so they import only argparse, the standard library and
this package's light modules (`errors`, `defaults`) at the top, and everything else (the model
runtime, numpy, cv2, rclpy …) inside their handlers (tests/test_cli_light_imports.py).

Exit codes shared by all subcommands: 0 success, 2 bad arguments or unreadable input,
3 the model's answer could not be parsed (infer), 1 anything else that failed.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import EXIT_FAILED, EXIT_OK, EXIT_UNPARSEABLE, EXIT_USAGE, UsageError  # noqa: F401 (re-exported)

# Modules that register a subcommand, in the order of `vla-r1 --help`.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "vla_r1_cli.infer",
    "vla_r1_cli.bench.command",
    "vla_r1_cli.live",
    "vla_r1_cli.replay",
    "vla_r1_cli.sim",
    "vla_r1_cli.train",
    "vla_r1_cli.calibrate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vla-r1",
        description="VLA-R1 robot stack: inference, replay, calibration, training and benchmarks.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"vla-r1 {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
