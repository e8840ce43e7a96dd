"""The CLI and the model benchmark must run where only torch + transformers are installed (a GPU box)."""
import subprocess
import sys

BLOCKED = ["rosbags", "cv2", "pinocchio", "mujoco", "trl", "peft", "datasets", "pyrealsense2", "bitsandbytes",
           "tensorboard"]


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
