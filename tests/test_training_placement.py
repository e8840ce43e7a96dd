"""Issue 15.3: multi-process placement. The TRL arguments exist before the model loads (so
accelerate's distributed state is up and FSDP's CPU-efficient loading / ZeRO-3 init can act),
each process uses its own device (QLoRA is not pinned to device 0), and full fine-tuning keeps
fp32 master weights."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from PIL import Image  # noqa: E402

from training.data import VLARecord, write_sharegpt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_cpu_processes_under_accelerate(tiny_checkpoint, tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if accelerate is None:
        pytest.skip("accelerate's launcher is not installed")
    (tmp_path / "images").mkdir()
    records = []
    for i in range(2):
        Image.new("RGB", (56, 56), (90 * i, 40, 40)).save(tmp_path / "images" / f"{i}.png")
        records.append(
            VLARecord(
                f"a{i}",
                "affordance",
                f"images/{i}.png",
                f"pick up block {i}",
                {"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2},
                reasoning="Task parsing: pick.",
            )
        )
    data = write_sharegpt(records, tmp_path / "cot.json", source_dir=tmp_path)
    reports = tmp_path / "reports"
    reports.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MASTER_ADDR": "127.0.0.1",
    }
    # torchrun through accelerate's launcher; without a GPU the arguments' use_cpu makes the state MULTI_CPU (gloo)
    command = [
        accelerate,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        str(ROOT / "tests" / "rank_placement_worker.py"),
        str(tiny_checkpoint),
        str(data),
        str(tmp_path / "out"),
        str(reports),
    ]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((reports / f"rank{i}.json").read_text()) for i in range(2)]
    assert [r["process_index"] for r in ranks] == [0, 1] and all(r["world_size"] == 2 for r in ranks)
    for report in ranks:
        assert report["distributed_ready"], "the model was loaded before accelerate's distributed state existed"
        assert report["fsdp_cpu_efficient_loading_active"]  # what from_pretrained needs to load on rank 0 only
        assert "device_map" not in report["load_kwargs"]  # no pinning: the Trainer/accelerate place the model
        assert report["load_kwargs"]["dtype"] == "torch.float32" and report["weight_dtypes"] == ["torch.float32"]
        assert report["device"].startswith("cpu") and report["backend"] == "gloo"
    assert ranks[0]["checksum"] == ranks[1]["checksum"]  # data parallel: both ranks hold the same updated weights


def test_qlora_is_placed_on_this_process_device(monkeypatch, tiny_checkpoint):
    pytest.importorskip("bitsandbytes")
    import transformers

    from training.config import load_config
    from training.modeling import load_training_model
    from training.sft import SFTRunConfig

    captured = {}

    class Stop(Exception):
        pass

    def fake_from_pretrained(cls, source, **kwargs):
        captured.update(kwargs)
        raise Stop

    monkeypatch.setattr(
        transformers.Qwen2_5_VLForConditionalGeneration, "from_pretrained", classmethod(fake_from_pretrained)
    )
    config = load_config(
        SFTRunConfig, None, [f"model={tiny_checkpoint}", "train_file=x.json", "finetune=qlora", "dtype=bfloat16"]
    )
    with pytest.raises(Stop):
        load_training_model(config, SimpleNamespace(device="cuda:3"))  # rank 3 of a node
    assert captured["device_map"] == {"": "cuda:3"}
    captured.clear()
    full = load_config(SFTRunConfig, None, [f"model={tiny_checkpoint}", "train_file=x.json", "dtype=bfloat16"])
    with pytest.raises(Stop):
        load_training_model(full, SimpleNamespace(device="cuda:3"))
    assert captured["dtype"] == torch.float32 and "device_map" not in captured  # fp32 master weights, not moved
