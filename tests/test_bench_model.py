"""The model benchmark's bookkeeping (not its speed: speed is measured by `vla-r1 bench`, not asserted)."""
import json

from vla_r1_model.bench import gpu_bandwidth_bytes_s, weight_bytes_per_token
from vla_r1_model.cli import main


def test_bench_model_compares_modes_side_by_side(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "model", "--model", str(tiny_checkpoint), "--quantization", "none", "nf4",
                 "--new-tokens", "6", "--repeats", "1", "--image-size", "64x48", "--bandwidth-gb-s", "100",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    none, nf4 = result["modes"]
    assert (none["mode"], nf4["mode"]) == ("none", "nf4")
    assert none["new_tokens"] == nf4["new_tokens"] == 6  # EOS ignored
    assert nf4["weight_bytes_per_token"] < none["weight_bytes_per_token"] / 2  # packed 4-bit layers; lm_head stays fp32
    assert none["bandwidth_floor_tokens_per_s"] == round(100e9 / none["weight_bytes_per_token"], 2)
    assert none["decode_speed_vs_none"] == 1.0 and none["time_to_first_token_ms"] > 0


def test_weight_bytes_skip_vision_and_embeddings(tiny_checkpoint):
    from vla_r1_model.loading import load_model

    model = load_model(str(tiny_checkpoint))
    lm_and_head = sum(p.numel() * 4 for n, p in model.named_parameters() if "visual" not in n and "embed_tokens" not in n)
    assert weight_bytes_per_token(model) == lm_and_head


def test_known_gpu_bandwidths():
    assert gpu_bandwidth_bytes_s("NVIDIA H200") == 4.8e12
    assert gpu_bandwidth_bytes_s("Some CPU") is None
