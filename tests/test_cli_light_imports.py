"""The CLI and the model benchmark must run where only torch + transformers are installed (a GPU box),
and `vla-r1 … --help` must answer without importing the model runtime, OpenCV, ROS or MuJoCo."""

import subprocess
import sys

import pytest

BLOCKED = [
    "rosbags",
    "cv2",
    "pinocchio",
    "mujoco",
    "trl",
    "peft",
    "datasets",
    "pyrealsense2",
    "bitsandbytes",
    "tensorboard",
]
# What building the parser and printing any help must never import (each costs from 0.1 s to seconds).
HEAVY = (
    "torch",
    "transformers",
    "cv2",
    "rclpy",
    "mujoco",
    "numpy",
    "PIL",
    "scipy",
    "pinocchio",
    "yaml",
    "matplotlib",
    "rosbags",
    "trl",
    "openai",
)


def test_parser_and_model_benchmark_import_without_robot_or_training_packages():
    code = (
        "import sys\n"
        f"for name in {BLOCKED!r}: sys.modules[name] = None  # importing them now raises ImportError\n"
        "from vla_r1_cli.main import build_parser\n"
        "parser = build_parser()\n"
        "args = parser.parse_args(['bench', 'model', '--random-3b', '--quantization', 'none', 'nf4+vision'])\n"
        "import vla_r1_cli.bench.model, vla_r1_model.tiny_checkpoint, vla_r1_model.preprocessing\n"
        "print(args.quantization)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['none', 'nf4+vision']"


# Builds the parser, prints the help of the command and of EVERY subcommand (found by walking the
# parser, so a new subcommand is covered), then lists what was imported besides the standard library
# and vla_r1_cli itself.
WALK_ALL_HELPS = """
import argparse, contextlib, io, sys
before = set(sys.modules)
from vla_r1_cli.main import build_parser
parser = build_parser()

def commands(parser, prefix):
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, prefix + [name])

paths = list(commands(parser, []))
for path in paths:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            build_parser().parse_args(path + ["--help"])
        except SystemExit as exc:
            assert exc.code == 0, (path, exc.code)
    assert "usage: vla-r1" in out.getvalue(), path
imported = sorted(m for m in set(sys.modules) - before
                  if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] != "vla_r1_cli")
print(len(paths))
print(" ".join(imported))
"""


def test_every_help_imports_only_the_standard_library_and_the_cli_package():
    done = subprocess.run([sys.executable, "-c", WALK_ALL_HELPS], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    count, imported = done.stdout.splitlines()
    assert int(count) >= 25, (
        "the walk should reach every subcommand (infer, bench model, train sft, calibrate hand-eye …)"
    )
    assert imported == "", f"building the parser or printing a help imported: {imported}"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["infer"],
        ["bench", "model"],
        ["replay"],
        ["sim", "eval"],
        ["train", "grpo"],
        ["eval"],
        ["calibrate", "hand-eye"],
    ],
)
def test_help_of_the_command_as_run_imports_no_heavy_package(argv):
    """`python -m vla_r1_cli … --help` (what the installed `vla-r1` runs), with the interpreter's own
    import log: none of the heavy packages appears in it."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vla_r1_cli", *argv, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: vla-r1" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "vla_r1_cli.main" in imported  # the log is read right
    heavy = sorted(name for name in imported if name.split(".")[0] in HEAVY)
    assert not heavy, f"vla-r1 {' '.join(argv)} --help imported {heavy}"


def test_the_parser_defaults_are_the_librarys():
    """vla_r1_cli.defaults repeats library constants so that the parser stays light; they must agree."""
    from vla_r1_cli import defaults
    from vla_r1_model.actions import TASKS
    from vla_r1_model.loading import DEFAULT_MODEL_ID, QUANTIZATIONS

    assert defaults.TASKS == TASKS
    assert defaults.DEFAULT_MODEL_ID == DEFAULT_MODEL_ID
    assert defaults.QUANTIZATIONS == QUANTIZATIONS
    from vla_r1_robot.motion.robot_profile import PANDA

    assert defaults.TIP_LINK == PANDA.tip_link
